//! The signing key ring on SQLite and PostgreSQL: first start, several instances, rotation
//! (publish before sign, keep until expired), failures at start, the private keys sealed in
//! the database (and the key files of earlier versions moved there), and `guildgate keys`.

use std::path::Path;
use std::time::Duration;

use crate::support::oidc::{kid_of, published_kids};
use crate::support::{cli_err, cli_line, file_names, Server, TestDb};
use guildgate::db::now_ms;
use guildgate::oidc::keys::{self, Alg, KeyError, KeyRing};
use guildgate::secrets::{Pepper, PepperError, PEPPER_FILE};
use guildgate::settings::Settings;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{json, Value};

/// The `private_key` column, by kid (keys with one).
async fn sealed_private_keys(store: &guildgate::db::Store) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT kid, private_key FROM oidc_signing_keys WHERE private_key IS NOT NULL ORDER BY kid",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

/// The JWKS `server` publishes.
async fn served_jwks(server: &Server) -> Value {
    reqwest::get(format!("{}/jwks", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn load_ring(store: &guildgate::db::Store, s: &Settings) -> Result<KeyRing, KeyError> {
    KeyRing::load_or_init(store, &s.keys_dir, s.issuer(), &s.signing).await
}

fn settings(db: &TestDb, keys_dir: &Path) -> Settings {
    Settings {
        database_url: db.url.clone(),
        keys_dir: keys_dir.to_path_buf(),
        issuer: "https://login.example.org".into(),
        ..Default::default()
    }
}

fn claims(exp_in: i64) -> Value {
    let now = now_ms() / 1000;
    json!({ "iss": "https://login.example.org", "sub": "M1", "aud": "c1", "iat": now, "exp": now + exp_in })
}

/// Verifies `token` against the published JWKS, as a relying party does.
fn verify_with_jwks(jwks: &Value, token: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or("kid not published")?;
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    let mut v = Validation::new(header.alg);
    v.set_audience(&["c1"]);
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

both_engines!(first_start_and_second_instance, |db: TestDb| async move {
    let store = db.store().await;
    let dir = db.dir.path().join("keys");
    let s = settings(&db, &dir);
    let ring = KeyRing::load_or_init(&store, &s.keys_dir, s.issuer(), &s.signing)
        .await
        .unwrap();

    let infos = keys::list(&store).await.unwrap();
    assert_eq!(infos.len(), 2);
    for info in &infos {
        assert!(
            !info.public_jwk.contains("\"d\""),
            "no private part in the public JWK"
        );
    }
    // The private halves are in the database, sealed; the folder holds only the pepper.
    let sealed = sealed_private_keys(&store).await;
    assert_eq!(sealed.len(), 2);
    for (kid, stored) in &sealed {
        assert!(stored.starts_with("sealed:v1:"), "{kid}: {stored}");
        assert!(!stored.contains("PRIVATE KEY"));
    }
    assert_eq!(file_names(&dir), vec![PEPPER_FILE.to_string()]);
    assert!(dir.join(PEPPER_FILE).is_file());

    let jwks = ring.jwks().await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    for alg in Alg::ALL {
        let token = ring.sign(alg, &claims(60)).await.unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, alg.jwt());
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(verify_with_jwks(&jwks, &token).unwrap()["sub"], "M1");
        let back: Value = ring.verify(&token, true).await.unwrap();
        assert_eq!(back["sub"], "M1");
    }

    // A second instance on the same database and folder signs with the same keys.
    let other = KeyRing::load_or_init(&store, &s.keys_dir, s.issuer(), &s.signing)
        .await
        .unwrap();
    assert_eq!(keys::list(&store).await.unwrap().len(), 2);
    for alg in Alg::ALL {
        let a = ring.sign(alg, &claims(60)).await.unwrap();
        let b = other.sign(alg, &claims(60)).await.unwrap();
        assert_eq!(kid_of(&a), kid_of(&b));
        let _: Value = other.verify(&a, true).await.unwrap();
    }
    assert_eq!(other.jwks().await, jwks);
});

both_engines!(
    verification_refuses_what_we_did_not_sign,
    |db: TestDb| async move {
        let store = db.store().await;
        let dir = db.dir.path().join("keys");
        let ring = load_ring(&store, &settings(&db, &dir)).await.unwrap();

        let expired = ring.sign(Alg::RS256, &claims(-120)).await.unwrap();
        assert!(matches!(
            ring.verify::<Value>(&expired, true).await,
            Err(KeyError::InvalidToken(m)) if m == "expired"
        ));
        // An expired ID token is still a fine id_token_hint.
        let _: Value = ring.verify(&expired, false).await.unwrap();

        let mut wrong_iss = claims(60);
        wrong_iss["iss"] = json!("https://evil.example");
        let t = ring.sign(Alg::ES256, &wrong_iss).await.unwrap();
        assert!(ring.verify::<Value>(&t, true).await.is_err());

        // Tampered payload, HS256 with the public key as secret, alg none, garbage.
        let good = ring.sign(Alg::RS256, &claims(60)).await.unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        let mut forged = claims(60);
        forged["sub"] = json!("ADMIN");
        use base64::Engine as _;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let tampered = format!("{}.{}.{}", parts[0], b64(&forged), parts[2]);
        assert!(ring.verify::<Value>(&tampered, true).await.is_err());
        let none = format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "kid": kid_of(&good)})),
            b64(&forged)
        );
        assert!(ring.verify::<Value>(&none, true).await.is_err());
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some(kid_of(&good));
        let hs = jsonwebtoken::encode(
            &h,
            &forged,
            &jsonwebtoken::EncodingKey::from_secret(b"public"),
        )
        .unwrap();
        assert!(ring.verify::<Value>(&hs, true).await.is_err());
        assert!(ring.verify::<Value>("not.a.jwt", true).await.is_err());
        // A key of the other algorithm, with this kid, is not accepted either.
        let es = ring.sign(Alg::ES256, &claims(60)).await.unwrap();
        let es_parts: Vec<&str> = es.split('.').collect();
        let swapped = format!(
            "{}.{}.{}",
            b64(&json!({"alg": "ES256", "typ": "JWT", "kid": kid_of(&good)})),
            es_parts[1],
            es_parts[2]
        );
        assert!(ring.verify::<Value>(&swapped, true).await.is_err());
    }
);

