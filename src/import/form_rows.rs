//! A member as the admin console's forms send it: the import's columns by the same names
//! (the member fields, `account_email`, `field.<key>` for a custom field), for one member whose
//! key the page names. The console holds a member to the import's rules by writing through
//! [`Store::import_rows`](crate::db::Store::import_rows) too.

use super::{Batch, Row, RowProblem, Source, ACCOUNT_COLUMN, FIELD_PREFIX, KEY_COLUMN};
use crate::members::{check_member_key, MEMBER_FIELDS};

/// Reads one member of a form into a batch of one row: only the columns sent change (an empty
/// value empties one), so the edit page leaves alone what it does not show, and the account
/// actions send `account_email` alone. An unknown column is a problem, as it is in a CSV
/// header; every problem is on line 1 and names its column.
pub fn row_from_form(key: &str, columns: &[(String, String)]) -> Batch {
    let mut batch = Batch::default();
    let mut bad = |field: &str, message: String| {
        batch
            .problems
            .push(RowProblem::new(1, Some(field), message))
    };
    let key = key.trim();
    if let Err(e) = check_member_key(key) {
        bad(KEY_COLUMN, e);
        return batch;
    }
    let mut row = Row::new(1, key.to_string(), Source::Form, false);
    for (column, value) in columns {
        let problem = if column == ACCOUNT_COLUMN {
            row.set_login(value)
        } else if let Some(field_key) = column.strip_prefix(FIELD_PREFIX) {
            row.fields.push((field_key.to_string(), value.clone()));
            None
        } else if MEMBER_FIELDS.contains(&column.as_str()) {
            row.set_column(column, value.clone())
        } else {
            Some(format!("unknown field {column:?}"))
        };
        if let Some(problem) = problem {
            bad(column, problem);
        }
    }
    batch.rows.push(row);
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::members::Kind;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_form_reads_like_a_csv_row() {
        let b = row_from_form(
            "C-1",
            &pairs(&[
                ("kind", "company"),
                ("name", "Acme"),
                ("account_email", " Info@Acme.Example"),
                ("field.size", "12"),
            ]),
        );
        assert!(b.problems.is_empty(), "{:?}", b.problems);
        let row = &b.rows[0];
        assert_eq!((row.key.as_str(), row.kind), ("C-1", Kind::Company));
        assert_eq!(row.account_email.as_deref(), Some("info@acme.example"));
        assert_eq!(row.fields, vec![("size".into(), "12".into())]);
    }

    #[test]
    fn problems_name_their_field() {
        let b = row_from_form(
            "P1",
            &pairs(&[("colour", "red"), ("kind", "robot"), ("account_email", "x")]),
        );
        let named: Vec<_> = b.problems.iter().map(|p| p.field.as_deref()).collect();
        assert_eq!(
            named,
            vec![Some("colour"), Some("kind"), Some("account_email")]
        );
        let b = row_from_form("bad key", &[]);
        assert!(b.rows.is_empty());
        assert_eq!(b.problems[0].field.as_deref(), Some("member_key"));
    }
}
