//! The admin API: what the console does, as JSON under `/admin/api/`, for scripts. Callers
//! authenticate with an admin API token (`Authorization: Bearer gga_...`); a read token may
//! only read. Every error has one shape: `{"error": {"status", "code", "message"}}`. Each
//! route is declared once, on its handler (`#[utoipa::path]`); the router and the OpenAPI
//! document at `/admin/api/openapi.json` are both built from those declarations.

mod audit;
mod fields;
mod groups;
mod higher_logic;
mod member_import;
mod member_writes;
mod members;
mod openapi;
mod sso;
mod tokens;

use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::admin::api_tokens::{ApiToken, Scope};
use crate::custom_fields::CustomField;
use crate::db::{Store, StoreError};
use crate::groups::Group;
use crate::import::{ImportError, RowProblem};
use crate::members::Member;
use crate::server::AppState;
use crate::web::headers::no_store;

pub use member_import::AdminApiSettings;

/// Errors of the admin API, each mapped to one status and code in [`IntoResponse`].
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("an admin API token is required: send Authorization: Bearer <token>")]
    Unauthenticated,
    #[error("this API token may only read")]
    ReadOnlyToken,
    /// Not for an API token to do, whatever its scope.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    /// Members refused by the import's checks: every problem, by row and field.
    #[error("{} problem(s); nothing was written: {}", .0.len(), first_problems(.0))]
    Rejected(Vec<RowProblem>),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("no such endpoint")]
    NoRoute,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The one error shape of the admin API.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub status: u16,
    /// A stable, machine-readable code: `unauthenticated`, `forbidden`, `bad_request`,
    /// `not_found`, `conflict`, `too_large`, `unsupported_media_type` or `internal`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// For members refused by their checks: every problem, by row and field (absent
    /// otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ProblemDetail>,
}

/// One problem of one member sent.
#[derive(Serialize, ToSchema)]
pub struct ProblemDetail {
    /// The member's position in the list sent (from 1; 1 for a one-member write), or its
    /// CSV line (the header is line 1).
    pub row: u64,
    /// The field (or CSV column) at fault, when the problem is about one; custom fields are
    /// named `fields.<key>` in JSON and `field.<key>` in CSV.
    pub field: Option<String>,
    pub message: String,
}

/// The first few problems, for the message of a refusal.
fn first_problems(problems: &[RowProblem]) -> String {
    let shown: Vec<String> = problems
        .iter()
        .take(3)
        .map(|p| match &p.field {
            Some(field) => format!("row {}, {field}: {}", p.line, p.message),
            None => format!("row {}: {}", p.line, p.message),
        })
        .collect();
    let more = problems.len().saturating_sub(shown.len());
    let more = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    format!("{}{more}", shown.join("; "))
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Rejected(problems) => ApiError::Rejected(problems),
            ImportError::Store(e) => ApiError::Store(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::ReadOnlyToken | ApiError::Forbidden(_) => {
                (StatusCode::FORBIDDEN, "forbidden")
            }
            ApiError::BadRequest(_)
            | ApiError::Rejected(_)
            | ApiError::Store(StoreError::Invalid(_)) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::NoRoute | ApiError::Store(StoreError::NotFound(_)) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            ApiError::Store(StoreError::Conflict(_)) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "admin API request failed");
            "internal error".to_string()
        } else {
            self.to_string()
        };
        let problems = match self {
            ApiError::Rejected(problems) => problems
                .into_iter()
                .map(|p| ProblemDetail {
                    row: p.line,
                    field: p.field,
                    message: p.message,
                })
                .collect(),
            _ => Vec::new(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                status: status.as_u16(),
                code: code.to_string(),
                message,
                problems,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"guildgate-admin\""),
            );
        }
        response
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// How many entries a page holds: `given`, from 1 to `max`, or `default` when not given.
fn page_limit(given: Option<i64>, default: i64, max: i64) -> ApiResult<i64> {
    let limit = given.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::BadRequest(format!("limit must be 1 to {max}")))
    }
}

/// `Json` whose rejections use the API's error shape. Text holding a NUL character, anywhere
/// in the body, is refused with where it is ([`nul_refused`]).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let Json(body) = Json::<Value>::from_request(request, state).await?;
        if let Some(at) = nul_at(&body, "the body") {
            return Err(nul_refused(&at));
        }
        T::deserialize(body).map(ApiJson).map_err(|e| {
            ApiError::BadRequest(format!(
                "Failed to deserialize the JSON body into the target type: {e}"
            ))
        })
    }
}

/// Text holding a NUL, at `at`: PostgreSQL cannot store one and SQLite would, so the API
/// refuses it in a body or a query on both engines alike. (Not in a path's key: refused before
/// the body is read, a large body's sender meets a closed connection instead of the answer.)
fn nul_refused(at: &str) -> ApiError {
    ApiError::BadRequest(format!("{at} must not contain NUL characters"))
}

/// Where the first text (a value or a name) holding a NUL is, `at` naming `value`.
fn nul_at(value: &Value, at: &str) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then(|| at.to_string()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_at(item, &format!("{at}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(name, item)| {
            if name.contains('\0') {
                return Some(format!("a name in {at}"));
            }
            let at = if at == "the body" {
                name.clone()
            } else {
                format!("{at}.{name}")
            };
            nul_at(item, &at)
        }),
        _ => None,
    }
}

