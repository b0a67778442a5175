//! Groups: the list with the form to add one, one group's page (its form, members and Higher
//! Logic sync), and the live preview of a selection as the administrator types it.

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{lines, refusal, urlencoding, Admin, Chrome, ConsoleResult, Shown};
use crate::admin::views::{self, GroupView, MemberCounts};
use crate::db::{Store, StoreError};
use crate::groups::{Condition, Group, Selection};
use crate::higher_logic::GroupType;
use crate::web::csrf::CsrfForm;
use crate::web::pages;

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
            action: group_url(&group.group_key),
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

    /// Runs the preview of the form; a refused selection is shown as the page's error (400).
    async fn preview(&mut self, store: &Store) -> ConsoleResult<Shown> {
        let selection = match self.selection() {
            Ok(s) => s,
            Err(msg) => return Ok(Shown::failed(StatusCode::BAD_REQUEST, msg)),
        };
        match store.preview_selection(&selection).await {
            Ok(members) => {
                self.preview = Some(views::counts(members));
                Ok(Shown::ok())
            }
            Err(StoreError::Invalid(msg)) => Ok(Shown::failed(StatusCode::BAD_REQUEST, msg)),
            Err(e) => Err(e.into()),
        }
    }
}

fn group_url(key: &str) -> String {
    format!("/admin/groups/{}", urlencoding(key))
}

#[derive(Deserialize)]
pub(super) struct GroupFormInput {
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
    chrome: Chrome,
    groups: Vec<Group>,
    form: GroupForm,
}

async fn groups_page(admin: Admin, shown: Shown, form: GroupForm) -> ConsoleResult<Response> {
    let groups = admin.store().list_groups().await?;
    admin
        .page("groups", shown, |chrome| GroupsPage {
            chrome,
            groups,
            form,
        })
        .await
}

