//! The change log: one row per change to a member, account, custom field or group, written in
//! the same transaction as the change. The Higher Logic sync engine reads it.

use serde::Serialize;
use serde_json::Value;

use crate::db::{new_id, now_ms, Store, StoreResult, Transaction};

/// What changed, for [`record`].
pub struct Change<'a> {
    pub actor: &'a str,
    pub entity: &'static str,
    pub entity_id: &'a str,
    pub action: &'static str,
    /// The contact whose Higher Logic record the change affects.
    pub member_id: Option<&'a str>,
    pub group_id: Option<&'a str>,
    /// What changed, by name. Never a secret.
    pub detail: Value,
}

pub async fn record(tx: &mut Transaction, change: Change<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO change_log (id, at, actor, entity, entity_id, action, member_id, group_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(now_ms())
    .bind(change.actor)
    .bind(change.entity)
    .bind(change.entity_id)
    .bind(change.action)
    .bind(change.member_id)
    .bind(change.group_id)
    .bind(change.detail.to_string())
    .execute(&mut **tx)
    .await?;
    // The Higher Logic outbox, in the same transaction as the change.
    crate::higher_logic::outbox::on_change(tx, &change).await
}

/// A place in the audit log: the entry after which the next (older) page starts, written
/// `<at>.<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCursor {
    pub at: i64,
    pub id: String,
}

impl AuditCursor {
    pub fn after(entry: &ChangeEntry) -> AuditCursor {
        AuditCursor {
            at: entry.at,
            id: entry.id.clone(),
        }
    }

    /// Where the page after `page` starts, when `page` came back full (there may be more).
    pub fn next_page(page: &[ChangeEntry], limit: i64) -> Option<AuditCursor> {
        if page.len() as i64 == limit {
            page.last().map(AuditCursor::after)
        } else {
            None
        }
    }

    pub fn parse(text: &str) -> Option<AuditCursor> {
        let (at, id) = text.split_once('.')?;
        let valid_id = !id.is_empty()
            && id.len() <= 64
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        Some(AuditCursor {
            at: at.parse().ok()?,
            id: valid_id.then(|| id.to_string())?,
        })
    }
}

impl std::fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.at, self.id)
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ChangeEntry {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub member_id: Option<String>,
    pub group_id: Option<String>,
    pub detail: String,
}

impl Store {
    /// The newest changes first; with `before`, those older than that entry (a page further).
    pub async fn recent_changes(
        &self,
        limit: i64,
        before: Option<&AuditCursor>,
    ) -> StoreResult<Vec<ChangeEntry>> {
        let (at, id) = match before {
            Some(c) => (c.at, c.id.as_str()),
            // Past every entry: nothing is newer than the maximum.
            None => (i64::MAX, ""),
        };
        Ok(sqlx::query_as(
            "SELECT id, at, actor, entity, entity_id, action, member_id, group_id, detail \
             FROM change_log WHERE at < $2 OR (at = $2 AND id < $3) \
             ORDER BY at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .bind(at)
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Changes that affect one contact, oldest first.
    pub async fn changes_for_member(&self, member_id: &str) -> StoreResult<Vec<ChangeEntry>> {
        Ok(sqlx::query_as(
            "SELECT id, at, actor, entity, entity_id, action, member_id, group_id, detail \
             FROM change_log WHERE member_id = $1 ORDER BY at, id",
        )
        .bind(member_id)
        .fetch_all(self.pool())
        .await?)
    }
}
