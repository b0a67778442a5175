//! Every refused request, with the exact OAuth error (or the error page where the client
//! cannot be trusted with a redirect). SQLite and PostgreSQL.

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
    let page = open(&browser, url_with(base, &ok))
        .await
        .text()
        .await
        .unwrap();
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

/// What the token endpoint's refusals work on: the portal client, a second confidential
/// client ("other"), the Higher Logic client (no PKCE), the application and a browser.
struct TokenFixture {
    setup: Setup,
    other_secret: String,
    hl_id: String,
    hl_secret: String,
    app: TestApp,
    browser: reqwest::Client,
}

impl TokenFixture {
    /// The application, the portal client's id and secret, the browser.
    fn parts(&self) -> (&TestApp, &str, &str, &reqwest::Client) {
        let setup = &self.setup;
        (&self.app, &setup.client_id, &setup.secret, &self.browser)
    }

    async fn new(db: &TestDb) -> TokenFixture {
        let setup = setup(db).await;
        let pepper = pepper(db, &setup.store).await;
        let mut other = NewClient::new("Other", ClientType::Confidential, &[REDIRECT]);
        other.client_id = Some("other".into());
        let (_, other_secret) = setup
            .store
            .add_client("test", &pepper, other)
            .await
            .unwrap();
        let (hl_id, hl_secret) = add_higher_logic_client(db, &setup.store).await;
        TokenFixture {
            setup,
            other_secret: other_secret.unwrap(),
            hl_id,
            hl_secret,
            app: TestApp::spawn(db).await,
            browser: browser(),
        }
    }
}

/// The status and the OAuth error code of a token response.
fn err(r: &(u16, serde_json::Value)) -> (u16, String) {
    (r.0, r.1["error"].as_str().unwrap_or_default().to_string())
}

/// The authorization_code grant's form: `code`, `redirect_uri`, and `code_verifier` if given.
fn code_grant<'a>(
    code: &'a str,
    redirect_uri: &'a str,
    verifier: Option<&'a str>,
) -> Vec<(&'static str, &'a str)> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    form.extend(verifier.map(|v| ("code_verifier", v)));
    form
}

/// Asserts that the token response `r` is `status` with the OAuth error `error`.
fn assert_token_error(r: &(u16, serde_json::Value), status: u16, error: &str, what: &str) {
    assert_eq!(err(r), (status, error.to_string()), "{what}");
}

both_engines!(token_client_authentication, |db: TestDb| async move {
    let f = TokenFixture::new(&db).await;
    let (app, id, secret, browser) = f.parts();
    let base = app.base.as_str();

    // Client authentication.
    let (code, verifier) = app.code_for(browser, id, &[]).await;
    let form = code_grant(&code, REDIRECT, Some(&verifier));
    let r = send_form(&http(), format!("{base}/token"), &form).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let r = app.token(id, "wrong-secret", &form).await;
    assert_token_error(&r, 401, "invalid_client", "wrong secret (basic)");
    let r = app.token("nobody", secret, &form).await;
    assert_token_error(&r, 401, "invalid_client", "unknown client");
    let r = send_form(
        &http(),
        format!("{base}/token"),
        &[&form[..], &[("client_id", id), ("client_secret", "wrong")]].concat(),
    )
    .await;
    assert_eq!(r.status(), 401, "wrong secret (post)");
    let r = http()
        .post(format!("{base}/token"))
        .basic_auth(id, Some(secret))
        .form(&[&form[..], &[("client_secret", secret)]].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "two authentication methods");
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
});

both_engines!(token_grant_types_and_parameters, |db: TestDb| async move {
    let f = TokenFixture::new(&db).await;
    let (app, id, secret, _) = f.parts();
    let (verifier, _) = pkce();

    // Grant types and parameters: (form, error, what).
    let no_code = [
        ("grant_type", "authorization_code"),
        ("redirect_uri", REDIRECT),
    ];
    let cases = [
        (
            vec![("grant_type", "password")],
            "unsupported_grant_type",
            "password grant",
        ),
        (
            vec![("grant_type", "client_credentials")],
            "unsupported_grant_type",
            "client_credentials grant",
        ),
        (vec![("code", "x")], "invalid_request", "no grant_type"),
        (no_code.to_vec(), "invalid_request", "no code"),
        (
            code_grant("made-up", REDIRECT, Some(&verifier)),
            "invalid_grant",
            "unknown code",
        ),
    ];
    for (form, error, what) in cases {
        let r = app.token(id, secret, &form).await;
        assert_token_error(&r, 400, error, what);
    }
});

