//! Where the sync stands, per group and overall: what the admin pages and
//! `guildgate sync status` show.

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{format_ms, now_ms, Store, StoreResult};
use crate::groups::{membership_sql, Group};

/// One synced (or formerly synced) group. Times are milliseconds since the epoch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupStatus {
    pub group_key: String,
    pub name: String,
    /// `community` or `security`; empty when sync was never saved on.
    pub group_type: String,
    pub sync_enabled: bool,
    /// `up_to_date`, `pending`, `error` or `off`.
    pub state: String,
    /// Contacts of the group waiting to be pushed (including a group change not yet expanded,
    /// counted as 1 until it is).
    pub pending: i64,
    /// Contacts of the group Higher Logic rejected.
    pub parked: i64,
    /// Members pushed (with a user account, active or deactivated).
    pub with_account: i64,
    /// Members without a user account: counted, never sent.
    pub without_account: i64,
    /// When up to date: the time (ms) of the last accepted push for it (or of turning sync on).
    pub up_to_date_as_of: Option<i64>,
    pub last_error: Option<String>,
    /// When the next attempt is due (ms), while there is an error or a pause.
    pub next_attempt_at: Option<i64>,
    /// Higher Logic says the group's key belongs to a group made there: the group is left out
    /// of its members' records until it gets another key (allowed while it never synced) or
    /// its sync is turned off.
    pub key_clash: bool,
}

/// The whole queue. Times are milliseconds since the epoch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncStatus {
    /// A tenant code and an API key are set.
    pub configured: bool,
    /// Contacts waiting to be pushed.
    pub pending: i64,
    /// Contacts Higher Logic rejected, kept aside until retried.
    pub parked: i64,
    /// Group changes not yet expanded into contacts.
    pub fanouts_pending: i64,
    /// Pushing is paused (after errors or a rate limit) until then.
    pub paused_until: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub last_success_at: Option<i64>,
    /// Every group that is or was synced.
    pub groups: Vec<GroupStatus>,
}

impl GroupStatus {
    /// The status in words, as the console's group page shows it: up to date as of when,
    /// changes pending, or the last error and the next attempt; then contacts refused and
    /// members without a user account.
    pub fn message(&self) -> String {
        if !self.sync_enabled {
            return "Not synced to Higher Logic.".into();
        }
        let kind = if self.group_type == "security" {
            "security group"
        } else {
            "community"
        };
        let mut text = match self.state.as_str() {
            "error" => format!(
                "Sync error: {}.{}",
                self.last_error.as_deref().unwrap_or("unknown"),
                self.next_attempt_at
                    .map(|t| format!(" Next attempt at {} UTC.", format_ms(t)))
                    .unwrap_or_default()
            ),
            "pending" => format!(
                "Syncing to a Higher Logic {kind}: {} pending.",
                counted(self.pending, "change", "changes")
            ),
            _ => match self.up_to_date_as_of {
                Some(t) => format!(
                    "Up to date in the Higher Logic {kind} as of {} UTC.",
                    format_ms(t)
                ),
                None => format!("Up to date in the Higher Logic {kind}."),
            },
        };
        if self.parked > 0 {
            text.push_str(&format!(
                " {} refused by Higher Logic.",
                counted(self.parked, "contact was", "contacts were")
            ));
        }
        if self.without_account > 0 {
            text.push_str(&format!(
                " {} no user account and {} not sent.",
                counted(self.without_account, "member has", "members have"),
                if self.without_account == 1 {
                    "is"
                } else {
                    "are"
                }
            ));
        }
        text
    }
}

/// "1 change", "3 changes".
fn counted(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A parked contact, with Higher Logic's reason.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct ParkedContact {
    pub member_key: String,
    pub error: Option<String>,
    pub attempts: i64,
    /// How many times Higher Logic refused the record (each automatic retry that fails adds
    /// one, and the next wait grows: 15 minutes, 1 hour, 6 hours, then daily).
    pub refusals: i64,
    /// When it is sent again by itself (ms since the epoch).
    pub next_retry_at: i64,
}

impl ParkedContact {
    /// When it is sent again by itself, in words (UTC).
    pub fn next_retry(&self) -> String {
        format_ms(self.next_retry_at)
    }
}

