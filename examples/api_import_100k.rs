//! Measures the admin API's bulk import as an AMS's nightly export uses it: 100,000 members in
//! 10 requests of 10,000 (JSON), while a member signs in through the provider's login page
//! five times a second; reports each request's time, the total, and the sign-in p50/p99 during
//! the import (the README reports the result):
//!
//! ```sh
//! cargo run --release --example api_import_100k                # SQLite
//! cargo run --release --example api_import_100k -- postgres://postgres@127.0.0.1:5432/postgres
//! cargo run --release --example api_import_100k -- 10 10000    # requests, members each
//! ```
//!
//! The server runs in this process (the same router, middleware and database code as
//! `guildgate serve`) on a free loopback port. With a PostgreSQL admin URL, a scratch database
//! is created and dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use guildgate::accounts::Role;
use guildgate::admin::api_tokens::{Scope, TokenGrant};
use guildgate::db::Store;
use guildgate::members::{Kind, MemberData};
use guildgate::oidc::clients::{ClientType, NewClient};
use guildgate::secrets::Pepper;
use serde_json::{json, Value};

#[path = "common/mod.rs"]
mod common;
use common::{
    add_chapter_field, browser, local_settings, percentile, serve_local, sign_in, Args, ScratchDb,
    SignIn, REDIRECT,
};

const PASSWORD: &str = "correct horse battery staple";
const SIGNER: &str = "signer@example.org";
/// A sign-in starts this often (5 a second, a busy morning's pace; each costs an argon2id
/// verification, so back to back they would take a core from the import).
const SIGN_IN_EVERY: Duration = Duration::from_millis(200);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (requests, per_request) = (args.number(0, 10), args.number(1, 10_000));
    ScratchDb::around(
        args.postgres.as_deref(),
        "apiimport",
        |url, dir| async move { run(&url, &dir, requests, per_request).await },
    )
    .await
}

async fn run(
    url: &str,
    root: &std::path::Path,
    requests: usize,
    per_request: usize,
) -> anyhow::Result<()> {
    let settings = local_settings(url, root)?;
    let store = Store::open(url, settings.max_connections)
        .await?
        .with_keys_dir(&settings.keys_dir);
    add_chapter_field(&store).await?;
    let signer = MemberData {
        kind: Kind::Person,
        first_name: Some("Sign".into()),
        last_name: Some("In".into()),
        email: Some(SIGNER.into()),
        ..Default::default()
    };
    store
        .add_member_with_account("bench", "SIGNER", signer, Some((SIGNER, Role::Member)))
        .await?;
    store.set_password("bench", "SIGNER", PASSWORD).await?;
    let pepper = Pepper::load_or_init(&store, &settings.keys_dir).await?;
    let mut client = NewClient::new("Bench", ClientType::Confidential, &[REDIRECT]);
    client.client_id = Some("bench".into());
    store.add_client("bench", &pepper, client).await?;
    let grant = TokenGrant {
        owner: None,
        name: "ams",
        scope: Scope::Write,
        lifetime_days: 1,
    };
    let token = store.create_api_token("bench", grant).await?.secret;

    let base = settings.issuer.clone();
    let server = serve_local(&settings, &store).await?;
    let http = browser()?;
    println!(
        "engine: {}; {requests} requests of {per_request} members",
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );

    // Sign-ins, one after another, for as long as the import runs.
    let importing = Arc::new(AtomicBool::new(true));
    let signing = {
        let (base, importing) = (base.clone(), importing.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0;
            while importing.load(Ordering::Relaxed) {
                let started = Instant::now();
                let next = started + SIGN_IN_EVERY;
                // The whole sign-in: the login page, then the form.
                match sign_in(&base, "bench", SIGNER, PASSWORD).await {
                    Ok(SignIn::Done(_)) => latencies.push(started.elapsed().as_secs_f64() * 1000.0),
                    _ => failures += 1,
                }
                tokio::time::sleep_until(next.into()).await;
            }
            latencies.sort_by(f64::total_cmp);
            (latencies, failures)
        })
    };

    let started = Instant::now();
    let mut report = Vec::new();
    for r in 0..requests {
        let body = json!({ "members": members(r * per_request, per_request) }).to_string();
        let size = body.len();
        let sent = Instant::now();
        let answer = http
            .post(format!("{base}/admin/api/members/import"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = answer.status();
        let answer: Value = answer.json().await?;
        anyhow::ensure!(status.is_success(), "request {r}: {status} {answer}");
        let took = sent.elapsed();
        println!(
            "request {:>2}: {:>6.2} s  {} KiB  created {}",
            r + 1,
            took.as_secs_f64(),
            size / 1024,
            answer["created"]
        );
        report.push(took);
    }
    let total = started.elapsed();
    importing.store(false, Ordering::Relaxed);
    let (latencies, failures) = signing.await?;
    println!(
        "total: {:.1} s ({:.0} members/s); slowest request {:.2} s",
        total.as_secs_f64(),
        (requests * per_request) as f64 / total.as_secs_f64(),
        report
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
    );
    println!(
        "sign-ins during the import: {} (failed {failures}), p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    server.abort();
    store.close().await;
    Ok(())
}

/// `n` members from number `first`: 2 % companies, the people in them, half of the people
/// with a user account, each person in a chapter (as `import_100k`).
fn members(first: usize, n: usize) -> Vec<Value> {
    const CHAPTERS: [&str; 4] = ["North", "South", "East", "West"];
    (first..first + n)
        .map(|i| {
            if i % 50 == 0 {
                return json!({"member_key": format!("C{i:06}"), "kind": "company",
                              "name": format!("Company {i}"), "member_type": "Corporate"});
            }
            let mut m = json!({
                "member_key": format!("P{i:06}"), "first_name": "Member",
                "last_name": format!("No{i}"), "email": format!("m{i}@example.org"),
                "company_key": format!("C{:06}", i - i % 50), "member_type": "Regular",
                "membership_status": "active", "member_since": "2020-01-01",
                "fields": {"chapter": CHAPTERS[i % 4]}
            });
            if i % 2 == 0 {
                m["account_email"] = json!(format!("m{i}@example.org"));
            }
            m
        })
        .collect()
}
