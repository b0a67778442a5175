//! The second step of a sign-in, after the right password, for an account with two-factor
//! sign-in (a code from its authenticator app, or one of its recovery codes), and the
//! enrolment an administrator is sent to when the setting `two_factor.required_for_administrators`
//! asks for a second factor the account does not have yet. No session is signed in until the
//! step is passed; then the sign-in continues where it started: the authorization request (a
//! code for the client), the account page, or the admin console.
//!
//! Every sign-in form hands over here ([`after_password`]): the provider's `/login`, the
//! account page's and the console's. Code attempts are throttled like passwords (the same
//! counters: the login's and the client address's), and a code is taken once.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::accounts::Account;
use crate::db::{now_ms, StoreError};
use crate::oidc::authorize;
use crate::oidc::credentials::counted;
use crate::oidc::error::{OidcError, OidcResult};
use crate::oidc::metrics::SignIn;
use crate::oidc::params::Params;
use crate::oidc::throttle::{Attempt, ThrottleError};
use crate::server::AppState;
use crate::two_factor::totp::CodeCheck;
use crate::web::csrf::CsrfForm;
use crate::web::sessions::{self, Login};
use crate::web::{look, pages, qr};

/// The step's page and form.
pub const SECOND_FACTOR_PATH: &str = "/login/second-factor";
/// Where the recovery codes page of an enrolment goes on.
pub const CONTINUE_PATH: &str = "/login/second-factor/continue";

/// The session key of a sign-in waiting for its second factor.
const PENDING_KEY: &str = "pending_second_factor";
/// The session key of where an enrolment goes on once its recovery codes were seen.
pub(crate) const CONTINUE_KEY: &str = "second_factor_continue";
/// How long a step after the password waits before the member signs in again.
const WAITING_MS: i64 = 10 * 60 * 1000;

/// Where a sign-in goes on after its second factor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Then {
    /// The authorization request of these parameters: a code for its client.
    Authorize(Vec<(String, String)>),
    /// A page of this server (`/account`, `/admin/members`).
    Page(String),
}

/// A sign-in waiting on this browser for a step after its password (its second factor here,
/// or a new password at [`crate::oidc::new_password_step`]): whose, and since when.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WaitingSignIn {
    pub account_id: String,
    /// When the password was right (seconds; the sign-in's `auth_time`).
    pub auth_time: i64,
    /// When the step began (ms).
    pub began_at: i64,
}

impl WaitingSignIn {
    /// The step after `account`'s password, which was right at `auth_time`, begins now.
    pub fn new(account: &Account, auth_time: i64) -> WaitingSignIn {
        WaitingSignIn {
            account_id: account.id.clone(),
            auth_time,
            began_at: now_ms(),
        }
    }

    /// Whether the step waited too long: the member signs in again.
    pub fn expired(&self) -> bool {
        now_ms() - self.began_at > WAITING_MS
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    #[serde(flatten)]
    sign_in: WaitingSignIn,
    then: Then,
}

/// What an account needs after its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: sign in.
    Nothing,
    /// A code (or a recovery code).
    Code,
    /// An enrolment first: an administrator without a second factor, while it is required.
    Enrolment,
}

/// What `account` needs after its password.
pub async fn need(state: &AppState, account: &Account) -> Result<Need, StoreError> {
    if state.store.two_factor_status(&account.id).await?.enabled {
        Ok(Need::Code)
    } else if account.is_admin() && state.settings.two_factor.required_for_administrators {
        Ok(Need::Enrolment)
    } else {
        Ok(Need::Nothing)
    }
}

/// Where the right password leads.
pub enum AfterPassword {
    /// The account needs no second factor: this browser is signed in with this login.
    SignedIn(Login),
    /// The redirect to the step, which signs in and goes on to `then`.
    Step(Response),
}

/// After the right password: the sign-in, or the second-factor step first when the account
/// needs one. Every sign-in form hands over here.
pub async fn after_password<E>(
    state: &AppState,
    session: &Session,
    account: &Account,
    auth_time: i64,
    then: Then,
) -> Result<AfterPassword, E>
where
    E: From<StoreError> + From<tower_sessions::session::Error>,
{
    let need = need(state, account).await?;
    if need == Need::Nothing {
        let login = Login::new(&account.id, auth_time);
        sessions::sign_in(session, &login).await?;
        counted(state, SignIn::Success);
        return Ok(AfterPassword::SignedIn(login));
    }
    // Whoever was signed in on this browser is not any more: the next account is half-way.
    if sessions::current_login(session).await?.is_some() {
        sessions::sign_out(session).await?;
    }
    session
        .insert(
            PENDING_KEY,
            Pending {
                sign_in: WaitingSignIn::new(account, auth_time),
                then,
            },
        )
        .await?;
    if need == Need::Enrolment {
        state.store.begin_two_factor_enrolment(&account.id).await?;
    }
    tracing::info!(account_id = %account.id, enrolment = need == Need::Enrolment, "sign-in waits for a second factor");
    // The page speaks the language the sign-in page was asked in.
    let to = look::current().action(SECOND_FACTOR_PATH);
    Ok(AfterPassword::Step(Redirect::to(&to).into_response()))
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct CodePage<'a> {
    action: &'a str,
    error: Option<&'a str>,
    csrf_token: String,
}