impl Store {
    /// How many contacts Higher Logic refused (parked).
    pub async fn hl_parked_count(&self) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM hl_queue WHERE parked = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }

    pub async fn hl_parked(&self, limit: i64) -> StoreResult<Vec<ParkedContact>> {
        Ok(sqlx::query_as(
            "SELECT m.member_key, q.last_error AS error, q.attempts, q.refusals, \
             q.next_attempt_at AS next_retry_at FROM hl_queue q \
             JOIN members m ON m.id = q.member_id WHERE q.parked = 1 ORDER BY m.member_key LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Contacts Higher Logic has accepted: all of them, and those pushed since `since` (ms).
    pub async fn hl_pushed_counts(&self, since: i64) -> StoreResult<(i64, i64)> {
        Ok(sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN pushed_at >= $1 THEN 1 ELSE 0 END), 0) \
             FROM hl_contacts",
        )
        .bind(since)
        .fetch_one(self.pool())
        .await?)
    }

    /// The status of one group's sync.
    pub async fn hl_group_status(&self, group_key: &str) -> StoreResult<GroupStatus> {
        self.hl_group_status_of(&self.group(group_key).await?).await
    }

    /// The status of one group's sync, for a group already read.
    pub async fn hl_group_status_of(&self, group: &Group) -> StoreResult<GroupStatus> {
        let engine = self.hl_engine_row().await?;
        self.group_status(group, &engine).await
    }

    async fn hl_engine_row(&self) -> StoreResult<EngineRow> {
        Ok(sqlx::query_as(
            "SELECT paused_until, last_error, last_error_at, last_success_at FROM hl_engine_state \
             WHERE id = 1",
        )
        .fetch_one(self.pool())
        .await?)
    }

    async fn group_status(&self, group: &Group, engine: &EngineRow) -> StoreResult<GroupStatus> {
        let (clause, binds) = membership_sql(group, 2);
        // Contacts of the group now, or that Higher Logic has in it.
        let affected = format!(
            "(SELECT m.id FROM members m WHERE {clause} \
              UNION SELECT member_id FROM hl_memberships WHERE group_id = $1)"
        );
        let sql = format!(
            "SELECT \
               (SELECT COUNT(*) FROM hl_queue q WHERE q.parked = 0 AND q.member_id IN {affected}), \
               (SELECT COUNT(*) FROM hl_queue q WHERE q.parked = 1 AND q.member_id IN {affected}), \
               (SELECT MIN(q.next_attempt_at) FROM hl_queue q WHERE q.parked = 0 \
                  AND q.member_id IN {affected}), \
               (SELECT MAX(q.last_error) FROM hl_queue q WHERE q.parked = 0 \
                  AND q.last_error IS NOT NULL AND q.member_id IN {affected}), \
               (SELECT COUNT(*) FROM hl_fanout f WHERE f.target_id = $1 OR f.scope = 'all'), \
               (SELECT COUNT(*) FROM members m JOIN accounts a ON a.member_id = m.id WHERE {clause}), \
               (SELECT COUNT(*) FROM members m WHERE {clause} \
                  AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.member_id = m.id)), \
               (SELECT COUNT(*) FROM hl_memberships WHERE group_id = $1)"
        );
        type Counts = (i64, i64, Option<i64>, Option<String>, i64, i64, i64, i64);
        let mut q = sqlx::query_as::<_, Counts>(&sql).bind(&group.id);
        for b in &binds {
            q = q.bind(b);
        }
        let (pending, parked, next_due, retry_error, fanouts, with_account, without_account, held) =
            q.fetch_one(self.pool()).await?;
        let link: Option<(i64, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT sync_on_at, last_pushed_at, key_clash FROM hl_groups WHERE group_id = $1",
        )
        .bind(&group.id)
        .fetch_optional(self.pool())
        .await?;
        let key_clash = link
            .as_ref()
            .and_then(|(_, _, clash)| clash.clone())
            .filter(|_| group.hl_sync_enabled);
        let sql = format!(
            "SELECT q.last_error FROM hl_queue q WHERE q.parked = 1 AND q.member_id IN {affected} \
             LIMIT 1"
        );
        let mut q = sqlx::query_as::<_, (Option<String>,)>(&sql).bind(&group.id);
        for b in &binds {
            q = q.bind(b);
        }
        let parked_error = q.fetch_optional(self.pool()).await?.and_then(|(e,)| e);
        let now = now_ms();
        let pending = pending + fanouts;
        let paused = engine.paused_until > now;
        // A group that is not synced has work only while Higher Logic still holds memberships
        // of it to remove; queued work for other groups is not its own.
        let off = !group.hl_sync_enabled && (held == 0 || pending == 0);
        let pending = if off { 0 } else { pending };
        let (state, last_error, next_attempt_at, as_of) = if off {
            ("off", None, None, None)
        } else if let Some(clash) = key_clash.clone() {
            // Left out of every record until re-keyed or turned off.
            ("error", Some(clash), None, None)
        } else if pending > 0 && (paused || retry_error.is_some()) {
            // Failing and retrying: the last error and when the next attempt is due.
            let next = if paused {
                engine.paused_until.max(next_due.unwrap_or(0))
            } else {
                next_due.unwrap_or(now).max(now)
            };
            let error = if paused {
                engine.last_error.clone()
            } else {
                retry_error
            };
            ("error", error, Some(next), None)
        } else if pending > 0 {
            let due = next_due.filter(|d| *d > now);
            ("pending", None, due, None)
        } else if parked > 0 {
            ("error", parked_error, None, None)
        } else {
            let as_of = link.map(|(on, pushed, _)| pushed.unwrap_or(on).max(on));
            ("up_to_date", None, None, as_of)
        };
        Ok(GroupStatus {
            group_key: group.group_key.clone(),
            name: group.name.clone(),
            group_type: group.hl_group_type.clone().unwrap_or_default(),
            sync_enabled: group.hl_sync_enabled,
            state: state.into(),
            pending,
            parked,
            with_account,
            without_account,
            up_to_date_as_of: as_of,
            last_error,
            next_attempt_at,
            key_clash: key_clash.is_some(),
        })
    }

    /// The global pending count and every group that is or was synced.
    pub async fn hl_status(&self) -> StoreResult<SyncStatus> {
        let settings = self.hl_settings().await?;
        let engine = self.hl_engine_row().await?;
        let counts = self.hl_queue_counts().await?;
        let groups: Vec<Group> = sqlx::query_as(
            "SELECT * FROM member_groups WHERE hl_sync_enabled = 1 \
             OR id IN (SELECT group_id FROM hl_groups) ORDER BY name, group_key",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for g in &groups {
            out.push(self.group_status(g, &engine).await?);
        }
        let now = now_ms();
        Ok(SyncStatus {
            configured: settings.is_configured(),
            pending: counts.pending,
            parked: counts.parked,
            fanouts_pending: counts.fanouts,
            paused_until: (engine.paused_until > now).then_some(engine.paused_until),
            last_error: engine.last_error,
            last_error_at: engine.last_error_at,
            last_success_at: engine.last_success_at,
            groups: out,
        })
    }
}

