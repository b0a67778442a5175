//! The admin API tokens: who each belongs to, when it expires and when it was last used
//! (never a token's value; tokens are made in the console or on the command line).

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiResult, Caller};
use crate::admin::api_tokens::ApiToken;

#[derive(Serialize, ToSchema)]
pub struct ApiTokenList {
    pub tokens: Vec<ApiToken>,
}

/// Every token, oldest first. `owner` is the administrator's login e-mail (null: the server's
/// operator); times are milliseconds since the epoch.
#[utoipa::path(get, path = "/tokens", responses((status = 200, body = ApiTokenList)))]
pub(super) async fn list_tokens(caller: Caller) -> ApiResult<Json<ApiTokenList>> {
    let tokens = caller.store().list_api_tokens().await?;
    Ok(Json(ApiTokenList { tokens }))
}
