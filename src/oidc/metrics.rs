//! Prometheus metrics of the provider itself, served at `/metrics` beside the sync's: requests
//! by route template and status with their latency, sign-ins by outcome, tokens issued by
//! grant, reuse of spent codes and refresh tokens, and, read at each scrape, the signed-in
//! browser sessions and the password-hashing queue. Counters are per process.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

use crate::db::{now_ms, Store, StoreError};
use crate::telemetry::{gauges, registered};

pub struct Metrics {
    registry: Registry,
    /// Requests by route template, method and status.
    pub requests: IntCounterVec,
    /// Request latency by route template.
    pub request_seconds: HistogramVec,
    /// Sign-ins (provider and console) by outcome.
    pub sign_ins: IntCounterVec,
    /// Access tokens issued by grant type.
    pub tokens_issued: IntCounterVec,
    /// Spent codes and refresh tokens presented again (their grant revoked).
    pub reuse_detected: IntCounterVec,
    sessions_active: IntGauge,
    hash_queue: IntGauge,
}

/// How a sign-in ended (the `outcome` label).
#[derive(Debug, Clone, Copy)]
pub enum SignIn {
    /// The browser is signed in: after the password, or after the second factor when the
    /// account has one.
    Success,
    WrongPassword,
    /// A wrong, or already used, second-factor or recovery code.
    WrongCode,
    Throttled,
    Deactivated,
    /// Refused with 503: the password-hashing queue was full.
    Shed,
}

impl SignIn {
    fn label(self) -> &'static str {
        match self {
            SignIn::Success => "success",
            SignIn::WrongPassword => "wrong_password",
            SignIn::WrongCode => "wrong_code",
            SignIn::Throttled => "throttled",
            SignIn::Deactivated => "deactivated",
            SignIn::Shed => "shed",
        }
    }
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let counter = |name: &str, help: &str, labels: &[&str]| {
        registered(&registry, IntCounterVec::new(Opts::new(name, help), labels))
    };
    let requests = counter(
        "guildgate_http_requests_total",
        "HTTP requests by route template, method and status",
        &["route", "method", "status"],
    );
    let sign_ins = counter(
        "guildgate_sign_ins_total",
        "Sign-ins at the provider and the console by outcome",
        &["outcome"],
    );
    let tokens_issued = counter(
        "guildgate_tokens_issued_total",
        "Access tokens issued by grant type",
        &["grant_type"],
    );
    let reuse_detected = counter(
        "guildgate_token_reuse_detected_total",
        "Spent authorization codes or refresh tokens presented again; their grant is revoked",
        &["kind"],
    );
    let opts = HistogramOpts::new(
        "guildgate_http_request_duration_seconds",
        "HTTP request latency by route template",
    )
    .buckets(vec![
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]);
    let request_seconds = registered(&registry, HistogramVec::new(opts, &["route"]));
    let [sessions_active, hash_queue] = gauges(
        &registry,
        [
            (
                "guildgate_sessions_active",
                "Signed-in browser sessions not expired",
            ),
            (
                "guildgate_password_hash_queue_length",
                "Password checks waiting for a hashing worker",
            ),
        ],
    );
    // Every series exists from the start (at 0), so dashboards and alerts see it.
    for outcome in [
        SignIn::Success,
        SignIn::WrongPassword,
        SignIn::Throttled,
        SignIn::Deactivated,
        SignIn::Shed,
    ] {
        sign_ins.with_label_values(&[outcome.label()]);
    }
    for grant in ["authorization_code", "refresh_token"] {
        tokens_issued.with_label_values(&[grant]);
    }
    for kind in ["authorization_code", "refresh_token"] {
        reuse_detected.with_label_values(&[kind]);
    }
    Metrics {
        registry,
        requests,
        request_seconds,
        sign_ins,
        tokens_issued,
        reuse_detected,
        sessions_active,
        hash_queue,
    }
});

/// Counts one sign-in.
pub fn sign_in(outcome: SignIn) {
    METRICS.sign_ins.with_label_values(&[outcome.label()]).inc();
}

/// Counts one answered request. `route` is the route template (never the path as sent).
pub fn request(route: &str, method: &str, status: u16, latency: Duration) {
    let m = &*METRICS;
    m.requests
        .with_label_values(&[route, method, &status.to_string()])
        .inc();
    m.request_seconds
        .with_label_values(&[route])
        .observe(latency.as_secs_f64());
}

/// The text exposition, with the gauges read now.
pub async fn render(store: &Store) -> Result<String, StoreError> {
    let m = &*METRICS;
    let (sessions,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM oidc_sessions WHERE account_id IS NOT NULL AND expires_at > $1",
    )
    .bind(now_ms())
    .fetch_one(store.pool())
    .await?;
    m.sessions_active.set(sessions);
    m.hash_queue.set(store.hash_pool().queue_len() as i64);
    crate::telemetry::exposition(&m.registry).map_err(StoreError::Invalid)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_series_is_registered_from_the_start() {
        let expected = [
            "guildgate_sign_ins_total",
            "guildgate_tokens_issued_total",
            "guildgate_token_reuse_detected_total",
            "guildgate_sessions_active",
            "guildgate_password_hash_queue_length",
        ];
        let missing = crate::telemetry::missing(&super::METRICS.registry, &expected);
        assert!(missing.is_empty(), "not registered: {missing:?}");
    }
}
