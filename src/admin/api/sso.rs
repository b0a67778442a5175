//! Single sign-on: Higher Logic's technical worksheet.

use axum::Json;

use super::{ApiResult, Caller};
use crate::admin::sso::{self, Worksheet};

/// Higher Logic's SSO technical worksheet, computed from the running configuration.
#[utoipa::path(get, path = "/worksheet",
    responses((status = 200, body = Worksheet)))]
pub(super) async fn worksheet(caller: Caller) -> ApiResult<Json<Worksheet>> {
    Ok(Json(
        sso::worksheet(caller.store(), &caller.state.oidc.issuer).await?,
    ))
}
