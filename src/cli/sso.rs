//! `guildgate sso worksheet [--json]`: Higher Logic's SSO technical worksheet, as the console's
//! Single sign-on page shows it.

use clap::Subcommand;

use super::print_json;
use crate::admin::sso;
use crate::db::Store;
use crate::settings::Settings;

#[derive(Subcommand)]
pub enum SsoCmd {
    /// Print the worksheet's answers, in its order.
    Worksheet {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: SsoCmd, settings: &Settings, store: &Store) -> anyhow::Result<()> {
    match cmd {
        SsoCmd::Worksheet { json } => {
            let worksheet = sso::worksheet(store, settings.issuer()).await?;
            if json {
                return print_json(&worksheet);
            }
            if !worksheet.client_registered {
                println!("(The Higher Logic client is not registered yet: its lines are empty.)");
            }
            for item in &worksheet.items {
                println!("{}: {}", item.label, item.value);
                if let Some(note) = &item.note {
                    println!("    {note}");
                }
            }
            Ok(())
        }
    }
}
