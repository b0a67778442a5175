//! The member's account page (`/account`): name and e-mail (read-only: the association owns
//! them), a password change that needs the current password, where the member is signed in
//! (browsers and applications holding tokens) and "Sign out everywhere else". A changed password
//! or a sign-out everywhere ends every other session and every token (the provider's listener
//! on the change); this browser goes on under a new session id.

use askama::Template;
use std::net::IpAddr;

use axum::extract::{FromRequest, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tower_sessions::Session;

use crate::accounts::Account;
use crate::oidc::credentials::{self, Refusal};
use crate::oidc::error::{OidcError, OidcResult};
use crate::oidc::grants;
use crate::oidc::known_device::DeviceCookie;
use crate::oidc::second_factor::{self, AfterPassword, Then};
use crate::oidc::throttle::Attempt;
use crate::oidc::{account_two_factor, authorize};
use crate::passwords;
use crate::server::AppState;
use crate::two_factor::TwoFactorStatus;
use crate::web::csrf::CsrfForm;
use crate::web::sessions;
use crate::web::{look, pages};

/// Where the page is mounted.
pub const ACCOUNT_PATH: &str = "/account";

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    name: &'a str,
    email: &'a str,
    csrf_token: String,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    min_length: usize,
    browsers: Vec<BrowserRow>,
    applications: Vec<ApplicationRow>,
    two_factor: TwoFactorStatus,
    may_disable_two_factor: bool,
}

struct BrowserRow {
    last_used: String,
    current: bool,
}

struct ApplicationRow {
    name: String,
    last_issued: String,
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_again: String,
}

#[derive(Deserialize)]
pub struct NoFields {}

/// The active account signed in on this browser, if any; a session of an account that is no
/// longer active is ended.
async fn signed_in(state: &AppState, session: &Session) -> OidcResult<Option<Account>> {
    sessions::active_account(session, &state.store).await
}

/// A form of the account page posted by the member signed in on this browser: an [`Attempt`]
/// (the form CSRF-checked, with what the throttle counts a password or code by), then the
/// active account; without one the answer is a redirect to the account page, which shows the
/// sign-in form.
pub struct AccountPost<T> {
    pub state: AppState,
    pub session: Session,
    pub account: Account,
    pub ip: IpAddr,
    pub device: DeviceCookie,
    pub form: T,
}

impl<T> AccountPost<T> {
    /// The account page again with `message` as the reason the form was refused (400).
    pub async fn refuse(&self, message: String) -> OidcResult<Response> {
        refused(&self.state, &self.session, &self.account, message).await
    }

    /// Why the member's current password, typed again, does not do (`None` when it is right):
    /// checked as signing in checks it, throttled and counted when wrong; `wrong_key` is the
    /// text key of the answer to a wrong one.
    pub async fn password_refused(
        &self,
        password: &str,
        wrong_key: &str,
    ) -> OidcResult<Option<String>> {
        let email = &self.account.login_email;
        let password = password.to_string();
        match credentials::check(&self.state, email, password, self.ip, &self.device).await? {
            Ok(_) => Ok(None),
            Err(Refusal::Throttled { message, .. }) => Ok(Some(message)),
            Err(_) => Ok(Some(look::current().t(wrong_key))),
        }
    }

    /// After a change that ended every session of the account (a new password or second factor,
    /// signing out everywhere): this browser, whose holder just made it, goes on under a new
    /// session id, on the account page saying what was done.
    pub async fn carry_on(&self, done: Done) -> OidcResult<Response> {
        self.session.cycle_id().await?;
        let to = format!("{ACCOUNT_PATH}?done={}", done.as_str());
        Ok(Redirect::to(&to).into_response())
    }
}

