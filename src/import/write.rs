//! The writes of a checked import, a few hundred members at a time: each kind of row (members,
//! custom-field values, accounts, change-log entries, the outbox's queue) goes in one
//! multi-row statement per chunk instead of one statement per change, so that an import of
//! 10,000 members costs some hundred statements rather than about a hundred thousand.

use super::ImportProgress;
use crate::accounts::{self, NewAccount, Role};
use crate::change_log::{Change, ChangeBatch, Event};
use crate::custom_fields::{self, CustomField};
use crate::db::{conflict_on_unique, new_id, now_ms, StoreResult, Transaction};
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
        let mut created = Vec::new();
        for w in chunk {
            match w.login {
                Some(login) if w.has_account => {
                    change_login(tx, actor, &w.id, login, &mut changes).await?
                }
                Some(login) => created.push((new_id(), w.id.as_str(), login)),
                None => {}
            }
        }
        let accounts: Vec<NewAccount<'_>> = created
            .iter()
            .map(|(id, member_id, login)| NewAccount {
                id,
                member_id,
                login,
                role: Role::Member,
                one_time_password_hash: None,
            })
            .collect();
        accounts::insert_accounts(tx, actor, &accounts, &mut changes).await?;
        changes.record(tx).await?;
        progress.advance(chunk.len());
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
