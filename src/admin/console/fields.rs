//! Custom fields: the list with the form to add one, and one field's page.

use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use serde::Deserialize;

use super::{lines, urlencoding, Admin, Chrome, ConsoleResult, Shown};
use crate::custom_fields::{AppliesTo, CustomField, FieldSpec, FieldType, FieldUpdate};
use crate::web::csrf::CsrfForm;

#[derive(Template)]
#[template(path = "admin/fields.html")]
struct FieldsPage {
    chrome: Chrome,
    fields: Vec<CustomField>,
}

async fn fields_page(admin: Admin, shown: Shown) -> ConsoleResult<Response> {
    let fields = admin.store().list_fields().await?;
    admin
        .page("fields", shown, |chrome| FieldsPage { chrome, fields })
        .await
}

pub(super) async fn fields(admin: Admin) -> ConsoleResult<Response> {
    fields_page(admin, Shown::ok()).await
}

#[derive(Deserialize)]
pub(super) struct NewFieldForm {
    #[serde(default)]
    field_key: String,
    #[serde(default)]
    name: String,
    field_type: FieldType,
    #[serde(default)]
    choices: String,
    applies_to: AppliesTo,
    show_in_members: Option<String>,
    sync_to_higher_logic: Option<String>,
}

fn field_url(key: &str) -> String {
    format!("/admin/fields/{}", urlencoding(key))
}

pub(super) async fn add_field(
    admin: Admin,
    CsrfForm(form): CsrfForm<NewFieldForm>,
) -> ConsoleResult<Response> {
    let spec = FieldSpec {
        field_key: form.field_key.trim().to_string(),
        name: form.name,
        field_type: form.field_type,
        choices: lines(&form.choices),
        applies_to: form.applies_to,
        show_in_members: form.show_in_members.is_some(),
        sync_to_higher_logic: form.sync_to_higher_logic.is_some(),
    };
    match admin.store().add_field(&admin.actor(), spec).await {
        Ok(f) => {
            let notice = format!("Field {} added.", f.name);
            admin.done(notice, &field_url(&f.field_key)).await
        }
        Err(e) => fields_page(admin, Shown::refused(e)?).await,
    }
}

#[derive(Template)]
#[template(path = "admin/field.html")]
struct FieldPage {
    chrome: Chrome,
    field: CustomField,
}

async fn field_page(admin: Admin, key: &str, shown: Shown) -> ConsoleResult<Response> {
    let field = admin.store().field(key).await?;
    admin
        .page("fields", shown, |chrome| FieldPage { chrome, field })
        .await
}

pub(super) async fn field(admin: Admin, Path(key): Path<String>) -> ConsoleResult<Response> {
    field_page(admin, &key, Shown::ok()).await
}

#[derive(Deserialize)]
pub(super) struct FieldForm {
    #[serde(default)]
    name: String,
    show_in_members: Option<String>,
    sync_to_higher_logic: Option<String>,
}

pub(super) async fn update_field(
    admin: Admin,
    Path(key): Path<String>,
    CsrfForm(form): CsrfForm<FieldForm>,
) -> ConsoleResult<Response> {
    let update = FieldUpdate {
        name: Some(form.name),
        show_in_members: Some(form.show_in_members.is_some()),
        // The server decides, whatever the page showed: the store refuses sync without the
        // Members section.
        sync_to_higher_logic: Some(form.sync_to_higher_logic.is_some()),
    };
    match admin
        .store()
        .update_field(&admin.actor(), &key, update)
        .await
    {
        Ok(f) => {
            let notice = format!("Field {} saved.", f.name);
            admin.done(notice, &field_url(&key)).await
        }
        Err(e) => field_page(admin, &key, Shown::refused(e)?).await,
    }
}
