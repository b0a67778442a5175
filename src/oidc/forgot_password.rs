//! "Forgot your password?": the sign-in page links here with the authorization request it
//! carries. The form takes the login e-mail and always answers the same words, whether or not
//! an account exists or is active, in the same time either way: the lookup and the mail happen
//! after the answer. An active account gets the single-use reset link, which returns the member
//! to the authorization request once the new password is set, so the client's sign-in
//! completes. Requests are throttled per e-mail and per address like sign-in failures, counted
//! apart from them.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use tower_sessions::Session;

use crate::branding::i18n::Lang;
use crate::oidc::authorize::CARRIED;
use crate::oidc::error::OidcResult;
use crate::oidc::invitations::{self, Purpose};
use crate::oidc::known_device::DeviceCookie;
use crate::oidc::params::{self, Params};
use crate::oidc::throttle::ThrottleError;
use crate::server::AppState;
use crate::web::client_ip::ClientIp;
use crate::web::{csrf, look, pages};

/// Where the page is mounted.
pub const FORGOT_PASSWORD_PATH: &str = "/forgot-password";

#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPasswordPage<'a> {
    action: &'a str,
    sent: bool,
    error: Option<&'a str>,
    email: &'a str,
    csrf_token: String,
    /// The authorization request, carried through the form.
    params: Vec<(String, String)>,
    /// Back to the sign-in page of that request, when there is one.
    back_url: Option<String>,
}

/// The authorization request a page carries, as a path on this server.
pub(crate) fn authorize_path(carried: &[(String, String)]) -> Option<String> {
    (!carried.is_empty()).then(|| params::address("/authorize", carried))
}

/// The link of the sign-in page to this page, carrying its authorization request.
pub fn link_from_sign_in(carried: &[(String, String)]) -> String {
    params::address(FORGOT_PASSWORD_PATH, carried)
}

async fn page(
    session: &Session,
    status: StatusCode,
    carried: Vec<(String, String)>,
    email: &str,
    sent: bool,
    error: Option<&str>,
) -> OidcResult<Response> {
    look::reload_at(&link_from_sign_in(&carried));
    Ok(
        pages::render_form(session, status, |csrf_token| ForgotPasswordPage {
            action: FORGOT_PASSWORD_PATH,
            sent,
            error,
            email,
            csrf_token,
            back_url: authorize_path(&carried),
            params: carried,
        })
        .await?,
    )
}

/// `GET /forgot-password`: the form.
pub async fn form(
    session: Session,
    Query(pairs): Query<Vec<(String, String)>>,
) -> OidcResult<Response> {
    let carried = Params::new(pairs).subset(CARRIED);
    page(&session, StatusCode::OK, carried, "", false, None).await
}

/// `POST /forgot-password`: the same answer for every e-mail; the link goes out afterwards.
pub async fn submit(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    params: Params,
) -> OidcResult<Response> {
    csrf::verify(&session, params.get(csrf::FIELD).unwrap_or_default()).await?;
    let carried = params.subset(CARRIED);
    let email = params
        .get("email")
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    if email.is_empty() || email.len() > 320 || !email.contains('@') {
        let message = look::current().t("forgot-enter-email");
        return page(
            &session,
            StatusCode::BAD_REQUEST,
            carried,
            &email,
            false,
            Some(&message),
        )
        .await;
    }
    let throttle = state.oidc.throttle.for_password_resets();
    match throttle.check(&email, ip, &DeviceCookie::none()).await {
        Ok(()) => {}
        Err(throttled @ ThrottleError::RetryAfter(_)) => {
            let secs = throttled.retry_after_secs().unwrap_or(1);
            let message = look::current().t1("forgot-throttled", "secs", &secs.to_string());
            let response = page(
                &session,
                StatusCode::TOO_MANY_REQUESTS,
                carried,
                &email,
                false,
                Some(&message),
            )
            .await?;
            return Ok(pages::with_retry_after(response, secs));
        }
        Err(ThrottleError::Store(e)) => return Err(e.into()),
    }
    // Every request counts, whether or not the address has an account.
    throttle
        .record_failure(&email, ip, &DeviceCookie::none())
        .await?;
    let return_to = authorize_path(&carried);
    let lang = look::current().lang.clone();
    tokio::spawn(send_reset_link(state, email.clone(), return_to, lang));
    page(&session, StatusCode::OK, carried, &email, true, None).await
}

/// Mails the reset link when `email` is the login of an active account; nothing otherwise.
async fn send_reset_link(state: AppState, email: String, return_to: Option<String>, lang: Lang) {
    let account = match state.store.account_by_login(&email).await {
        Ok(Some(account)) if account.is_active() => account,
        Ok(_) => return,
        Err(e) => {
            tracing::error!(error = %e, "password reset: account lookup failed");
            return;
        }
    };
    let sent = invitations::send_link(
        &state.store,
        &state.mailer,
        state.settings.issuer(),
        "self-service",
        &account.member_key,
        Purpose::PasswordReset,
        return_to.as_deref(),
        Some(&lang),
    )
    .await;
    match sent {
        Ok(_) => tracing::info!(account_id = %account.id, "password reset link sent"),
        Err(e) => {
            tracing::error!(account_id = %account.id, error = %e, "password reset link not sent")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_carried_as_a_local_path() {
        let carried = vec![
            ("client_id".to_string(), "hl".to_string()),
            ("state".to_string(), "a b&c".to_string()),
        ];
        assert_eq!(
            authorize_path(&carried).as_deref(),
            Some("/authorize?client_id=hl&state=a+b%26c")
        );
        assert_eq!(authorize_path(&[]), None);
        assert_eq!(
            link_from_sign_in(&carried),
            "/forgot-password?client_id=hl&state=a+b%26c"
        );
    }
}
