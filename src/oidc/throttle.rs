//! Sign-in throttling against password guessing, per account (the login e-mail typed, known or
//! not) and per client address, with growing delays. The counters live in the database so that
//! every instance behind a load balancer sees the same ones.
//!
//! After `free_failures` failed attempts within `window_secs`, each further failure blocks the
//! account (or address) for `base_delay_secs * 2^n`, capped at `max_delay_secs`. A success
//! clears the account's counter, never the address's (an attacker could otherwise reset it by
//! signing in to an account of their own). The subjects are stored as keyed hashes (HMAC with
//! the pepper of the keys folder), so that mistyped e-mails, or passwords typed in the e-mail
//! field, cannot be recovered from the database by a dictionary search; the log names a login
//! by the same hash ([`Throttle::login_key`]).
//!
//! A browser holding a known-device cookie of the login ([`known_device`]) is counted against
//! that device instead of the login (OWASP's device cookies): someone guessing elsewhere can
//! delay the login for everyone else, never for the member's own browser.

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::db::{now_ms, Store, StoreError};
use crate::oidc::known_device::{self, DeviceCookie};
use crate::secrets::Pepper;
use crate::server::AppState;
use crate::web::client_ip::ClientIp;
use crate::web::csrf::CsrfForm;

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
    /// A known device of the account (see [`crate::oidc::known_device`]).
    Device,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Account => "account",
            Kind::Address => "address",
            Kind::Device => "device",
        }
    }
}

/// The throttle, shared by the sign-in handlers. Cheap to clone.
#[derive(Clone)]
pub struct Throttle {
    store: Store,
    settings: ThrottleSettings,
    pepper: Pepper,
    /// What is counted: sign-in failures (`""`) or password-reset requests (`"reset-"`), each
    /// under its own subjects, so that asking for reset links never delays a sign-in.
    counted: &'static str,
}

fn account_subject(pepper: &Pepper, counted: &str, email: &str) -> String {
    let purpose = format!("{counted}throttle-account");
    pepper.keyed_hash(&purpose, &email.trim().to_lowercase())
}

fn address_subject(pepper: &Pepper, counted: &str, ip: IpAddr) -> String {
    pepper.keyed_hash(&format!("{counted}throttle-address"), &address_text(ip))
}