both_engines!(
    rotation_publishes_before_signing_and_keeps_until_expiry,
    |db: TestDb| async move {
        let store = db.store().await;
        let dir = db.dir.path().join("keys");
        let mut s = settings(&db, &dir);
        s.signing.jwks_max_age_secs = 3;
        s.signing.retire_after_secs = 2;
        s.signing.reload_secs = 1;
        let ring = KeyRing::load_or_init(&store, &s.keys_dir, s.issuer(), &s.signing)
            .await
            .unwrap();
        let before = ring.sign(Alg::RS256, &claims(3600)).await.unwrap();
        let old_kid = kid_of(&before);
        let es_before = kid_of(&ring.sign(Alg::ES256, &claims(60)).await.unwrap());

        let rotate = || {
            keys::rotate(
                &store,
                &s.keys_dir,
                &s.signing,
                "test",
                Alg::RS256,
                now_ms(),
            )
        };
        let r = rotate().await.unwrap();
        assert_eq!(r.replaced.as_ref().unwrap().0, old_kid);
        assert_eq!(
            file_names(&dir),
            vec![PEPPER_FILE.to_string()],
            "no key file"
        );
        ring.reload().await.unwrap();

        // Published at once, but the old key still signs.
        let jwks = ring.jwks().await;
        let kids = published_kids(&jwks);
        assert!(kids.contains(&r.new_kid.as_str()) && kids.contains(&old_kid.as_str()));
        assert_eq!(
            kid_of(&ring.sign(Alg::RS256, &claims(60)).await.unwrap()),
            old_kid
        );
        // Another instance, started now, agrees.
        let other = KeyRing::load_or_init(&store, &s.keys_dir, s.issuer(), &s.signing)
            .await
            .unwrap();
        assert_eq!(
            kid_of(&other.sign(Alg::RS256, &claims(60)).await.unwrap()),
            old_kid
        );

        tokio::time::sleep(Duration::from_millis(3_200)).await;
        // The new key signs (after the reload interval) and the old one is still published, so
        // tokens it signed still verify.
        let after = ring.sign(Alg::RS256, &claims(60)).await.unwrap();
        assert_eq!(kid_of(&after), r.new_kid);
        let jwks = ring.jwks().await;
        verify_with_jwks(&jwks, &before).unwrap();
        verify_with_jwks(&jwks, &after).unwrap();
        // The other algorithm was not rotated.
        assert_eq!(
            kid_of(&ring.sign(Alg::ES256, &claims(60)).await.unwrap()),
            es_before
        );

        tokio::time::sleep(Duration::from_millis(2_200)).await;
        let jwks = ring.jwks().await;
        assert!(!jwks.to_string().contains(&old_kid), "old key retired");
        assert!(verify_with_jwks(&jwks, &before).is_err());
        assert!(ring.verify::<Value>(&before, false).await.is_err());
        let states = keys::key_states(&keys::list(&store).await.unwrap(), now_ms());
        assert_eq!(
            states
                .iter()
                .filter(|s| **s == keys::KeyState::Retired)
                .count(),
            1
        );
        // The next rotation erases the retired key's private half.
        let has_private = |kid: String| {
            let store = store.clone();
            async move {
                sealed_private_keys(&store)
                    .await
                    .iter()
                    .any(|(k, _)| *k == kid)
            }
        };
        assert!(has_private(old_kid.clone()).await);
        let r2 = rotate().await.unwrap();
        assert_eq!(r2.erased, vec![old_kid.clone()]);
        assert!(r2.removed_files.is_empty());
        assert!(!has_private(old_kid.clone()).await);
        assert!(has_private(r.new_kid.clone()).await);
    }
);

