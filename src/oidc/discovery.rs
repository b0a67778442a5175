//! `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0) and `/jwks`: both
//! public and cacheable, and describing exactly what is implemented.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::branding::i18n::{self, Lang};
use crate::oidc::claims::supported_claims;
use crate::oidc::provider::SUPPORTED_SCOPES;
use crate::server::AppState;

/// How long clients may cache the discovery document.
pub const DISCOVERY_MAX_AGE_SECS: u32 = 3600;

pub fn document(issuer: &str) -> Value {
    let auth_methods = ["client_secret_basic", "client_secret_post", "none"];
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "scopes_supported": SUPPORTED_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": supported_claims(),
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_parameter_supported": true,
        // The languages of the sign-in pages: one per message catalogue (`branding::i18n`).
        "ui_locales_supported": i18n::supported().iter().map(Lang::tag).collect::<Vec<_>>(),
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": false,
    })
}

fn cacheable(body: Value, max_age: u32) -> Response {
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    cacheable(document(&state.oidc.issuer), DISCOVERY_MAX_AGE_SECS)
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    let max_age = u32::try_from(state.oidc.keys.jwks_max_age().as_secs()).unwrap_or(3600);
    cacheable(state.oidc.keys.jwks().await, max_age)
}
