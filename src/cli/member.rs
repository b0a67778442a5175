//! `guildgate member ...`: people, their accounts, passwords and invitations; also the member
//! display and listing `guildgate company` shares.

use std::io::{BufRead, IsTerminal};

use anyhow::bail;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::{print_json, print_list, time_text, ShowArgs};
use crate::accounts::Role;
use crate::db::Store;
use crate::members::{Kind, Member, MemberData, MemberFilter};
use crate::settings::Settings;

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
    Show(ShowArgs),
    /// List people.
    List(ListArgs),
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
    /// Make a member's account an administrator, or with --remove take the rights away (the
    /// last active administrator keeps them; the API tokens the account made are revoked).
    Admin {
        key: String,
        #[arg(long)]
        remove: bool,
    },
    /// E-mail the member a single-use link to choose a password (an invitation, or with
    /// --reset a password reset).
    Invite {
        key: String,
        #[arg(long)]
        reset: bool,
    },
    /// Remove the second factor (TOTP and recovery codes) of the account whose login is LOGIN,
    /// for a member who lost both phone and recovery codes; the account's sessions and tokens
    /// end. An administrator who must use one enrols again at the next sign-in.
    #[command(name = "reset-2fa")]
    ResetTwoFactor {
        /// The account's login e-mail.
        login: String,
    },
    /// Set a member's password (prompted, or the first line of standard input).
    SetPassword {
        key: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
}

pub(super) fn apply(data: &mut MemberData, common: CommonData) -> anyhow::Result<()> {
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

pub async fn run(
    cmd: MemberCmd,
    settings: &Settings,
    store: &Store,
    actor: &str,
) -> anyhow::Result<()> {
    match cmd {
        MemberCmd::Invite { key, reset } => invite(settings, store, actor, &key, reset).await,
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
            let mut data = current.data;
            apply(&mut data, common)?;
            store.update_member(actor, &key, data).await?;
            show_member(store, &key, json).await
        }
        MemberCmd::Show(ShowArgs { key, json }) => show_member(store, &key, json).await,
        MemberCmd::List(args) => list_members(store, Kind::Person, args).await,
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
        MemberCmd::ResetTwoFactor { login } => {
            let account = store.reset_two_factor(actor, &login).await?;
            println!(
                "{}: two-factor sign-in removed; its sessions and tokens ended",
                account.login_email
            );
            Ok(())
        }
        MemberCmd::Admin { key, remove } => {
            let role = if remove { Role::Member } else { Role::Admin };
            let a = store.set_account_role(actor, &key, role).await?;
            println!("{key}: account {} is now {}", a.login_email, a.role);
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

pub(super) async fn show_member(store: &Store, key: &str, json: bool) -> anyhow::Result<()> {
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
    println!("{} {} ({})", m.data.kind, m.display_name(), m.member_key);
    let data = serde_json::to_value(&m.data)?;
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

// The flags of `member list` and `company list` (a plain comment: clap would show a doc
// comment as the subcommand's help).
#[derive(Args)]
pub struct ListArgs {
    /// Match name, e-mail or key.
    #[arg(long)]
    search: Option<String>,
    #[arg(long, default_value_t = 100)]
    limit: i64,
    #[arg(long)]
    json: bool,
}

pub(super) async fn list_members(store: &Store, kind: Kind, args: ListArgs) -> anyhow::Result<()> {
    let filter = MemberFilter {
        kind: Some(kind),
        search: args.search,
        limit: args.limit,
        offset: 0,
    };
    print_list(
        &store.list_members(&filter).await?,
        args.json,
        &[
            "key", "name", "e-mail", "company", "type", "status", "account",
        ],
        |m| {
            vec![
                m.member_key.clone(),
                m.display_name(),
                m.data.email.clone().unwrap_or_default(),
                m.data.company_key.clone().unwrap_or_default(),
                m.data.member_type.clone().unwrap_or_default(),
                m.data.membership_status.clone().unwrap_or_default(),
                m.account_state.clone().unwrap_or_else(|| "none".into()),
            ]
        },
    )
}

/// `guildgate member invite KEY [--reset]`.
async fn invite(
    settings: &Settings,
    store: &Store,
    actor: &str,
    member_key: &str,
    reset: bool,
) -> anyhow::Result<()> {
    use crate::oidc::invitations::{send_link, InvitationError, Purpose};
    let mailer = crate::mail::Mailer::new(&settings.mail, &settings.data_dir)?;
    let purpose = if reset {
        Purpose::PasswordReset
    } else {
        Purpose::Invitation
    };
    let sent = match send_link(
        store,
        &mailer,
        settings.issuer(),
        actor,
        member_key,
        purpose,
        None,
        None,
    )
    .await
    {
        Err(InvitationError::AccountNotActive) => {
            anyhow::bail!("{member_key}: the account is deactivated; reactivate it first")
        }
        other => other?,
    };
    match sent.delivery {
        crate::mail::Delivery::Smtp => println!("{member_key}: {purpose} sent to {}", sent.to),
        crate::mail::Delivery::File(path) => println!(
            "{member_key}: {purpose} for {} written to {} (no SMTP server configured)",
            sent.to,
            path.display()
        ),
    }
    println!("The link works once, until {}.", time_text(sent.expires_at));
    Ok(())
}
