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
    /// The newest changes first.
    pub async fn recent_changes(&self, limit: i64) -> StoreResult<Vec<ChangeEntry>> {
        Ok(sqlx::query_as(
            "SELECT id, at, actor, entity, entity_id, action, member_id, group_id, detail \
             FROM change_log ORDER BY at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
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