both_engines!(token_code_binding, |db: TestDb| async move {
    let f = TokenFixture::new(&db).await;
    let (app, id, secret, browser) = f.parts();
    let setup = &f.setup;
    let other_secret = f.other_secret.as_str();

    // Each binding of the code: each attempt burns the code, so each needs a fresh one.
    let (code, verifier) = app.code_for(browser, id, &[]).await;
    let other_redirect = code_grant(&code, "https://rp.example.org/other", Some(&verifier));
    let r = app.token(id, secret, &other_redirect).await;
    assert_token_error(&r, 400, "invalid_grant", "other redirect_uri");
    let r = app.exchange(id, secret, &code, &verifier).await;
    assert_token_error(&r, 400, "invalid_grant", "a failed attempt burns the code");

    let (code, _) = app.code_for(browser, id, &[]).await;
    let (wrong_verifier, _) = pkce();
    let r = app.exchange(id, secret, &code, &wrong_verifier).await;
    assert_token_error(&r, 400, "invalid_grant", "wrong code_verifier");

    let (code, _) = app.code_for(browser, id, &[]).await;
    let r = app
        .token(id, secret, &code_grant(&code, REDIRECT, None))
        .await;
    assert_token_error(&r, 400, "invalid_grant", "missing code_verifier");

    let (code, verifier) = app.code_for(browser, id, &[]).await;
    let r = app.exchange("other", other_secret, &code, &verifier).await;
    assert_token_error(&r, 400, "invalid_grant", "code of another client");

    let (code, verifier) = app.code_for(browser, id, &[]).await;
    sqlx::query("UPDATE oidc_codes SET expires_at = 0")
        .execute(setup.store.pool())
        .await
        .unwrap();
    let r = app.exchange(id, secret, &code, &verifier).await;
    assert_token_error(&r, 400, "invalid_grant", "expired code");
});

both_engines!(token_pkce_downgrade, |db: TestDb| async move {
    let f = TokenFixture::new(&db).await;
    let (app, _, _, browser) = f.parts();
    let base = app.base.as_str();
    let hl_id = f.hl_id.as_str();
    let hl_secret = f.hl_secret.as_str();

    // PKCE downgrade: a verifier for a code issued without a challenge.
    let url = format!(
        "{base}/authorize?client_id={hl_id}&response_type=code&scope=profile&redirect_uri={}&state=s",
        urlencode(HL_REDIRECT)
    );
    let loc = app.sign_in(browser, &url).await;
    let hl_code = query(&loc)["code"].clone();
    let (v, _) = pkce();
    let form = code_grant(&hl_code, HL_REDIRECT, Some(&v));
    let r = app.token(hl_id, hl_secret, &form).await;
    assert_token_error(&r, 400, "invalid_grant", "verifier without challenge");
});

