//! Sign-in page: the association's branding on the member-facing pages and e-mails (name, logo,
//! primary colour, support e-mail, privacy-policy link), with a preview of the sign-in page.
//! The preview follows the form as it is typed (`branding.js`); without JavaScript the
//! "Preview" button shows it from the server without saving.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Admin, Chrome, ConsoleResult, Shown};
use crate::branding::{Branding, BrandingError, BrandingInput, Field, MIN_CONTRAST};
use crate::web::csrf::CsrfForm;

const PAGE: &str = "/admin/sign-in-page";

/// The form's message for each refused field.
#[derive(Default)]
struct FieldMessages {
    name: Option<String>,
    logo_url: Option<String>,
    primary_color: Option<String>,
    support_email: Option<String>,
    privacy_url: Option<String>,
}

impl FieldMessages {
    fn of(e: &BrandingError) -> FieldMessages {
        let m = |f| e.message_for(f).map(str::to_string);
        FieldMessages {
            name: m(Field::Name),
            logo_url: m(Field::LogoUrl),
            primary_color: m(Field::PrimaryColor),
            support_email: m(Field::SupportEmail),
            privacy_url: m(Field::PrivacyUrl),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/branding.html")]
struct BrandingPage {
    chrome: Chrome,
    /// What the fields show: the saved branding, or what was typed.
    form: BrandingInput,
    errors: FieldMessages,
    /// What the preview shows: the typed values where they are good, the saved ones elsewhere.
    preview: Branding,
    min_contrast: f64,
}

async fn branding_page(
    admin: Admin,
    shown: Shown,
    form: Option<BrandingInput>,
    errors: FieldMessages,
) -> ConsoleResult<Response> {
    let saved = admin.store().branding().await?;
    let form = form.unwrap_or_else(|| BrandingInput::from(&saved));
    let preview = previewed(&saved, &form);
    admin
        .page("branding", shown, |chrome| BrandingPage {
            chrome,
            form,
            errors,
            preview,
            min_contrast: MIN_CONTRAST,
        })
        .await
}

/// Each field as typed where it is good on its own, as saved where it is not.
fn previewed(saved: &Branding, typed: &BrandingInput) -> Branding {
    match typed.check() {
        Ok(good) => good,
        Err(e) => {
            let pick = |field, typed: &str, saved: &str| {
                if e.message_for(field).is_some() {
                    saved.to_string()
                } else {
                    typed.trim().to_string()
                }
            };
            Branding {
                name: pick(Field::Name, &typed.name, &saved.name),
                logo_url: pick(Field::LogoUrl, &typed.logo_url, &saved.logo_url),
                primary_color: pick(
                    Field::PrimaryColor,
                    &typed.primary_color.to_lowercase(),
                    &saved.primary_color,
                ),
                support_email: pick(
                    Field::SupportEmail,
                    &typed.support_email,
                    &saved.support_email,
                ),
                privacy_url: pick(Field::PrivacyUrl, &typed.privacy_url, &saved.privacy_url),
            }
        }
    }
}

pub(super) async fn branding(admin: Admin) -> ConsoleResult<Response> {
    branding_page(admin, Shown::ok(), None, FieldMessages::default()).await
}

#[derive(Deserialize)]
pub(super) struct BrandingForm {
    #[serde(flatten)]
    fields: BrandingInput,
    /// `preview` shows the page with the typed values without saving.
    #[serde(default)]
    action: String,
}

pub(super) async fn save_branding(
    admin: Admin,
    CsrfForm(form): CsrfForm<BrandingForm>,
) -> ConsoleResult<Response> {
    if form.action == "preview" {
        let errors = form
            .fields
            .check()
            .err()
            .map(|e| FieldMessages::of(&e))
            .unwrap_or_default();
        return branding_page(admin, Shown::ok(), Some(form.fields), errors).await;
    }
    match admin
        .store()
        .save_branding(&admin.actor(), &form.fields)
        .await
    {
        Ok(_) => admin.done("Sign-in page saved.", PAGE).await,
        Err(BrandingError::Store(e)) => Err(e.into()),
        Err(refused) => {
            let shown = Shown::failed(
                StatusCode::BAD_REQUEST,
                "Not saved: see the fields marked below.",
            );
            branding_page(admin, shown, Some(form.fields), FieldMessages::of(&refused)).await
        }
    }
}
