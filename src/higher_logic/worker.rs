//! The worker's policy: claims queued contacts, builds their full records, pushes them in
//! batches and marks them done only after Higher Logic accepted them. The SQL of the claims
//! and the pause is in [`super::queue`].
//!
//! - A killed worker's claims expire after `lease_secs` (keep it well above `timeout_secs`, so
//!   an expired claim's request has already ended).
//! - How one claimed batch is pushed (splitting, parking, short counts, 413, refusals that are
//!   Higher Logic's own) is in [`round`].
//! - Outages (5xx, timeouts, dropped connections) and refused credentials pause the engine
//!   with exponential backoff and equal jitter; 429 pauses for `Retry-After`. The pause is
//!   shared through the database and ends by itself.
//! - Parked contacts whose wait is over are queued again at the start of each step.

mod round;

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::client::{PushClient, PushV1};
use super::outbox::expand_fanouts;
use super::queue::Queue;
use crate::db::{new_id, now_ms, Store, StoreError, StoreResult};

/// `[higher_logic]` in the configuration: how the sync worker runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSettings {
    /// Run the sync worker inside `serve`.
    pub worker: bool,
    /// How long a claim lasts before another worker may take the contacts over.
    pub lease_secs: u64,
    /// Timeout of one push request.
    pub timeout_secs: u64,
    /// How often an idle worker looks for work.
    pub poll_ms: u64,
    /// Contacts per push request.
    pub batch_size: usize,
    /// First retry delay after a failure; doubles per failure.
    pub backoff_base_ms: u64,
    /// Longest retry delay.
    pub backoff_max_ms: u64,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            worker: true,
            lease_secs: 120,
            timeout_secs: 30,
            poll_ms: 200,
            batch_size: 100,
            backoff_base_ms: 1000,
            backoff_max_ms: 5 * 60 * 1000,
        }
    }
}

impl SyncSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_size == 0 || self.batch_size > 1000 {
            return Err("higher_logic.batch_size must be between 1 and 1000".into());
        }
        if self.lease_secs < 2 * self.timeout_secs.max(1) {
            return Err(
                "higher_logic.lease_secs must be at least twice higher_logic.timeout_secs".into(),
            );
        }
        if self.poll_ms == 0 || self.backoff_base_ms == 0 {
            return Err("higher_logic.poll_ms and backoff_base_ms must be above 0".into());
        }
        Ok(())
    }
}

/// What one step of the worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tick {
    /// Contacts Higher Logic accepted.
    pub pushed: usize,
    /// Contacts done without a push (no account, not synced, gone).
    pub skipped: usize,
    /// Contacts parked after a rejection.
    pub parked: usize,
    /// Nothing was due.
    pub idle: bool,
    /// The engine is paused until this time (ms) or not configured.
    pub paused_until: Option<i64>,
    pub not_configured: bool,
}

/// What `guildgate sync run` reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DrainReport {
    pub pushed: usize,
    pub skipped: usize,
    pub parked: usize,
    /// Contacts still queued (not parked) when the drain ended.
    pub remaining: i64,
    pub complete: bool,
    pub elapsed_ms: u128,
    pub last_error: Option<String>,
}

pub struct Worker {
    store: Store,
    queue: Queue,
    client: Arc<dyn PushClient>,
    cfg: SyncSettings,
    id: String,
    failures: AtomicU32,
    /// The `updated_at` of the settings the last tick used.
    settings_seen: AtomicI64,
    /// When this worker last queued again the parked contacts whose wait is over (ms).
    unparked_at: AtomicI64,
    /// Contacts parked one after the other with the same answer, nothing accepted between.
    refusal_run: Mutex<round::RefusalRun>,
}

/// How long a paused worker sleeps before it looks again: until the pause ends, but at least
/// `least_ms` and at most a few seconds, because new settings (saved on any instance) lift a
/// pause in the database.
fn paused_wait(until: i64, least_ms: u64) -> Duration {
    const RECHECK_MS: i64 = 5_000;
    let least = (least_ms as i64).min(RECHECK_MS);
    Duration::from_millis((until - now_ms()).clamp(least, RECHECK_MS) as u64)
}

fn backoff(cfg: &SyncSettings, failures: u32) -> Duration {
    let exp = cfg
        .backoff_base_ms
        .saturating_mul(1u64 << failures.min(20))
        .min(cfg.backoff_max_ms);
    // "Equal jitter": a random delay between half and all of the step, so instances do not
    // retry in step and none retries much sooner than the backoff asks.
    let ms = rand::thread_rng().gen_range(exp / 2..=exp.max(1));
    Duration::from_millis(ms)
}

impl Worker {
    pub fn new(store: Store, cfg: SyncSettings) -> Result<Worker, StoreError> {
        let client = PushV1::new(Duration::from_secs(cfg.timeout_secs))
            .map_err(|e| StoreError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Worker::with_client(store, cfg, Arc::new(client)))
    }

    pub fn with_client(store: Store, cfg: SyncSettings, client: Arc<dyn PushClient>) -> Worker {
        let id = new_id();
        Worker {
            queue: Queue::new(store.clone(), id.clone()),
            store,
            client,
            cfg,
            id,
            failures: AtomicU32::new(0),
            settings_seen: AtomicI64::new(0),
            unparked_at: AtomicI64::new(0),
            refusal_run: Mutex::new(round::RefusalRun::default()),
        }
    }

