//! The audit log, newest first, a page at a time.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use serde::Deserialize;

use super::{Admin, Chrome, ConsoleResult, Shown};
use crate::change_log::AuditCursor;
use crate::db::format_ms;

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
    chrome: Chrome,
    entries: Vec<AuditRow>,
    /// The link to the next (older) page, when there may be one.
    older: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct AuditPageQuery {
    before: Option<String>,
}

/// Entries per page of the audit log.
const AUDIT_PAGE: i64 = 200;

pub(super) async fn audit(
    admin: Admin,
    Query(q): Query<AuditPageQuery>,
) -> ConsoleResult<Response> {
    // A cursor that does not parse starts from the newest entry.
    let before = q.before.as_deref().and_then(AuditCursor::parse);
    let changes = admin
        .store()
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
    admin
        .page("audit", Shown::ok(), |chrome| AuditPage {
            chrome,
            entries,
            older,
        })
        .await
}
