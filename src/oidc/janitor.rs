//! The expiry janitor: every five minutes it deletes expired codes, tokens, browser sessions
//! and invitation or reset links. On PostgreSQL one instance sweeps at a time (an advisory lock
//! held for the sweep's transaction; the others skip that round). It stops with the server.

use std::time::Duration;

use tokio::sync::watch;

use crate::db::{now_ms, Engine, Store, StoreResult, Transaction};

/// How often it sweeps.
const EVERY: Duration = Duration::from_secs(300);

/// The advisory lock of the sweep: any number no other part of Guildgate uses.
pub const SWEEP_LOCK: i64 = 0x6767_6a61_6e69_746f;

/// What one sweep deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub codes: u64,
    pub tokens: u64,
    pub sessions: u64,
    pub links: u64,
    /// Hours of activity counts older than a month.
    pub activity: u64,
}

impl Swept {
    pub fn total(&self) -> u64 {
        self.codes + self.tokens + self.sessions + self.links + self.activity
    }
}

/// Deletes what has expired; `None` when another instance is sweeping (PostgreSQL).
pub async fn sweep(store: &Store) -> StoreResult<Option<Swept>> {
    let mut tx = store.begin().await?;
    if store.engine() == Engine::Postgres {
        let (ours,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
            .bind(SWEEP_LOCK)
            .fetch_one(&mut *tx)
            .await?;
        if !ours {
            return Ok(None);
        }
    }
    let now = now_ms();
    // A spent code is kept while tokens issued from it live: a replay of it, however late,
    // must still find it to revoke them (RFC 6749 4.1.2).
    let codes = delete(
        &mut tx,
        "DELETE FROM oidc_codes WHERE expires_at <= $1 AND (used_at IS NULL OR NOT EXISTS \
         (SELECT 1 FROM oidc_tokens t WHERE t.grant_id = oidc_codes.grant_id \
         AND t.expires_at > $1 AND t.revoked_at IS NULL))",
        now,
    )
    .await?;
    // Spent and revoked tokens are kept until they expire: replay detection needs them.
    let tokens = delete(
        &mut tx,
        "DELETE FROM oidc_tokens WHERE expires_at <= $1",
        now,
    )
    .await?;
    let sessions = crate::web::sessions::delete_expired(&mut tx, now).await?;
    // A link past its lifetime opens nothing, used or not.
    let links = delete(
        &mut tx,
        "DELETE FROM account_tokens WHERE expires_at <= $1",
        now,
    )
    .await?;
    let activity = crate::activity::prune(&mut tx, now).await?;
    tx.commit().await?;
    Ok(Some(Swept {
        codes,
        tokens,
        sessions,
        links,
        activity,
    }))
}

async fn delete(tx: &mut Transaction, sql: &str, now: i64) -> StoreResult<u64> {
    Ok(sqlx::query(sql)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// The janitor's stop switch and its task.
pub type Janitor = (watch::Sender<bool>, tokio::task::JoinHandle<()>);

/// Sweeps every five minutes until the switch is set.
pub fn spawn(store: Store) -> Janitor {
    let (stop, mut stopping) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopping.wait_for(|stop| *stop) => return,
            }
            match sweep(&store).await {
                Ok(Some(swept)) if swept.total() > 0 => {
                    tracing::debug!(?swept, "expired codes, tokens, sessions and links deleted")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the sweep of expired rows failed"),
            }
        }
    });
    (stop, task)
}
