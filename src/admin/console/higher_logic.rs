//! Integrations > Higher Logic: the settings form, the connection test, the sync's status and
//! the contacts Higher Logic refused.

use askama::Template;
use axum::response::Response;
use serde::Deserialize;

use super::{Admin, Chrome, ConsoleResult, Shown};
use crate::admin::integrations::{self, ConnectionTest};
use crate::higher_logic::settings::{MaskedSettings, SettingsUpdate};
use crate::higher_logic::status::{ParkedContact, SyncStatus};
use crate::web::csrf::CsrfForm;

const PAGE: &str = "/admin/integrations/higher-logic";

#[derive(Template)]
#[template(path = "admin/higher_logic.html")]
struct HigherLogicPage {
    chrome: Chrome,
    settings: MaskedSettings,
    status: SyncStatus,
    /// The contacts Higher Logic refused, with its reasons (the first 100).
    refused: Vec<ParkedContact>,
    test: Option<ConnectionTest>,
}

async fn higher_logic_page(
    admin: Admin,
    shown: Shown,
    test: Option<ConnectionTest>,
) -> ConsoleResult<Response> {
    let settings = admin.store().hl_settings().await?.masked();
    let status = admin.store().hl_status().await?;
    let refused = admin.store().hl_parked(100).await?;
    admin
        .page("integrations", shown, |chrome| HigherLogicPage {
            chrome,
            settings,
            status,
            refused,
            test,
        })
        .await
}

pub(super) async fn higher_logic(admin: Admin) -> ConsoleResult<Response> {
    higher_logic_page(admin, Shown::ok(), None).await
}

#[derive(Deserialize)]
pub(super) struct HigherLogicForm {
    #[serde(default)]
    tenant_code: String,
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    base_url: String,
    integrate_bio: Option<String>,
    integrate_profile_image: Option<String>,
    integrate_social: Option<String>,
}

pub(super) async fn save_higher_logic(
    admin: Admin,
    CsrfForm(form): CsrfForm<HigherLogicForm>,
) -> ConsoleResult<Response> {
    // Write-only: an empty key field keeps the saved key.
    let update = SettingsUpdate::entered(
        &form.tenant_code,
        Some(form.api_key.as_str()),
        Some(form.base_url.as_str()),
        form.integrate_bio.is_some(),
        form.integrate_profile_image.is_some(),
        form.integrate_social.is_some(),
    );
    match admin.store().save_hl_settings(&admin.actor(), update).await {
        Ok(_) => admin.done("Higher Logic settings saved.", PAGE).await,
        Err(e) => higher_logic_page(admin, Shown::refused(e)?, None).await,
    }
}

pub(super) async fn test_higher_logic(
    admin: Admin,
    CsrfForm(()): CsrfForm<()>,
) -> ConsoleResult<Response> {
    let test = integrations::test_connection(admin.store()).await?;
    higher_logic_page(admin, Shown::ok(), Some(test)).await
}

/// Puts every contact Higher Logic refused back in the queue (once the cause is fixed).
pub(super) async fn retry_refused(
    admin: Admin,
    CsrfForm(()): CsrfForm<()>,
) -> ConsoleResult<Response> {
    let n = admin.store().hl_retry_parked().await?;
    let notice = format!(
        "{n} refused {} back in the queue: they are sent again now.",
        if n == 1 { "contact is" } else { "contacts are" }
    );
    admin.done(notice, PAGE).await
}
