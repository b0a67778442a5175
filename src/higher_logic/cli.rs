//! `guildgate hl`, `guildgate sync` and `guildgate group sync`: the sync from the command line.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{ArgGroup, Args, Subcommand};

use super::settings::SettingsUpdate;
use super::worker::Worker;
use super::GroupType;
use crate::cli::{print_json, print_table};
use crate::db::Store;
use crate::settings::Settings;

#[derive(Subcommand)]
pub enum HlCmd {
    /// Show or change the integration settings (the API key is only ever shown masked).
    Settings(SettingsArgs),
}

#[derive(Args)]
#[command(group(ArgGroup::new("key").args(["api_key_file", "api_key_stdin"])))]
pub struct SettingsArgs {
    /// The tenant code Higher Logic gave.
    #[arg(long)]
    tenant_code: Option<String>,
    /// Read the API key from this file (keeps it out of the shell history).
    #[arg(long)]
    api_key_file: Option<PathBuf>,
    /// Read the API key from standard input.
    #[arg(long)]
    api_key_stdin: bool,
    /// Push API URL (default https://data.higherlogic.com/push/v1/members).
    #[arg(long)]
    base_url: Option<String>,
    /// Higher Logic activated MembershipIntegrateBio.
    #[arg(long, overrides_with = "no_bio")]
    bio: bool,
    #[arg(long)]
    no_bio: bool,
    /// Higher Logic activated IntegrateProfileImage.
    #[arg(long, overrides_with = "no_profile_image")]
    profile_image: bool,
    #[arg(long)]
    no_profile_image: bool,
    /// Higher Logic activated IntegrateSocialMediaSites.
    #[arg(long, overrides_with = "no_social")]
    social: bool,
    #[arg(long)]
    no_social: bool,
    #[arg(long)]
    json: bool,
}

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

/// `guildgate group sync KEY --on --type community|security` / `--off`.
#[derive(Args)]
#[command(group(ArgGroup::new("switch").args(["on", "off"]).required(true)))]
pub struct GroupSyncArgs {
    pub key: String,
    /// Turn "Sync to Higher Logic" on (the type is locked from then on).
    #[arg(long)]
    pub on: bool,
    #[arg(long)]
    pub off: bool,
    /// The Higher Logic group type.
    #[arg(long = "type", value_enum)]
    pub group_type: Option<GroupType>,
}

fn flag(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

pub async fn hl(cmd: HlCmd, store: &Store, actor: &str) -> anyhow::Result<()> {
    let HlCmd::Settings(a) = cmd;
    let api_key = if let Some(file) = &a.api_key_file {
        Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?,
        )
    } else if a.api_key_stdin {
        let mut key = String::new();
        std::io::stdin().read_to_string(&mut key)?;
        Some(key)
    } else {
        None
    };
    if api_key.as_deref().is_some_and(|k| k.trim().is_empty()) {
        bail!("the API key is empty");
    }
    let update = SettingsUpdate {
        tenant_code: a.tenant_code,
        api_key,
        base_url: a.base_url,
        integrate_bio: flag(a.bio, a.no_bio),
        integrate_profile_image: flag(a.profile_image, a.no_profile_image),
        integrate_social: flag(a.social, a.no_social),
    };
    let changes = update.tenant_code.is_some()
        || update.api_key.is_some()
        || update.base_url.is_some()
        || update.integrate_bio.is_some()
        || update.integrate_profile_image.is_some()
        || update.integrate_social.is_some();
    let shown = if changes {
        store.save_hl_settings(actor, update).await?
    } else {
        store.hl_settings().await?.masked()
    };
    if a.json {
        return print_json(&shown);
    }
    let yes = |b: bool| if b { "on" } else { "off" }.to_string();
    print_table(
        &["setting", "value"],
        vec![
            vec!["tenant code".into(), shown.tenant_code.clone()],
            vec!["API key".into(), shown.api_key.clone()],
            vec!["base URL".into(), shown.base_url.clone()],
            vec!["bio".into(), yes(shown.integrate_bio)],
            vec!["profile image".into(), yes(shown.integrate_profile_image)],
            vec!["social media".into(), yes(shown.integrate_social)],
            vec!["configured".into(), yes(shown.configured)],
        ],
    );
    Ok(())
}

pub async fn group_sync(a: GroupSyncArgs, store: &Store, actor: &str) -> anyhow::Result<()> {
    let g = store
        .set_group_sync(actor, &a.key, a.on, a.group_type)
        .await?;
    if g.hl_sync_enabled {
        println!(
            "{}: sync to Higher Logic on, as a {} group (the type is now locked); the first \
             full sync is queued",
            g.group_key,
            g.hl_group_type.as_deref().unwrap_or("community")
        );
    } else {
        println!(
            "{}: sync to Higher Logic off; its members will be pushed without it",
            g.group_key
        );
    }
    Ok(())
}

fn time_text(ms: Option<i64>) -> String {
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

pub async fn sync(cmd: SyncCmd, settings: &Settings, store: &Store) -> anyhow::Result<()> {
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
                    Some(t) => format!("; paused until {}", time_text(Some(t))),
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
                            format!("up to date as of {}", time_text(g.up_to_date_as_of))
                        }
                        "pending" => format!("{} pending", g.pending),
                        "error" => format!(
                            "{} pending, {} parked; error: {}{}",
                            g.pending,
                            g.parked,
                            g.last_error.clone().unwrap_or_default(),
                            match g.next_attempt_at {
                                Some(t) => format!("; next attempt {}", time_text(Some(t))),
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
