//! Admin API tokens: the list, creating one (its secret shown once) and revoking one.

use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use serde::Deserialize;

use super::{Admin, Chrome, ConsoleResult, Shown};
use crate::admin::api_tokens::{
    ApiToken, Scope, TokenGrant, DEFAULT_LIFETIME_DAYS, MAX_LIFETIME_DAYS,
};
use crate::db::{format_ms, now_ms};
use crate::web::csrf::CsrfForm;

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenRow>,
    new_secret: Option<String>,
    default_lifetime: u32,
    max_lifetime: u32,
}

/// A token as the page lists it.
struct TokenRow {
    id: String,
    name: String,
    token_prefix: String,
    scope: String,
    owner: String,
    expires: String,
    last_used: String,
    state: &'static str,
}

impl TokenRow {
    fn of(t: ApiToken, now: i64) -> TokenRow {
        TokenRow {
            state: t.state(now),
            owner: t.owner.unwrap_or_else(|| "the server's operator".into()),
            expires: t.expires_at.map(format_ms).unwrap_or_default(),
            last_used: t.last_used_at.map_or_else(|| "never".into(), format_ms),
            id: t.id,
            name: t.name,
            token_prefix: t.token_prefix,
            scope: t.scope,
        }
    }
}

async fn tokens_page(
    admin: Admin,
    shown: Shown,
    new_secret: Option<String>,
) -> ConsoleResult<Response> {
    let now = now_ms();
    let tokens = admin.store().list_api_tokens().await?;
    let tokens = tokens.into_iter().map(|t| TokenRow::of(t, now)).collect();
    admin
        .page("tokens", shown, |chrome| TokensPage {
            chrome,
            tokens,
            new_secret,
            default_lifetime: DEFAULT_LIFETIME_DAYS,
            max_lifetime: MAX_LIFETIME_DAYS,
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
    /// Days; the default lifetime when left out. (Form fields are text: parsed here, so that
    /// a wrong value gets the store's message rather than a deserialisation error.)
    #[serde(default)]
    lifetime_days: String,
}

pub(super) async fn create_token(
    admin: Admin,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> ConsoleResult<Response> {
    let grant = TokenGrant {
        owner: Some(&admin.account),
        name: &form.name,
        scope: form.scope,
        lifetime_days: match form.lifetime_days.trim() {
            "" => DEFAULT_LIFETIME_DAYS,
            days => days.parse().unwrap_or(0),
        },
    };
    match admin.store().create_api_token(&admin.actor(), grant).await {
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
