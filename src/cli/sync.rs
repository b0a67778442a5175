//! `guildgate sync ...`: run the Higher Logic sync once, see where it stands, retry parked
//! records.

use std::time::Duration;

use anyhow::bail;
use clap::Subcommand;

use super::{print_json, print_table};
use crate::db::Store;
use crate::higher_logic::worker::Worker;
use crate::settings::Settings;

#[derive(Subcommand)]
pub enum SyncCmd {
    /// Push everything that is due, then exit (waits for retries up to --timeout).
    Run {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        #[arg(long)]
        json: bool,
    },
    /// Where the sync stands: pending count, errors, and each synced group.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Queue again the contacts Higher Logic rejected.
    RetryParked,
}

fn rfc3339(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return String::new();
    };
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

pub async fn run(cmd: SyncCmd, settings: &Settings, store: &Store) -> anyhow::Result<()> {
    match cmd {
        SyncCmd::Run { timeout, json } => {
            let worker = Worker::new(store.clone(), settings.higher_logic.clone())?;
            let report = worker.drain(Duration::from_secs(timeout)).await?;
            if json {
                print_json(&report)?;
            } else {
                println!(
                    "pushed {} contacts, {} not pushed (no account or not synced), {} parked; \
                     {} still pending",
                    report.pushed, report.skipped, report.parked, report.remaining
                );
                if let Some(e) = &report.last_error {
                    println!("last error: {e}");
                }
            }
            if !report.complete {
                bail!(
                    "the sync did not finish: {} contacts still pending",
                    report.remaining
                );
            }
            Ok(())
        }
        SyncCmd::Status { json } => {
            let status = store.hl_status().await?;
            if json {
                return print_json(&status);
            }
            println!(
                "Higher Logic: {}; {} pending, {} parked{}",
                if status.configured {
                    "configured"
                } else {
                    "NOT configured (guildgate hl settings)"
                },
                status.pending + status.fanouts_pending,
                status.parked,
                match status.paused_until {
                    Some(t) => format!("; paused until {}", rfc3339(Some(t))),
                    None => String::new(),
                }
            );
            if let (Some(e), Some(_)) = (&status.last_error, status.paused_until) {
                println!("last error: {e}");
            }
            let rows = status
                .groups
                .iter()
                .map(|g| {
                    let state = match g.state.as_str() {
                        "up_to_date" => {
                            format!("up to date as of {}", rfc3339(g.up_to_date_as_of))
                        }
                        "pending" => format!("{} pending", g.pending),
                        "error" => format!(
                            "{} pending, {} parked; error: {}{}",
                            g.pending,
                            g.parked,
                            g.last_error.clone().unwrap_or_default(),
                            match g.next_attempt_at {
                                Some(t) => format!("; next attempt {}", rfc3339(Some(t))),
                                None => String::new(),
                            }
                        ),
                        other => other.to_string(),
                    };
                    vec![
                        g.group_key.clone(),
                        g.name.clone(),
                        g.group_type.clone(),
                        g.with_account.to_string(),
                        g.without_account.to_string(),
                        state,
                    ]
                })
                .collect();
            print_table(
                &["group", "name", "type", "synced", "no account", "status"],
                rows,
            );
            Ok(())
        }
        SyncCmd::RetryParked => {
            let n = store.hl_retry_parked().await?;
            println!("{n} parked contacts queued again");
            Ok(())
        }
    }
}
