//! CSRF protection for every form: a random token kept in the server-side session, put in a
//! hidden `csrf_token` field, and compared in constant time when the form comes back.
//! (Synchronizer-token pattern; the session cookie is also SameSite=Lax.)
//!
//! Use: `let token = csrf::token(&session).await?;` when rendering, and either
//! `csrf::verify(&session, &form.csrf_token).await?;` first thing when handling the POST, or the
//! [`CsrfForm`] extractor, which does both the parsing and the check.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::web::{look, pages};

/// Name of the hidden form field.
pub const FIELD: &str = "csrf_token";
const SESSION_KEY: &str = "csrf";

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

/// This session's CSRF token, created on first use.
pub async fn token(session: &Session) -> Result<String, tower_sessions::session::Error> {
    if let Some(existing) = session.get::<String>(SESSION_KEY).await? {
        return Ok(existing);
    }
    let token = crate::secrets::random_token();
    session.insert(SESSION_KEY, &token).await?;
    Ok(token)
}

/// Checks a submitted token against the session's.
pub async fn verify(session: &Session, submitted: &str) -> Result<(), CsrfError> {
    let expected = session.get::<String>(SESSION_KEY).await?;
    match expected {
        Some(expected)
            if !submitted.is_empty()
                && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes())) =>
        {
            Ok(())
        }
        _ => Err(CsrfError::Expired),
    }
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
    Csrf(CsrfError),
}

impl IntoResponse for CsrfFormRejection {
    fn into_response(self) -> Response {
        match self {
            CsrfFormRejection::Form(r) => r.into_response(),
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
        let Form(form) = Form::<WithToken<T>>::from_request(request, state)
            .await
            .map_err(CsrfFormRejection::Form)?;
        verify(&session, &form.csrf_token)
            .await
            .map_err(CsrfFormRejection::Csrf)?;
        Ok(CsrfForm(form.fields))
    }
}
