//! The admin API: what the console does, as JSON under `/admin/api/`, for scripts. Callers
//! authenticate with an admin API token (`Authorization: Bearer gga_...`); a read token may
//! only read. Every error has one shape: `{"error": {"status", "code", "message"}}`. The OpenAPI
//! document at `/admin/api/openapi.json` is generated from these handlers.

use axum::extract::{FromRequest, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::accounts::Account;
use crate::admin::api_tokens::{ApiToken, Scope};
use crate::admin::integrations::{self, ConnectionTest};
use crate::admin::sso::{self, Worksheet};
use crate::change_log::{AuditCursor, ChangeEntry};
use crate::custom_fields::{AppliesTo, CustomField, FieldSpec, FieldType, FieldUpdate};
use crate::db::{StoreError, StoreResult};
use crate::groups::{Condition, Group, GroupMembers, Selection};
use crate::higher_logic::settings::{MaskedSettings, SettingsUpdate};
use crate::higher_logic::status::{GroupStatus, ParkedContact, SyncStatus};
use crate::higher_logic::GroupType;
use crate::members::{Kind, Member, MemberFilter};
use crate::server::AppState;

/// Errors of the admin API, each mapped to one status and code in [`IntoResponse`].
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("an admin API token is required: send Authorization: Bearer <token>")]
    Unauthenticated,
    #[error("this API token may only read")]
    ReadOnlyToken,
    #[error("{0}")]
    BadRequest(String),
    #[error("no such endpoint")]
    NoRoute,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The one error shape of the admin API.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub status: u16,
    /// A stable, machine-readable code: `unauthenticated`, `forbidden`, `bad_request`,
    /// `not_found`, `conflict` or `internal`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::ReadOnlyToken => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::BadRequest(_) | ApiError::Store(StoreError::Invalid(_)) => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            ApiError::NoRoute | ApiError::Store(StoreError::NotFound(_)) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            ApiError::Store(StoreError::Conflict(_)) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "admin API request failed");
            "internal error".to_string()
        } else {
            self.to_string()
        };
        let body = ErrorBody {
            error: ErrorDetail {
                status: status.as_u16(),
                code: code.to_string(),
                message,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"guildgate-admin\""),
            );
        }
        response
    }
}

/// `Json` whose rejections use the API's error shape.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `Query` whose rejections use the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `Path` whose rejections use the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(r: axum::extract::rejection::PathRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

/// The caller of a request: an admin API token, checked for the scope the request needs.
pub struct Caller {
    pub token: ApiToken,
}

impl Caller {
    /// How changes made through this token appear in the audit log.
    pub fn actor(&self) -> String {
        format!("api-token:{}", self.token.name)
    }

