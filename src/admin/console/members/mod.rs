//! Members: the searchable list and one member's page; the forms that add and edit members
//! ([`form`]), the account's actions ([`account`]), the CSV import and export ([`import`],
//! [`export`]).

mod account;
mod export;
mod form;
mod import;

use askama::Template;
use axum::extract::{DefaultBodyLimit, Path, Query};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::{urlencoding, Admin, Chrome, ConsoleResult, Shown};
use crate::admin::views::{self, MemberView};
use crate::members::{Member, MemberFilter};
use crate::server::AppState;

/// The members' pages and forms.
pub(super) fn routes(state: &AppState) -> Router<AppState> {
    // The upload's own limit; every other form keeps axum's default.
    let upload_limit = state.settings.admin_api.import_max_bytes;
    Router::new()
        .route("/admin/members", get(members))
        .route("/admin/members/{key}", get(member))
        .route(
            "/admin/members/{key}/edit",
            get(form::edit_page).post(form::edit),
        )
        .route(
            "/admin/members/{key}/deactivate",
            post(account::set_active::<false>),
        )
        .route(
            "/admin/members/{key}/reactivate",
            post(account::set_active::<true>),
        )
        .route("/admin/members/{key}/invite", post(account::invite))
        .route("/admin/members/{key}/account", post(account::set_login))
        .route("/admin/members/{key}/role", post(account::set_role))
        .route("/admin/new/{kind}", get(form::new_page).post(form::create))
        .route(
            "/admin/import",
            get(import::import_page)
                .post(import::upload)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/admin/import/{id}", get(import::job_page))
        .route("/admin/import/{id}/apply", post(import::apply))
        .route("/admin/import/{id}/cancel", post(import::cancel))
        .route("/admin/export/members.csv", get(export::export))
}

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
    /// The member fields worth showing, with their labels, and the custom fields.
    details: Vec<(String, String)>,
    /// What the login field shows: what was typed, or the login (or the member's e-mail).
    login: String,
}

/// A member's page, shown as `shown` says; `login` is what the login form was sent with.
async fn member_page(
    admin: Admin,
    key: &str,
    shown: Shown,
    login: Option<String>,
) -> ConsoleResult<Response> {
    let view = views::member_view(admin.store(), key).await?;
    let mut details = form::details(&view.member);
    for field in admin.store().list_fields().await? {
        if let Some(value) = view.fields.get(&field.field_key) {
            details.push((field.name, value.clone()));
        }
    }
    let login = login.unwrap_or_else(|| match &view.account {
        Some(a) => a.login_email.clone(),
        None => view.member.data.email.clone().unwrap_or_default(),
    });
    admin
        .page("members", shown, |chrome| MemberPage {
            chrome,
            view,
            details,
            login,
        })
        .await
}

pub(super) async fn member(admin: Admin, Path(key): Path<String>) -> ConsoleResult<Response> {
    member_page(admin, &key, Shown::ok(), None).await
}

fn member_url(key: &str) -> String {
    format!("/admin/members/{}", urlencoding(key))
}
