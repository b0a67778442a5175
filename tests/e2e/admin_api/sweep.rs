//! An OpenAPI-driven sweep of the admin API: every operation with hostile values, never a 500.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{seed, Api};
use crate::support::{api_token, TestApp, TestDb};

/// Values that break naive handlers: empty, huge, unicode, SQL and path tricks.
const NASTY: &[&str] = &[
    "",
    " ",
    "0",
    "-1",
    "9999999999999999999999",
    "P1",
    // Sent percent-encoded: %00 and ..%2F..
    "\0",
    "../..",
    "' OR 1=1 --",
    "ÄÖÜ😀",
    "null",
    "true",
    "{}",
    "[]",
];

fn nasty_bodies() -> Vec<Value> {
    let long = "x".repeat(70_000);
    vec![
        json!(null),
        json!({}),
        json!([]),
        json!("text"),
        json!(42),
        json!({"name": long}),
        json!({"name": "", "conditions": []}),
        json!({"name": "G", "members": ["P1", "P1", "nope"]}),
        json!({"name": "G", "conditions": ["member_type="]}),
        json!({"name": "G", "conditions": ["field.x=1"], "members": []}),
        json!({"field_key": "Bad Key", "name": "x", "field_type": "choice", "applies_to": "both"}),
        json!({"field_key": "ok_key", "name": "x", "field_type": "choice", "choices": [""], "applies_to": "both"}),
        json!({"field_key": "ok_key2", "name": "x", "field_type": "text", "choices": ["a"], "applies_to": "company", "show_in_members": true, "sync_to_higher_logic": true}),
        json!({"show_in_members": "yes"}),
        json!({"group_key": "../../etc", "name": "x"}),
        json!({"group_key": "k".repeat(101), "name": "x"}),
        // Higher Logic settings and group sync.
        json!({"tenant_code": "T\u{0}", "integrate_bio": true, "integrate_profile_image": false, "integrate_social": false}),
        json!({"tenant_code": long, "integrate_bio": true, "integrate_profile_image": false, "integrate_social": false}),
        json!({"tenant_code": "T", "api_key": "k".repeat(600), "integrate_bio": false, "integrate_profile_image": false, "integrate_social": false}),
        json!({"tenant_code": "T", "api_key": "••••1234", "integrate_bio": false, "integrate_profile_image": false, "integrate_social": false}),
        json!({"tenant_code": "T", "base_url": "javascript:alert(1)", "integrate_bio": false, "integrate_profile_image": false, "integrate_social": false}),
        json!({"tenant_code": "T", "base_url": "http://example.org/push", "integrate_bio": false, "integrate_profile_image": false, "integrate_social": false}),
        json!({"tenant_code": "T", "integrate_bio": "yes", "integrate_profile_image": 1, "integrate_social": null}),
        // Saved: the test connection then meets a closed port.
        json!({"tenant_code": "SWEEP", "api_key": "sweep-key-0123456789", "base_url": "http://127.0.0.1:9/push/v1/members", "integrate_bio": true, "integrate_profile_image": true, "integrate_social": true}),
        json!({"sync_enabled": true}),
        json!({"sync_enabled": "on", "group_type": "community"}),
        json!({"sync_enabled": true, "group_type": "guild"}),
        json!({"sync_enabled": true, "group_type": "security"}),
        json!({"sync_enabled": true, "group_type": "community"}),
        json!({"sync_enabled": false, "group_type": "community"}),
        json!({"sync_enabled": false}),
        // Members: one, and the bulk import.
        json!({"member_key": "../..", "first_name": "x"}),
        json!({"member_key": "SWEEP-1", "first_name": "Nul\u{0}", "fields": {"x": "\u{0}"}}),
        json!({"member_key": "SWEEP-2", "kind": "company", "name": "x", "company_key": "P1"}),
        json!({"member_key": "SWEEP-3", "first_name": "x", "company_key": "P1", "account_email": "ada@example.org"}),
        json!({"member_key": 7, "fields": {"x": [1]}, "account_email": false}),
        json!({"kind": "company", "fields": "x", "member_since": "0000-00-00"}),
        json!({"first_name": long, "account_email": "\u{0}@x.org"}),
        json!({"members": "x"}),
        json!({"members": [null, {}, {"member_key": "\u{0}"}, {"member_key": "P1", "kind": "company"}]}),
        json!({"members": [{"member_key": "SWEEP-4", "first_name": "S", "company_key": "SWEEP-5"}, {"member_key": "SWEEP-5", "kind": "company", "name": "Co"}]}),
    ]
}

