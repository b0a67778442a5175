//! Load run against the real HTTP server for the token (code exchange), refresh and userinfo
//! endpoints, next to the bare costs they should be bound by (an RS256 signature, an argon2id
//! verification). The README reports the result:
//!
//! ```sh
//! cargo run --release --example oidc_load                       # SQLite
//! cargo run --release --example oidc_load -- postgres://postgres@127.0.0.1:5432/postgres
//! cargo run --release --example oidc_load -- 5000 16             # requests, concurrency
//! ```
//!
//! The server runs in this process (same router, middleware and database code as `guildgate
//! serve`) on a free loopback port; requests go over HTTP. With a PostgreSQL admin URL, a
//! scratch database is created and dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use guildgate::accounts::Role;
use guildgate::db::Store;
use guildgate::members::{Kind, MemberData};
use guildgate::oidc::clients::{ClientType, NewClient};
use guildgate::oidc::keys::{Alg, KeyRing};
use guildgate::settings::Settings;

#[path = "common/mod.rs"]
mod common;
use common::{browser, local_settings, post_login, serve_local, Args, ScratchDb};

const REDIRECT: &str = "https://rp.example.org/callback";
const PASSWORD: &str = "correct horse battery staple";
const EMAIL: &str = "load@example.org";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let postgres = args.postgres.clone();
    let (requests, concurrency) = (args.number(0, 2000), args.number(1, 8));

    ScratchDb::around(postgres.as_deref(), "load", |url, dir| async move {
        run(&url, &dir, requests, concurrency).await
    })
    .await
}

async fn run(
    url: &str,
    root: &std::path::Path,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let settings = Settings {
        max_connections: 16,
        ..local_settings(url, root)?
    };
    let store = Store::open(url, settings.max_connections).await?;
    store
        .add_member_with_account(
            "load",
            "M-1",
            MemberData {
                kind: Kind::Person,
                first_name: Some("Load".into()),
                last_name: Some("Test".into()),
                email: Some("load@example.org".into()),
                ..Default::default()
            },
            Some(("load@example.org", Role::Member)),
        )
        .await?;
    store.set_password("load", "M-1", PASSWORD).await?;
    let ring = KeyRing::load_or_init(
        &store,
        &settings.keys_dir,
        settings.issuer(),
        &settings.signing,
    )
    .await?;
    let mut new = NewClient::new("Load", ClientType::Confidential, &[REDIRECT]);
    new.client_id = Some("load".into());
    let (_, secret) = store.add_client("load", ring.pepper(), new).await?;
    let secret = secret.unwrap_or_default();

    let base = settings.issuer.clone();
    let server = serve_local(&settings, &store).await?;
    let http = browser()?;

    println!(
        "engine: {}, {requests} requests per endpoint, concurrency {concurrency}",
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>9}",
        "operation", "ops/s", "mean ms", "p50 ms", "p99 ms"
    );

    // Bare costs: one RS256 signature, one argon2id verification.
    let claims = serde_json::json!({"iss": base, "sub": "M-1", "aud": "load", "exp": 4_000_000_000u64, "iat": 1});
    let samples = time_serial(500, || async {
        ring.sign(Alg::RS256, &claims).await?;
        Ok(())
    })
    .await?;
    report("RS256 signature (in process)", &samples, None);
    let hash = store.hash_password(PASSWORD.into()).await?;
    let samples = time_serial(20, || {
        let hash = hash.clone();
        let store = store.clone();
        async move {
            store.verify_password(PASSWORD.into(), Some(hash)).await?;
            Ok(())
        }
    })
    .await?;
    report("argon2id verify (in process)", &samples, None);

    // Login over HTTP: form page, then POST /login (argon2id + session + code).
    let (verifier, challenge) = pkce();
    let authorize = format!(
        "{base}/authorize?client_id=load&redirect_uri={}&response_type=code&scope=openid%20profile&code_challenge={challenge}&code_challenge_method=S256",
        form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let mut login_samples = Vec::new();
    for _ in 0..20 {
        let login_browser = browser()?;
        let page = login_browser.get(&authorize).send().await?.text().await?;
        let (r, took) = post_login(&login_browser, &base, &page, EMAIL, PASSWORD).await?;
        login_samples.push(took);
        anyhow::ensure!(r.status() == 303, "login failed: {}", r.status());
    }
    report("POST /login (serial)", &login_samples, None);

    // Codes for the exchange run, through the signed-in session (no password each time).
    let page = http.get(&authorize).send().await?.text().await?;
    post_login(&http, &base, &page, EMAIL, PASSWORD).await?;
    let mut codes = Vec::with_capacity(requests);
    let started = Instant::now();
    for _ in 0..requests {
        let r = http.get(&authorize).send().await?;
        let loc = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let code = reqwest::Url::parse(&loc)?
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| anyhow::anyhow!("no code in {loc}"))?;
        codes.push(code);
    }
    let per = started.elapsed() / requests as u32;
    println!(
        "{:<34} {:>9.0} {:>9.2}",
        "GET /authorize, signed in (serial)",
        1.0 / per.as_secs_f64(),
        per.as_secs_f64() * 1000.0
    );

    // Token endpoint: authorization_code, then refresh_token with the refresh tokens it gave.
    let client = reqwest::Client::new();
    let token = TokenEndpoint {
        client: client.clone(),
        url: format!("{base}/token"),
        secret: secret.clone(),
    };
    let forms = codes
        .iter()
        .map(|code| {
            vec![
                ("grant_type", "authorization_code".to_string()),
                ("code", code.clone()),
                ("redirect_uri", REDIRECT.to_string()),
                ("code_verifier", verifier.clone()),
            ]
        })
        .collect();
    let (samples, wall, bodies) = token.load(concurrency, forms).await?;
    report("POST /token (authorization_code)", &samples, Some(wall));
    let forms = bodies
        .iter()
        .filter_map(|b| b["refresh_token"].as_str())
        .map(|token| {
            vec![
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", token.to_string()),
            ]
        })
        .collect();
    let (samples, wall, bodies) = token.load(concurrency, forms).await?;
    report("POST /token (refresh_token)", &samples, Some(wall));

    // Userinfo.
    let access: Arc<Vec<String>> = Arc::new(
        bodies
            .iter()
            .filter_map(|b| b["access_token"].as_str().map(str::to_string))
            .collect(),
    );
    let (samples, wall, _) = load(concurrency, requests, {
        let client = client.clone();
        let base = base.clone();
        move |i| {
            let (client, base, access) = (client.clone(), base.clone(), access.clone());
            async move {
                let r = client
                    .get(format!("{base}/userinfo"))
                    .bearer_auth(&access[i])
                    .send()
                    .await?;
                anyhow::ensure!(r.status() == 200, "userinfo: {}", r.status());
                Ok(serde_json::Value::Null)
            }
        }
    })
    .await?;
    report("GET /userinfo", &samples, Some(wall));

    server.abort();
    store.close().await;
    Ok(())
}

