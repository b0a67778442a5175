//! No session row for anonymous visitors: showing the sign-in page (every anonymous
//! `GET /authorize`, the account page's and the console's sign-in forms, "Forgot your
//! password?") writes nothing to `oidc_sessions`; the form's CSRF token lives in the browser's
//! signed cookie and still protects the form; a sign-in writes the one session worth keeping;
//! the janitor sweeps expired anonymous sessions. SQLite and PostgreSQL.

use reqwest::StatusCode;

use crate::support::html::csrf_of;
use crate::support::oidc::*;
use crate::support::{count, poll, TestApp, TestDb};
use guildgate::db::now_ms;
use guildgate::oidc::janitor;

async fn sessions(setup: &Setup) -> i64 {
    count(&setup.store, "SELECT COUNT(*) FROM oidc_sessions").await
}

both_engines!(
    anonymous_visitors_write_no_session,
    |db: TestDb| async move {
        let (setup, app) = TestApp::with_portal(&db).await;
        let before = sessions(&setup).await;
        // A bot: a new client (no cookies) for every request.
        for _ in 0..20 {
            let bot = http();
            let r = open(&bot, app.openid_url(&setup.client_id, &[])).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert!(r.text().await.unwrap().contains("name=\"password\""));
        }
        for path in ["/account", "/admin/login", "/forgot-password"] {
            let r = open(&http(), app.url(path)).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
        }
        // A browser coming back to the page keeps its cookie, and still no session.
        let b = browser();
        for _ in 0..3 {
            open(&b, app.openid_url(&setup.client_id, &[])).await;
        }
        assert_eq!(sessions(&setup).await, before);

        // The form is still protected: a token from another browser, or none, is refused.
        let page = page_at(&b, app.openid_url(&setup.client_id, &[("state", "a1")])).await;
        let other = browser();
        let other_page = page_at(&other, app.openid_url(&setup.client_id, &[])).await;
        assert_ne!(csrf_of(&page), csrf_of(&other_page));
        let mut forged = hidden_fields(&page);
        for field in forged.iter_mut().filter(|(name, _)| name == "csrf_token") {
            field.1 = csrf_of(&other_page);
        }
        forged.push(("email".into(), EMAIL.into()));
        forged.push(("password".into(), PASSWORD.into()));
        let r = send_form(&b, app.url("/login"), &forged).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(sessions(&setup).await, before);

        // Signing in: the one session worth keeping.
        let r = app.login(&b, &page, EMAIL, PASSWORD).await;
        code_at_client(&r, "a1");
        assert_eq!(sessions(&setup).await, before + 1);
    }
);

both_engines!(
    the_janitor_sweeps_expired_anonymous_sessions,
    |db: TestDb| async move {
        let (setup, _app) = TestApp::with_portal(&db).await;
        let now = now_ms();
        for (id, expires_at) in [("expired", now - 1), ("live", now + 3_600_000)] {
            sqlx::query(
                "INSERT INTO oidc_sessions (id_hash, account_id, data, expires_at) \
                 VALUES ($1, NULL, '{}', $2)",
            )
            .bind(id)
            .bind(expires_at)
            .execute(setup.store.pool())
            .await
            .unwrap();
        }
        // On PostgreSQL the application's own janitor may hold the sweep's lock this moment
        // (its first sweep runs at start): sweep until this call is the one that sweeps.
        let swept = poll(
            50,
            || async { janitor::sweep(&setup.store).await.unwrap() },
            Option::is_some,
        )
        .await;
        assert!(swept.is_some(), "the sweep's lock was never free");
        let left: Vec<(String,)> = sqlx::query_as("SELECT id_hash FROM oidc_sessions")
            .fetch_all(setup.store.pool())
            .await
            .unwrap();
        assert_eq!(left, vec![("live".to_string(),)]);
    }
);
