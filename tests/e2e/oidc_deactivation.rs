//! Deactivated accounts are refused at every step: mid-flow (code issued, then deactivated),
//! mid-session (signed in, then deactivated) and between refreshes; reactivation revives
//! nothing. SQLite and PostgreSQL.

use crate::support::oidc::*;
use crate::support::{TestApp, TestDb};

async fn sessions_of_member(store: &guildgate::db::Store) -> i64 {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM oidc_sessions s JOIN accounts a ON a.id = s.account_id \
         JOIN members m ON m.id = a.member_id WHERE m.member_key = $1",
    )
    .bind(MEMBER_KEY)
    .fetch_one(store.pool())
    .await
    .unwrap();
    n
}

both_engines!(
    deactivation_is_refused_everywhere,
    |db: TestDb| async move {
        let setup = setup(&db).await;
        let store = &setup.store;
        let app = TestApp::spawn(&db).await;
        let (id, secret) = (setup.client_id.as_str(), setup.secret.as_str());
        let browser = browser();

        // Tokens held before; a code issued but not yet exchanged (mid-flow).
        let held = app.tokens_for(&browser, id, secret).await;
        let access = held["access_token"].as_str().unwrap().to_string();
        let refresh_token = held["refresh_token"].as_str().unwrap().to_string();
        let (pending_code, pending_verifier) = app.code_for(&browser, id, &[]).await;
        assert_eq!(sessions_of_member(store).await, 1);

        store.deactivate_account("test", MEMBER_KEY).await.unwrap();

        // The session is gone (same transaction as the deactivation).
        assert_eq!(sessions_of_member(store).await, 0);
        // Mid-flow: the code issued before deactivation is refused.
        let r = app
            .exchange(id, secret, &pending_code, &pending_verifier)
            .await;
        assert_eq!((r.0, r.1["error"].as_str()), (400, Some("invalid_grant")));
        // Between refreshes: the refresh token is refused, the access token too.
        let r = app.refresh(id, secret, &refresh_token).await;
        assert_eq!((r.0, r.1["error"].as_str()), (400, Some("invalid_grant")));
        let (status, challenge, _) = app.userinfo(&access).await;
        assert_eq!(status, 401);
        assert!(challenge.contains("invalid_token"));
        // Mid-session: the browser is no longer signed in...
        let url = app.openid_url(id, &[]);
        let r = open(&browser, format!("{url}&prompt=none")).await;
        assert_eq!(query(&location(&r))["error"], "login_required");
        // ...and signing in again shows the "account not active" page (to the password holder).
        let r = open(&browser, &url).await;
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        let r = app.login(&browser, &page, EMAIL, PASSWORD).await;
        assert_eq!(r.status(), 403);
        assert!(r.headers().get("location").is_none());
        assert!(r.text().await.unwrap().contains("Account not active"));
        // A wrong password still gets the generic message: nothing said about the account.
        let page = page_at(&browser, &url).await;
        let r = app
            .login(&browser, &page, EMAIL, "wrong password here")
            .await;
        assert_eq!(r.status(), 401);
        assert!(!r.text().await.unwrap().contains("not active"));

        // Reactivation revives nothing that was issued before.
        store.reactivate_account("test", MEMBER_KEY).await.unwrap();
        assert_eq!(app.userinfo(&access).await.0, 401);
        let r = app.refresh(id, secret, &refresh_token).await;
        assert_eq!(r.1["error"], "invalid_grant");
        // But the member can sign in afresh.
        let (code, verifier) = app.code_for(&browser, id, &[]).await;
        let r = app.exchange(id, secret, &code, &verifier).await;
        assert_eq!(r.0, 200);
    }
);

both_engines!(
    deactivated_while_session_row_survives,
    |db: TestDb| async move {
        // Belt and braces: even if a session somehow outlived the deactivation (restored backup,
        // a row written by an instance mid-request), /authorize checks the account and ends it.
        let (setup, app) = TestApp::with_portal(&db).await;
        let browser = browser();
        let _ = app.code_for(&browser, &setup.client_id, &[]).await;
        sqlx::query("UPDATE accounts SET state = 'deactivated'")
            .execute(setup.store.pool())
            .await
            .unwrap();
        let url = app.openid_url(&setup.client_id, &[("prompt", "none")]);
        let r = open(&browser, &url).await;
        assert_eq!(query(&location(&r))["error"], "login_required");
        assert_eq!(sessions_of_member(&setup.store).await, 0);
    }
);
