//! The admin console: server-rendered pages (askama, no JavaScript needed) for an
//! association's administrator. Administrators sign in with their own account through the
//! provider's session (same cookie, CSRF and throttling rules as members); any page a signed-in
//! non-administrator asks for answers 403. Every form carries the session's CSRF token.

use askama::Template;
use axum::extract::{Form, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{middleware, Router};
use serde::Deserialize;
use tower_sessions::Session;

use crate::accounts::Account;
use crate::admin::api::{self, GroupView, MemberCounts, MemberView};
use crate::admin::api_tokens::{ApiToken, Scope};
use crate::admin::integrations::{self, ConnectionTest};
use crate::admin::sso;
use crate::change_log::AuditCursor;
use crate::custom_fields::{AppliesTo, CustomField, FieldSpec, FieldType, FieldUpdate};
use crate::db::{format_ms, StoreError};
use crate::groups::{Condition, Group, Selection};
use crate::higher_logic::settings::{MaskedSettings, SettingsUpdate};
use crate::higher_logic::status::{ParkedContact, SyncStatus};
use crate::higher_logic::GroupType;
use crate::members::{Member, MemberFilter};
use crate::oidc::client_ip::ClientIp;
use crate::oidc::credentials::{self, Refusal};
use crate::oidc::error::OidcError;
use crate::oidc::invitations::{self, InvitationError, Purpose};
use crate::oidc::sessions::{self, Login};
use crate::oidc::{csrf, pages};
use crate::server::AppState;

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
    Oidc(#[from] OidcError),
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
            ConsoleError::Oidc(e) => e.into_response(),
            ConsoleError::Store(StoreError::NotFound(what)) => pages::error_page(
                StatusCode::NOT_FOUND,
                "Not found",
                &format!("There is no {what}."),
            ),
            ConsoleError::Store(StoreError::Invalid(msg) | StoreError::Conflict(msg)) => {
                pages::error_page(StatusCode::BAD_REQUEST, "Not saved", &msg)
            }
            other => {
                tracing::error!(error = %other, "admin console request failed");
                pages::error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The request failed; nothing was changed. Try again in a moment.",
                )
            }
        }
    }
}

type ConsoleResult<T> = Result<T, ConsoleError>;

/// A signed-in, active administrator, with this session's CSRF token.
pub struct Admin {
    pub account: Account,
    pub session: Session,
    pub csrf_token: String,
}

impl Admin {
    fn actor(&self) -> String {
        format!("admin:{}", self.account.login_email)
    }

    async fn check_csrf(&self, submitted: &str) -> ConsoleResult<()> {
        Ok(csrf::verify(&self.session, submitted).await?)
    }

    async fn flash(&self, notice: impl Into<String>) -> ConsoleResult<()> {
        self.session.insert(NOTICE_KEY, notice.into()).await?;
        Ok(())
    }

    async fn take_notice(&self) -> ConsoleResult<Option<String>> {
        Ok(self.session.remove::<String>(NOTICE_KEY).await?)
    }
}

const NOTICE_KEY: &str = "admin_notice";

/// The signed-in account of a session, whoever it is: ended sessions of deactivated or
/// vanished accounts sign out.
async fn signed_in(session: &Session, state: &AppState) -> ConsoleResult<Option<Account>> {
    let Some(login) = sessions::current_login(session).await? else {
        return Ok(None);
    };
    match state.store.account_by_id(&login.account_id).await? {
        Some(account) if account.is_active() => Ok(Some(account)),
        _ => {
            sessions::sign_out(session).await?;
            Ok(None)
        }
    }
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
        })
    }
}

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/members") }))
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/password", get(password_page).post(change_password))
        .route("/admin/logout", post(logout))
        .route("/admin/members", get(members))
        .route("/admin/members/{key}", get(member))
        .route("/admin/members/{key}/deactivate", post(deactivate))
        .route("/admin/members/{key}/reactivate", post(reactivate))
        .route("/admin/fields", get(fields).post(add_field))
        .route("/admin/fields/{key}", get(field).post(update_field))
        .route("/admin/groups", get(groups).post(add_group))
        .route("/admin/groups/{key}", get(group).post(update_group))
        .route("/admin/audit", get(audit))
        .route("/admin/api-tokens", get(tokens).post(create_token))
        .route("/admin/api-tokens/{id}/revoke", post(revoke_token))
        .route("/admin/members/{key}/invite", post(invite))
        .route("/admin/sso", get(sso))
        .route("/admin/sso/register", post(register_sso))
        .route("/admin/sso/worksheet.json", get(worksheet_json))
        .route("/admin/sso/rotate-secret", post(rotate_sso_secret))
        .route("/admin/static/copy.js", get(copy_js))
        .route("/admin/static/preview.js", get(preview_js))
        .route("/admin/group-preview", post(group_preview))
        .route(
            "/admin/integrations/higher-logic",
            get(higher_logic).post(save_higher_logic),
        )
        .route(
            "/admin/integrations/higher-logic/test",
            post(test_higher_logic),
        )
        .route(
            "/admin/integrations/higher-logic/retry-refused",
            post(retry_refused),
        )
        .route("/admin/groups/{key}/sync", post(group_sync))
        .layer(sessions::layer(&state.store, &state.settings))
        .layer(middleware::from_fn(console_headers))
}

