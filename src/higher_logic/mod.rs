//! The Higher Logic sync engine: groups with "Sync to Higher Logic" on become Higher Logic
//! communities or security groups, and every change that affects them is pushed, as full
//! records, through Higher Logic's Push API.
//!
//! - [`settings`]: tenant code, API key, base URL, activated properties (in the database).
//! - [`records`]: the full record of a contact, and every assumed contract choice.
//! - [`client`]: the Push API client behind the [`client::PushClient`] trait.
//! - [`outbox`]: the queue, fed in the same transaction as each change.
//! - [`worker`]: claims, pushes, retries; runs in `serve` and in `guildgate sync run`.
//! - [`queue`]: the lease SQL the worker claims, finishes, parks and pauses with.
//! - [`status`]: where the sync stands, per group and overall, for the admin pages and CLI.
//! - [`metrics`]: Prometheus metrics for `/metrics`.

pub mod client;
pub mod limits;
pub mod metrics;
pub mod outbox;
pub mod queue;
pub mod records;
pub mod settings;
pub mod status;
pub mod worker;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::change_log::{Change, Event};
use crate::db::{now_ms, Store, StoreError, StoreResult};
use crate::groups::{check_group_key, Group};

/// A group's error when Higher Logic says its key belongs to a group made there.
pub const KEY_CLASH: &str =
    "this key is already used in Higher Logic: choose another key for this group";

/// The kind of Higher Logic group a synced group becomes: `community` or `security`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum GroupType {
    Community,
    Security,
}

impl GroupType {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Community => "community",
            GroupType::Security => "security",
        }
    }

    /// The type as stored on a group (`hl_group_type`): anything but `security` is a community,
    /// as [`Store::set_group_sync`] reads it.
    pub fn from_stored(stored: &str) -> GroupType {
        if stored == "security" {
            GroupType::Security
        } else {
            GroupType::Community
        }
    }
}

impl Store {
    /// Turns a group's sync on (with its type) or off.
    ///
    /// Once sync was saved on, the type is locked: a different type is refused. Turning sync
    /// on queues the group's first full sync; turning it off queues a push of every contact
    /// Higher Logic has in it, without it.
    pub async fn set_group_sync(
        &self,
        actor: &str,
        group_key: &str,
        on: bool,
        group_type: Option<GroupType>,
    ) -> StoreResult<Group> {
        let group = self.group(group_key).await?;
        let current = group.hl_group_type.as_deref();
        if let (Some(wanted), Some(current)) = (group_type, current) {
            if group.hl_type_locked && wanted.as_str() != current {
                return Err(StoreError::Conflict(format!(
                    "group {group_key} is synced to Higher Logic as a {current} group; the type \
                     cannot change once sync was saved on"
                )));
            }
        }
        if !on {
            if !group.hl_sync_enabled {
                return Ok(group);
            }
            let mut tx = self.begin().await?;
            sqlx::query(
                "UPDATE member_groups SET hl_sync_enabled = 0, updated_at = $1 WHERE id = $2",
            )
            .bind(now_ms())
            .bind(&group.id)
            .execute(&mut *tx)
            .await?;
            // Off, it is no longer pushed: a key clash found meanwhile no longer applies (it is
            // found again if sync is turned on with the same key).
            sqlx::query("UPDATE hl_groups SET key_clash = NULL WHERE group_id = $1")
                .bind(&group.id)
                .execute(&mut *tx)
                .await?;
            Change::new(actor, Event::GroupSyncOff, &group.id)
                .group(&group.id)
                .detail(json!({ "group_key": group_key }))
                .record(&mut tx)
                .await?;
            tx.commit().await?;
            return self.group(group_key).await;
        }
        let group_type =
            match (group_type, current) {
                (Some(t), _) => t.as_str(),
                (None, Some(c)) => GroupType::from_stored(c).as_str(),
                (None, None) => return Err(StoreError::invalid(
                    "choose the Higher Logic group type (community or security) to turn sync on",
                )),
            };
        if group.hl_sync_enabled && current == Some(group_type) {
            return Ok(group);
        }
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE member_groups SET hl_sync_enabled = 1, hl_group_type = $1, hl_type_locked = 1, \
             updated_at = $2 WHERE id = $3",
        )
        .bind(group_type)
        .bind(now)
        .bind(&group.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO hl_groups (group_id, group_key, group_type, sync_on_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (group_id) DO NOTHING",
        )
        .bind(&group.id)
        .bind(&group.group_key)
        .bind(group_type)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        Change::new(actor, Event::GroupSyncOn, &group.id)
            .group(&group.id)
            .detail(json!({ "group_key": group_key, "group_type": group_type }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.group(group_key).await
    }
}

impl Store {
    /// Higher Logic said `group_key` belongs to a group made there: the group is put in error
    /// ([`KEY_CLASH`]) and left out of its members' records from now on.
    pub async fn hl_mark_key_clash(&self, group_key: &str, answer: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE hl_groups SET key_clash = $1 WHERE group_key = $2")
            .bind(format!("{KEY_CLASH} (Higher Logic answered: {answer})"))
            .bind(group_key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives a group a new key, which becomes its Legacy Group Key in Higher Logic: allowed
    /// while Higher Logic holds nothing of the group (it never synced successfully), the way out
    /// of a key clash. Its members are pushed again with the new key.
    pub async fn hl_rekey_group(
        &self,
        actor: &str,
        group_key: &str,
        new_key: &str,
    ) -> StoreResult<Group> {
        let new_key = new_key.trim();
        check_group_key(new_key)?;
        let group = self.group(group_key).await?;
        if new_key == group.group_key {
            return Ok(group);
        }
        let (pushed, held): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM hl_groups WHERE group_id = $1 \
                     AND last_pushed_at IS NOT NULL), \
                    (SELECT COUNT(*) FROM hl_memberships WHERE group_id = $1)",
        )
        .bind(&group.id)
        .fetch_one(self.pool())
        .await?;
        if pushed > 0 || held > 0 {
            return Err(StoreError::Conflict(format!(
                "group {group_key} already synced to Higher Logic under its key; the key cannot \
                 change any more"
            )));
        }
        let (taken,): (i64,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM member_groups WHERE group_key = $1) \
                  + (SELECT COUNT(*) FROM hl_groups WHERE group_key = $1)",
        )
        .bind(new_key)
        .fetch_one(self.pool())
        .await?;
        if taken > 0 {
            return Err(StoreError::Conflict(format!(
                "the group key {new_key} is already used"
            )));
        }
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE member_groups SET group_key = $1, updated_at = $2 WHERE id = $3")
            .bind(new_key)
            .bind(now_ms())
            .bind(&group.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE hl_groups SET group_key = $1, key_clash = NULL WHERE group_id = $2")
            .bind(new_key)
            .bind(&group.id)
            .execute(&mut *tx)
            .await?;
        // The outbox pushes a renamed synced group's members again.
        Change::new(actor, Event::GroupRenamed, &group.id)
            .group(&group.id)
            .detail(json!({ "group_key": new_key, "from_key": group_key }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.group(new_key).await
    }
}
