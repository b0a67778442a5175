//! `/logout`: OpenID Connect RP-Initiated Logout 1.0.
//!
//! With a valid `id_token_hint` (the client itself asks) the session ends at once; without
//! one, the member confirms with a CSRF-protected form, so that a link on another site cannot
//! sign them out. `post_logout_redirect_uri` is followed only when registered for the client
//! (exact match); anything else gets an error page, never a redirect.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use tower_sessions::Session;

use crate::oidc::error::{redirect_with, OidcError, OidcResult};
use crate::oidc::pages::{LoggedOutPage, LogoutPage};
use crate::oidc::params::Params;
use crate::oidc::provider::NotIssuedHere;
use crate::server::AppState;
use crate::web::{csrf, look, pages, sessions};

const CARRIED: &[&str] = &[
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
];

/// `GET` and `POST /logout` (RP-Initiated Logout 1.0): only a posted confirmation signs out.
pub async fn logout_endpoint(
    State(state): State<AppState>,
    method: Method,
    session: Session,
    params: Params,
) -> OidcResult<Response> {
    logout(state, session, params, method == Method::POST).await
}

fn refused(message: &str) -> OidcError {
    OidcError::page(
        StatusCode::BAD_REQUEST,
        look::current().t("sign-out-refused-title"),
        message,
    )
}

async fn logout(
    state: AppState,
    session: Session,
    params: Params,
    is_post: bool,
) -> OidcResult<Response> {
    if let Some(name) = params.duplicated() {
        return Err(refused(&format!("The parameter {name} is repeated.")));
    }
    // Which client is asking: from the ID token it was given, or its client_id.
    let hint = state
        .oidc
        .id_token_hint(&params)
        .await
        .map_err(|NotIssuedHere| refused("The id_token_hint is not an ID token issued here."))?;
    let client_id = match (params.get("client_id"), &hint) {
        (Some(id), Some(h)) if id != h.client_id => {
            return Err(refused(
                "client_id does not match the audience of id_token_hint.",
            ))
        }
        (Some(id), _) => Some(id.to_string()),
        (None, Some(h)) => Some(h.client_id.clone()),
        (None, None) => None,
    };
    let redirect = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let Some(client_id) = &client_id else {
                return Err(refused(
                    "post_logout_redirect_uri needs id_token_hint or client_id.",
                ));
            };
            let client = state
                .oidc
                .client(&state.store, client_id)
                .await?
                .ok_or_else(|| refused("The request names an unknown application."))?;
            if !client.has_post_logout_redirect_uri(uri) {
                return Err(refused(
                    "post_logout_redirect_uri is not registered for this application.",
                ));
            }
            Some(uri.to_string())
        }
    };

    let confirmed = if is_post && params.get("confirm") == Some("yes") {
        csrf::verify(&session, params.get(csrf::FIELD).unwrap_or_default()).await?;
        true
    } else {
        false
    };
    let signed_in = sessions::current_login(&session).await?;
    // The hint must name whoever is signed in here; a stale hint for someone else does not
    // sign this person out without asking.
    let hint_matches = match (&hint, &signed_in) {
        (Some(h), Some(login)) => state
            .store
            .account_by_id(&login.account_id)
            .await?
            .is_some_and(|a| a.member_key == h.sub),
        (Some(_), None) => true,
        (None, _) => false,
    };
    if signed_in.is_some() && !confirmed && !hint_matches {
        return Ok(
            pages::render_form(&session, StatusCode::OK, |csrf_token| LogoutPage {
                action: "/logout",
                csrf_token,
                params: params.subset(CARRIED),
            })
            .await?,
        );
    }
    if let Some(login) = signed_in {
        sessions::sign_out(&session).await?;
        tracing::info!(account_id = %login.account_id, "signed out");
    }
    match redirect {
        Some(uri) => {
            let mut query = Vec::new();
            if let Some(s) = params.get("state") {
                query.push(("state", s));
            }
            Ok(redirect_with(&uri, &query))
        }
        None => Ok(pages::render(StatusCode::OK, &LoggedOutPage)),
    }
}
