//! Two server processes on one PostgreSQL database, as behind a load balancer: sign in on one,
//! exchange the code, refresh and call userinfo on the other; the session works on both.

use crate::support::oidc::*;
use crate::support::{Engine, Server, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_instances_share_sessions_codes_and_tokens() {
    let db = TestDb::new(Engine::Postgres).await;
    let setup = setup(&db).await;
    let (id, secret) = (setup.client_id.as_str(), setup.secret.as_str());
    let a = Server::start(&db).await;
    // One public issuer for both (the load balancer's name).
    let b = Server::start_with(&db, &[("GUILDGATE_ISSUER", a.base.as_str())]).await;
    let browser = browser();

    // Sign in on A; exchange the code on B.
    let (code, verifier) = code_for(&browser, &a.base, id, &[]).await;
    let tokens = exchange(&b.base, id, secret, &code, &verifier).await;
    assert_eq!(tokens.0, 200, "{}", tokens.1);
    // Both instances sign with the same active key: B's ID token verifies with A's JWKS.
    let id_token = tokens.1["id_token"].as_str().unwrap();
    let kid = kid_of(id_token);
    let jwks: serde_json::Value = open(&http(), format!("{}/jwks", a.base))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        publishes(&jwks, &kid),
        "B signed with a key A does not publish"
    );

    // Refresh on A, then on B, userinfo on both.
    let rt = tokens.1["refresh_token"].as_str().unwrap();
    let r1 = refresh(&a.base, id, secret, rt).await;
    assert_eq!(r1.0, 200, "{}", r1.1);
    let r2 = refresh(&b.base, id, secret, r1.1["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r2.0, 200, "{}", r2.1);
    let at = r2.1["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&a.base, at).await.0, 200);
    assert_eq!(userinfo(&b.base, at).await.0, 200);
    // Replay detected across instances: the spent token from A, replayed on B.
    let replay = refresh(&b.base, id, secret, r1.1["refresh_token"].as_str().unwrap()).await;
    assert_eq!(replay.1["error"], "invalid_grant");
    assert_eq!(
        userinfo(&a.base, at).await.0,
        401,
        "family revoked everywhere"
    );

    // The session made on A signs the member in on B (same cookie, same database).
    let url = openid_url(&b.base, id, &[("prompt", "none")]);
    let r = open(&browser, &url).await;
    assert_eq!(r.status(), 303);
    assert!(
        query(&location(&r)).contains_key("code"),
        "{}",
        location(&r)
    );
}
