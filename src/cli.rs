//! The command line.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::accounts::Role;
use crate::custom_fields::{AppliesTo, FieldSpec, FieldType, FieldUpdate};
use crate::db::Store;
use crate::groups::{Condition, Selection};
use crate::members::{Kind, Member, MemberData, MemberFilter};
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
    Member(MemberCmd),
    /// Companies.
    #[command(subcommand)]
    Company(CompanyCmd),
    /// Custom fields and their values.
    #[command(subcommand)]
    Field(FieldCmd),
    /// Groups and their resolved members.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Admin API tokens for scripts calling /admin/api/.
    #[command(subcommand)]
    ApiToken(crate::admin::cli::ApiTokenCmd),
    /// Token-signing keys: list, rotate.
    #[command(subcommand)]
    Keys(crate::oidc::commands::KeysCmd),
    /// OpenID Connect clients (e.g. Higher Logic): add, list, show, rotate-secret, remove.
    #[command(subcommand)]
    Client(crate::oidc::commands::ClientCmd),
    /// Higher Logic integration settings.
    #[command(subcommand)]
    Hl(crate::higher_logic::cli::HlCmd),
    /// The Higher Logic sync: run it once, see where it stands, retry parked records.
    #[command(subcommand)]
    Sync(crate::higher_logic::cli::SyncCmd),
    /// Import people and companies from a CSV file (all or nothing).
    Import {
        /// The CSV file; its columns are listed in the README.
        file: PathBuf,
        /// Check everything and report what would change, writing nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct CommonData {
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    member_type: Option<String>,
    #[arg(long = "status")]
    membership_status: Option<String>,
    /// Any other member column, as column=value (repeatable), e.g. --set city=Leeds.
    #[arg(long = "set", value_name = "COLUMN=VALUE")]
    set: Vec<String>,
}

