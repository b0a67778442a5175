//! The authenticator app of the tests: codes computed from the secret an enrolment page shows
//! (with `totp-rs` itself, RFC 6238, not through the application's own wrapper), one per time
//! step as a phone gives them, and the second-factor step of a sign-in completed the way a
//! member completes it. Sign-ins of administrators go through it, since two-factor sign-in is
//! required for them by default.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::{Client, Response};
use totp_rs::{Algorithm, Secret, TOTP};

use super::html::csrf_of;
use super::oidc::{location, send_form};

/// Where a sign-in that needs a second factor is sent.
pub const STEP: &str = "/login/second-factor";

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The base32 secret an enrolment page shows for typing in (spaces removed).
pub fn secret_on(page: &str) -> String {
    let marker = "<code id=\"totp-secret\">";
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no secret on the page:\n{page}"))
        + marker.len();
    let end = start + page[start..].find("</code>").expect("end of the secret");
    page[start..end].split_whitespace().collect()
}

/// The six-digit code of `secret` (base32) at `unix_secs`.
pub fn code_at(secret: &str, unix_secs: u64) -> String {
    let bytes = Secret::Encoded(secret.to_string())
        .to_bytes()
        .expect("a base32 secret");
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes).generate(unix_secs)
}

/// The recovery codes a page shows once.
pub fn recovery_codes_on(page: &str) -> Vec<String> {
    let list = page
        .split("<ul id=\"recovery-codes\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no recovery codes on the page:\n{page}"));
    let list = list.split("</ul>").next().unwrap_or_default();
    list.split("<code>")
        .skip(1)
        .filter_map(|c| c.split("</code>").next())
        .map(str::to_string)
        .collect()
}

/// An authenticator holding one account's secret: each code it gives is of a step not given
/// before (the current one, or the next while the current one was given: the server accepts
/// one step of skew), waiting for a fresh step when both were given.
pub struct Authenticator {
    pub secret: String,
    last_step: Mutex<u64>,
}

impl Authenticator {
    pub fn new(secret: &str) -> Authenticator {
        Authenticator {
            secret: secret.to_string(),
            last_step: Mutex::new(0),
        }
    }

    /// A code the server has not taken yet (the enrolment's counts as taken).
    pub async fn next_code(&self) -> String {
        loop {
            let now = unix_now() / 30;
            let step = {
                let mut last = self.last_step.lock().expect("last step");
                let step = now.max(*last + 1);
                if step <= now + 1 {
                    *last = step;
                    Some(step)
                } else {
                    None
                }
            };
            match step {
                Some(step) => return code_at(&self.secret, step * 30),
                None => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
            }
        }
    }

    /// Records that the server took the code of the current step (an enrolment's first code).
    pub fn used_now(&self) {
        *self.last_step.lock().expect("last step") = unix_now() / 30;
    }
}

/// The authenticators of the accounts enrolled by the tests, by server and login.
fn authenticators() -> &'static Mutex<HashMap<String, Arc<Authenticator>>> {
    static ALL: OnceLock<Mutex<HashMap<String, Arc<Authenticator>>>> = OnceLock::new();
    ALL.get_or_init(Mutex::default)
}

fn key(base: &str, email: &str) -> String {
    format!("{base} {}", email.trim().to_lowercase())
}

/// The authenticator of `email` on the server at `base`, once enrolled.
pub fn authenticator(base: &str, email: &str) -> Option<Arc<Authenticator>> {
    authenticators()
        .lock()
        .expect("authenticators")
        .get(&key(base, email))
        .cloned()
}

/// Remembers the authenticator of `email` on `base`.
pub fn remember(base: &str, email: &str, authenticator: Arc<Authenticator>) {
    authenticators()
        .lock()
        .expect("authenticators")
        .insert(key(base, email), authenticator);
}

/// Enrols from the enrolment `page` in `browser`: the first code, then the recovery codes
/// page's "continue". Returns the authenticator, the recovery codes and the answer to
/// "continue".
pub async fn enrol(
    browser: &Client,
    base: &str,
    page: &str,
    action: &str,
) -> (Arc<Authenticator>, Vec<String>, Response) {
    let authenticator = Arc::new(Authenticator::new(&secret_on(page)));
    let code = code_at(&authenticator.secret, unix_now());
    authenticator.used_now();
    let r = send_form(
        browser,
        format!("{base}{action}"),
        &[("csrf_token", csrf_of(page)), ("code", code)],
    )
    .await;
    assert_eq!(r.status(), 200, "the enrolment's first code was refused");
    let codes_page = r.text().await.expect("recovery codes page");
    let codes = recovery_codes_on(&codes_page);
    assert_eq!(codes.len(), 10, "{codes_page}");
    let r = send_form(
        browser,
        format!("{base}/login/second-factor/continue"),
        &[("csrf_token", csrf_of(&codes_page))],
    )
    .await;
    (authenticator, codes, r)
}

/// When `answer` sends the sign-in of `email` to the second-factor step, completes it (enrolling
/// the first time, with a fresh code afterwards) and returns the answer that follows; any
/// other answer is returned as it is.
pub async fn complete(browser: &Client, base: &str, email: &str, answer: Response) -> Response {
    if answer.status() != 303 || location(&answer) != STEP {
        return answer;
    }
    let page = browser
        .get(format!("{base}{STEP}"))
        .send()
        .await
        .expect("GET the second-factor step")
        .text()
        .await
        .expect("the step's page");
    if page.contains("id=\"totp-secret\"") {
        let (authenticator, _, r) = enrol(browser, base, &page, STEP).await;
        remember(base, email, authenticator);
        return r;
    }
    let authenticator = authenticator(base, email)
        .unwrap_or_else(|| panic!("{email} has a second factor the tests did not enrol"));
    let code = authenticator.next_code().await;
    send_form(
        browser,
        format!("{base}{STEP}"),
        &[("csrf_token", csrf_of(&page)), ("code", code)],
    )
    .await
}
