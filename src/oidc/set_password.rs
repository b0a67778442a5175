//! The set-password page, reached from an invitation or password-reset link
//! (`/set-password?token=...`): a CSRF-protected form that sets the argon2id password, uses
//! the link up and ends the account's other sessions.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use tower_sessions::Session;

use crate::oidc::error::{OidcError, OidcResult};
use crate::oidc::invitations::{self, InvitationError, LinkInfo, Purpose, SET_PASSWORD_PATH};
use crate::passwords;
use crate::server::AppState;
use crate::web::{csrf, look, pages};

#[derive(Template)]
#[template(path = "set_password.html")]
struct SetPasswordPage<'a> {
    title: &'a str,
    action: &'a str,
    login_email: &'a str,
    token: &'a str,
    csrf_token: String,
    error: Option<&'a str>,
    min_length: usize,
}

#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct SetPasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

/// The one mapping of this page's failures to what the browser sees.
fn refusal(e: InvitationError) -> OidcError {
    match e {
        InvitationError::InvalidLink => OidcError::page(
            StatusCode::GONE,
            look::current().t("link-not-valid-title"),
            look::current().t("link-not-valid"),
        ),
        InvitationError::AccountNotActive => OidcError::page(
            StatusCode::FORBIDDEN,
            look::current().t("account-not-active-title"),
            look::current().t("account-not-active-set-password"),
        ),
        InvitationError::Store(e) => OidcError::Store(e),
        // Policy failures are shown on the form; mail is not sent from this page.
        other => OidcError::internal(other),
    }
}

fn title(link: &LinkInfo) -> String {
    look::current().t(match link.purpose {
        Purpose::Invitation => "set-password-invitation-title",
        Purpose::PasswordReset => "set-password-reset-title",
    })
}

async fn form_page(
    session: &Session,
    status: StatusCode,
    link: &LinkInfo,
    token: &str,
    error: Option<&str>,
) -> OidcResult<Response> {
    let title = title(link);
    let here = form_urlencoded::Serializer::new(format!("{SET_PASSWORD_PATH}?"))
        .append_pair("token", token)
        .finish();
    look::reload_at(&here);
    Ok(
        pages::render_form(session, status, |csrf_token| SetPasswordPage {
            title: &title,
            action: SET_PASSWORD_PATH,
            login_email: &link.login_email,
            token,
            csrf_token,
            error,
            min_length: passwords::MIN_LENGTH,
        })
        .await?,
    )
}

/// `GET /set-password?token=...`
pub async fn form(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<LinkQuery>,
) -> OidcResult<Response> {
    let link = invitations::check_link(&state.store, &query.token)
        .await
        .map_err(refusal)?;
    form_page(&session, StatusCode::OK, &link, &query.token, None).await
}

/// `POST /set-password`
pub async fn submit(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<SetPasswordForm>,
) -> OidcResult<Response> {
    csrf::verify(&session, &form.csrf_token).await?;
    let link = invitations::check_link(&state.store, &form.token)
        .await
        .map_err(refusal)?;
    let problem = if form.password != form.password_again {
        Some(look::current().t("passwords-differ"))
    } else {
        look::current().password_problem(&form.password)
    };
    if let Some(problem) = problem {
        return form_page(
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &link,
            &form.token,
            Some(&problem),
        )
        .await;
    }
    match invitations::set_password_with_link(&state.store, &form.token, &form.password).await {
        Ok(account) => {
            tracing::info!(account_id = %account.id, "password set from a link");
            look::remember_language(&state.store, &account.id).await;
            // Back to the authorization request the member started (its sign-in page).
            if let Some(path) = &link.return_to {
                return Ok(Redirect::to(path).into_response());
            }
            let look = look::current();
            Ok(pages::error_page(
                StatusCode::OK,
                &look.t("password-set-title"),
                &look.t("password-set"),
            ))
        }
        Err(InvitationError::Password(_)) => {
            let problem = look::current().password_problem(&form.password);
            form_page(
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                &link,
                &form.token,
                problem.as_deref(),
            )
            .await
        }
        Err(e) => Err(refusal(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_escapes_what_it_shows() {
        let html = SetPasswordPage {
            title: "Choose your password",
            action: SET_PASSWORD_PATH,
            login_email: "a\"><script>@b.c",
            token: "t\"><b>",
            csrf_token: "c".into(),
            error: Some("<i>bad</i>"),
            min_length: 12,
        }
        .render()
        .unwrap();
        assert!(!html.contains("<script>") && !html.contains("<b>") && !html.contains("<i>"));
        assert!(html.contains("name=\"csrf_token\" value=\"c\""));
    }
}