both_engines!(token_code_reuse, |db: TestDb| async move {
    let f = TokenFixture::new(&db).await;
    let (app, id, secret, browser) = f.parts();

    // A code used twice: refused, and the tokens from the first use are revoked.
    let (code, verifier) = app.code_for(browser, id, &[]).await;
    let first = app.exchange(id, secret, &code, &verifier).await;
    assert_eq!(first.0, 200);
    let access = first.1["access_token"].as_str().unwrap().to_string();
    let refresh_1 = first.1["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(app.userinfo(&access).await.0, 200);
    let second = app.exchange(id, secret, &code, &verifier).await;
    assert_token_error(&second, 400, "invalid_grant", "code reuse");
    assert_eq!(
        app.userinfo(&access).await.0,
        401,
        "access token from a reused code"
    );
    let r = app.refresh(id, secret, &refresh_1).await;
    assert_token_error(&r, 400, "invalid_grant", "refresh token from a reused code");
});

both_engines!(token_refresh_rotation, |db: TestDb| async move {
    let f = TokenFixture::new(&db).await;
    let (app, id, secret, browser) = f.parts();

    // Refresh rotation: replaying a spent refresh token revokes the family.
    let tokens = app.tokens_for(browser, id, secret).await;
    let old = tokens["refresh_token"].as_str().unwrap().to_string();
    let rotated = app.refresh(id, secret, &old).await;
    assert_eq!(rotated.0, 200);
    let new_refresh = rotated.1["refresh_token"].as_str().unwrap().to_string();
    let new_access = rotated.1["access_token"].as_str().unwrap().to_string();
    let r = app.refresh(id, secret, &old).await;
    assert_token_error(&r, 400, "invalid_grant", "replayed refresh token");
    let r = app.refresh(id, secret, &new_refresh).await;
    assert_token_error(&r, 400, "invalid_grant", "family revoked after replay");
    assert_eq!(
        app.userinfo(&new_access).await.0,
        401,
        "family's access token revoked"
    );
});

both_engines!(token_refresh_refusals, |db: TestDb| async move {
    let f = TokenFixture::new(&db).await;
    let (app, id, secret, browser) = f.parts();
    let other_secret = f.other_secret.as_str();

    // Refresh: another client's token, a wider scope, a missing token, an access token.
    let tokens = app.tokens_for(browser, id, secret).await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();
    let r = app.refresh("other", other_secret, &rt).await;
    assert_token_error(&r, 400, "invalid_grant", "refresh token of another client");
    let r = app
        .token(
            id,
            secret,
            &[
                ("grant_type", "refresh_token"),
                ("x\"\\\u{e9}", "1"),
                ("x\"\\\u{e9}", "2"),
            ],
        )
        .await;
    assert_token_error(&r, 400, "invalid_request", "odd repeated name");
    assert_rfc6749_description(r.1["error_description"].as_str().unwrap());
    let r = app
        .token(id, secret, &[("grant_type", "refresh_token")])
        .await;
    assert_token_error(&r, 400, "invalid_request", "no refresh_token");
    let r = app
        .refresh(id, secret, tokens["access_token"].as_str().unwrap())
        .await;
    assert_token_error(&r, 400, "invalid_grant", "access token as refresh token");
    // The other client's attempt did not burn the token; scope values this provider does not
    // understand are ignored on refresh too (the client may resend its authorization scope).
    let same = app
        .refresh_scoped(id, secret, &rt, "openid profile email offline_access")
        .await;
    assert_eq!(same.0, 200, "{}", same.1);
    assert_eq!(same.1["scope"], "openid profile email");
    let rt = same.1["refresh_token"].as_str().unwrap().to_string();
    // Narrowing is allowed; widening again is not, and that refusal does not burn the token.
    let narrowed = app.refresh_scoped(id, secret, &rt, "openid").await;
    assert_eq!(narrowed.0, 200, "{}", narrowed.1);
    assert_eq!(narrowed.1["scope"], "openid");
    let narrow_rt = narrowed.1["refresh_token"].as_str().unwrap().to_string();
    for (scope, what) in [
        ("openid profile", "wider scope on refresh"),
        ("offline_access", "no granted scope on refresh"),
    ] {
        let r = app.refresh_scoped(id, secret, &narrow_rt, scope).await;
        assert_token_error(&r, 400, "invalid_scope", what);
    }
});

both_engines!(userinfo_refusals, |db: TestDb| async move {
    let f = TokenFixture::new(&db).await;
    let (app, id, secret, browser) = f.parts();
    let setup = &f.setup;
    let base = app.base.as_str();
    let tokens = app.tokens_for(browser, id, secret).await;

    // Userinfo.
    // No token at all: a bare challenge, without an error code (RFC 6750 section 3.1).
    let r = open(&http(), format!("{base}/userinfo")).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"guildgate\""
    );
    // The scheme without a token is a malformed request.
    let (status, challenge, _) = app.userinfo("").await;
    assert_eq!(status, 400);
    assert!(
        challenge.contains("error=\"invalid_request\""),
        "{challenge}"
    );
    let (status, challenge, _) = app.userinfo("made-up").await;
    assert_eq!(status, 401);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let (status, _, _) = app
        .userinfo(tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 401, "refresh token as bearer");
    let live = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.userinfo(&live).await.0, 200);
    sqlx::query("UPDATE oidc_tokens SET expires_at = 1 WHERE kind = 'access'")
        .execute(setup.store.pool())
        .await
        .unwrap();
    assert_eq!(app.userinfo(&live).await.0, 401, "expired access token");
});

