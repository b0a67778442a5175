//! Prometheus metrics of the sync, served as text at `/metrics`. Counters and the latency
//! histograms are per process; the queue gauges are read from the database at each scrape, so
//! every instance reports the shared queue.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::db::Store;

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
    /// Duration of one push request.
    pub push_seconds: Histogram,
    /// From the committed change to Higher Logic accepting it.
    pub change_to_push_seconds: Histogram,
    queue_depth: IntGauge,
    queue_parked: IntGauge,
    fanouts_pending: IntGauge,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let contacts_pushed = IntCounter::new(
        "guildgate_hl_contacts_pushed_total",
        "Contacts accepted by Higher Logic",
    )
    .expect("metric");
    let requests = IntCounterVec::new(
        Opts::new(
            "guildgate_hl_push_requests_total",
            "Push API requests by outcome",
        ),
        &["outcome"],
    )
    .expect("metric");
    let failures = IntCounterVec::new(
        Opts::new(
            "guildgate_hl_push_failures_total",
            "Failed Push API requests by kind",
        ),
        &["kind"],
    )
    .expect("metric");
    let parked = IntCounter::new(
        "guildgate_hl_contacts_parked_total",
        "Contacts parked because Higher Logic rejected their record",
    )
    .expect("metric");
    let push_seconds = Histogram::with_opts(
        HistogramOpts::new(
            "guildgate_hl_push_duration_seconds",
            "Duration of one Push API request",
        )
        .buckets(vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ]),
    )
    .expect("metric");
    let change_to_push_seconds = Histogram::with_opts(
        HistogramOpts::new(
            "guildgate_hl_change_to_push_seconds",
            "Time from a committed change to Higher Logic accepting it",
        )
        .buckets(vec![
            0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
        ]),
    )
    .expect("metric");
    let queue_depth = IntGauge::new(
        "guildgate_hl_queue_depth",
        "Contacts waiting to be pushed (not parked)",
    )
    .expect("metric");
    let queue_parked = IntGauge::new(
        "guildgate_hl_queue_parked",
        "Contacts parked after a rejection",
    )
    .expect("metric");
    let fanouts_pending = IntGauge::new(
        "guildgate_hl_fanouts_pending",
        "Group or field changes not yet expanded into contacts",
    )
    .expect("metric");
    // Every series exists from the start (at 0), so dashboards and alerts see it.
    for kind in ["rejected", "unauthorized", "rate_limited", "unavailable"] {
        failures.with_label_values(&[kind]);
        requests.with_label_values(&[kind]);
    }
    requests.with_label_values(&["accepted"]);
    for c in [
        Box::new(contacts_pushed.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(requests.clone()),
        Box::new(failures.clone()),
        Box::new(parked.clone()),
        Box::new(push_seconds.clone()),
        Box::new(change_to_push_seconds.clone()),
        Box::new(queue_depth.clone()),
        Box::new(queue_parked.clone()),
        Box::new(fanouts_pending.clone()),
    ] {
        registry.register(c).expect("register metric");
    }
    Metrics {
        registry,
        contacts_pushed,
        requests,
        failures,
        parked,
        push_seconds,
        change_to_push_seconds,
        queue_depth,
        queue_parked,
        fanouts_pending,
    }
});

/// The text exposition, with the queue gauges read now.
pub async fn render(store: &Store) -> Result<String, crate::db::StoreError> {
    let m = &*METRICS;
    let counts = store.hl_queue_counts().await?;
    m.queue_depth.set(counts.pending);
    m.queue_parked.set(counts.parked);
    m.fanouts_pending.set(counts.fanouts);
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&m.registry.gather(), &mut buf)
        .map_err(|e| crate::db::StoreError::Invalid(format!("metrics encoding: {e}")))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
