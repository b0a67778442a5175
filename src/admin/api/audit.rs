//! The audit log, newest first, a page at a time.

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{page_limit, ApiError, ApiQuery, ApiResult, Caller};
use crate::change_log::{AuditCursor, ChangeEntry};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many entries, newest first (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// The `next` of the previous page: entries older than it (the newest when absent or empty).
    pub before: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditLog {
    pub entries: Vec<ChangeEntry>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next: Option<String>,
}

/// Who changed which setting, member, field or group, and when. Never holds secrets.
#[utoipa::path(get, path = "/audit", params(AuditQuery),
    responses((status = 200, body = AuditLog)))]
pub(super) async fn audit_log(
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditLog>> {
    let limit = page_limit(q.limit, 100, 1000)?;
    // An empty value is no value, as in the other queries (a form's empty field sends one).
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(text) => Some(AuditCursor::parse(text).ok_or_else(|| {
            ApiError::BadRequest("before must be the next value of a previous page".into())
        })?),
    };
    let entries = caller
        .store()
        .recent_changes(limit, before.as_ref())
        .await?;
    let next = AuditCursor::next_page(&entries, limit).map(|c| c.to_string());
    Ok(Json(AuditLog { entries, next }))
}
