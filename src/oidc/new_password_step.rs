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
use crate::oidc::params::{self, Params};
use crate::oidc::second_factor::WaitingSignIn;
use crate::passwords;
use crate::server::AppState;
use crate::web::{csrf, look, pages};

/// Where the step's form posts, and (with the authorization request as its query) the step's
/// page in another language.
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
    // The page answers a post: its language switch reloads it by this address.
    look::reload_at(&params::address(NEW_PASSWORD_PATH, &request.carried));
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

/// `GET /login/new-password?<authorization request>`: the step's page again while the sign-in
/// waits for it (the language switch leads here); otherwise the sign-in page.
pub async fn form(
    State(state): State<AppState>,
    session: Session,
    query: Params,
) -> OidcResult<Response> {
    let request = authorize::validate(&state, &query).await?;
    match waiting(&state, &session).await? {
        Some(_) => page(&session, &request, StatusCode::OK, None).await,
        None => sign_in_again(&session, &request).await,
    }
}

/// The account whose sign-in waits in this session for its new password, with the time its
/// password was checked; `None` when nothing waits (expired, or another tab finished it).
async fn waiting(state: &AppState, session: &Session) -> OidcResult<Option<(Account, i64)>> {
    let waiting: Option<WaitingSignIn> = session.get(PENDING_KEY).await?;
    let Some(waiting) = waiting.filter(|w| !w.expired()) else {
        return Ok(None);
    };
    let account = state.store.account_by_id(&waiting.account_id).await?;
    Ok(account
        .filter(|a| a.is_active() && a.must_change_password)
        .map(|a| (a, waiting.auth_time)))
}

/// Back to the sign-in page of the request, forgetting whatever waited.
async fn sign_in_again(session: &Session, request: &AuthRequest) -> OidcResult<Response> {
    session.remove::<WaitingSignIn>(PENDING_KEY).await?;
    let again = params::address("/authorize", &request.carried);
    Ok(Redirect::to(&again).into_response())
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
    let Some((account, auth_time)) = waiting(&state, &session).await? else {
        return sign_in_again(&session, &request).await;
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
