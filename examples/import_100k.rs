//! Measures the CSV import of 100,000 members (the README reports the result):
//!
//! ```sh
//! cargo run --release --example import_100k                # SQLite
//! cargo run --release --example import_100k -- postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! With a PostgreSQL admin URL, a scratch database is created and dropped. An optional second
//! argument sets the number of members.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use guildgate::db::Store;
use guildgate::import::ImportReport;

#[path = "common/mod.rs"]
mod common;
use common::{add_chapter_field, Args, ScratchDb};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (postgres, count) = (args.postgres.clone(), args.number(0, 100_000));

    let scratch = ScratchDb::create(postgres.as_deref(), "bench").await?;
    let url = scratch.url.as_str();

    let store = Store::open(url, 4).await?;
    add_chapter_field(&store).await?;
    let csv = generate(count);
    println!(
        "engine: {}; members: {count} ({} KiB of CSV)",
        if postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        csv.len() / 1024
    );

    let (report, first) = timed_import(&store, &csv).await?;
    println!(
        "first import:  {:>7.2} s  ({} created, {} accounts)  {:.0} rows/s",
        first.as_secs_f64(),
        report.created,
        report.accounts_created,
        count as f64 / first.as_secs_f64()
    );

    let (report, again) = timed_import(&store, &csv).await?;
    println!(
        "re-import:     {:>7.2} s  ({} unchanged)",
        again.as_secs_f64(),
        report.unchanged
    );

    store.close().await;
    scratch.remove().await?;
    Ok(())
}

/// `count` rows: one company per 50 people, half of the people with a user account.
fn generate(count: usize) -> String {
    let mut csv = String::from(
        "member_key,kind,first_name,last_name,name,email,company_key,member_type,\
         membership_status,member_since,account_email,field.chapter\n",
    );
    let chapters = ["North", "South", "East", "West"];
    for i in 0..count {
        if i % 50 == 0 {
            let _ = writeln!(
                csv,
                "C{i:07},company,,,Company {i},office{i}@example.org,,Corporate,active,2020-01-01,,"
            );
        } else {
            let account = if i % 2 == 0 {
                format!("m{i}@example.org")
            } else {
                String::new()
            };
            let _ = writeln!(
                csv,
                "M{i:07},person,First{i},Last{i},,m{i}@example.org,C{:07},Regular,active,2021-05-01,{account},{}",
                i / 50 * 50,
                chapters[i % 4]
            );
        }
    }
    csv
}

/// Imports `csv`; the report and how long it took.
async fn timed_import(store: &Store, csv: &str) -> anyhow::Result<(ImportReport, Duration)> {
    let started = Instant::now();
    let report = store.import_csv("bench", csv.as_bytes(), false).await?;
    Ok((report, started.elapsed()))
}