both_engines!(
    missing_or_foreign_key_material_fails_at_start,
    |db: TestDb| async move {
        let store = db.store().await;
        let dir = db.dir.path().join("keys");
        let s = settings(&db, &dir);
        KeyRing::load_or_init(&store, &s.keys_dir, s.issuer(), &s.signing)
            .await
            .unwrap();

        // An instance with an empty keys folder must not start (nor invent a new pepper).
        let empty = db.dir.path().join("other-keys");
        let err = load_ring(&store, &settings(&db, &empty)).await.unwrap_err();
        assert!(
            matches!(err, KeyError::Pepper(PepperError::Mismatch { .. })),
            "{err}"
        );
        // With the pepper alone it signs with the same keys.
        std::fs::copy(dir.join(PEPPER_FILE), empty.join(PEPPER_FILE)).unwrap();
        let other = load_ring(&store, &settings(&db, &empty)).await.unwrap();
        let ring = load_ring(&store, &s).await.unwrap();
        for alg in Alg::ALL {
            let token = other.sign(alg, &claims(60)).await.unwrap();
            assert_eq!(
                kid_of(&token),
                kid_of(&ring.sign(alg, &claims(60)).await.unwrap())
            );
            let _: Value = ring.verify(&token, true).await.unwrap();
        }

        // A different pepper file is refused too.
        let third = db.dir.path().join("third-keys");
        std::fs::create_dir_all(&third).unwrap();
        std::fs::write(
            third.join(PEPPER_FILE),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        )
        .unwrap();
        assert!(matches!(
            Pepper::load_or_init(&store, &third).await,
            Err(PepperError::Mismatch { .. })
        ));

        // A sealed key moved to another row does not open (it is bound to its kid).
        let sealed = sealed_private_keys(&store).await;
        let infos = keys::list(&store).await.unwrap();
        let rs = infos.iter().find(|k| k.alg == "RS256").unwrap().kid.clone();
        let es = infos.iter().find(|k| k.alg == "ES256").unwrap().kid.clone();
        let es_sealed = &sealed.iter().find(|(k, _)| *k == es).unwrap().1;
        let rs_sealed = &sealed.iter().find(|(k, _)| *k == rs).unwrap().1;
        set_private(&store, &rs, Some(es_sealed)).await;
        let err = load_ring(&store, &s).await.unwrap_err();
        assert!(matches!(err, KeyError::Unsealable { .. }), "{err}");
        assert!(err.to_string().contains("pepper"), "{err}");

        // A key without its private half (an earlier version's, whose file is not here).
        set_private(&store, &rs, None).await;
        let err = load_ring(&store, &s).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, KeyError::MissingPrivateKey { .. }), "{text}");
        assert!(
            text.contains("keys_dir") && text.contains("missing"),
            "{text}"
        );
        // ... nor one whose file holds another key.
        std::fs::write(
            keys::private_key_path(&dir, Alg::RS256, &rs),
            keys::generate_pem(Alg::RS256).unwrap(),
        )
        .unwrap();
        let err = load_ring(&store, &s).await.unwrap_err();
        assert!(matches!(err, KeyError::Mismatch { .. }), "{err}");
        set_private(&store, &rs, Some(rs_sealed)).await;
        std::fs::remove_file(keys::private_key_path(&dir, Alg::RS256, &rs)).unwrap();
        load_ring(&store, &s).await.unwrap();
    }
);

