//! API tokens belong to the administrator who made them and expire: refused once that account
//! is deactivated or no longer an administrator, revoked when its password changes, refused
//! after their expiry; the console and `GET /admin/api/tokens` show owner, expiry and last use.

use guildgate::accounts::Role;
use reqwest::{Method, StatusCode};

use crate::support::app::Console;
use crate::support::people::{add_account, person};
use crate::support::{api_token, cli_err, TestApp, TestDb};

const PASSWORD: &str = "an administrator's passphrase";

/// A token made in the console by `console`'s administrator, with `lifetime_days`.
async fn console_token(console: &Console, name: &str, lifetime_days: &str) -> String {
    let fields = [
        ("name", name),
        ("scope", "write"),
        ("lifetime_days", lifetime_days),
    ];
    let (status, page, _) = console.post("/admin/api-tokens", &fields).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (_, rest) = page.split_once("id=\"new-token\">").expect("the new token");
    rest.split('<').next().unwrap().to_string()
}

async fn status_of(app: &TestApp, token: &str) -> StatusCode {
    app.api(token, Method::GET, "/members", None).await.0
}

both_engines!(
    a_token_goes_with_its_administrator,
    |db: TestDb| async move {
        let store = db.store().await;
        for (key, first) in [("A1", "Ada"), ("A2", "Ben"), ("A3", "Cy")] {
            let admin = person(first, "Admin", "Staff");
            add_account(&store, key, admin, Role::Admin, Some(PASSWORD)).await;
        }
        let app = TestApp::spawn(&db).await;
        let ada = app.console("ada@example.org", PASSWORD).await;
        let ben = app.console("ben@example.org", PASSWORD).await;
        let cy = app.console("cy@example.org", PASSWORD).await;
        let ada_token = console_token(&ada, "ada's script", "90").await;
        let ben_token = console_token(&ben, "ben's script", "30").await;
        let cy_token = console_token(&cy, "cy's script", "365").await;
        let operator = api_token(&db, "nightly", "read");
        for token in [&ada_token, &ben_token, &cy_token, &operator] {
            assert_eq!(status_of(&app, token).await, StatusCode::OK);
        }

        // Deactivated: refused at once (and revoked with the rest of the account's credentials).
        store.deactivate_account("test", "A1").await.unwrap();
        assert_eq!(status_of(&app, &ada_token).await, StatusCode::UNAUTHORIZED);
        store.reactivate_account("test", "A1").await.unwrap();
        assert_eq!(status_of(&app, &ada_token).await, StatusCode::UNAUTHORIZED);

        // No longer an administrator: refused.
        sqlx::query("UPDATE accounts SET role = 'member' WHERE login_email = $1")
            .bind("cy@example.org")
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(status_of(&app, &cy_token).await, StatusCode::UNAUTHORIZED);

        // A password change revokes the tokens made with the old one.
        store
            .set_password("test", "A2", "ben's brand new passphrase")
            .await
            .unwrap();
        assert_eq!(status_of(&app, &ben_token).await, StatusCode::UNAUTHORIZED);

        // The operator's token (command line) belongs to no account and goes on working; the
        // list shows who each token belongs to, its expiry and its last use.
        let (status, list) = app.api(&operator, Method::GET, "/tokens", None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let tokens = list["tokens"].as_array().unwrap();
        let named = |name: &str| {
            tokens
                .iter()
                .find(|t| t["name"] == name)
                .unwrap_or_else(|| panic!("{name} in {list}"))
                .clone()
        };
        let ada_listed = named("ada's script");
        assert_eq!(ada_listed["owner"], "ada@example.org");
        assert!(ada_listed["revoked_at"].is_i64(), "{ada_listed}");
        assert!(ada_listed["last_used_at"].is_i64(), "{ada_listed}");
        let days = |t: &serde_json::Value| {
            (t["expires_at"].as_i64().unwrap() - t["created_at"].as_i64().unwrap()) / 86_400_000
        };
        assert_eq!(days(&ada_listed), 90);
        assert_eq!(days(&named("cy's script")), 365);
        assert!(named("ben's script")["revoked_at"].is_i64());
        assert!(named("cy's script")["revoked_at"].is_null());
        let nightly = named("nightly");
        assert!(nightly["owner"].is_null(), "{nightly}");
        assert_eq!(days(&nightly), 90);
        // Ada's sessions ended with her deactivation; signed in again, she sees the list.
        let ada = app.console("ada@example.org", PASSWORD).await;
        let (_, page, _) = ada.page("/admin/api-tokens").await;
        assert!(page.contains("operator"), "{page}");
        assert!(page.contains("revoked"), "{page}");
    }
);

both_engines!(
    a_token_expires_and_lives_a_year_at_most,
    |db: TestDb| async move {
        let store = db.store().await;
        let admin = person("Ada", "Admin", "Staff");
        add_account(&store, "A1", admin, Role::Admin, Some(PASSWORD)).await;
        let app = TestApp::spawn(&db).await;
        let ada = app.console("ada@example.org", PASSWORD).await;
        for refused in ["0", "366"] {
            let fields = [("name", "t"), ("scope", "read"), ("lifetime_days", refused)];
            let (status, page, _) = ada.post("/admin/api-tokens", &fields).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
            assert!(page.contains("1 to 365 days"), "{page}");
        }
        cli_err(&db, "api-token create --name t --expires-in-days 400");

        let token = console_token(&ada, "short-lived", "1").await;
        assert_eq!(status_of(&app, &token).await, StatusCode::OK);
        // A day later (the clock moved by the database).
        sqlx::query("UPDATE admin_api_tokens SET expires_at = $1 WHERE name = 'short-lived'")
            .bind(guildgate::db::now_ms() - 1)
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(status_of(&app, &token).await, StatusCode::UNAUTHORIZED);
        let (_, page, _) = ada.page("/admin/api-tokens").await;
        assert!(page.contains("expired"), "{page}");
    }
);
