//! Signing in and out of the console, and the first-sign-in password change.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    actor, done, refusal, signed_in, signed_in_admin, ConsoleError, ConsoleResult, LANDING,
};
use crate::oidc::credentials::{self, Refusal};
use crate::oidc::second_factor::{self, AfterPassword, Then};
use crate::oidc::throttle::Attempt;
use crate::server::AppState;
use crate::web::csrf::{self, CsrfForm};
use crate::web::pages;
use crate::web::sessions;

/// The sign-in form, and the same form choosing a password.
#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage<'a> {
    title: &'a str,
    action: &'a str,
    error: Option<&'a str>,
    email: &'a str,
    csrf_token: &'a str,
    change_password: bool,
}

pub(super) async fn login_page(
    State(state): State<AppState>,
    session: Session,
) -> ConsoleResult<Response> {
    if signed_in(&session, &state).await?.is_some() {
        return done(LANDING);
    }
    let csrf_token = csrf::token(&session).await?;
    Ok(login_form(StatusCode::OK, &csrf_token, None, ""))
}

fn login_form(status: StatusCode, csrf_token: &str, error: Option<&str>, email: &str) -> Response {
    pages::render(
        status,
        &LoginPage {
            title: "Administrator sign-in",
            action: "/admin/login",
            error,
            email,
            csrf_token,
            change_password: false,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn login(
    State(state): State<AppState>,
    attempt: Attempt<LoginForm>,
) -> ConsoleResult<Response> {
    let (session, form) = (attempt.session, attempt.form);
    let (ip, device) = (attempt.ip, attempt.device);
    let csrf_token = csrf::token(&session).await?;
    let email = form.email.trim().to_lowercase();
    let refused = |status, message: &str| login_form(status, &csrf_token, Some(message), &email);
    let account = match credentials::check(&state, &email, form.password, ip, &device).await? {
        Ok(account) => account,
        Err(Refusal::Incomplete) => {
            return Ok(refused(
                StatusCode::UNAUTHORIZED,
                "Enter your e-mail address and password.",
            ))
        }
        Err(Refusal::Throttled {
            message,
            retry_after_secs,
        }) => {
            let response = refused(StatusCode::TOO_MANY_REQUESTS, &message);
            return Ok(pages::with_retry_after(response, retry_after_secs));
        }
        Err(Refusal::Wrong) => {
            return Ok(refused(
                StatusCode::UNAUTHORIZED,
                "The e-mail address or the password is not right.",
            ));
        }
        Err(Refusal::Inactive(_)) => {
            return Ok(pages::error_page(
                StatusCode::FORBIDDEN,
                "Account not active",
                "Your account is not active, so you cannot sign in.",
            ))
        }
    };
    let auth_time = time::OffsetDateTime::now_utc().unix_timestamp();
    let then = Then::Page(LANDING.into());
    match second_factor::after_password::<ConsoleError>(&state, &session, &account, auth_time, then)
        .await?
    {
        AfterPassword::SignedIn(_) => {
            tracing::info!(account_id = %account.id, "admin console sign-in");
            done(LANDING)
        }
        AfterPassword::Step(step) => Ok(step),
    }
}

pub(super) async fn logout(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(()): CsrfForm<()>,
) -> ConsoleResult<Response> {
    if signed_in(&session, &state).await?.is_some() {
        sessions::sign_out(&session).await?;
    }
    Ok(Redirect::to("/admin/login").into_response())
}

/// The first-sign-in password change (the bootstrap administrator's one-time password).
pub(super) async fn password_page(
    State(state): State<AppState>,
    session: Session,
) -> ConsoleResult<Response> {
    signed_in_admin(&session, &state).await?;
    let csrf_token = csrf::token(&session).await?;
    Ok(password_form(StatusCode::OK, &csrf_token, None))
}

fn password_form(status: StatusCode, csrf_token: &str, error: Option<&str>) -> Response {
    pages::render(
        status,
        &LoginPage {
            title: "Choose your password",
            action: "/admin/password",
            error,
            email: "",
            csrf_token,
            change_password: true,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub(super) async fn change_password(
    State(state): State<AppState>,
    attempt: Attempt<PasswordForm>,
) -> ConsoleResult<Response> {
    let (session, form) = (attempt.session, attempt.form);
    let (ip, device) = (attempt.ip, attempt.device);
    let account = signed_in_admin(&session, &state).await?;
    let csrf_token = csrf::token(&session).await?;
    let refused =
        |message: &str| password_form(StatusCode::BAD_REQUEST, &csrf_token, Some(message));
    // Whoever holds a signed-in console proves the password again before replacing it: the
    // same check as signing in, throttled and counted when wrong.
    let current = form.current.clone();
    match credentials::check(&state, &account.login_email, current, ip, &device).await? {
        Ok(_) => {}
        Err(Refusal::Throttled { message, .. }) => return Ok(refused(&message)),
        Err(_) => return Ok(refused("The current password is not right.")),
    }
    if form.password != form.confirm {
        return Ok(refused("The two passwords differ."));
    }
    if form.password == form.current {
        return Ok(refused(
            "The new password must differ from the current one.",
        ));
    }
    match state
        .store
        .set_password(&actor(&account), &account.member_key, &form.password)
        .await
    {
        Ok(()) => {
            // Every session of the account ended with the old password; this one, whose
            // holder just proved it, goes on under a new id.
            session.cycle_id().await?;
            done(LANDING)
        }
        Err(e) => Ok(refused(&refusal(e)?)),
    }
}
