//! The OpenID Connect flow end to end, against the real server: the `openidconnect` crate as
//! the client, a cookie-keeping HTTP client filling the login form as a browser would; then
//! once more exactly as Higher Logic's documented request does it. SQLite and PostgreSQL. The
//! public and ES256 clients in [`clients`].

mod clients;

use crate::support::oidc::*;
use crate::support::{Server, TestApp, TestDb};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};

/// The client as discovery sets it up: authorization and token endpoints, userinfo.
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The `openidconnect` client for `client_id`, set up by discovery.
async fn discovered_client(app: &TestApp, client_id: &str, secret: &str) -> Client {
    let issuer = IssuerUrl::new(app.base.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http())
        .await
        .expect("discovery");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.to_string()),
        Some(ClientSecret::new(secret.to_string())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
}

/// An authorization URL of `client` for openid and `scopes`, with PKCE and a nonce; with its
/// state, its nonce and the PKCE verifier.
fn authorization(
    client: &Client,
    scopes: &[&str],
) -> (openidconnect::url::Url, CsrfToken, Nonce, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scopes(scopes.iter().map(|scope| Scope::new(scope.to_string())))
        .set_pkce_challenge(challenge)
        .url();
    (url, csrf, nonce, verifier)
}

both_engines!(openidconnect_client_full_flow, |db: TestDb| async move {
    let (setup, app) = TestApp::with_portal(&db).await;
    let http = http();
    let client = discovered_client(&app, &setup.client_id, &setup.secret).await;

    // Authorization URL with PKCE and nonce; the browser signs in.
    let (url, csrf, nonce, verifier) = authorization(&client, &["profile", "email"]);
    let back = sign_in_through_the_login_form(&app, url.as_str()).await;
    assert_eq!(back["state"], *csrf.secret());
    assert_eq!(back["iss"], app.base, "RFC 9207 iss parameter");

    // Code exchange, ID token validated against the JWKS, at_hash checked.
    let tokens = client
        .exchange_code(AuthorizationCode::new(back["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    check_the_id_token(&client, &tokens, &nonce);
    check_userinfo(&app, &client, &tokens).await;

    // Refresh: a new pair; the old refresh token is spent.
    let refresh = tokens.refresh_token().expect("refresh token").clone();
    let refreshed = client
        .exchange_refresh_token(&refresh)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    assert_ne!(
        refreshed.access_token().secret(),
        tokens.access_token().secret()
    );
    let new_refresh = refreshed.refresh_token().expect("rotated").clone();
    assert_ne!(new_refresh.secret(), refresh.secret());
    let (status, _, _) = app.userinfo(refreshed.access_token().secret()).await;
    assert_eq!(status, 200);
    introspect_then_revoke(&app, &setup, &refreshed).await;
});

/// Opens the authorization URL in a fresh browser (checking the page's security headers and
/// the cookies), fails to sign in twice, then signs in; the redirect's query.
async fn sign_in_through_the_login_form(
    app: &TestApp,
    url: &str,
) -> std::collections::HashMap<String, String> {
    let browser = browser();
    let first = open(&browser, url).await;
    assert_eq!(first.status(), 200);
    let headers = first.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    // An anonymous visitor gets no session (nothing worth keeping yet), only the signed
    // cookie holding the form's CSRF token.
    let cookies: Vec<String> = headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_string())
        .collect();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies[0].starts_with("guildgate_csrf="), "{cookies:?}");
    let cookie_flags = |cookie: &str| {
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        // Plain http on loopback: no Secure flag (it would never be sent back).
        assert!(!cookie.contains("Secure"), "{cookie}");
    };
    cookie_flags(&cookies[0]);
    let mut page = first.text().await.unwrap();

    // A wrong password, an unknown e-mail: the form again, with a message that does not say
    // which part was wrong.
    for (email, password) in [
        (EMAIL, "not the password"),
        ("nobody@example.org", PASSWORD),
    ] {
        let wrong = app.login(&browser, &page, email, password).await;
        assert_eq!(wrong.status(), 401, "{email} / {password}");
        page = wrong.text().await.unwrap();
        assert!(
            page.contains("is not right"),
            "{email} / {password}: {page}"
        );
    }

    let done = app.login(&browser, &page, EMAIL, PASSWORD).await;
    assert_eq!(done.status(), 303);
    assert!(location(&done).starts_with(REDIRECT));
    // Signed in: the session cookie, and the known-device cookie.
    let set: Vec<String> = done
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_string())
        .collect();
    for name in ["guildgate_session=", "guildgate_device="] {
        let cookie = set
            .iter()
            .find(|c| c.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {set:?}"));
        cookie_flags(cookie);
    }
    query(&location(&done))
}

/// The ID token: valid against the JWKS and the nonce, with the member's claims and at_hash.
fn check_the_id_token(client: &Client, tokens: &CoreTokenResponse, nonce: &Nonce) {
    let id_token = tokens.id_token().expect("id token");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, nonce).expect("valid ID token");
    assert_eq!(claims.subject().as_str(), MEMBER_KEY);
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.email().map(|e| e.as_str()), Some(EMAIL));
    assert_eq!(
        claims
            .given_name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str()),
        Some("Ada")
    );
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
}

