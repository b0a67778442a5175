//! Members: search, one member's view, deactivation and reactivation of their account.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiPath, ApiQuery, ApiResult, Caller};
use crate::admin::views::{self, MemberView};
use crate::members::{Kind, Member, MemberFilter};
use crate::server::AppState;

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

#[utoipa::path(get, path = "/members", params(SearchQuery),
    responses((status = 200, body = MemberList)))]
pub(super) async fn search_members(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<MemberList>> {
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

#[utoipa::path(get, path = "/members/{key}",
    params(("key" = String, Path, description = "The member key")),
    responses((status = 200, body = MemberView)))]
pub(super) async fn show_member(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(key): ApiPath<String>,
) -> ApiResult<Json<MemberView>> {
    Ok(Json(views::member_view(&state.store, &key).await?))
}

#[utoipa::path(post, path = "/members/{key}/deactivate",
    params(("key" = String, Path, description = "The member key")),
    responses((status = 200, body = MemberView)))]
pub(super) async fn deactivate_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(key): ApiPath<String>,
) -> ApiResult<Json<MemberView>> {
    state
        .store
        .deactivate_account(&caller.actor(), &key)
        .await?;
    Ok(Json(views::member_view(&state.store, &key).await?))
}

#[utoipa::path(post, path = "/members/{key}/reactivate",
    params(("key" = String, Path, description = "The member key")),
    responses((status = 200, body = MemberView)))]
pub(super) async fn reactivate_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(key): ApiPath<String>,
) -> ApiResult<Json<MemberView>> {
    state
        .store
        .reactivate_account(&caller.actor(), &key)
        .await?;
    Ok(Json(views::member_view(&state.store, &key).await?))
}
