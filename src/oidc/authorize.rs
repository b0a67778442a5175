//! The authorization endpoint (`/authorize`, GET and POST) and the login form (`/login`).
//!
//! Until the client and its redirect URI are verified, every error is a page (never a redirect:
//! an open redirector would leak codes). After that, errors go back to the client as OAuth
//! errors with `state` and `iss` (RFC 9207).

use axum::extract::State;

use axum::http::StatusCode;
use axum::response::Response;
use tower_sessions::Session;

use crate::accounts::Account;
use crate::oidc::account_page::ACCOUNT_PATH;
use crate::oidc::claims::RequestedClaims;
use crate::oidc::clients::Client;
use crate::oidc::credentials::{self, Refusal};
use crate::oidc::error::{redirect_with, ErrorCode, OidcError, OidcResult, RedirectTarget};
use crate::oidc::forgot_password;
use crate::oidc::grants::{self, NewCode};
use crate::oidc::known_device::DeviceCookie;
use crate::oidc::new_password_step;
use crate::oidc::pages::LoginPage;
use crate::oidc::params::Params;
use crate::oidc::provider::{NotIssuedHere, SUPPORTED_SCOPES};
use crate::oidc::second_factor::{self, AfterPassword, Then};
use crate::server::AppState;
use crate::web::client_ip::ClientIp;
use crate::web::sessions::{self, Login};
use crate::web::{csrf, look, pages};

/// The parameters of an authorization request that the login form carries along.
pub const CARRIED: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "ui_locales",
    "claims_locales",
    "display",
    "acr_values",
    "claims",
];

/// Longest accepted `state`, `nonce` or `login_hint`.
const MAX_PARAM_LEN: usize = 2048;

/// A verified authorization request.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub client: Client,
    pub redirect_uri: String,
    /// Requested scopes, de-duplicated, space-separated.
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The `sub` of a verified `id_token_hint`: the member the client expects to be signed in.
    pub hinted_sub: Option<String>,
    /// The member claims the `claims` parameter asked for (OIDC Core 5.5).
    pub claims: RequestedClaims,
    /// The request's own parameters, for the login form.
    pub carried: Vec<(String, String)>,
    pub target: RedirectTarget,
}

/// The page of a request whose client or return address is wrong: the message `id` (in the
/// catalogues) says what.
fn bad_client_page(id: &str) -> OidcError {
    let look = look::current();
    OidcError::page(
        StatusCode::BAD_REQUEST,
        look.t("request-refused-title"),
        format!("{} {}", look.t(id), look.t("request-not-set-up")),
    )
}

