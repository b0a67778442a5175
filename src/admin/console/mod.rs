//! The admin console: server-rendered pages (askama, no JavaScript needed) for an
//! association's administrator. Administrators sign in with their own account through the
//! provider's session (same cookie, CSRF and throttling rules as members); any page a signed-in
//! non-administrator asks for answers 403. Every form carries the session's CSRF token, checked
//! by [`CsrfForm`] before the handler runs.
//!
//! This file holds the router and what every page shares: the errors, the [`Admin`] extractor
//! and the page [`Chrome`]. Each section of the console has its own file.

mod audit;
mod branding;
mod fields;
mod groups;
mod higher_logic;
mod members;
mod overview;
mod sign_in;
mod sso;
mod tokens;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_sessions::Session;

use crate::accounts::Account;
use crate::db::{Store, StoreError};
use crate::oidc::error::overloaded_page;
use crate::oidc::routes::with_browser_state;
use crate::server::AppState;
use crate::web::csrf::{self, CsrfError};
use crate::web::headers::{security_headers, CONSOLE_CSP};
use crate::web::{pages, sessions};

/// Errors of the console, each mapped to a page or a redirect in [`IntoResponse`].
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("sign-in required")]
    SignIn,
    #[error("administrators only")]
    Forbidden,
    #[error("the first-sign-in password must be changed")]
    MustChangePassword,
    #[error(transparent)]
    Csrf(#[from] CsrfError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("session: {0}")]
    Session(#[from] tower_sessions::session::Error),
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            ConsoleError::SignIn => Redirect::to("/admin/login").into_response(),
            ConsoleError::MustChangePassword => Redirect::to("/admin/password").into_response(),
            ConsoleError::Forbidden => pages::error_page(
                StatusCode::FORBIDDEN,
                "Administrators only",
                "This page is for the association's administrators. You are signed in with an \
                 account that is not one.",
            ),
            ConsoleError::Csrf(e) => e.into_response(),
            ConsoleError::Store(StoreError::NotFound(what)) => pages::error_page(
                StatusCode::NOT_FOUND,
                "Not found",
                &format!("There is no {what}."),
            ),
            ConsoleError::Store(StoreError::Invalid(msg) | StoreError::Conflict(msg)) => {
                pages::error_page(StatusCode::BAD_REQUEST, "Not saved", &msg)
            }
            // A sign-in shed by the password-hashing pool: the provider's 503 page.
            ConsoleError::Store(StoreError::Overloaded(_)) => overloaded_page(),
            other => {
                tracing::error!(error = %other, "admin console request failed");
                pages::failure_page()
            }
        }
    }
}

type ConsoleResult<T> = Result<T, ConsoleError>;

/// What the administrator typed was refused by the store (invalid, or in conflict with what
/// exists): the message to show on the form again. Any other error passes on.
fn refusal(e: StoreError) -> ConsoleResult<String> {
    match e {
        StoreError::Invalid(msg) | StoreError::Conflict(msg) => Ok(msg),
        e => Err(e.into()),
    }
}

/// How a page is shown: as asked for, or again with why its form was not saved.
pub struct Shown {
    status: StatusCode,
    error: Option<String>,
}

impl Shown {
    /// As asked for: 200, no error.
    fn ok() -> Shown {
        Shown {
            status: StatusCode::OK,
            error: None,
        }
    }

    /// Again, with `error` and `status`.
    fn failed(status: StatusCode, error: impl Into<String>) -> Shown {
        Shown {
            status,
            error: Some(error.into()),
        }
    }

    /// Again after the store refused what was typed: 400 and its message (see [`refusal`]).
    fn refused(e: StoreError) -> ConsoleResult<Shown> {
        Ok(Shown::failed(StatusCode::BAD_REQUEST, refusal(e)?))
    }
}

/// A signed-in, active administrator, with this session's CSRF token and the application (so
/// that a handler needs no other extractor for either).
pub struct Admin {
    pub account: Account,
    pub session: Session,
    pub csrf_token: String,
    pub state: AppState,
}

impl Admin {
    fn store(&self) -> &Store {
        &self.state.store
    }

    fn actor(&self) -> String {
        actor(&self.account)
    }

    /// Shows `notice` on the next page (after a redirect).
    async fn flash(&self, notice: impl Into<String>) -> ConsoleResult<()> {
        self.session.insert(NOTICE_KEY, notice.into()).await?;
        Ok(())
    }

    /// Redirects to `to`, showing `notice` there.
    async fn done(&self, notice: impl Into<String>, to: &str) -> ConsoleResult<Response> {
        self.flash(notice).await?;
        done(to)
    }