/// Userinfo through the client, then raw for the named claims, then as a POST.
async fn check_userinfo(app: &TestApp, client: &Client, tokens: &CoreTokenResponse) {
    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http())
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), MEMBER_KEY);
    assert_eq!(info.email().map(|e| e.as_str()), Some(EMAIL));
    let (status, _, raw) = app.userinfo(tokens.access_token().secret()).await;
    assert_eq!(status, 200);
    assert_eq!(raw["member_key"], MEMBER_KEY);
    assert_eq!(raw["company"], "Analytical Engines Ltd");
    assert_eq!(raw["name"], "Ada Lovelace");
    assert_eq!(raw["email_verified"], true);
    // POST with the token in the body works too (RFC 6750 2.2).
    let r = send_form(
        &http(),
        format!("{}/userinfo", app.base),
        &[("access_token", tokens.access_token().secret().as_str())],
    )
    .await;
    assert_eq!(r.status(), 200);
}

/// Introspection for the owning client; then revocation: the access token stops working at
/// once, and revoking the refresh token takes its family with it.
async fn introspect_then_revoke(app: &TestApp, setup: &Setup, tokens: &CoreTokenResponse) {
    let access = tokens.access_token().secret().as_str();
    let r = app
        .introspect(&setup.client_id, &setup.secret, &[("token", access)])
        .await;
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], MEMBER_KEY);
    assert_eq!(body["client_id"], "portal");

    let r = app
        .revoke(&setup.client_id, &setup.secret, &[("token", access)])
        .await;
    assert_eq!(r.status(), 200);
    let (status, challenge, _) = app.userinfo(access).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let refresh = tokens.refresh_token().expect("rotated").secret();
    let r = app
        .revoke(&setup.client_id, &setup.secret, &[("token", refresh)])
        .await;
    assert_eq!(r.status(), 200);
    let (status, body) = refresh_token(&app.base, setup, refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

both_engines!(session_prompts_and_logout, |db: TestDb| async move {
    let (setup, app) = TestApp::with_portal(&db).await;
    let browser = browser();
    let tokens = app
        .tokens_for(&browser, &setup.client_id, &setup.secret)
        .await;
    let id_token = tokens["id_token"].as_str().unwrap();
    // Spent by its rotation: replayed at the end.
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let rotated = app.refresh(&setup.client_id, &setup.secret, &refresh).await;
    assert_eq!(rotated.0, 200, "{}", rotated.1);

    // Signed in: a second authorization needs no password.
    let (challenge, _verifier) = pkce();
    let mut params = code_request("portal", "openid", &challenge);
    params.push(("state", "s2"));
    let again = app.authorize_url(&params);
    let r = open(&browser, &again).await;
    assert_eq!(r.status(), 303, "no login form for a signed-in member");
    assert!(query(&location(&r)).contains_key("code"));
    // prompt=login asks again; max_age=0 too.
    let r = open(&browser, format!("{again}&prompt=login")).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("name=\"password\""));
    let r = open(&browser, format!("{again}&max_age=0")).await;
    assert_eq!(r.status(), 200);
    // prompt=none with a session: a code straight away.
    let r = open(&browser, format!("{again}&prompt=none")).await;
    assert_eq!(r.status(), 303);
    assert!(query(&location(&r)).contains_key("code"));

    // RP-initiated logout with id_token_hint: signed out, sent back with state.
    let logout = format!(
        "{}/logout?id_token_hint={}&post_logout_redirect_uri={}&state=bye",
        app.base,
        id_token,
        urlencode(POST_LOGOUT)
    );
    let r = open(&browser, &logout).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("{POST_LOGOUT}?state=bye"));
    // Signed out: prompt=none now says login_required.
    let r = open(&browser, format!("{again}&prompt=none")).await;
    assert_eq!(r.status(), 303);
    assert_eq!(query(&location(&r))["error"], "login_required");

    // The old refresh token (spent) replayed: invalid_grant.
    let (status, body) = refresh_token(&app.base, &setup, &refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
});

