//! `guildgate group ...`: groups, their members, and their Higher Logic sync switch.

use clap::{ArgGroup, Args, Subcommand};
use serde::Serialize;

use super::{print_json, print_list, print_table, ShowArgs};
use crate::db::Store;
use crate::groups::{Group, GroupMembers, Selection};
use crate::higher_logic::GroupType;
use crate::members::Member;

#[derive(Subcommand)]
pub enum GroupCmd {
    /// Create a group from members or conditions.
    Add {
        #[arg(long)]
        name: String,
        /// The stable group key (generated when absent).
        #[arg(long)]
        key: Option<String>,
        /// A member key (repeatable): a static group.
        #[arg(long = "member", conflicts_with = "conditions")]
        members: Vec<String>,
        /// A condition (repeatable, all must hold): subject=v1|v2 or subject!=v, where subject
        /// is kind, member_type, membership_status, company or field.<key>.
        #[arg(long = "where", value_name = "CONDITION")]
        conditions: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show a group and its resolved members.
    Show(ShowArgs),
    /// List groups.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Rename a group (its key, and so its Higher Logic link, stays).
    Rename { key: String, name: String },
    /// Turn "Sync to Higher Logic" on (with its type) or off.
    Sync(GroupSyncArgs),
    /// Replace a group's members or conditions.
    Select {
        key: String,
        #[arg(long = "member", conflicts_with = "conditions")]
        members: Vec<String>,
        #[arg(long = "where", value_name = "CONDITION")]
        conditions: Vec<String>,
    },
}

/// `guildgate group sync KEY --on --type community|security` / `--off`.
#[derive(Args)]
#[command(group(ArgGroup::new("switch").args(["on", "off"]).required(true)))]
pub struct GroupSyncArgs {
    key: String,
    /// Turn "Sync to Higher Logic" on (the type is locked from then on).
    #[arg(long)]
    on: bool,
    #[arg(long)]
    off: bool,
    /// The Higher Logic group type.
    #[arg(long = "type", value_enum)]
    group_type: Option<GroupType>,
}

/// The selection the flags give: `--member` keys or `--where` conditions.
fn selection(members: Vec<String>, conditions: Vec<String>) -> anyhow::Result<Selection> {
    Selection::from_lists(members, conditions).map_err(anyhow::Error::msg)
}

pub async fn run(cmd: GroupCmd, store: &Store, actor: &str) -> anyhow::Result<()> {
    match cmd {
        GroupCmd::Add {
            name,
            key,
            members,
            conditions,
            json,
        } => {
            let g = store
                .add_group(
                    actor,
                    key.as_deref(),
                    &name,
                    selection(members, conditions)?,
                )
                .await?;
            show_group(store, &g.group_key, json).await
        }
        GroupCmd::Show(ShowArgs { key, json }) => show_group(store, &key, json).await,
        GroupCmd::List { json } => print_list(
            &store.list_groups().await?,
            json,
            &["key", "name", "members", "Higher Logic sync"],
            |g| {
                vec![
                    g.group_key.clone(),
                    g.name.clone(),
                    selection_text(g),
                    match (&g.hl_sync_enabled, &g.hl_group_type) {
                        (true, Some(t)) => format!("on ({t})"),
                        _ => "off".into(),
                    },
                ]
            },
        ),
        GroupCmd::Rename { key, name } => {
            store.rename_group(actor, &key, &name).await?;
            println!("group {key} renamed to {name}");
            Ok(())
        }
        GroupCmd::Sync(args) => group_sync(args, store, actor).await,
        GroupCmd::Select {
            key,
            members,
            conditions,
        } => {
            store
                .set_selection(actor, &key, selection(members, conditions)?)
                .await?;
            show_group(store, &key, false).await
        }
    }
}

async fn group_sync(a: GroupSyncArgs, store: &Store, actor: &str) -> anyhow::Result<()> {
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

fn selection_text(g: &Group) -> String {
    if g.selection == "static" {
        "static list".into()
    } else {
        g.condition_list()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

async fn show_group(store: &Store, key: &str, json: bool) -> anyhow::Result<()> {
    let group = store.group(key).await?;
    let members = store.group_members(key).await?;
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            group: &'a Group,
            members: &'a GroupMembers,
        }
        return print_json(&Out {
            group: &group,
            members: &members,
        });
    }
    println!("group {} ({})", group.name, group.group_key);
    println!("  members chosen by: {}", selection_text(&group));
    println!(
        "  {} members: {} with a user account, {} deactivated, {} without a user account (not synced)",
        members.total(),
        members.with_account.len(),
        members.deactivated.len(),
        members.without_account.len()
    );
    let row = |m: &Member, account: &str| {
        vec![
            m.member_key.clone(),
            m.display_name(),
            m.data.kind.to_string(),
            account.to_string(),
        ]
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    rows.extend(members.with_account.iter().map(|m| row(m, "active")));
    rows.extend(members.deactivated.iter().map(|m| row(m, "deactivated")));
    rows.extend(
        members
            .without_account
            .iter()
            .map(|m| row(m, "none (not synced)")),
    );
    print_table(&["key", "name", "kind", "user account"], rows);
    Ok(())
}
