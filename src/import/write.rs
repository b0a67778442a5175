//! The writes of a checked import, a few hundred members at a time: each kind of row (members,
//! custom-field values, accounts, change-log entries, the outbox's queue) goes in one
//! multi-row statement per chunk instead of one statement per change, so that an import of
//! 10,000 members costs some hundred statements rather than about a hundred thousand.

use serde_json::json;

use super::ImportProgress;
use crate::accounts::Role;
use crate::change_log::{Change, ChangeBatch, Event};
use crate::custom_fields::{self, CustomField};
use crate::db::{
    conflict_on_unique, new_id, now_ms, placeholders, rows_per_statement, StoreResult, Transaction,
};
use crate::members::{self, Member, MemberData, MemberWrite};

/// Members written (and their changes recorded) together.
const MEMBERS_PER_CHUNK: usize = 500;

/// One member of a checked import, as it is to be written.
pub(super) struct Write<'a> {
    pub key: &'a str,
    /// The member as stored, or `None` for a new one.
    pub current: Option<&'a Member>,
    /// The member's id: its own, or the new one.
    pub id: String,
    pub data: MemberData,
    pub company_id: Option<String>,
    /// The custom-field values that change (`None` clears one).
    pub field_changes: Vec<(&'a CustomField, Option<String>)>,
    /// The login to give: the new account's, or the existing account's new one.
    pub login: Option<&'a str>,
    pub has_account: bool,
}

/// Writes every member in `tx`, in the order given (a company before the people naming it),
/// each change with its change-log entry.
pub(super) async fn write_all(
    tx: &mut Transaction,
    actor: &str,
    writes: &[Write<'_>],
    progress: &ImportProgress,
) -> StoreResult<()> {
    let mut changes = ChangeBatch::new();
    for chunk in writes.chunks(MEMBERS_PER_CHUNK) {
        let new: Vec<MemberWrite<'_>> = chunk
            .iter()
            .filter(|w| w.current.is_none())
            .map(|w| MemberWrite {
                id: &w.id,
                key: w.key,
                data: &w.data,
                company_id: w.company_id.as_deref(),
            })
            .collect();
        members::insert_members(tx, actor, &new, &mut changes).await?;
        for w in chunk {
            if let Some(current) = w.current {
                let company_id = w.company_id.as_deref();
                members::update_member_into(tx, actor, current, &w.data, company_id, &mut changes)
                    .await?;
            }
        }
        let values: Vec<(&str, &CustomField, Option<&str>)> = chunk
            .iter()
            .flat_map(|w| {
                let values = w.field_changes.iter();
                values.map(|(field, value)| (w.id.as_str(), *field, value.as_deref()))
            })
            .collect();
        custom_fields::write_values(tx, actor, &values, &mut changes).await?;
        let mut accounts = Vec::new();
        for w in chunk {
            match w.login {
                Some(login) if w.has_account => {
                    change_login(tx, actor, &w.id, login, &mut changes).await?
                }
                Some(login) => accounts.push((w.id.as_str(), login)),
                None => {}
            }
        }
        insert_accounts(tx, actor, &accounts, &mut changes).await?;
        changes.record(tx).await?;
        progress.advance(chunk.len());
    }
    Ok(())
}

/// Accounts per `INSERT` at most ([`rows_per_statement`]): 3 bound values each.
const ACCOUNTS_PER_INSERT: usize = 1000;

/// Creates a member account (no password until one is set) for each (member id, checked
/// login), adding each one's change to `changes`.
async fn insert_accounts(
    tx: &mut Transaction,
    actor: &str,
    accounts: &[(&str, &str)],
    changes: &mut ChangeBatch,
) -> StoreResult<()> {
    let role = Role::Member.as_str();
    let ids: Vec<String> = accounts.iter().map(|_| new_id()).collect();
    let per_insert = rows_per_statement(tx, 3, ACCOUNTS_PER_INSERT);
    for (chunk, ids) in accounts.chunks(per_insert).zip(ids.chunks(per_insert)) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                format!(
                    "({}, NULL, 0, 'active', $2, $1, $1)",
                    placeholders(3 + 3 * i, 3)
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO accounts (id, member_id, login_email, password_hash, \
             must_change_password, state, role, created_at, updated_at) VALUES {}",
            rows.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(now_ms()).bind(role);
        for ((member_id, login), id) in chunk.iter().zip(ids) {
            q = q.bind(id).bind(*member_id).bind(*login);
        }
        q.execute(&mut **tx)
            .await
            .map_err(conflict_on_unique(|| match chunk {
                [(_, login)] => format!(
                    "this member already has a user account, or {login} is another account's login"
                ),
                _ => "an account_email of these members became another member's login meanwhile"
                    .to_string(),
            }))?;
    }
    for ((member_id, _), id) in accounts.iter().zip(&ids) {
        changes.push(
            Change::new(actor, Event::AccountCreated, id)
                .member(member_id)
                .detail(json!({ "role": role })),
        );
    }
    Ok(())
}

async fn change_login(
    tx: &mut Transaction,
    actor: &str,
    member_id: &str,
    login: &str,
    changes: &mut ChangeBatch,
) -> StoreResult<()> {
    sqlx::query("UPDATE accounts SET login_email = $1, updated_at = $2 WHERE member_id = $3")
        .bind(login)
        .bind(now_ms())
        .bind(member_id)
        .execute(&mut **tx)
        .await
        .map_err(conflict_on_unique(|| {
            format!("account_email {login} is the login of another member")
        }))?;
    changes.push(Change::new(actor, Event::AccountLoginChanged, member_id).member(member_id));
    Ok(())
}
