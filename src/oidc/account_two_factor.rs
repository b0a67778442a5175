//! Two-factor sign-in from the member's account page (`/account`): turning it on (the
//! enrolment page, confirmed by a first code, then the recovery codes once), turning it off
//! (the current password and a code: a credential change, so every other session and token
//! ends) and new recovery codes (a code). An administrator who must use it
//! (`two_factor.required_for_administrators`) cannot turn it off here.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use crate::accounts::Account;
use crate::oidc::account_page::{self, Done, ACCOUNT_PATH};
use crate::oidc::credentials::{self, Refusal};
use crate::oidc::error::OidcResult;
use crate::oidc::known_device::DeviceCookie;
use crate::oidc::second_factor::{
    self, Enrolment, RecoveryCodesPage, Then, CONTINUE_KEY, CONTINUE_PATH,
};
use crate::oidc::throttle::ThrottleError;
use crate::server::AppState;
use crate::two_factor::totp::{CodeCheck, DIGITS};
use crate::web::client_ip::ClientIp;
use crate::web::csrf::CsrfForm;
use crate::web::sessions;
use crate::web::{look, pages};

pub const ENROL_PATH: &str = "/account/two-factor/enrol";
pub const CONFIRM_PATH: &str = "/account/two-factor/confirm";
pub const DISABLE_PATH: &str = "/account/two-factor/disable";
pub const RECOVERY_CODES_PATH: &str = "/account/two-factor/recovery-codes";

#[derive(Deserialize)]
pub struct NoFields {}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    code: String,
}

async fn signed_in(state: &AppState, session: &Session) -> OidcResult<Option<Account>> {
    sessions::active_account(session, &state.store).await
}

/// Whether this account may turn its second factor off.
pub fn may_disable(state: &AppState, account: &Account) -> bool {
    !(account.is_admin() && state.settings.two_factor.required_for_administrators)
}

async fn enrol_page(
    state: &AppState,
    session: &Session,
    account: &Account,
    status: StatusCode,
    error: Option<&str>,
) -> OidcResult<Response> {
    let secret = state.store.two_factor_secret_to_enrol(&account.id).await?;
    let intro = look::current().t("two-factor-optional");
    let enrolment = Enrolment {
        secret: &secret,
        login: &account.login_email,
        action: CONFIRM_PATH,
        intro: &intro,
        cancel_url: Some(ACCOUNT_PATH),
    };
    Ok(second_factor::enrol_page(session, status, &enrolment, error).await?)
}

/// The recovery codes, once; the page goes on to the account page.
async fn codes_page(session: &Session, codes: &[String]) -> OidcResult<Response> {
    session
        .insert(CONTINUE_KEY, Then::Page(ACCOUNT_PATH.into()))
        .await?;
    Ok(
        pages::render_form(session, StatusCode::OK, |csrf_token| RecoveryCodesPage {
            codes,
            action: CONTINUE_PATH,
            csrf_token,
        })
        .await?,
    )
}

/// `POST /account/two-factor/enrol`: a new secret and its enrolment page.
pub async fn enrol(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(_): CsrfForm<NoFields>,
) -> OidcResult<Response> {
    let Some(account) = signed_in(&state, &session).await? else {
        return Ok(Redirect::to(ACCOUNT_PATH).into_response());
    };
    state.store.begin_two_factor_enrolment(&account.id).await?;
    enrol_page(&state, &session, &account, StatusCode::OK, None).await
}

/// The throttle's verdict on a code attempt of `account` from `ip`: the message when it must
/// wait.
async fn throttled(
    state: &AppState,
    account: &Account,
    ip: std::net::IpAddr,
    device: &DeviceCookie,
) -> OidcResult<Option<String>> {
    match state
        .oidc
        .throttle
        .check(&account.login_email, ip, device)
        .await
    {
        Ok(()) => Ok(None),
        Err(e @ ThrottleError::RetryAfter(_)) => {
            let secs = e.retry_after_secs().unwrap_or(1).to_string();
            Ok(Some(look::current().t1("throttled-sign-in", "secs", &secs)))
        }
        Err(ThrottleError::Store(e)) => Err(e.into()),
    }
}

