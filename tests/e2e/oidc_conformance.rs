//! The OpenID Foundation's Basic OP conformance plan: its requests, as its modules send them,
//! against the real server, on SQLite and PostgreSQL.

use crate::support::oidc::*;
use crate::support::{TestApp, TestDb};

// The requests of the OpenID Foundation's Basic OP conformance plan, as its modules send them,
// with what each expects. The suite's client is confidential without PKCE (it sends PKCE in
// one module only) and authenticates with client_secret_basic or client_secret_post.
/// The Basic OP certification's client: registered without PKCE, with the JWKS it checks
/// ID tokens against.
struct Conformance {
    app: TestApp,
    secret: String,
    browser: reqwest::Client,
    jwks: serde_json::Value,
}

impl Conformance {
    async fn new(db: &TestDb) -> Conformance {
        use guildgate::oidc::clients::{ClientType, NewClient};
        let store = db.store().await;
        add_member(&store).await;
        let pepper = pepper(db, &store).await;
        let mut new = NewClient::new("Conformance suite", ClientType::Confidential, &[REDIRECT]);
        new.client_id = Some("conformance".into());
        new.require_pkce = false;
        let (_, secret) = store.add_client("test", &pepper, new).await.unwrap();
        let app = TestApp::spawn(db).await;
        let jwks = app.jwks().await.json().await.unwrap();
        Conformance {
            app,
            secret: secret.unwrap(),
            browser: browser(),
            jwks,
        }
    }

    fn url(&self, extra: &[(&str, &str)]) -> String {
        let mut params = vec![
            ("client_id", "conformance"),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid profile email address phone"),
            ("state", "conf-state"),
            ("nonce", "conf-nonce"),
        ];
        params.extend_from_slice(extra);
        self.app.authorize_url(&params)
    }

    /// The code from a redirect, which must carry state and iss.
    fn code_of(&self, loc: &str) -> String {
        assert!(loc.starts_with(REDIRECT), "{loc}");
        let q = query(loc);
        assert_eq!(
            q.get("state").map(String::as_str),
            Some("conf-state"),
            "{loc}"
        );
        assert_eq!(q.get("iss"), Some(&self.app.base), "{loc}");
        q.get("code")
            .cloned()
            .unwrap_or_else(|| panic!("no code in {loc}"))
    }

    /// Exchanges a code (Basic or form authentication); checks the response as the suite does.
    async fn exchange_code(&self, code: String, basic: bool) -> serde_json::Value {
        let secret = self.secret.clone();
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code),
            ("redirect_uri", REDIRECT.to_string()),
        ];
        let mut request = http().post(self.app.url("/token"));
        if basic {
            request = request.basic_auth("conformance", Some(&secret));
        } else {
            form.push(("client_id", "conformance".into()));
            form.push(("client_secret", secret));
        }
        let r = request.form(&form).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["pragma"], "no-cache");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        // Scope values not understood were ignored, and the response says what was granted.
        assert_eq!(body["scope"], "openid profile email");
        body
    }

    fn id_claims(&self, tokens: &serde_json::Value) -> serde_json::Value {
        let (header, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
        // oidcc-idtoken-signature: signed, with the kid of a published key.
        assert_eq!(header["alg"], "RS256");
        let kid = header["kid"].as_str().expect("kid");
        let jwks = &self.jwks;
        assert!(publishes(jwks, kid), "kid {kid} not in {jwks}");
        assert_eq!(claims["iss"], self.app.base.as_str());
        assert_eq!(claims["aud"], "conformance");
        assert_eq!(claims["sub"], MEMBER_KEY);
        assert!(claims["auth_time"].is_i64(), "auth_time: {claims}");
        claims
    }
}

