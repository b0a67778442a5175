//! Custom fields: list, show, add, update.

use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiJson, ApiResult, Caller, Key};
use crate::custom_fields::{CustomField, FieldSpec, FieldUpdate};

#[derive(Serialize, ToSchema)]
pub struct FieldList {
    pub fields: Vec<CustomField>,
}

#[utoipa::path(get, path = "/fields",
    responses((status = 200, body = FieldList)))]
pub(super) async fn list_fields(caller: Caller) -> ApiResult<Json<FieldList>> {
    Ok(Json(FieldList {
        fields: caller.store().list_fields().await?,
    }))
}

#[utoipa::path(get, path = "/fields/{key}", params(Key<CustomField>),
    responses((status = 200, body = CustomField)))]
pub(super) async fn show_field(
    caller: Caller,
    key: Key<CustomField>,
) -> ApiResult<Json<CustomField>> {
    Ok(Json(caller.store().field(&key).await?))
}

#[utoipa::path(post, path = "/fields", request_body = FieldSpec,
    responses((status = 201, body = CustomField)))]
pub(super) async fn add_field(
    caller: Caller,
    ApiJson(spec): ApiJson<FieldSpec>,
) -> ApiResult<(StatusCode, Json<CustomField>)> {
    let field = caller.store().add_field(&caller.actor(), spec).await?;
    Ok((StatusCode::CREATED, Json(field)))
}

#[utoipa::path(patch, path = "/fields/{key}", request_body = FieldUpdate, params(Key<CustomField>),
    responses((status = 200, body = CustomField)))]
pub(super) async fn update_field(
    caller: Caller,
    key: Key<CustomField>,
    ApiJson(update): ApiJson<FieldUpdate>,
) -> ApiResult<Json<CustomField>> {
    Ok(Json(
        caller
            .store()
            .update_field(&caller.actor(), &key, update)
            .await?,
    ))
}
