//! The members as a CSV file in the import's format: all of them, those a search finds, or
//! one group's. Importing the file again changes nothing.

use axum::extract::Query;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::admin::console::{Admin, ConsoleResult};
use crate::import::ExportSelection;

#[derive(Deserialize)]
pub(super) struct ExportQuery {
    /// A search of the members list.
    q: Option<String>,
    /// A group's key.
    group: Option<String>,
}

pub(super) async fn export(
    admin: Admin,
    Query(query): Query<ExportQuery>,
) -> ConsoleResult<Response> {
    let (selection, name) = match (query.group, query.q) {
        (Some(g), _) if !g.trim().is_empty() => {
            let name = format!("members-{}.csv", file_name_part(&g));
            (ExportSelection::Group(g), name)
        }
        (_, Some(q)) if !q.trim().is_empty() => {
            (ExportSelection::Search(q), "members-search.csv".to_string())
        }
        _ => (ExportSelection::All, "members.csv".to_string()),
    };
    let csv = admin.store().export_members_csv(&selection).await?;
    let disposition = format!("attachment; filename=\"{name}\"");
    let mut response = csv.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// A group key as a file name's part: letters, digits, `-` and `_` only.
fn file_name_part(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_names_hold_no_quotes_or_paths() {
        assert_eq!(super::file_name_part("a\"b/../c"), "a_b____c");
    }
}
