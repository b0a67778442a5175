//! The sign-in step of an account that must change its password (a one-time password given by
//! the server or an administrator): the password is right, but no code is issued and no
//! session signed in until the member chooses a password of their own, which must differ from
//! the one-time one. Then the authorization request continues.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use crate::accounts::Account;
use crate::oidc::authorize::{self, AuthRequest};
use crate::oidc::error::{OidcError, OidcResult};
use crate::oidc::forgot_password::authorize_path;
use crate::oidc::params::Params;
use crate::oidc::second_factor::WaitingSignIn;
use crate::passwords;
use crate::server::AppState;
use crate::web::{csrf, look, pages};

/// Where the step's form posts.
pub const NEW_PASSWORD_PATH: &str = "/login/new-password";

/// The session key of a sign-in waiting for its new password.
const PENDING_KEY: &str = "pending_new_password";

#[derive(Template)]
#[template(path = "new_password.html")]
struct NewPasswordPage<'a> {
    action: &'a str,
    client_name: &'a str,
    error: Option<&'a str>,
    csrf_token: String,
    min_length: usize,
    params: Vec<(String, String)>,
}

async fn page(
    session: &Session,
    request: &AuthRequest,
    status: StatusCode,
    error: Option<&str>,
) -> OidcResult<Response> {
    Ok(
        pages::render_form(session, status, |csrf_token| NewPasswordPage {
            action: NEW_PASSWORD_PATH,
            client_name: &request.client.name,
            error,
            csrf_token,
            min_length: passwords::MIN_LENGTH,
            params: request.carried.clone(),
        })
        .await?,
    )
}

/// After the right one-time password: asks for the member's own password instead of signing in.
pub async fn begin(
    session: &Session,
    request: &AuthRequest,
    account: &Account,
    auth_time: i64,
) -> OidcResult<Response> {
    let waiting = WaitingSignIn::new(account, auth_time);
    session.insert(PENDING_KEY, waiting).await?;
    tracing::info!(account_id = %account.id, "sign-in waits for a new password");
    page(session, request, StatusCode::OK, None).await
}

/// `POST /login/new-password`: sets the member's own password, signs in and continues the
/// authorization request.
pub async fn submit(
    State(state): State<AppState>,
    session: Session,
    mut form: Params,
) -> OidcResult<Response> {
    csrf::verify(&session, &form.take(csrf::FIELD)).await?;
    let (password, again) = (form.take("password"), form.take("password_again"));
    let request = authorize::validate(&state, &form).await?;
    let waiting: Option<WaitingSignIn> = session.get(PENDING_KEY).await?;
    let account = match waiting {
        Some(p) if !p.expired() => match state.store.account_by_id(&p.account_id).await? {
            Some(account) if account.is_active() && account.must_change_password => {
                Some((account, p.auth_time))
            }
            _ => None,
        },
        _ => None,
    };
    let Some((account, auth_time)) = account else {
        // Nothing waiting (expired, or another tab finished it): sign in again.
        session.remove::<WaitingSignIn>(PENDING_KEY).await?;
        let again = authorize_path(&request.carried).unwrap_or_else(|| "/authorize".into());
        return Ok(Redirect::to(&again).into_response());
    };
    let problem = if password != again {
        Some(look::current().t("passwords-differ"))
    } else {
        look::current().password_problem(&password)
    };
    // Checked only when the rest holds: hashing is the slow part.
    let problem = match problem {
        None => state
            .store
            .verify_password(password.clone(), account.password_hash.clone())
            .await?
            .then(|| look::current().t("new-password-same")),
        problem => problem,
    };
    if let Some(problem) = problem {
        return page(
            &session,
            &request,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&problem),
        )
        .await;
    }
    state
        .store
        .set_password("self-service", &account.member_key, &password)
        .await
        .map_err(OidcError::from)?;
    session.remove::<WaitingSignIn>(PENDING_KEY).await?;
    let how = "signed in with a new password";
    authorize::password_accepted(&state, &session, &request, &account, auth_time, how).await
}
