//! Groups: list, show, add, update, and the preview of a selection.

use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ApiJson, ApiResult, Caller, Key};
use crate::admin::views::{self, GroupView, MemberCounts};
use crate::groups::{Group, Selection};

#[derive(Serialize, ToSchema)]
pub struct GroupList {
    pub groups: Vec<Group>,
}

/// How a group chooses its members: either `members` (a static list of member keys) or
/// `conditions` (e.g. `member_type=Regular|Student`, `field.chapter!=North`), not both.
#[derive(Deserialize, ToSchema, Default)]
pub struct SelectionInput {
    pub members: Option<Vec<String>>,
    pub conditions: Option<Vec<String>>,
}

impl SelectionInput {
    /// The selection sent, read by the one parser the CLI and the console use too.
    fn selection(&self) -> ApiResult<Option<Selection>> {
        Selection::from_parts(self.members.clone(), self.conditions.clone())
            .map_err(ApiError::BadRequest)
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

#[utoipa::path(get, path = "/groups",
    responses((status = 200, body = GroupList)))]
pub(super) async fn list_groups(caller: Caller) -> ApiResult<Json<GroupList>> {
    Ok(Json(GroupList {
        groups: caller.store().list_groups().await?,
    }))
}

#[utoipa::path(post, path = "/groups", request_body = NewGroup,
    responses((status = 201, body = GroupView)))]
pub(super) async fn add_group(
    caller: Caller,
    ApiJson(new): ApiJson<NewGroup>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    let selection = new
        .selection
        .selection()?
        .unwrap_or(Selection::Static(Vec::new()));
    let group = caller
        .store()
        .add_group(
            &caller.actor(),
            new.group_key.as_deref(),
            &new.name,
            selection,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(views::group_view(caller.store(), &group.group_key).await?),
    ))
}

#[utoipa::path(get, path = "/groups/{key}", params(Key<Group>),
    responses((status = 200, body = GroupView)))]
pub(super) async fn show_group(caller: Caller, key: Key<Group>) -> ApiResult<Json<GroupView>> {
    Ok(Json(views::group_view(caller.store(), &key).await?))
}

#[utoipa::path(patch, path = "/groups/{key}", request_body = GroupUpdate, params(Key<Group>),
    responses((status = 200, body = GroupView)))]
pub(super) async fn update_group(
    caller: Caller,
    key: Key<Group>,
    ApiJson(update): ApiJson<GroupUpdate>,
) -> ApiResult<Json<GroupView>> {
    // Check everything before changing anything.
    let selection = update.selection.selection()?;
    caller.store().group(&key).await?;
    if let Some(name) = &update.name {
        caller
            .store()
            .rename_group(&caller.actor(), &key, name)
            .await?;
    }
    if let Some(selection) = selection {
        caller
            .store()
            .set_selection(&caller.actor(), &key, selection)
            .await?;
    }
    Ok(Json(views::group_view(caller.store(), &key).await?))
}

/// What a selection would choose, without saving anything: the console's live preview.
#[utoipa::path(post, path = "/groups/preview", request_body = SelectionInput,
    responses((status = 200, body = MemberCounts)))]
pub(super) async fn preview_group(
    caller: Caller,
    ApiJson(input): ApiJson<SelectionInput>,
) -> ApiResult<Json<MemberCounts>> {
    let selection = input
        .selection()?
        .ok_or_else(|| ApiError::BadRequest("give members or conditions".into()))?;
    Ok(Json(views::counts(
        caller.store().preview_selection(&selection).await?,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

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
