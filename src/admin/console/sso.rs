//! Single sign-on: registering Higher Logic as a client, its secret, and the worksheet.

use askama::Template;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Admin, Chrome, ConsoleResult, Shown};
use crate::admin::sso::{self, Worksheet};
use crate::oidc::clients::Client;
use crate::web::csrf::CsrfForm;

#[derive(Template)]
#[template(path = "admin/sso.html")]
struct SsoPage {
    chrome: Chrome,
    client: Option<Client>,
    worksheet: Worksheet,
    new_secret: Option<String>,
}

async fn sso_page(
    admin: Admin,
    shown: Shown,
    new_secret: Option<String>,
) -> ConsoleResult<Response> {
    let client = sso::higher_logic_client(admin.store()).await?;
    let worksheet = sso::worksheet(admin.store(), &admin.state.oidc.issuer).await?;
    admin
        .page("sso", shown, |chrome| SsoPage {
            chrome,
            client,
            worksheet,
            new_secret,
        })
        .await
}

pub(super) async fn sso(admin: Admin) -> ConsoleResult<Response> {
    sso_page(admin, Shown::ok(), None).await
}

#[derive(Deserialize)]
pub(super) struct SiteForm {
    #[serde(default)]
    site: String,
}

pub(super) async fn register_sso(
    admin: Admin,
    CsrfForm(form): CsrfForm<SiteForm>,
) -> ConsoleResult<Response> {
    let pepper = admin.state.oidc.keys.pepper();
    match sso::register_higher_logic(admin.store(), pepper, &admin.actor(), &form.site).await {
        // The secret exists in this response only.
        Ok((_, secret)) => sso_page(admin, Shown::ok(), Some(secret)).await,
        Err(e) => sso_page(admin, Shown::refused(e)?, None).await,
    }
}

pub(super) async fn rotate_sso_secret(
    admin: Admin,
    CsrfForm(()): CsrfForm<()>,
) -> ConsoleResult<Response> {
    let secret = admin
        .store()
        .rotate_client_secret(
            &admin.actor(),
            admin.state.oidc.keys.pepper(),
            sso::HIGHER_LOGIC_CLIENT_ID,
        )
        .await?;
    sso_page(admin, Shown::ok(), Some(secret)).await
}

/// The worksheet as JSON for a signed-in administrator (the same document as
/// `/admin/api/worksheet`, which takes an API token instead).
pub(super) async fn worksheet_json(admin: Admin) -> ConsoleResult<Response> {
    let worksheet = sso::worksheet(admin.store(), &admin.state.oidc.issuer).await?;
    // The client id and addresses of this deployment: kept out of shared caches.
    let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
    Ok((no_store, axum::Json(worksheet)).into_response())
}