    /// A page of `section`, shown as `shown` says: `content` puts the page in its chrome (which
    /// takes the notice waiting to be shown).
    async fn page<T: Template>(
        &self,
        section: &'static str,
        shown: Shown,
        content: impl FnOnce(Chrome) -> T,
    ) -> ConsoleResult<Response> {
        let chrome = Chrome {
            section,
            notice: self.session.remove::<String>(NOTICE_KEY).await?,
            csrf_token: self.csrf_token.clone(),
            error: shown.error,
        };
        Ok(pages::render(shown.status, &content(chrome)))
    }
}

/// How an administrator's changes appear in the audit log.
fn actor(account: &Account) -> String {
    format!("admin:{}", account.login_email)
}

const NOTICE_KEY: &str = "admin_notice";

/// Where an administrator lands: the Overview.
pub(crate) const LANDING: &str = "/admin/overview";

/// What every page of the console shows around its content (`templates/admin/layout.html`).
pub struct Chrome {
    /// The current section, underlined in the menu.
    pub section: &'static str,
    /// This session's CSRF token, for every form of the page (sign-out included).
    pub csrf_token: String,
    /// What the last action did, flashed across its redirect.
    pub notice: Option<String>,
    /// Why the form on the page was not saved.
    pub error: Option<String>,
}

/// The signed-in account of a session, whoever it is: ended sessions of deactivated or
/// vanished accounts sign out.
async fn signed_in(session: &Session, state: &AppState) -> ConsoleResult<Option<Account>> {
    sessions::active_account(session, &state.store).await
}

/// The signed-in administrator: others signed in get 403, strangers the sign-in page.
async fn signed_in_admin(session: &Session, state: &AppState) -> ConsoleResult<Account> {
    let account = signed_in(session, state)
        .await?
        .ok_or(ConsoleError::SignIn)?;
    if !account.is_admin() {
        return Err(ConsoleError::Forbidden);
    }
    Ok(account)
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ConsoleResult<Self> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| ConsoleError::SignIn)?;
        let account = signed_in_admin(&session, state).await?;
        if account.must_change_password {
            return Err(ConsoleError::MustChangePassword);
        }
        let csrf_token = csrf::token(&session).await?;
        Ok(Admin {
            account,
            session,
            csrf_token,
            state: state.clone(),
        })
    }
}

pub fn router(state: &AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/admin", get(|| async { Redirect::to(LANDING) }))
        .route(LANDING, get(overview::overview))
        .route(
            "/admin/login",
            get(sign_in::login_page).post(sign_in::login),
        )
        .route(
            "/admin/password",
            get(sign_in::password_page).post(sign_in::change_password),
        )
        .route("/admin/logout", post(sign_in::logout))
        .merge(members::routes(state))
        .route("/admin/fields", get(fields::fields).post(fields::add_field))
        .route(
            "/admin/fields/{key}",
            get(fields::field).post(fields::update_field),
        )
        .route("/admin/groups", get(groups::groups).post(groups::add_group))
        .route(
            "/admin/groups/{key}",
            get(groups::group).post(groups::update_group),
        )
        .route("/admin/groups/{key}/sync", post(groups::group_sync))
        .route("/admin/group-preview", post(groups::group_preview))
        .route("/admin/audit", get(audit::audit))
        .route(
            "/admin/api-tokens",
            get(tokens::tokens).post(tokens::create_token),
        )
        .route("/admin/api-tokens/{id}/revoke", post(tokens::revoke_token))
        .route("/admin/sso", get(sso::sso))
        .route("/admin/sso/register", post(sso::register_sso))
        .route("/admin/sso/worksheet.json", get(sso::worksheet_json))
        .route("/admin/sso/rotate-secret", post(sso::rotate_sso_secret))
        .route(
            "/admin/static/copy.js",
            get(|| script(include_str!("copy.js"))),
        )
        .route(
            "/admin/sign-in-page",
            get(branding::branding).post(branding::save_branding),
        )
        .route(
            "/admin/static/branding.js",
            get(|| script(include_str!("branding.js"))),
        )
        .route(
            "/admin/static/preview.js",
            get(|| script(include_str!("preview.js"))),
        )
        .route(
            "/admin/integrations/higher-logic",
            get(higher_logic::higher_logic).post(higher_logic::save_higher_logic),
        )
        .route(
            "/admin/integrations/higher-logic/test",
            post(higher_logic::test_higher_logic),
        )
        .route(
            "/admin/integrations/higher-logic/retry-refused",
            post(higher_logic::retry_refused),
        );
    with_browser_state(pages, state).layer(security_headers(CONSOLE_CSP))
}

/// The console's own scripts (progressive enhancement: the worksheet's copy buttons, the group
/// form's live preview), served from here so the CSP can stay `script-src 'self'`.
async fn script(source: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        source,
    )
        .into_response()
}

/// A redirect to `to` once the action is done.
fn done(to: &str) -> ConsoleResult<Response> {
    Ok(Redirect::to(to).into_response())
}

/// Non-empty trimmed lines of a text area.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Percent-encodes a path segment.
fn urlencoding(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(urlencoding("a b/ä"), "a%20b%2F%C3%A4");
    }
}