both_engines!(revoke_and_introspect_refusals, |db: TestDb| async move {
    let f = TokenFixture::new(&db).await;
    let (app, id, secret, browser) = f.parts();
    let base = app.base.as_str();
    let other_secret = f.other_secret.as_str();

    // Revocation and introspection need client authentication.
    let r = send_form(&http(), format!("{base}/revoke"), &[("token", "x")]).await;
    assert_eq!(r.status(), 401);
    let r = send_form(&http(), format!("{base}/introspect"), &[("token", "x")]).await;
    assert_eq!(r.status(), 401);
    let r = app
        .revoke(id, secret, &[("token_type_hint", "access_token")])
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let r = app.revoke(id, secret, &[("token", "unknown")]).await;
    assert_eq!(
        r.status(),
        200,
        "unknown tokens are 'revoked' too (RFC 7009 2.2)"
    );
    // Another client cannot see (or revoke) this client's token.
    let tokens = app.tokens_for(browser, id, secret).await;
    let at = tokens["access_token"].as_str().unwrap();
    let r = app
        .introspect("other", other_secret, &[("token", at)])
        .await;
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["active"],
        false
    );
    let r = app.revoke("other", other_secret, &[("token", at)]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.userinfo(at).await.0,
        200,
        "another client's revocation is ignored"
    );
});

both_engines!(logout_refusals, |db: TestDb| async move {
    let setup = setup(&db).await;
    let app = TestApp::spawn(&db).await;
    let base = app.base.as_str();
    let browser = browser();
    let tokens = app
        .tokens_for(&browser, &setup.client_id, &setup.secret)
        .await;
    let id_token = tokens["id_token"].as_str().unwrap();

    // An unregistered post-logout address: a page, no redirect, still signed in.
    let r = open(
        &browser,
        format!(
            "{base}/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
            urlencode("https://evil.example/")
        ),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // A post-logout address without naming the client.
    let r = open(
        &browser,
        format!(
            "{base}/logout?post_logout_redirect_uri={}",
            urlencode(POST_LOGOUT)
        ),
    )
    .await;
    assert_eq!(r.status(), 400);
    // A forged hint.
    let mut forged = id_token.to_string();
    forged.push('x');
    let r = open(&browser, format!("{base}/logout?id_token_hint={forged}")).await;
    assert_eq!(r.status(), 400);
    // client_id disagreeing with the hint.
    let r = open(
        &browser,
        format!("{base}/logout?id_token_hint={id_token}&client_id=higherlogic"),
    )
    .await;
    assert_eq!(r.status(), 400);

    // Without a hint, a signed-in member is asked; a cross-site POST without the token fails.
    let r = open(&browser, format!("{base}/logout")).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Sign out"), "{page}");
    let r = send_form(&browser, format!("{base}/logout"), &[("confirm", "yes")]).await;
    assert_eq!(r.status(), 403);
    // Still signed in: prompt=none gives a code.
    let url = app.openid_url("portal", &[("prompt", "none")]);
    let r = open(&browser, &url).await;
    assert!(query(&location(&r)).contains_key("code"));
    // Confirmed with the form's token: signed out.
    let r = send_form(&browser, format!("{base}/logout"), &hidden_fields(&page)).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("signed out"));
    let r = open(&browser, &url).await;
    assert_eq!(query(&location(&r))["error"], "login_required");
});

both_engines!(
    login_is_throttled_without_saying_who_exists,
    |db: TestDb| async move {
        let setup = setup(&db).await;
        let app = TestApp::spawn(&db).await;
        let base = app.base.as_str();
        let (_, challenge) = pkce();
        let url = url_with(base, &base_params(&challenge));
        let browser = browser();
        let _ = &setup;
        let mut page = open(&browser, &url).await.text().await.unwrap();
        // The allowance of failures, for a real account and for an unknown e-mail alike.
        for email in [EMAIL, "nobody@example.org"] {
            for _ in 0..5 {
                let r = app
                    .login(&browser, &page, email, "wrong password 123")
                    .await;
                assert_eq!(r.status(), 401);
                page = r.text().await.unwrap();
            }
            // Now even the right password waits; the answer is the same for both e-mails.
            let r = app.login(&browser, &page, email, PASSWORD).await;
            assert_eq!(r.status(), 429, "{email}");
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry >= 1);
            page = r.text().await.unwrap();
            assert!(page.contains("too many failed sign-in attempts"), "{page}");
        }
        // After the delay the member gets in.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let r = app.login(&browser, &page, EMAIL, PASSWORD).await;
        assert_eq!(r.status(), 303);
    }
);

