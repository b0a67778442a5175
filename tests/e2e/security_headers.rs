//! Every route of the application answers with the security headers, whoever calls it and
//! whatever it answers (a page, JSON, a refusal, an unknown path); the admin API's answers,
//! refusals included, are never stored by a cache.
//!
//! The routes are read from the router's sources (the provider's, the console's and the
//! probes') and from the admin API's OpenAPI document, so that a route added later is checked
//! without anyone remembering to list it here.

use std::collections::BTreeSet;
use std::path::Path;

use guildgate::accounts::Role;
use reqwest::header::HeaderMap;

use crate::support::app::TestApp;
use crate::support::people::{add_account, person};
use crate::support::TestDb;

/// The files that declare routes with `.route(PATH, ...)`.
const ROUTER_SOURCES: &[&str] = &[
    "src/server.rs",
    "src/oidc/routes.rs",
    "src/admin/console/mod.rs",
    "src/admin/console/members/mod.rs",
    "src/admin/api/mod.rs",
];

/// The first argument of every `.route(` call: a string literal or a constant's path.
fn route_arguments(source: &str) -> Vec<String> {
    source
        .split(".route(")
        .skip(1)
        .filter_map(|call| call.split(',').next())
        .map(|argument| argument.trim().to_string())
        .collect()
}

/// The value of `const NAME: &str = "...";` somewhere in `src/`.
fn constant(name: &str) -> String {
    let declaration = format!("const {name}: &str = \"");
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            if let Some((_, rest)) = source.split_once(&declaration) {
                return rest.split('"').next().unwrap().to_string();
            }
        }
    }
    panic!("no constant {name} in src/")
}

/// `path` with each `{parameter}` replaced by a value that names nothing.
fn filled(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "nope"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every path the application routes, with `{parameters}` filled in.
fn every_route() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = BTreeSet::new();
    for file in ROUTER_SOURCES {
        let source = std::fs::read_to_string(root.join(file)).unwrap();
        for argument in route_arguments(&source) {
            let path = match argument.strip_prefix('"') {
                Some(literal) => literal.trim_end_matches('"').to_string(),
                None => constant(argument.rsplit("::").next().unwrap()),
            };
            // The admin API's own routes are nested under its prefix.
            let path = if *file == "src/admin/api/mod.rs" {
                format!("/admin/api{path}")
            } else {
                path
            };
            paths.insert(path);
        }
    }
    let api = guildgate::admin::api::openapi_document();
    paths.extend(api.paths.paths.keys().cloned());
    paths.iter().map(|p| filled(p)).collect()
}

fn assert_secured(what: &str, headers: &HeaderMap, per_caller: bool) {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_string()
    };
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    let csp = get("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.starts_with("default-src 'none'"), "{what}: {csp}");
    if per_caller {
        assert_eq!(get("cache-control"), "no-store", "{what}");
    }
}

#[test]
fn the_routes_are_found() {
    let routes = every_route();
    for expected in [
        "/authorize",
        "/token",
        "/healthz",
        "/metrics",
        "/admin/members",
        "/admin/sso/worksheet.json",
        "/admin/api/openapi.json",
        "/admin/api/members",
        "/forgot-password",
        "/account",
    ] {
        assert!(routes.contains(expected), "{expected} not in {routes:?}");
    }
}

both_engines!(
    every_route_answers_with_the_security_headers,
    |db: TestDb| async move {
        let store = db.store().await;
        let admin = person("Ada", "Tester", "Regular");
        add_account(
            &store,
            "A1",
            admin,
            Role::Admin,
            Some("correct horse battery"),
        )
        .await;
        let app = TestApp::spawn(&db).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut routes = every_route();
        routes.insert("/no/such/path".to_string());
        routes.insert("/admin/api/no/such/path".to_string());
        for path in &routes {
            for method in [reqwest::Method::GET, reqwest::Method::POST] {
                let r = http
                    .request(method.clone(), app.url(path))
                    .send()
                    .await
                    .unwrap();
                let what = format!("{method} {path} ({})", r.status());
                assert!(r.status().as_u16() < 500, "{what}");
                assert_secured(&what, r.headers(), path.starts_with("/admin/api/"));
            }
        }
        // The worksheet names this deployment's client: never kept by a shared cache.
        let console = app
            .console("ada@example.org", "correct horse battery")
            .await;
        let r = console
            .browser
            .get(app.url("/admin/sso/worksheet.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_secured("the worksheet", r.headers(), true);
    }
);
