//! Hourly tallies of what the provider does (sign-ins by outcome, tokens issued per
//! application), kept in the database so that the console's Overview shows the same picture
//! on every instance. Events are counted in memory and written in one upsert per tally every
//! few seconds (and when the server stops): the token endpoint's hot path never waits for a
//! write of its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use crate::db::{now_ms, Store, StoreResult};

/// One hour, in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// How often the counts of an instance reach the database.
const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// How long the tallies are kept (the janitor deletes older hours).
pub const KEPT_FOR_MS: i64 = 31 * 24 * HOUR_MS;

/// What is tallied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tally {
    /// A sign-in that succeeded.
    SignInSuccess,
    /// A sign-in refused: wrong password, throttled, deactivated account, or shed.
    SignInFailure,
    /// Tokens issued (a code exchange or a refresh), labelled with the client id.
    TokensIssued,
}

impl Tally {
    pub fn as_str(self) -> &'static str {
        match self {
            Tally::SignInSuccess => "sign_in_success",
            Tally::SignInFailure => "sign_in_failure",
            Tally::TokensIssued => "tokens_issued",
        }
    }
}

/// The tallies of this instance not yet written.
#[derive(Debug, Default)]
pub struct Activity {
    pending: Mutex<HashMap<(i64, Tally, String), i64>>,
}

/// One row: the hour (its start, ms since the epoch), a label (a client id, or empty) and a
/// count.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HourCount {
    pub hour: i64,
    pub label: String,
    pub count: i64,
}

/// The start of the hour holding `ms`.
pub fn hour_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(HOUR_MS)
}

impl Activity {
    /// Counts one event of `tally` now; `label` names what it concerns (a client id) or is
    /// empty.
    pub fn count(&self, tally: Tally, label: &str) {
        let key = (hour_of(now_ms()), tally, label.to_string());
        if let Ok(mut pending) = self.pending.lock() {
            *pending.entry(key).or_default() += 1;
        }
    }

    /// Writes the counts not yet written, adding them to the database's. Counts are put back
    /// if the write fails, to go with the next one.
    pub async fn flush(&self, store: &Store) -> StoreResult<()> {
        let taken = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return Ok(()),
        };
        if taken.is_empty() {
            return Ok(());
        }
        let written = write(store, &taken).await;
        if written.is_err() {
            if let Ok(mut pending) = self.pending.lock() {
                for (key, n) in taken {
                    *pending.entry(key).or_default() += n;
                }
            }
        }
        written
    }
}

async fn write(store: &Store, counts: &HashMap<(i64, Tally, String), i64>) -> StoreResult<()> {
    let mut tx = store.begin().await?;
    for ((hour, tally, label), n) in counts {
        sqlx::query(
            "INSERT INTO hourly_activity (hour_start, tally, label, events) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (hour_start, tally, label) \
             DO UPDATE SET events = hourly_activity.events + excluded.events",
        )
        .bind(hour)
        .bind(tally.as_str())
        .bind(label)
        .bind(n)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The counts of `tally` for the hours from `since` (ms) on, by hour and label.
pub async fn since(store: &Store, tally: Tally, since: i64) -> StoreResult<Vec<HourCount>> {
    Ok(sqlx::query_as(
        "SELECT hour_start AS hour, label, events AS count FROM hourly_activity \
         WHERE tally = $1 AND hour_start >= $2 ORDER BY hour_start, label",
    )
    .bind(tally.as_str())
    .bind(hour_of(since))
    .fetch_all(store.pool())
    .await?)
}

/// Deletes the hours older than [`KEPT_FOR_MS`]; the number of rows deleted.
pub async fn prune(tx: &mut crate::db::Transaction, now: i64) -> StoreResult<u64> {
    Ok(
        sqlx::query("DELETE FROM hourly_activity WHERE hour_start < $1")
            .bind(now - KEPT_FOR_MS)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
    )
}

/// The flusher's stop switch and its task.
pub type Flusher = (watch::Sender<bool>, tokio::task::JoinHandle<()>);

/// Writes the counts of `activity` every few seconds, and once more when stopped.
pub fn spawn_flusher(activity: std::sync::Arc<Activity>, store: Store) -> Flusher {
    let (stop, mut stopping) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        loop {
            let stop = tokio::select! {
                _ = tick.tick() => false,
                _ = stopping.wait_for(|stop| *stop) => true,
            };
            if let Err(e) = activity.flush(&store).await {
                tracing::warn!(error = %e, "the activity counts could not be written");
            }
            if stop {
                return;
            }
        }
    });
    (stop, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_starts_on_the_hour() {
        assert_eq!(hour_of(0), 0);
        assert_eq!(hour_of(HOUR_MS - 1), 0);
        assert_eq!(hour_of(5 * HOUR_MS + 17), 5 * HOUR_MS);
        assert_eq!(hour_of(-1), -HOUR_MS);
    }

    #[test]
    fn counts_add_up_by_hour_tally_and_label() {
        let activity = Activity::default();
        activity.count(Tally::TokensIssued, "hl");
        activity.count(Tally::TokensIssued, "hl");
        activity.count(Tally::TokensIssued, "portal");
        activity.count(Tally::SignInFailure, "");
        let pending = activity.pending.lock().unwrap();
        let hour = hour_of(now_ms());
        // The hour may have turned between two counts; sum over hours.
        let sum = |tally: Tally, label: &str| -> i64 {
            pending
                .iter()
                .filter(|((h, t, l), _)| *h >= hour - HOUR_MS && *t == tally && l == label)
                .map(|(_, n)| *n)
                .sum()
        };
        assert_eq!(sum(Tally::TokensIssued, "hl"), 2);
        assert_eq!(sum(Tally::TokensIssued, "portal"), 1);
        assert_eq!(sum(Tally::SignInFailure, ""), 1);
        assert_eq!(sum(Tally::SignInSuccess, ""), 0);
    }
}