/// `Query` whose rejections use the API's error shape; a NUL in it is refused, as in a body.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if crate::web::form_holds_nul(parts.uri.query().unwrap_or_default().as_bytes()) {
            return Err(nul_refused("the query"));
        }
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(value))
    }
}

/// `Path` whose rejections use the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(r: axum::extract::rejection::PathRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

/// The `{key}` of a route's path: the key of a member, a field or a group, as `K` says. One
/// extractor, and one declaration in the OpenAPI document, for every route that names one.
pub struct Key<K> {
    key: String,
    kind: PhantomData<K>,
}

/// What a [`Key`] names, in the words of its path parameter's description.
pub trait Keyed {
    const DESCRIPTION: &'static str;
}

impl Keyed for Member {
    const DESCRIPTION: &'static str = "The member key";
}

impl Keyed for CustomField {
    const DESCRIPTION: &'static str = "The field key";
}

impl Keyed for Group {
    const DESCRIPTION: &'static str = "The group key";
}

impl<K> Deref for Key<K> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.key
    }
}

impl<K: Send> FromRequestParts<AppState> for Key<K> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let ApiPath(key) = ApiPath::<String>::from_request_parts(parts, state).await?;
        Ok(Key {
            key,
            kind: PhantomData,
        })
    }
}

impl<K: Keyed> IntoParams for Key<K> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("key")
            .parameter_in(ParameterIn::Path)
            .description(Some(K::DESCRIPTION))
            .required(Required::True)
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build()]
    }
}

/// The caller of a request: an admin API token, checked for the scope the request needs, and
/// the application it calls (so that a handler needs no other extractor for either).
pub struct Caller {
    pub token: ApiToken,
    pub state: AppState,
}

impl Caller {
    /// How changes made through this token appear in the audit log.
    pub fn actor(&self) -> String {
        format!("api-token:{}", self.token.name)
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    fn require(&self, needed: Scope) -> ApiResult<()> {
        if self.token.scope().allows(needed) {
            Ok(())
        } else {
            Err(ApiError::ReadOnlyToken)
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(ApiError::Unauthenticated)?;
        let token = state
            .store
            .authenticate_api_token(secret)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        let caller = Caller {
            token,
            state: state.clone(),
        };
        // Reads need a read token; everything else changes something.
        let needed = if parts.method == axum::http::Method::GET {
            Scope::Read
        } else {
            Scope::Write
        };
        caller.require(needed)?;
        Ok(caller)
    }
}

/// Every route of the API, relative to `/admin/api`, with its OpenAPI operation.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            members::search_members,
            member_writes::create_member
        ))
        .routes(routes!(member_import::import_members))
        .routes(routes!(
            members::show_member,
            member_writes::patch_member,
            member_writes::put_member
        ))
        .routes(routes!(members::deactivate_member))
        .routes(routes!(members::reactivate_member))
        .routes(routes!(members::set_member_password))
        .routes(routes!(fields::list_fields, fields::add_field))
        .routes(routes!(fields::show_field, fields::update_field))
        .routes(routes!(groups::list_groups, groups::add_group))
        .routes(routes!(groups::preview_group))
        .routes(routes!(groups::show_group, groups::update_group))
        .routes(routes!(
            higher_logic::show_group_sync,
            higher_logic::update_group_sync
        ))
        .routes(routes!(
            higher_logic::higher_logic_settings,
            higher_logic::save_higher_logic_settings
        ))
        .routes(routes!(higher_logic::test_higher_logic))
        .routes(routes!(higher_logic::sync_status))
        .routes(routes!(higher_logic::refused_contacts))
        .routes(routes!(higher_logic::retry_refused))
        .routes(routes!(audit::audit_log))
        .routes(routes!(sso::worksheet))
        .routes(routes!(tokens::list_tokens))
}

/// The API's router, to nest at `/admin/api`.
pub fn router() -> Router<AppState> {
    let (router, paths) = routes().split_for_parts();
    let document = openapi::document(paths);
    router
        .route(
            "/openapi.json",
            get(move || async move { Json(document.clone()) }),
        )
        // Reads the body before answering, so a client still sending one is not cut off.
        .fallback(|_body: axum::body::Bytes| async { ApiError::NoRoute })
        .layer(no_store())
}

/// The OpenAPI document served at `/admin/api/openapi.json`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    openapi::document(routes().into_openapi())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::nul_at;

    #[test]
    fn a_nul_is_found_and_placed() {
        let at = |v| nul_at(&v, "the body");
        assert_eq!(at(json!({"name": "ok", "n": 1})), None);
        assert_eq!(at(json!("a\u{0}")), Some("the body".into()));
        assert_eq!(at(json!({"name": "a\u{0}b"})), Some("name".into()));
        assert_eq!(
            at(json!({"members": [{}, {"fields": {"x": "\u{0}"}}]})),
            Some("members[1].fields.x".into())
        );
        assert_eq!(at(json!({"x\u{0}": 1})), Some("a name in the body".into()));
    }
}
