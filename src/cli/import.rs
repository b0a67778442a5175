//! `guildgate import FILE`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::print_json;
use crate::db::Store;

#[derive(Args)]
pub struct ImportArgs {
    /// The CSV file; its columns are listed in the README.
    file: PathBuf,
    /// Check everything and report what would change, writing nothing.
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

pub async fn run(args: ImportArgs, store: &Store, actor: &str) -> anyhow::Result<()> {
    let ImportArgs {
        file,
        dry_run,
        json,
    } = args;
    let input =
        std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
    let report = store
        .import_csv(actor, std::io::BufReader::new(input), dry_run)
        .await?;
    if json {
        print_json(&report)?;
    } else {
        println!(
            "{}{} rows: {} created, {} updated, {} unchanged; {} accounts created",
            if dry_run {
                "dry run, nothing written: "
            } else {
                ""
            },
            report.rows,
            report.created,
            report.updated,
            report.unchanged,
            report.accounts_created
        );
    }
    Ok(())
}
