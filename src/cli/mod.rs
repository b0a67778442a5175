//! The command line: `guildgate <noun> <verb>`, one module per noun; each has its subcommand
//! enum and a `run` that carries it out.

mod api_token;
mod backup;
mod client;
mod company;
mod doctor;
mod field;
mod group;
mod hl;
mod import;
mod keys;
mod member;
mod restore;
mod sso;
mod sync;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::db::Store;
use crate::settings::Settings;
use crate::{server, telemetry};

#[derive(Parser)]
#[command(
    name = "guildgate",
    version,
    about = "Sign-in and data bridge between an association's member database and Higher Logic"
)]
pub struct Cli {
    /// TOML configuration file (settings can also come from GUILDGATE_* variables).
    #[arg(long, global = true, env = "GUILDGATE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server (migrates first; creates the first administrator on an empty database).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// People: add, update, show, list, (de)activate accounts, set passwords.
    #[command(subcommand)]
    Member(member::MemberCmd),
    /// Companies.
    #[command(subcommand)]
    Company(company::CompanyCmd),
    /// Custom fields and their values.
    #[command(subcommand)]
    Field(field::FieldCmd),
    /// Groups and their resolved members.
    #[command(subcommand)]
    Group(group::GroupCmd),
    /// Admin API tokens for scripts calling /admin/api/.
    #[command(subcommand)]
    ApiToken(api_token::ApiTokenCmd),
    /// Token-signing keys: list, rotate.
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// OpenID Connect clients (e.g. Higher Logic): add, list, show, rotate-secret, remove.
    #[command(subcommand)]
    Client(client::ClientCmd),
    /// Higher Logic integration settings.
    #[command(subcommand)]
    Hl(hl::HlCmd),
    /// The Higher Logic sync: run it once, see where it stands, retry parked records.
    #[command(subcommand)]
    Sync(sync::SyncCmd),
    /// Import people and companies from a CSV file (all or nothing).
    Import(import::ImportArgs),
    /// Single sign-on with Higher Logic: the SSO technical worksheet.
    #[command(subcommand)]
    Sso(sso::SsoCmd),
    /// Check this installation, one line a check; exits non-zero when one fails.
    Doctor,
    /// Write one archive (mode 0600) with the keys folder and, on SQLite, a consistent snapshot
    /// of the database (on PostgreSQL save the database with pg_dump).
    Backup(backup::BackupArgs),
    /// Restore an archive written by `backup` (stop every instance first); refuses to replace
    /// a database or keys that hold something else without --force.
    Restore(restore::RestoreArgs),
}

/// Entry point of the binary.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(settings.log_format);
    match cli.command {
        // Connects on its own: an unreachable database is one of its answers.
        Command::Doctor => return doctor::run(&settings).await,
        // Connect on their own, without migrating: a backup keeps the schema it finds, and a
        // restore replaces the database.
        Command::Backup(args) => return backup::run(args, &settings).await,
        Command::Restore(args) => return restore::run(args, &settings).await,
        _ => {}
    }
    let store = Store::connect(&settings.database_url, settings.max_connections)
        .await
        .context("cannot open the database")?
        .with_keys_dir(&settings.keys_dir)
        // Before anything hashes (the first administrator is made before `serve` builds).
        .with_password_settings(settings.passwords.clone());
    if !matches!(cli.command, Command::Migrate) {
        store.migrate().await?;
    }
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "operator".into())
    );
    let result = dispatch(cli.command, &settings, &store, &actor).await;
    store.close().await;
    result
}

async fn dispatch(
    command: Command,
    settings: &Settings,
    store: &Store,
    actor: &str,
) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            if let Some(admin) = store.bootstrap_admin(&settings.admin_email).await? {
                // Printed once to the terminal, never logged.
                println!("First start: created the administrator account.");
                println!("  login:              {}", admin.login_email);
                println!("  one-time password:  {}", admin.one_time_password);
                println!("It must be changed at first sign-in and will not be shown again.");
            }
            server::serve(settings.clone(), store.clone()).await
        }
        Command::Migrate => {
            store.migrate().await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Member(cmd) => member::run(cmd, settings, store, actor).await,
        Command::Company(cmd) => company::run(cmd, store, actor).await,
        Command::Field(cmd) => field::run(cmd, store, actor).await,
        Command::Group(cmd) => group::run(cmd, store, actor).await,
        Command::ApiToken(cmd) => api_token::run(cmd, store, actor).await,
        Command::Hl(cmd) => hl::run(cmd, store, actor).await,
        Command::Sync(cmd) => sync::run(cmd, settings, store).await,
        Command::Keys(cmd) => keys::run(cmd, settings, store, actor).await,
        Command::Client(cmd) => client::run(cmd, settings, store, actor).await,
        Command::Import(args) => import::run(args, store, actor).await,
        Command::Sso(cmd) => sso::run(cmd, settings, store).await,
        Command::Doctor => doctor::run(settings).await,
        Command::Backup(args) => backup::run(args, settings).await,
        Command::Restore(args) => restore::run(args, settings).await,
    }
}

// `show KEY [--json]`: what `member show` and `group show` take (a plain comment: clap would
// show a doc comment as the subcommand's help).
#[derive(Args)]
pub struct ShowArgs {
    key: String,
    #[arg(long)]
    json: bool,
}

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints `items` as JSON, or as a table with one `row` per item under `headers`.
fn print_list<T: Serialize>(
    items: &[T],
    json: bool,
    headers: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    if json {
        return print_json(&items);
    }
    print_table(headers, items.iter().map(row).collect());
    Ok(())
}

fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(headers.to_vec());
    let empty = rows.is_empty();
    for row in rows {
        table.add_row(row);
    }
    println!("{table}");
    if empty {
        println!("(none)");
    }
}

/// A time (ms since the epoch) as `2026-01-31 12:00:00Z`, or the number if it is out of range.
fn time_text(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}
