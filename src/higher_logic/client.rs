//! The Push API client. [`PushClient`] is the seam for a later V2 client; [`PushV1`] speaks
//! V1: `POST {base_url}` with `x-api-key`, body `{"TenantCode", "Items"}`, answer
//! `{"success", "count", "errorMessage"}`.
//!
//! How answers are read (assumed where Higher Logic publishes nothing):
//! - 2xx with `success: true`: accepted, if `count` (when given) covers every item sent; a
//!   smaller `count` is a short count: some record was skipped, and the worker re-pushes the
//!   batch split until it finds it.
//! - 2xx with `success: false`, or 400/404/409/422 (any other 4xx but the ones below): the
//!   batch's data is refused. The worker splits the batch to find the record at fault.
//! - 413: the request is too large; the worker halves its batch size and remembers it.
//! - 401/403: the key or tenant code is wrong: the engine pauses, nothing is parked.
//! - 429: rate limited; `Retry-After` (seconds or an HTTP date) is honoured.
//! - 408, 5xx, timeouts, refused or dropped connections, unreadable answers: unavailable,
//!   retried with backoff.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::records::Item;
use super::settings::IntegrationSettings;

/// What became of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    Accepted,
    /// `success: true`, but `count` says Higher Logic took fewer items than were sent.
    ShortCount(usize),
    /// The data was refused (4xx, or `success: false`).
    Rejected(String),
    /// Credentials refused (401/403).
    Unauthorized(String),
    RateLimited(Duration),
    /// 413: the request is too large for Higher Logic.
    TooLarge(String),
    /// Outage, timeout or a dropped connection.
    Unavailable(String),
}

pub type PushFuture<'a> = Pin<Box<dyn Future<Output = PushOutcome> + Send + 'a>>;

/// A way of delivering full records to Higher Logic.
pub trait PushClient: Send + Sync {
    fn push<'a>(&'a self, settings: &'a IntegrationSettings, items: &'a [Item]) -> PushFuture<'a>;
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "TenantCode")]
    tenant_code: &'a str,
    #[serde(rename = "Items")]
    items: &'a [Item],
}

#[derive(Deserialize)]
struct Answer {
    success: bool,
    #[serde(default)]
    count: Option<u64>,
    #[serde(default, rename = "errorMessage")]
    error_message: Option<String>,
}

/// Push API V1 over reqwest (rustls), one keep-alive connection pool per client.
#[derive(Clone)]
pub struct PushV1 {
    http: reqwest::Client,
}

impl PushV1 {
    pub fn new(timeout: Duration) -> Result<PushV1, reqwest::Error> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(8)
            .tcp_keepalive(Duration::from_secs(60))
            .user_agent(concat!("guildgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(PushV1 { http })
    }

    async fn send(&self, settings: &IntegrationSettings, items: &[Item]) -> PushOutcome {
        let body = Body {
            tenant_code: &settings.tenant_code,
            items,
        };
        let response = match self
            .http
            .post(&settings.base_url)
            .header("x-api-key", settings.api_key())
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            // reqwest's message names the URL, never the headers.
            Err(e) => return PushOutcome::Unavailable(format!("request failed: {e}")),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return PushOutcome::Unavailable(format!("reading the answer failed: {e}")),
        };
        let message = || {
            serde_json::from_str::<Answer>(&text)
                .ok()
                .and_then(|a| a.error_message)
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| text.chars().take(300).collect())
        };
        match status.as_u16() {
            200..=299 => match serde_json::from_str::<Answer>(&text) {
                Ok(a) if a.success => match a.count {
                    Some(n) if (n as usize) < items.len() => PushOutcome::ShortCount(n as usize),
                    _ => PushOutcome::Accepted,
                },
                Ok(_) => PushOutcome::Rejected(message()),
                Err(e) => PushOutcome::Unavailable(format!("unreadable answer ({status}): {e}")),
            },
            401 | 403 => PushOutcome::Unauthorized(format!("HTTP {status}: {}", message())),
            413 => PushOutcome::TooLarge(format!("HTTP {status}: {}", message())),
            429 => PushOutcome::RateLimited(retry_after.unwrap_or(Duration::from_secs(30))),
            408 | 500..=599 => PushOutcome::Unavailable(format!("HTTP {status}: {}", message())),
            _ => PushOutcome::Rejected(format!("HTTP {status}: {}", message())),
        }
    }
}

impl PushOutcome {
    /// The outcome's label in the metrics.
    pub fn label(&self) -> &'static str {
        match self {
            PushOutcome::Accepted => "accepted",
            PushOutcome::ShortCount(_) => "short_count",
            PushOutcome::Rejected(_) => "rejected",
            PushOutcome::Unauthorized(_) => "unauthorized",
            PushOutcome::RateLimited(_) => "rate_limited",
            PushOutcome::TooLarge(_) => "too_large",
            PushOutcome::Unavailable(_) => "unavailable",
        }
    }
}

impl PushClient for PushV1 {
    fn push<'a>(&'a self, settings: &'a IntegrationSettings, items: &'a [Item]) -> PushFuture<'a> {
        Box::pin(self.send(settings, items))
    }
}

/// `Retry-After` as delay-seconds or an HTTP date, capped at an hour.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let format = time::format_description::well_known::Rfc2822;
        let at = time::OffsetDateTime::parse(value, &format).ok()?;
        let secs = (at - time::OffsetDateTime::now_utc()).whole_milliseconds();
        Duration::from_millis(secs.max(0) as u64)
    };
    Some(delay.min(Duration::from_secs(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("999999"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
