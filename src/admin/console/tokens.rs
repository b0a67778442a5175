//! Admin API tokens: the list, creating one (its secret shown once) and revoking one.

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{done, refusal, Admin, Chrome, ConsoleResult};
use crate::admin::api_tokens::{ApiToken, Scope};
use crate::web::csrf::CsrfForm;
use crate::web::pages;

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<ApiToken>,
    new_secret: Option<String>,
}

async fn tokens_page(
    admin: Admin,
    status: StatusCode,
    error: Option<String>,
    new_secret: Option<String>,
) -> ConsoleResult<Response> {
    Ok(pages::render(
        status,
        &TokensPage {
            chrome: admin.chrome("tokens", error).await?,
            tokens: admin.store().list_api_tokens().await?,
            new_secret,
        },
    ))
}

pub(super) async fn tokens(admin: Admin) -> ConsoleResult<Response> {
    tokens_page(admin, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    #[serde(default)]
    name: String,
    scope: Scope,
}

pub(super) async fn create_token(
    admin: Admin,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> ConsoleResult<Response> {
    match admin
        .store()
        .create_api_token(&admin.actor(), &form.name, form.scope)
        .await
    {
        // Shown in this response only (never stored, never redirected through a URL).
        Ok(new) => tokens_page(admin, StatusCode::OK, None, Some(new.secret)).await,
        Err(e) => {
            let error = Some(refusal(e)?);
            tokens_page(admin, StatusCode::BAD_REQUEST, error, None).await
        }
    }
}

pub(super) async fn revoke_token(
    admin: Admin,
    Path(id): Path<String>,
    CsrfForm(()): CsrfForm<()>,
) -> ConsoleResult<Response> {
    let t = admin.store().revoke_api_token(&admin.actor(), &id).await?;
    admin.flash(format!("Token {} revoked.", t.name)).await?;
    done("/admin/api-tokens")
}
