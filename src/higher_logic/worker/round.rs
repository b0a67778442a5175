//! One push round over a claimed batch: how each answer of Higher Logic is acted on.
//!
//! - Accepted: the contacts are done (and the learnt batch size may grow back).
//! - A short `count`: the batch is pushed again in halves until the record left out is found
//!   (counted in `guildgate_hl_contacts_skipped_total`); the full records make it harmless.
//! - Refused (`success: false`, 4xx): split in halves, both sent, until the record at fault is
//!   alone; that one is parked (and comes back by itself later). When both halves of a split
//!   get the very answer of the whole, or several contacts in a row are refused with the same
//!   answer and nothing goes through between, and that answer names none of the contacts
//!   ([`names_a_contact`]), the refusal is Higher Logic's, not the records':
//!   the sync pauses with backoff as for an outage, parks nothing, and says
//!   "Higher Logic refuses every record: <answer>".
//! - A record refused because one of its group keys belongs to a group made inside Higher Logic
//!   ([`clashing_group`]): the group is put in error and left out of records; the contact (and
//!   every other one in the round carrying that group) is queued again at once without it.
//! - 413: the batch size is halved for every instance (kept in the database) and the batch sent
//!   in halves.
//! - 401/403, 429, outages: everything left is given back and the sync pauses.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{backoff, Tick, Worker};
use crate::db::{now_ms, StoreResult};
use crate::higher_logic::client::PushOutcome;
use crate::higher_logic::metrics::METRICS;
use crate::higher_logic::queue::{Claimed, Entry};
use crate::higher_logic::records::{
    clashing_group, names_a_contact, prepare, Item, Preparation, Properties,
};
use crate::higher_logic::settings::IntegrationSettings;

/// Refusals with the same answer in a row, nothing accepted between, that make it Higher
/// Logic's refusal rather than the records'.
const REFUSALS_IN_A_ROW: usize = 5;

/// Contacts parked one after the other with one answer (see [`REFUSALS_IN_A_ROW`]).
#[derive(Debug, Default)]
pub(super) struct RefusalRun {
    message: String,
    member_ids: Vec<String>,
    /// The sync paused for this answer and nothing went through since: the same answer again
    /// pauses at once, parking nothing.
    paused_for_it: bool,
}

/// A piece of the claimed batch still to push.
enum Job {
    One(Vec<Entry>),
    /// The halves of a batch refused with this answer, sent one after the other.
    Halves(Vec<Entry>, Vec<Entry>, String),
}

enum Flow {
    Go,
    Stop,
}

fn halves(mut chunk: Vec<Entry>) -> (Vec<Entry>, Vec<Entry>) {
    let second = chunk.split_off(chunk.len() / 2);
    (chunk, second)
}

impl Worker {
    /// One push round over the claimed contacts. The settings hold the API key: not recorded.
    #[tracing::instrument(skip_all, fields(claimed = claimed.len()))]
    pub(super) async fn process(
        &self,
        settings: &IntegrationSettings,
        claimed: Vec<Claimed>,
        learnt_batch: usize,
    ) -> StoreResult<Tick> {
        let props = Properties {
            bio: settings.integrate_bio,
            profile_image: settings.integrate_profile_image,
            social: settings.integrate_social,
        };
        let ids: Vec<String> = claimed.iter().map(|c| c.member_id.clone()).collect();
        let prepared = prepare(&self.store, &ids, props).await?;
        let mut tick = Tick::default();
        let mut done_without_push = Vec::new();
        let mut entries = Vec::new();
        for (claim, p) in claimed.into_iter().zip(prepared) {
            match p.outcome {
                Preparation::Push { item, group_ids } => entries.push(Entry {
                    claim,
                    item: *item,
                    group_ids,
                }),
                _ => done_without_push.push(claim),
            }
        }
        if !done_without_push.is_empty() {
            tick.skipped = done_without_push.len();
            let claims: Vec<&Claimed> = done_without_push.iter().collect();
            self.queue.finish(&claims, &[]).await?;
        }
        let mut round = Round {
            settings,
            jobs: vec![Job::One(entries)],
            tick,
            learnt_batch,
        };
        while let Some(job) = round.jobs.pop() {
            let flow = match job {
                Job::One(chunk) if chunk.is_empty() => Flow::Go,
                Job::One(chunk) => {
                    let outcome = self.send(settings, &chunk).await;
                    self.settle(&mut round, chunk, outcome).await?
                }
                Job::Halves(a, b, message) => self.split(&mut round, a, b, message).await?,
            };
            if let Flow::Stop = flow {
                break;
            }
        }
        Ok(round.tick)
    }

