//! Single sign-on: Higher Logic's technical worksheet.

use axum::extract::State;
use axum::Json;

use super::{ApiResult, Caller};
use crate::admin::sso::{self, Worksheet};
use crate::server::AppState;

/// Higher Logic's SSO technical worksheet, computed from the running configuration.
#[utoipa::path(get, path = "/worksheet",
    responses((status = 200, body = Worksheet)))]
pub(super) async fn worksheet(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Worksheet>> {
    Ok(Json(
        sso::worksheet(&state.store, &state.oidc.issuer).await?,
    ))
}