    fn require(&self, needed: Scope) -> Result<(), ApiError> {
        if self.token.scope().allows(needed) {
            Ok(())
        } else {
            Err(ApiError::ReadOnlyToken)
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(ApiError::Unauthenticated)?;
        let token = state
            .store
            .authenticate_api_token(secret)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        let caller = Caller { token };
        // Reads need a read token; everything else changes something.
        let needed = if parts.method == axum::http::Method::GET {
            Scope::Read
        } else {
            Scope::Write
        };
        caller.require(needed)?;
        Ok(caller)
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/members", get(search_members))
        .route("/members/{key}", get(show_member))
        .route("/members/{key}/deactivate", post(deactivate_member))
        .route("/members/{key}/reactivate", post(reactivate_member))
        .route("/fields", get(list_fields).post(add_field))
        .route("/fields/{key}", get(show_field).patch(update_field))
        .route("/groups", get(list_groups).post(add_group))
        .route("/groups/preview", post(preview_group))
        .route("/groups/{key}", get(show_group).patch(update_group))
        .route(
            "/groups/{key}/sync",
            get(show_group_sync).put(update_group_sync),
        )
        .route(
            "/integrations/higher-logic",
            get(higher_logic_settings).put(save_higher_logic_settings),
        )
        .route("/integrations/higher-logic/test", post(test_higher_logic))
        .route("/sync/status", get(sync_status))
        .route("/sync/refused", get(refused_contacts))
        .route("/sync/retry-refused", post(retry_refused))
        .route("/audit", get(audit_log))
        .route("/worksheet", get(worksheet))
        // Reads the body before answering, so a client still sending one is not cut off.
        .fallback(|_body: axum::body::Bytes| async { ApiError::NoRoute })
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Part of a name, e-mail or member key.
    pub q: Option<String>,
    /// `person` or `company`; both when absent.
    pub kind: Option<String>,
    /// At most this many (1 to 500, default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
}

#[utoipa::path(get, path = "/admin/api/members", params(SearchQuery),
    responses((status = 200, body = MemberList), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn search_members(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<MemberList>, ApiError> {
    let kind = match q.kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(
            Kind::parse(k)
                .ok_or_else(|| ApiError::BadRequest(format!("kind {k:?}: person or company")))?,
        ),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 500".into()));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::BadRequest("offset must not be negative".into()));
    }
    let members = state
        .store
        .list_members(&MemberFilter {
            kind,
            search: q.q.filter(|s| !s.trim().is_empty()),
            limit,
            offset,
        })
        .await?;
    Ok(Json(MemberList { members }))
}

/// A member as the console shows them: data, account, groups and Higher Logic eligibility.
#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub member: Member,
    pub account: Option<Account>,
    pub groups: Vec<GroupRef>,
    pub higher_logic: SyncEligibility,
}

#[derive(Serialize, ToSchema)]
pub struct GroupRef {
    pub group_key: String,
    pub name: String,
    pub synced_to_higher_logic: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SyncEligibility {
    /// Whether Higher Logic receives this member's record.
    pub synced: bool,
    /// Why not, in words, when `synced` is false.
    pub reason: Option<String>,
    /// What else an administrator should know (a deactivated account is still synced).
    pub note: Option<String>,
}

fn eligibility(account: Option<&Account>, groups: &[GroupRef]) -> SyncEligibility {
    let reason = match account {
        None => Some("no user account: members without one are never sent to Higher Logic"),
        Some(_) if !groups.iter().any(|g| g.synced_to_higher_logic) => {
            Some("in no group that syncs to Higher Logic")
        }
        Some(_) => None,
    };
    // Deactivation never deletes the contact in Higher Logic: its record and groups are still
    // kept current there; it is the sign-in that is refused.
    let note = account.filter(|a| !a.is_active()).map(|_| {
        "account deactivated: sign-in is refused; Higher Logic keeps the contact and still \
         receives its changes"
            .to_string()
    });
    SyncEligibility {
        synced: reason.is_none(),
        reason: reason.map(str::to_string),
        note,
    }
}

pub(crate) async fn member_view(state: &AppState, key: &str) -> StoreResult<MemberView> {
    let member = state.store.member(key).await?;
    let account = match state.store.account_for_member(key).await {
        Ok(a) => Some(a),
        Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let groups: Vec<GroupRef> = state
        .store
        .groups_of_member(key)
        .await?
        .into_iter()
        .map(|g| GroupRef {
            group_key: g.group_key,
            name: g.name,
            synced_to_higher_logic: g.hl_sync_enabled,
        })
        .collect();
    let higher_logic = eligibility(account.as_ref(), &groups);
    Ok(MemberView {
        member,
        account,
        groups,
        higher_logic,
    })
}

#[utoipa::path(get, path = "/admin/api/members/{key}",
    params(("key" = String, Path, description = "The member key")),
    responses((status = 200, body = MemberView), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn show_member(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<MemberView>, ApiError> {
    Ok(Json(member_view(&state, &key).await?))
}

#[utoipa::path(post, path = "/admin/api/members/{key}/deactivate",
    params(("key" = String, Path, description = "The member key")),
    responses((status = 200, body = MemberView), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn deactivate_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<MemberView>, ApiError> {
    state
        .store
        .deactivate_account(&caller.actor(), &key)
        .await?;
    Ok(Json(member_view(&state, &key).await?))
}

#[utoipa::path(post, path = "/admin/api/members/{key}/reactivate",
    params(("key" = String, Path, description = "The member key")),
    responses((status = 200, body = MemberView), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn reactivate_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<MemberView>, ApiError> {
    state
        .store
        .reactivate_account(&caller.actor(), &key)
        .await?;
    Ok(Json(member_view(&state, &key).await?))
}

#[derive(Serialize, ToSchema)]
pub struct FieldList {
    pub fields: Vec<CustomField>,
}

#[utoipa::path(get, path = "/admin/api/fields",
    responses((status = 200, body = FieldList), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn list_fields(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<FieldList>, ApiError> {
    Ok(Json(FieldList {
        fields: state.store.list_fields().await?,
    }))
}

#[utoipa::path(get, path = "/admin/api/fields/{key}",
    params(("key" = String, Path, description = "The field key")),
    responses((status = 200, body = CustomField), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn show_field(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<CustomField>, ApiError> {
    Ok(Json(state.store.field(&key).await?))
}

#[utoipa::path(post, path = "/admin/api/fields", request_body = FieldSpec,
    responses((status = 201, body = CustomField), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn add_field(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(spec): ApiJson<FieldSpec>,
) -> Result<(StatusCode, Json<CustomField>), ApiError> {
    let field = state.store.add_field(&caller.actor(), spec).await?;
    Ok((StatusCode::CREATED, Json(field)))
}

#[utoipa::path(patch, path = "/admin/api/fields/{key}", request_body = FieldUpdate,
    params(("key" = String, Path, description = "The field key")),
    responses((status = 200, body = CustomField), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn update_field(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(key): ApiPath<String>,
    ApiJson(update): ApiJson<FieldUpdate>,
) -> Result<Json<CustomField>, ApiError> {
    Ok(Json(
        state
            .store
            .update_field(&caller.actor(), &key, update)
            .await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct GroupList {
    pub groups: Vec<Group>,
}

#[utoipa::path(get, path = "/admin/api/groups",
    responses((status = 200, body = GroupList), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn list_groups(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<GroupList>, ApiError> {
    Ok(Json(GroupList {
        groups: state.store.list_groups().await?,
    }))
}

/// How a group chooses its members: either `members` (a static list of member keys) or
/// `conditions` (e.g. `member_type=Regular|Student`, `field.chapter!=North`), not both.
#[derive(Deserialize, ToSchema, Default)]
pub struct SelectionInput {
    pub members: Option<Vec<String>>,
    pub conditions: Option<Vec<String>>,
}

impl SelectionInput {
    fn selection(&self) -> Result<Option<Selection>, ApiError> {
        match (&self.members, &self.conditions) {
            (Some(_), Some(_)) => Err(ApiError::BadRequest(
                "give either members or conditions, not both".into(),
            )),
            (Some(keys), None) => Ok(Some(Selection::Static(keys.clone()))),
            (None, Some(texts)) => {
                let conditions = texts
                    .iter()
                    .map(|t| Condition::parse(t))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(ApiError::BadRequest)?;
                Ok(Some(Selection::Conditions(conditions)))
            }
            (None, None) => Ok(None),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct NewGroup {
    /// The group's stable key (Higher Logic's Legacy Group Key); generated when absent.
    pub group_key: Option<String>,
    pub name: String,
    #[serde(flatten)]
    pub selection: SelectionInput,
}

#[derive(Deserialize, ToSchema)]
pub struct GroupUpdate {
    pub name: Option<String>,
    #[serde(flatten)]
    pub selection: SelectionInput,
}

/// A group with its resolved members, split as the sync sees them.
#[derive(Serialize, ToSchema)]
pub struct GroupView {
    pub group: Group,
    pub conditions: Vec<String>,
    pub members: MemberCounts,
}

#[derive(Serialize, ToSchema)]
pub struct MemberCounts {
    pub total: usize,
    /// Members with an active user account: the ones Higher Logic receives.
    pub with_account: usize,
    pub deactivated: usize,
    /// Members without a user account: never sent to Higher Logic.
    pub without_account: usize,
    /// Up to 50 of the members, by key.
    pub sample: Vec<MemberRef>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberRef {
    pub member_key: String,
    pub name: String,
    pub account_state: Option<String>,
}

pub(crate) fn counts(members: GroupMembers) -> MemberCounts {
    let total = members.total();
    let (with_account, deactivated, without_account) = (
        members.with_account.len(),
        members.deactivated.len(),
        members.without_account.len(),
    );
    let mut all: Vec<Member> = members
        .with_account
        .into_iter()
        .chain(members.deactivated)
        .chain(members.without_account)
        .collect();
    all.sort_by(|a, b| a.member_key.cmp(&b.member_key));
    MemberCounts {
        total,
        with_account,
        deactivated,
        without_account,
        sample: all
            .into_iter()
            .take(50)
            .map(|m| MemberRef {
                name: m.display_name(),
                member_key: m.member_key,
                account_state: m.account_state,
            })
            .collect(),
    }
}

pub(crate) async fn group_view(state: &AppState, key: &str) -> StoreResult<GroupView> {
    let group = state.store.group(key).await?;
    let members = state.store.group_members(key).await?;
    Ok(GroupView {
        conditions: group
            .condition_list()
            .iter()
            .map(ToString::to_string)
            .collect(),
        group,
        members: counts(members),
    })
}

#[utoipa::path(post, path = "/admin/api/groups", request_body = NewGroup,
    responses((status = 201, body = GroupView), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn add_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewGroup>,
) -> Result<(StatusCode, Json<GroupView>), ApiError> {
    let selection = new
        .selection
        .selection()?
        .unwrap_or(Selection::Static(Vec::new()));
    let group = state
        .store
        .add_group(
            &caller.actor(),
            new.group_key.as_deref(),
            &new.name,
            selection,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(group_view(&state, &group.group_key).await?),
    ))
}

#[utoipa::path(get, path = "/admin/api/groups/{key}",
    params(("key" = String, Path, description = "The group key")),
    responses((status = 200, body = GroupView), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn show_group(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<GroupView>, ApiError> {
    Ok(Json(group_view(&state, &key).await?))
}

#[utoipa::path(patch, path = "/admin/api/groups/{key}", request_body = GroupUpdate,
    params(("key" = String, Path, description = "The group key")),
    responses((status = 200, body = GroupView), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn update_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(key): ApiPath<String>,
    ApiJson(update): ApiJson<GroupUpdate>,
) -> Result<Json<GroupView>, ApiError> {
    // Check everything before changing anything.
    let selection = update.selection.selection()?;
    state.store.group(&key).await?;
    if let Some(name) = &update.name {
        state
            .store
            .rename_group(&caller.actor(), &key, name)
            .await?;
    }
    if let Some(selection) = selection {
        state
            .store
            .set_selection(&caller.actor(), &key, selection)
            .await?;
    }
    Ok(Json(group_view(&state, &key).await?))
}

/// What a selection would choose, without saving anything: the console's live preview.
#[utoipa::path(post, path = "/admin/api/groups/preview", request_body = SelectionInput,
    responses((status = 200, body = MemberCounts), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn preview_group(
    State(state): State<AppState>,
    _caller: Caller,
    ApiJson(input): ApiJson<SelectionInput>,
) -> Result<Json<MemberCounts>, ApiError> {
    let selection = input
        .selection()?
        .ok_or_else(|| ApiError::BadRequest("give members or conditions".into()))?;
    Ok(Json(counts(
        state.store.preview_selection(&selection).await?,
    )))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many entries, newest first (1 to 1000, default 100).
    pub limit: Option<i64>,
    /// The `next` of the previous page: entries older than it.
    pub before: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditLog {
    pub entries: Vec<ChangeEntry>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next: Option<String>,
}

/// Who changed which setting, member, field or group, and when. Never holds secrets.
#[utoipa::path(get, path = "/admin/api/audit", params(AuditQuery),
    responses((status = 200, body = AuditLog), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn audit_log(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditLog>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 1000".into()));
    }
    let before = match q.before.as_deref() {
        None => None,
        Some(text) => Some(AuditCursor::parse(text).ok_or_else(|| {
            ApiError::BadRequest("before must be the next value of a previous page".into())
        })?),
    };
    let entries = state.store.recent_changes(limit, before.as_ref()).await?;
    let next = AuditCursor::next_page(&entries, limit).map(|c| c.to_string());
    Ok(Json(AuditLog { entries, next }))
}

/// Higher Logic's SSO technical worksheet, computed from the running configuration.
#[utoipa::path(get, path = "/admin/api/worksheet",
    responses((status = 200, body = Worksheet), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn worksheet(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Worksheet>, ApiError> {
    Ok(Json(sso::worksheet(&state).await?))
}

/// The Higher Logic integration settings to save. The API key is write-only: it is never
/// returned, and leaving it out keeps the saved one.
#[derive(Deserialize, ToSchema)]
pub struct HigherLogicSettingsInput {
    /// The tenant code Higher Logic gave the association.
    pub tenant_code: String,
    /// The API key (Higher Logic's "API Gateway Key"). Absent, null or blank keeps the saved
    /// key; the masked form shown by `GET` is refused.
    pub api_key: Option<String>,
    /// The Push API address: `https` (plain `http` only on loopback). Absent, null or blank
    /// keeps the saved one.
    pub base_url: Option<String>,
    /// Higher Logic activated `MembershipIntegrateBio`.
    pub integrate_bio: bool,
    /// Higher Logic activated `IntegrateProfileImage`.
    pub integrate_profile_image: bool,
    /// Higher Logic activated `IntegrateSocialMediaSites`.
    pub integrate_social: bool,
}

/// Integrations > Higher Logic: the settings, with the API key masked.
#[utoipa::path(get, path = "/admin/api/integrations/higher-logic",
    responses((status = 200, body = MaskedSettings), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn higher_logic_settings(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<MaskedSettings>, ApiError> {
    Ok(Json(state.store.hl_settings().await?.masked()))
}

/// Saves the Higher Logic settings, as the console's form does; recorded in the audit log
/// without the key.
#[utoipa::path(put, path = "/admin/api/integrations/higher-logic",
    request_body = HigherLogicSettingsInput,
    responses((status = 200, body = MaskedSettings), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn save_higher_logic_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<HigherLogicSettingsInput>,
) -> Result<Json<MaskedSettings>, ApiError> {
    let update = SettingsUpdate::entered(
        &input.tenant_code,
        input.api_key.as_deref(),
        input.base_url.as_deref(),
        input.integrate_bio,
        input.integrate_profile_image,
        input.integrate_social,
    );
    Ok(Json(
        state
            .store
            .save_hl_settings(&caller.actor(), update)
            .await?,
    ))
}

/// Test connection: sends Higher Logic an empty batch with the saved settings (nothing changes
/// there) and says, in the console's words, whether the address, tenant code and key work.
#[utoipa::path(post, path = "/admin/api/integrations/higher-logic/test",
    responses((status = 200, body = ConnectionTest), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn test_higher_logic(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<ConnectionTest>, ApiError> {
    Ok(Json(integrations::test_connection(&state).await?))
}

/// A group's Higher Logic sync: on or off, the type, and where it stands.
#[derive(Serialize, ToSchema)]
pub struct GroupSync {
    pub group_key: String,
    pub sync_enabled: bool,
    /// The Higher Logic group type; null until sync is first saved on.
    pub group_type: Option<GroupType>,
    /// The type can no longer change: sync was saved on, and Higher Logic cannot turn a
    /// community into a security group or back.
    pub type_locked: bool,
    /// The status in words, as the console's group page shows it.
    pub message: String,
    pub status: GroupStatus,
}

/// Turns a group's Higher Logic sync on or off.
#[derive(Deserialize, ToSchema)]
pub struct GroupSyncInput {
    pub sync_enabled: bool,
    /// Needed to turn sync on the first time. Once sync was saved on, a different type is
    /// refused with 409.
    pub group_type: Option<GroupType>,
}

pub(crate) async fn group_sync_view(state: &AppState, key: &str) -> StoreResult<GroupSync> {
    let group = state.store.group(key).await?;
    let status = state.store.hl_group_status_of(&group).await?;
    Ok(GroupSync {
        message: status.message(),
        group_type: group.hl_group_type.as_deref().map(GroupType::from_stored),
        group_key: group.group_key,
        sync_enabled: group.hl_sync_enabled,
        type_locked: group.hl_type_locked,
        status,
    })
}

#[utoipa::path(get, path = "/admin/api/groups/{key}/sync",
    params(("key" = String, Path, description = "The group key")),
    responses((status = 200, body = GroupSync), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn show_group_sync(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<GroupSync>, ApiError> {
    Ok(Json(group_sync_view(&state, &key).await?))
}

/// Turning sync on queues the group's first full sync; turning it off pushes its contacts
/// without it. Changing the type once sync was saved on answers 409.
#[utoipa::path(put, path = "/admin/api/groups/{key}/sync", request_body = GroupSyncInput,
    params(("key" = String, Path, description = "The group key")),
    responses((status = 200, body = GroupSync), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn update_group_sync(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(key): ApiPath<String>,
    ApiJson(input): ApiJson<GroupSyncInput>,
) -> Result<Json<GroupSync>, ApiError> {
    state
        .store
        .set_group_sync(&caller.actor(), &key, input.sync_enabled, input.group_type)
        .await?;
    Ok(Json(group_sync_view(&state, &key).await?))
}

/// The sync overall: the pending count, the last error, and every synced group's status.
#[utoipa::path(get, path = "/admin/api/sync/status",
    responses((status = 200, body = SyncStatus), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn sync_status(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<SyncStatus>, ApiError> {
    Ok(Json(state.store.hl_status().await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefusedQuery {
    /// How many to list (1 to 1000; 100 when absent).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct RefusedContacts {
    /// How many contacts Higher Logic refused in all.
    pub total: i64,
    /// The first `limit` of them, by member key, with Higher Logic's answer.
    pub contacts: Vec<ParkedContact>,
}

/// The contacts Higher Logic refused (parked: the rest of the sync goes on without them).
#[utoipa::path(get, path = "/admin/api/sync/refused", params(RefusedQuery),
    responses((status = 200, body = RefusedContacts), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn refused_contacts(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<RefusedQuery>,
) -> Result<Json<RefusedContacts>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(RefusedContacts {
        total: state.store.hl_parked_count().await?,
        contacts: state.store.hl_parked(limit).await?,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Requeued {
    /// How many refused contacts are back in the queue.
    pub requeued: u64,
}

/// Sends every refused contact again (once the cause is fixed).
#[utoipa::path(post, path = "/admin/api/sync/retry-refused",
    responses((status = 200, body = Requeued), (status = "4XX", body = ErrorBody)),
    security(("token" = [])))]
async fn retry_refused(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Requeued>, ApiError> {
    Ok(Json(Requeued {
        requeued: state.store.hl_retry_parked().await?,
    }))
}

struct TokenAuth;

impl Modify for TokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An admin API token (gga_...), created by an administrator; \
                         read tokens may only GET",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Guildgate admin API", description = "What the admin console does, as JSON."),
    paths(
        search_members, show_member, deactivate_member, reactivate_member,
        list_fields, show_field, add_field, update_field,
        list_groups, add_group, show_group, update_group, preview_group,
        audit_log, worksheet,
        higher_logic_settings, save_higher_logic_settings, test_higher_logic,
        show_group_sync, update_group_sync, sync_status, refused_contacts, retry_refused,
    ),
    components(schemas(ErrorBody, ErrorDetail, FieldType, AppliesTo, GroupType)),
    modifiers(&TokenAuth),
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_document_lists_every_route() {
        let doc = ApiDoc::openapi();
        let paths: Vec<&String> = doc.paths.paths.keys().collect();
        for p in [
            "/admin/api/members",
            "/admin/api/members/{key}",
            "/admin/api/fields/{key}",
            "/admin/api/groups/preview",
            "/admin/api/audit",
            "/admin/api/integrations/higher-logic",
            "/admin/api/integrations/higher-logic/test",
            "/admin/api/groups/{key}/sync",
            "/admin/api/sync/status",
            "/admin/api/sync/refused",
            "/admin/api/sync/retry-refused",
        ] {
            assert!(paths.iter().any(|x| x.as_str() == p), "{p} missing");
        }
    }

    #[test]
    fn openapi_document_resolves_every_schema_reference() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("document as JSON");
        let schemas = doc["components"]["schemas"]
            .as_object()
            .expect("component schemas");
        for name in [
            "MaskedSettings",
            "HigherLogicSettingsInput",
            "ConnectionTest",
            "GroupSync",
            "GroupSyncInput",
            "GroupStatus",
            "GroupType",
            "SyncStatus",
        ] {
            assert!(schemas.contains_key(name), "{name} missing");
        }
        fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, v) in m {
                        match (k.as_str(), v.as_str()) {
                            ("$ref", Some(r)) => out.push(r.to_string()),
                            _ => refs(v, out),
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected reference {r}"));
            assert!(schemas.contains_key(name), "{r} does not resolve");
        }
    }

    #[test]
    fn selection_input_refuses_both_kinds() {
        let both = SelectionInput {
            members: Some(vec![]),
            conditions: Some(vec![]),
        };
        assert!(both.selection().is_err());
        let bad = SelectionInput {
            members: None,
            conditions: Some(vec!["colour=red".into()]),
        };
        assert!(matches!(bad.selection(), Err(ApiError::BadRequest(_))));
    }
}
