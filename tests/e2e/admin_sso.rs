//! The single sign-on page and the technical worksheet: Higher Logic registered from the
//! console (secret shown once, rotation), the worksheet computed from the running provider and
//! never disagreeing with its discovery document, and the registered client signing a member
//! in exactly as Higher Logic's documented request does.

use guildgate::accounts::Role;
use guildgate::members::MemberData;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::app::Console;
use crate::support::oidc::{self as flow, open, query, send_form, EMAIL, MEMBER_KEY};
use crate::support::people::add_account;
use crate::support::{api_token, TestApp, TestDb};

const ADMIN_PASSWORD: &str = "administrator passphrase";

async fn seed(db: &TestDb) {
    let store = db.store().await;
    flow::add_member(&store).await;
    let grace = MemberData {
        first_name: Some("Grace".into()),
        email: Some("grace@example.org".into()),
        ..Default::default()
    };
    add_account(&store, "ADM", grace, Role::Admin, Some(ADMIN_PASSWORD)).await;
    store.close().await;
}

fn secret_in(html: &str) -> String {
    let marker = "id=\"client-secret\">";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no secret shown:\n{html}"))
        + marker.len();
    html[start..].split('<').next().unwrap().to_string()
}

async fn worksheet(app: &TestApp, token: &str) -> Value {
    let (status, worksheet) = app.api(token, Method::GET, "/worksheet", None).await;
    assert_eq!(status, StatusCode::OK);
    worksheet
}

fn value<'a>(ws: &'a Value, key: &str) -> &'a str {
    ws["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {ws}"))["value"]
        .as_str()
        .unwrap()
}

/// The seeded application and a read token for the worksheet.
async fn start(db: &TestDb) -> (TestApp, String) {
    seed(db).await;
    let app = TestApp::spawn(db).await;
    (app, api_token(db, "ws", "read"))
}

/// Registers Higher Logic from the console; returns the secret shown once.
async fn register(admin: &Console) -> String {
    let site = [("site", "https://community.example.org/")];
    let (status, html, _) = admin.post("/admin/sso/register", &site).await;
    assert_eq!(status, StatusCode::OK);
    secret_in(&html)
}

both_engines!(
    register_higher_logic_and_fill_the_worksheet,
    |db: TestDb| async move {
        let (app, api_token) = start(&db).await;
        let base = app.base.clone();
        let ws = worksheet(&app, &api_token).await;
        assert_eq!(ws["client_registered"], false);
        assert_eq!(value(&ws, "client_id"), "");

        // Register Higher Logic from the console; a bad address is refused in words.
        let admin = app.console("grace@example.org", ADMIN_PASSWORD).await;
        let plain_http = [("site", "http://community.example.org/some/path")];
        let (status, html, _) = admin.post("/admin/sso/register", &plain_http).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("https://"), "{html}");
        let secret = register(&admin).await;
        assert!(secret.len() >= 43, "256-bit secret");
        // Shown once: not on the next visit, not in the worksheet, not in the audit log.
        let (_, again, _) = admin.page("/admin/sso").await;
        assert!(!again.contains(&secret));
        assert!(again.contains("Rotate the client secret"));

        // The worksheet against the discovery document: the two never disagree.
        let ws = worksheet(&app, &api_token).await;
        assert!(!ws.to_string().contains(&secret));
        // The page's JSON link gives the signed-in administrator the same document.
        let from_console: Value = open(&admin.browser, format!("{base}/admin/sso/worksheet.json"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(from_console, ws);
        let discovery: Value = app.discovery().await.json().await.unwrap();
        for (item, field) in [
            ("issuer", "issuer"),
            ("authorization_endpoint", "authorization_endpoint"),
            ("token_endpoint", "token_endpoint"),
            ("userinfo_endpoint", "userinfo_endpoint"),
            ("jwks_uri", "jwks_uri"),
            ("end_session_endpoint", "end_session_endpoint"),
        ] {
            assert_eq!(
                value(&ws, item),
                discovery[field].as_str().unwrap(),
                "{item}"
            );
        }
        assert_eq!(value(&ws, "issuer"), base);
        let supported =
            |field: &str, v: &str| discovery[field].as_array().unwrap().iter().any(|x| x == v);
        assert!(supported(
            "id_token_signing_alg_values_supported",
            value(&ws, "id_token_signing_alg")
        ));
        for method in value(&ws, "token_endpoint_auth_method").split(" or ") {
            assert!(
                supported("token_endpoint_auth_methods_supported", method),
                "{method}"
            );
        }
        assert!(supported("scopes_supported", value(&ws, "scope")));
        assert!(supported(
            "response_types_supported",
            value(&ws, "response_type")
        ));
        for claim in [
            "unique_id_claim",
            "email_claim",
            "first_name_claim",
            "last_name_claim",
            "company_claim",
        ] {
            assert!(supported("claims_supported", value(&ws, claim)), "{claim}");
        }
        assert_eq!(value(&ws, "client_id"), "higher-logic");
        assert_eq!(value(&ws, "redirect_uri"), flow::HL_REDIRECT);
        assert!(value(&ws, "pkce").starts_with("not required"));
        let (_, html, _) = admin.page("/admin/sso").await;
        for v in [
            value(&ws, "token_endpoint"),
            flow::HL_REDIRECT,
            "higher-logic",
        ] {
            assert!(html.contains(v), "page shows {v}");
        }
    }
);

both_engines!(
    higher_logic_signs_in_and_the_secret_rotates,
    |db: TestDb| async move {
        let (app, api_token) = start(&db).await;
        let base = app.base.clone();
        let admin = app.console("grace@example.org", ADMIN_PASSWORD).await;
        let secret = register(&admin).await;
        let ws = worksheet(&app, &api_token).await;

        // The registered client signs a member in exactly as Higher Logic asks: scope=profile, no
        // PKCE, no nonce, client_secret_post.
        let member = flow::browser();
        let url = app.authorize_url(&[
            ("client_id", "higher-logic"),
            ("response_type", "code"),
            ("scope", "profile"),
            ("redirect_uri", flow::HL_REDIRECT),
            ("state", "hl-state"),
        ]);
        let back = app.sign_in(&member, &url).await;
        let q = query(&back);
        assert_eq!(q.get("state").map(String::as_str), Some("hl-state"));
        let code = q.get("code").expect("code").clone();
        let r = flow::http()
            .post(format!("{base}/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", flow::HL_REDIRECT),
                ("client_id", "higher-logic"),
                ("client_secret", secret.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let tokens: Value = r.json().await.unwrap();
        let (status, _, info) = app.userinfo(tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(info[value(&ws, "unique_id_claim")], MEMBER_KEY);
        assert_eq!(info[value(&ws, "email_claim")], EMAIL);
        assert_eq!(info[value(&ws, "company_claim")], "Analytical Engines Ltd");

        // Rotation: a new secret shown once, the old one refused at once.
        let (_, html, _) = admin.post("/admin/sso/rotate-secret", &[]).await;
        let rotated = secret_in(&html);
        assert_ne!(rotated, secret);
        let (status, body) = app
            .token(
                "higher-logic",
                &secret,
                &[("grant_type", "refresh_token"), ("refresh_token", "x")],
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        let (_, audit) = app.api(&api_token, Method::GET, "/audit", None).await;
        let audit = audit.to_string();
        assert!(!audit.contains(&secret) && !audit.contains(&rotated));

        // The SSO page and its forms: 403 to members, CSRF-checked.
        let r = send_form(
            &admin.browser,
            format!("{base}/admin/sso/rotate-secret"),
            &[("csrf_token", "forged")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
);
