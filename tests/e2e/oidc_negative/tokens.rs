//! The token, userinfo, revocation and introspection endpoints' refusals.

use super::*;

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
