//! The one error type of the OpenID Connect layer, and its one mapping to what the other side
//! sees: a JSON OAuth error (token, revocation, introspection), a `WWW-Authenticate: Bearer`
//! challenge (userinfo), an error redirect back to a verified client, or an HTML error page
//! (when the client or its redirect URI cannot be trusted, never a redirect).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde_json::json;

use crate::db::StoreError;
use crate::web::csrf::{self, CsrfError};
use crate::web::{look, pages};

/// OAuth 2.0 / OIDC error codes used by this provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    InvalidToken,
    RequestNotSupported,
    RequestUriNotSupported,
    RegistrationNotSupported,
    ServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::RegistrationNotSupported => "registration_not_supported",
            ErrorCode::ServerError => "server_error",
        }
    }
}

/// Where an authorization error is sent: the client's verified redirect URI.
#[derive(Debug, Clone)]
pub struct RedirectTarget {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub issuer: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// An OAuth error answered as JSON (400, or 401 for `invalid_client`).
    #[error("{}: {description}", code.as_str())]
    OAuth {
        code: ErrorCode,
        description: String,
        /// The client tried HTTP Basic authentication: answer 401 with a Basic challenge.
        basic_challenge: bool,
    },
    /// A bearer-token error at a protected resource (userinfo).
    #[error("{}: {description}", code.as_str())]
    Bearer {
        code: ErrorCode,
        description: String,
    },
    /// A request to a protected resource with no token at all: a bare challenge, no error
    /// code (RFC 6750 section 3.1).
    #[error("no access token")]
    BearerMissing,
    /// An authorization error sent back to the client's (verified) redirect URI.
    #[error("{}: {description}", code.as_str())]
    Redirect {
        code: ErrorCode,
        description: String,
        target: Box<RedirectTarget>,
    },
    /// An error shown to the person in the browser; never a redirect.
    #[error("{title}: {message}")]
    Page {
        status: StatusCode,
        title: String,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type OidcResult<T> = Result<T, OidcError>;

impl OidcError {
    pub fn oauth(code: ErrorCode, description: impl Into<String>) -> Self {
        OidcError::OAuth {
            code,
            description: description.into(),
            basic_challenge: false,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::oauth(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::oauth(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_client(description: impl Into<String>, basic_challenge: bool) -> Self {
        OidcError::OAuth {
            code: ErrorCode::InvalidClient,
            description: description.into(),
            basic_challenge,
        }
    }

    pub fn bearer(description: impl Into<String>) -> Self {
        OidcError::Bearer {
            code: ErrorCode::InvalidToken,
            description: description.into(),
        }
    }

    pub fn redirect(
        code: ErrorCode,
        description: impl Into<String>,
        target: &RedirectTarget,
    ) -> Self {
        OidcError::Redirect {
            code,
            description: description.into(),
            target: Box::new(target.clone()),
        }
    }

    pub fn page(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        OidcError::Page {
            status,
            title: title.into(),
            message: message.into(),
        }
    }

    pub fn internal(what: impl std::fmt::Display) -> Self {
        OidcError::Internal(what.to_string())
    }

    /// The OAuth error code, when there is one (for tests and logs).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            OidcError::OAuth { code, .. }
            | OidcError::Bearer { code, .. }
            | OidcError::Redirect { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for OidcError {
    fn from(e: sqlx::Error) -> Self {
        OidcError::Store(StoreError::Database(e))
    }
}

impl From<tower_sessions::session::Error> for OidcError {
    fn from(e: tower_sessions::session::Error) -> Self {
        OidcError::Internal(format!("session: {e}"))
    }
}

impl From<CsrfError> for OidcError {
    fn from(e: CsrfError) -> Self {
        match e {
            CsrfError::Expired => {
                let (title, message) = csrf::expired_texts();
                OidcError::page(StatusCode::FORBIDDEN, title, message)
            }
            CsrfError::Session(e) => e.into(),
        }
    }
}

/// An `error_description` as RFC 6749 (5.2, 4.1.2.1) allows it: printable ASCII without `"`
/// and `\` (`%x20-21 / %x23-5B / %x5D-7E`). Descriptions may quote request values (a
/// repeated parameter's name, a scope), so every one passes through here: `"` becomes `'`,
/// `\` becomes `/`, anything else outside the set `?`; at most 200 characters.
pub fn safe_description(description: &str) -> String {
    let mut out: String = description
        .chars()
        .take(200)
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect();
    if out.trim().is_empty() {
        out = "error".into();
    }
    out
}

/// Builds `redirect_uri?error=...&error_description=...&state=...&iss=...` (RFC 6749 4.1.2.1,
/// RFC 9207), keeping any query the registered URI already has.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            if !params.is_empty() {
                let mut pairs = url.query_pairs_mut();
                for (k, v) in params {
                    pairs.append_pair(k, v);
                }
            }
            let mut response = Redirect::to(url.as_str()).into_response();
            *response.status_mut() = StatusCode::SEE_OTHER;
            response
        }
        // Registered URIs are validated when the client is registered; this cannot happen
        // unless the database was edited by hand.
        Err(_) => pages::error_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect URI",
            "The application's registered redirect URI is not a valid URL.",
        ),
    }
}

impl IntoResponse for OidcError {
    fn into_response(self) -> Response {
        match self {
            OidcError::OAuth {
                code,
                description,
                basic_challenge,
            } => {
                let status = if code == ErrorCode::InvalidClient {
                    StatusCode::UNAUTHORIZED
                } else if code == ErrorCode::ServerError {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::BAD_REQUEST
                };
                let description = safe_description(&description);
                let mut response = (
                    status,
                    Json(json!({ "error": code.as_str(), "error_description": description })),
                )
                    .into_response();
                let headers = response.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                if basic_challenge {
                    headers.insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"guildgate\""),
                    );
                }
                response
            }
            OidcError::BearerMissing => (
                StatusCode::UNAUTHORIZED,
                [
                    (
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer realm=\"guildgate\""),
                    ),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
            )
                .into_response(),
            OidcError::Bearer { code, description } => {
                let description = safe_description(&description);
                let challenge = format!(
                    "Bearer error=\"{}\", error_description=\"{description}\"",
                    code.as_str(),
                );
                let status = if code == ErrorCode::InvalidRequest {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::UNAUTHORIZED
                };
                let mut response = (
                    status,
                    Json(json!({ "error": code.as_str(), "error_description": description })),
                )
                    .into_response();
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                response
            }
            OidcError::Redirect {
                code,
                description,
                target,
            } => {
                let description = safe_description(&description);
                let mut params = vec![
                    ("error", code.as_str()),
                    ("error_description", description.as_str()),
                ];
                if let Some(state) = target.state.as_deref() {
                    params.push(("state", state));
                }
                params.push(("iss", target.issuer.as_str()));
                redirect_with(&target.redirect_uri, &params)
            }
            OidcError::Page {
                status,
                title,
                message,
            } => pages::error_page(status, &title, &message),
            OidcError::Store(StoreError::Invalid(msg)) => {
                OidcError::invalid_request(msg).into_response()
            }
            OidcError::Store(StoreError::Overloaded(_)) => overloaded_page(),

            OidcError::Store(e) => {
                tracing::error!(error = %e, "OpenID Connect request failed");
                server_error()
            }
            OidcError::Internal(e) => {
                tracing::error!(error = %e, "OpenID Connect request failed");
                server_error()
            }
        }
    }
}

/// The page of a shed sign-in: every password-hashing thread and its queue are busy.
pub fn overloaded_page() -> Response {
    let look = look::current();
    let mut response = pages::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        &look.t("too-many-sign-ins-title"),
        &look.t("too-many-sign-ins"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

fn server_error() -> Response {
    let mut response = (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": "server_error", "error_description": "internal error" })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_to_the_rfc_6749_character_set() {
        let d = safe_description("parameter \"sc\\ope\u{e9}\u{1F600}\n\" is repeated");
        assert_eq!(d, "parameter 'sc/ope???' is repeated");
        assert!(d
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'));
        assert_eq!(safe_description(&"x".repeat(500)).len(), 200);
        assert_eq!(safe_description(""), "error");
    }
}
