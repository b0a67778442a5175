//! The bulk import, for an AMS's nightly full export: up to [`MAX_MEMBERS`] members per
//! request, as JSON (`{"members": [...]}`) or in the CSV format of `guildgate import`, all or
//! nothing, with `dry_run`. The same checks and writes as the CSV import and the one-member
//! writes ([`Store::import_rows`]).

use axum::body::Body;
use axum::extract::Query;
use axum::http::{header, HeaderMap, Uri};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiResult, Caller};
use crate::import::{parse_csv, rows_from_json, Batch, Expect, ImportReport, JsonShape};

/// Members per request, at most.
pub const MAX_MEMBERS: usize = 10_000;

/// `[admin_api]` in the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminApiSettings {
    /// The largest body `POST /admin/api/members/import` reads, in bytes.
    pub import_max_bytes: usize,
}

impl Default for AdminApiSettings {
    fn default() -> Self {
        AdminApiSettings {
            import_max_bytes: 50 * 1024 * 1024,
        }
    }
}

impl AdminApiSettings {
    pub fn validate(&self) -> Result<(), (&'static str, String, String)> {
        if self.import_max_bytes < 1024 {
            return Err((
                "admin_api.import_max_bytes",
                self.import_max_bytes.to_string(),
                "must be at least 1024".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Check everything and count what would change, writing nothing.
    pub dry_run: Option<bool>,
}

/// The JSON body: the members, each as `POST /members` takes one.
#[allow(dead_code)] // Read as JSON by `rows_from_json`; this type documents it.
#[derive(Deserialize, ToSchema)]
pub struct ImportMembers {
    pub members: Vec<super::member_writes::MemberInput>,
}

#[derive(Serialize, ToSchema)]
pub struct ImportAnswer {
    /// True when nothing was written.
    pub dry_run: bool,
    #[serde(flatten)]
    pub report: ImportReport,
}

/// Creates or updates every member sent, or none: any bad member refuses the whole request
/// and `problems` in the error lists each one by row and field. Only the fields (or columns)
/// sent change; an account is created, or its login changed, by `account_email`.
#[utoipa::path(post, path = "/members/import", params(ImportQuery),
    request_body(content(
        (ImportMembers = "application/json"),
        (String = "text/csv", example = "member_key,first_name,last_name,account_email\nM-1,Ada,Lovelace,ada@example.org\n")
    )),
    responses((status = 200, body = ImportAnswer)))]
pub(super) async fn import_members(
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ImportAnswer>> {
    let limit = caller.state.settings.admin_api.import_max_bytes;
    let too_large = || {
        ApiError::TooLarge(format!(
            "the body is larger than {limit} bytes (admin_api.import_max_bytes); \
             send the members in several requests"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    // The body is read before anything else is checked, so that a refusal reaches a client
    // that is still sending it.
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    let Query(query) = Query::<ImportQuery>::try_from_uri(&uri)?;
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let batch = match media_type.as_str() {
        "application/json" => json_batch(&bytes)?,
        "text/csv" => parse_csv(bytes.as_ref()),
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "send the members as application/json or text/csv, not {other:?}"
            )))
        }
    };
    if batch.rows.len() > MAX_MEMBERS {
        return Err(ApiError::BadRequest(format!(
            "{} members in one request; at most {MAX_MEMBERS}: send the rest in further requests",
            batch.rows.len()
        )));
    }
    let dry_run = query.dry_run.unwrap_or(false);
    let report = caller
        .store()
        .import_rows(&caller.actor(), batch, dry_run, Expect::Any)
        .await?;
    Ok(Json(ImportAnswer { dry_run, report }))
}

/// The members of a JSON body `{"members": [...]}`.
fn json_batch(bytes: &[u8]) -> ApiResult<Batch> {
    let body: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(mut object) = body else {
        return Err(ApiError::BadRequest(
            "the body is an object: {\"members\": [...]}".into(),
        ));
    };
    if let Some(other) = object.keys().find(|k| *k != "members") {
        return Err(ApiError::BadRequest(format!(
            "unknown field {other:?}: the body is {{\"members\": [...]}}"
        )));
    }
    match object.remove("members") {
        Some(Value::Array(members)) if members.len() > MAX_MEMBERS => {
            Err(ApiError::BadRequest(format!(
                "{} members in one request; at most {MAX_MEMBERS}: send the rest in further requests",
                members.len()
            )))
        }
        Some(Value::Array(members)) => Ok(rows_from_json(&members, None, JsonShape::Partial)),
        _ => Err(ApiError::BadRequest(
            "members must be a list of members: {\"members\": [...]}".into(),
        )),
    }
}