async fn set_private(store: &guildgate::db::Store, kid: &str, sealed: Option<&String>) {
    sqlx::query("UPDATE oidc_signing_keys SET private_key = $1 WHERE kid = $2")
        .bind(sealed.cloned())
        .bind(kid)
        .execute(store.pool())
        .await
        .unwrap();
}

both_engines!(keys_cli_lists_and_rotates, |db: TestDb| async move {
    let out = cli_line(&db, "keys list --json");
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["state"] == "active"));
    let out = cli_line(&db, "keys rotate --alg es256 --json");
    let rotated: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rotated[0]["alg"], "ES256");
    let table = cli_line(&db, "keys list");
    assert!(
        table.contains("pending") && table.contains("active"),
        "{table}"
    );
    let err = cli_err(&db, "keys rotate --alg HS256");
    assert!(err.contains("RS256 or ES256"), "{err}");
    let changes = db.store().await.recent_changes(10, None).await.unwrap();
    assert!(changes
        .iter()
        .any(|c| c.entity == "signing_key" && c.action == "rotated"));
});

/// `serve` with a keys folder that lacks the pepper: exits with the reason.
fn serve_with_keys_dir(db: &TestDb, keys_dir: &Path) -> (bool, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_guildgate"))
        .current_dir(db.dir.path())
        .env_remove("GUILDGATE_CONFIG")
        .envs(crate::support::binary::binary_env(
            db,
            crate::support::free_port(),
        ))
        .env("GUILDGATE_KEYS_DIR", keys_dir)
        .env("RUST_LOG", "warn")
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.success(), err);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve started although its keys folder lacks the pepper");
}

both_engines!(
    serve_needs_the_pepper_and_nothing_else,
    |db: TestDb| async move {
        cli_line(&db, "keys list");
        let other = db.dir.path().join("other-keys");
        let (ok, err) = serve_with_keys_dir(&db, &other);
        assert!(!ok);
        assert!(err.contains("pepper"), "{err}");
        std::fs::copy(
            db.dir.path().join("keys").join(PEPPER_FILE),
            other.join(PEPPER_FILE),
        )
        .unwrap();
        let other_text = other.display().to_string();
        let server = Server::start_with(&db, &[("GUILDGATE_KEYS_DIR", other_text.as_str())]).await;
        let jwks = served_jwks(&server).await;
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        assert_eq!(file_names(&other), vec![PEPPER_FILE.to_string()]);
    }
);