#[derive(sqlx::FromRow)]
struct EngineRow {
    paused_until: i64,
    last_error: Option<String>,
    last_error_at: Option<i64>,
    last_success_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: &str) -> GroupStatus {
        GroupStatus {
            group_key: "g1".into(),
            name: "G".into(),
            group_type: "community".into(),
            sync_enabled: true,
            state: state.into(),
            pending: 0,
            parked: 0,
            with_account: 1,
            without_account: 0,
            up_to_date_as_of: None,
            last_error: None,
            next_attempt_at: None,
            key_clash: false,
        }
    }

    #[test]
    fn status_in_words() {
        let off = GroupStatus {
            sync_enabled: false,
            ..status("off")
        };
        assert_eq!(off.message(), "Not synced to Higher Logic.");
        let done = GroupStatus {
            up_to_date_as_of: Some(0),
            without_account: 2,
            ..status("up_to_date")
        };
        assert_eq!(
            done.message(),
            "Up to date in the Higher Logic community as of 1970-01-01 00:00:00 UTC. \
             2 members have no user account and are not sent."
        );
        let pending = GroupStatus {
            pending: 1,
            group_type: "security".into(),
            ..status("pending")
        };
        assert_eq!(
            pending.message(),
            "Syncing to a Higher Logic security group: 1 change pending."
        );
        let failing = GroupStatus {
            last_error: Some("HTTP 500".into()),
            next_attempt_at: Some(60_000),
            parked: 1,
            ..status("error")
        };
        assert_eq!(
            failing.message(),
            "Sync error: HTTP 500. Next attempt at 1970-01-01 00:01:00 UTC. \
             1 contact was refused by Higher Logic."
        );
    }
}
