//! Two server processes on one database, as behind a load balancer: sign in on one, exchange
//! the code, refresh and call userinfo on the other; the session works on both. A key rotated
//! where one runs signs on the other, whose keys folder holds only the pepper.

use crate::support::oidc::*;
use crate::support::{cli_ok, file_names, poll, Engine, Server, TestDb};

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

/// `token` verified with the key `jwks` publishes under its kid, for `audience`, as a relying
/// party does; the claims.
fn verify_with_jwks(jwks: &serde_json::Value, token: &str, audience: &str) -> serde_json::Value {
    let header = jsonwebtoken::decode_header(token).expect("JWT header");
    let kid = header.kid.expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("{kid} is not published in {jwks}"));
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).expect("JWK");
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("the token does not verify with {jwks}: {e}"))
        .claims
}

/// A keys folder holding only a copy of `pepper` (mode 0700, the file 0600).
fn keys_folder_with(pepper: &std::path::Path, dir: &std::path::Path) {
    std::fs::create_dir(dir).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    std::fs::copy(pepper, dir.join(guildgate::secrets::PEPPER_FILE)).unwrap();
}

both_engines!(
    a_key_rotated_on_one_instance_signs_on_another_holding_only_the_pepper,
    |db: TestDb| async move {
        let setup = setup(&db).await;
        let (id, secret) = (setup.client_id.as_str(), setup.secret.as_str());
        let pepper = db
            .dir
            .path()
            .join("keys")
            .join(guildgate::secrets::PEPPER_FILE);
        let (dir_a, dir_b) = (db.dir.path().join("keys-a"), db.dir.path().join("keys-b"));
        keys_folder_with(&pepper, &dir_a);
        keys_folder_with(&pepper, &dir_b);
        let (dir_a_text, dir_b_text) = (dir_a.display().to_string(), dir_b.display().to_string());
        // A new key is published 4 s before it signs; instances re-read the keys every second.
        let timing = [
            ("GUILDGATE_SIGNING__JWKS_MAX_AGE_SECS", "4"),
            ("GUILDGATE_SIGNING__RELOAD_SECS", "1"),
        ];
        let mut env_a = vec![("GUILDGATE_KEYS_DIR", dir_a_text.as_str())];
        env_a.extend(timing);
        let a = Server::start_with(&db, &env_a).await;
        let mut env_b = vec![
            ("GUILDGATE_KEYS_DIR", dir_b_text.as_str()),
            ("GUILDGATE_ISSUER", a.base.as_str()),
        ];
        env_b.extend(timing);
        let b = Server::start_with(&db, &env_b).await;
        let browser = browser();

        let id_token_from = |base: String| {
            let browser = browser.clone();
            async move {
                let (code, verifier) = code_for(&browser, &base, id, &[]).await;
                let tokens = exchange(&base, id, secret, &code, &verifier).await;
                assert_eq!(tokens.0, 200, "{}", tokens.1);
                tokens.1["id_token"].as_str().unwrap().to_string()
            }
        };
        let before = kid_of(&id_token_from(b.base.clone()).await);

        // `guildgate keys rotate` where instance A runs (its keys folder, its settings).
        db.set_binary_env(&[("GUILDGATE_KEYS_DIR", dir_a_text.as_str())]);
        db.set_binary_env(&timing);
        let out = cli_ok(&db, &["keys", "rotate", "--alg", "rs256", "--json"]);
        let rotated: serde_json::Value = serde_json::from_str(&out).unwrap();
        let new_kid = rotated[0]["new_kid"].as_str().unwrap().to_string();
        assert_eq!(rotated[0]["replaced"][0], before.as_str());

        // Once active, B signs with the key it never had a file of; A and B publish it.
        let token = poll(
            60,
            || id_token_from(b.base.clone()),
            |t| kid_of(t) == new_kid,
        )
        .await;
        assert_eq!(
            kid_of(&token),
            new_kid,
            "B never signed with the rotated key"
        );
        for base in [&a.base, &b.base] {
            let jwks: serde_json::Value = open(&http(), format!("{base}/jwks"))
                .await
                .json()
                .await
                .unwrap();
            let claims = verify_with_jwks(&jwks, &token, id);
            assert_eq!(claims["sub"], MEMBER_KEY);
            assert_eq!(claims["iss"], a.base.as_str());
        }
        assert_eq!(kid_of(&id_token_from(a.base.clone()).await), new_kid);
        // Neither folder holds anything but the pepper: the keys are in the database.
        for dir in [&dir_a, &dir_b] {
            assert_eq!(file_names(dir), vec![guildgate::secrets::PEPPER_FILE]);
        }
    }
);