/// IPv4 addresses as they are; IPv6 by /64, the block one subscriber gets.
fn address_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
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
    pub fn new(store: Store, settings: ThrottleSettings, pepper: Pepper) -> Throttle {
        Throttle {
            store,
            settings,
            pepper,
            counted: "",
        }
    }

    /// How the throttle, and the log, name the login `email`: its keyed hash.
    pub fn login_key(&self, email: &str) -> String {
        self.account_subject(email)
    }

    fn account_subject(&self, email: &str) -> String {
        account_subject(&self.pepper, self.counted, email)
    }

    fn address_subject(&self, ip: IpAddr) -> String {
        address_subject(&self.pepper, self.counted, ip)
    }

    /// The same limits, counting password-reset requests (every request counts, per login
    /// e-mail and per address) apart from sign-in failures.
    pub fn for_password_resets(&self) -> Throttle {
        Throttle {
            counted: "reset-",
            ..self.clone()
        }
    }

    /// A new known-device cookie for the login `email` (see [`crate::oidc::known_device`]).
    pub fn device_cookie_value(&self, email: &str) -> String {
        known_device::new_value(&self.pepper, &self.account_subject(email))
    }

    /// What a sign-in of `email` is counted against besides its address: a known device of
    /// that login when `device` is one (failures from elsewhere do not delay it), otherwise
    /// the login itself.
    fn first_subject(&self, email: &str, device: &DeviceCookie) -> (Kind, String) {
        let login = self.account_subject(email);
        match known_device::device_subject(&self.pepper, &login, device) {
            Some(subject) => (Kind::Device, subject),
            None => (Kind::Account, login),
        }
    }

    /// Whether a sign-in attempt for `email` from `ip`, in a browser holding `device`, may be
    /// checked now. Call it before verifying the password; a throttled attempt is not counted.
    pub async fn check(
        &self,
        email: &str,
        ip: IpAddr,
        device: &DeviceCookie,
    ) -> Result<(), ThrottleError> {
        let (kind, subject) = self.first_subject(email, device);
        let (blocked_until,): (Option<i64>,) = sqlx::query_as(
            "SELECT MAX(blocked_until) FROM login_throttle \
             WHERE (kind = $1 AND subject = $2) OR (kind = 'address' AND subject = $3)",
        )
        .bind(kind.as_str())
        .bind(subject)
        .bind(self.address_subject(ip))
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

    /// Counts a failed attempt (wrong password, unknown e-mail, deactivated account alike):
    /// against the login, or only against the device when `device` is a known device of it.
    pub async fn record_failure(
        &self,
        email: &str,
        ip: IpAddr,
        device: &DeviceCookie,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let window_start = now - (self.settings.window_secs as i64) * 1000;
        let (first_kind, first_subject) = self.first_subject(email, device);
        let mut tx = self.store.begin().await?;
        for (kind, subject, free) in [
            (
                first_kind,
                first_subject,
                self.settings.account_free_failures,
            ),
            (
                Kind::Address,
                self.address_subject(ip),
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

    /// Clears the counter of the login (or of the known device) after a successful sign-in
    /// (not the address's).
    pub async fn record_success(
        &self,
        email: &str,
        device: &DeviceCookie,
    ) -> Result<(), StoreError> {
        let (kind, subject) = self.first_subject(email, device);
        // One statement: no transaction around it (on SQLite, three trips to the writer).
        sqlx::query("DELETE FROM login_throttle WHERE kind = $1 AND subject = $2")
            .bind(kind.as_str())
            .bind(subject)
            .execute(self.store.writer())
            .await?;
        Ok(())
    }
}

/// A posted form carrying a password or a code: its fields, CSRF-checked as [`CsrfForm`]
/// checks them, the browser's session, and what the throttle counts the attempt by (the
/// client address and the known-device cookie).
pub struct Attempt<T> {
    pub session: Session,
    pub ip: IpAddr,
    pub device: DeviceCookie,
    pub form: T,
}

impl<T> FromRequest<AppState> for Attempt<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(&mut parts, state).await;
        let Ok(device) = DeviceCookie::from_request_parts(&mut parts, state).await;
        let CsrfForm(form) = CsrfForm::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Attempt {
            session,
            ip,
            device,
            form,
        })
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
        let p = Pepper::from_bytes([7; 32]);
        let account = |counted, email| account_subject(&p, counted, email);
        let address = |counted, ip| address_subject(&p, counted, ip);
        assert_eq!(
            account("", " Ann@Example.org"),
            account("", "ann@example.org")
        );
        assert!(!account("", "ann@example.org").contains("ann"));
        // Keyed: another keys folder gives other subjects, so a dictionary of e-mails (or of
        // passwords typed in the e-mail field) hashed without the pepper finds nothing.
        let other = Pepper::from_bytes([8; 32]);
        assert_ne!(
            account("", "ann@example.org"),
            account_subject(&other, "", "ann@example.org")
        );
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address("", a), address("", b));
        assert_ne!(address("", a), address("", c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(address("", mapped), address("", v4));
        assert_ne!(account("", "192.0.2.1"), address("", v4));
        // Reset requests are counted apart from sign-in failures.
        assert_ne!(
            account("reset-", "ann@example.org"),
            account("", "ann@example.org")
        );
        assert_ne!(address("reset-", v4), address("", v4));
    }

    #[test]
    fn retry_after_rounds_up() {
        let e = ThrottleError::RetryAfter(Duration::from_millis(1_001));
        assert_eq!(e.retry_after_secs(), Some(2));
        assert!(e.to_string().contains("2 seconds"));
    }
}
