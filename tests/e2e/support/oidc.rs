//! Helpers for the OpenID Connect tests: a member with a password, registered clients, and a
//! browser (cookie-keeping HTTP client that does not follow redirects) filling the login form.

use std::collections::HashMap;

use guildgate::accounts::Role;
use guildgate::db::Store;
use guildgate::members::MemberData;
use guildgate::oidc::clients::{ClientType, NewClient};
use guildgate::secrets::Pepper;
use reqwest::redirect::Policy;

pub use super::html::hidden_fields;
use super::people::{add_account, company, named};
use super::TestDb;

pub const MEMBER_KEY: &str = "M-1001";
pub const EMAIL: &str = "ada@example.org";
pub const PASSWORD: &str = "correct horse battery staple";
pub const REDIRECT: &str = "https://rp.example.org/callback";
pub const POST_LOGOUT: &str = "https://rp.example.org/signed-out";
pub const HL_REDIRECT: &str =
    "https://community.example.org/HigherLogic/Security/OAuth/Authentication.aspx";

/// A company, and a member of it with an account and a password.
pub async fn add_member(store: &Store) {
    store
        .add_member_with_account("test", "C-1", company("Analytical Engines Ltd"), None)
        .await
        .expect("company");
    let ada = MemberData {
        company_key: Some("C-1".into()),
        ..named("Ada", "Lovelace", EMAIL)
    };
    add_account(store, MEMBER_KEY, ada, Role::Member, Some(PASSWORD)).await;
}

/// The pepper the server will use (same keys folder).
pub async fn pepper(db: &TestDb, store: &Store) -> Pepper {
    Pepper::load_or_init(store, &db.dir.path().join("keys"))
        .await
        .expect("pepper")
}

/// A confidential client with PKCE required; returns (client_id, secret).
pub async fn add_client(db: &TestDb, store: &Store) -> (String, String) {
    let pepper = pepper(db, store).await;
    let mut new = NewClient::new("Member portal", ClientType::Confidential, &[REDIRECT]);
    new.client_id = Some("portal".into());
    new.post_logout_redirect_uris = vec![POST_LOGOUT.into()];
    let (client, secret) = store
        .add_client("test", &pepper, new)
        .await
        .expect("client");
    (client.client_id, secret.expect("secret"))
}

/// A client registered the way Higher Logic needs: confidential, PKCE not required.
pub async fn add_higher_logic_client(db: &TestDb, store: &Store) -> (String, String) {
    let pepper = pepper(db, store).await;
    let mut new = NewClient::new(
        "Higher Logic community",
        ClientType::Confidential,
        &[HL_REDIRECT],
    );
    new.client_id = Some("higherlogic".into());
    new.require_pkce = false;
    let (client, secret) = store
        .add_client("test", &pepper, new)
        .await
        .expect("client");
    (client.client_id, secret.expect("secret"))
}

/// A cookie-keeping client that, like a test harness around a browser, stops at redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("browser")
}

