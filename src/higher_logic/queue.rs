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
//! - A parked contact comes back by itself after [`park_delay_ms`] (growing with each refusal),
//!   and at once when anything that could fix it changes (see the outbox).
//! - The batch size learnt from 413 answers is shared in `hl_engine_state`.

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

/// How long a contact refused `refusals` times stays parked before it is sent again by
/// itself: 15 minutes, 1 hour, 6 hours, then daily.
pub fn park_delay_ms(refusals: i64) -> i64 {
    const MINUTE: i64 = 60_000;
    match refusals {
        i64::MIN..=1 => 15 * MINUTE,
        2 => 60 * MINUTE,
        3 => 6 * 60 * MINUTE,
        _ => 24 * 60 * MINUTE,
    }
}

/// Accepted full batches at the learnt size before it grows again by a quarter.
pub const GROW_BATCH_AFTER: i64 = 20;

/// One worker's handle on the queue: its claims carry `owner` as `lease_owner`.
pub(super) struct Queue {
    store: Store,
    owner: String,
}

impl Queue {
    pub fn new(store: Store, owner: String) -> Queue {
        Queue { store, owner }
    }

    /// Until when (ms) the sync is paused (in the past when it is not), and the batch size
    /// learnt from 413 answers (0: none).
    pub async fn engine(&self) -> StoreResult<(i64, usize)> {
        let (paused_until, batch_size): (i64, i64) =
            sqlx::query_as("SELECT paused_until, batch_size FROM hl_engine_state WHERE id = 1")
                .fetch_one(self.store.pool())
                .await?;
        Ok((paused_until, batch_size.max(0) as usize))
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
            // A push went through: the error before it is over (text and JSON status).
            sqlx::query(
                "UPDATE hl_engine_state SET last_success_at = $1, paused_until = 0, \
                 last_error = NULL, last_error_at = NULL WHERE id = 1",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Parks a contact Higher Logic refused, with its error, unless a newer change arrived
    /// meanwhile (that one gets its own push); either way the claim ends. It comes back by
    /// itself after [`park_delay_ms`] of its refusals.
    pub async fn park(&self, claim: &Claimed, message: &str) -> StoreResult<()> {
        let mut tx = self.store.begin().await?;
        let (refusals,): (i64,) =
            sqlx::query_as("SELECT refusals FROM hl_queue WHERE member_id = $1")
                .bind(&claim.member_id)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or((0,));
        sqlx::query(
            "UPDATE hl_queue SET parked = 1, lease_owner = NULL, lease_until = 0, \
             attempts = attempts + 1, last_error = $1, refusals = refusals + 1, \
             next_attempt_at = $5 \
             WHERE member_id = $2 AND lease_owner = $3 AND version = $4",
        )
        .bind(message)
        .bind(&claim.member_id)
        .bind(&self.owner)
        .bind(claim.version)
        .bind(now_ms() + park_delay_ms(refusals + 1))
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

    /// Parked contacts whose time came are queued again (their refusals kept, so the next wait
    /// is longer); returns how many.
    pub async fn unpark_due(&self, now: i64) -> StoreResult<u64> {
        let mut tx = self.store.begin().await?;
        let n = sqlx::query(
            "UPDATE hl_queue SET parked = 0, next_attempt_at = 0 \
             WHERE parked = 1 AND next_attempt_at <= $1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Takes back the parking of `member_ids` refused with `message`: the refusal turned out
    /// to be Higher Logic's, not the records'. They wait for the pause like the rest.
    pub async fn unpark(&self, member_ids: &[String], message: &str) -> StoreResult<()> {
        if member_ids.is_empty() {
            return Ok(());
        }
        let list = placeholders(2, member_ids.len());
        let sql = format!(
            "UPDATE hl_queue SET parked = 0, next_attempt_at = 0, refusals = refusals - 1 \
             WHERE parked = 1 AND last_error = $1 AND member_id IN ({list})"
        );
        let mut q = sqlx::query(&sql).bind(message);
        for id in member_ids {
            q = q.bind(id);
        }
        let mut tx = self.store.begin().await?;
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A 413 answered a batch of `sent`: the shared batch size becomes at most `smaller`.
    pub async fn shrink_batch(&self, smaller: usize) -> StoreResult<()> {
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "UPDATE hl_engine_state SET batch_size = $1, batch_successes = 0 \
             WHERE id = 1 AND (batch_size = 0 OR batch_size > $1)",
        )
        .bind(smaller.max(1) as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A batch of `sent` went through while the learnt size is `learnt` (below `configured`):
    /// after [`GROW_BATCH_AFTER`] full ones in a row the size grows by a quarter, back to the
    /// configured one at most (stored as 0).
    pub async fn batch_accepted(
        &self,
        sent: usize,
        learnt: usize,
        configured: usize,
    ) -> StoreResult<()> {
        if learnt == 0 || learnt >= configured || sent < learnt {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        let (size, successes): (i64, i64) =
            sqlx::query_as("SELECT batch_size, batch_successes FROM hl_engine_state WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
        let (size, successes) = if size > 0 && successes + 1 >= GROW_BATCH_AFTER {
            let grown = size + (size / 4).max(1);
            (if grown >= configured as i64 { 0 } else { grown }, 0)
        } else {
            (size, successes + 1)
        };
        sqlx::query(
            "UPDATE hl_engine_state SET batch_size = $1, batch_successes = $2 WHERE id = 1",
        )
        .bind(size)
        .bind(successes)
        .execute(&mut *tx)
        .await?;
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

    /// The batch size learnt from 413 answers; 0 while none came (the configured size holds).
    pub async fn hl_batch_size(&self) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT batch_size FROM hl_engine_state WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(n)
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
