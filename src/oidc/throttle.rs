//! Sign-in throttling against password guessing, per account (the login e-mail typed, known or
//! not) and per client address, with growing delays. The counters live in the database so that
//! every instance behind a load balancer sees the same ones.
//!
//! After `free_failures` failed attempts within `window_secs`, each further failure blocks the
//! account (or address) for `base_delay_secs * 2^n`, capped at `max_delay_secs`. A success
//! clears the account's counter, never the address's (an attacker could otherwise reset it by
//! signing in to an account of their own). The subjects are stored as SHA-256 hashes, so that
//! mistyped e-mails (or passwords typed in the e-mail field) are not kept in clear.

use std::net::IpAddr;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::{now_ms, Store, StoreError};

/// Settings of `[throttle]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleSettings {
    /// Failures per login e-mail before delays start.
    pub account_free_failures: u32,
    /// Failures per client address (IPv4, or IPv6 /64) before delays start; higher, since
    /// offices share one address.
    pub address_free_failures: u32,
    /// The first delay; each further failure doubles it.
    pub base_delay_secs: u64,
    pub max_delay_secs: u64,
    /// Failures older than this are forgotten.
    pub window_secs: u64,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            account_free_failures: 5,
            address_free_failures: 20,
            base_delay_secs: 1,
            max_delay_secs: 15 * 60,
            window_secs: 3600,
        }
    }
}

/// Why an attempt may not be checked now.
#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    /// Too many recent failures: try again after this long (the `Retry-After`). The message
    /// never says whether the e-mail belongs to an account.
    #[error("too many failed sign-in attempts; try again in {} seconds", retry_secs(.0))]
    RetryAfter(Duration),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn retry_secs(d: &Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

impl ThrottleError {
    /// Seconds for a `Retry-After` header, if throttled.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ThrottleError::RetryAfter(d) => Some(retry_secs(d)),
            ThrottleError::Store(_) => None,
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Account,
    Address,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Account => "account",
            Kind::Address => "address",
        }
    }
}

/// The throttle, shared by the sign-in handlers. Cheap to clone.
#[derive(Clone)]
pub struct Throttle {
    store: Store,
    settings: ThrottleSettings,
    /// What is counted: sign-in failures (`""`) or password-reset requests (`"reset-"`), each
    /// under its own subjects, so that asking for reset links never delays a sign-in.
    counted: &'static str,
}

fn account_subject(counted: &str, email: &str) -> String {
    hashed(&format!("{counted}account"), &email.trim().to_lowercase())
}

/// IPv4 addresses as they are; IPv6 by /64, the block one subscriber gets.
fn address_subject(counted: &str, ip: IpAddr) -> String {
    let text = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    };
    hashed(&format!("{counted}address"), &text)
}

