//! Members as JSON objects: the admin API's body for one member and for the bulk import. An
//! object holds the import's columns by the same names (`member_key`, the member fields,
//! `account_email`) and the custom fields as `"fields": {"<key>": value}`.

use serde_json::{Map, Value};

use super::{Batch, Row, RowProblem, Source, ACCOUNT_COLUMN, KEY_COLUMN};
use crate::members::{check_member_key, MEMBER_FIELDS};

/// The name of the custom fields' object in a JSON member.
pub const FIELDS_KEY: &str = "fields";

/// How a JSON member is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonShape {
    /// Only what is given changes; `null` or `""` empties a field (create, patch, bulk import).
    Partial,
    /// The full record: a member or custom field left out is emptied; a member's kind and
    /// login stay as they are when left out (create or replace).
    Full,
}

/// Reads JSON members into rows; their positions count from 1. `path_key` is the member key
/// the URL names, for a one-member write: the body may leave `member_key` out, or repeat it.
pub fn rows_from_json(members: &[Value], path_key: Option<&str>, shape: JsonShape) -> Batch {
    let mut batch = Batch::default();
    for (i, value) in members.iter().enumerate() {
        let line = i as u64 + 1;
        let mut problems = Vec::new();
        let row = match value.as_object() {
            Some(object) => row(line, object, path_key, shape, &mut problems),
            None => {
                problems.push((None, "a member is a JSON object".to_string()));
                None
            }
        };
        batch.problems.extend(
            problems
                .into_iter()
                .map(|(field, message)| RowProblem::new(line, field.as_deref(), message)),
        );
        batch.rows.extend(row);
    }
    batch
}

type Problems = Vec<(Option<String>, String)>;

fn row(
    line: u64,
    object: &Map<String, Value>,
    path_key: Option<&str>,
    shape: JsonShape,
    problems: &mut Problems,
) -> Option<Row> {
    let mut bad = |field: &str, message: String| problems.push((Some(field.to_string()), message));
    // `null` is no key, as for the other fields: the path may name the member.
    let body_key = match object.get(KEY_COLUMN) {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.trim().to_string()),
        Some(_) => {
            bad(KEY_COLUMN, "member_key must be text".into());
            return None;
        }
    };
    let key = match (path_key, body_key) {
        (Some(path), Some(body)) if path != body => {
            let message = format!("member_key {body:?} differs from {path:?} in the path");
            bad(KEY_COLUMN, message);
            return None;
        }
        (Some(path), _) => path.to_string(),
        (None, Some(body)) => body,
        (None, None) => {
            bad(KEY_COLUMN, "member_key is required".into());
            return None;
        }
    };
    if let Err(e) = check_member_key(&key) {
        bad(KEY_COLUMN, e);
        return None;
    }
    let mut row = Row::new(line, key, Source::Json, shape == JsonShape::Full);
    for (name, value) in object {
        match name.as_str() {
            KEY_COLUMN => {}
            ACCOUNT_COLUMN => match text(value) {
                Some(login) => {
                    if let Some(problem) = row.set_login(&login) {
                        bad(name, problem);
                    }
                }
                None => bad(name, "account_email must be text".into()),
            },
            FIELDS_KEY => match value {
                Value::Object(fields) => {
                    for (field_key, value) in fields {
                        match field_text(value) {
                            Some(raw) => row.fields.push((field_key.clone(), raw)),
                            None => bad(
                                &format!("{FIELDS_KEY}.{field_key}"),
                                format!(
                                    "the value of field {field_key} must be text, a number, \
                                     true, false or null"
                                ),
                            ),
                        }
                    }
                }
                Value::Null => {}
                _ => bad(
                    name,
                    "fields must be an object of field key to value".into(),
                ),
            },
            column if MEMBER_FIELDS.contains(&column) => match text(value) {
                Some(v) => {
                    if let Some(problem) = row.set_column(column, v) {
                        bad(column, problem);
                    }
                }
                None => bad(column, format!("{column} must be text or null")),
            },
            other => bad(
                other,
                format!("unknown field {other:?} (custom fields go in \"fields\")"),
            ),
        }
    }
    Some(row)
}

/// A member field's text: a string, or `null` for none.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// A custom field's raw value: text, a number or a boolean as written, `null` for none.
fn field_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => text(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::members::Kind;
    use serde_json::json;

    fn read(members: Value, path_key: Option<&str>) -> Batch {
        let list = match members {
            Value::Array(list) => list,
            one => vec![one],
        };
        rows_from_json(&list, path_key, JsonShape::Partial)
    }

    #[test]
    fn a_member_reads_like_a_csv_row() {
        let b = read(
            json!({"member_key": "P1", "kind": "company", "name": "Acme",
                   "account_email": " Info@Acme.Example ", "fields": {"size": 12, "listed": true}}),
            None,
        );
        assert!(b.problems.is_empty(), "{:?}", b.problems);
        let row = &b.rows[0];
        assert_eq!((row.key.as_str(), row.kind), ("P1", Kind::Company));
        assert_eq!(row.account_email.as_deref(), Some("info@acme.example"));
        let mut fields = row.fields.clone();
        fields.sort();
        assert_eq!(
            fields,
            vec![
                ("listed".into(), "true".into()),
                ("size".into(), "12".into())
            ]
        );
    }

    #[test]
    fn every_problem_names_its_member_and_field() {
        let b = read(
            json!([
                {"member_key": "P1", "colour": "red", "first_name": 7},
                "text",
                {"first_name": "No key"},
                {"member_key": "P4", "fields": {"chapter": ["North"]}, "kind": "robot"},
            ]),
            None,
        );
        let mut named: Vec<(u64, Option<&str>)> = b
            .problems
            .iter()
            .map(|p| (p.line, p.field.as_deref()))
            .collect();
        named.sort();
        assert_eq!(
            named,
            vec![
                (1, Some("colour")),
                (1, Some("first_name")),
                (2, None),
                (3, Some("member_key")),
                (4, Some("fields.chapter")),
                (4, Some("kind")),
            ]
        );
    }

    #[test]
    fn the_path_names_the_member() {
        let b = read(json!({"first_name": "Ada"}), Some("P1"));
        assert_eq!(b.rows[0].key, "P1");
        let b = read(json!({"member_key": "P2", "first_name": "Ada"}), Some("P1"));
        assert!(b.rows.is_empty());
        assert!(
            b.problems[0].message.contains("differs"),
            "{:?}",
            b.problems
        );
    }

    #[test]
    fn a_null_key_is_no_key() {
        let b = read(json!({"member_key": null, "first_name": "Ada"}), Some("P1"));
        assert!(b.problems.is_empty(), "{:?}", b.problems);
        assert_eq!(b.rows[0].key, "P1");
        let b = read(json!({"member_key": null, "first_name": "Ada"}), None);
        assert_eq!(b.problems[0].message, "member_key is required");
        let b = read(json!({"member_key": 7}), Some("P1"));
        assert_eq!(b.problems[0].message, "member_key must be text");
    }
}
