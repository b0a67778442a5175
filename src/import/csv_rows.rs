//! The CSV format of the import: a header naming the columns, one member per line.

use std::collections::HashSet;
use std::io::Read;

use super::{Batch, Row, RowProblem, Source, ACCOUNT_COLUMN, FIELD_PREFIX, KEY_COLUMN};
use crate::members::{self, check_member_key};

/// Reads a CSV file into rows, with every problem that needs no database.
pub fn parse_csv(input: impl Read) -> Batch {
    let mut problems = Vec::new();
    let rows = parse(input, &mut problems);
    Batch { rows, problems }
}

fn parse(input: impl Read, problems: &mut Vec<RowProblem>) -> Vec<Row> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::Headers)
        .from_reader(input);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            problems.push(RowProblem::new(
                1,
                None,
                format!("cannot read the header: {e}"),
            ));
            return Vec::new();
        }
    };
    let mut seen_columns = HashSet::new();
    for h in headers.iter() {
        if !seen_columns.insert(h) {
            problems.push(RowProblem::new(
                1,
                Some(h),
                format!("column {h:?} appears twice"),
            ));
        }
        let known = h == KEY_COLUMN
            || h == ACCOUNT_COLUMN
            || members::MEMBER_FIELDS.contains(&h)
            || h.strip_prefix(FIELD_PREFIX).is_some_and(|k| !k.is_empty());
        if !known {
            problems.push(RowProblem::new(
                1,
                Some(h),
                format!("unknown column {h:?} (custom fields are written field.<key>)"),
            ));
        }
    }
    let Some(key_index) = headers.iter().position(|h| h == KEY_COLUMN) else {
        problems.push(RowProblem::new(
            1,
            Some(KEY_COLUMN),
            "the header has no member_key column",
        ));
        return Vec::new();
    };
    if !problems.is_empty() {
        return Vec::new();
    }

    let mut rows = Vec::new();
    for result in reader.records() {
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("has {len} fields where the header has {expected_len}"),
                    csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_string(),
                    _ => format!("cannot be read: {e}"),
                };
                problems.push(RowProblem::new(line, None, message));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let mut bad = |field: &str, message: String| {
            problems.push(RowProblem::new(line, Some(field), message))
        };
        let key = record.get(key_index).unwrap_or_default().trim().to_string();
        if let Err(e) = check_member_key(&key) {
            bad(KEY_COLUMN, e);
            continue;
        }
        let mut row = Row::new(line, key, Source::Csv, false);
        for (column, value) in headers.iter().zip(record.iter()) {
            let problem = if column == KEY_COLUMN {
                None
            } else if column == ACCOUNT_COLUMN {
                row.set_login(value)
            } else if let Some(field_key) = column.strip_prefix(FIELD_PREFIX) {
                row.fields.push((field_key.to_string(), value.to_string()));
                None
            } else {
                row.set_column(column, value.to_string())
            };
            if let Some(problem) = problem {
                bad(column, problem);
            }
        }
        rows.push(row);
    }
    rows
}

/// The header of a file [`parse_csv`] reads, with the given custom fields.
pub fn csv_header(field_keys: &[&str]) -> Vec<String> {
    let mut header = vec![KEY_COLUMN.to_string()];
    header.extend(members::MEMBER_FIELDS.iter().map(|s| s.to_string()));
    header.push(ACCOUNT_COLUMN.to_string());
    header.extend(field_keys.iter().map(|k| format!("{FIELD_PREFIX}{k}")));
    header
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::drop_duplicates;
    use crate::members::Kind;

    fn problems_of(text: &str) -> Vec<RowProblem> {
        let Batch { rows, mut problems } = parse_csv(text.as_bytes());
        drop_duplicates(rows, &mut problems);
        problems.sort_by_key(|p| p.line);
        problems
    }

    #[test]
    fn good_file_parses() {
        let Batch { rows, problems } = parse_csv(
            "member_key,kind,first_name,name,account_email,field.chapter\n\
             p1,person,Ada,,ADA@example.org,North\nc1,company,,Acme,,\n"
                .as_bytes(),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].account_email.as_deref(), Some("ada@example.org"));
        assert_eq!(rows[1].kind, Kind::Company);
        assert_eq!(rows[1].line, 3);
    }

    #[test]
    fn header_problems() {
        let p = problems_of("member_key,colour,first_name,first_name\n");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].message.contains("colour"));
        assert_eq!(p[0].field.as_deref(), Some("colour"));
        assert!(p[1].message.contains("first_name"));
        let p = problems_of("first_name\nAda\n");
        assert!(p[0].message.contains("no member_key"));
    }

    #[test]
    fn every_bad_row_is_listed_with_its_line() {
        let p = problems_of(
            "member_key,first_name,account_email\n\
             p1,Ada,ada@example.org\n\
             p1,Bob,bob@example.org\n\
             p2,Cy,ada@example.org\n\
             p3,Di\n\
             bad key,Ed,\n\
             p4,Flo,not-an-email\n",
        );
        let lines: Vec<u64> = p.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7], "{p:?}");
        assert!(p[0].message.contains("first on line 2"));
        assert_eq!(p[1].field.as_deref(), Some("account_email"));
        assert!(p[2].message.contains("fields"));
        assert_eq!(p[3].field.as_deref(), Some("member_key"));
    }
}
