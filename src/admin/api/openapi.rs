//! The OpenAPI document's frame: title, the token security scheme, the schemas no operation
//! names directly, and what every operation shares (the token, the error shape). The operations
//! come from the routes themselves (see [`super::routes`]).

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{ErrorBody, ErrorDetail, ProblemDetail};
use crate::custom_fields::{AppliesTo, FieldType};
use crate::higher_logic::GroupType;

/// Where the API is nested; the routes are declared relative to it.
const BASE_PATH: &str = "/admin/api";

struct TokenAuth;

impl Modify for TokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An admin API token (gga_...), created by an administrator; \
                         read tokens may only GET",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Guildgate admin API", description = "What the admin console does, as JSON."),
    components(schemas(ErrorBody, ErrorDetail, ProblemDetail, FieldType, AppliesTo, GroupType)),
    modifiers(&TokenAuth),
)]
struct ApiDoc;

/// The whole document: the frame with the routes' operations under [`BASE_PATH`].
pub(super) fn document(routes: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi().nest(BASE_PATH, routes);
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ];
        operations
            .into_iter()
            .flatten()
            .for_each(shared_by_every_operation);
    }
    doc
}

/// Every operation takes a token and answers its errors in the one shape: said once here
/// rather than on each route.
fn shared_by_every_operation(operation: &mut Operation) {
    operation.tags.get_or_insert_with(Vec::new);
    operation
        .security
        .get_or_insert_with(Vec::new)
        .push(SecurityRequirement::new("token", Vec::<String>::new()));
    let errors = ResponseBuilder::new()
        .description("")
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorBody"))),
        )
        .build();
    operation
        .responses
        .responses
        .insert("4XX".to_string(), errors.into());
}

#[cfg(test)]
mod tests {
    use super::super::openapi_document;

    #[test]
    fn openapi_document_lists_every_route() {
        let doc = openapi_document();
        let paths: Vec<&String> = doc.paths.paths.keys().collect();
        for p in [
            "/admin/api/members",
            "/admin/api/members/{key}",
            "/admin/api/fields/{key}",
            "/admin/api/groups/preview",
            "/admin/api/audit",
            "/admin/api/integrations/higher-logic",
            "/admin/api/integrations/higher-logic/test",
            "/admin/api/groups/{key}/sync",
            "/admin/api/sync/status",
            "/admin/api/sync/refused",
            "/admin/api/sync/retry-refused",
        ] {
            assert!(paths.iter().any(|x| x.as_str() == p), "{p} missing");
        }
    }

    #[test]
    fn openapi_document_resolves_every_schema_reference() {
        let doc = serde_json::to_value(openapi_document()).expect("document as JSON");
        let schemas = doc["components"]["schemas"]
            .as_object()
            .expect("component schemas");
        for name in [
            "MaskedSettings",
            "HigherLogicSettingsInput",
            "ConnectionTest",
            "GroupSync",
            "GroupSyncInput",
            "GroupStatus",
            "GroupType",
            "SyncStatus",
        ] {
            assert!(schemas.contains_key(name), "{name} missing");
        }
        fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, v) in m {
                        match (k.as_str(), v.as_str()) {
                            ("$ref", Some(r)) => out.push(r.to_string()),
                            _ => refs(v, out),
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected reference {r}"));
            assert!(schemas.contains_key(name), "{r} does not resolve");
        }
    }

    /// A part of an `allOf` that forbids other properties (`additionalProperties: false`)
    /// forbids the other parts' too: no object could match. A flattened type (a stored member
    /// is its data and more) must leave them open.
    #[test]
    fn no_composed_schema_forbids_its_other_parts() {
        let doc = serde_json::to_value(openapi_document()).expect("document as JSON");
        let schemas = &doc["components"]["schemas"];
        fn check(v: &serde_json::Value, schemas: &serde_json::Value, at: &str) {
            match v {
                serde_json::Value::Object(m) => {
                    for part in m
                        .get("allOf")
                        .and_then(|a| a.as_array())
                        .into_iter()
                        .flatten()
                    {
                        let resolved = match part["$ref"].as_str() {
                            Some(r) => &schemas[r.trim_start_matches("#/components/schemas/")],
                            None => part,
                        };
                        let closed = |s: &serde_json::Value| {
                            s["additionalProperties"] == serde_json::Value::Bool(false)
                        };
                        let inlined = resolved["oneOf"].as_array().into_iter().flatten();
                        assert!(
                            !closed(resolved) && !inlined.clone().any(closed),
                            "{at}: a part of allOf forbids additional properties: {part}"
                        );
                    }
                    for (k, v) in m {
                        check(v, schemas, &format!("{at}/{k}"));
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| check(v, schemas, at)),
                _ => {}
            }
        }
        check(&doc, schemas, "");
    }
}