/// `GET url` in `client`.
pub async fn open(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> reqwest::Response {
    client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET: {e}"))
}

/// `POST url` in `client` with `form`.
pub async fn send_form<F: serde::Serialize + ?Sized>(
    client: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    form: &F,
) -> reqwest::Response {
    client
        .post(url)
        .form(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST: {e}"))
}

/// A plain client for back-channel calls.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("http client")
}

/// The page at `url` in `client`, as text.
pub async fn page_at(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    open(client, url).await.text().await.expect("the page")
}

/// Submits the login form on `page` with these credentials, and the second factor when the
/// account is sent to it ([`super::two_factor::complete`]); returns the response.
pub async fn submit_login(
    browser: &reqwest::Client,
    base: &str,
    page: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let r = submit_login_form(browser, base, page, email, password).await;
    super::two_factor::complete(browser, base, email, r).await
}

/// Submits the login form on `page` with these credentials and nothing more.
pub async fn submit_login_form(
    browser: &reqwest::Client,
    base: &str,
    page: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let mut form = hidden_fields(page);
    form.push(("email".into(), email.into()));
    form.push(("password".into(), password.into()));
    send_form(browser, format!("{base}/login"), &form).await
}

/// Opens `authorize_url` and, if the login form comes, signs in. Returns the redirect
/// `Location` (to the client).
pub async fn sign_in(browser: &reqwest::Client, base: &str, authorize_url: &str) -> String {
    let r = browser
        .get(authorize_url)
        .send()
        .await
        .expect("GET /authorize");
    let r = if r.status() == 200 {
        let page = r.text().await.expect("login page");
        assert!(
            page.contains("name=\"password\""),
            "not a login page: {page}"
        );
        submit_login(browser, base, &page, EMAIL, PASSWORD).await
    } else {
        r
    };
    assert_eq!(r.status(), 303, "expected a redirect to the client");
    location(&r)
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .expect("Location header")
        .to_str()
        .expect("ascii location")
        .to_string()
}

/// The code of a sign-in that ended in a redirect to the client ([`REDIRECT`]) with `state`.
pub fn code_at_client(r: &reqwest::Response, state: &str) -> String {
    assert_eq!(r.status(), 303, "expected a redirect to the client");
    let to_client = location(r);
    assert!(to_client.starts_with(REDIRECT), "{to_client}");
    let mut q = query(&to_client);
    assert_eq!(q["state"], state, "{to_client}");
    q.remove("code").expect("a code")
}

/// Query parameters of a URL.
pub fn query(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url)
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// An authorization URL with these parameters.
pub fn authorize_url(base: &str, params: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse(&format!("{base}/authorize")).expect("url");
    for (k, v) in params {
        url.query_pairs_mut().append_pair(k, v);
    }
    url.to_string()
}

/// `s` encoded for a query string or a form.
pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An authorization URL for `client_id` asking for `openid` with a fresh PKCE challenge (its
/// verifier thrown away), and `extra`.
pub fn openid_url(base: &str, client_id: &str, extra: &[(&str, &str)]) -> String {
    let (_, challenge) = pkce();
    let mut params = code_request(client_id, "openid", &challenge);
    params.extend_from_slice(extra);
    authorize_url(base, &params)
}

/// The parameters of a code request by `client_id` for `scope`, back to [`REDIRECT`], with the
/// PKCE `challenge`.
pub fn code_request<'a>(
    client_id: &'a str,
    scope: &'a str,
    challenge: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", scope),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// A PKCE pair (verifier, S256 challenge), made by the `openidconnect` client library so
/// that the server's own S256 computation is checked against another's.
pub fn pkce() -> (String, String) {
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    (verifier.secret().clone(), challenge.as_str().to_string())
}

/// Signs in through the portal client with PKCE; returns (code, verifier).
pub async fn code_for(
    browser: &reqwest::Client,
    base: &str,
    client_id: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut params = code_request(client_id, "openid profile email", &challenge);
    params.push(("state", "st-1"));
    params.extend_from_slice(extra);
    let url = authorize_url(base, &params);
    let loc = sign_in(browser, base, &url).await;
    let q = query(&loc);
    (
        q.get("code")
            .cloned()
            .unwrap_or_else(|| panic!("no code in {loc}")),
        verifier,
    )
}

/// `POST /token` with client_secret_basic; returns (status, JSON body).
pub async fn token_request(
    base: &str,
    client_id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let r = http()
        .post(format!("{base}/token"))
        .basic_auth(client_id, Some(secret))
        .form(form)
        .send()
        .await
        .expect("POST /token");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// Exchanges a code (client_secret_basic).
pub async fn exchange(
    base: &str,
    client_id: &str,
    secret: &str,
    code: &str,
    verifier: &str,
) -> (u16, serde_json::Value) {
    token_request(
        base,
        client_id,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// Uses a refresh token.
pub async fn refresh(
    base: &str,
    client_id: &str,
    secret: &str,
    token: &str,
) -> (u16, serde_json::Value) {
    token_request(
        base,
        client_id,
        secret,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

/// `GET /userinfo` with a bearer token; returns (status, WWW-Authenticate, body).
pub async fn userinfo(base: &str, access_token: &str) -> (u16, String, serde_json::Value) {
    let r = http()
        .get(format!("{base}/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("GET /userinfo");
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (
        status,
        challenge,
        r.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// Every member, client and server a flow test needs.
pub struct Setup {
    pub store: Store,
    pub client_id: String,
    pub secret: String,
}

pub async fn setup(db: &TestDb) -> Setup {
    let store = db.store().await;
    add_member(&store).await;
    let (client_id, secret) = add_client(db, &store).await;
    Setup {
        store,
        client_id,
        secret,
    }
}

/// The header and the claims of a JWT (not verified: for looking at what was issued).
pub fn jwt_parts(token: &str) -> (serde_json::Value, serde_json::Value) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let mut parts = token.split('.');
    let mut decode = || -> serde_json::Value {
        let part = parts.next().expect("JWT part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    let header = decode();
    let claims = decode();
    (header, claims)
}

/// Whether `jwks` publishes a key with this `kid`.
pub fn publishes(jwks: &serde_json::Value, kid: &str) -> bool {
    jwks["keys"]
        .as_array()
        .is_some_and(|keys| keys.iter().any(|k| k["kid"] == kid))
}

/// The `kid`s `jwks` publishes, in its order.
pub fn published_kids(jwks: &serde_json::Value) -> Vec<&str> {
    jwks["keys"]
        .as_array()
        .expect("a JWKS")
        .iter()
        .map(|k| k["kid"].as_str().expect("a kid"))
        .collect()
}

/// The `kid` in a JWT's header.
pub fn kid_of(token: &str) -> String {
    jwt_parts(token).0["kid"].as_str().expect("kid").to_string()
}

/// A second member with an account and a password; returns its login e-mail.
pub async fn add_second_member(store: &Store) -> &'static str {
    const SECOND_EMAIL: &str = "charles@example.org";
    let charles = named("Charles", "Babbage", SECOND_EMAIL);
    add_account(store, "M-1002", charles, Role::Member, Some(PASSWORD)).await;
    SECOND_EMAIL
}