/// PKCE code challenges: 43 to 128 unreserved characters (RFC 7636 4.2).
fn valid_challenge(c: &str) -> bool {
    (43..=128).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The scope values of `scope` this provider understands, de-duplicated, in request order;
/// the others are dropped.
pub fn understood_scopes(scope: &str) -> Vec<&str> {
    let mut scopes: Vec<&str> = Vec::new();
    for s in scope.split(' ') {
        if SUPPORTED_SCOPES.contains(&s) && !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    scopes
}

/// Checks an authorization request.
pub async fn validate(state: &AppState, params: &Params) -> OidcResult<AuthRequest> {
    // 1. Client and redirect URI: errors here are pages.
    if params.is_duplicated("client_id") || params.is_duplicated("redirect_uri") {
        return Err(bad_client_page("request-repeated"));
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(|| bad_client_page("request-no-client"))?;
    let client = state
        .oidc
        .client(&state.store, client_id)
        .await?
        .ok_or_else(|| bad_client_page("request-unknown-client"))?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| bad_client_page("request-no-redirect"))?;
    // Exact string comparison (RFC 9700 2.1).
    if !client.has_redirect_uri(redirect_uri) {
        return Err(bad_client_page("request-unregistered-redirect"));
    }
    let target = RedirectTarget {
        redirect_uri: redirect_uri.to_string(),
        state: params
            .get("state")
            .filter(|s| s.len() <= MAX_PARAM_LEN)
            .map(str::to_string),
        issuer: state.oidc.issuer.clone(),
    };
    let fail = |code: ErrorCode, description: &str| OidcError::redirect(code, description, &target);

    // 2. Everything else goes back to the client.
    if let Some(name) = params.duplicated() {
        return Err(fail(
            ErrorCode::InvalidRequest,
            &format!("parameter {name} is repeated"),
        ));
    }
    if params.get("request").is_some() {
        return Err(fail(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(fail(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    if params.get("registration").is_some() {
        return Err(fail(
            ErrorCode::RegistrationNotSupported,
            "the registration parameter is not supported",
        ));
    }
    match params.get("response_type") {
        None => return Err(fail(ErrorCode::InvalidRequest, "response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ))
        }
    }
    if let Some(mode) = params.get("response_mode") {
        if mode != "query" {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "only response_mode=query is supported",
            ));
        }
    }
    for name in ["state", "nonce", "login_hint"] {
        if params.get(name).is_some_and(|v| v.len() > MAX_PARAM_LEN) {
            return Err(fail(
                ErrorCode::InvalidRequest,
                &format!("{name} is longer than {MAX_PARAM_LEN} bytes"),
            ));
        }
    }
    // Refused here, before the member signs in: the nonce is stored with the code, and
    // PostgreSQL refuses a NUL in any text (`state` and `login_hint` are not stored).
    if params.get("nonce").is_some_and(|v| v.contains('\0')) {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "nonce must not contain NUL characters",
        ));
    }

    // Scopes: values this provider does not understand are ignored (OIDC Core 3.1.2.1: "Scope
    // values used that are not understood by an implementation SHOULD be ignored"; the token
    // response says which were granted). A known scope the client may not have is refused.
    let scopes = understood_scopes(params.get("scope").unwrap_or_default());
    if scopes.is_empty() {
        return Err(fail(
            ErrorCode::InvalidScope,
            "scope is required and must name at least one of: openid, profile, email",
        ));
    }
    for s in &scopes {
        if !client.allows_scope(s) {
            return Err(fail(
                ErrorCode::InvalidScope,
                &format!("scope '{s}' is not allowed for this client"),
            ));
        }
    }

    // PKCE: S256 only; required unless this (confidential) client is registered without it.
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (Some(challenge), Some("S256")) => {
            if !valid_challenge(challenge) {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "code_challenge must be 43 to 128 unreserved characters",
                ));
            }
            Some(challenge.to_string())
        }
        (Some(_), None) | (Some(_), Some("plain")) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256 (plain is not accepted)",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256",
            ))
        }
        (None, Some(_)) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method without code_challenge",
            ))
        }
        (None, None) => {
            if client.require_pkce || client.is_public() {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "PKCE is required: send code_challenge with code_challenge_method=S256",
                ));
            }
            None
        }
    };

    // prompt: none and login are acted on; consent and select_account need nothing from a
    // first-party provider with one account per browser.
    let mut prompt_none = false;
    let mut prompt_login = false;
    let prompt = params.get("prompt").unwrap_or_default();
    for p in prompt.split(' ').filter(|p| !p.is_empty()) {
        match p {
            "none" => prompt_none = true,
            "login" => prompt_login = true,
            "consent" | "select_account" => {}
            other => {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    &format!("prompt value '{other}' is not supported"),
                ))
            }
        }
    }
    if prompt_none && prompt.split(' ').filter(|p| !p.is_empty()).count() > 1 {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "max_age must be a non-negative integer",
                ))
            }
        },
    };

    // id_token_hint (OIDC Core 3.1.2.1): anything but an ID token issued here is an invalid
    // parameter value.
    let hinted_sub = state
        .oidc
        .id_token_hint(params)
        .await
        .map_err(|NotIssuedHere| {
            fail(
                ErrorCode::InvalidRequest,
                "id_token_hint is not an ID token issued by this provider",
            )
        })?
        .map(|hint| hint.sub);

    // claims (OIDC Core 5.5): the names this provider releases are kept, the others ignored.
    let claims = match params.get("claims") {
        None => RequestedClaims::default(),
        Some(param) => RequestedClaims::parse(param)
            .map_err(|e| fail(ErrorCode::InvalidRequest, &e.to_string()))?,
    };

    Ok(AuthRequest {
        redirect_uri: redirect_uri.to_string(),
        scope: scopes.join(" "),
        state: target.state.clone(),
        nonce: params.get("nonce").map(str::to_string),
        code_challenge,
        prompt_none,
        prompt_login,
        max_age,
        login_hint: params.get("login_hint").map(str::to_string),
        hinted_sub,
        claims,
        carried: params.subset(CARRIED),
        client,
        target,
    })
}