async fn refresh_token(base: &str, setup: &Setup, token: &str) -> (u16, serde_json::Value) {
    refresh(base, &setup.client_id, &setup.secret, token).await
}

both_engines!(discovery_and_jwks_are_cacheable, |db: TestDb| async move {
    let _setup = setup(&db).await;
    let app = TestApp::spawn(&db).await;
    let r = open(
        &http(),
        format!("{}/.well-known/openid-configuration", app.base),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["issuer"], app.base);
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["claims_parameter_supported"], true);
    let r = open(&http(), doc["jwks_uri"].as_str().unwrap()).await;
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    let jwks: serde_json::Value = r.json().await.unwrap();
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["alg"].as_str())
        .collect();
    assert!(algs.contains(&"RS256") && algs.contains(&"ES256"), "{jwks}");
});

// OIDC Core 5.5: the claims request parameter releases the claims it names, for /userinfo and
// for the ID token separately, whatever the scopes; through the login form, the code, and a
// refresh.
both_engines!(claims_request_parameter, |db: TestDb| async move {
    let setup = setup(&db).await;
    let app = &TestApp::spawn(&db).await;
    let browser = browser();
    let authorize = |claims: Option<&str>| {
        let (verifier, challenge) = pkce();
        let mut params = code_request("portal", "openid", &challenge);
        params.push(("state", "st-claims"));
        if let Some(claims) = claims {
            params.push(("claims", claims));
        }
        (app.authorize_url(&params), verifier)
    };
    let requested = r#"{"userinfo":{"name":{"essential":true},"nickname":null},"id_token":{"email":null,"acr":{"values":["1"]}}}"#;
    // No session yet: the claims parameter travels through the login form.
    let tokens = tokens_via(app, &setup, &browser, authorize(Some(requested))).await;
    assert_eq!(tokens["scope"], "openid");

    // The ID token has email (asked for there) and not name; userinfo the other way round.
    // Neither has what was not named (email_verified, given_name) nor the unknown names.
    let check = |tokens: serde_json::Value| async move {
        let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["sub"], MEMBER_KEY);
        assert_eq!(id["email"], EMAIL, "{id}");
        for absent in ["name", "email_verified", "given_name", "nickname", "acr"] {
            assert!(id.get(absent).is_none(), "{absent} in the ID token: {id}");
        }
        let (status, _, info) = app.userinfo(tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(info["sub"], MEMBER_KEY);
        assert_eq!(info["name"], "Ada Lovelace", "{info}");
        for absent in [
            "email",
            "email_verified",
            "given_name",
            "member_key",
            "nickname",
        ] {
            assert!(info.get(absent).is_none(), "{absent} at userinfo: {info}");
        }
        tokens["refresh_token"].as_str().unwrap().to_string()
    };
    let refresh_token = check(tokens).await;

    // A refresh keeps the claims request.
    let (status, refreshed) = app
        .refresh(&setup.client_id, &setup.secret, &refresh_token)
        .await;
    assert_eq!(status, 200, "{refreshed}");
    let refresh_token = check(refreshed).await;
    // And again, narrowing the scope to what it was.
    let (status, refreshed) = app
        .refresh_scoped(
            &setup.client_id,
            &setup.secret,
            refresh_token.as_str(),
            "openid",
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    check(refreshed).await;

    // Signed in now: a request without claims gets only sub, a request with claims (and no
    // login form) gets them.
    let tokens = tokens_via(app, &setup, &browser, authorize(None)).await;
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert!(
        id.get("email").is_none() && id.get("name").is_none(),
        "{id}"
    );
    let (_, _, info) = app.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info, serde_json::json!({ "sub": MEMBER_KEY }));
    let company = r#"{"id_token":{"company":null,"member_key":{"essential":false}},"userinfo":{}}"#;
    let tokens = tokens_via(app, &setup, &browser, authorize(Some(company))).await;
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["company"], "Analytical Engines Ltd", "{id}");
    assert_eq!(id["member_key"], MEMBER_KEY, "{id}");
    assert!(
        id.get("email").is_none() && id.get("name").is_none(),
        "{id}"
    );
    let (_, _, info) = app.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info, serde_json::json!({ "sub": MEMBER_KEY }));
});