/// The enrolment page: the QR code, the secret for typing in, and the first code.
#[derive(Template)]
#[template(path = "two_factor_enrol.html")]
pub(crate) struct EnrolPage<'a> {
    pub action: &'a str,
    /// Said above the QR code: why this page (required, or the member's choice).
    pub intro: &'a str,
    pub qr_svg: &'a str,
    pub secret: &'a str,
    pub error: Option<&'a str>,
    pub csrf_token: String,
    /// A way back without enrolling (the account page), or none.
    pub cancel_url: Option<&'a str>,
}

/// The recovery codes, shown once.
#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub(crate) struct RecoveryCodesPage<'a> {
    pub codes: &'a [String],
    pub action: &'a str,
    pub csrf_token: String,
}

/// Where an enrolment page's form goes, and why the page is shown.
#[derive(Clone, Copy)]
pub(crate) struct Enrolment<'a> {
    pub action: &'a str,
    /// The text key of what is said above the QR code.
    pub intro_key: &'a str,
    /// A way back without enrolling, or none.
    pub cancel_url: Option<&'a str>,
}

/// Renders the enrolment page of `account`'s pending secret (a new one when it has none); the
/// authenticator app names the account by its login.
pub(crate) async fn enrol_page(
    state: &AppState,
    session: &Session,
    account: &Account,
    status: StatusCode,
    enrolment: &Enrolment<'_>,
    error: Option<&str>,
) -> OidcResult<Response> {
    let Enrolment {
        action,
        intro_key,
        cancel_url,
    } = *enrolment;
    let secret = state.store.two_factor_secret_to_enrol(&account.id).await?;
    let login = &account.login_email;
    let look = look::current();
    let intro = look.t(intro_key);
    let issuer = if look.brand.name.is_empty() {
        "Guildgate".to_string()
    } else {
        look.brand.name.clone()
    };
    let uri = secret.otpauth_uri(&issuer, login);
    let qr_svg = qr::svg(&uri, &look.t("two-factor-qr-label")).unwrap_or_default();
    let grouped = secret.base32_grouped();
    Ok(pages::render_form(session, status, |csrf_token| EnrolPage {
        action,
        intro: &intro,
        qr_svg: &qr_svg,
        secret: &grouped,
        error,
        csrf_token,
        cancel_url,
    })
    .await?)
}

/// The sign-in waiting on this browser, with its account (still active), if any.
async fn pending(state: &AppState, session: &Session) -> OidcResult<Option<(Pending, Account)>> {
    let Some(p) = session.get::<Pending>(PENDING_KEY).await? else {
        return Ok(None);
    };
    if p.sign_in.expired() {
        session.remove::<Pending>(PENDING_KEY).await?;
        return Ok(None);
    }
    match state.store.account_by_id(&p.sign_in.account_id).await? {
        Some(account) if account.is_active() => Ok(Some((p, account))),
        _ => {
            session.remove::<Pending>(PENDING_KEY).await?;
            Ok(None)
        }
    }
}

/// Nothing waiting (expired, finished in another tab, or never begun): sign in again.
fn sign_in_again() -> OidcResult<Response> {
    let look = look::current();
    Err(OidcError::page(
        StatusCode::BAD_REQUEST,
        look.t("two-factor-expired-title"),
        look.t("two-factor-expired"),
    ))
}

async fn show(
    state: &AppState,
    session: &Session,
    account: &Account,
    status: StatusCode,
    error: Option<&str>,
) -> OidcResult<Response> {
    match need(state, account).await? {
        Need::Enrolment => {
            let enrolment = Enrolment {
                action: SECOND_FACTOR_PATH,
                intro_key: "two-factor-required",
                cancel_url: None,
            };
            enrol_page(state, session, account, status, &enrolment, error).await
        }
        _ => Ok(pages::render_form(session, status, |csrf_token| CodePage {
            action: SECOND_FACTOR_PATH,
            error,
            csrf_token,
        })
        .await?),
    }
}