    /// One request, timed and counted.
    async fn send(&self, settings: &IntegrationSettings, chunk: &[Entry]) -> PushOutcome {
        let items: Vec<Item> = chunk.iter().map(|e| e.item.clone()).collect();
        let started = Instant::now();
        let outcome = self.client.push(settings, &items).await;
        METRICS
            .push_seconds
            .observe(started.elapsed().as_secs_f64());
        let label = outcome.label();
        METRICS.requests.with_label_values(&[label]).inc();
        if label != "accepted" {
            METRICS.failures.with_label_values(&[label]).inc();
        }
        outcome
    }

    /// Sends both halves of a refused batch; the same answer for both is Higher Logic's.
    async fn split(
        &self,
        round: &mut Round<'_>,
        a: Vec<Entry>,
        b: Vec<Entry>,
        message: String,
    ) -> StoreResult<Flow> {
        let first = self.send(round.settings, &a).await;
        if !matches!(
            first,
            PushOutcome::Rejected(_) | PushOutcome::Accepted | PushOutcome::ShortCount(_)
        ) {
            round.jobs.push(Job::One(b));
            return self.settle(round, a, first).await;
        }
        let second = self.send(round.settings, &b).await;
        if let (PushOutcome::Rejected(x), PushOutcome::Rejected(y)) = (&first, &second) {
            let items = a.iter().chain(&b).map(|e| &e.item);
            if *x == message && *y == message && !names_a_contact(&message, items) {
                round.jobs.push(Job::One(a));
                round.jobs.push(Job::One(b));
                return self.refusing(round, &message).await;
            }
        }
        if let Flow::Stop = self.settle(round, a, first).await? {
            round.jobs.push(Job::One(b));
            return self.give_back_on_stop(round).await;
        }
        self.settle(round, b, second).await
    }

    /// The first half's answer paused the sync (which gave back every job then waiting):
    /// the second half, answered but not yet settled, waits for the same pause.
    async fn give_back_on_stop(&self, round: &mut Round<'_>) -> StoreResult<Flow> {
        let rest: Vec<&Claimed> = round.rest().collect();
        let (paused_until, _) = self.queue.engine().await?;
        let error = self.queue.last_error().await?.unwrap_or_default();
        self.queue
            .release(
                &rest,
                paused_until.max(now_ms()),
                false,
                &error,
                round.settings.updated_at,
            )
            .await?;
        round.jobs.clear();
        Ok(Flow::Stop)
    }