/// `POST /account/two-factor/confirm`: the enrolment's first code; then the recovery codes.
pub async fn confirm(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    device: DeviceCookie,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> OidcResult<Response> {
    let Some(account) = signed_in(&state, &session).await? else {
        return Ok(Redirect::to(ACCOUNT_PATH).into_response());
    };
    if let Some(message) = throttled(&state, &account, ip, &device).await? {
        return enrol_page(
            &state,
            &session,
            &account,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&message),
        )
        .await;
    }
    let had = state.store.two_factor_status(&account.id).await?.enabled;
    match state
        .store
        .confirm_two_factor("self-service", &account, form.code.trim())
        .await?
    {
        Some(codes) => {
            state
                .oidc
                .throttle
                .record_success(&account.login_email, &device)
                .await?;
            if had {
                // A replaced secret ended every session of the account; this one goes on.
                session.cycle_id().await?;
            }
            tracing::info!(account_id = %account.id, "two-factor sign-in turned on");
            codes_page(&session, &codes).await
        }
        None => {
            state
                .oidc
                .throttle
                .record_failure(&account.login_email, ip, &device)
                .await?;
            let message = look::current().t("two-factor-wrong-code");
            enrol_page(
                &state,
                &session,
                &account,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&message),
            )
            .await
        }
    }
}

/// Whether `code` is a valid code (or recovery code) of `account` now; a wrong one is counted.
async fn code_holds(
    state: &AppState,
    account: &Account,
    code: &str,
    ip: std::net::IpAddr,
    device: &DeviceCookie,
) -> OidcResult<bool> {
    let code = code.trim();
    let holds = if code.chars().filter(|c| !c.is_whitespace()).count() == DIGITS {
        matches!(
            state.store.check_two_factor_code(&account.id, code).await?,
            CodeCheck::Accepted(_)
        )
    } else {
        state.store.use_recovery_code(account, code).await?
    };
    if !holds {
        state
            .oidc
            .throttle
            .record_failure(&account.login_email, ip, device)
            .await?;
    }
    Ok(holds)
}

/// `POST /account/two-factor/disable`: the current password and a code.
pub async fn disable(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    device: DeviceCookie,
    CsrfForm(form): CsrfForm<DisableForm>,
) -> OidcResult<Response> {
    let Some(account) = signed_in(&state, &session).await? else {
        return Ok(Redirect::to(ACCOUNT_PATH).into_response());
    };
    let refuse = |message: String| account_page::refused(&state, &session, &account, message);
    if !may_disable(&state, &account) {
        return refuse(look::current().t("account-two-factor-required")).await;
    }
    match credentials::check(
        &state,
        &account.login_email,
        form.current_password,
        ip,
        &device,
    )
    .await?
    {
        Ok(_) => {}
        Err(Refusal::Throttled { message, .. }) => return refuse(message).await,
        Err(_) => return refuse(look::current().t("account-two-factor-wrong")).await,
    }
    if let Some(message) = throttled(&state, &account, ip, &device).await? {
        return refuse(message).await;
    }
    if !code_holds(&state, &account, &form.code, ip, &device).await? {
        return refuse(look::current().t("account-two-factor-wrong")).await;
    }
    state
        .oidc
        .throttle
        .record_success(&account.login_email, &device)
        .await?;
    state
        .store
        .disable_two_factor("self-service", &account)
        .await?;
    // Every session of the account ended with the second factor; this one goes on.
    session.cycle_id().await?;
    tracing::info!(account_id = %account.id, "two-factor sign-in turned off");
    let to = format!("{ACCOUNT_PATH}?done={}", Done::TwoFactorOff.as_str());
    Ok(Redirect::to(&to).into_response())
}

/// `POST /account/two-factor/recovery-codes`: a code, then ten new recovery codes.
pub async fn renew_recovery_codes(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    device: DeviceCookie,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> OidcResult<Response> {
    let Some(account) = signed_in(&state, &session).await? else {
        return Ok(Redirect::to(ACCOUNT_PATH).into_response());
    };
    let refuse = |message: String| account_page::refused(&state, &session, &account, message);
    if let Some(message) = throttled(&state, &account, ip, &device).await? {
        return refuse(message).await;
    }
    if !state.store.two_factor_status(&account.id).await?.enabled
        || !code_holds(&state, &account, &form.code, ip, &device).await?
    {
        return refuse(look::current().t("two-factor-wrong-code")).await;
    }
    state
        .oidc
        .throttle
        .record_success(&account.login_email, &device)
        .await?;
    let codes = state
        .store
        .renew_recovery_codes("self-service", &account)
        .await?;
    codes_page(&session, &codes).await
}
