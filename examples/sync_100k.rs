//! Measures the Higher Logic sync against the Push API double (the README reports the result):
//! the first full sync of 100,000 members into one group, then the time from a committed
//! change to its arrival at the double while the engine is otherwise idle.
//!
//! ```sh
//! cargo run --release --example sync_100k                # SQLite
//! cargo run --release --example sync_100k -- postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! With a PostgreSQL admin URL, a scratch database is created and dropped. An optional number
//! sets the member count. The worker runs with the default `[higher_logic]` settings (batch
//! 100, poll 200 ms).

#[path = "../tests/e2e/support/hl_double.rs"]
mod hl_double;

use std::time::{Duration, Instant};

use guildgate::db::{new_id, now_ms, Store};
use guildgate::groups::{Condition, Selection};
use guildgate::higher_logic::settings::SettingsUpdate;
use guildgate::higher_logic::worker::{SyncSettings, Worker};
use guildgate::higher_logic::GroupType;

#[path = "common/mod.rs"]
mod common;
use common::{Args, ScratchDb};

const TENANT: &str = "BENCH";
const KEY: &str = "bench-api-key-0123456789";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (postgres, count) = (args.postgres.clone(), args.number(0, 100_000));

    let scratch = ScratchDb::create(postgres.as_deref(), "bench").await?;
    let (url, dir) = (scratch.url.as_str(), &scratch.dir);
    let store = Store::open(url, 10)
        .await?
        .with_keys_dir(dir.path().join("keys"));
    let double = hl_double::HlDouble::start(TENANT, KEY).await;
    store
        .save_hl_settings(
            "bench",
            SettingsUpdate {
                tenant_code: Some(TENANT.into()),
                api_key: Some(KEY.into()),
                base_url: Some(double.base_url.clone()),
                ..Default::default()
            },
        )
        .await?;

    let started = Instant::now();
    seed(&store, count).await?;
    println!(
        "engine: {:?}; seeded {count} members with accounts in {:.1} s",
        store.engine(),
        started.elapsed().as_secs_f64()
    );

    store
        .add_group(
            "bench",
            Some("all-regular"),
            "All regular members",
            Selection::Conditions(vec![
                Condition::parse("member_type=Regular").map_err(anyhow::Error::msg)?
            ]),
        )
        .await?;
    let cfg = SyncSettings::default();
    let worker = Worker::new(store.clone(), cfg.clone())?;
    let started = Instant::now();
    store
        .set_group_sync("bench", "all-regular", true, Some(GroupType::Community))
        .await?;
    let report = worker.drain(Duration::from_secs(1800)).await?;
    let first_sync = started.elapsed();
    let in_double = double.with(|s| s.members_of("all-regular").len());
    println!(
        "first sync: {} contacts pushed in {:.1} s ({:.0} contacts/s); double holds {in_double} \
         members in the community; {} requests; complete: {}",
        report.pushed,
        first_sync.as_secs_f64(),
        report.pushed as f64 / first_sync.as_secs_f64(),
        double.with(|s| s.requests),
        report.complete
    );
    assert_eq!(in_double, count, "every member arrived");

    // Change -> arrival latency with the worker running as in `serve`.
    let (stop, task) = guildgate::higher_logic::worker::spawn(store.clone(), cfg)?;
    let mut latencies = Vec::new();
    for i in 0..200 {
        let key = format!("M{:07}", (i * 7919) % count);
        let mut data = store.member(&key).await?.data;
        let name = format!("Changed{i}");
        data.first_name = Some(name.clone());
        let t = Instant::now();
        store.update_member("bench", &key, data).await?;
        loop {
            if double.with(|s| s.detail(&key, "FirstName").as_deref() == Some(name.as_str())) {
                break;
            }
            if t.elapsed() > Duration::from_secs(30) {
                anyhow::bail!("change {i} did not arrive");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        latencies.push(t.elapsed());
        // Idle between changes, at varying phases of the poll.
        tokio::time::sleep(Duration::from_millis(50 + (i as u64 * 37) % 200)).await;
    }
    let _ = stop.send(true);
    let _ = task.await;
    latencies.sort();
    let pick = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "change -> double latency over {} changes: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        latencies.len(),
        pick(0.50).as_secs_f64() * 1000.0,
        pick(0.95).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );

    store.close().await;
    scratch.remove().await?;
    Ok(())
}

/// `count` people, each with a user account, inserted in bulk (the import is measured by
/// `import_100k`; this measures the sync).
async fn seed(store: &Store, count: usize) -> anyhow::Result<()> {
    let now = now_ms();
    for chunk_start in (0..count).step_by(500) {
        let end = (chunk_start + 500).min(count);
        let mut tx = store.begin().await?;
        let mut members = Vec::new();
        let mut accounts = Vec::new();
        let mut ids = Vec::new();
        for (n, _) in (chunk_start..end).enumerate() {
            let b = n * 6;
            members.push(format!(
                "(${}, ${}, 'person', ${}, ${}, ${}, 'Regular', 'active', '2021-05-01', ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 6
            ));
            ids.push(new_id());
        }
        let sql = format!(
            "INSERT INTO members (id, member_key, kind, first_name, last_name, email, member_type, \
             membership_status, member_since, created_at, updated_at) VALUES {}",
            members.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for (n, i) in (chunk_start..end).enumerate() {
            q = q
                .bind(ids[n].clone())
                .bind(format!("M{i:07}"))
                .bind(format!("First{i}"))
                .bind(format!("Last{i}"))
                .bind(format!("m{i}@example.org"))
                .bind(now);
        }
        q.execute(&mut *tx).await?;
        for (n, _) in (chunk_start..end).enumerate() {
            let b = n * 4;
            accounts.push(format!(
                "(${}, ${}, ${}, 'active', 'member', ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 4
            ));
        }
        let sql = format!(
            "INSERT INTO accounts (id, member_id, login_email, state, role, created_at, updated_at) \
             VALUES {}",
            accounts.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for (n, i) in (chunk_start..end).enumerate() {
            q = q
                .bind(new_id())
                .bind(ids[n].clone())
                .bind(format!("m{i}@example.org"))
                .bind(now);
        }
        q.execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(())
}
