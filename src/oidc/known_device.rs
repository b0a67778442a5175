//! Known devices (OWASP's "device cookie" defence against account lock-out): after a successful
//! sign-in the browser gets a long-lived cookie naming the login (as the throttle's keyed hash,
//! never the login itself) and a random nonce, signed with an HMAC keyed from the pepper. A
//! sign-in from a browser presenting a valid cookie for the login typed is counted against that
//! device only ([`crate::oidc::throttle`]): failures made elsewhere, however many, do not delay
//! it, and its own failures lock out only itself. Browsers without one keep the per-account
//! limits.
//!
//! The cookie is given by [`layer`], after the handler: every sign-in goes through
//! [`sessions::sign_in`], which marks the session, and the layer turns the mark into the cookie.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::secrets::Pepper;
use crate::server::AppState;
use crate::web::{self, sessions};

/// The cookie's name.
pub const COOKIE_NAME: &str = "guildgate_device";
/// How long a browser stays known: a year.
pub const LIFETIME_SECS: i64 = 365 * 24 * 3600;

/// The device cookie a request carried, not checked yet ([`device_subject`] checks it).
#[derive(Debug, Clone, Default)]
pub struct DeviceCookie(Option<String>);

impl DeviceCookie {
    /// No cookie: an untrusted client.
    pub fn none() -> DeviceCookie {
        DeviceCookie(None)
    }

    pub fn from_value(value: &str) -> DeviceCookie {
        DeviceCookie(Some(value.to_string()))
    }

    fn from_headers(headers: &axum::http::HeaderMap) -> DeviceCookie {
        let value = web::cookie(headers, COOKIE_NAME).map(str::to_string);
        DeviceCookie(value)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DeviceCookie {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(DeviceCookie::from_headers(&parts.headers))
    }
}

fn signature(pepper: &Pepper, login_key: &str, nonce: &str) -> String {
    pepper.keyed_hash("device-cookie", &format!("{login_key}.{nonce}"))
}

/// A new cookie value for the login whose throttle key is `login_key`:
/// `login_key.nonce.signature`.
pub fn new_value(pepper: &Pepper, login_key: &str) -> String {
    let nonce = URL_SAFE_NO_PAD.encode(crate::secrets::random_bytes::<16>());
    let mac = signature(pepper, login_key, &nonce);
    format!("{login_key}.{nonce}.{mac}")
}

/// The throttle subject of the device, when `cookie` is a valid cookie of this server for the
/// login whose throttle key is `login_key`; `None` for no cookie, a forged or altered one, or
/// one of another login.
pub fn device_subject(pepper: &Pepper, login_key: &str, cookie: &DeviceCookie) -> Option<String> {
    let value = cookie.0.as_deref()?;
    let mut parts = value.split('.');
    let (key, nonce, mac) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || nonce.is_empty() {
        return None;
    }
    let expected = signature(pepper, key, nonce);
    let valid = bool::from(expected.as_bytes().ct_eq(mac.as_bytes()))
        && bool::from(key.as_bytes().ct_eq(login_key.as_bytes()));
    valid.then(|| pepper.keyed_hash("throttle-device", nonce))
}

/// Gives the browser of a sign-in that just succeeded its device cookie (see the module's
/// documentation). On the provider's browser routes and the console, inside the session layer.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let session = request.extensions().get::<Session>().cloned();
    let mut response = next.run(request).await;
    let Some(session) = session else {
        return response;
    };
    let Ok(Some(account_id)) = sessions::take_signed_in_mark(&session).await else {
        return response;
    };
    let account = match state.store.account_by_id(&account_id).await {
        Ok(Some(account)) => account,
        Ok(None) => return response,
        Err(e) => {
            tracing::warn!(error = %e, "no device cookie: the account could not be read");
            return response;
        }
    };
    let value = state
        .oidc
        .throttle
        .device_cookie_value(&account.login_email);
    let secure = if state.settings.insecure_loopback() {
        ""
    } else {
        "; Secure"
    };
    let cookie = format!(
        "{COOKIE_NAME}={value}; Max-Age={LIFETIME_SECS}; Path=/; HttpOnly; SameSite=Lax{secure}"
    );
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_signed_and_bound_to_their_login() {
        let pepper = Pepper::from_bytes([7; 32]);
        let other_pepper = Pepper::from_bytes([8; 32]);
        let ada = pepper.keyed_hash("throttle-account", "ada@example.org");
        let bob = pepper.keyed_hash("throttle-account", "bob@example.org");
        let value = new_value(&pepper, &ada);
        assert!(!value.contains("ada"));
        let cookie = DeviceCookie::from_value(&value);
        let subject = device_subject(&pepper, &ada, &cookie).expect("valid");
        // Another nonce is another device.
        let second = DeviceCookie::from_value(&new_value(&pepper, &ada));
        assert_ne!(device_subject(&pepper, &ada, &second), Some(subject));
        // Another login, another keys folder, an altered nonce or signature: untrusted.
        assert_eq!(device_subject(&pepper, &bob, &cookie), None);
        assert_eq!(device_subject(&other_pepper, &ada, &cookie), None);
        let (rest, mac) = value.rsplit_once('.').unwrap();
        let altered = format!("{rest}x.{mac}");
        assert_eq!(
            device_subject(&pepper, &ada, &DeviceCookie::from_value(&altered)),
            None
        );
        let forged = format!("{rest}.{}", pepper.keyed_hash("other", rest));
        assert_eq!(
            device_subject(&pepper, &ada, &DeviceCookie::from_value(&forged)),
            None
        );
        assert_eq!(device_subject(&pepper, &ada, &DeviceCookie::none()), None);
        assert_eq!(
            device_subject(&pepper, &ada, &DeviceCookie::from_value("a.b")),
            None
        );
    }

    #[test]
    fn the_cookie_is_read_from_the_header() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("guildgate_session=x; guildgate_device=k.n.m"),
        );
        assert_eq!(
            DeviceCookie::from_headers(&headers).0.as_deref(),
            Some("k.n.m")
        );
    }
}