pub(super) async fn groups(admin: Admin) -> ConsoleResult<Response> {
    groups_page(admin, Shown::ok(), GroupForm::empty()).await
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
pub(super) async fn group_preview(
    admin: Admin,
    CsrfForm(input): CsrfForm<GroupFormInput>,
) -> ConsoleResult<Response> {
    let mut form = GroupForm {
        conditions: input.conditions,
        members: input.members,
        ..GroupForm::empty()
    };
    let nothing_typed = lines(&form.conditions).is_empty() && lines(&form.members).is_empty();
    let shown = if nothing_typed {
        Shown::ok()
    } else {
        form.preview(admin.store()).await?
    };
    let error = shown.error;
    Ok(pages::render(
        shown.status,
        &GroupPreviewFragment { form, error },
    ))
}

pub(super) async fn add_group(
    admin: Admin,
    CsrfForm(input): CsrfForm<GroupFormInput>,
) -> ConsoleResult<Response> {
    let mut form = GroupForm {
        group_key: input.group_key.trim().to_string(),
        name: input.name,
        conditions: input.conditions,
        members: input.members,
        ..GroupForm::empty()
    };
    if input.action == "preview" {
        let shown = form.preview(admin.store()).await?;
        return groups_page(admin, shown, form).await;
    }
    let selection = match form.selection() {
        Ok(s) => s,
        Err(msg) => {
            let shown = Shown::failed(StatusCode::BAD_REQUEST, msg);
            return groups_page(admin, shown, form).await;
        }
    };
    let key = Some(form.group_key.as_str()).filter(|k| !k.is_empty());
    match admin
        .store()
        .add_group(&admin.actor(), key, &form.name, selection)
        .await
    {
        Ok(g) => {
            let notice = format!("Group {} created.", g.name);
            admin.done(notice, &group_url(&g.group_key)).await
        }
        Err(e) => groups_page(admin, Shown::refused(e)?, form).await,
    }
}

#[derive(Template)]
#[template(path = "admin/group.html")]
struct GroupPage {
    chrome: Chrome,
    sync_message: String,
    /// Higher Logic says the key is one of its own groups': the form offers a new key.
    key_clash: bool,
    group: Group,
    members: MemberCounts,
    form: GroupForm,
}

async fn group_page(
    admin: Admin,
    key: &str,
    shown: Shown,
    form: Option<GroupForm>,
) -> ConsoleResult<Response> {
    let GroupView { group, members, .. } = views::group_view(admin.store(), key).await?;
    let form = match form {
        Some(f) => f,
        None => {
            let statics = if group.selection == "static" {
                admin.store().static_member_keys(key).await?
            } else {
                Vec::new()
            };
            GroupForm::of(&group, &statics)
        }
    };
    let status = admin.store().hl_group_status_of(&group).await?;
    let (sync_message, key_clash) = (status.message(), status.key_clash);
    admin
        .page("groups", shown, |chrome| GroupPage {
            chrome,
            sync_message,
            key_clash,
            group,
            members,
            form,
        })
        .await
}

pub(super) async fn group(admin: Admin, Path(key): Path<String>) -> ConsoleResult<Response> {
    group_page(admin, &key, Shown::ok(), None).await
}

pub(super) async fn update_group(
    admin: Admin,
    Path(key): Path<String>,
    CsrfForm(input): CsrfForm<GroupFormInput>,
) -> ConsoleResult<Response> {
    let current = admin.store().group(&key).await?;
    let mut form = GroupForm {
        name: input.name,
        conditions: input.conditions,
        members: input.members,
        ..GroupForm::of(&current, &[])
    };
    if input.action == "preview" {
        let shown = form.preview(admin.store()).await?;
        return group_page(admin, &key, shown, Some(form)).await;
    }
    let selection = match form.selection() {
        Ok(s) => s,
        Err(msg) => {
            let shown = Shown::failed(StatusCode::BAD_REQUEST, msg);
            return group_page(admin, &key, shown, Some(form)).await;
        }
    };
    // Check the selection before renaming, so a refused form changes nothing.
    if let Err(StoreError::Invalid(msg)) = admin.store().preview_selection(&selection).await {
        let shown = Shown::failed(StatusCode::BAD_REQUEST, msg);
        return group_page(admin, &key, shown, Some(form)).await;
    }
    let actor = admin.actor();
    let result = async {
        if form.name.trim() != current.name {
            admin.store().rename_group(&actor, &key, &form.name).await?;
        }
        admin.store().set_selection(&actor, &key, selection).await
    }
    .await;
    match result {
        Ok(_) => admin.done("Group saved.", &group_url(&key)).await,
        Err(e) => group_page(admin, &key, Shown::refused(e)?, Some(form)).await,
    }
}

#[derive(Deserialize)]
pub(super) struct SyncForm {
    sync: Option<String>,
    group_type: Option<GroupType>,
    /// A new group key, offered when Higher Logic says the key is one of its own groups'.
    #[serde(default)]
    group_key: String,
}

pub(super) async fn group_sync(
    admin: Admin,
    Path(key): Path<String>,
    CsrfForm(form): CsrfForm<SyncForm>,
) -> ConsoleResult<Response> {
    let on = form.sync.is_some();
    let actor = admin.actor();
    let result = async {
        let key = match form.group_key.trim() {
            "" => key.clone(),
            new_key => {
                let group = admin.store().hl_rekey_group(&actor, &key, new_key).await?;
                group.group_key
            }
        };
        admin
            .store()
            .set_group_sync(&actor, &key, on, form.group_type)
            .await
    }
    .await;
    match result {
        Ok(group) => {
            let key = group.group_key;
            let notice = if on {
                "Sync to Higher Logic saved on: the first full sync has started."
            } else {
                "Sync to Higher Logic turned off."
            };
            admin.done(notice, &group_url(&key)).await
        }
        Err(e) => {
            let shown = Shown::failed(StatusCode::CONFLICT, refusal(e)?);
            group_page(admin, &key, shown, None).await
        }
    }
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
}
