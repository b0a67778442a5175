//! Logging, and what the features' Prometheus metrics share. Nothing secret is ever passed to
//! a log macro: no password, token, code or key.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// Installs the global subscriber; `RUST_LOG` overrides the default filter.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// A metric made and registered. Names, helps and buckets are constants in the modules that
/// call this, so a failure is a programming error (caught by their tests), not a runtime
/// condition.
pub fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &prometheus::Registry,
    metric: prometheus::Result<M>,
) -> M {
    let metric = metric.expect("metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("register metric");
    metric
}

/// Gauges made and registered, one for each `(name, help)`.
pub fn gauges<const N: usize>(
    registry: &prometheus::Registry,
    named: [(&str, &str); N],
) -> [prometheus::IntGauge; N] {
    named.map(|(name, help)| registered(registry, prometheus::IntGauge::new(name, help)))
}

/// The Prometheus text exposition of `registry`.
pub fn exposition(registry: &prometheus::Registry) -> Result<String, String> {
    use prometheus::Encoder;
    let mut buf = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), &mut buf)
        .map_err(|e| format!("metrics encoding: {e}"))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The names among `names` that `registry` has no series of (for the metric modules' tests).
#[cfg(test)]
pub fn missing<'a>(registry: &prometheus::Registry, names: &[&'a str]) -> Vec<&'a str> {
    let families = registry.gather();
    let known: Vec<&str> = families.iter().map(|f| f.get_name()).collect();
    names
        .iter()
        .copied()
        .filter(|n| !known.contains(n))
        .collect()
}
