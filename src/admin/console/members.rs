//! Members: the searchable list, one member's page, deactivation, reactivation and invitations.

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use serde::Deserialize;

use super::{urlencoding, Admin, Chrome, ConsoleResult, Shown};
use crate::admin::views::{self, MemberView};
use crate::members::{Member, MemberFilter};
use crate::oidc::invitations::{self, InvitationError, Purpose};
use crate::server::AppState;
use crate::web::csrf::CsrfForm;

#[derive(Template)]
#[template(path = "admin/members.html")]
struct MembersPage {
    chrome: Chrome,
    q: String,
    members: Vec<Member>,
    /// Links to the neighbouring pages of the list, when there are some.
    previous: Option<String>,
    next: Option<String>,
    first_shown: i64,
}

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
    /// 1-based; anything that is not a page number shows the first.
    page: Option<String>,
}

/// Members per page of the list.
const MEMBERS_PAGE: i64 = 100;

pub(super) async fn members(
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
    let mut members = admin
        .store()
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
    let previous = (page > 1).then(|| link(page - 1));
    let next = more.then(|| link(page + 1));
    admin
        .page("members", Shown::ok(), |chrome| MembersPage {
            chrome,
            q: query.q,
            members,
            previous,
            next,
            first_shown: offset + 1,
        })
        .await
}

#[derive(Template)]
#[template(path = "admin/member.html")]
struct MemberPage {
    chrome: Chrome,
    view: MemberView,
}

pub(super) async fn member(admin: Admin, Path(key): Path<String>) -> ConsoleResult<Response> {
    let view = views::member_view(admin.store(), &key).await?;
    admin
        .page("members", Shown::ok(), |chrome| MemberPage { chrome, view })
        .await
}

fn member_url(key: &str) -> String {
    format!("/admin/members/{}", urlencoding(key))
}

/// Reactivates (`ACTIVE`) or deactivates a member's account, then shows the member with what
/// was done.
pub(super) async fn set_active<const ACTIVE: bool>(
    admin: Admin,
    Path(key): Path<String>,
    CsrfForm(()): CsrfForm<()>,
) -> ConsoleResult<Response> {
    let actor = admin.actor();
    let notice = if ACTIVE {
        admin.store().reactivate_account(&actor, &key).await?;
        "Account reactivated."
    } else {
        admin.store().deactivate_account(&actor, &key).await?;
        "Account deactivated: its sessions and tokens have ended."
    };
    admin.done(notice, &member_url(&key)).await
}

pub(super) async fn invite(
    admin: Admin,
    Path(key): Path<String>,
    CsrfForm(()): CsrfForm<()>,
) -> ConsoleResult<Response> {
    let notice = match send_invitation(&admin.state, &admin.actor(), &key).await {
        Ok(to) => format!("Invitation sent to {to}."),
        Err(InvitationError::Store(e)) => return Err(e.into()),
        Err(e) => format!("No invitation sent: {e}."),
    };
    admin.done(notice, &member_url(&key)).await
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
        None,
        None,
    )
    .await?;
    Ok(sent.to)
}
