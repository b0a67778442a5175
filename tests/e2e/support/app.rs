//! The application in process: built by the same [`Application::build`] as `guildgate serve`,
//! on port 0, served on the test's runtime. One method per endpoint the tests call.

use guildgate::db::Store;
use guildgate::server::Application;
use guildgate::settings::Settings;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;

use super::{oidc, TestDb};

/// A running application, stopped when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`, also the issuer unless the test chose another.
    pub base: String,
    pub port: u16,
    /// Back-channel calls: no cookies, no redirects followed.
    http: Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    /// The application with the settings `guildgate serve` gets in the binary tests.
    pub async fn spawn(db: &TestDb) -> TestApp {
        TestApp::spawn_with(db, |_| {}).await
    }

    /// `spawn`, with settings changed by `configure` first.
    pub async fn spawn_with(db: &TestDb, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let root = db.dir.path();
        let mut settings = Settings {
            listen: ([127, 0, 0, 1], 0).into(),
            // Port 0 in the issuer: the port bound (see `Application::build`).
            issuer: "http://127.0.0.1:0".into(),
            database_url: db.url.clone(),
            data_dir: root.join("data"),
            keys_dir: root.join("keys"),
            max_connections: 4,
            ..Default::default()
        };
        configure(&mut settings);
        let store = Store::open(&settings.database_url, settings.max_connections)
            .await
            .expect("open store")
            .with_keys_dir(&settings.keys_dir)
            .with_password_settings(settings.passwords.clone());
        // What `serve` does before building: the first administrator on an empty database.
        store
            .bootstrap_admin(&settings.admin_email)
            .await
            .expect("first administrator");
        let app = Application::build(settings, store)
            .await
            .expect("build the application");
        let port = app.port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            if let Err(e) = app.run_until(stopped).await {
                panic!("the application stopped: {e:#}");
            }
        });
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            port,
            http: oidc::http(),
            stop: Some(stop),
        }
    }

    /// The member and the portal client ([`oidc::setup`]), then the application.
    pub async fn with_portal(db: &TestDb) -> (oidc::Setup, TestApp) {
        let setup = oidc::setup(db).await;
        (setup, TestApp::spawn(db).await)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` on the back channel.
    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `GET /.well-known/openid-configuration`.
    pub async fn discovery(&self) -> Response {
        self.get("/.well-known/openid-configuration").await
    }

    /// `GET /jwks`.
    pub async fn jwks(&self) -> Response {
        self.get("/jwks").await
    }

    /// `GET /metrics`.
    pub async fn metrics(&self) -> Response {
        self.get("/metrics").await
    }

    /// An authorization URL with these parameters.
    pub fn authorize_url(&self, params: &[(&str, &str)]) -> String {
        oidc::authorize_url(&self.base, params)
    }

    /// An authorization URL asking for `openid` with PKCE (see [`oidc::openid_url`]).
    pub fn openid_url(&self, client_id: &str, extra: &[(&str, &str)]) -> String {
        oidc::openid_url(&self.base, client_id, extra)
    }

    /// `GET /authorize` in `browser`.
    pub async fn authorize(&self, browser: &Client, params: &[(&str, &str)]) -> Response {
        browser
            .get(self.authorize_url(params))
            .send()
            .await
            .expect("GET /authorize")
    }

    /// `POST /login`: the login form of `page` filled in.
    pub async fn login(
        &self,
        browser: &Client,
        page: &str,
        email: &str,
        password: &str,
    ) -> Response {
        oidc::submit_login(browser, &self.base, page, email, password).await
    }

    /// Opens `authorize_url`, signing in if asked; returns the redirect to the client.
    pub async fn sign_in(&self, browser: &Client, authorize_url: &str) -> String {
        oidc::sign_in(browser, &self.base, authorize_url).await
    }

    /// Signs in through `client_id` with PKCE; returns (code, verifier).
    pub async fn code_for(
        &self,
        browser: &Client,
        client_id: &str,
        extra: &[(&str, &str)],
    ) -> (String, String) {
        oidc::code_for(browser, &self.base, client_id, extra).await
    }

    /// Signs in through `client_id` with PKCE and exchanges the code, which must succeed; the
    /// tokens.
    pub async fn tokens_for(&self, browser: &Client, client_id: &str, secret: &str) -> Value {
        let (code, verifier) = self.code_for(browser, client_id, &[]).await;
        let (status, tokens) = self.exchange(client_id, secret, &code, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        tokens
    }

    /// `POST /token` with client_secret_basic; (status, JSON body).
    pub async fn token(
        &self,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        oidc::token_request(&self.base, client_id, secret, form).await
    }

    /// `POST /token` exchanging a code.
    pub async fn exchange(
        &self,
        client_id: &str,
        secret: &str,
        code: &str,
        verifier: &str,
    ) -> (u16, Value) {
        oidc::exchange(&self.base, client_id, secret, code, verifier).await
    }

    /// `POST /token` with a refresh token.
    pub async fn refresh(&self, client_id: &str, secret: &str, token: &str) -> (u16, Value) {
        oidc::refresh(&self.base, client_id, secret, token).await
    }

    /// `POST /token` with a refresh token, asking for `scope`.
    pub async fn refresh_scoped(
        &self,
        client_id: &str,
        secret: &str,
        token: &str,
        scope: &str,
    ) -> (u16, Value) {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("scope", scope),
        ];
        self.token(client_id, secret, &form).await
    }

    /// `GET /userinfo`; (status, WWW-Authenticate, body).
    pub async fn userinfo(&self, access_token: &str) -> (u16, String, Value) {
        oidc::userinfo(&self.base, access_token).await
    }

    /// `POST /revoke` with client_secret_basic.
    pub async fn revoke(&self, client_id: &str, secret: &str, form: &[(&str, &str)]) -> Response {
        self.back_channel("/revoke", client_id, secret, form).await
    }

    /// `POST /introspect` with client_secret_basic.
    pub async fn introspect(
        &self,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> Response {
        self.back_channel("/introspect", client_id, secret, form)
            .await
    }

    async fn back_channel(
        &self,
        path: &str,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> Response {
        self.http
            .post(self.url(path))
            .basic_auth(client_id, Some(secret))
            .form(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `GET /logout` in `browser` with these parameters.
    pub async fn logout(&self, browser: &Client, params: &[(&str, &str)]) -> Response {
        let mut url = reqwest::Url::parse(&self.url("/logout")).expect("url");
        url.query_pairs_mut().extend_pairs(params);
        browser.get(url).send().await.expect("GET /logout")
    }

    /// `METHOD /admin/api<path>` with a bearer token and an optional JSON body; (status,
    /// JSON body, or the text as a JSON string).
    pub async fn api(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, self.url(&format!("/admin/api{path}")))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        api_answer(request).await
    }

    /// `METHOD /admin/api<path>` with a bearer token and a raw body of `content_type` (for CSV
    /// and malformed JSON); (status, JSON body, or the text as a JSON string).
    pub async fn api_raw(
        &self,
        token: &str,
        method: Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let request = self
            .http
            .request(method, self.url(&format!("/admin/api{path}")))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        api_answer(request).await
    }

    /// `GET path` of the console in `browser`; (status, page, Location).
    pub async fn page(&self, browser: &Client, path: &str) -> (StatusCode, String, Option<String>) {
        get_page(browser, &self.url(path)).await
    }

    /// `POST path` of the console in `browser` with a form; (status, page, Location).
    pub async fn submit(
        &self,
        browser: &Client,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, Option<String>) {
        post_form(browser, &self.url(path), form).await
    }

    /// A browser signed in to the console.
    pub async fn admin_session(&self, email: &str, password: &str) -> Client {
        admin_session(&self.base, email, password).await
    }

    /// A new browser signed in to the member's account page (`/account`) as `email`.
    pub async fn account_session(&self, email: &str, password: &str) -> Client {
        let browser = oidc::browser();
        let fields = [("email", email), ("password", password)];
        let (status, _, location) = fill_in(
            &browser,
            &self.url("/account"),
            &self.url("/account/login"),
            &fields,
        )
        .await;
        assert_eq!(
            (status, location.as_deref()),
            (StatusCode::SEE_OTHER, Some("/account")),
            "{email} signs in to the account page"
        );
        browser
    }

    /// The console as the administrator `email` uses it (see [`Console`]).
    pub async fn console(&self, email: &str, password: &str) -> Console {
        Console::sign_in(&self.base, email, password).await
    }
}

/// The console in a browser signed in as an administrator, every form sent with the
/// session's CSRF token.
pub struct Console {
    pub base: String,
    pub browser: Client,
    pub csrf: String,
}

impl Console {
    /// Signs in to the console at `base`; the CSRF token is read from the password page, which
    /// every administrator may open (the first one is sent there).
    pub async fn sign_in(base: &str, email: &str, password: &str) -> Console {
        let browser = admin_session(base, email, password).await;
        let (status, page, _) = get_page(&browser, &format!("{base}/admin/password")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        Console {
            base: base.to_string(),
            csrf: super::html::csrf_of(&page),
            browser,
        }
    }

    /// `GET path`; (status, page, Location).
    pub async fn page(&self, path: &str) -> (StatusCode, String, Option<String>) {
        get_page(&self.browser, &format!("{}{path}", self.base)).await
    }

    /// `POST path` with the CSRF token and `fields`; (status, page, Location).
    pub async fn post(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (StatusCode, String, Option<String>) {
        let mut form = vec![("csrf_token", self.csrf.as_str())];
        form.extend_from_slice(fields);
        post_form(&self.browser, &format!("{}{path}", self.base), &form).await
    }

    /// `GET path` until `needle` is in the page (at most `tries` times, see
    /// [`super::poll`]); the last page.
    pub async fn page_until(&self, path: &str, tries: usize, needle: &str) -> String {
        let probe = || async { self.page(path).await.1 };
        super::poll(tries, probe, |page: &String| page.contains(needle)).await
    }
}

/// `GET url` in `browser`; (status, page, Location).
/// Sends an admin API request; (status, JSON body, or the text as a JSON string).
async fn api_answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("admin API request");
    let status = response.status();
    let text = response.text().await.expect("admin API body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

pub async fn get_page(browser: &Client, url: &str) -> (StatusCode, String, Option<String>) {
    let response = browser
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    answer(response).await
}

/// Opens `page` in `browser`, then posts `fields` to `action` with that page's CSRF token, as
/// someone filling in the page's form; (status, page, Location) of the answer.
pub async fn fill_in(
    browser: &Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, Option<String>) {
    let (_, html, _) = get_page(browser, page).await;
    let csrf = super::html::csrf_of(&html);
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    post_form(browser, action, &form).await
}

/// `POST url` in `browser` with a form; (status, page, Location).
pub async fn post_form(
    browser: &Client,
    url: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String, Option<String>) {
    let response = browser
        .post(url)
        .form(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    answer(response).await
}

/// A browser signed in to the console of the server at `base` through `/admin/login`.
/// Administrators need a second factor by default: the first sign-in enrols (the
/// authenticator is remembered), later ones give a fresh code ([`super::two_factor`]).
pub async fn admin_session(base: &str, email: &str, password: &str) -> Client {
    let browser = oidc::browser();
    let (status, page, _) = get_page(&browser, &format!("{base}/admin/login")).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = super::html::csrf_of(&page);
    let response = browser
        .post(format!("{base}/admin/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("POST /admin/login");
    let response = super::two_factor::complete(&browser, base, email, response).await;
    let (status, page, location) = answer(response).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    assert_eq!(location.as_deref(), Some("/admin/overview"));
    browser
}

/// Status, body and `Location` of a console answer.
async fn answer(response: Response) -> (StatusCode, String, Option<String>) {
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().expect("ASCII Location").to_string());
    (status, response.text().await.expect("page"), location)
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