    fn lease_ms(&self) -> i64 {
        (self.cfg.lease_secs * 1000) as i64
    }

    /// Contacts per request: the configured size, or the smaller one a 413 taught.
    fn batch_size(&self, learnt: usize) -> usize {
        if learnt == 0 {
            self.cfg.batch_size
        } else {
            learnt.min(self.cfg.batch_size)
        }
    }

    /// One step: expand fan-outs, claim a batch, push it, record the outcome.
    #[tracing::instrument(skip_all, fields(worker = %self.id))]
    pub async fn tick(&self) -> StoreResult<Tick> {
        let settings = self.store.hl_settings().await?;
        // New settings start a new backoff: the failures counted were the old settings'.
        if self
            .settings_seen
            .swap(settings.updated_at, Ordering::Relaxed)
            != settings.updated_at
        {
            self.failures.store(0, Ordering::Relaxed);
        }
        if !settings.is_configured() {
            return Ok(Tick {
                idle: true,
                not_configured: true,
                ..Default::default()
            });
        }
        let now = now_ms();
        let (paused_until, learnt_batch) = self.queue.engine().await?;
        if paused_until > now {
            return Ok(Tick {
                idle: true,
                paused_until: Some(paused_until),
                ..Default::default()
            });
        }
        // Waits are minutes long: a look every second is plenty, and spares the busy loop a write.
        if now - self.unparked_at.load(Ordering::Relaxed) >= 1000 {
            self.unparked_at.store(now, Ordering::Relaxed);
            self.queue.unpark_due(now).await?;
        }
        expand_fanouts(&self.store, &self.id, self.lease_ms()).await?;
        let batch = self.batch_size(learnt_batch);
        let claimed = self.queue.claim(now, self.lease_ms(), batch).await?;
        if claimed.is_empty() {
            return Ok(Tick {
                idle: true,
                ..Default::default()
            });
        }
        self.process(&settings, claimed, learnt_batch).await
    }

    /// Pushes until nothing is due any more, or `timeout` passed (`guildgate sync run`).
    /// Contacts waiting for a retry are waited for, within the timeout.
    pub async fn drain(&self, timeout: Duration) -> StoreResult<DrainReport> {
        let started = Instant::now();
        let mut report = DrainReport::default();
        loop {
            let tick = match self.tick().await {
                Ok(t) => t,
                Err(e) => {
                    report.last_error = Some(e.to_string());
                    Tick {
                        idle: true,
                        ..Default::default()
                    }
                }
            };
            report.pushed += tick.pushed;
            report.skipped += tick.skipped;
            report.parked += tick.parked;
            if tick.not_configured {
                report.last_error =
                    Some("Higher Logic is not configured (tenant code and API key)".into());
            }
            let counts = self.store.hl_queue_counts().await?;
            report.remaining = counts.pending + counts.fanouts;
            if report.remaining == 0 {
                report.complete = true;
                break;
            }
            if started.elapsed() >= timeout || tick.not_configured {
                break;
            }
            if tick.idle || tick.paused_until.is_some() {
                let wait = match tick.paused_until {
                    Some(until) => paused_wait(until, 1),
                    None => Duration::from_millis(self.cfg.poll_ms.min(200)),
                };
                let left = timeout.saturating_sub(started.elapsed());
                tokio::time::sleep(wait.min(left).max(Duration::from_millis(1))).await;
            }
        }
        let last_error = self.queue.last_error().await?;
        if !report.complete && report.last_error.is_none() {
            report.last_error = last_error;
        }
        report.elapsed_ms = started.elapsed().as_millis();
        Ok(report)
    }

    /// Runs until `stop` turns true: the worker inside `serve`.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        tracing::info!(worker = %self.id, "Higher Logic sync worker started");
        loop {
            if *stop.borrow() {
                break;
            }
            let wait = match self.tick().await {
                Ok(t) if !t.idle && t.paused_until.is_none() => Duration::ZERO,
                Ok(t) => match t.paused_until {
                    Some(until) => paused_wait(until, self.cfg.poll_ms),
                    None => Duration::from_millis(self.cfg.poll_ms),
                },
                Err(e) => {
                    tracing::error!(error = %e, "sync worker step failed");
                    backoff(&self.cfg, 3)
                }
            };
            if wait > Duration::ZERO {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        tracing::info!(worker = %self.id, "Higher Logic sync worker stopped");
    }
}

/// Starts the worker inside `serve`; send `true` on the returned sender to stop it.
pub fn spawn(
    store: Store,
    cfg: SyncSettings,
) -> Result<
    (
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ),
    StoreError,
> {
    let worker = Worker::new(store, cfg)?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    Ok((tx, tokio::spawn(worker.run(rx))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        let cfg = SyncSettings {
            backoff_base_ms: 100,
            backoff_max_ms: 1000,
            ..Default::default()
        };
        for _ in 0..50 {
            let d = backoff(&cfg, 0).as_millis();
            assert!((50..=100).contains(&d), "{d}");
            let d = backoff(&cfg, 10).as_millis();
            assert!((500..=1000).contains(&d), "{d}");
        }
    }

    #[test]
    fn lease_must_outlast_the_request() {
        let mut cfg = SyncSettings::default();
        assert!(cfg.validate().is_ok());
        cfg.lease_secs = cfg.timeout_secs;
        assert!(cfg.validate().is_err());
    }
}