impl<T> FromRequest<AppState> for AccountPost<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let attempt = Attempt::from_request(request, state).await?;
        let Attempt {
            session,
            ip,
            device,
            form,
        } = attempt;
        match signed_in(state, &session).await {
            Ok(Some(account)) => Ok(AccountPost {
                state: state.clone(),
                session,
                account,
                ip,
                device,
                form,
            }),
            Ok(None) => Err(Redirect::to(ACCOUNT_PATH).into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

pub(crate) async fn render(
    state: &AppState,
    session: &Session,
    account: &Account,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> OidcResult<Response> {
    look::reload_at(ACCOUNT_PATH);
    let member = state.store.member(&account.member_key).await?;
    let browsers = sessions::browsers_of(
        &state.store,
        &account.id,
        session.id(),
        state.settings.oidc.session_lifetime_secs,
    )
    .await?
    .into_iter()
    .map(|b| BrowserRow {
        last_used: look::current().lang.date_time(b.last_used_at),
        current: b.current,
    })
    .collect();
    let applications = grants::applications_of(&state.store, &account.id)
        .await?
        .into_iter()
        .map(|a| ApplicationRow {
            name: a.name,
            last_issued: look::current().lang.date_time(a.last_issued_at),
        })
        .collect();
    let name = member.display_name();
    let two_factor = state.store.two_factor_status(&account.id).await?;
    let may_disable_two_factor = account_two_factor::may_disable(state, account);
    Ok(
        pages::render_form(session, status, |csrf_token| AccountPage {
            name: &name,
            email: &account.login_email,
            csrf_token,
            notice,
            error,
            min_length: passwords::MIN_LENGTH,
            browsers,
            applications,
            two_factor,
            may_disable_two_factor,
        })
        .await?,
    )
}

/// The account page again with `message` as the reason a form of it was refused (400).
pub(crate) async fn refused(
    state: &AppState,
    session: &Session,
    account: &Account,
    message: String,
) -> OidcResult<Response> {
    render(
        state,
        session,
        account,
        StatusCode::BAD_REQUEST,
        None,
        Some(&message),
    )
    .await
}

/// What a form just did, said on the page it redirects to (so that reloading the page does
/// not post the form again, and the page shows this browser's renewed session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Password,
    SignedOutElsewhere,
    TwoFactorOff,
}

impl Done {
    fn as_str(self) -> &'static str {
        match self {
            Done::Password => "password",
            Done::SignedOutElsewhere => "signed-out-elsewhere",
            Done::TwoFactorOff => "two-factor-off",
        }
    }

    fn parse(text: &str) -> Option<Done> {
        [Done::Password, Done::SignedOutElsewhere, Done::TwoFactorOff]
            .into_iter()
            .find(|done| done.as_str() == text)
    }

    fn notice(self) -> String {
        look::current().t(match self {
            Done::Password => "account-password-changed",
            Done::SignedOutElsewhere => "account-signed-out-elsewhere",
            Done::TwoFactorOff => "account-two-factor-disabled",
        })
    }
}

#[derive(Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    done: String,
}

/// `GET /account`: the page, or the sign-in form that leads to it.
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ShowQuery>,
) -> OidcResult<Response> {
    let notice = Done::parse(&query.done).map(Done::notice);
    match signed_in(&state, &session).await? {
        Some(account) => {
            look::remember_language(&state.store, &account.id).await;
            render(
                &state,
                &session,
                &account,
                StatusCode::OK,
                notice.as_deref(),
                None,
            )
            .await
        }
        None => authorize::login_page(&session, None, StatusCode::OK, None, "").await,
    }
}

/// `POST /account/login`: the one password check, then the account page.
pub async fn sign_in(
    State(state): State<AppState>,
    attempt: Attempt<SignInForm>,
) -> OidcResult<Response> {
    let (session, form) = (attempt.session, attempt.form);
    let (ip, device) = (attempt.ip, attempt.device);
    let checked = credentials::check(&state, &form.email, form.password, ip, &device).await?;
    let account = match checked {
        Ok(account) => account,
        Err(refusal) => {
            let email = form.email.trim();
            return authorize::refused_sign_in(&session, None, refusal, email).await;
        }
    };
    let auth_time = crate::db::now_ms() / 1000;
    let then = Then::Page(ACCOUNT_PATH.into());
    match second_factor::after_password::<OidcError>(&state, &session, &account, auth_time, then)
        .await?
    {
        AfterPassword::SignedIn(_) => {
            look::remember_language(&state.store, &account.id).await;
            Ok(Redirect::to(ACCOUNT_PATH).into_response())
        }
        AfterPassword::Step(step) => Ok(step),
    }
}

/// `POST /account/password`: the current password, then the new one twice.
pub async fn change_password(post: AccountPost<PasswordForm>) -> OidcResult<Response> {
    let (state, account, form) = (&post.state, &post.account, &post.form);
    let wrong_key = "account-wrong-current";
    let refused = post
        .password_refused(&form.current_password, wrong_key)
        .await?;
    let problem = refused.or_else(|| {
        if form.new_password != form.new_password_again {
            Some(look::current().t("account-new-differs"))
        } else if form.new_password == form.current_password {
            Some(look::current().t("account-new-same"))
        } else {
            look::current().password_problem(&form.new_password)
        }
    });
    if let Some(problem) = problem {
        return post.refuse(problem).await;
    }
    state
        .store
        .set_password("self-service", &account.member_key, &form.new_password)
        .await?;
    tracing::info!(account_id = %account.id, "password changed on the account page");
    post.carry_on(Done::Password).await
}

/// `POST /account/sign-out-everywhere`: every other session and every token ends.
pub async fn sign_out_everywhere(post: AccountPost<NoFields>) -> OidcResult<Response> {
    let (state, account) = (&post.state, &post.account);
    state
        .store
        .sign_out_everywhere("self-service", account)
        .await?;
    tracing::info!(account_id = %account.id, "signed out everywhere");
    post.carry_on(Done::SignedOutElsewhere).await
}

/// `POST /account/sign-out`: this browser only.
pub async fn sign_out(session: Session, CsrfForm(_): CsrfForm<NoFields>) -> OidcResult<Response> {
    sessions::sign_out(&session).await?;
    Ok(Redirect::to(ACCOUNT_PATH).into_response())
}
