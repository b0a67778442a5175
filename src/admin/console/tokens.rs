//! Admin API tokens: the list, creating one (its secret shown once) and revoking one.

use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use serde::Deserialize;

use super::{Admin, Chrome, ConsoleResult, Shown};
use crate::admin::api_tokens::{ApiToken, Scope};
use crate::web::csrf::CsrfForm;

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<ApiToken>,
    new_secret: Option<String>,
}

async fn tokens_page(
    admin: Admin,
    shown: Shown,
    new_secret: Option<String>,
) -> ConsoleResult<Response> {
    let tokens = admin.store().list_api_tokens().await?;
    admin
        .page("tokens", shown, |chrome| TokensPage {
            chrome,
            tokens,
            new_secret,
        })
        .await
}

pub(super) async fn tokens(admin: Admin) -> ConsoleResult<Response> {
    tokens_page(admin, Shown::ok(), None).await
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
        Ok(new) => tokens_page(admin, Shown::ok(), Some(new.secret)).await,
        Err(e) => tokens_page(admin, Shown::refused(e)?, None).await,
    }
}

pub(super) async fn revoke_token(
    admin: Admin,
    Path(id): Path<String>,
    CsrfForm(()): CsrfForm<()>,
) -> ConsoleResult<Response> {
    let t = admin.store().revoke_api_token(&admin.actor(), &id).await?;
    admin
        .done(format!("Token {} revoked.", t.name), "/admin/api-tokens")
        .await
}