both_engines!(basic_op_conformance_requests, |db: TestDb| async move {
    let c = Conformance::new(&db).await;
    let (app, browser) = (&c.app, &c.browser);
    let base = app.base.as_str();
    let url = |extra: &[(&str, &str)]| c.url(extra);
    let code_of = |loc: &str| c.code_of(loc);
    let exchange_code = |code: String, basic: bool| c.exchange_code(code, basic);
    let id_claims = |tokens: &serde_json::Value| c.id_claims(tokens);

    // oidcc-server (+ unknown-parameter, display-page, ui-locales, claims-locales, acr-values,
    // claims-essential, login-hint): every extra parameter is accepted; the login form comes
    // with the hinted e-mail.
    let first = url(&[
        ("extra", "foobar"),
        ("display", "page"),
        ("ui_locales", "se"),
        ("claims_locales", "se"),
        ("acr_values", "1 2"),
        ("claims", r#"{"userinfo":{"name":{"essential":true}}}"#),
        ("login_hint", EMAIL),
    ]);
    let r = open(browser, &first).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains(&format!("value=\"{EMAIL}\"")), "{page}");
    let r = app.login(browser, &page, EMAIL, PASSWORD).await;
    assert_eq!(r.status(), 303);
    let tokens = exchange_code(code_of(&location(&r)), true).await;
    let first_claims = id_claims(&tokens);
    assert_eq!(first_claims["nonce"], "conf-nonce");
    let access = tokens["access_token"].as_str().unwrap().to_string();

    userinfo_get_and_post(app, &access).await;

    // oidcc-prompt-none-logged-in (client_secret_post this time): a code with no page, the
    // same sub and auth_time.
    let r = open(browser, url(&[("prompt", "none")])).await;
    assert_eq!(r.status(), 303);
    let claims = id_claims(&exchange_code(code_of(&location(&r)), false).await);
    assert_eq!(claims["auth_time"], first_claims["auth_time"]);

    // oidcc-id-token-hint: prompt=none with the first ID token as the hint.
    let hint = tokens["id_token"].as_str().unwrap();
    let r = open(browser, url(&[("prompt", "none"), ("id_token_hint", hint)])).await;
    assert_eq!(r.status(), 303);
    let claims = id_claims(&exchange_code(code_of(&location(&r)), true).await);
    assert_eq!(claims["auth_time"], first_claims["auth_time"]);

    // oidcc-ensure-post-request-succeeds: the same request as a form POST.
    let r = browser
        .post(format!("{base}/authorize"))
        .form(&[
            ("client_id", "conformance"),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "email openid"),
            ("state", "conf-state"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(query(&location(&r)).contains_key("code"));

    // oidcc-max-age-10000: the session is recent enough.
    let r = open(browser, url(&[("max_age", "10000")])).await;
    assert_eq!(r.status(), 303);
    code_of(&location(&r));

    // oidcc-max-age-1: two seconds later, max_age=1 asks for the password again; the new ID
    // token has a later auth_time.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = open(browser, url(&[("max_age", "1")])).await;
    assert_eq!(r.status(), 200, "max_age=1 must show the login page");
    let page = r.text().await.unwrap();
    assert!(page.contains("name=\"password\""), "{page}");
    let r = app.login(browser, &page, EMAIL, PASSWORD).await;
    assert_eq!(r.status(), 303);
    let second = exchange_code(code_of(&location(&r)), true).await;
    let claims = id_claims(&second);
    let (t1, t2) = (
        first_claims["auth_time"].as_i64().unwrap(),
        claims["auth_time"].as_i64().unwrap(),
    );
    assert!(t2 >= t1 + 2, "auth_time {t2} not after {t1}");

    refresh_keeps_the_id_token(&c, &tokens, &first_claims).await;
});

/// oidcc-userinfo-get, -post-header (also without a Content-Type), -post-body.
async fn userinfo_get_and_post(app: &TestApp, access: &str) {
    let (status, _, info) = app.userinfo(access).await;
    assert_eq!((status, info["sub"].as_str()), (200, Some(MEMBER_KEY)));
    assert_eq!(info["name"], "Ada Lovelace");
    let r = http()
        .post(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "POST with the header and no body");
    let r = http()
        .post(app.url("/userinfo"))
        .bearer_auth(access)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "POST with the header and an empty form");
    let r = send_form(&http(), app.url("/userinfo"), &[("access_token", access)]).await;
    assert_eq!(r.status(), 200, "POST with the token in the body");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["sub"], MEMBER_KEY);
}

/// oidcc-refresh-token: the authorization scope sent again is accepted; the new ID token
/// keeps iss, sub, aud and auth_time, has a new iat and no nonce.
async fn refresh_keeps_the_id_token(
    c: &Conformance,
    tokens: &serde_json::Value,
    first_claims: &serde_json::Value,
) {
    let (status, refreshed) = c
        .app
        .refresh_scoped(
            "conformance",
            &c.secret,
            tokens["refresh_token"].as_str().unwrap(),
            "openid profile email address phone",
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["scope"], "openid profile email");
    let again = c.id_claims(&refreshed);
    for claim in ["iss", "sub", "aud", "auth_time"] {
        assert_eq!(again[claim], first_claims[claim], "{claim}");
    }
    assert_ne!(again["iat"], first_claims["iat"]);
    assert!(again.get("nonce").is_none());
}
