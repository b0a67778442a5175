//! What one token response and one sign-in cost in CPU: ID-token signing (RS256, ES256)
//! through the key ring the token endpoint uses, the bare signature under it, the keyed-hash
//! client-secret check, and the argon2id password check that bounds a sign-in.
//!
//! `cargo bench --bench oidc`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use guildgate::db::{now_ms, Store};
use guildgate::oidc::keys::{generate_pem, Alg, KeyRing};
use guildgate::secrets::Pepper;
use guildgate::settings::Settings;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use serde_json::json;

fn id_token_claims() -> serde_json::Value {
    let now = now_ms() / 1000;
    json!({
        "iss": "https://login.example.org",
        "sub": "M-000123",
        "aud": "higher-logic",
        "exp": now + 3600,
        "iat": now,
        "auth_time": now - 30,
        "nonce": "n-0S6_WzA2Mj",
        "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
        "name": "Ann Example",
        "given_name": "Ann",
        "family_name": "Example",
        "email": "ann@example.org",
        "email_verified": true,
        "member_key": "M-000123",
        "company": "Acme Ltd",
    })
}

fn signing(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        database_url: format!("sqlite://{}", dir.path().join("bench.db").display()),
        keys_dir: dir.path().join("keys"),
        issuer: "https://login.example.org".into(),
        ..Default::default()
    };
    let ring = rt.block_on(async {
        let store = Store::open(&settings.database_url, 2).await.unwrap();
        KeyRing::load_or_init(
            &store,
            &settings.keys_dir,
            settings.issuer(),
            &settings.signing,
        )
        .await
        .unwrap()
    });
    let claims = id_token_claims();
    let mut group = c.benchmark_group("id_token");
    for alg in Alg::ALL {
        group.bench_function(format!("sign_{alg}_key_ring"), |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(ring.sign(alg, &claims).await.unwrap()) })
        });
    }
    let token = rt.block_on(ring.sign(Alg::RS256, &claims)).unwrap();
    group.bench_function("verify_RS256_key_ring", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                ring.verify::<serde_json::Value>(&token, true)
                    .await
                    .unwrap(),
            )
        })
    });
    group.finish();

    // The bare signatures: ring over the same bytes, key parsed once.
    let rng = ring::rand::SystemRandom::new();
    let message = serde_json::to_vec(&claims).unwrap();
    let mut bare = c.benchmark_group("bare_signature");
    let rsa_pem = generate_pem(Alg::RS256).unwrap();
    let rsa = RsaKeyPair::from_pkcs8(pem::parse(&rsa_pem).unwrap().contents()).unwrap();
    let mut sig = vec![0; rsa.public().modulus_len()];
    bare.bench_function("RS256_ring", |b| {
        b.iter(|| {
            rsa.sign(
                &signature::RSA_PKCS1_SHA256,
                &rng,
                black_box(&message),
                &mut sig,
            )
            .unwrap()
        })
    });
    let ec_pem = generate_pem(Alg::ES256).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        pem::parse(&ec_pem).unwrap().contents(),
        &rng,
    )
    .unwrap();
    bare.bench_function("ES256_ring", |b| {
        b.iter(|| black_box(ec.sign(&rng, black_box(&message)).unwrap()))
    });
    bare.finish();
}

fn secrets(c: &mut Criterion) {
    let pepper = Pepper::from_bytes([42; 32]);
    let secret = guildgate::secrets::random_token();
    let stored = pepper.hash(&secret);
    let mut group = c.benchmark_group("client_secret");
    group.bench_function("hmac_sha256_verify", |b| {
        b.iter(|| assert!(pepper.verify(black_box(&secret), black_box(&stored))))
    });
    group.finish();

    // One hashing thread, as a sign-in sees it: the job through the pool's queue and back.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pool = guildgate::passwords::HashPool::new(&guildgate::passwords::PasswordSettings {
        hash_workers: 1,
        ..Default::default()
    });
    let hash = rt
        .block_on(pool.hash("correct horse battery staple".into()))
        .unwrap()
        .unwrap();
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    group.bench_function("argon2id_verify_owasp", |b| {
        b.to_async(&rt).iter(|| async {
            assert!(pool
                .verify(
                    black_box("correct horse battery staple").into(),
                    Some(hash.clone())
                )
                .await
                .unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, signing, secrets);
criterion_main!(benches);