/// `POST /token` as the confidential client `load` (client_secret_basic).
struct TokenEndpoint {
    client: reqwest::Client,
    url: String,
    secret: String,
}

impl TokenEndpoint {
    /// One request per form, on `concurrency` workers; each must answer 200. Latencies, wall
    /// time and the bodies in the forms' order.
    async fn load(
        &self,
        concurrency: usize,
        forms: Vec<Vec<(&'static str, String)>>,
    ) -> anyhow::Result<(Vec<Duration>, Duration, Vec<serde_json::Value>)> {
        let forms = Arc::new(forms);
        let (client, url, secret) = (self.client.clone(), self.url.clone(), self.secret.clone());
        load(concurrency, forms.len(), move |i| {
            let (client, url, secret, forms) =
                (client.clone(), url.clone(), secret.clone(), forms.clone());
            async move {
                let r = client
                    .post(url)
                    .basic_auth("load", Some(&secret))
                    .form(&forms[i])
                    .send()
                    .await?;
                let grant = &forms[i][0].1;
                anyhow::ensure!(r.status() == 200, "{grant}: {}", r.status());
                Ok(r.json::<serde_json::Value>().await?)
            }
        })
        .await
    }
}

async fn time_serial<F, Fut>(n: usize, mut op: F) -> anyhow::Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        op().await?;
        samples.push(start.elapsed());
    }
    Ok(samples)
}

/// Runs `requests` calls of `op(i)` on `concurrency` workers; returns latencies, wall time and
/// the bodies in call order.
async fn load<F, Fut>(
    concurrency: usize,
    requests: usize,
    op: F,
) -> anyhow::Result<(Vec<Duration>, Duration, Vec<serde_json::Value>)>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<serde_json::Value>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (next, op) = (next.clone(), op.clone());
        workers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let start = Instant::now();
                let body = op(i).await?;
                done.push((i, start.elapsed(), body));
            }
            anyhow::Ok(done)
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for w in workers {
        all.extend(w.await??);
    }
    let wall = started.elapsed();
    all.sort_by_key(|(i, _, _)| *i);
    let samples = all.iter().map(|(_, d, _)| *d).collect();
    let bodies = all.into_iter().map(|(_, _, b)| b).collect();
    Ok((samples, wall, bodies))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// A row of the table: the rate (calls over `wall` for a run on several workers, one over
/// the mean for a serial one), then the mean, p50 and p99 in ms.
fn report(name: &str, samples: &[Duration], wall: Option<Duration>) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let mean = samples.iter().sum::<Duration>().as_secs_f64() / samples.len() as f64;
    let rate = match wall {
        Some(wall) => samples.len() as f64 / wall.as_secs_f64(),
        None => 1.0 / mean,
    };
    println!(
        "{:<34} {:>9.0} {:>9.2} {:>9.2} {:>9.2}",
        name,
        rate,
        mean * 1000.0,
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.99)
    );
}

/// A PKCE pair (verifier, S256 challenge), as a client library makes it.
fn pkce() -> (String, String) {
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    (verifier.secret().clone(), challenge.as_str().to_string())
}