    async fn settle(
        &self,
        round: &mut Round<'_>,
        chunk: Vec<Entry>,
        outcome: PushOutcome,
    ) -> StoreResult<Flow> {
        let settings = round.settings;
        match outcome {
            PushOutcome::Accepted => {
                self.failures.store(0, Ordering::Relaxed);
                *self.lock_run() = RefusalRun::default();
                round.tick.pushed += chunk.len();
                self.complete(&chunk).await?;
                self.queue
                    .batch_accepted(chunk.len(), round.learnt_batch, self.cfg.batch_size)
                    .await?;
            }
            PushOutcome::ShortCount(count) => {
                let missing = chunk.len().saturating_sub(count);
                METRICS.skipped.inc_by(missing as u64);
                tracing::warn!(
                    sent = chunk.len(),
                    count,
                    "Higher Logic took fewer records than sent; pushing the batch again in halves"
                );
                if chunk.len() == 1 {
                    let message = "Higher Logic answered success but took none of this record, \
                                   sent alone (count 0)";
                    return self.refused(round, chunk, message.into()).await;
                }
                round.again_in_halves(chunk);
            }
            PushOutcome::Rejected(message) if chunk.len() > 1 => {
                tracing::debug!(%message, "batch refused; splitting it");
                let (a, b) = halves(chunk);
                round.jobs.push(Job::Halves(a, b, message));
            }
            PushOutcome::Rejected(message) => return self.refused(round, chunk, message).await,
            PushOutcome::TooLarge(_) if chunk.len() > 1 => {
                let smaller = chunk.len() / 2;
                tracing::warn!(
                    sent = chunk.len(),
                    smaller,
                    "Higher Logic found the request too large (413); batches get smaller"
                );
                self.queue.shrink_batch(smaller).await?;
                round.learnt_batch = smaller;
                round.again_in_halves(chunk);
            }
            PushOutcome::TooLarge(message) => return self.refused(round, chunk, message).await,
            PushOutcome::RateLimited(delay) => {
                round.jobs.push(Job::One(chunk));
                let rest: Vec<&Claimed> = round.rest().collect();
                let until = now_ms() + delay.as_millis() as i64;
                self.queue
                    .release(
                        &rest,
                        until,
                        false,
                        "rate limited by Higher Logic (429)",
                        settings.updated_at,
                    )
                    .await?;
                self.queue
                    .pause(
                        until,
                        &format!("rate limited (429); retrying after {delay:?}"),
                        settings.updated_at,
                    )
                    .await?;
                round.tick.paused_until = Some(until);
                return Ok(Flow::Stop);
            }
            PushOutcome::Unauthorized(message) | PushOutcome::Unavailable(message) => {
                round.jobs.push(Job::One(chunk));
                self.pause_round(round, &message, true).await?;
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Go)
    }

    /// One record refused on its own: a clashing group is taken out of records; anything else
    /// parks the contact, unless it is one refusal too many of the same answer in a row.
    async fn refused(
        &self,
        round: &mut Round<'_>,
        chunk: Vec<Entry>,
        message: String,
    ) -> StoreResult<Flow> {
        let entry = &chunk[0];
        if let Some(group_key) = clashing_group(&message, &entry.item) {
            tracing::warn!(%group_key, "Higher Logic has a group of its own with this key");
            self.store.hl_mark_key_clash(&group_key, &message).await?;
            // This contact and every other one of the round carrying the group go again at
            // once, without it.
            let mut again: Vec<Entry> = chunk;
            for job in round.jobs.iter_mut() {
                let lists: Vec<&mut Vec<Entry>> = match job {
                    Job::One(c) => vec![c],
                    Job::Halves(a, b, _) => vec![a, b],
                };
                for list in lists {
                    let (with, without): (Vec<Entry>, Vec<Entry>) = std::mem::take(list)
                        .into_iter()
                        .partition(|e| carries(&e.item, &group_key));
                    *list = without;
                    again.extend(with);
                }
            }
            let claims: Vec<&Claimed> = again.iter().map(|e| &e.claim).collect();
            self.queue
                .release(&claims, 0, false, &message, round.settings.updated_at)
                .await?;
            return Ok(Flow::Go);
        }
        let about_it = names_a_contact(&message, [&entry.item]);
        if !about_it && self.lock_run().paused_for_it && self.lock_run().message == message {
            round.jobs.push(Job::One(chunk));
            return self.refusing(round, &message).await;
        }
        round.tick.parked += 1;
        self.park(&entry.claim, &message).await?;
        let run = {
            let mut run = self.lock_run();
            if run.message != message {
                *run = RefusalRun {
                    message: message.clone(),
                    ..Default::default()
                };
            }
            if !about_it {
                run.member_ids.push(entry.claim.member_id.clone());
            }
            (run.member_ids.len() >= REFUSALS_IN_A_ROW).then(|| std::mem::take(&mut run.member_ids))
        };
        if let Some(ids) = run {
            // Not the records after all: take the parking back.
            self.queue.unpark(&ids, &message).await?;
            round.tick.parked = round.tick.parked.saturating_sub(ids.len());
            return self.refusing(round, &message).await;
        }
        Ok(Flow::Go)
    }

    /// Higher Logic refuses every record alike: pause like an outage, park nothing.
    async fn refusing(&self, round: &mut Round<'_>, message: &str) -> StoreResult<Flow> {
        METRICS.refusing_pauses.inc();
        *self.lock_run() = RefusalRun {
            message: message.to_string(),
            member_ids: Vec::new(),
            paused_for_it: true,
        };
        let text = format!("Higher Logic refuses every record: {message}");
        tracing::warn!(error = %text, "pausing the sync");
        self.pause_round(round, &text, false).await?;
        Ok(Flow::Stop)
    }

    /// Gives back every contact of the round still to push and pauses the sync with backoff.
    async fn pause_round(
        &self,
        round: &mut Round<'_>,
        message: &str,
        count_attempt: bool,
    ) -> StoreResult<()> {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed);
        let until = now_ms() + backoff(&self.cfg, failures).as_millis() as i64;
        let rest: Vec<&Claimed> = round.rest().collect();
        let row_until = rest
            .iter()
            .map(|c| {
                now_ms() + backoff(&self.cfg, c.attempts.clamp(0, 20) as u32).as_millis() as i64
            })
            .max()
            .unwrap_or(until)
            .min(until);
        self.queue
            .release(
                &rest,
                row_until,
                count_attempt,
                message,
                round.settings.updated_at,
            )
            .await?;
        tracing::warn!(error = %message, "push failed; pausing the sync");
        self.queue
            .pause(until, message, round.settings.updated_at)
            .await?;
        round.tick.paused_until = Some(until);
        round.jobs.clear();
        Ok(())
    }

