//! Every refused request, with the exact OAuth error (or the error page where the client
//! cannot be trusted with a redirect). SQLite and PostgreSQL.

mod support;

use guildgate::oidc::clients::{ClientType, NewClient};
use support::oidc::*;
use support::{Server, TestDb};

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

both_engines!(authorization_endpoint_refusals, |db: TestDb| async move {
    let setup = setup(&db).await;
    // A client that may ask for openid and profile only.
    let pepper = pepper(&db, &setup.store).await;
    let mut narrow = NewClient::new("Narrow", ClientType::Confidential, &[REDIRECT]);
    narrow.client_id = Some("narrow".into());
    narrow.allowed_scopes = vec!["openid".into(), "profile".into()];
    setup
        .store
        .add_client("test", &pepper, narrow)
        .await
        .unwrap();
    let server = Server::start(&db).await;
    let base = server.base.as_str();
    let (_, challenge) = pkce();
    let ok = base_params(&challenge);

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

    // Everything else goes back to the client.
    let cases: Vec<(Params, &str, &str)> = vec![
        (
            with(&ok, "response_type", "token"),
            "unsupported_response_type",
            "implicit",
        ),
        (
            with(&ok, "response_type", "code id_token"),
            "unsupported_response_type",
            "hybrid",
        ),
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
            with(&ok, "code_challenge_method", "plain"),
            "invalid_request",
            "plain PKCE",
        ),
        (
            without(&ok, "code_challenge_method"),
            "invalid_request",
            "challenge without method (plain)",
        ),
        (
            with(&ok, "code_challenge", "short"),
            "invalid_request",
            "malformed challenge",
        ),
        // Unknown scope values are ignored (OIDC Core 3.1.2.1); nothing understood is left.
        (
            with(&ok, "scope", "admin address"),
            "invalid_scope",
            "only unknown scopes",
        ),
        (
            with(&with(&ok, "client_id", "narrow"), "scope", "openid email"),
            "invalid_scope",
            "a scope not allowed for this client",
        ),
        (without(&ok, "scope"), "invalid_scope", "no scope"),
        (
            with(&ok, "request", "eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
            "request object",
        ),
        (
            with(&ok, "request_uri", "https://rp.example.org/req"),
            "request_uri_not_supported",
            "request_uri",
        ),
        (
            with(&ok, "registration", "{}"),
            "registration_not_supported",
            "registration",
        ),
        (
            with(&ok, "prompt", "none"),
            "login_required",
            "prompt=none without a session",
        ),
        (
            with(&ok, "prompt", "none login"),
            "invalid_request",
            "prompt=none with login",
        ),
        (
            with(&ok, "prompt", "bogus"),
            "invalid_request",
            "unknown prompt",
        ),
        (
            with(&ok, "max_age", "-1"),
            "invalid_request",
            "negative max_age",
        ),
        (
            with(&ok, "max_age", "soon"),
            "invalid_request",
            "max_age not a number",
        ),
        (
            with(&ok, "response_mode", "fragment"),
            "invalid_request",
            "fragment response mode",
        ),
        (
            with(&ok, "nonce", &"n".repeat(5000)),
            "invalid_request",
            "huge nonce",
        ),
    ];
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

    // POST /authorize is the same endpoint.
    let r = http()
        .post(format!("{base}/authorize"))
        .form(&with(&ok, "response_type", "token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(query(&location(&r))["error"], "unsupported_response_type");

    // The login form refuses a post without this session's CSRF token.
    let browser = browser();
    let page = browser
        .get(url_with(base, &ok))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = hidden_fields(&page);
    form.retain(|(k, _)| k != "csrf_token");
    form.push(("email".into(), EMAIL.into()));
    form.push(("password".into(), PASSWORD.into()));
    let r = browser
        .post(format!("{base}/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no CSRF token");
    form.push(("csrf_token".into(), "forged".into()));
    let r = browser
        .post(format!("{base}/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
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
    let server = Server::start(&db).await;
    let base = server.base.as_str();
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
    let r = browser.get(&url).send().await.unwrap();
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
    let r = browser
        .post(format!("{base}/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let q = query(&location(&r));
    assert_eq!(q["error"], "invalid_request", "{q:?}");
    assert_eq!((q["state"].as_str(), q["iss"].as_str()), ("xyz", base));
    assert!(!q.contains_key("code"));
});

both_engines!(token_endpoint_refusals, |db: TestDb| async move {
    let setup = setup(&db).await;
    let pepper = pepper(&db, &setup.store).await;
    let mut other = NewClient::new("Other", ClientType::Confidential, &[REDIRECT]);
    other.client_id = Some("other".into());
    let (_, other_secret) = setup
        .store
        .add_client("test", &pepper, other)
        .await
        .unwrap();
    let other_secret = other_secret.unwrap();
    let (hl_id, hl_secret) = add_higher_logic_client(&db, &setup.store).await;
    let server = Server::start(&db).await;
    let base = server.base.as_str();
    let id = setup.client_id.as_str();
    let secret = setup.secret.as_str();
    let browser = browser();
    let err =
        |r: &(u16, serde_json::Value)| (r.0, r.1["error"].as_str().unwrap_or_default().to_string());

    // Client authentication.
    let (code, verifier) = code_for(&browser, base, id, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let r = http()
        .post(format!("{base}/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let r = token_request(base, id, "wrong-secret", &form).await;
    assert_eq!(
        err(&r),
        (401, "invalid_client".into()),
        "wrong secret (basic)"
    );
    let r = token_request(base, "nobody", secret, &form).await;
    assert_eq!(err(&r), (401, "invalid_client".into()), "unknown client");
    let r = http()
        .post(format!("{base}/token"))
        .form(&[&form[..], &[("client_id", id), ("client_secret", "wrong")]].concat())
        .send()
        .await
        .unwrap();
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

    // Grant types and parameters.
    let r = token_request(base, id, secret, &[("grant_type", "password")]).await;
    assert_eq!(err(&r), (400, "unsupported_grant_type".into()));
    let r = token_request(base, id, secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(err(&r), (400, "unsupported_grant_type".into()));
    let r = token_request(base, id, secret, &[("code", "x")]).await;
    assert_eq!(err(&r), (400, "invalid_request".into()), "no grant_type");
    let r = token_request(
        base,
        id,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(err(&r), (400, "invalid_request".into()), "no code");
    let r = token_request(
        base,
        id,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", "made-up"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ],
    )
    .await;
    assert_eq!(err(&r), (400, "invalid_grant".into()), "unknown code");

    // Each binding of the code: each attempt burns the code, so each needs a fresh one.
    let (code, verifier) = code_for(&browser, base, id, &[]).await;
    let r = token_request(
        base,
        id,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://rp.example.org/other"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(err(&r), (400, "invalid_grant".into()), "other redirect_uri");
    let r = exchange(base, id, secret, &code, &verifier).await;
    assert_eq!(
        err(&r),
        (400, "invalid_grant".into()),
        "a failed attempt burns the code"
    );

    let (code, _) = code_for(&browser, base, id, &[]).await;
    let (wrong_verifier, _) = pkce();
    let r = exchange(base, id, secret, &code, &wrong_verifier).await;
    assert_eq!(
        err(&r),
        (400, "invalid_grant".into()),
        "wrong code_verifier"
    );

    let (code, _) = code_for(&browser, base, id, &[]).await;
    let r = token_request(
        base,
        id,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        err(&r),
        (400, "invalid_grant".into()),
        "missing code_verifier"
    );

    let (code, verifier) = code_for(&browser, base, id, &[]).await;
    let r = exchange(base, "other", &other_secret, &code, &verifier).await;
    assert_eq!(
        err(&r),
        (400, "invalid_grant".into()),
        "code of another client"
    );

    let (code, verifier) = code_for(&browser, base, id, &[]).await;
    sqlx::query("UPDATE oidc_codes SET expires_at = 0")
        .execute(setup.store.pool())
        .await
        .unwrap();
    let r = exchange(base, id, secret, &code, &verifier).await;
    assert_eq!(err(&r), (400, "invalid_grant".into()), "expired code");

    // PKCE downgrade: a verifier for a code issued without a challenge.
    let url = format!(
        "{base}/authorize?client_id={hl_id}&response_type=code&scope=profile&redirect_uri={}&state=s",
        form_urlencoded::byte_serialize(HL_REDIRECT.as_bytes()).collect::<String>()
    );
    let loc = sign_in(&browser, base, &url).await;
    let hl_code = query(&loc)["code"].clone();
    let (v, _) = pkce();
    let r = token_request(
        base,
        &hl_id,
        &hl_secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &hl_code),
            ("redirect_uri", HL_REDIRECT),
            ("code_verifier", &v),
        ],
    )
    .await;
    assert_eq!(
        err(&r),
        (400, "invalid_grant".into()),
        "verifier without challenge"
    );

    // A code used twice: refused, and the tokens from the first use are revoked.
    let (code, verifier) = code_for(&browser, base, id, &[]).await;
    let first = exchange(base, id, secret, &code, &verifier).await;
    assert_eq!(first.0, 200);
    let access = first.1["access_token"].as_str().unwrap().to_string();
    let refresh_1 = first.1["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(userinfo(base, &access).await.0, 200);
    let second = exchange(base, id, secret, &code, &verifier).await;
    assert_eq!(err(&second), (400, "invalid_grant".into()), "code reuse");
    assert_eq!(
        userinfo(base, &access).await.0,
        401,
        "access token from a reused code"
    );
    let r = refresh(base, id, secret, &refresh_1).await;
    assert_eq!(
        err(&r),
        (400, "invalid_grant".into()),
        "refresh token from a reused code"
    );

    // Refresh rotation: replaying a spent refresh token revokes the family.
    let (code, verifier) = code_for(&browser, base, id, &[]).await;
    let tokens = exchange(base, id, secret, &code, &verifier).await.1;
    let old = tokens["refresh_token"].as_str().unwrap().to_string();
    let rotated = refresh(base, id, secret, &old).await;
    assert_eq!(rotated.0, 200);
    let new_refresh = rotated.1["refresh_token"].as_str().unwrap().to_string();
    let new_access = rotated.1["access_token"].as_str().unwrap().to_string();
    let r = refresh(base, id, secret, &old).await;
    assert_eq!(
        err(&r),
        (400, "invalid_grant".into()),
        "replayed refresh token"
    );
    let r = refresh(base, id, secret, &new_refresh).await;
    assert_eq!(
        err(&r),
        (400, "invalid_grant".into()),
        "family revoked after replay"
    );
    assert_eq!(
        userinfo(base, &new_access).await.0,
        401,
        "family's access token revoked"
    );

    // Refresh: another client's token, a wider scope, a missing token, an access token.
    let (code, verifier) = code_for(&browser, base, id, &[]).await;
    let tokens = exchange(base, id, secret, &code, &verifier).await.1;
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();
    let r = refresh(base, "other", &other_secret, &rt).await;
    assert_eq!(
        err(&r),
        (400, "invalid_grant".into()),
        "refresh token of another client"
    );
    let r = token_request(
        base,
        id,
        secret,
        &[
            ("grant_type", "refresh_token"),
            ("x\"\\\u{e9}", "1"),
            ("x\"\\\u{e9}", "2"),
        ],
    )
    .await;
    assert_eq!(
        err(&r),
        (400, "invalid_request".into()),
        "odd repeated name"
    );
    assert_rfc6749_description(r.1["error_description"].as_str().unwrap());
    let r = token_request(base, id, secret, &[("grant_type", "refresh_token")]).await;
    assert_eq!(err(&r), (400, "invalid_request".into()), "no refresh_token");
    let r = refresh(base, id, secret, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        err(&r),
        (400, "invalid_grant".into()),
        "access token as refresh token"
    );
    // The other client's attempt did not burn the token; scope values this provider does not
    // understand are ignored on refresh too (the client may resend its authorization scope).
    let same = token_request(
        base,
        id,
        secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "openid profile email offline_access"),
        ],
    )
    .await;
    assert_eq!(same.0, 200, "{}", same.1);
    assert_eq!(same.1["scope"], "openid profile email");
    let rt = same.1["refresh_token"].as_str().unwrap().to_string();
    // Narrowing is allowed; widening again is not, and that refusal does not burn the token.
    let narrowed = token_request(
        base,
        id,
        secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(narrowed.0, 200, "{}", narrowed.1);
    assert_eq!(narrowed.1["scope"], "openid");
    let narrow_rt = narrowed.1["refresh_token"].as_str().unwrap().to_string();
    for (scope, what) in [
        ("openid profile", "wider scope on refresh"),
        ("offline_access", "no granted scope on refresh"),
    ] {
        let r = token_request(
            base,
            id,
            secret,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &narrow_rt),
                ("scope", scope),
            ],
        )
        .await;
        assert_eq!(err(&r), (400, "invalid_scope".into()), "{what}");
    }

    // Userinfo.
    // No token at all: a bare challenge, without an error code (RFC 6750 section 3.1).
    let r = http().get(format!("{base}/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"guildgate\""
    );
    // The scheme without a token is a malformed request.
    let (status, challenge, _) = userinfo(base, "").await;
    assert_eq!(status, 400);
    assert!(
        challenge.contains("error=\"invalid_request\""),
        "{challenge}"
    );
    let (status, challenge, _) = userinfo(base, "made-up").await;
    assert_eq!(status, 401);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let (status, _, _) = userinfo(base, narrowed.1["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 401, "refresh token as bearer");
    let live = narrowed.1["access_token"].as_str().unwrap().to_string();
    assert_eq!(userinfo(base, &live).await.0, 200);
    sqlx::query("UPDATE oidc_tokens SET expires_at = 1 WHERE kind = 'access'")
        .execute(setup.store.pool())
        .await
        .unwrap();
    assert_eq!(userinfo(base, &live).await.0, 401, "expired access token");

    // Revocation and introspection need client authentication.
    let r = http()
        .post(format!("{base}/revoke"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .post(format!("{base}/introspect"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .post(format!("{base}/revoke"))
        .basic_auth(id, Some(secret))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let r = http()
        .post(format!("{base}/revoke"))
        .basic_auth(id, Some(secret))
        .form(&[("token", "unknown")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "unknown tokens are 'revoked' too (RFC 7009 2.2)"
    );
    // Another client cannot see (or revoke) this client's token.
    let (code, verifier) = code_for(&browser, base, id, &[]).await;
    let tokens = exchange(base, id, secret, &code, &verifier).await.1;
    let at = tokens["access_token"].as_str().unwrap();
    let r = http()
        .post(format!("{base}/introspect"))
        .basic_auth("other", Some(&other_secret))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["active"],
        false
    );
    let r = http()
        .post(format!("{base}/revoke"))
        .basic_auth("other", Some(&other_secret))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        userinfo(base, at).await.0,
        200,
        "another client's revocation is ignored"
    );
});

both_engines!(logout_refusals, |db: TestDb| async move {
    let setup = setup(&db).await;
    let server = Server::start(&db).await;
    let base = server.base.as_str();
    let browser = browser();
    let (code, verifier) = code_for(&browser, base, &setup.client_id, &[]).await;
    let tokens = exchange(base, &setup.client_id, &setup.secret, &code, &verifier)
        .await
        .1;
    let id_token = tokens["id_token"].as_str().unwrap();
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();

    // An unregistered post-logout address: a page, no redirect, still signed in.
    let r = browser
        .get(format!(
            "{base}/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
            enc("https://evil.example/")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // A post-logout address without naming the client.
    let r = browser
        .get(format!(
            "{base}/logout?post_logout_redirect_uri={}",
            enc(POST_LOGOUT)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A forged hint.
    let mut forged = id_token.to_string();
    forged.push('x');
    let r = browser
        .get(format!("{base}/logout?id_token_hint={forged}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // client_id disagreeing with the hint.
    let r = browser
        .get(format!(
            "{base}/logout?id_token_hint={id_token}&client_id=higherlogic"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Without a hint, a signed-in member is asked; a cross-site POST without the token fails.
    let r = browser.get(format!("{base}/logout")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Sign out"), "{page}");
    let r = browser
        .post(format!("{base}/logout"))
        .form(&[("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Still signed in: prompt=none gives a code.
    let (_, challenge) = pkce();
    let url = authorize_url(
        base,
        &[
            ("client_id", "portal"),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("prompt", "none"),
        ],
    );
    let r = browser.get(&url).send().await.unwrap();
    assert!(query(&location(&r)).contains_key("code"));
    // Confirmed with the form's token: signed out.
    let r = browser
        .post(format!("{base}/logout"))
        .form(&hidden_fields(&page))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("signed out"));
    let r = browser.get(&url).send().await.unwrap();
    assert_eq!(query(&location(&r))["error"], "login_required");
});

both_engines!(
    login_is_throttled_without_saying_who_exists,
    |db: TestDb| async move {
        let setup = setup(&db).await;
        let server = Server::start(&db).await;
        let base = server.base.as_str();
        let (_, challenge) = pkce();
        let url = url_with(base, &base_params(&challenge));
        let browser = browser();
        let _ = &setup;
        let mut page = browser
            .get(&url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // The allowance of failures, for a real account and for an unknown e-mail alike.
        for email in [EMAIL, "nobody@example.org"] {
            for _ in 0..5 {
                let r = submit_login(&browser, base, &page, email, "wrong password 123").await;
                assert_eq!(r.status(), 401);
                page = r.text().await.unwrap();
            }
            // Now even the right password waits; the answer is the same for both e-mails.
            let r = submit_login(&browser, base, &page, email, PASSWORD).await;
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
        let r = submit_login(&browser, base, &page, EMAIL, PASSWORD).await;
        assert_eq!(r.status(), 303);
    }
);

both_engines!(id_token_hint_at_authorize, |db: TestDb| async move {
    // OIDC Core 3.1.2.1: the hint names the member the client expects to be signed in.
    let setup = setup(&db).await;
    let second_email = add_second_member(&setup.store).await;
    let server = Server::start(&db).await;
    let base = server.base.as_str();
    let (id, secret) = (setup.client_id.as_str(), setup.secret.as_str());

    // Ada signs in on one browser, Charles on another; each gets an ID token.
    let ada = browser();
    let (code, verifier) = code_for(&ada, base, id, &[]).await;
    let ada_token = exchange(base, id, secret, &code, &verifier).await.1["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    let charles = browser();
    let (verifier, challenge) = pkce();
    let page = charles
        .get(url_with(base, &base_params(&challenge)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = submit_login(&charles, base, &page, second_email, PASSWORD).await;
    let code = query(&location(&r))["code"].clone();
    let charles_token = exchange(base, id, secret, &code, &verifier).await.1["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(jwt_parts(&charles_token).1["sub"], "M-1002");

    let (_, challenge) = pkce();
    let ok = base_params(&challenge);
    let silent = with(&ok, "prompt", "none");
    // Ada's own hint: a code without a page.
    let r = ada
        .get(url_with(base, &with(&silent, "id_token_hint", &ada_token)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(query(&location(&r)).contains_key("code"));
    // Charles's hint on Ada's browser: not the member asked for.
    let r = ada
        .get(url_with(
            base,
            &with(&silent, "id_token_hint", &charles_token),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let q = query(&location(&r));
    assert_eq!(q["error"], "login_required");
    assert_eq!((q["state"].as_str(), q["iss"].as_str()), ("xyz", base));
    assert!(!q.contains_key("code"));
    // Without prompt=none the sign-in page comes instead of a code for Ada.
    let r = ada
        .get(url_with(base, &with(&ok, "id_token_hint", &charles_token)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("name=\"password\""));
    // Nobody signed in: login_required, whatever the hint.
    let r = http()
        .get(url_with(base, &with(&silent, "id_token_hint", &ada_token)))
        .send()
        .await
        .unwrap();
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