both_engines!(id_token_hint_at_authorize, |db: TestDb| async move {
    // OIDC Core 3.1.2.1: the hint names the member the client expects to be signed in.
    let setup = setup(&db).await;
    let second_email = add_second_member(&setup.store).await;
    let app = TestApp::spawn(&db).await;
    let base = app.base.as_str();
    let (id, secret) = (setup.client_id.as_str(), setup.secret.as_str());

    // Ada signs in on one browser, Charles on another; each gets an ID token.
    let ada = browser();
    let (code, verifier) = app.code_for(&ada, id, &[]).await;
    let ada_token = app.exchange(id, secret, &code, &verifier).await.1["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    let charles = browser();
    let (verifier, challenge) = pkce();
    let page = open(&charles, url_with(base, &base_params(&challenge)))
        .await
        .text()
        .await
        .unwrap();
    let r = app.login(&charles, &page, second_email, PASSWORD).await;
    let code = query(&location(&r))["code"].clone();
    let charles_token = app.exchange(id, secret, &code, &verifier).await.1["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(jwt_parts(&charles_token).1["sub"], "M-1002");

    let (_, challenge) = pkce();
    let ok = base_params(&challenge);
    let silent = with(&ok, "prompt", "none");
    // Ada's own hint: a code without a page.
    let r = open(
        &ada,
        url_with(base, &with(&silent, "id_token_hint", &ada_token)),
    )
    .await;
    assert_eq!(r.status(), 303);
    assert!(query(&location(&r)).contains_key("code"));
    // Charles's hint on Ada's browser: not the member asked for.
    let r = open(
        &ada,
        url_with(base, &with(&silent, "id_token_hint", &charles_token)),
    )
    .await;
    assert_eq!(r.status(), 303);
    let q = query(&location(&r));
    assert_eq!(q["error"], "login_required");
    assert_eq!((q["state"].as_str(), q["iss"].as_str()), ("xyz", base));
    assert!(!q.contains_key("code"));
    // Without prompt=none the sign-in page comes instead of a code for Ada.
    let r = open(
        &ada,
        url_with(base, &with(&ok, "id_token_hint", &charles_token)),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("name=\"password\""));
    // Nobody signed in: login_required, whatever the hint.
    let r = open(
        &http(),
        url_with(base, &with(&silent, "id_token_hint", &ada_token)),
    )
    .await;
    assert_eq!(query(&location(&r))["error"], "login_required");
    // Not an ID token of this provider: invalid_request, back to the client.
    let mut forged = ada_token.clone();
    forged.push('x');
    for (hint, what) in [
        (forged.as_str(), "forged signature"),
        ("not-a-jwt", "not a JWT"),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJNLTEwMDEifQ.", "alg none"),
    ] {
        assert_redirect_error(
            base,
            &url_with(base, &with(&silent, "id_token_hint", hint)),
            "invalid_request",
            what,
        )
        .await;
    }
});

both_engines!(
    code_replayed_after_it_expired_and_cleanup_ran,
    |db: TestDb| async move {
        // oidcc-codereuse-30seconds with codes shorter-lived than the delay: the spent code
        // outlives the cleanup while its tokens live, so the late replay still revokes them.
        let setup = setup(&db).await;
        let env = [("GUILDGATE_OIDC__CODE_LIFETIME_SECS", "1")];
        let server = Server::start_with(&db, &env).await;
        let base = server.base.clone();
        let (id, secret) = (setup.client_id.as_str(), setup.secret.as_str());
        let browser = browser();
        let (code, verifier) = code_for(&browser, &base, id, &[]).await;
        let tokens = exchange(&base, id, secret, &code, &verifier).await.1;
        let access = tokens["access_token"].as_str().unwrap().to_string();
        // A second code, never used: the cleanup must delete it.
        let _unused = code_for(&browser, &base, id, &[]).await;
        let count = || async {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_codes")
                .fetch_one(setup.store.pool())
                .await
                .unwrap();
            n
        };
        assert_eq!(count().await, 2);
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        // The cleanup runs when the server starts (and every five minutes).
        server.stop();
        let server = Server::start_with(&db, &env).await;
        let base = server.base.clone();
        let mut left = count().await;
        for _ in 0..100 {
            if left < 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            left = count().await;
        }
        assert_eq!(
            left, 1,
            "the expired unused code is deleted, the spent one kept"
        );
        assert_eq!(userinfo(&base, &access).await.0, 200);
        let r = exchange(&base, id, secret, &code, &verifier).await;
        assert_eq!(
            (r.0, r.1["error"].as_str()),
            (400, Some("invalid_grant")),
            "late replay"
        );
        assert_eq!(
            userinfo(&base, &access).await.0,
            401,
            "access token of the replayed code"
        );
        let r = refresh(&base, id, secret, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!((r.0, r.1["error"].as_str()), (400, Some("invalid_grant")));
    }
);
