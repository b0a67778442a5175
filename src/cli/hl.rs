//! `guildgate hl settings`: the Higher Logic integration settings.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{ArgGroup, Args, Subcommand};

use super::{print_json, print_table};
use crate::db::Store;
use crate::higher_logic::settings::SettingsUpdate;

#[derive(Subcommand)]
pub enum HlCmd {
    /// Show or change the integration settings (the API key is only ever shown masked).
    Settings(SettingsArgs),
    /// Test the connection with the saved settings, as the console's button does; exits
    /// non-zero when Higher Logic does not take it.
    Test,
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

fn flag(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

pub async fn run(cmd: HlCmd, store: &Store, actor: &str) -> anyhow::Result<()> {
    match cmd {
        HlCmd::Settings(a) => settings(a, store, actor).await,
        HlCmd::Test => {
            let test = crate::admin::integrations::test_connection(store).await?;
            println!("{}", test.message);
            if !test.ok {
                anyhow::bail!("the connection test failed");
            }
            Ok(())
        }
    }
}

async fn settings(a: SettingsArgs, store: &Store, actor: &str) -> anyhow::Result<()> {
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
