//! `guildgate company ...`.

use clap::Subcommand;

use super::member::{apply, list_members, show_member, CommonData, ListArgs};
use crate::accounts::Role;
use crate::db::Store;
use crate::members::{Kind, MemberData};

#[derive(Subcommand)]
pub enum CompanyCmd {
    /// Add a company.
    Add {
        #[arg(long)]
        key: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        data: CommonData,
        /// Also create a user account for the company, with this login e-mail.
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List companies.
    List(ListArgs),
}

pub async fn run(cmd: CompanyCmd, store: &Store, actor: &str) -> anyhow::Result<()> {
    match cmd {
        CompanyCmd::Add {
            key,
            name,
            data: common,
            account,
            json,
        } => {
            let mut data = MemberData {
                kind: Kind::Company,
                name: Some(name),
                ..Default::default()
            };
            apply(&mut data, common)?;
            store.add_member(actor, &key, data).await?;
            if let Some(login) = account {
                store
                    .create_account(actor, &key, &login, Role::Member)
                    .await?;
            }
            show_member(store, &key, json).await
        }
        CompanyCmd::List(args) => list_members(store, Kind::Company, args).await,
    }
}
