//! `guildgate field ...`: custom fields and their values.

use clap::{Args, Subcommand};

use super::{print_json, print_list};
use crate::custom_fields::{AppliesTo, FieldSpec, FieldType, FieldUpdate};
use crate::db::Store;

#[derive(Subcommand)]
pub enum FieldCmd {
    /// Define a custom field.
    Add {
        #[command(flatten)]
        field: NewField,
        #[arg(long)]
        json: bool,
    },
    /// Change a field's name or flags.
    Update {
        key: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        show_in_members: Option<bool>,
        #[arg(long)]
        sync_to_higher_logic: Option<bool>,
    },
    /// List custom fields.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set a member's value of a field (an empty value clears it).
    Set {
        member_key: String,
        field_key: String,
        value: String,
    },
}

// The flags of `field add`, one for each part of the field's definition (a plain comment: clap
// would show a doc comment as the subcommand's help).
#[derive(Args)]
pub struct NewField {
    #[arg(long)]
    key: String,
    #[arg(long)]
    name: String,
    #[arg(long = "type", value_enum)]
    field_type: FieldType,
    /// An allowed value of a choice field (repeatable).
    #[arg(long = "choice")]
    choices: Vec<String>,
    #[arg(long, value_enum, default_value = "both")]
    applies_to: AppliesTo,
    /// Show the field in the Members section.
    #[arg(long)]
    show_in_members: bool,
    /// Send the field to Higher Logic (needs --show-in-members).
    #[arg(long)]
    sync_to_higher_logic: bool,
}

impl From<NewField> for FieldSpec {
    fn from(f: NewField) -> FieldSpec {
        FieldSpec {
            field_key: f.key,
            name: f.name,
            field_type: f.field_type,
            choices: f.choices,
            applies_to: f.applies_to,
            show_in_members: f.show_in_members,
            sync_to_higher_logic: f.sync_to_higher_logic,
        }
    }
}

pub async fn run(cmd: FieldCmd, store: &Store, actor: &str) -> anyhow::Result<()> {
    match cmd {
        FieldCmd::Add { field, json } => {
            let f = store.add_field(actor, field.into()).await?;
            if json {
                print_json(&f)
            } else {
                println!("field {} added", f.field_key);
                Ok(())
            }
        }
        FieldCmd::Update {
            key,
            name,
            show_in_members,
            sync_to_higher_logic,
        } => {
            let f = store
                .update_field(
                    actor,
                    &key,
                    FieldUpdate {
                        name,
                        show_in_members,
                        sync_to_higher_logic,
                    },
                )
                .await?;
            println!(
                "field {}: shown in Members {}, sync to Higher Logic {}",
                f.field_key,
                yes_no(f.show_in_members),
                yes_no(f.sync_to_higher_logic)
            );
            Ok(())
        }
        FieldCmd::List { json } => print_list(
            &store.list_fields().await?,
            json,
            &[
                "key",
                "name",
                "type",
                "applies to",
                "in Members",
                "sync to HL",
            ],
            |f| {
                vec![
                    f.field_key.clone(),
                    f.name.clone(),
                    f.field_type.clone(),
                    f.applies_to.clone(),
                    yes_no(f.show_in_members).into(),
                    yes_no(f.sync_to_higher_logic).into(),
                ]
            },
        ),
        FieldCmd::Set {
            member_key,
            field_key,
            value,
        } => {
            store
                .set_field_value(actor, &member_key, &field_key, &value)
                .await?;
            println!("{member_key}: {field_key} set");
            Ok(())
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
