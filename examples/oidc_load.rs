//! One run that loads the provider as an association's busy morning does, against
//! `guildgate serve` running as its own process, next to the bare costs it should be bound by,
//! measured in the same run so that the noise of a shared machine cancels in the ratios:
//!
//! - a bare RS256 signature and a bare argon2id verification, one at a time, in this process,
//!   measured again just before each row (the machine's other tenants come and go);
//! - `POST /token` (code exchange with PKCE, then refresh rotation), `GET /userinfo` and
//!   `POST /introspect`, 8 and then 32 at a time, as ratios to the signature rate;
//! - a sign-in storm through the provider's login page (64 concurrent for 30 s, then 256 for
//!   10 s): sign-ins per second against the floor (cores / one argon2id verification) and
//!   against the parallel floor (cores / one verification while every core verifies), p50/p99,
//!   how many were shed with 503 (a member shed tries again after the `Retry-After` given, as
//!   the page asks), the server's and this client's CPU per sign-in, and the server's peak
//!   resident memory (VmHWM from /proc);
//!   then its resident memory after 8 quiet seconds.
//!
//! ```sh
//! cargo build --release && cargo run --release --example oidc_load                 # SQLite
//! cargo run --release --example oidc_load -- postgres://postgres@127.0.0.1:5432/postgres
//! cargo run --release --example oidc_load -- 2000 30 10   # requests per token run, storm seconds
//! ```
//!
//! The server binary is the `guildgate` beside this example's folder (`target/release/`). With
//! a PostgreSQL admin URL, a scratch database is created and dropped. The README reports the
//! result.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use guildgate::accounts::Role;
use guildgate::db::Store;
use guildgate::members::{Kind, MemberData};
use guildgate::oidc::clients::{ClientType, NewClient};
use guildgate::oidc::keys::{Alg, KeyRing};
use guildgate::passwords::{HashPool, PasswordSettings};
use serde_json::Value;

#[path = "common/mod.rs"]
mod common;
use common::{
    browser, cpu_seconds, local_settings, percentile, post_login, sign_in_with, Args, ScratchDb,
    ServerProcess, SignIn, REDIRECT,
};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::HeaderValue;

const PASSWORD: &str = "correct horse battery staple";
/// Members signing in during the storm (each with its own browser, one after another).
const MEMBERS: usize = 200;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = Plan {
        requests: args.number(0, 2000),
        storm: vec![
            (64, args.number(1, 30) as u64),
            (256, args.number(2, 10) as u64),
        ],
    };
    ScratchDb::around(args.postgres.as_deref(), "load", |url, dir| async move {
        run(&url, &dir, &plan).await
    })
    .await
}

struct Plan {
    /// Requests per token, userinfo and introspection run.
    requests: usize,
    /// The storm's phases: concurrent sign-ins, seconds.
    storm: Vec<(usize, u64)>,
}

/// The bare costs the endpoints are compared with.
struct Floors {
    /// RS256 signatures per second, one thread.
    signatures_per_s: f64,
    /// One argon2id verification, ms.
    verify_ms: f64,
    /// One argon2id verification while every core runs one, ms: the cores share the memory
    /// bus and caches that argon2id's 19 MiB lives in.
    parallel_verify_ms: f64,
    cores: usize,
}

