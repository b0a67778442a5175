//! CSRF protection for every form: a random token put in a hidden `csrf_token` field and
//! compared in constant time when the form comes back. The token is the browser's own: a
//! random value in the signed cookie `guildgate_csrf` ([`layer`]: HMAC keyed from the pepper,
//! HttpOnly, SameSite=Lax), so that showing a form (the sign-in page of every anonymous
//! `GET /authorize`) writes no session row; a session that already holds a token of the
//! earlier form (synchronizer token kept server-side) keeps it, and routes without the layer
//! keep the token in the session.
//!
//! Use: `let token = csrf::token(&session).await?;` when rendering, and either
//! `csrf::verify(&session, &form.csrf_token).await?;` first thing when handling the POST, or the
//! [`CsrfForm`] extractor, which does both the parsing and the check.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, FormRejection};
use axum::extract::{Form, FromRequest, FromRequestParts, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::secrets::Pepper;
use crate::web::{form_holds_nul, look, pages};

/// Name of the hidden form field.
pub const FIELD: &str = "csrf_token";
const SESSION_KEY: &str = "csrf";
/// The cookie holding the browser's token.
pub const COOKIE_NAME: &str = "guildgate_csrf";

tokio::task_local! {
    /// The token of this request's browser (its cookie's), inside [`layer`].
    static BROWSER_TOKEN: Arc<str>;
}

/// What [`layer`] needs: the pepper that signs the cookie, and whether it may travel over
/// plain http (loopback only).
#[derive(Clone)]
pub struct CookieSettings {
    pub pepper: Pepper,
    pub secure: bool,
}

fn signature(pepper: &Pepper, value: &str) -> String {
    pepper.keyed_hash("csrf-cookie", value)
}

/// The token in a `value.signature` cookie, if the signature is this server's.
fn token_of(pepper: &Pepper, cookie: &str) -> Option<String> {
    let (value, mac) = cookie.split_once('.')?;
    let expected = signature(pepper, value);
    (!value.is_empty() && bool::from(expected.as_bytes().ct_eq(mac.as_bytes())))
        .then(|| value.to_string())
}

/// Gives each browser its CSRF token in a signed cookie (a new one when it has none, or one
/// this server did not sign), and makes it the token of every form of the request.
pub async fn layer(
    State(settings): State<CookieSettings>,
    request: Request,
    next: Next,
) -> Response {
    let existing =
        super::cookie(request.headers(), COOKIE_NAME).and_then(|c| token_of(&settings.pepper, c));
    let (token, new) = match existing {
        Some(token) => (token, false),
        None => (crate::secrets::random_token(), true),
    };
    let mut response = BROWSER_TOKEN
        .scope(Arc::from(token.as_str()), next.run(request))
        .await;
    if new {
        let secure = if settings.secure { "; Secure" } else { "" };
        let mac = signature(&settings.pepper, &token);
        let cookie = format!("{COOKIE_NAME}={token}.{mac}; Path=/; HttpOnly; SameSite=Lax{secure}");
        if let Ok(cookie) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
    }
    response
}

/// The browser's token of this request, inside [`layer`].
fn browser_token() -> Option<Arc<str>> {
    BROWSER_TOKEN.try_with(Arc::clone).ok()
}

/// The title and message of the page every refused form gets, in the page's language.
pub fn expired_texts() -> (String, String) {
    let look = look::current();
    (look.t("form-expired-title"), look.t("form-expired"))
}

/// Why a form was not taken.
#[derive(Debug, thiserror::Error)]
pub enum CsrfError {
    /// A missing session, a missing token or a different one: all the same to the sender.
    #[error("the form expired or was not sent from this site")]
    Expired,
    #[error("session: {0}")]
    Session(#[from] tower_sessions::session::Error),
}

impl IntoResponse for CsrfError {
    fn into_response(self) -> Response {
        match self {
            CsrfError::Expired => {
                let (title, message) = expired_texts();
                pages::error_page(StatusCode::FORBIDDEN, &title, &message)
            }
            CsrfError::Session(e) => {
                tracing::error!(error = %e, "session failed while checking a form");
                pages::failure_page()
            }
        }
    }
}

/// The CSRF token of this browser's forms: the session's when it holds one, else the
/// browser's cookie's (nothing written to the session), else a new one kept in the session.
pub async fn token(session: &Session) -> Result<String, tower_sessions::session::Error> {
    if let Some(existing) = session.get::<String>(SESSION_KEY).await? {
        return Ok(existing);
    }
    if let Some(token) = browser_token() {
        return Ok(token.to_string());
    }
    let token = crate::secrets::random_token();
    session.insert(SESSION_KEY, &token).await?;
    Ok(token)
}

/// Checks a submitted token against the session's or the browser's cookie's.
pub async fn verify(session: &Session, submitted: &str) -> Result<(), CsrfError> {
    if submitted.is_empty() {
        return Err(CsrfError::Expired);
    }
    let matches = |expected: &str| bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()));
    let in_session = session.get::<String>(SESSION_KEY).await?;
    if in_session.as_deref().is_some_and(matches) || browser_token().is_some_and(|t| matches(&t)) {
        return Ok(());
    }
    Err(CsrfError::Expired)
}