// Equivalent of a schemathesis run: every operation of the served OpenAPI document, with
// hostile path values, query values and bodies, must never answer 5xx.
both_engines!(openapi_sweep_finds_no_500, |db: TestDb| async move {
    seed(&db).await;
    // A group keyed like one of the hostile values, so that its paths reach real data too.
    let store = db.store().await;
    store
        .add_group(
            "test",
            Some("P1"),
            "Sweep group",
            guildgate::groups::Selection::Static(vec!["P1".into(), "P3".into()]),
        )
        .await
        .unwrap();
    store.close().await;
    let app = TestApp::spawn(&db).await;
    let api = Api::new(&app, &api_token(&db, "sweep", "write"));
    let doc: Value = app
        .get("/admin/api/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 10, "the document lists the API: {paths:?}");
    for (path, method) in [
        ("/admin/api/integrations/higher-logic", "get"),
        ("/admin/api/integrations/higher-logic", "put"),
        ("/admin/api/integrations/higher-logic/test", "post"),
        ("/admin/api/groups/{key}/sync", "get"),
        ("/admin/api/groups/{key}/sync", "put"),
        ("/admin/api/sync/status", "get"),
        ("/admin/api/sync/refused", "get"),
        ("/admin/api/sync/retry-refused", "post"),
        ("/admin/api/members", "post"),
        ("/admin/api/members/{key}", "patch"),
        ("/admin/api/members/{key}", "put"),
        ("/admin/api/members/import", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not in the document"
        );
    }
    let mut calls = 0;
    for (template, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let query_names: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "query")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            for value in NASTY {
                let path = nasty_path(template, &query_names, value);
                let bodies = if op.get("requestBody").is_some() {
                    nasty_bodies()
                } else {
                    vec![Value::Null]
                };
                for body in bodies {
                    let body = if op.get("requestBody").is_some() {
                        Some(body)
                    } else {
                        None
                    };
                    let (status, answer) = api.call(method.clone(), &path, body.clone()).await;
                    calls += 1;
                    assert!(
                        !status.is_server_error(),
                        "{method} {path} with {body:?} answered {status}: {answer}"
                    );
                    if !status.is_success() {
                        assert!(
                            answer["error"]["code"].is_string(),
                            "{method} {path}: {answer}"
                        );
                    }
                }
            }
        }
    }
    assert!(calls > 200, "only {calls} calls");
    // The store still answers after the sweep, and no key came back.
    let (s, _) = api.get("/members").await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = api.get("/integrations/higher-logic").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!b.to_string().contains("sweep-key"), "{b}");
    drop(app);
});

/// The API path of `template` (under `/admin/api`) with `value` as its `{key}` and as every
/// query parameter, percent-encoded by `url`.
fn nasty_path(template: &str, query_names: &[&str], value: &str) -> String {
    let mut url = reqwest::Url::parse("http://localhost").expect("url");
    url.path_segments_mut()
        .expect("a base URL")
        .clear()
        .extend(template.split('/').skip(1).map(|part| match part {
            "{key}" => value,
            part => part,
        }));
    if !query_names.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(query_names.iter().map(|name| (name, value)));
    }
    let path = url.path().strip_prefix("/admin/api").expect("an API path");
    match url.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    }
}