async fn run(url: &str, root: &std::path::Path, plan: &Plan) -> anyhow::Result<()> {
    let settings = local_settings(url, root)?;
    let base = settings.issuer.clone();
    let store = Store::open(url, 4).await?.with_keys_dir(&settings.keys_dir);
    for n in 0..MEMBERS {
        let (key, email) = (format!("M-{n}"), format!("m{n}@example.org"));
        let data = MemberData {
            kind: Kind::Person,
            first_name: Some("Load".into()),
            last_name: Some(format!("{n}")),
            email: Some(email.clone()),
            ..Default::default()
        };
        store
            .add_member_with_account("load", &key, data, Some((&email, Role::Member)))
            .await?;
        store.set_password("load", &key, PASSWORD).await?;
    }
    // The key ring the server will load: the signature measured is the one it makes.
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
    // The floors are measured again just before each row: the machine is shared, and its
    // other tenants come and go within a run.
    let first = floors(&ring, &base).await?;

    let server = ServerProcess::start(&settings).await?;
    let (_, idle) = server.memory_mb();
    println!(
        "engine: {}; {} cores; RS256 signature {:.0}/s (one thread); argon2id verification \
         {:.1} ms: sign-in floor {:.0}/s; {:.1} ms with every core verifying: parallel floor \
         {:.0}/s; server idle {idle:.0} MB, {} threads",
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        first.cores,
        first.signatures_per_s,
        first.verify_ms,
        first.sign_in_floor(),
        first.parallel_verify_ms,
        first.parallel_sign_in_floor(),
        server.threads(),
    );

    println!();
    println!("| operation | concurrent | ops/s | RS256 signatures/s just before | × RS256 signature | p50 ms | p99 ms | server CPU ms/op | client CPU ms/op | server peak RSS MB |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let tokens = TokenEndpoints {
        client: reqwest::Client::new(),
        base: base.clone(),
        secret,
        server: server.pid(),
    };
    // One signed-in browser gives the codes (no password each time).
    let http = browser()?;
    let (verifier, challenge) = pkce();
    let authorize = format!(
        "{base}/authorize?client_id=load&redirect_uri={}&response_type=code&scope=openid%20profile\
         &code_challenge={challenge}&code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let page = http.get(&authorize).send().await?.text().await?;
    let (answer, _) = post_login(&http, &base, &page, "m0@example.org", PASSWORD).await?;
    anyhow::ensure!(
        answer.status() == 303,
        "sign-in failed: {}",
        answer.status()
    );
    for concurrency in [8, 32] {
        let codes = codes(&http, &authorize, plan.requests, server.pid()).await?;
        let row = |name: &str, run: &Run, signatures_per_s: f64| {
            let per_op = |seconds: f64| 1000.0 * seconds / run.latencies.len() as f64;
            println!(
                "| {name} | {concurrency} | {:.0} | {signatures_per_s:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} |",
                run.rate(),
                run.rate() / signatures_per_s,
                percentile(&run.sorted_ms(), 0.5),
                percentile(&run.sorted_ms(), 0.99),
                per_op(run.server_cpu),
                per_op(run.client_cpu),
                server.memory_mb().0,
            )
        };
        let forms = codes
            .into_iter()
            .map(|code| {
                vec![
                    ("grant_type", "authorization_code".to_string()),
                    ("code", code),
                    ("redirect_uri", REDIRECT.to_string()),
                    ("code_verifier", verifier.clone()),
                ]
            })
            .collect();
        let signatures_per_s = signature_rate(&ring, &base).await?;
        let exchanged = tokens.post("token", concurrency, forms).await?;
        row(
            "`POST /token` authorization_code",
            &exchanged,
            signatures_per_s,
        );
        let forms = exchanged
            .bodies
            .iter()
            .filter_map(|b| b["refresh_token"].as_str())
            .map(|token| {
                vec![
                    ("grant_type", "refresh_token".to_string()),
                    ("refresh_token", token.to_string()),
                ]
            })
            .collect();
        let signatures_per_s = signature_rate(&ring, &base).await?;
        let refreshed = tokens.post("token", concurrency, forms).await?;
        row("`POST /token` refresh_token", &refreshed, signatures_per_s);
        let access: Vec<String> = refreshed
            .bodies
            .iter()
            .filter_map(|b| b["access_token"].as_str().map(str::to_string))
            .collect();
        let signatures_per_s = signature_rate(&ring, &base).await?;
        row(
            "`GET /userinfo`",
            &tokens.userinfo(concurrency, access.clone()).await?,
            signatures_per_s,
        );
        let forms = access
            .into_iter()
            .map(|token| vec![("token", token)])
            .collect();
        let signatures_per_s = signature_rate(&ring, &base).await?;
        row(
            "`POST /introspect`",
            &tokens.post("introspect", concurrency, forms).await?,
            signatures_per_s,
        );
    }

    println!();
    println!("| sign-in storm: concurrent | seconds | floor just before /s | sign-ins/s | of floor | parallel floor just before /s | of parallel floor | p50 ms | p99 ms | shed (503) | errors | server CPU ms/sign-in | client CPU ms/sign-in | server peak RSS MB | threads |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for &(concurrency, seconds) in &plan.storm {
        let floors = floors(&ring, &base).await?;
        let (server_before, client_before) =
            (server.cpu_seconds(), cpu_seconds(std::process::id()));
        let outcome = storm(&base, concurrency, Duration::from_secs(seconds)).await;
        let signed_in = outcome.latencies.len().max(1) as f64;
        let per_sign_in = |before: f64, after: f64| 1000.0 * (after - before) / signed_in;
        let rate = outcome.latencies.len() as f64 / seconds as f64;
        println!(
            "| {concurrency} | {seconds} | {:.0} | {rate:.0} | {:.0} % | {:.0} | {:.0} % | {:.0} | {:.0} | {} | {} | {:.1} | {:.1} | {:.0} | {} |",
            floors.sign_in_floor(),
            100.0 * rate / floors.sign_in_floor(),
            floors.parallel_sign_in_floor(),
            100.0 * rate / floors.parallel_sign_in_floor(),
            percentile(&outcome.latencies, 0.50),
            percentile(&outcome.latencies, 0.99),
            outcome.shed,
            outcome.errors,
            per_sign_in(server_before, server.cpu_seconds()),
            per_sign_in(client_before, cpu_seconds(std::process::id())),
            server.memory_mb().0,
            server.threads(),
        );
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (peak, now) = server.memory_mb();
    println!();
    println!("after 8 quiet seconds: RSS {now:.0} MB (peak of the run {peak:.0} MB)");
    store.close().await;
    Ok(())
}

impl Floors {
    /// Sign-ins per second the hashing pool should reach: cores / one verification.
    fn sign_in_floor(&self) -> f64 {
        self.cores as f64 * 1000.0 / self.verify_ms
    }

    /// The same with the verification time measured with every core verifying at once.
    fn parallel_sign_in_floor(&self) -> f64 {
        self.cores as f64 * 1000.0 / self.parallel_verify_ms
    }
}

/// The bare RS256 signature rate (500 signatures, one thread), one argon2id verification (20,
/// in a pool of one worker), and one while every core verifies (20 rounds of one per core).
async fn floors(ring: &KeyRing, issuer: &str) -> anyhow::Result<Floors> {
    let signatures_per_s = signature_rate(ring, issuer).await?;
    let pool = HashPool::new(&PasswordSettings {
        hash_workers: 1,
        ..Default::default()
    });
    let hash = pool
        .hash(PASSWORD.into())
        .await
        .map_err(anyhow::Error::msg)?
        .map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    for _ in 0..20 {
        pool.verify(PASSWORD.into(), Some(hash.clone()))
            .await
            .map_err(anyhow::Error::msg)?;
    }
    let verify_ms = started.elapsed().as_secs_f64() * 1000.0 / 20.0;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pool = HashPool::new(&PasswordSettings {
        hash_workers: cores,
        ..Default::default()
    });
    let started = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        let mut all = tokio::task::JoinSet::new();
        for _ in 0..cores {
            let (pool, hash) = (pool.clone(), hash.clone());
            all.spawn(async move { pool.verify(PASSWORD.into(), Some(hash)).await });
        }
        for verified in all.join_all().await {
            verified.map_err(anyhow::Error::msg)?;
        }
    }
    Ok(Floors {
        signatures_per_s,
        verify_ms,
        parallel_verify_ms: started.elapsed().as_secs_f64() * 1000.0 / rounds as f64,
        cores,
    })
}

/// RS256 signatures per second by the key ring the server loads (500, one thread), over the
/// claims of an ID token.
async fn signature_rate(ring: &KeyRing, issuer: &str) -> anyhow::Result<f64> {
    let claims = serde_json::json!({
        "iss": issuer, "sub": "M-0", "aud": "load", "exp": 4_000_000_000u64, "iat": 1,
        "auth_time": 1, "at_hash": "Wra6ZQT6J-7Z-EB0S14Kog", "name": "Load 0",
    });
    ring.sign(Alg::RS256, &claims).await?;
    let started = Instant::now();
    for _ in 0..500 {
        ring.sign(Alg::RS256, &claims).await?;
    }
    Ok(500.0 / started.elapsed().as_secs_f64())
}

/// `n` codes through the signed-in browser, 4 at a time.
async fn codes(
    http: &reqwest::Client,
    authorize: &str,
    n: usize,
    server: u32,
) -> anyhow::Result<Vec<String>> {
    let run = load(server, 4, n, {
        let (http, authorize) = (http.clone(), authorize.to_string());
        move |_| {
            let (http, authorize) = (http.clone(), authorize.clone());
            async move {
                let r = http.get(&authorize).send().await?;
                let location = r
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let code = reqwest::Url::parse(location)?
                    .query_pairs()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
                    .ok_or_else(|| anyhow::anyhow!("no code in {location}"))?;
                Ok(Value::String(code))
            }
        }
    })
    .await?;
    Ok(run
        .bodies
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect())
}

/// The confidential client `load` at the token and introspection endpoints
/// (client_secret_basic), and its access tokens at userinfo.
struct TokenEndpoints {
    client: reqwest::Client,
    base: String,
    secret: String,
    /// The server's process id, for the CPU it spends.
    server: u32,
}

impl TokenEndpoints {
    /// One `POST /{path}` per form, on `concurrency` workers; each must answer 200.
    async fn post(
        &self,
        path: &str,
        concurrency: usize,
        forms: Vec<Vec<(&'static str, String)>>,
    ) -> anyhow::Result<Run> {
        let forms = Arc::new(forms);
        let url = format!("{}/{path}", self.base);
        let (client, secret) = (self.client.clone(), self.secret.clone());
        load(self.server, concurrency, forms.len(), move |i| {
            let (client, url, secret, forms) =
                (client.clone(), url.clone(), secret.clone(), forms.clone());
            async move {
                let r = client
                    .post(&url)
                    .basic_auth("load", Some(&secret))
                    .form(&forms[i])
                    .send()
                    .await?;
                anyhow::ensure!(r.status() == 200, "{url}: {}", r.status());
                let body = r.json::<Value>().await?;
                anyhow::ensure!(body.get("active") != Some(&Value::Bool(false)), "inactive");
                Ok(body)
            }
        })
        .await
    }

    async fn userinfo(&self, concurrency: usize, access: Vec<String>) -> anyhow::Result<Run> {
        let access = Arc::new(access);
        let url = format!("{}/userinfo", self.base);
        let client = self.client.clone();
        load(self.server, concurrency, access.len(), move |i| {
            let (client, url, access) = (client.clone(), url.clone(), access.clone());
            async move {
                let r = client.get(&url).bearer_auth(&access[i]).send().await?;
                anyhow::ensure!(r.status() == 200, "userinfo: {}", r.status());
                Ok(Value::Null)
            }
        })
        .await
    }
}

/// What a run on several workers gave: latencies and bodies in call order, its wall time, and
/// the CPU seconds the server and this load client spent on it.
struct Run {
    latencies: Vec<Duration>,
    bodies: Vec<Value>,
    wall: Duration,
    server_cpu: f64,
    client_cpu: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    fn sorted_ms(&self) -> Vec<f64> {
        let mut ms: Vec<f64> = self
            .latencies
            .iter()
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        ms
    }
}

/// Runs `requests` calls of `op(i)` on `concurrency` workers, against the server process
/// `server`.
async fn load<F, Fut>(
    server: u32,
    concurrency: usize,
    requests: usize,
    op: F,
) -> anyhow::Result<Run>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Value>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let (server_before, client_before) = (cpu_seconds(server), cpu_seconds(std::process::id()));
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
    let server_cpu = cpu_seconds(server) - server_before;
    let client_cpu = cpu_seconds(std::process::id()) - client_before;
    all.sort_by_key(|(i, _, _)| *i);
    let (latencies, bodies) = all.into_iter().map(|(_, d, b)| (d, b)).unzip();
    Ok(Run {
        latencies,
        bodies,
        wall,
        server_cpu,
        client_cpu,
    })
}

#[derive(Default)]
struct Outcome {
    /// Successful sign-ins: milliseconds from the form's POST to the redirect.
    latencies: Vec<f64>,
    shed: usize,
    errors: usize,
}

/// A browser's cookies, emptied before each sign-in: a storm worker keeps one HTTP client and
/// its connection, as a browser does, and comes as a new visitor every time.
#[derive(Default)]
struct FreshJar(std::sync::RwLock<Arc<Jar>>);

impl FreshJar {
    fn clear(&self) {
        if let Ok(mut jar) = self.0.write() {
            *jar = Arc::default();
        }
    }

    fn jar(&self) -> Arc<Jar> {
        self.0.read().map(|jar| jar.clone()).unwrap_or_default()
    }
}

impl CookieStore for FreshJar {
    fn set_cookies(&self, headers: &mut dyn Iterator<Item = &HeaderValue>, url: &reqwest::Url) {
        self.jar().set_cookies(headers, url)
    }

    fn cookies(&self, url: &reqwest::Url) -> Option<HeaderValue> {
        self.jar().cookies(url)
    }
}

/// `concurrency` members signing in one after another until `length` has passed, each through
/// the login page in a fresh visit. A member shown "Too many sign-ins right now" (503) tries
/// again after the `Retry-After` it was given, as the page asks.
async fn storm(base: &str, concurrency: usize, length: Duration) -> Outcome {
    let until = Instant::now() + length;
    let total = Arc::new(std::sync::Mutex::new(Outcome::default()));
    let mut browsers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let base = base.to_string();
        let total = total.clone();
        browsers.spawn(async move {
            let jar = Arc::new(FreshJar::default());
            let Ok(browser) = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_provider(jar.clone())
                .build()
            else {
                return;
            };
            let mut n = worker;
            while Instant::now() < until {
                let email = format!("m{}@example.org", n % MEMBERS);
                n += concurrency;
                jar.clear();
                let answer = sign_in_with(&browser, &base, "load", &email, PASSWORD).await;
                let retry_after = {
                    let Ok(mut t) = total.lock() else { return };
                    match answer {
                        Ok(SignIn::Done(ms)) => {
                            t.latencies.push(ms);
                            None
                        }
                        Ok(SignIn::Shed(wait)) => {
                            t.shed += 1;
                            Some(wait)
                        }
                        Err(_) => {
                            t.errors += 1;
                            None
                        }
                    }
                };
                if let Some(wait) = retry_after {
                    tokio::time::sleep(wait.min(until.saturating_duration_since(Instant::now())))
                        .await;
                }
            }
        });
    }
    browsers.join_all().await;
    let mut outcome = std::mem::take(&mut *total.lock().unwrap_or_else(|e| e.into_inner()));
    outcome.latencies.sort_by(f64::total_cmp);
    outcome
}

/// A PKCE pair (verifier, S256 challenge), as a client library makes it.
fn pkce() -> (String, String) {
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    (verifier.secret().clone(), challenge.as_str().to_string())
}
