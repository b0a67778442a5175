//! CSRF protection for every form: a random token kept in the server-side session, put in a
//! hidden `csrf_token` field, and compared in constant time when the form comes back.
//! (Synchronizer-token pattern; the session cookie is also SameSite=Lax.)
//!
//! Use: `let token = csrf::token(&session).await?;` when rendering, and
//! `csrf::verify(&session, &form.csrf_token).await?;` first thing when handling the POST.

use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::oidc::error::{OidcError, OidcResult};

/// Name of the hidden form field.
pub const FIELD: &str = "csrf_token";
const SESSION_KEY: &str = "csrf";

/// This session's CSRF token, created on first use.
pub async fn token(session: &Session) -> OidcResult<String> {
    if let Some(existing) = session.get::<String>(SESSION_KEY).await? {
        return Ok(existing);
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    session.insert(SESSION_KEY, &token).await?;
    Ok(token)
}

/// Checks a submitted token against the session's. A missing session, a missing token or a
/// different one all give the same "form expired" page.
pub async fn verify(session: &Session, submitted: &str) -> OidcResult<()> {
    let expected = session.get::<String>(SESSION_KEY).await?;
    match expected {
        Some(expected)
            if !submitted.is_empty()
                && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes())) =>
        {
            Ok(())
        }
        _ => Err(OidcError::page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form has expired or was not sent from this site. Go back, reload the page and \
             try again.",
        )),
    }
}
