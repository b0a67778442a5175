//! `/userinfo` (OIDC Core 5.3), GET and POST, with a bearer access token in the
//! `Authorization` header (or, for POST, the `access_token` form field, RFC 6750 2.2).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use crate::db::now_ms;
use crate::oidc::claims::RequestedClaims;
use crate::oidc::error::{ErrorCode, OidcError, OidcResult};
use crate::oidc::grants::{self, TokenKind, TokenWithSubject};
use crate::oidc::params::Params;
use crate::server::AppState;

pub async fn userinfo_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    respond(userinfo(&state, &headers, &Params::default()).await)
}

/// `POST /userinfo`: the token in the `Authorization` header (with any body, or none and no
/// `Content-Type`, as many clients send it), or in a form-encoded body (RFC 6750 2.2).
pub async fn userinfo_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(userinfo(&state, &headers, &form_params(&headers, &body)).await)
}

/// The form fields of a body, when it is `application/x-www-form-urlencoded`; a body of any
/// other type carries no parameters here.
fn form_params(headers: &HeaderMap, body: &[u8]) -> Params {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form || body.is_empty() {
        return Params::default();
    }
    Params::new(form_urlencoded::parse(body).into_owned().collect())
}

fn respond(result: OidcResult<Value>) -> Response {
    match result {
        Ok(claims) => {
            let mut response = Json(claims).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => e.into_response(),
    }
}

/// The bearer token of a request: header, or (POST) form field, never both.
fn bearer_token<'a>(headers: &'a HeaderMap, params: &'a Params) -> OidcResult<&'a str> {
    let from_header = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value.to_str().unwrap_or_default();
            match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    Some(token.trim())
                }
                _ => {
                    return Err(OidcError::Bearer {
                        code: ErrorCode::InvalidRequest,
                        description: "use the Bearer scheme".into(),
                    })
                }
            }
        }
    };
    let from_form = params.get("access_token");
    match (from_header, from_form) {
        (Some(_), Some(_)) => Err(OidcError::Bearer {
            code: ErrorCode::InvalidRequest,
            description: "send the access token once".into(),
        }),
        (Some(t), None) | (None, Some(t)) if !t.is_empty() => Ok(t),
        (None, None) => Err(OidcError::BearerMissing),
        _ => Err(OidcError::Bearer {
            code: ErrorCode::InvalidToken,
            description: "an access token is required".into(),
        }),
    }
}

async fn userinfo(state: &AppState, headers: &HeaderMap, params: &Params) -> OidcResult<Value> {
    let token = bearer_token(headers, params)?;
    let TokenWithSubject {
        token: record,
        subject,
    } = grants::find_token_with_subject(&state.store, token)
        .await?
        .filter(|r| r.token.kind() == TokenKind::Access)
        .ok_or_else(|| OidcError::bearer("the access token is invalid"))?;
    if record.account_state != "active" {
        return Err(OidcError::bearer("the account is not active"));
    }
    if !record.is_usable(now_ms()) {
        return Err(OidcError::bearer("the access token is expired or revoked"));
    }
    let requested = RequestedClaims::from_stored(record.claims.as_deref());
    Ok(Value::Object(
        subject.claims(record.scopes(), &requested.userinfo),
    ))
}