/// An installation made by an earlier version: the key rows without private halves, which are
/// PEM files in the keys folder. Returns the kids, RS256 first.
async fn earlier_version_installation(store: &guildgate::db::Store, dir: &Path) -> Vec<String> {
    Pepper::load_or_init(store, dir).await.unwrap();
    let mut kids = Vec::new();
    for alg in Alg::ALL {
        let pem = keys::generate_pem(alg).unwrap();
        let jwk = keys::public_jwk(alg, &pem).unwrap();
        let kid = jwk["kid"].as_str().unwrap().to_string();
        guildgate::secrets::write_secret_file(
            &keys::private_key_path(dir, alg, &kid),
            pem.as_bytes(),
        )
        .unwrap();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO oidc_signing_keys (kid, alg, public_jwk, created_at, activates_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&kid)
        .bind(alg.as_str())
        .bind(jwk.to_string())
        .bind(now - 1_000)
        .bind(now - 1_000)
        .execute(store.pool())
        .await
        .unwrap();
        kids.push(kid);
    }
    kids
}

both_engines!(
    key_files_of_an_earlier_version_move_into_the_database_once,
    |db: TestDb| async move {
        let store = db.store().await;
        let dir = db.dir.path().join("keys");
        let kids = earlier_version_installation(&store, &dir).await;
        assert!(sealed_private_keys(&store).await.is_empty());
        let (_, report) = doctor_report(&db);
        assert!(
            report.contains("todo  signing keys stored: 2 key(s) still only in keys_dir files"),
            "{report}"
        );

        // The first start moves them, and says so.
        let server = Server::start_logged(&db, &[("RUST_LOG", "info")]).await;
        let log = server.log();
        assert_eq!(
            log.matches("moved the private signing key from its file into the database")
                .count(),
            2,
            "{log}"
        );
        let jwks = served_jwks(&server).await;
        let published = published_kids(&jwks);
        assert_eq!(
            published,
            kids.iter().map(String::as_str).collect::<Vec<_>>()
        );
        server.stop();
        let sealed = sealed_private_keys(&store).await;
        assert_eq!(sealed.len(), 2);
        // Left in place: an instance of the earlier version may still read them.
        for (alg, kid) in Alg::ALL.iter().zip(&kids) {
            assert!(keys::private_key_path(&dir, *alg, kid).is_file());
        }

        // Once: the next start moves nothing and changes nothing.
        let server = Server::start_logged(&db, &[("RUST_LOG", "info")]).await;
        assert!(
            !server.log().contains("moved the private signing key"),
            "{}",
            server.log()
        );
        server.stop();
        assert_eq!(sealed_private_keys(&store).await, sealed);

        // The files are no longer needed: without them, the same kids sign.
        for (alg, kid) in Alg::ALL.iter().zip(&kids) {
            std::fs::remove_file(keys::private_key_path(&dir, *alg, kid)).unwrap();
        }
        let ring = load_ring(&store, &settings(&db, &dir)).await.unwrap();
        for (alg, kid) in Alg::ALL.iter().zip(&kids) {
            let token = ring.sign(*alg, &claims(60)).await.unwrap();
            assert_eq!(&kid_of(&token), kid);
            verify_with_jwks(&ring.jwks().await, &token).unwrap();
        }
        let (healthy, report) = doctor_report(&db);
        assert!(healthy, "{report}");
        assert!(report.contains("ok    signing keys stored"), "{report}");
    }
);

/// `guildgate doctor`: whether it succeeded, and what it printed.
fn doctor_report(db: &TestDb) -> (bool, String) {
    let out = crate::support::cli(db, &["doctor"], None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
