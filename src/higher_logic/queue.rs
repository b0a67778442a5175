//! The lease SQL of the sync queue (`hl_queue`, `hl_engine_state`): the worker's claims, what
//! becomes of them after a push, the shared pause, and the queue counts.
//!
//! - Claims are leases (`lease_owner`, `lease_until`): on PostgreSQL taken with
//!   `FOR UPDATE SKIP LOCKED` so several instances share the queue; on SQLite the single writer
//!   makes the claiming `UPDATE` atomic.
//! - A row is deleted after the push only if its version did not move; a change that arrived
//!   during the push leaves it queued, so nothing is lost.
//! - A failure's retry time and pause hold only while the settings the push used are current:
//!   new settings (saved on any instance) make everything due at once.

use std::collections::BTreeSet;

use super::records::{placeholders, Item};
use crate::db::{now_ms, Engine, Store, StoreResult};

/// A contact claimed by this worker, as its queue row stood when claimed.
#[derive(Debug)]
pub(super) struct Claimed {
    pub member_id: String,
    pub version: i64,
    pub first_change_at: i64,
    pub attempts: i64,
}

/// A claimed contact with the record to push and the synced groups it belongs to.
pub(super) struct Entry {
    pub claim: Claimed,
    pub item: Item,
    pub group_ids: Vec<String>,
}

/// How many contacts wait: queued (not parked), parked, and group fan-outs not yet expanded.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueCounts {
    pub pending: i64,
    pub parked: i64,
    pub fanouts: i64,
}

/// One worker's handle on the queue: its claims carry `owner` as `lease_owner`.
pub(super) struct Queue {
    store: Store,
    owner: String,
}

impl Queue {
    pub fn new(store: Store, owner: String) -> Queue {
        Queue { store, owner }
    }

    /// Until when (ms) the sync is paused; in the past when it is not.
    pub async fn paused_until(&self) -> StoreResult<i64> {
        let (paused_until,): (i64,) =
            sqlx::query_as("SELECT paused_until FROM hl_engine_state WHERE id = 1")
                .fetch_one(self.store.pool())
                .await?;
        Ok(paused_until)
    }

    /// The engine's last recorded error.
    pub async fn last_error(&self) -> StoreResult<Option<String>> {
        let (last_error,): (Option<String>,) =
            sqlx::query_as("SELECT last_error FROM hl_engine_state WHERE id = 1")
                .fetch_one(self.store.pool())
                .await?;
        Ok(last_error)
    }