/// `GET` and `POST /authorize` (the parameters in the query or a form body, OIDC Core 3.1.2.1).
pub async fn authorize_endpoint(
    State(state): State<AppState>,
    session: Session,
    params: Params,
) -> OidcResult<Response> {
    authorize(state, session, params).await
}

fn now_secs() -> i64 {
    crate::db::now_ms() / 1000
}

async fn authorize(state: AppState, session: Session, params: Params) -> OidcResult<Response> {
    let request = validate(&state, &params).await?;
    // Is someone signed in here whose sign-in is recent enough?
    if let Some(login) = sessions::current_login(&session).await? {
        let account = state.store.account_by_id(&login.account_id).await?;
        match account {
            // An account that must still change its one-time password (signed in to the
            // console, say) gets no code: the sign-in page leads to the new-password step.
            Some(account) if account.is_active() && account.must_change_password => {}
            Some(account) if account.is_active() => {
                // max_age=0 means "sign in again now", like prompt=login.
                let fresh_enough = request
                    .max_age
                    .is_none_or(|max| max > 0 && now_secs() - login.auth_time <= max);
                // An id_token_hint naming someone else: this session is not the one asked for
                // (login_required under prompt=none, otherwise the sign-in page).
                let hinted_other = request
                    .hinted_sub
                    .as_deref()
                    .is_some_and(|sub| sub != account.member_key);
                if !request.prompt_login && fresh_enough && !hinted_other {
                    return issue_code(&state, &request, &login).await;
                }
            }
            // Deactivated (or removed) since: this session is over.
            _ => sessions::sign_out(&session).await?,
        }
    }
    if request.prompt_none {
        return Err(OidcError::redirect(
            ErrorCode::LoginRequired,
            "the member must sign in",
            &request.target,
        ));
    }
    login_page(
        &session,
        Some(&request),
        StatusCode::OK,
        None,
        request.login_hint.as_deref().unwrap_or_default(),
    )
    .await
}

/// The sign-in form: for an authorization request (posted to `/login`, carrying it along), or,
/// with none, for the account page.
pub(crate) async fn login_page(
    session: &Session,
    request: Option<&AuthRequest>,
    status: StatusCode,
    error: Option<&str>,
    email: &str,
) -> OidcResult<Response> {
    let (action, client_name, params) = match request {
        Some(request) => (
            "/login",
            request.client.name.as_str(),
            request.carried.clone(),
        ),
        None => ("/account/login", "", Vec::new()),
    };
    let forgot_password_url = forgot_password::link_from_sign_in(&params);
    // Answering a post, the language switch reloads the sign-in page by its address (the
    // account page's sign-in names its own).
    if let Some(path) = forgot_password::authorize_path(&params) {
        look::reload_at(&path);
    }
    Ok(pages::render_form(session, status, |csrf_token| LoginPage {
        action,
        client_name,
        error,
        email,
        csrf_token,
        params,
        forgot_password_url,
    })
    .await?)
}