/// The console's pages may load their own script (the worksheet's copy buttons); nothing else
/// differs from the provider's headers.
const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
     style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

async fn console_headers(request: axum::extract::Request, next: middleware::Next) -> Response {
    let mut response = pages::security_headers(request, next).await;
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_CSP),
    );
    response
}

fn render(status: StatusCode, page: &impl Template) -> Response {
    pages::render(status, page)
}

// ----- sign-in -------------------------------------------------------------------------------

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

async fn login_page(State(state): State<AppState>, session: Session) -> ConsoleResult<Response> {
    if signed_in(&session, &state).await?.is_some() {
        return Ok(Redirect::to("/admin/members").into_response());
    }
    let csrf_token = csrf::token(&session).await?;
    Ok(login_form(StatusCode::OK, &csrf_token, None, ""))
}

fn login_form(status: StatusCode, csrf_token: &str, error: Option<&str>, email: &str) -> Response {
    render(
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
struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn login(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> ConsoleResult<Response> {
    csrf::verify(&session, &form.csrf_token).await?;
    let csrf_token = csrf::token(&session).await?;
    let email = form.email.trim().to_lowercase();
    let refused = |status, message: &str| login_form(status, &csrf_token, Some(message), &email);
    let account = match credentials::check(&state, &email, form.password, ip).await? {
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
            let mut response = refused(StatusCode::TOO_MANY_REQUESTS, &message);
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return Ok(response);
        }
        Err(Refusal::Wrong) => {
            tracing::info!("admin sign-in failed");
            return Ok(refused(
                StatusCode::UNAUTHORIZED,
                "The e-mail address or the password is not right.",
            ));
        }
        Err(Refusal::Inactive(_)) => {
            return Err(OidcError::page(
                StatusCode::FORBIDDEN,
                "Account not active",
                "Your account is not active, so you cannot sign in.",
            )
            .into())
        }
    };
    sessions::sign_in(
        &session,
        &Login {
            account_id: account.id.clone(),
            auth_time: time::OffsetDateTime::now_utc().unix_timestamp(),
        },
    )
    .await?;
    tracing::info!(account_id = %account.id, "admin console sign-in");
    Ok(Redirect::to("/admin/members").into_response())
}

async fn logout(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<TokenOnly>,
) -> ConsoleResult<Response> {
    csrf::verify(&session, &form.csrf_token).await?;
    if signed_in(&session, &state).await?.is_some() {
        sessions::sign_out(&session).await?;
    }
    Ok(Redirect::to("/admin/login").into_response())
}

/// The first-sign-in password change (the bootstrap administrator's one-time password).
async fn password_page(State(state): State<AppState>, session: Session) -> ConsoleResult<Response> {
    signed_in_admin(&session, &state).await?;
    let csrf_token = csrf::token(&session).await?;
    Ok(password_form(StatusCode::OK, &csrf_token, None))
}

fn password_form(status: StatusCode, csrf_token: &str, error: Option<&str>) -> Response {
    render(
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
struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

async fn change_password(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<PasswordForm>,
) -> ConsoleResult<Response> {
    csrf::verify(&session, &form.csrf_token).await?;
    let account = signed_in_admin(&session, &state).await?;
    let csrf_token = csrf::token(&session).await?;
    if form.password != form.confirm {
        return Ok(password_form(
            StatusCode::BAD_REQUEST,
            &csrf_token,
            Some("The two passwords differ."),
        ));
    }
    let actor = format!("admin:{}", account.login_email);
    match state
        .store
        .set_password(&actor, &account.member_key, &form.password)
        .await
    {
        Ok(()) => Ok(Redirect::to("/admin/members").into_response()),
        Err(StoreError::Invalid(msg)) => Ok(password_form(
            StatusCode::BAD_REQUEST,
            &csrf_token,
            Some(&msg),
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct TokenOnly {
    #[serde(default)]
    csrf_token: String,
}

// ----- members -------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/members.html")]
struct MembersPage {
    section: &'static str,
    csrf_token: String,
    notice: Option<String>,
    error: Option<String>,
    q: String,
    members: Vec<Member>,
    /// Links to the neighbouring pages of the list, when there are some.
    previous: Option<String>,
    next: Option<String>,
    first_shown: i64,
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    /// 1-based; anything that is not a page number shows the first.
    page: Option<String>,
}

/// Members per page of the list.
const MEMBERS_PAGE: i64 = 100;

async fn members(
    State(state): State<AppState>,
    admin: Admin,
    Query(query): Query<SearchQuery>,
) -> ConsoleResult<Response> {
    let page = query
        .page
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (1..=1_000_000).contains(p))
        .unwrap_or(1);
    let offset = (page - 1) * MEMBERS_PAGE;
    // One more than a page tells whether there is a next one.
    let mut members = state
        .store
        .list_members(&MemberFilter {
            search: Some(query.q.clone()).filter(|s| !s.trim().is_empty()),
            limit: MEMBERS_PAGE + 1,
            offset,
            ..Default::default()
        })
        .await?;
    let more = members.len() as i64 > MEMBERS_PAGE;
    members.truncate(MEMBERS_PAGE as usize);
    let link = |p: i64| format!("/admin/members?q={}&page={p}", urlencoding(&query.q));
    Ok(render(
        StatusCode::OK,
        &MembersPage {
            section: "members",
            notice: admin.take_notice().await?,
            csrf_token: admin.csrf_token,
            error: None,
            previous: (page > 1).then(|| link(page - 1)),
            next: more.then(|| link(page + 1)),
            first_shown: offset + 1,
            q: query.q,
            members,
        },
    ))
}

#[derive(Template)]
#[template(path = "admin/member.html")]
struct MemberPage {
    section: &'static str,
    csrf_token: String,
    notice: Option<String>,
    error: Option<String>,
    view: MemberView,
}

async fn member(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
) -> ConsoleResult<Response> {
    let view = api::member_view(&state, &key).await?;
    Ok(render(
        StatusCode::OK,
        &MemberPage {
            section: "members",
            notice: admin.take_notice().await?,
            csrf_token: admin.csrf_token,
            error: None,
            view,
        },
    ))
}

fn member_url(key: &str) -> String {
    format!("/admin/members/{}", urlencoding(key))
}

async fn deactivate(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    Form(form): Form<TokenOnly>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&form.csrf_token).await?;
    state.store.deactivate_account(&admin.actor(), &key).await?;
    admin
        .flash("Account deactivated: its sessions and tokens have ended.")
        .await?;
    Ok(Redirect::to(&member_url(&key)).into_response())
}

async fn reactivate(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    Form(form): Form<TokenOnly>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&form.csrf_token).await?;
    state.store.reactivate_account(&admin.actor(), &key).await?;
    admin.flash("Account reactivated.").await?;
    Ok(Redirect::to(&member_url(&key)).into_response())
}

async fn invite(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    Form(form): Form<TokenOnly>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&form.csrf_token).await?;
    let notice = match send_invitation(&state, &admin.actor(), &key).await {
        Ok(to) => format!("Invitation sent to {to}."),
        Err(InvitationError::Store(e)) => return Err(e.into()),
        Err(e) => format!("No invitation sent: {e}."),
    };
    admin.flash(notice).await?;
    Ok(Redirect::to(&member_url(&key)).into_response())
}

async fn send_invitation(
    state: &AppState,
    actor: &str,
    key: &str,
) -> Result<String, InvitationError> {
    let sent = invitations::send_link(
        &state.store,
        &state.mailer,
        state.settings.issuer(),
        actor,
        key,
        Purpose::Invitation,
    )
    .await?;
    Ok(sent.to)
}

// ----- single sign-on ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/sso.html")]
struct SsoPage {
    section: &'static str,
    csrf_token: String,
    notice: Option<String>,
    error: Option<String>,
    client: Option<crate::oidc::clients::Client>,
    worksheet: sso::Worksheet,
    new_secret: Option<String>,
}

async fn sso_page(
    state: &AppState,
    admin: Admin,
    status: StatusCode,
    error: Option<String>,
    new_secret: Option<String>,
) -> ConsoleResult<Response> {
    Ok(render(
        status,
        &SsoPage {
            section: "sso",
            notice: admin.take_notice().await?,
            csrf_token: admin.csrf_token,
            error,
            client: sso::higher_logic_client(state).await?,
            worksheet: sso::worksheet(state).await?,
            new_secret,
        },
    ))
}

async fn sso(State(state): State<AppState>, admin: Admin) -> ConsoleResult<Response> {
    sso_page(&state, admin, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct SiteForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    site: String,
}

async fn register_sso(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<SiteForm>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&form.csrf_token).await?;
    match sso::register_higher_logic(&state, &admin.actor(), &form.site).await {
        // The secret exists in this response only.
        Ok((_, secret)) => sso_page(&state, admin, StatusCode::OK, None, Some(secret)).await,
        Err(StoreError::Invalid(msg) | StoreError::Conflict(msg)) => {
            sso_page(&state, admin, StatusCode::BAD_REQUEST, Some(msg), None).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn rotate_sso_secret(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<TokenOnly>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&form.csrf_token).await?;
    let secret = state
        .store
        .rotate_client_secret(
            &admin.actor(),
            state.oidc.keys.pepper(),
            sso::HIGHER_LOGIC_CLIENT_ID,
        )
        .await?;
    sso_page(&state, admin, StatusCode::OK, None, Some(secret)).await
}

/// The worksheet as JSON for a signed-in administrator (the same document as
/// `/admin/api/worksheet`, which takes an API token instead).
async fn worksheet_json(State(state): State<AppState>, _admin: Admin) -> ConsoleResult<Response> {
    Ok(axum::Json(sso::worksheet(&state).await?).into_response())
}

/// The worksheet's copy buttons: progressive enhancement, served from here so the CSP can stay
/// `script-src 'self'`.
async fn copy_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("copy.js"),
    )
        .into_response()
}

// ----- custom fields -------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/fields.html")]
struct FieldsPage {
    section: &'static str,
    csrf_token: String,
    notice: Option<String>,
    error: Option<String>,
    fields: Vec<CustomField>,
}

async fn fields_page(
    state: &AppState,
    admin: Admin,
    status: StatusCode,
    error: Option<String>,
) -> ConsoleResult<Response> {
    Ok(render(
        status,
        &FieldsPage {
            section: "fields",
            notice: admin.take_notice().await?,
            csrf_token: admin.csrf_token,
            error,
            fields: state.store.list_fields().await?,
        },
    ))
}

async fn fields(State(state): State<AppState>, admin: Admin) -> ConsoleResult<Response> {
    fields_page(&state, admin, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct NewFieldForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    field_key: String,
    #[serde(default)]
    name: String,
    field_type: FieldType,
    #[serde(default)]
    choices: String,
    applies_to: AppliesTo,
    show_in_members: Option<String>,
    sync_to_higher_logic: Option<String>,
}

async fn add_field(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<NewFieldForm>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&form.csrf_token).await?;
    let spec = FieldSpec {
        field_key: form.field_key.trim().to_string(),
        name: form.name,
        field_type: form.field_type,
        choices: lines(&form.choices),
        applies_to: form.applies_to,
        show_in_members: form.show_in_members.is_some(),
        sync_to_higher_logic: form.sync_to_higher_logic.is_some(),
    };
    match state.store.add_field(&admin.actor(), spec).await {
        Ok(f) => {
            admin.flash(format!("Field {} added.", f.name)).await?;
            Ok(
                Redirect::to(&format!("/admin/fields/{}", urlencoding(&f.field_key)))
                    .into_response(),
            )
        }
        Err(StoreError::Invalid(msg) | StoreError::Conflict(msg)) => {
            fields_page(&state, admin, StatusCode::BAD_REQUEST, Some(msg)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "admin/field.html")]
struct FieldPage {
    section: &'static str,
    csrf_token: String,
    notice: Option<String>,
    error: Option<String>,
    field: CustomField,
}

async fn field(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
) -> ConsoleResult<Response> {
    let field = state.store.field(&key).await?;
    Ok(render(
        StatusCode::OK,
        &FieldPage {
            section: "fields",
            notice: admin.take_notice().await?,
            csrf_token: admin.csrf_token,
            error: None,
            field,
        },
    ))
}

#[derive(Deserialize)]
struct FieldForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    show_in_members: Option<String>,
    sync_to_higher_logic: Option<String>,
}

async fn update_field(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    Form(form): Form<FieldForm>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&form.csrf_token).await?;
    let update = FieldUpdate {
        name: Some(form.name),
        show_in_members: Some(form.show_in_members.is_some()),
        // The server decides, whatever the page showed: the store refuses sync without the
        // Members section.
        sync_to_higher_logic: Some(form.sync_to_higher_logic.is_some()),
    };
    match state.store.update_field(&admin.actor(), &key, update).await {
        Ok(f) => {
            admin.flash(format!("Field {} saved.", f.name)).await?;
            Ok(Redirect::to(&format!("/admin/fields/{}", urlencoding(&key))).into_response())
        }
        Err(StoreError::Invalid(msg) | StoreError::Conflict(msg)) => {
            let field = state.store.field(&key).await?;
            Ok(render(
                StatusCode::BAD_REQUEST,
                &FieldPage {
                    section: "fields",
                    notice: None,
                    csrf_token: admin.csrf_token,
                    error: Some(msg),
                    field,
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

// ----- groups --------------------------------------------------------------------------------

/// The group form as typed, and its preview.
struct GroupForm {
    action: String,
    new: bool,
    group_key: String,
    name: String,
    conditions: String,
    members: String,
    preview: Option<MemberCounts>,
}

impl GroupForm {
    fn empty() -> GroupForm {
        GroupForm {
            action: "/admin/groups".into(),
            new: true,
            group_key: String::new(),
            name: String::new(),
            conditions: String::new(),
            members: String::new(),
            preview: None,
        }
    }

    fn of(group: &Group, members: &[String]) -> GroupForm {
        GroupForm {
            action: format!("/admin/groups/{}", urlencoding(&group.group_key)),
            new: false,
            group_key: group.group_key.clone(),
            name: group.name.clone(),
            conditions: group
                .condition_list()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            members: members.join("\n"),
            preview: None,
        }
    }

    fn selection(&self) -> Result<Selection, String> {
        let conditions = lines(&self.conditions);
        let members = lines(&self.members);
        match (conditions.is_empty(), members.is_empty()) {
            (false, false) => {
                Err("Give either conditions or a list of member keys, not both.".into())
            }
            (true, _) => Ok(Selection::Static(members)),
            (false, true) => conditions
                .iter()
                .map(|c| Condition::parse(c))
                .collect::<Result<Vec<_>, _>>()
                .map(Selection::Conditions),
        }
    }
}

#[derive(Deserialize)]
struct GroupFormInput {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    group_key: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    conditions: String,
    #[serde(default)]
    members: String,
}

#[derive(Template)]
#[template(path = "admin/groups.html")]
struct GroupsPage {
    section: &'static str,
    csrf_token: String,
    notice: Option<String>,
    error: Option<String>,
    groups: Vec<Group>,
    form: GroupForm,
}

async fn groups_page(
    state: &AppState,
    admin: Admin,
    status: StatusCode,
    error: Option<String>,
    form: GroupForm,
) -> ConsoleResult<Response> {
    Ok(render(
        status,
        &GroupsPage {
            section: "groups",
            notice: admin.take_notice().await?,
            csrf_token: admin.csrf_token,
            error,
            groups: state.store.list_groups().await?,
            form,
        },
    ))
}

async fn groups(State(state): State<AppState>, admin: Admin) -> ConsoleResult<Response> {
    groups_page(&state, admin, StatusCode::OK, None, GroupForm::empty()).await
}

/// Runs the preview of `form`; a refused selection becomes the page's error.
async fn preview(state: &AppState, form: &mut GroupForm) -> ConsoleResult<Option<String>> {
    let selection = match form.selection() {
        Ok(s) => s,
        Err(msg) => return Ok(Some(msg)),
    };
    match state.store.preview_selection(&selection).await {
        Ok(members) => {
            form.preview = Some(api::counts(members));
            Ok(None)
        }
        Err(StoreError::Invalid(msg)) => Ok(Some(msg)),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "admin/group_preview_fragment.html")]
struct GroupPreviewFragment {
    form: GroupForm,
    error: Option<String>,
}

/// The live preview under the group form: `preview.js` posts the form here as the admin types
/// and puts the answer in place. The form's "Preview members" button does the same without
/// JavaScript.
async fn group_preview(
    State(state): State<AppState>,
    admin: Admin,
    Form(input): Form<GroupFormInput>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&input.csrf_token).await?;
    let mut form = GroupForm {
        conditions: input.conditions,
        members: input.members,
        ..GroupForm::empty()
    };
    let nothing_typed = lines(&form.conditions).is_empty() && lines(&form.members).is_empty();
    let error = if nothing_typed {
        None
    } else {
        preview(&state, &mut form).await?
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(render(status, &GroupPreviewFragment { form, error }))
}

/// Posts the group form to `/admin/group-preview` a moment after each keystroke in the
/// conditions or the member list.
async fn preview_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("preview.js"),
    )
        .into_response()
}

async fn add_group(
    State(state): State<AppState>,
    admin: Admin,
    Form(input): Form<GroupFormInput>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&input.csrf_token).await?;
    let mut form = GroupForm {
        group_key: input.group_key.trim().to_string(),
        name: input.name,
        conditions: input.conditions,
        members: input.members,
        ..GroupForm::empty()
    };
    if input.action == "preview" {
        let error = preview(&state, &mut form).await?;
        let status = if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        return groups_page(&state, admin, status, error, form).await;
    }
    let selection = match form.selection() {
        Ok(s) => s,
        Err(msg) => {
            return groups_page(&state, admin, StatusCode::BAD_REQUEST, Some(msg), form).await
        }
    };
    let key = Some(form.group_key.as_str()).filter(|k| !k.is_empty());
    match state
        .store
        .add_group(&admin.actor(), key, &form.name, selection)
        .await
    {
        Ok(g) => {
            admin.flash(format!("Group {} created.", g.name)).await?;
            Ok(
                Redirect::to(&format!("/admin/groups/{}", urlencoding(&g.group_key)))
                    .into_response(),
            )
        }
        Err(StoreError::Invalid(msg) | StoreError::Conflict(msg)) => {
            groups_page(&state, admin, StatusCode::BAD_REQUEST, Some(msg), form).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "admin/group.html")]
struct GroupPage {
    section: &'static str,
    csrf_token: String,
    notice: Option<String>,
    error: Option<String>,
    sync_message: String,
    group: Group,
    members: MemberCounts,
    form: GroupForm,
}

async fn group_page(
    state: &AppState,
    admin: Admin,
    key: &str,
    status: StatusCode,
    error: Option<String>,
    form: Option<GroupForm>,
) -> ConsoleResult<Response> {
    let GroupView { group, members, .. } = api::group_view(state, key).await?;
    let form = match form {
        Some(f) => f,
        None => {
            let statics = if group.selection == "static" {
                state.store.static_member_keys(key).await?
            } else {
                Vec::new()
            };
            GroupForm::of(&group, &statics)
        }
    };
    let sync_message = state.store.hl_group_status_of(&group).await?.message();
    Ok(render(
        status,
        &GroupPage {
            section: "groups",
            notice: admin.take_notice().await?,
            csrf_token: admin.csrf_token,
            error,
            sync_message,
            group,
            members,
            form,
        },
    ))
}

async fn group(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
) -> ConsoleResult<Response> {
    group_page(&state, admin, &key, StatusCode::OK, None, None).await
}

async fn update_group(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    Form(input): Form<GroupFormInput>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&input.csrf_token).await?;
    let current = state.store.group(&key).await?;
    let mut form = GroupForm {
        name: input.name,
        conditions: input.conditions,
        members: input.members,
        ..GroupForm::of(&current, &[])
    };
    if input.action == "preview" {
        let error = preview(&state, &mut form).await?;
        let status = if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        return group_page(&state, admin, &key, status, error, Some(form)).await;
    }
    let selection = match form.selection() {
        Ok(s) => s,
        Err(msg) => {
            return group_page(
                &state,
                admin,
                &key,
                StatusCode::BAD_REQUEST,
                Some(msg),
                Some(form),
            )
            .await
        }
    };
    // Check the selection before renaming, so a refused form changes nothing.
    if let Err(StoreError::Invalid(msg)) = state.store.preview_selection(&selection).await {
        return group_page(
            &state,
            admin,
            &key,
            StatusCode::BAD_REQUEST,
            Some(msg),
            Some(form),
        )
        .await;
    }
    let actor = admin.actor();
    let result = async {
        if form.name.trim() != current.name {
            state.store.rename_group(&actor, &key, &form.name).await?;
        }
        state.store.set_selection(&actor, &key, selection).await
    }
    .await;
    match result {
        Ok(_) => {
            admin.flash("Group saved.").await?;
            Ok(Redirect::to(&format!("/admin/groups/{}", urlencoding(&key))).into_response())
        }
        Err(StoreError::Invalid(msg) | StoreError::Conflict(msg)) => {
            group_page(
                &state,
                admin,
                &key,
                StatusCode::BAD_REQUEST,
                Some(msg),
                Some(form),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct SyncForm {
    #[serde(default)]
    csrf_token: String,
    sync: Option<String>,
    group_type: Option<GroupType>,
}

async fn group_sync(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    Form(form): Form<SyncForm>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&form.csrf_token).await?;
    let on = form.sync.is_some();
    match state
        .store
        .set_group_sync(&admin.actor(), &key, on, form.group_type)
        .await
    {
        Ok(_) => {
            admin
                .flash(if on {
                    "Sync to Higher Logic saved on: the first full sync has started."
                } else {
                    "Sync to Higher Logic turned off."
                })
                .await?;
            Ok(Redirect::to(&format!("/admin/groups/{}", urlencoding(&key))).into_response())
        }
        Err(StoreError::Invalid(msg) | StoreError::Conflict(msg)) => {
            group_page(&state, admin, &key, StatusCode::CONFLICT, Some(msg), None).await
        }
        Err(e) => Err(e.into()),
    }
}

// ----- Integrations > Higher Logic -----------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/higher_logic.html")]
struct HigherLogicPage {
    section: &'static str,
    csrf_token: String,
    notice: Option<String>,
    error: Option<String>,
    settings: MaskedSettings,
    status: SyncStatus,
    /// The contacts Higher Logic refused, with its reasons (the first 100).
    refused: Vec<ParkedContact>,
    test: Option<ConnectionTest>,
}

async fn higher_logic_page(
    state: &AppState,
    admin: Admin,
    status_code: StatusCode,
    error: Option<String>,
    test: Option<ConnectionTest>,
) -> ConsoleResult<Response> {
    Ok(render(
        status_code,
        &HigherLogicPage {
            section: "integrations",
            notice: admin.take_notice().await?,
            csrf_token: admin.csrf_token,
            error,
            settings: state.store.hl_settings().await?.masked(),
            status: state.store.hl_status().await?,
            refused: state.store.hl_parked(100).await?,
            test,
        },
    ))
}

async fn higher_logic(State(state): State<AppState>, admin: Admin) -> ConsoleResult<Response> {
    higher_logic_page(&state, admin, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct HigherLogicForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    tenant_code: String,
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    base_url: String,
    integrate_bio: Option<String>,
    integrate_profile_image: Option<String>,
    integrate_social: Option<String>,
}

async fn save_higher_logic(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<HigherLogicForm>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&form.csrf_token).await?;
    // Write-only: an empty key field keeps the saved key.
    let update = SettingsUpdate::entered(
        &form.tenant_code,
        Some(form.api_key.as_str()),
        Some(form.base_url.as_str()),
        form.integrate_bio.is_some(),
        form.integrate_profile_image.is_some(),
        form.integrate_social.is_some(),
    );
    match state.store.save_hl_settings(&admin.actor(), update).await {
        Ok(_) => {
            admin.flash("Higher Logic settings saved.").await?;
            Ok(Redirect::to("/admin/integrations/higher-logic").into_response())
        }
        Err(StoreError::Invalid(msg) | StoreError::Conflict(msg)) => {
            higher_logic_page(&state, admin, StatusCode::BAD_REQUEST, Some(msg), None).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn test_higher_logic(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<TokenOnly>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&form.csrf_token).await?;
    let test = integrations::test_connection(&state).await?;
    higher_logic_page(&state, admin, StatusCode::OK, None, Some(test)).await
}

/// Puts every contact Higher Logic refused back in the queue (once the cause is fixed).
async fn retry_refused(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<TokenOnly>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&form.csrf_token).await?;
    let n = state.store.hl_retry_parked().await?;
    admin
        .flash(format!(
            "{n} refused {} back in the queue: they are sent again now.",
            if n == 1 { "contact is" } else { "contacts are" }
        ))
        .await?;
    Ok(Redirect::to("/admin/integrations/higher-logic").into_response())
}

// ----- audit log -----------------------------------------------------------------------------

struct AuditRow {
    when: String,
    actor: String,
    entity: String,
    action: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    section: &'static str,
    csrf_token: String,
    notice: Option<String>,
    error: Option<String>,
    entries: Vec<AuditRow>,
    /// The link to the next (older) page, when there may be one.
    older: Option<String>,
}

#[derive(Deserialize)]
struct AuditPageQuery {
    before: Option<String>,
}

/// Entries per page of the audit log.
const AUDIT_PAGE: i64 = 200;

async fn audit(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<AuditPageQuery>,
) -> ConsoleResult<Response> {
    // A cursor that does not parse starts from the newest entry.
    let before = q.before.as_deref().and_then(AuditCursor::parse);
    let changes = state
        .store
        .recent_changes(AUDIT_PAGE, before.as_ref())
        .await?;
    let older =
        AuditCursor::next_page(&changes, AUDIT_PAGE).map(|c| format!("/admin/audit?before={c}"));
    let entries = changes
        .into_iter()
        .map(|e| AuditRow {
            when: format_ms(e.at),
            actor: e.actor,
            entity: e.entity,
            action: e.action,
            detail: e.detail,
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &AuditPage {
            section: "audit",
            notice: admin.take_notice().await?,
            csrf_token: admin.csrf_token,
            error: None,
            entries,
            older,
        },
    ))
}

// ----- API tokens ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    section: &'static str,
    csrf_token: String,
    notice: Option<String>,
    error: Option<String>,
    tokens: Vec<ApiToken>,
    new_secret: Option<String>,
}

async fn tokens_page(
    state: &AppState,
    admin: Admin,
    status: StatusCode,
    error: Option<String>,
    new_secret: Option<String>,
) -> ConsoleResult<Response> {
    Ok(render(
        status,
        &TokensPage {
            section: "tokens",
            notice: admin.take_notice().await?,
            csrf_token: admin.csrf_token,
            error,
            tokens: state.store.list_api_tokens().await?,
            new_secret,
        },
    ))
}

async fn tokens(State(state): State<AppState>, admin: Admin) -> ConsoleResult<Response> {
    tokens_page(&state, admin, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    scope: Scope,
}

async fn create_token(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<TokenForm>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&form.csrf_token).await?;
    match state
        .store
        .create_api_token(&admin.actor(), &form.name, form.scope)
        .await
    {
        // Shown in this response only (never stored, never redirected through a URL).
        Ok(new) => tokens_page(&state, admin, StatusCode::OK, None, Some(new.secret)).await,
        Err(StoreError::Invalid(msg)) => {
            tokens_page(&state, admin, StatusCode::BAD_REQUEST, Some(msg), None).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Form(form): Form<TokenOnly>,
) -> ConsoleResult<Response> {
    admin.check_csrf(&form.csrf_token).await?;
    let t = state.store.revoke_api_token(&admin.actor(), &id).await?;
    admin.flash(format!("Token {} revoked.", t.name)).await?;
    Ok(Redirect::to("/admin/api-tokens").into_response())
}

// ----- helpers -------------------------------------------------------------------------------

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
    fn group_form_takes_one_kind_of_selection() {
        let mut f = GroupForm::empty();
        f.conditions = "member_type=Regular\n\n  membership_status!=Lapsed ".into();
        assert!(matches!(f.selection(), Ok(Selection::Conditions(c)) if c.len() == 2));
        f.members = "P1".into();
        assert!(f.selection().is_err());
        f.conditions.clear();
        assert_eq!(f.selection(), Ok(Selection::Static(vec!["P1".into()])));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(urlencoding("a b/ä"), "a%20b%2F%C3%A4");
    }
}