    fn lock_run(&self) -> std::sync::MutexGuard<'_, RefusalRun> {
        // A poisoned run only loses a count.
        self.refusal_run
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn complete(&self, chunk: &[Entry]) -> StoreResult<()> {
        let claims: Vec<&Claimed> = chunk.iter().map(|e| &e.claim).collect();
        let entries: Vec<&Entry> = chunk.iter().collect();
        self.queue.finish(&claims, &entries).await?;
        let now = now_ms();
        METRICS.contacts_pushed.inc_by(chunk.len() as u64);
        for e in chunk {
            METRICS
                .change_to_push_seconds
                .observe((now - e.claim.first_change_at).max(0) as f64 / 1000.0);
        }
        Ok(())
    }

    async fn park(&self, claim: &Claimed, message: &str) -> StoreResult<()> {
        METRICS.parked.inc();
        tracing::warn!(member_id = %claim.member_id, error = %message, "Higher Logic rejected a record; parked");
        self.queue.park(claim, message).await
    }
}

/// Whether the item names the group `key`.
fn carries(item: &Item, key: &str) -> bool {
    item.community_groups
        .iter()
        .chain(&item.security_groups)
        .any(|g| g.group_key == key)
}

/// The state of one round.
struct Round<'a> {
    settings: &'a IntegrationSettings,
    /// Pieces still to push, the next one last.
    jobs: Vec<Job>,
    tick: Tick,
    learnt_batch: usize,
}

impl Round<'_> {
    /// Pushes `chunk` again, in two requests (the first half first).
    fn again_in_halves(&mut self, chunk: Vec<Entry>) {
        let (a, b) = halves(chunk);
        self.jobs.push(Job::One(b));
        self.jobs.push(Job::One(a));
    }

    /// The claims of every contact still to push.
    fn rest(&self) -> impl Iterator<Item = &Claimed> {
        self.jobs
            .iter()
            .flat_map(|job| match job {
                Job::One(c) => c.iter().chain([].iter()),
                Job::Halves(a, b, _) => a.iter().chain(b.iter()),
            })
            .map(|e| &e.claim)
    }
}
