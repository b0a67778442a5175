//! Members written one at a time, for an AMS that sends each change as it happens: create,
//! change some fields, create or replace by key. Each goes through the import's checks and
//! writes ([`Store::import_rows`]), so a member is held to the same rules however it comes in,
//! and each change is in the change log (Higher Logic hears of it) under the token's name.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{ApiError, ApiJson, ApiResult, Caller, Key};
use crate::admin::views::{self, MemberView};
use crate::import::{rows_from_json, Expect, ImportReport, JsonShape};
use crate::members::{Member, MemberData};

/// A member as the API writes it: the import's columns by the same names, the custom fields
/// in `fields`. Every member field is text (`null` or `""` empties it); an unknown name is
/// refused.
#[allow(dead_code)] // Read as JSON by `rows_from_json`; this type documents it.
#[derive(Deserialize, ToSchema)]
pub struct MemberInput {
    /// The member's stable key (Higher Logic's LegacyContactKey, the OpenID `sub`): required
    /// to create with POST; on PATCH and PUT the path names it, and the body may repeat it.
    pub member_key: Option<String>,
    #[serde(flatten)]
    pub data: MemberData,
    /// The login of the member's user account: creates the account, or changes its login.
    /// Leaving it out (or `null`) leaves the account as it is.
    pub account_email: Option<String>,
    /// Custom-field values by field key (text, a number, true or false; `null` empties one),
    /// each checked against its field's type.
    #[schema(value_type = Option<Object>)]
    pub fields: Option<BTreeMap<String, Value>>,
}

#[utoipa::path(post, path = "/members", request_body = MemberInput,
    responses((status = 201, body = MemberView, description = "Created"),
        (status = 409, body = super::ErrorBody, description = "The member key is taken")))]
pub(super) async fn create_member(
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    let (_, view) = write(&caller, &body, None, JsonShape::Partial, Expect::New).await?;
    Ok((StatusCode::CREATED, view))
}

/// Changes the fields given (and only those); `null` or `""` empties one.
#[utoipa::path(patch, path = "/members/{key}", params(Key<Member>), request_body = MemberInput,
    responses((status = 200, body = MemberView)))]
pub(super) async fn patch_member(
    caller: Caller,
    key: Key<Member>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<MemberView>> {
    let (_, view) = write(
        &caller,
        &body,
        Some(&key),
        JsonShape::Partial,
        Expect::Existing,
    )
    .await?;
    Ok(view)
}

/// Creates the member, or replaces its record: what the body leaves out is emptied (custom
/// fields too), except the kind and the account. The same body again changes nothing and
/// writes nothing to the change log.
#[utoipa::path(put, path = "/members/{key}", params(Key<Member>), request_body = MemberInput,
    responses((status = 200, body = MemberView, description = "Replaced (or unchanged)"),
        (status = 201, body = MemberView, description = "Created")))]
pub(super) async fn put_member(
    caller: Caller,
    key: Key<Member>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    let (report, view) = write(&caller, &body, Some(&key), JsonShape::Full, Expect::Any).await?;
    let status = if report.created > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, view))
}

/// Writes one member through the import; answers the member as they now stand.
async fn write(
    caller: &Caller,
    body: &Value,
    path_key: Option<&str>,
    shape: JsonShape,
    expect: Expect,
) -> ApiResult<(ImportReport, Json<MemberView>)> {
    let batch = rows_from_json(std::slice::from_ref(body), path_key, shape);
    let key = batch.rows.first().map(|r| r.key().to_string());
    let report = caller
        .store()
        .import_rows(&caller.actor(), batch, false, expect)
        .await?;
    // A batch without its row was refused above, with the row's problems.
    let key = key.ok_or_else(|| ApiError::BadRequest("a member is a JSON object".into()))?;
    let view = views::member_view(caller.store(), &key).await?;
    Ok((report, Json(view)))
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::MemberInput;
    use crate::import::{ACCOUNT_COLUMN, KEY_COLUMN};
    use crate::members::{MemberData, MEMBER_FIELDS};

    /// The documented body is the one `rows_from_json` reads: the same names, no more.
    #[test]
    fn the_documented_body_names_what_is_read() {
        fn properties(schema: &serde_json::Value, out: &mut Vec<String>) {
            if let Some(p) = schema["properties"].as_object() {
                out.extend(p.keys().cloned());
            }
            for part in schema["allOf"].as_array().into_iter().flatten() {
                properties(part, out);
            }
        }
        let input = serde_json::to_value(MemberInput::schema()).expect("schema as JSON");
        assert!(
            input
                .to_string()
                .contains("#/components/schemas/MemberData"),
            "{input}"
        );
        let mut documented = Vec::new();
        properties(&input, &mut documented);
        let data = serde_json::to_value(MemberData::schema()).expect("schema as JSON");
        properties(&data, &mut documented);
        let mut read: Vec<String> = MEMBER_FIELDS.iter().map(|f| f.to_string()).collect();
        read.extend([KEY_COLUMN, ACCOUNT_COLUMN, crate::import::FIELDS_KEY].map(String::from));
        documented.sort();
        read.sort();
        assert_eq!(documented, read);
    }
}
