//! Request parameters as OAuth reads them: each at most once (RFC 6749 3.1, 3.2), an empty
//! value the same as an absent one.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Query, Request};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Form;

/// Form or query parameters, each name at most once.
#[derive(Debug, Clone, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
    /// Names that came more than once.
    duplicates: Vec<String>,
}

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Params {
        let mut params = Params::default();
        for (name, value) in pairs {
            match params.values.entry(name) {
                std::collections::btree_map::Entry::Occupied(e) => {
                    if !params.duplicates.contains(e.key()) {
                        params.duplicates.push(e.key().clone());
                    }
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(value);
                }
            }
        }
        params
    }

    /// The value of `name`, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The first parameter (of `names`) that came more than once.
    pub fn duplicated(&self) -> Option<&str> {
        self.duplicates.first().map(String::as_str)
    }

    /// Whether `name` came more than once.
    pub fn is_duplicated(&self, name: &str) -> bool {
        self.duplicates.iter().any(|d| d == name)
    }

    /// Takes a form's own field out of the parameters (what is left is the request it carries):
    /// its value, empty when absent.
    pub fn take(&mut self, name: &str) -> String {
        self.duplicates.retain(|d| d != name);
        self.values.remove(name).unwrap_or_default()
    }

    /// The parameters among `names` that are present, in that order (to carry a request
    /// through a form).
    pub fn subset(&self, names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .filter_map(|n| self.get(n).map(|v| (n.to_string(), v.to_string())))
            .collect()
    }
}

/// `path` with `carried` (an authorization request carried along) as its query; the path alone
/// when nothing is carried.
pub fn address(path: &str, carried: &[(String, String)]) -> String {
    if carried.is_empty() {
        return path.to_string();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(carried)
        .finish();
    format!("{path}?{query}")
}

/// The parameters of an endpoint that takes them in the query (GET) or in a form-encoded body
/// (POST), as `/authorize` (OIDC Core 3.1.2.1) and `/logout` do.
impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Params, Response> {
        let pairs = if req.method() == Method::GET || req.method() == Method::HEAD {
            let Query(pairs) = Query::<Vec<(String, String)>>::from_request(req, state)
                .await
                .map_err(IntoResponse::into_response)?;
            pairs
        } else {
            let Form(pairs) = Form::<Vec<(String, String)>>::from_request(req, state)
                .await
                .map_err(IntoResponse::into_response)?;
            pairs
        };
        Ok(Params::new(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_empty_values() {
        let p = Params::new(vec![
            ("a".into(), "1".into()),
            ("b".into(), "".into()),
            ("a".into(), "2".into()),
        ]);
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.duplicated(), Some("a"));
        assert!(p.is_duplicated("a") && !p.is_duplicated("b"));
    }
}
