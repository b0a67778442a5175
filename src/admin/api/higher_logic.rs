//! Integrations > Higher Logic: the settings, the connection test, each group's sync and the
//! sync overall (its status and the contacts Higher Logic refused).

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{page_limit, ApiJson, ApiQuery, ApiResult, Caller, Key};
use crate::admin::integrations::{self, ConnectionTest};
use crate::admin::views::{self, GroupSync};
use crate::groups::Group;
use crate::higher_logic::settings::{MaskedSettings, SettingsUpdate};
use crate::higher_logic::status::{ParkedContact, SyncStatus};
use crate::higher_logic::GroupType;

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
#[utoipa::path(get, path = "/integrations/higher-logic",
    responses((status = 200, body = MaskedSettings)))]
pub(super) async fn higher_logic_settings(caller: Caller) -> ApiResult<Json<MaskedSettings>> {
    Ok(Json(caller.store().hl_settings().await?.masked()))
}

/// Saves the Higher Logic settings, as the console's form does; recorded in the audit log
/// without the key.
#[utoipa::path(put, path = "/integrations/higher-logic",
    request_body = HigherLogicSettingsInput,
    responses((status = 200, body = MaskedSettings)))]
pub(super) async fn save_higher_logic_settings(
    caller: Caller,
    ApiJson(input): ApiJson<HigherLogicSettingsInput>,
) -> ApiResult<Json<MaskedSettings>> {
    let update = SettingsUpdate::entered(
        &input.tenant_code,
        input.api_key.as_deref(),
        input.base_url.as_deref(),
        input.integrate_bio,
        input.integrate_profile_image,
        input.integrate_social,
    );
    Ok(Json(
        caller
            .store()
            .save_hl_settings(&caller.actor(), update)
            .await?,
    ))
}

/// Test connection: sends Higher Logic an empty batch with the saved settings (nothing changes
/// there) and says, in the console's words, whether the address, tenant code and key work.
#[utoipa::path(post, path = "/integrations/higher-logic/test",
    responses((status = 200, body = ConnectionTest)))]
pub(super) async fn test_higher_logic(caller: Caller) -> ApiResult<Json<ConnectionTest>> {
    Ok(Json(integrations::test_connection(caller.store()).await?))
}

/// Turns a group's Higher Logic sync on or off.
#[derive(Deserialize, ToSchema)]
pub struct GroupSyncInput {
    pub sync_enabled: bool,
    /// Needed to turn sync on the first time. Once sync was saved on, a different type is
    /// refused with 409.
    pub group_type: Option<GroupType>,
    /// A new key for the group (its Legacy Group Key in Higher Logic), the way out when
    /// Higher Logic says the key belongs to a group made there. Allowed while the group never
    /// synced; afterwards 409.
    pub group_key: Option<String>,
}

#[utoipa::path(get, path = "/groups/{key}/sync", params(Key<Group>),
    responses((status = 200, body = GroupSync)))]
pub(super) async fn show_group_sync(caller: Caller, key: Key<Group>) -> ApiResult<Json<GroupSync>> {
    Ok(Json(views::group_sync_view(caller.store(), &key).await?))
}

/// Turning sync on queues the group's first full sync; turning it off pushes its contacts
/// without it. Changing the type once sync was saved on answers 409. With `group_key`, the
/// group is re-keyed first (see the field).
#[utoipa::path(put, path = "/groups/{key}/sync", request_body = GroupSyncInput, params(Key<Group>),
    responses((status = 200, body = GroupSync)))]
pub(super) async fn update_group_sync(
    caller: Caller,
    key: Key<Group>,
    ApiJson(input): ApiJson<GroupSyncInput>,
) -> ApiResult<Json<GroupSync>> {
    let group = match input.group_key.as_deref() {
        Some(new_key) => {
            caller
                .store()
                .hl_rekey_group(&caller.actor(), &key, new_key)
                .await?
        }
        None => caller.store().group(&key).await?,
    };
    caller
        .store()
        .set_group_sync(
            &caller.actor(),
            &group.group_key,
            input.sync_enabled,
            input.group_type,
        )
        .await?;
    Ok(Json(
        views::group_sync_view(caller.store(), &group.group_key).await?,
    ))
}

/// The sync overall: the pending count, the last error, and every synced group's status.
#[utoipa::path(get, path = "/sync/status",
    responses((status = 200, body = SyncStatus)))]
pub(super) async fn sync_status(caller: Caller) -> ApiResult<Json<SyncStatus>> {
    Ok(Json(caller.store().hl_status().await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefusedQuery {
    /// How many to list (1 to 1000; 100 when absent).
    #[param(minimum = 1, maximum = 1000)]
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
#[utoipa::path(get, path = "/sync/refused", params(RefusedQuery),
    responses((status = 200, body = RefusedContacts)))]
pub(super) async fn refused_contacts(
    caller: Caller,
    ApiQuery(q): ApiQuery<RefusedQuery>,
) -> ApiResult<Json<RefusedContacts>> {
    let limit = page_limit(q.limit, 100, 1000)?;
    Ok(Json(RefusedContacts {
        total: caller.store().hl_parked_count().await?,
        contacts: caller.store().hl_parked(limit).await?,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Requeued {
    /// How many refused contacts are back in the queue.
    pub requeued: u64,
}

/// Sends every refused contact again (once the cause is fixed).
#[utoipa::path(post, path = "/sync/retry-refused",
    responses((status = 200, body = Requeued)))]
pub(super) async fn retry_refused(caller: Caller) -> ApiResult<Json<Requeued>> {
    Ok(Json(Requeued {
        requeued: caller.store().hl_retry_parked().await?,
    }))
}