#[derive(Subcommand)]
pub enum MemberCmd {
    /// Add a person.
    Add {
        /// The stable member key (Higher Logic's LegacyContactKey, the OIDC subject).
        #[arg(long)]
        key: String,
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        /// Member key of the person's company.
        #[arg(long)]
        company: Option<String>,
        #[command(flatten)]
        data: CommonData,
        /// Also create a user account, with this login e-mail (default: --email).
        #[arg(long, value_name = "LOGIN_EMAIL", num_args = 0..=1, default_missing_value = "")]
        account: Option<String>,
        /// Make the account an administrator.
        #[arg(long, requires = "account")]
        admin: bool,
        #[arg(long)]
        json: bool,
    },
    /// Change a person's or company's data.
    Update {
        key: String,
        #[command(flatten)]
        data: CommonData,
        #[arg(long)]
        json: bool,
    },
    /// Show one member with account, custom fields and groups.
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// List people.
    List {
        /// Match name, e-mail or key.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Give a member a user account.
    AddAccount {
        key: String,
        #[arg(long)]
        login: String,
        #[arg(long)]
        admin: bool,
    },
    /// Deactivate a member's account: sign-in is refused everywhere.
    Deactivate { key: String },
    /// Reactivate a member's account.
    Reactivate { key: String },
    /// E-mail the member a single-use link to choose a password (an invitation, or with
    /// --reset a password reset).
    Invite {
        key: String,
        #[arg(long)]
        reset: bool,
    },
    /// Set a member's password (prompted, or the first line of standard input).
    SetPassword {
        key: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
}

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
    List {
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum FieldCmd {
    /// Define a custom field.
    Add {
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
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// List groups.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Rename a group (its key, and so its Higher Logic link, stays).
    Rename { key: String, name: String },
    /// Turn "Sync to Higher Logic" on (with its type) or off.
    Sync(crate::higher_logic::cli::GroupSyncArgs),
    /// Replace a group's members or conditions.
    Select {
        key: String,
        #[arg(long = "member", conflicts_with = "conditions")]
        members: Vec<String>,
        #[arg(long = "where", value_name = "CONDITION")]
        conditions: Vec<String>,
    },
}

/// Entry point of the binary.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(settings.log_format);
    let store = Store::connect(&settings.database_url, settings.max_connections)
        .await
        .context("cannot open the database")?
        .with_keys_dir(&settings.keys_dir);
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
        Command::Member(cmd) => member(cmd, settings, store, actor).await,
        Command::Company(cmd) => company(cmd, store, actor).await,
        Command::Field(cmd) => field(cmd, store, actor).await,
        Command::Group(cmd) => group(cmd, store, actor).await,
        Command::ApiToken(cmd) => crate::admin::cli::api_token(cmd, store, actor).await,
        Command::Hl(cmd) => crate::higher_logic::cli::hl(cmd, store, actor).await,
        Command::Sync(cmd) => crate::higher_logic::cli::sync(cmd, settings, store).await,
        Command::Keys(cmd) => crate::oidc::commands::keys(cmd, settings, store, actor).await,
        Command::Client(cmd) => crate::oidc::commands::client(cmd, settings, store, actor).await,
        Command::Import {
            file,
            dry_run,
            json,
        } => {
            let input = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
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
    }
}

fn apply(data: &mut MemberData, common: CommonData) -> anyhow::Result<()> {
    for (column, value) in [
        ("email", common.email),
        ("member_type", common.member_type),
        ("membership_status", common.membership_status),
    ] {
        if let Some(v) = value {
            data.set(column, &v).map_err(anyhow::Error::msg)?;
        }
    }
    for pair in common.set {
        let Some((column, value)) = pair.split_once('=') else {
            bail!("--set takes column=value, not {pair:?}");
        };
        let column = column.trim();
        if column == "kind" || column == "member_key" {
            bail!("{column} cannot be changed with --set");
        }
        if !data.set(column, value).map_err(anyhow::Error::msg)? {
            bail!(
                "unknown column {column:?}; columns are {}",
                crate::members::MEMBER_FIELDS.join(", ")
            );
        }
    }
    Ok(())
}

async fn member(
    cmd: MemberCmd,
    settings: &Settings,
    store: &Store,
    actor: &str,
) -> anyhow::Result<()> {
    match cmd {
        MemberCmd::Invite { key, reset } => {
            crate::oidc::commands::invite(settings, store, actor, &key, reset).await
        }
        MemberCmd::Add {
            key,
            first_name,
            last_name,
            company,
            data: common,
            account,
            admin,
            json,
        } => {
            let mut data = MemberData {
                kind: Kind::Person,
                first_name,
                last_name,
                company_key: company,
                ..Default::default()
            };
            apply(&mut data, common)?;
            let login = match account {
                Some(l) if l.is_empty() => match data.email.clone() {
                    Some(e) => Some(e),
                    None => bail!("--account without a login e-mail needs --email"),
                },
                other => other,
            };
            let role = if admin { Role::Admin } else { Role::Member };
            let account = login.as_deref().map(|l| (l, role));
            let m = store
                .add_member_with_account(actor, &key, data, account)
                .await?;
            show_member(store, &m.member_key, json).await
        }
        MemberCmd::Update {
            key,
            data: common,
            json,
        } => {
            let current = store.member(&key).await?;
            let mut data = current.data();
            apply(&mut data, common)?;
            store.update_member(actor, &key, data).await?;
            show_member(store, &key, json).await
        }
        MemberCmd::Show { key, json } => show_member(store, &key, json).await,
        MemberCmd::List {
            search,
            limit,
            json,
        } => list_members(store, Kind::Person, search, limit, json).await,
        MemberCmd::AddAccount { key, login, admin } => {
            let role = if admin { Role::Admin } else { Role::Member };
            let a = store.create_account(actor, &key, &login, role).await?;
            println!("{key}: account {} created ({})", a.login_email, a.role);
            Ok(())
        }
        MemberCmd::Deactivate { key } => {
            store.deactivate_account(actor, &key).await?;
            println!("{key}: account deactivated; sign-in is refused");
            Ok(())
        }
        MemberCmd::Reactivate { key } => {
            store.reactivate_account(actor, &key).await?;
            println!("{key}: account active");
            Ok(())
        }
        MemberCmd::SetPassword {
            key,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                line.trim_end_matches(['\r', '\n']).to_string()
            } else if std::io::stdin().is_terminal() {
                let first = rpassword::prompt_password("New password: ")?;
                let again = rpassword::prompt_password("Again: ")?;
                if first != again {
                    bail!("the two passwords differ");
                }
                first
            } else {
                bail!("standard input is not a terminal: use --password-stdin");
            };
            store.set_password(actor, &key, &password).await?;
            println!("{key}: password set");
            Ok(())
        }
    }
}

async fn company(cmd: CompanyCmd, store: &Store, actor: &str) -> anyhow::Result<()> {
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
        CompanyCmd::List {
            search,
            limit,
            json,
        } => list_members(store, Kind::Company, search, limit, json).await,
    }
}

async fn field(cmd: FieldCmd, store: &Store, actor: &str) -> anyhow::Result<()> {
    match cmd {
        FieldCmd::Add {
            key,
            name,
            field_type,
            choices,
            applies_to,
            show_in_members,
            sync_to_higher_logic,
            json,
        } => {
            let f = store
                .add_field(
                    actor,
                    FieldSpec {
                        field_key: key,
                        name,
                        field_type,
                        choices,
                        applies_to,
                        show_in_members,
                        sync_to_higher_logic,
                    },
                )
                .await?;
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
        FieldCmd::List { json } => {
            let fields = store.list_fields().await?;
            if json {
                return print_json(&fields);
            }
            let rows = fields
                .iter()
                .map(|f| {
                    vec![
                        f.field_key.clone(),
                        f.name.clone(),
                        f.field_type.clone(),
                        f.applies_to.clone(),
                        yes_no(f.show_in_members).into(),
                        yes_no(f.sync_to_higher_logic).into(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "key",
                    "name",
                    "type",
                    "applies to",
                    "in Members",
                    "sync to HL",
                ],
                rows,
            );
            Ok(())
        }
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

fn selection(members: Vec<String>, conditions: Vec<String>) -> anyhow::Result<Selection> {
    if conditions.is_empty() {
        return Ok(Selection::Static(members));
    }
    let parsed = conditions
        .iter()
        .map(|c| Condition::parse(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    Ok(Selection::Conditions(parsed))
}

async fn group(cmd: GroupCmd, store: &Store, actor: &str) -> anyhow::Result<()> {
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
        GroupCmd::Show { key, json } => show_group(store, &key, json).await,
        GroupCmd::List { json } => {
            let groups = store.list_groups().await?;
            if json {
                return print_json(&groups);
            }
            let rows = groups
                .iter()
                .map(|g| {
                    vec![
                        g.group_key.clone(),
                        g.name.clone(),
                        selection_text(g),
                        match (&g.hl_sync_enabled, &g.hl_group_type) {
                            (true, Some(t)) => format!("on ({t})"),
                            _ => "off".into(),
                        },
                    ]
                })
                .collect();
            print_table(&["key", "name", "members", "Higher Logic sync"], rows);
            Ok(())
        }
        GroupCmd::Rename { key, name } => {
            store.rename_group(actor, &key, &name).await?;
            println!("group {key} renamed to {name}");
            Ok(())
        }
        GroupCmd::Sync(args) => crate::higher_logic::cli::group_sync(args, store, actor).await,
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

fn selection_text(g: &crate::groups::Group) -> String {
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
            group: &'a crate::groups::Group,
            members: &'a crate::groups::GroupMembers,
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
            m.kind.clone(),
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

async fn show_member(store: &Store, key: &str, json: bool) -> anyhow::Result<()> {
    let m = store.member(key).await?;
    let account = store.account_for_member(key).await.ok();
    let fields = store.field_values(&m.id).await?;
    let groups = store.groups_of_member(key).await?;
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            member: &'a Member,
            account: Option<&'a crate::accounts::Account>,
            fields: std::collections::BTreeMap<&'a str, &'a str>,
            groups: Vec<&'a str>,
        }
        return print_json(&Out {
            member: &m,
            account: account.as_ref(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            groups: groups.iter().map(|g| g.group_key.as_str()).collect(),
        });
    }
    println!("{} {} ({})", m.kind, m.display_name(), m.member_key);
    let data = serde_json::to_value(m.data())?;
    for column in crate::members::MEMBER_FIELDS {
        if let Some(v) = data.get(column).and_then(|v| v.as_str()) {
            println!("  {column:<20}{v}");
        }
    }
    match &account {
        Some(a) => println!(
            "  {:<20}{} ({}, {}{})",
            "user account",
            a.login_email,
            a.state,
            a.role,
            if a.has_password() {
                ""
            } else {
                ", no password yet"
            }
        ),
        None => println!("  {:<20}none (cannot sign in; not synced)", "user account"),
    }
    for (k, v) in &fields {
        println!("  {:<20}{v}", format!("field.{k}"));
    }
    let names: Vec<String> = groups
        .iter()
        .map(|g| format!("{} ({})", g.name, g.group_key))
        .collect();
    println!(
        "  {:<20}{}",
        "groups",
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    );
    Ok(())
}

async fn list_members(
    store: &Store,
    kind: Kind,
    search: Option<String>,
    limit: i64,
    json: bool,
) -> anyhow::Result<()> {
    let members = store
        .list_members(&MemberFilter {
            kind: Some(kind),
            search,
            limit,
            offset: 0,
        })
        .await?;
    if json {
        return print_json(&members);
    }
    let rows = members
        .iter()
        .map(|m| {
            vec![
                m.member_key.clone(),
                m.display_name(),
                m.email.clone().unwrap_or_default(),
                m.company_key.clone().unwrap_or_default(),
                m.member_type.clone().unwrap_or_default(),
                m.membership_status.clone().unwrap_or_default(),
                m.account_state.clone().unwrap_or_else(|| "none".into()),
            ]
        })
        .collect();
    print_table(
        &[
            "key", "name", "e-mail", "company", "type", "status", "account",
        ],
        rows,
    );
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

pub(crate) fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub(crate) fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
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
