//! Prometheus metrics of the sync, served as text at `/metrics`. Counters and the latency
//! histograms are per process; the queue gauges are read from the database at each scrape, so
//! every instance reports the shared queue.

use std::sync::LazyLock;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::db::Store;
use crate::telemetry::{gauges, registered};

pub struct Metrics {
    registry: Registry,
    /// Contacts Higher Logic accepted.
    pub contacts_pushed: IntCounter,
    /// Push requests by outcome (accepted, rejected, unauthorized, rate_limited, unavailable).
    pub requests: IntCounterVec,
    /// Failed pushes by kind (same labels but accepted).
    pub failures: IntCounterVec,
    /// Contacts parked after Higher Logic rejected them.
    pub parked: IntCounter,
    /// Contacts a short `count` left out, found by re-pushing the batch split.
    pub skipped: IntCounter,
    /// Times the sync paused because Higher Logic refused every record alike.
    pub refusing_pauses: IntCounter,
    /// Duration of one push request.
    pub push_seconds: Histogram,
    /// From the committed change to Higher Logic accepting it.
    pub change_to_push_seconds: Histogram,
    queue_depth: IntGauge,
    queue_parked: IntGauge,
    fanouts_pending: IntGauge,
    batch_size: IntGauge,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let [contacts_pushed, parked, skipped, refusing_pauses] = [
        (
            "guildgate_hl_contacts_pushed_total",
            "Contacts accepted by Higher Logic",
        ),
        (
            "guildgate_hl_contacts_parked_total",
            "Contacts parked because Higher Logic rejected their record",
        ),
        (
            "guildgate_hl_contacts_skipped_total",
            "Contacts Higher Logic left out of an accepted batch (a short count), found and pushed again",
        ),
        (
            "guildgate_hl_refusing_pauses_total",
            "Pauses because Higher Logic refused every record with the same answer",
        ),
    ]
    .map(|(name, help)| registered(&registry, IntCounter::new(name, help)));
    let [requests, failures] = [
        (
            "guildgate_hl_push_requests_total",
            "Push API requests by outcome",
            "outcome",
        ),
        (
            "guildgate_hl_push_failures_total",
            "Failed Push API requests by kind",
            "kind",
        ),
    ]
    .map(|(name, help, label)| {
        registered(
            &registry,
            IntCounterVec::new(Opts::new(name, help), &[label]),
        )
    });
    let [push_seconds, change_to_push_seconds] = [
        (
            "guildgate_hl_push_duration_seconds",
            "Duration of one Push API request",
            [
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ],
        ),
        (
            "guildgate_hl_change_to_push_seconds",
            "Time from a committed change to Higher Logic accepting it",
            [
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
            ],
        ),
    ]
    .map(|(name, help, buckets)| {
        let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
        registered(&registry, Histogram::with_opts(opts))
    });
    let [queue_depth, queue_parked, fanouts_pending, batch_size] = gauges(
        &registry,
        [
            (
                "guildgate_hl_queue_depth",
                "Contacts waiting to be pushed (not parked)",
            ),
            (
                "guildgate_hl_queue_parked",
                "Contacts parked after a rejection",
            ),
            (
                "guildgate_hl_fanouts_pending",
                "Group or field changes not yet expanded into contacts",
            ),
            (
                "guildgate_hl_batch_size",
                "Contacts per push request now (smaller than configured after a 413)",
            ),
        ],
    );
    // Every series exists from the start (at 0), so dashboards and alerts see it.
    for kind in [
        "short_count",
        "rejected",
        "unauthorized",
        "rate_limited",
        "too_large",
        "unavailable",
    ] {
        failures.with_label_values(&[kind]);
        requests.with_label_values(&[kind]);
    }
    requests.with_label_values(&["accepted"]);
    Metrics {
        registry,
        contacts_pushed,
        requests,
        failures,
        parked,
        skipped,
        refusing_pauses,
        push_seconds,
        change_to_push_seconds,
        queue_depth,
        queue_parked,
        fanouts_pending,
        batch_size,
    }
});

/// The text exposition, with the queue gauges read now. `configured_batch` is
/// `higher_logic.batch_size`, shown while no 413 made the shared batch size smaller.
pub async fn render(
    store: &Store,
    configured_batch: usize,
) -> Result<String, crate::db::StoreError> {
    let m = &*METRICS;
    let counts = store.hl_queue_counts().await?;
    m.queue_depth.set(counts.pending);
    m.queue_parked.set(counts.parked);
    m.fanouts_pending.set(counts.fanouts);
    let learnt = store.hl_batch_size().await?;
    m.batch_size.set(if learnt > 0 {
        learnt
    } else {
        configured_batch as i64
    });
    crate::telemetry::exposition(&m.registry).map_err(crate::db::StoreError::Invalid)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_series_is_registered_from_the_start() {
        let expected = [
            "guildgate_hl_contacts_pushed_total",
            "guildgate_hl_contacts_parked_total",
            "guildgate_hl_push_requests_total",
            "guildgate_hl_push_failures_total",
            "guildgate_hl_push_duration_seconds",
            "guildgate_hl_change_to_push_seconds",
            "guildgate_hl_queue_depth",
            "guildgate_hl_queue_parked",
            "guildgate_hl_fanouts_pending",
            "guildgate_hl_contacts_skipped_total",
            "guildgate_hl_refusing_pauses_total",
            "guildgate_hl_batch_size",
        ];
        let missing = crate::telemetry::missing(&super::METRICS.registry, &expected);
        assert!(missing.is_empty(), "not registered: {missing:?}");
    }
}