/// The sign-in form again after a refused password (`request`'s, or the account page's without
/// one), saying why, with `Retry-After` when throttled; an inactive account gets a page of its
/// own, said only to someone who knows the password.
pub(crate) async fn refused_sign_in(
    session: &Session,
    request: Option<&AuthRequest>,
    refusal: Refusal,
    email: &str,
) -> OidcResult<Response> {
    let look = look::current();
    let (status, message) = match &refusal {
        Refusal::Incomplete => (StatusCode::UNAUTHORIZED, look.t("error-enter-credentials")),
        Refusal::Throttled { message, .. } => (StatusCode::TOO_MANY_REQUESTS, message.clone()),
        Refusal::Wrong => (StatusCode::UNAUTHORIZED, look.t("error-wrong-credentials")),
        Refusal::Inactive(_) => {
            return Err(OidcError::page(
                StatusCode::FORBIDDEN,
                look.t("account-not-active-title"),
                look.t("account-not-active-sign-in"),
            ))
        }
    };
    if request.is_none() {
        // Answering a post, the account page's sign-in reloads as the account page.
        look::reload_at(ACCOUNT_PATH);
    }
    let response = login_page(session, request, status, Some(&message), email).await?;
    Ok(match refusal {
        Refusal::Throttled {
            retry_after_secs, ..
        } => pages::with_retry_after(response, retry_after_secs),
        _ => response,
    })
}

/// Sends the code to the client.
pub(crate) async fn issue_code(
    state: &AppState,
    request: &AuthRequest,
    login: &Login,
) -> OidcResult<Response> {
    let claims = request.claims.to_stored();
    let code = grants::issue_code(
        &state.store,
        &NewCode {
            client_id: &request.client.client_id,
            account_id: &login.account_id,
            redirect_uri: &request.redirect_uri,
            scope: &request.scope,
            nonce: request.nonce.as_deref(),
            code_challenge: request.code_challenge.as_deref(),
            auth_time: login.auth_time,
            claims: claims.as_deref(),
        },
        state.settings.oidc.code_lifetime_secs,
    )
    .await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = request.state.as_deref() {
        params.push(("state", s));
    }
    params.push(("iss", state.oidc.issuer.as_str()));
    Ok(redirect_with(&request.redirect_uri, &params))
}

/// `POST /login`: the login form, carrying the authorization request.
pub async fn login(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    device: DeviceCookie,
    mut form: Params,
) -> OidcResult<Response> {
    csrf::verify(&session, &form.take(csrf::FIELD)).await?;
    let (email, password) = (form.take("email"), form.take("password"));
    let request = validate(&state, &form).await?;
    let email = email.trim().to_lowercase();
    let account = match credentials::check(&state, &email, password, ip, &device).await? {
        Ok(account) => account,
        Err(refusal) => return refused_sign_in(&session, Some(&request), refusal, &email).await,
    };
    if account.must_change_password {
        return new_password_step::begin(&session, &request, &account, now_secs()).await;
    }
    password_accepted(
        &state,
        &session,
        &request,
        &account,
        now_secs(),
        "signed in",
    )
    .await
}

/// After the right password (at the new-password step, the member's new one): a code for the
/// client, or the second-factor step first when the account needs one. `how` is logged.
pub(crate) async fn password_accepted(
    state: &AppState,
    session: &Session,
    request: &AuthRequest,
    account: &Account,
    auth_time: i64,
    how: &str,
) -> OidcResult<Response> {
    let then = Then::Authorize(request.carried.clone());
    let login =
        match second_factor::after_password::<OidcError>(state, session, account, auth_time, then)
            .await?
        {
            AfterPassword::SignedIn(login) => login,
            AfterPassword::Step(step) => return Ok(step),
        };
    look::remember_language(&state.store, &account.id).await;
    tracing::info!(account_id = %account.id, client_id = %request.client.client_id, "{how}");
    issue_code(state, request, &login).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_scopes_are_dropped() {
        assert_eq!(
            understood_scopes("openid  address profile phone profile offline_access"),
            vec!["openid", "profile"]
        );
        assert!(understood_scopes("address phone").is_empty());
        assert!(understood_scopes("").is_empty());
    }

    #[test]
    fn challenges() {
        assert!(valid_challenge(&"a".repeat(43)));
        assert!(!valid_challenge(&"a".repeat(42)));
        assert!(!valid_challenge(&"a".repeat(129)));
        assert!(!valid_challenge(&format!("{}=", "a".repeat(43))));
    }
}
