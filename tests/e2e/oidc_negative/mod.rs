//! Every refused request, with the exact OAuth error (or the error page where the client
//! cannot be trusted with a redirect). SQLite and PostgreSQL.

mod sessions;
mod tokens;

use crate::support::oidc::*;
use crate::support::{Server, TestApp, TestDb};
use guildgate::oidc::clients::{ClientType, NewClient};

type Params = Vec<(&'static str, String)>;

/// GET an authorization URL without following redirects.
async fn get(url: &str) -> reqwest::Response {
    http().get(url).send().await.expect("GET")
}

fn base_params(challenge: &str) -> Vec<(&'static str, String)> {
    vec![
        ("client_id", "portal".into()),
        ("redirect_uri", REDIRECT.into()),
        ("response_type", "code".into()),
        ("scope", "openid profile".into()),
        ("state", "xyz".into()),
        ("code_challenge", challenge.into()),
        ("code_challenge_method", "S256".into()),
    ]
}

fn url_with(base: &str, params: &[(&'static str, String)]) -> String {
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    authorize_url(base, &pairs)
}

fn without(params: &[(&'static str, String)], name: &str) -> Vec<(&'static str, String)> {
    params.iter().filter(|(k, _)| *k != name).cloned().collect()
}

fn with(
    params: &[(&'static str, String)],
    name: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    let mut p = without(params, name);
    p.push((name, value.into()));
    p
}

/// The request is answered with an error page: no redirect at all.
async fn assert_page(url: &str, what: &str) {
    let r = get(url).await;
    assert_eq!(r.status(), 400, "{what}: expected an error page");
    assert!(
        r.headers().get("location").is_none(),
        "{what}: must not redirect"
    );
    let body = r.text().await.unwrap();
    assert!(body.contains("<h1>"), "{what}: {body}");
}

/// RFC 6749 5.2 / 4.1.2.1: error_description is `%x20-21 / %x23-5B / %x5D-7E`.
fn assert_rfc6749_description(description: &str) {
    assert!(
        !description.is_empty()
            && description
                .bytes()
                .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'),
        "error_description outside the RFC 6749 set: {description:?}"
    );
}

/// The request is answered with a redirect to the client carrying `error`, `state`, `iss`.
async fn assert_redirect_error(base: &str, url: &str, error: &str, what: &str) {
    let r = get(url).await;
    assert_eq!(r.status(), 303, "{what}: expected an error redirect");
    let loc = location(&r);
    assert!(loc.starts_with(REDIRECT), "{what}: {loc}");
    let q = query(&loc);
    assert_eq!(
        q.get("error").map(String::as_str),
        Some(error),
        "{what}: {loc}"
    );
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"), "{what}");
    assert_eq!(q.get("iss").map(String::as_str), Some(base), "{what}");
    assert!(!q.contains_key("code"), "{what}");
}

/// The application with a second client, "narrow", that may ask for openid and profile only,
/// and the parameters of a good authorization request through the portal client.
async fn with_narrow_client(db: &TestDb) -> (TestApp, Params) {
    let setup = setup(db).await;
    let pepper = pepper(db, &setup.store).await;
    let mut narrow = NewClient::new("Narrow", ClientType::Confidential, &[REDIRECT]);
    narrow.client_id = Some("narrow".into());
    narrow.allowed_scopes = vec!["openid".into(), "profile".into()];
    setup
        .store
        .add_client("test", &pepper, narrow)
        .await
        .unwrap();
    let (_, challenge) = pkce();
    (TestApp::spawn(db).await, base_params(&challenge))
}

both_engines!(
    authorize_untrusted_client_or_address_gets_a_page,
    |db: TestDb| async move {
        let (app, ok) = with_narrow_client(&db).await;
        let base = app.base.as_str();

        // Untrusted client or return address: a page, never a redirect.
        assert_page(
            &url_with(base, &with(&ok, "client_id", "nobody")),
            "unknown client",
        )
        .await;
        assert_page(&url_with(base, &without(&ok, "client_id")), "no client_id").await;
        // No client id holds a NUL: unknown on both engines (PostgreSQL refuses it in text).
        assert_page(
            &url_with(base, &with(&ok, "client_id", "ok\0")),
            "client id with NUL",
        )
        .await;
        assert_page(
            &url_with(base, &without(&ok, "redirect_uri")),
            "no redirect_uri",
        )
        .await;
        for bad in [
            "https://rp.example.org/callback/",
            "https://rp.example.org/callback?x=1",
            "https://RP.example.org/callback",
            "https://rp.example.org/callbackx",
            "https://evil.example/callback",
        ] {
            assert_page(&url_with(base, &with(&ok, "redirect_uri", bad)), bad).await;
        }
        let mut twice = ok.clone();
        twice.push(("redirect_uri", REDIRECT.into()));
        assert_page(&url_with(base, &twice), "repeated redirect_uri").await;
    }
);

both_engines!(
    authorize_errors_go_back_to_the_client,
    |db: TestDb| async move {
        let (app, ok) = with_narrow_client(&db).await;
        let base = app.base.as_str();

        // Everything else goes back to the client.
        // (parameter, value) replacing the good one, the error sent back, what it is.
        let changed: &[(&'static str, &str, &str, &str)] = &[
            (
                "response_type",
                "token",
                "unsupported_response_type",
                "implicit",
            ),
            (
                "response_type",
                "code id_token",
                "unsupported_response_type",
                "hybrid",
            ),
            (
                "code_challenge_method",
                "plain",
                "invalid_request",
                "plain PKCE",
            ),
            (
                "code_challenge",
                "short",
                "invalid_request",
                "malformed challenge",
            ),
            // Unknown scope values are ignored (OIDC Core 3.1.2.1); nothing understood is left.
            (
                "scope",
                "admin address",
                "invalid_scope",
                "only unknown scopes",
            ),
            (
                "request",
                "eyJhbGciOiJub25lIn0.e30.",
                "request_not_supported",
                "request object",
            ),
            (
                "request_uri",
                "https://rp.example.org/req",
                "request_uri_not_supported",
                "request_uri",
            ),
            (
                "registration",
                "{}",
                "registration_not_supported",
                "registration",
            ),
            (
                "prompt",
                "none",
                "login_required",
                "prompt=none without a session",
            ),
            (
                "prompt",
                "none login",
                "invalid_request",
                "prompt=none with login",
            ),
            ("prompt", "bogus", "invalid_request", "unknown prompt"),
            ("max_age", "-1", "invalid_request", "negative max_age"),
            ("max_age", "soon", "invalid_request", "max_age not a number"),
            (
                "response_mode",
                "fragment",
                "invalid_request",
                "fragment response mode",
            ),
        ];
        let mut cases: Vec<(Params, &str, &str)> = changed
            .iter()
            .map(|&(name, value, error, what)| (with(&ok, name, value), error, what))
            .collect();
        cases.extend([
            (
                without(&ok, "response_type"),
                "invalid_request",
                "no response_type",
            ),
            (
                without(&without(&ok, "code_challenge"), "code_challenge_method"),
                "invalid_request",
                "no PKCE",
            ),
            (
                without(&ok, "code_challenge_method"),
                "invalid_request",
                "challenge without method (plain)",
            ),
            (
                with(&with(&ok, "client_id", "narrow"), "scope", "openid email"),
                "invalid_scope",
                "a scope not allowed for this client",
            ),
            (without(&ok, "scope"), "invalid_scope", "no scope"),
            (
                with(&ok, "nonce", &"n".repeat(5000)),
                "invalid_request",
                "huge nonce",
            ),
            // Refused before the sign-in: the nonce is stored with the code (PostgreSQL
            // refuses NUL in text), where it failed after the member's password.
            (
                with(&ok, "nonce", "n\0n"),
                "invalid_request",
                "nonce with NUL",
            ),
        ]);
        for (params, error, what) in cases {
            assert_redirect_error(base, &url_with(base, &params), error, what).await;
        }
        let mut repeated = ok.clone();
        repeated.push(("scope", "openid".into()));
        assert_redirect_error(
            base,
            &url_with(base, &repeated),
            "invalid_request",
            "repeated scope",
        )
        .await;

        // error_description keeps to RFC 6749's character set (no '"', no '\\', printable ASCII),
        // whatever the request carried.
        let mut odd = ok.clone();
        odd.push(("pr\"om\\pt\u{e9}", "1".into()));
        odd.push(("pr\"om\\pt\u{e9}", "2".into()));
        for (params, what) in [
            (odd, "repeated odd parameter"),
            (with(&ok, "prompt", "bo\"gus\u{e9}"), "odd prompt value"),
        ] {
            let r = get(&url_with(base, &params)).await;
            let q = query(&location(&r));
            assert_eq!(q["error"], "invalid_request", "{what}");
            assert_rfc6749_description(&q["error_description"]);
        }
    }
);

both_engines!(
    authorize_by_post_is_the_same_endpoint,
    |db: TestDb| async move {
        let (app, ok) = with_narrow_client(&db).await;
        let base = app.base.as_str();

        // POST /authorize is the same endpoint.
        let r = send_form(
            &http(),
            format!("{base}/authorize"),
            &with(&ok, "response_type", "token"),
        )
        .await;
        assert_eq!(r.status(), 303);
        assert_eq!(query(&location(&r))["error"], "unsupported_response_type");
    }
);

both_engines!(login_form_needs_its_csrf_token, |db: TestDb| async move {
    let (app, ok) = with_narrow_client(&db).await;
    let base = app.base.as_str();

    // The login form refuses a post without this session's CSRF token.
    let browser = browser();
    let page = page_at(&browser, url_with(base, &ok)).await;
    let mut form = hidden_fields(&page);
    form.retain(|(k, _)| k != "csrf_token");
    form.push(("email".into(), EMAIL.into()));
    form.push(("password".into(), PASSWORD.into()));
    let r = send_form(&browser, format!("{base}/login"), &form).await;
    assert_eq!(r.status(), 403, "no CSRF token");
    form.push(("csrf_token".into(), "forged".into()));
    let r = send_form(&browser, format!("{base}/login"), &form).await;
    assert_eq!(r.status(), 403, "wrong CSRF token");
    // Another browser's (valid) token is no good either.
    let r = http()
        .post(format!("{base}/login"))
        .form(&{
            let mut f = hidden_fields(&page);
            f.push(("email".into(), EMAIL.into()));
            f.push(("password".into(), PASSWORD.into()));
            f
        })
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "token without its session");
});

// A login no account can hold (a NUL in it, which PostgreSQL refuses in any text) is a wrong
// login on both engines: the sign-in page again, not an error of the request.
both_engines!(
    a_login_with_a_nul_is_a_wrong_login,
    |db: TestDb| async move {
        let (app, ok) = with_narrow_client(&db).await;
        let base = app.base.as_str();
        let browser = browser();
        let page = page_at(&browser, url_with(base, &ok)).await;
        let mut form = hidden_fields(&page);
        form.push(("email".into(), format!("{EMAIL}\0")));
        form.push(("password".into(), PASSWORD.into()));
        let r = send_form(&browser, format!("{base}/login"), &form).await;
        assert_eq!(r.status(), 401);
        let again = r.text().await.unwrap();
        assert!(again.contains("name=\"password\""), "{again}");
    }
);

// OIDC Core 5.5: a claims parameter that is not a JSON object of objects is invalid_request,
// back to the client with state and iss (also when it arrives through the login form).
both_engines!(malformed_claims_parameter, |db: TestDb| async move {
    let _setup = setup(&db).await;
    let app = TestApp::spawn(&db).await;
    let base = app.base.as_str();
    let (_, challenge) = pkce();
    let ok = base_params(&challenge);
    for (claims, what) in [
        ("not json", "not JSON"),
        (r#"{"userinfo":{"name":null}"#, "truncated JSON"),
        (r#"["userinfo"]"#, "an array"),
        (r#""userinfo""#, "a string"),
        ("null", "null"),
        (r#"{"userinfo":["name"]}"#, "userinfo an array"),
        (r#"{"id_token":"email"}"#, "id_token a string"),
        (r#"{"id_token":null}"#, "id_token null"),
        (
            r#"{"userinfo":{"name":true}}"#,
            "a claim request that is true",
        ),
        (
            r#"{"id_token":{"email":"yes"}}"#,
            "a claim request that is a string",
        ),
        (
            r#"{"userinfo":{"name":{"essential":"true"}}}"#,
            "essential a string",
        ),
        (
            r#"{"id_token":{"email":{"values":"a@example.org"}}}"#,
            "values not an array",
        ),
    ] {
        let url = url_with(base, &with(&ok, "claims", claims));
        assert_redirect_error(base, &url, "invalid_request", what).await;
        let r = get(&url).await;
        assert_rfc6749_description(&query(&location(&r))["error_description"]);
    }
    // Well-formed, with names this provider does not know and members it ignores: accepted.
    let url = url_with(
        base,
        &with(
            &ok,
            "claims",
            r#"{"userinfo":{"nickname":null,"name":{"essential":true,"value":"x","extra":1}},"other":[1]}"#,
        ),
    );
    let browser = browser();
    let r = open(&browser, &url).await;
    assert_eq!(r.status(), 200, "the login page");
    // The login form carries the parameter; a malformed one there is refused the same way.
    let page = r.text().await.unwrap();
    let mut form = hidden_fields(&page);
    let carried = form
        .iter_mut()
        .find(|(k, _)| k == "claims")
        .unwrap_or_else(|| panic!("claims not carried: {page}"));
    assert!(carried.1.contains("nickname"), "{}", carried.1);
    carried.1 = r#"{"userinfo":[]}"#.into();
    form.push(("email".into(), EMAIL.into()));
    form.push(("password".into(), PASSWORD.into()));
    let r = send_form(&browser, format!("{base}/login"), &form).await;
    assert_eq!(r.status(), 303);
    let q = query(&location(&r));
    assert_eq!(q["error"], "invalid_request", "{q:?}");
    assert_eq!((q["state"].as_str(), q["iss"].as_str()), ("xyz", base));
    assert!(!q.contains_key("code"));
});