/// Signs in at the authorization URL in `browser` and exchanges the code with its PKCE
/// verifier; the tokens.
async fn tokens_via(
    app: &TestApp,
    setup: &Setup,
    browser: &reqwest::Client,
    (url, verifier): (String, String),
) -> serde_json::Value {
    let loc = app.sign_in(browser, &url).await;
    let code = &query(&loc)["code"];
    let (status, tokens) = app
        .exchange(&setup.client_id, &setup.secret, code, &verifier)
        .await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

both_engines!(higher_logic_documented_request, |db: TestDb| async move {
    // Exactly as Higher Logic sends it: scope=profile, its redirect URI, no PKCE, no nonce,
    // client_secret_post at the token endpoint, then userinfo.
    let store = db.store().await;
    add_member(&store).await;
    let (client_id, secret) = add_higher_logic_client(&db, &store).await;
    let app = TestApp::spawn(&db).await;
    let browser = browser();
    let url = format!(
        "{}/authorize?client_id={client_id}&response_type=code&scope=profile&redirect_uri={}&state=hl-123",
        app.base,
        urlencode(HL_REDIRECT)
    );
    let loc = app.sign_in(&browser, &url).await;
    assert!(loc.starts_with(HL_REDIRECT), "{loc}");
    let q = query(&loc);
    assert_eq!(q["state"], "hl-123");
    let r = http()
        .post(format!("{}/token", app.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", HL_REDIRECT),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let tokens: serde_json::Value = r.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "profile");
    let (status, _, info) = app.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    // sub is the member key (= LegacyContactKey); names and e-mail come with `profile` alone.
    assert_eq!(info["sub"], MEMBER_KEY);
    assert_eq!(info["given_name"], "Ada");
    assert_eq!(info["family_name"], "Lovelace");
    assert_eq!(info["email"], EMAIL);
    assert_eq!(info["member_key"], MEMBER_KEY);
    // The ID token carries the same (no nonce was sent, none comes back).
    let id_token = tokens["id_token"].as_str().unwrap();
    let payload = id_token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], MEMBER_KEY);
    assert_eq!(claims["email"], EMAIL);
    assert_eq!(claims["aud"], "higherlogic");
    assert!(claims.get("nonce").is_none());
});

both_engines!(nothing_secret_in_the_logs, |db: TestDb| async move {
    let setup = setup(&db).await;
    let server = Server::start_logged(&db, &[("RUST_LOG", "debug")]).await;
    let base = server.base.as_str();
    let browser = browser();
    let mut secrets: Vec<String> = vec![PASSWORD.into(), setup.secret.clone()];

    // A failed sign-in (its password must not show up either), then a good one.
    let (_, challenge) = pkce();
    let url = authorize_url(base, &code_request("portal", "openid profile", &challenge));
    let r = open(&browser, &url).await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let session_id = cookie
        .split(';')
        .next()
        .and_then(|c| c.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap();
    let page = r.text().await.unwrap();
    let csrf = hidden_fields(&page)
        .into_iter()
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v)
        .unwrap();
    let wrong = "wrong-password-that-must-not-be-logged";
    let _ = submit_login(&browser, base, &page, EMAIL, wrong).await;
    secrets.extend([wrong.to_string(), csrf]);
    // How the throttle names the login (its row goes with the good sign-in below).
    let (subject,): (String,) =
        sqlx::query_as("SELECT subject FROM login_throttle WHERE kind = 'account'")
            .fetch_one(db.store().await.pool())
            .await
            .unwrap();

    let (code, verifier) = code_for(&browser, base, &setup.client_id, &[]).await;
    let tokens = exchange(base, &setup.client_id, &setup.secret, &code, &verifier)
        .await
        .1;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let use_refresh_token = || refresh(base, &setup.client_id, &setup.secret, refresh_token);
    let refreshed = use_refresh_token().await.1;
    // A replay (logged as a warning) and a code reuse, both on purpose.
    let _ = use_refresh_token().await;
    let _ = exchange(base, &setup.client_id, &setup.secret, &code, &verifier).await;
    let _ = userinfo(base, refreshed["access_token"].as_str().unwrap()).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    let _ = open(&browser, format!("{base}/logout?id_token_hint={id_token}")).await;
    for t in [&tokens, &refreshed] {
        for field in ["access_token", "refresh_token", "id_token"] {
            secrets.push(t[field].as_str().unwrap().to_string());
        }
    }
    secrets.extend([code, verifier, session_id]);

    let log = server.log();
    assert!(log.contains("signed in"), "the log was captured: {log}");
    // The failed sign-in is traceable: the client address, and the login as the throttle's
    // keyed hash (the one stored in the throttle's table), never the login typed.
    let failed = log
        .lines()
        .find(|l| l.contains("sign-in failed"))
        .unwrap_or_else(|| panic!("no failed sign-in in the log:\n{log}"));
    assert!(failed.contains("127.0.0.1"), "{failed}");
    assert!(!failed.contains(EMAIL), "{failed}");
    assert!(failed.contains(&subject), "{subject} not in {failed}");
    // Keyed: not the bare SHA-256 anyone could recompute from a list of e-mails.
    use base64::Engine;
    use sha2::Digest;
    let bare = sha2::Sha256::digest(format!("account:{EMAIL}").as_bytes());
    let bare = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bare);
    assert_ne!(subject, bare);
    assert!(log.contains("used twice"), "{log}");
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret is in the log:\n{log}"
        );
    }
});

both_engines!(secure_cookie_for_https_issuers, |db: TestDb| async move {
    let _setup = setup(&db).await;
    // The issuer is public https (TLS ends at a proxy); the cookie must be Secure.
    let app = TestApp::spawn_with(&db, |settings| {
        settings.issuer = "https://login.example.org".into();
    })
    .await;
    let url = app.openid_url("portal", &[]);
    let r = open(&http(), &url).await;
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
});
