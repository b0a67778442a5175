//! Two-factor sign-in from the member's account page (`/account`): turning it on (the
//! enrolment page, confirmed by a first code, then the recovery codes once), turning it off
//! (the current password and a code: a credential change, so every other session and token
//! ends) and new recovery codes (a code). An administrator who must use it
//! (`two_factor.required_for_administrators`) cannot turn it off here.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tower_sessions::Session;

use crate::accounts::Account;
use crate::oidc::account_page::{AccountPost, Done, NoFields, ACCOUNT_PATH};
use crate::oidc::error::OidcResult;
use crate::oidc::second_factor::{
    self, Enrolment, RecoveryCodesPage, Then, CONTINUE_KEY, CONTINUE_PATH,
};
use crate::oidc::throttle::ThrottleError;
use crate::server::AppState;
use crate::two_factor::totp::{CodeCheck, DIGITS};
use crate::web::{look, pages};

pub const ENROL_PATH: &str = "/account/two-factor/enrol";
pub const CONFIRM_PATH: &str = "/account/two-factor/confirm";
pub const DISABLE_PATH: &str = "/account/two-factor/disable";
pub const RECOVERY_CODES_PATH: &str = "/account/two-factor/recovery-codes";

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

/// Whether this account may turn its second factor off.
pub fn may_disable(state: &AppState, account: &Account) -> bool {
    !(account.is_admin() && state.settings.two_factor.required_for_administrators)
}

/// The enrolment page of the account page's "turn on".
async fn enrol_page<T>(
    post: &AccountPost<T>,
    status: StatusCode,
    error: Option<&str>,
) -> OidcResult<Response> {
    let enrolment = Enrolment {
        action: CONFIRM_PATH,
        intro_key: "two-factor-optional",
        cancel_url: Some(ACCOUNT_PATH),
    };
    let (state, session, account) = (&post.state, &post.session, &post.account);
    second_factor::enrol_page(state, session, account, status, &enrolment, error).await
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
pub async fn enrol(post: AccountPost<NoFields>) -> OidcResult<Response> {
    let account_id = &post.account.id;
    post.state
        .store
        .begin_two_factor_enrolment(account_id)
        .await?;
    enrol_page(&post, StatusCode::OK, None).await
}

/// The throttle's verdict on a code attempt of the member posting: the message when it must
/// wait.
async fn throttled<T>(post: &AccountPost<T>) -> OidcResult<Option<String>> {
    let login = &post.account.login_email;
    match post
        .state
        .oidc
        .throttle
        .check(login, post.ip, &post.device)
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
pub async fn confirm(post: AccountPost<CodeForm>) -> OidcResult<Response> {
    if let Some(message) = throttled(&post).await? {
        return enrol_page(&post, StatusCode::TOO_MANY_REQUESTS, Some(&message)).await;
    }
    let (state, account) = (&post.state, &post.account);
    let had = state.store.two_factor_status(&account.id).await?.enabled;
    match state
        .store
        .confirm_two_factor("self-service", account, post.form.code.trim())
        .await?
    {
        Some(codes) => {
            code_passed(&post).await?;
            if had {
                // A replaced secret ended every session of the account; this one goes on.
                post.session.cycle_id().await?;
            }
            tracing::info!(account_id = %account.id, "two-factor sign-in turned on");
            codes_page(&post.session, &codes).await
        }
        None => {
            code_failed(&post).await?;
            let message = look::current().t("two-factor-wrong-code");
            enrol_page(&post, StatusCode::UNPROCESSABLE_ENTITY, Some(&message)).await
        }
    }
}

/// Whether `code` is a valid code (or recovery code) of the member posting now; a wrong one is
/// counted.
async fn code_holds<T>(post: &AccountPost<T>, code: &str) -> OidcResult<bool> {
    let (state, account) = (&post.state, &post.account);
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
        code_failed(post).await?;
    }
    Ok(holds)
}

/// A right code of the member posting: the throttle forgets the login's failures.
async fn code_passed<T>(post: &AccountPost<T>) -> OidcResult<()> {
    let throttle = &post.state.oidc.throttle;
    let login = &post.account.login_email;
    Ok(throttle.record_success(login, &post.device).await?)
}

/// A wrong code of the member posting, counted like a wrong password.
async fn code_failed<T>(post: &AccountPost<T>) -> OidcResult<()> {
    let throttle = &post.state.oidc.throttle;
    let login = &post.account.login_email;
    Ok(throttle
        .record_failure(login, post.ip, &post.device)
        .await?)
}

/// `POST /account/two-factor/disable`: the current password and a code.
pub async fn disable(post: AccountPost<DisableForm>) -> OidcResult<Response> {
    let (state, account) = (&post.state, &post.account);
    if !may_disable(state, account) {
        return post
            .refuse(look::current().t("account-two-factor-required"))
            .await;
    }
    let password = &post.form.current_password;
    if let Some(refusal) = post
        .password_refused(password, "account-two-factor-wrong")
        .await?
    {
        return post.refuse(refusal).await;
    }
    if let Some(message) = throttled(&post).await? {
        return post.refuse(message).await;
    }
    if !code_holds(&post, &post.form.code).await? {
        return post
            .refuse(look::current().t("account-two-factor-wrong"))
            .await;
    }
    code_passed(&post).await?;
    state
        .store
        .disable_two_factor("self-service", account)
        .await?;
    tracing::info!(account_id = %account.id, "two-factor sign-in turned off");
    post.carry_on(Done::TwoFactorOff).await
}

/// `POST /account/two-factor/recovery-codes`: a code, then ten new recovery codes.
pub async fn renew_recovery_codes(post: AccountPost<CodeForm>) -> OidcResult<Response> {
    let (state, account) = (&post.state, &post.account);
    if let Some(message) = throttled(&post).await? {
        return post.refuse(message).await;
    }
    if !state.store.two_factor_status(&account.id).await?.enabled
        || !code_holds(&post, &post.form.code).await?
    {
        return post
            .refuse(look::current().t("two-factor-wrong-code"))
            .await;
    }
    code_passed(&post).await?;
    let codes = state
        .store
        .renew_recovery_codes("self-service", account)
        .await?;
    codes_page(&post.session, &codes).await
}
