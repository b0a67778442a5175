//! Members: search, one member's view, deactivation and reactivation of their account.

use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{page_limit, ApiError, ApiJson, ApiQuery, ApiResult, Caller, Key};
use crate::admin::views::{self, MemberView};
use crate::members::{Kind, Member, MemberFilter};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Part of a name, e-mail or member key.
    pub q: Option<String>,
    /// `person` or `company`; both when absent.
    pub kind: Option<String>,
    /// At most this many (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// How many to skip (0 when absent).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
}

#[utoipa::path(get, path = "/members", params(SearchQuery),
    responses((status = 200, body = MemberList)))]
pub(super) async fn search_members(
    caller: Caller,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<MemberList>> {
    let kind = match q.kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(
            Kind::parse(k)
                .ok_or_else(|| ApiError::BadRequest(format!("kind {k:?}: person or company")))?,
        ),
    };
    let limit = page_limit(q.limit, 50, 500)?;
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::BadRequest("offset must not be negative".into()));
    }
    let members = caller
        .store()
        .list_members(&MemberFilter {
            kind,
            search: q.q.filter(|s| !s.trim().is_empty()),
            limit,
            offset,
        })
        .await?;
    Ok(Json(MemberList { members }))
}

#[utoipa::path(get, path = "/members/{key}", params(Key<Member>),
    responses((status = 200, body = MemberView)))]
pub(super) async fn show_member(caller: Caller, key: Key<Member>) -> ApiResult<Json<MemberView>> {
    Ok(Json(views::member_view(caller.store(), &key).await?))
}

#[utoipa::path(post, path = "/members/{key}/deactivate", params(Key<Member>),
    responses((status = 200, body = MemberView)))]
pub(super) async fn deactivate_member(
    caller: Caller,
    key: Key<Member>,
) -> ApiResult<Json<MemberView>> {
    set_active(caller, &key, false).await
}

#[utoipa::path(post, path = "/members/{key}/reactivate", params(Key<Member>),
    responses((status = 200, body = MemberView)))]
pub(super) async fn reactivate_member(
    caller: Caller,
    key: Key<Member>,
) -> ApiResult<Json<MemberView>> {
    set_active(caller, &key, true).await
}

/// A new password for a member's account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// At least 12 characters.
    pub password: String,
}

/// Sets a member's password (for an AMS that keeps them). Every browser session, code and
/// token the old one issued, and the account's unused links, end in the same transaction. An
/// administrator's password is not an API token's to set: that would turn a write token into
/// the console.
#[utoipa::path(put, path = "/members/{key}/password", request_body = NewPassword,
    params(Key<Member>), responses((status = 204, description = "set")))]
pub(super) async fn set_member_password(
    caller: Caller,
    key: Key<Member>,
    ApiJson(new): ApiJson<NewPassword>,
) -> ApiResult<StatusCode> {
    let account = caller.store().account_for_member(&key).await?;
    if account.is_admin() {
        return Err(ApiError::Forbidden(
            "an administrator's password is changed by that administrator, in the console".into(),
        ));
    }
    caller
        .store()
        .set_password(&caller.actor(), &key, &new.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deactivates or reactivates a member's account; answers the member as they now stand.
async fn set_active(caller: Caller, key: &str, active: bool) -> ApiResult<Json<MemberView>> {
    let actor = caller.actor();
    if active {
        caller.store().reactivate_account(&actor, key).await?;
    } else {
        caller.store().deactivate_account(&actor, key).await?;
    }
    Ok(Json(views::member_view(caller.store(), key).await?))
}
