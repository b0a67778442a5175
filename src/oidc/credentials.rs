//! The one password check behind every sign-in form (the provider's login page and the admin
//! console's): throttling per account and address, the same argon2id work whether or not the
//! account exists, and "not active" said only to someone who knows the password. Every refusal
//! is logged here, with the client address and the login as the throttle's keyed hash (never
//! the login typed: it may be a password typed in the wrong field).

use std::net::IpAddr;

use crate::accounts::Account;
use crate::activity::Tally;
use crate::db::StoreError;
use crate::db::StoreResult;
use crate::oidc::known_device::DeviceCookie;
use crate::oidc::metrics::{self, SignIn};
use crate::oidc::throttle::ThrottleError;
use crate::server::AppState;
use crate::web::look;

/// Why a sign-in was refused; each caller words it on its own page.
#[derive(Debug)]
pub enum Refusal {
    /// E-mail or password left empty (or absurdly long).
    Incomplete,
    /// Too many recent failures: the message and the `Retry-After` seconds.
    Throttled {
        message: String,
        retry_after_secs: u64,
    },
    /// Unknown e-mail or wrong password; never says which.
    Wrong,
    /// The password is right but the account is deactivated.
    Inactive(Box<Account>),
}

/// Checks `email` and `password` coming from `ip`, in a browser holding `device` (a known
/// device of the login is throttled on its own; see [`crate::oidc::known_device`]). `Ok(Err(_))` is a refusal to show;
/// `Err(_)` a failure of the store.
pub async fn check(
    state: &AppState,
    email: &str,
    password: String,
    ip: IpAddr,
    device: &DeviceCookie,
) -> StoreResult<Result<Account, Refusal>> {
    let email = email.trim().to_lowercase();
    if email.is_empty() || password.is_empty() || password.len() > 1024 {
        return Ok(Err(Refusal::Incomplete));
    }
    let throttle = &state.oidc.throttle;
    let login = || throttle.login_key(&email);
    match throttle.check(&email, ip, device).await {
        Ok(()) => {}
        Err(e @ ThrottleError::RetryAfter(_)) => {
            tracing::info!(client_address = %ip, login = %login(), "sign-in throttled");
            counted(state, SignIn::Throttled);
            let secs = e.retry_after_secs().unwrap_or(1);
            return Ok(Err(Refusal::Throttled {
                message: look::current().t1("throttled-sign-in", "secs", &secs.to_string()),
                retry_after_secs: secs,
            }));
        }
        Err(ThrottleError::Store(e)) => return Err(e),
    }
    let account = state.store.account_by_login(&email).await?;
    // The same argon2id work whether or not the account exists or has a password.
    let hash = account.as_ref().and_then(|a| a.password_hash.clone());
    let matches = match state.store.verify_password(password, hash).await {
        Ok(matches) => matches,
        Err(e @ StoreError::Overloaded(_)) => {
            counted(state, SignIn::Shed);
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let account = match account {
        Some(account) if matches => account,
        _ => {
            throttle.record_failure(&email, ip, device).await?;
            tracing::info!(client_address = %ip, login = %login(), "sign-in failed");
            counted(state, SignIn::WrongPassword);
            return Ok(Err(Refusal::Wrong));
        }
    };
    if !account.is_active() {
        throttle.record_failure(&email, ip, device).await?;
        tracing::info!(
            client_address = %ip,
            account_id = %account.id,
            "sign-in refused: account not active"
        );
        counted(state, SignIn::Deactivated);
        return Ok(Err(Refusal::Inactive(Box::new(account))));
    }
    // With a second factor the password alone clears nothing: the counter is cleared by the
    // right code, so that a known password cannot buy unlimited code guesses.
    if !state.store.two_factor_status(&account.id).await?.enabled {
        throttle.record_success(&email, device).await?;
    }
    // Not counted as a sign-in here: a second factor may follow, and a password checked again
    // to change it signs nobody in (see `second_factor`, where the browser is signed in).
    Ok(Ok(account))
}

/// Counts a sign-in's outcome: in this process's metrics and in the hourly activity the
/// console's Overview shows.
pub(crate) fn counted(state: &AppState, outcome: SignIn) {
    metrics::sign_in(outcome);
    let tally = match outcome {
        SignIn::Success => Tally::SignInSuccess,
        _ => Tally::SignInFailure,
    };
    state.oidc.activity.count(tally, "");
}