/// A form whose CSRF token was checked: `T` holds the other fields. A form that does not parse
/// is refused as [`Form`] refuses it; a form without the session's token as [`verify`] does.
pub struct CsrfForm<T>(pub T);

#[derive(Deserialize)]
struct WithToken<T> {
    #[serde(default)]
    csrf_token: String,
    #[serde(flatten)]
    fields: T,
}

/// Why a [`CsrfForm`] was refused.
pub enum CsrfFormRejection {
    Form(FormRejection),
    Body(BytesRejection),
    /// A name or value holds a NUL: refused on both engines alike (PostgreSQL cannot store
    /// one; SQLite would).
    Nul,
    Csrf(CsrfError),
}

impl IntoResponse for CsrfFormRejection {
    fn into_response(self) -> Response {
        match self {
            CsrfFormRejection::Form(r) => r.into_response(),
            CsrfFormRejection::Body(r) => r.into_response(),
            CsrfFormRejection::Nul => {
                let look = look::current();
                let (title, message) = (look.t("form-nul-title"), look.t("form-nul"));
                pages::error_page(StatusCode::BAD_REQUEST, &title, &message)
            }
            CsrfFormRejection::Csrf(e) => e.into_response(),
        }
    }
}

impl<T, S> FromRequest<S> for CsrfForm<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = CsrfFormRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        // Without the session layer there is no token to compare with: expired, as today.
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(|_| CsrfFormRejection::Csrf(CsrfError::Expired))?;
        let request = Request::from_parts(parts, body);
        let (parts, body) = request.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(CsrfFormRejection::Body)?;
        if form_holds_nul(&bytes) {
            return Err(CsrfFormRejection::Nul);
        }
        let request = Request::from_parts(parts, Body::from(bytes));
        let Form(form) = Form::<WithToken<T>>::from_request(request, state)
            .await
            .map_err(CsrfFormRejection::Form)?;
        verify(&session, &form.csrf_token)
            .await
            .map_err(CsrfFormRejection::Csrf)?;
        Ok(CsrfForm(form.fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_open_only_with_their_signature() {
        let pepper = Pepper::from_bytes([7; 32]);
        let value = format!("abc.{}", signature(&pepper, "abc"));
        assert_eq!(token_of(&pepper, &value).as_deref(), Some("abc"));
        assert_eq!(token_of(&Pepper::from_bytes([8; 32]), &value), None);
        assert_eq!(token_of(&pepper, "abc.x"), None);
        assert_eq!(token_of(&pepper, "abc"), None);
        let forged = format!("abd.{}", signature(&pepper, "abc"));
        assert_eq!(token_of(&pepper, &forged), None);
    }
}
