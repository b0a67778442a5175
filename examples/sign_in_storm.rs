//! A sign-in storm against `guildgate serve` running as its own process: 64 concurrent sign-ins
//! through the provider's login page for 30 s, then 256 for 10 s, as the morning an association
//! mails its members "our community is open". Reports sign-ins per second, p50/p99, how many
//! were shed with 503, and the server's peak resident memory (VmHWM from /proc), beside the
//! rate the hashing pool should reach (cores / one argon2id verification), measured in the same
//! run. The README reports the result:
//!
//! ```sh
//! cargo build --release && cargo run --release --example sign_in_storm            # SQLite
//! cargo run --release --example sign_in_storm -- postgres://postgres@127.0.0.1:5432/postgres
//! cargo run --release --example sign_in_storm -- 64 30 256 10     # concurrency, seconds, ...
//! ```
//!
//! The server binary is the `guildgate` beside this example's folder (`target/release/`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use guildgate::accounts::Role;
use guildgate::db::Store;
use guildgate::members::{Kind, MemberData};
use guildgate::oidc::clients::{ClientType, NewClient};
use guildgate::passwords::{HashPool, PasswordSettings};
use guildgate::secrets::Pepper;

#[path = "common/mod.rs"]
mod common;
use common::{percentile, sign_in, Args, ScratchDb, REDIRECT};

const PASSWORD: &str = "correct horse battery staple";
const MEMBERS: usize = 200;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args { postgres, numbers } = Args::parse();
    let phases: Vec<(usize, u64)> = if numbers.len() >= 2 {
        numbers
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| (c[0] as usize, c[1]))
            .collect()
    } else {
        vec![(64, 30), (256, 10)]
    };
    ScratchDb::around(postgres.as_deref(), "storm", |url, dir| async move {
        run(&url, &dir, &phases).await
    })
    .await
}

/// The server binary built beside the examples (`target/<profile>/guildgate`).
fn server_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .ok_or_else(|| anyhow::anyhow!("no target folder above {}", exe.display()))?;
    let binary = dir.join("guildgate");
    anyhow::ensure!(
        binary.is_file(),
        "{} is missing: run `cargo build --release` first",
        binary.display()
    );
    Ok(binary)
}

/// `VmHWM` and `VmRSS` of a process, in MB.
fn memory_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

async fn run(url: &str, root: &std::path::Path, phases: &[(usize, u64)]) -> anyhow::Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let keys = root.join("keys");
    let store = Store::open(url, 4).await?.with_keys_dir(&keys);
    for n in 0..MEMBERS {
        let key = format!("M-{n}");
        let email = format!("m{n}@example.org");
        let data = MemberData {
            kind: Kind::Person,
            first_name: Some("Storm".into()),
            last_name: Some(format!("{n}")),
            email: Some(email.clone()),
            ..Default::default()
        };
        store
            .add_member_with_account("storm", &key, data, Some((&email, Role::Member)))
            .await?;
        store.set_password("storm", &key, PASSWORD).await?;
    }
    let pepper = Pepper::load_or_init(&store, &keys).await?;
    let mut new = NewClient::new("Storm", ClientType::Confidential, &[REDIRECT]);
    new.client_id = Some("storm".into());
    store.add_client("storm", &pepper, new).await?;

    // The floor: one argon2id verification, one at a time, in a pool of one thread.
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
    let floor = cores as f64 * 1000.0 / verify_ms;
    drop(pool);
    store.close().await;

    let mut server: Child = Command::new(server_binary()?)
        .arg("serve")
        .env("GUILDGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("GUILDGATE_ISSUER", &base)
        .env("GUILDGATE_DATABASE_URL", url)
        .env("GUILDGATE_DATA_DIR", root.join("data"))
        .env("GUILDGATE_KEYS_DIR", &keys)
        .env("GUILDGATE_HIGHER_LOGIC__WORKER", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = server.id();
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("{base}/readyz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, idle_rss) = memory_mb(pid);
    println!(
        "argon2id verify {verify_ms:.1} ms, {cores} cores: floor {floor:.0} sign-ins/s; \
         server idle {idle_rss:.0} MB"
    );
    println!("| concurrent | seconds | sign-ins/s | of floor | p50 ms | p99 ms | shed (503) | errors | peak RSS (VmHWM) MB |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for &(concurrency, seconds) in phases {
        let outcome = storm(&base, concurrency, Duration::from_secs(seconds)).await;
        let (hwm, _) = memory_mb(pid);
        let rate = outcome.latencies.len() as f64 / seconds as f64;
        println!(
            "| {concurrency} | {seconds} | {rate:.0} | {:.0} % | {:.0} | {:.0} | {} | {} | {hwm:.0} |",
            100.0 * rate / floor,
            percentile(&outcome.latencies, 0.50),
            percentile(&outcome.latencies, 0.99),
            outcome.shed,
            outcome.errors,
        );
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (hwm, rss) = memory_mb(pid);
    println!("after the storm (8 s quiet): RSS {rss:.0} MB (peak {hwm:.0} MB)");
    let _ = server.kill();
    let _ = server.wait();
    Ok(())
}

#[derive(Default)]
struct Outcome {
    /// Successful sign-ins: milliseconds from the form's POST to the redirect.
    latencies: Vec<f64>,
    shed: usize,
    errors: usize,
}

/// `concurrency` browsers signing in one after another until `length` has passed.
async fn storm(base: &str, concurrency: usize, length: Duration) -> Outcome {
    let until = Instant::now() + length;
    let total = Arc::new(std::sync::Mutex::new(Outcome::default()));
    let mut browsers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let base = base.to_string();
        let total = total.clone();
        browsers.spawn(async move {
            let mut n = worker;
            while Instant::now() < until {
                let email = format!("m{}@example.org", n % MEMBERS);
                n += concurrency;
                let answer = sign_in(&base, "storm", &email, PASSWORD).await;
                let Ok(mut t) = total.lock() else { return };
                match answer {
                    Ok(Some(ms)) => t.latencies.push(ms),
                    Ok(None) => t.shed += 1,
                    Err(_) => t.errors += 1,
                }
            }
        });
    }
    browsers.join_all().await;
    let mut outcome = std::mem::take(&mut *total.lock().unwrap_or_else(|e| e.into_inner()));
    outcome.latencies.sort_by(f64::total_cmp);
    outcome
}