    /// Claims up to `limit` due contacts until `now + lease_ms`.
    pub async fn claim(&self, now: i64, lease_ms: i64, limit: usize) -> StoreResult<Vec<Claimed>> {
        let lock = if self.store.engine() == Engine::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let mut tx = self.store.begin().await?;
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(&format!(
            "UPDATE hl_queue SET lease_owner = $1, lease_until = $2 WHERE member_id IN (\
             SELECT member_id FROM hl_queue WHERE parked = 0 AND next_attempt_at <= $3 \
             AND lease_until <= $3 ORDER BY next_attempt_at LIMIT $4{lock}) \
             RETURNING member_id, version, first_change_at, attempts"
        ))
        .bind(&self.owner)
        .bind(now + lease_ms)
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(member_id, version, first_change_at, attempts)| Claimed {
                member_id,
                version,
                first_change_at,
                attempts,
            })
            .collect())
    }

    /// Deletes rows whose version did not move; releases the others for another push. For the
    /// `pushed` entries, in the same transaction, records what Higher Logic now holds: their
    /// group memberships, their push time, the touched groups' push time, and the success.
    pub async fn finish(&self, claims: &[&Claimed], pushed: &[&Entry]) -> StoreResult<()> {
        let mut tx = self.store.begin().await?;
        let mut cond = Vec::new();
        for i in 0..claims.len() {
            cond.push(format!(
                "(member_id = ${} AND version = ${})",
                2 + 2 * i,
                3 + 2 * i
            ));
        }
        let sql = format!(
            "DELETE FROM hl_queue WHERE lease_owner = $1 AND ({})",
            cond.join(" OR ")
        );
        let mut q = sqlx::query(&sql).bind(&self.owner);
        for c in claims {
            q = q.bind(&c.member_id).bind(c.version);
        }
        q.execute(&mut *tx).await?;
        let list = placeholders(2, claims.len());
        let sql = format!(
            "UPDATE hl_queue SET lease_owner = NULL, lease_until = 0 \
             WHERE lease_owner = $1 AND member_id IN ({list})"
        );
        let mut q = sqlx::query(&sql).bind(&self.owner);
        for c in claims {
            q = q.bind(&c.member_id);
        }
        q.execute(&mut *tx).await?;

        if !pushed.is_empty() {
            let now = now_ms();
            let list = placeholders(1, pushed.len());
            let sql =
                format!("SELECT DISTINCT group_id FROM hl_memberships WHERE member_id IN ({list})");
            let mut q = sqlx::query_as::<_, (String,)>(&sql);
            for e in pushed {
                q = q.bind(&e.claim.member_id);
            }
            let mut touched: BTreeSet<String> = q
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|(g,)| g)
                .collect();
            let sql = format!("DELETE FROM hl_memberships WHERE member_id IN ({list})");
            let mut q = sqlx::query(&sql);
            for e in pushed {
                q = q.bind(&e.claim.member_id);
            }
            q.execute(&mut *tx).await?;
            let pairs: Vec<(&str, &str)> = pushed
                .iter()
                .flat_map(|e| {
                    e.group_ids
                        .iter()
                        .map(move |g| (e.claim.member_id.as_str(), g.as_str()))
                })
                .collect();
            for chunk in pairs.chunks(500) {
                let values: Vec<String> = (0..chunk.len())
                    .map(|i| format!("(${}, ${})", 1 + 2 * i, 2 + 2 * i))
                    .collect();
                let sql = format!(
                    "INSERT INTO hl_memberships (member_id, group_id) VALUES {}",
                    values.join(", ")
                );
                let mut q = sqlx::query(&sql);
                for (m, g) in chunk {
                    q = q.bind(*m).bind(*g);
                    touched.insert(g.to_string());
                }
                q.execute(&mut *tx).await?;
            }
            let values: Vec<String> = (0..pushed.len())
                .map(|i| format!("(${}, $1)", 2 + i))
                .collect();
            let sql = format!(
                "INSERT INTO hl_contacts (member_id, pushed_at) VALUES {} \
                 ON CONFLICT (member_id) DO UPDATE SET pushed_at = excluded.pushed_at",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(now);
            for e in pushed {
                q = q.bind(&e.claim.member_id);
            }
            q.execute(&mut *tx).await?;
            if !touched.is_empty() {
                let list = placeholders(2, touched.len());
                let sql =
                    format!("UPDATE hl_groups SET last_pushed_at = $1 WHERE group_id IN ({list})");
                let mut q = sqlx::query(&sql).bind(now);
                for g in &touched {
                    q = q.bind(g);
                }
                q.execute(&mut *tx).await?;
            }
            sqlx::query(
                "UPDATE hl_engine_state SET last_success_at = $1, paused_until = 0 WHERE id = 1",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Parks a contact Higher Logic refused, with its error, unless a newer change arrived
    /// meanwhile (that one gets its own push); either way the claim ends.
    pub async fn park(&self, claim: &Claimed, message: &str) -> StoreResult<()> {
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "UPDATE hl_queue SET parked = 1, lease_owner = NULL, lease_until = 0, \
             attempts = attempts + 1, last_error = $1 \
             WHERE member_id = $2 AND lease_owner = $3 AND version = $4",
        )
        .bind(message)
        .bind(&claim.member_id)
        .bind(&self.owner)
        .bind(claim.version)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE hl_queue SET lease_owner = NULL, lease_until = 0 \
             WHERE member_id = $1 AND lease_owner = $2",
        )
        .bind(&claim.member_id)
        .bind(&self.owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives claims back with a retry time. `settings_at` is the `updated_at` of the settings
    /// the failed push used: if an administrator saved new ones meanwhile, the contacts are due
    /// at once instead (the failure belonged to the old settings).
    pub async fn release(
        &self,
        claims: &[&Claimed],
        next_attempt_at: i64,
        count_attempt: bool,
        error: &str,
        settings_at: i64,
    ) -> StoreResult<()> {
        if claims.is_empty() {
            return Ok(());
        }
        let list = placeholders(6, claims.len());
        let sql = format!(
            "UPDATE hl_queue SET lease_owner = NULL, lease_until = 0, attempts = attempts + $2, \
             next_attempt_at = CASE WHEN (SELECT updated_at FROM hl_settings WHERE id = 1) = $5 \
             THEN $3 ELSE 0 END, last_error = $4 WHERE lease_owner = $1 AND member_id IN ({list})"
        );
        let mut q = sqlx::query(&sql)
            .bind(&self.owner)
            .bind(i64::from(count_attempt))
            .bind(next_attempt_at)
            .bind(error)
            .bind(settings_at);
        for c in claims {
            q = q.bind(&c.member_id);
        }
        let mut tx = self.store.begin().await?;
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Pauses the sync until `until`, unless the settings changed since the failed push used
    /// them (`settings_at`, as in [`Queue::release`]): new settings are tried at once.
    pub async fn pause(&self, until: i64, error: &str, settings_at: i64) -> StoreResult<()> {
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "UPDATE hl_engine_state SET paused_until = CASE WHEN \
             (SELECT updated_at FROM hl_settings WHERE id = 1) = $4 THEN $1 ELSE 0 END, \
             last_error = $2, last_error_at = $3 WHERE id = 1",
        )
        .bind(until)
        .bind(error)
        .bind(now_ms())
        .bind(settings_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// How many contacts wait (for the status, the metrics and the end of a drain).
    pub async fn hl_queue_counts(&self) -> StoreResult<QueueCounts> {
        let (pending, parked, fanouts): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM hl_queue WHERE parked = 0), \
                    (SELECT COUNT(*) FROM hl_queue WHERE parked = 1), \
                    (SELECT COUNT(*) FROM hl_fanout)",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(QueueCounts {
            pending,
            parked,
            fanouts,
        })
    }

    /// Puts every parked contact back in the queue; returns how many.
    pub async fn hl_retry_parked(&self) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE hl_queue SET parked = 0, attempts = 0, next_attempt_at = 0 WHERE parked = 1",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }
}