fn hashed(kind: &str, value: &str) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update(b":");
    h.update(value.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// The delay after the `failures`-th failure (0 while within the free allowance).
fn delay_ms(settings: &ThrottleSettings, free: u32, failures: i64) -> i64 {
    let over = failures - i64::from(free);
    if over < 0 {
        return 0;
    }
    let cap = (settings.max_delay_secs as i64).saturating_mul(1000);
    let base = (settings.base_delay_secs as i64).saturating_mul(1000);
    let factor = 1_i64.checked_shl(over.min(40) as u32).unwrap_or(i64::MAX);
    base.saturating_mul(factor).min(cap)
}

impl Throttle {
    pub fn new(store: Store, settings: ThrottleSettings) -> Throttle {
        Throttle {
            store,
            settings,
            counted: "",
        }
    }

    /// The same limits, counting password-reset requests (every request counts, per login
    /// e-mail and per address) apart from sign-in failures.
    pub fn for_password_resets(&self) -> Throttle {
        Throttle {
            counted: "reset-",
            ..self.clone()
        }
    }

    /// Whether a sign-in attempt for `email` from `ip` may be checked now. Call it before
    /// verifying the password; a throttled attempt is not counted.
    pub async fn check(&self, email: &str, ip: IpAddr) -> Result<(), ThrottleError> {
        let (blocked_until,): (Option<i64>,) = sqlx::query_as(
            "SELECT MAX(blocked_until) FROM login_throttle \
             WHERE (kind = 'account' AND subject = $1) OR (kind = 'address' AND subject = $2)",
        )
        .bind(account_subject(self.counted, email))
        .bind(address_subject(self.counted, ip))
        .fetch_one(self.store.pool())
        .await
        .map_err(StoreError::from)?;
        let now = now_ms();
        match blocked_until {
            Some(until) if until > now => Err(ThrottleError::RetryAfter(Duration::from_millis(
                (until - now) as u64,
            ))),
            _ => Ok(()),
        }
    }

    /// Counts a failed attempt (wrong password, unknown e-mail, deactivated account alike).
    pub async fn record_failure(&self, email: &str, ip: IpAddr) -> Result<(), StoreError> {
        let now = now_ms();
        let window_start = now - (self.settings.window_secs as i64) * 1000;
        let mut tx = self.store.begin().await?;
        for (kind, subject, free) in [
            (
                Kind::Account,
                account_subject(self.counted, email),
                self.settings.account_free_failures,
            ),
            (
                Kind::Address,
                address_subject(self.counted, ip),
                self.settings.address_free_failures,
            ),
        ] {
            // One atomic statement, so that concurrent failures on several instances all count.
            let (failures,): (i64,) = sqlx::query_as(
                "INSERT INTO login_throttle (kind, subject, failures, last_failure_at, blocked_until) \
                 VALUES ($1, $2, 1, $3, 0) \
                 ON CONFLICT (kind, subject) DO UPDATE SET \
                 failures = CASE WHEN login_throttle.last_failure_at < $4 THEN 1 \
                                 ELSE login_throttle.failures + 1 END, \
                 last_failure_at = $3 \
                 RETURNING failures",
            )
            .bind(kind.as_str())
            .bind(&subject)
            .bind(now)
            .bind(window_start)
            .fetch_one(&mut *tx)
            .await?;
            let delay = delay_ms(&self.settings, free, failures);
            if delay > 0 {
                sqlx::query(
                    "UPDATE login_throttle SET blocked_until = $1 \
                     WHERE kind = $2 AND subject = $3 AND blocked_until < $1",
                )
                .bind(now + delay)
                .bind(kind.as_str())
                .bind(&subject)
                .execute(&mut *tx)
                .await?;
            }
        }
        // Forget what no longer matters.
        sqlx::query("DELETE FROM login_throttle WHERE last_failure_at < $1 AND blocked_until < $2")
            .bind(window_start)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Clears the account's counter after a successful sign-in (not the address's).
    pub async fn record_success(&self, email: &str) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        sqlx::query("DELETE FROM login_throttle WHERE kind = 'account' AND subject = $1")
            .bind(account_subject(self.counted, email))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_cap() {
        let s = ThrottleSettings::default();
        let d: Vec<i64> = (1..=8).map(|f| delay_ms(&s, 5, f)).collect();
        assert_eq!(d, [0, 0, 0, 0, 1_000, 2_000, 4_000, 8_000]);
        assert_eq!(delay_ms(&s, 5, 100), 900_000);
        assert_eq!(delay_ms(&s, 5, i64::MAX), 900_000);
    }

    #[test]
    fn subjects_normalise_and_hide() {
        assert_eq!(
            account_subject("", " Ann@Example.org"),
            account_subject("", "ann@example.org")
        );
        assert!(!account_subject("", "ann@example.org").contains("ann"));
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_subject("", a), address_subject("", b));
        assert_ne!(address_subject("", a), address_subject("", c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(address_subject("", mapped), address_subject("", v4));
        assert_ne!(account_subject("", "192.0.2.1"), address_subject("", v4));
        // Reset requests are counted apart from sign-in failures.
        assert_ne!(
            account_subject("reset-", "ann@example.org"),
            account_subject("", "ann@example.org")
        );
        assert_ne!(address_subject("reset-", v4), address_subject("", v4));
    }

    #[test]
    fn retry_after_rounds_up() {
        let e = ThrottleError::RetryAfter(Duration::from_millis(1_001));
        assert_eq!(e.retry_after_secs(), Some(2));
        assert!(e.to_string().contains("2 seconds"));
    }
}