/// `GET /login/second-factor`: the code form, or the enrolment page.
pub async fn form(State(state): State<AppState>, session: Session) -> OidcResult<Response> {
    match pending(&state, &session).await? {
        Some((_, account)) => show(&state, &session, &account, StatusCode::OK, None).await,
        None => sign_in_again(),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// `POST /login/second-factor`: the code (or a recovery code), or the enrolment's first code.
pub async fn submit(
    State(state): State<AppState>,
    attempt: Attempt<CodeForm>,
) -> OidcResult<Response> {
    let (session, form) = (attempt.session, attempt.form);
    let (ip, device) = (attempt.ip, attempt.device);
    let Some((pending, account)) = pending(&state, &session).await? else {
        return sign_in_again();
    };
    let throttle = &state.oidc.throttle;
    let email = account.login_email.as_str();
    match throttle.check(email, ip, &device).await {
        Ok(()) => {}
        Err(e @ ThrottleError::RetryAfter(_)) => {
            tracing::info!(client_address = %ip, login = %throttle.login_key(email), "second factor throttled");
            counted(&state, SignIn::Throttled);
            let secs = e.retry_after_secs().unwrap_or(1);
            let message = look::current().t1("throttled-sign-in", "secs", &secs.to_string());
            let response = show(
                &state,
                &session,
                &account,
                StatusCode::TOO_MANY_REQUESTS,
                Some(&message),
            )
            .await?;
            return Ok(pages::with_retry_after(response, secs));
        }
        Err(ThrottleError::Store(e)) => return Err(e.into()),
    }
    let code = form.code.trim();
    match need(&state, &account).await? {
        Need::Enrolment => {
            match state
                .store
                .confirm_two_factor("self-service", &account, code)
                .await?
            {
                Some(codes) => {
                    throttle.record_success(email, &device).await?;
                    sign_in(&state, &session, &account, pending.sign_in.auth_time).await?;
                    session.insert(CONTINUE_KEY, &pending.then).await?;
                    tracing::info!(account_id = %account.id, "two-factor sign-in enrolled");
                    Ok(pages::render_form(&session, StatusCode::OK, |csrf_token| {
                        RecoveryCodesPage {
                            codes: &codes,
                            action: CONTINUE_PATH,
                            csrf_token,
                        }
                    })
                    .await?)
                }
                None => {
                    throttle.record_failure(email, ip, &device).await?;
                    tracing::info!(client_address = %ip, login = %throttle.login_key(email), "two-factor enrolment code wrong");
                    counted(&state, SignIn::WrongCode);
                    let message = look::current().t("two-factor-wrong-code");
                    show(
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
        _ => {
            let refusal = if code.chars().filter(|c| !c.is_whitespace()).count()
                == crate::two_factor::totp::DIGITS
            {
                match state.store.check_two_factor_code(&account.id, code).await? {
                    CodeCheck::Accepted(_) => None,
                    CodeCheck::Replayed => Some("two-factor-code-used"),
                    CodeCheck::Wrong => Some("two-factor-wrong-code"),
                }
            } else if state.store.use_recovery_code(&account, code).await? {
                tracing::info!(account_id = %account.id, "signed in with a recovery code");
                None
            } else {
                Some("two-factor-wrong-code")
            };
            if let Some(message) = refusal {
                throttle.record_failure(email, ip, &device).await?;
                tracing::info!(client_address = %ip, login = %throttle.login_key(email), reason = message, "second factor refused");
                counted(&state, SignIn::WrongCode);
                let message = look::current().t(message);
                return show(
                    &state,
                    &session,
                    &account,
                    StatusCode::UNAUTHORIZED,
                    Some(&message),
                )
                .await;
            }
            throttle.record_success(email, &device).await?;
            let login = sign_in(&state, &session, &account, pending.sign_in.auth_time).await?;
            go_on(&state, &login, pending.then).await
        }
    }
}

async fn sign_in(
    state: &AppState,
    session: &Session,
    account: &Account,
    auth_time: i64,
) -> OidcResult<Login> {
    session.remove::<Pending>(PENDING_KEY).await?;
    let login = Login::new(&account.id, auth_time);
    sessions::sign_in(session, &login).await?;
    counted(state, SignIn::Success);
    look::remember_language(&state.store, &account.id).await;
    tracing::info!(account_id = %account.id, "signed in with a second factor");
    Ok(login)
}

/// Goes on where the sign-in started.
async fn go_on(state: &AppState, login: &Login, then: Then) -> OidcResult<Response> {
    match then {
        Then::Authorize(carried) => {
            let request = authorize::validate(state, &Params::new(carried)).await?;
            authorize::issue_code(state, &request, login).await
        }
        Then::Page(path) => Ok(Redirect::to(&path).into_response()),
    }
}

#[derive(Deserialize)]
pub struct NoFields {}

/// `POST /login/second-factor/continue`: after the recovery codes of an enrolment.
pub async fn continue_after_codes(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(_): CsrfForm<NoFields>,
) -> OidcResult<Response> {
    let then = session.remove::<Then>(CONTINUE_KEY).await?;
    let login = sessions::current_login(&session).await?;
    match (then, login) {
        (Some(then), Some(login)) => go_on(&state, &login, then).await,
        _ => Ok(Redirect::to(crate::oidc::account_page::ACCOUNT_PATH).into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sessions written before [`WaitingSignIn`] was shared hold the same keys.
    #[test]
    fn a_waiting_sign_in_is_stored_as_before() {
        let pending = Pending {
            sign_in: WaitingSignIn {
                account_id: "a1".into(),
                auth_time: 7,
                began_at: 8,
            },
            then: Then::Page("/account".into()),
        };
        let stored = serde_json::json!({
            "account_id": "a1", "auth_time": 7, "began_at": 8, "then": { "Page": "/account" }
        });
        assert_eq!(serde_json::to_value(&pending).unwrap(), stored);
        let read: Pending = serde_json::from_value(stored).unwrap();
        assert_eq!(read.sign_in.account_id, "a1");
    }
}
