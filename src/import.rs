//! CSV import of members and companies: all or nothing. A file with any bad row imports
//! nothing and every bad row is reported with its line number; importing the same file again
//! updates members (keyed by `member_key`) instead of duplicating them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Read;

use serde::Serialize;

use crate::accounts::{self, Role};
use crate::change_log::{Change, Event};
use crate::custom_fields::{self, CustomField};
use crate::db::{now_ms, Store, StoreError};
use crate::members::{self, check_email, check_member_key, Kind, Member, MemberFilter};

/// Columns besides the member fields.
pub const KEY_COLUMN: &str = "member_key";
pub const ACCOUNT_COLUMN: &str = "account_email";
pub const FIELD_PREFIX: &str = "field.";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    /// 1 is the header line.
    pub line: u64,
    pub message: String,
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file has {} problem(s); nothing was imported:\n{}", .0.len(), list(.0))]
    Rejected(Vec<RowProblem>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn list(problems: &[RowProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub accounts_created: usize,
}

/// One parsed row.
struct Row {
    line: u64,
    key: String,
    /// Each present member column with its value.
    columns: Vec<(String, String)>,
    account_email: Option<String>,
    /// (field key, raw value), for every `field.<key>` column.
    fields: Vec<(String, String)>,
    kind: Kind,
}

impl Store {
    /// Imports a CSV file (see the README for its columns).
    pub async fn import_csv(
        &self,
        actor: &str,
        input: impl Read,
        dry_run: bool,
    ) -> Result<ImportReport, ImportError> {
        let mut problems = Vec::new();
        // Rows with problems of their own are left out of `rows`; the others are still checked
        // against the database so that one report lists every bad row.
        let rows = parse(input, &mut problems);

        // What the database holds now, loaded once.
        let fields: HashMap<String, CustomField> = self
            .list_fields()
            .await?
            .into_iter()
            .map(|f| (f.field_key.clone(), f))
            .collect();
        let existing: HashMap<String, Member> = self
            .list_members(&MemberFilter::default())
            .await?
            .into_iter()
            .map(|m| (m.member_key.clone(), m))
            .collect();
        let logins: HashMap<String, String> = sqlx::query_as::<_, (String, String)>(
            "SELECT a.login_email, m.member_key FROM accounts a JOIN members m ON m.id = a.member_id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from)?
        .into_iter()
        .collect();
        let values: HashMap<(String, String), String> =
            sqlx::query_as::<_, (String, String, String)>(
                "SELECT v.member_id, f.field_key, v.value FROM custom_field_values v \
             JOIN custom_fields f ON f.id = v.field_id",
            )
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::from)?
            .into_iter()
            .map(|(m, f, v)| ((m, f), v))
            .collect();

        // Check every row against the file and the database before writing anything.
        let file_companies: HashSet<&str> = rows
            .iter()
            .filter(|r| r.kind == Kind::Company)
            .map(|r| r.key.as_str())
            .collect();
        let mut planned = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut row_problems = Vec::new();
            let current = existing.get(&row.key);
            let mut data = current.map(Member::data).unwrap_or_default();
            for (column, value) in &row.columns {
                if let Err(e) = data.set(column, value) {
                    row_problems.push(e);
                }
            }
            let data = data.normalized();
            row_problems.extend(data.problems());
            if let Some(current) = current {
                if current.kind != data.kind.as_str() {
                    row_problems.push(format!(
                        "{} is a {} already; a member's kind cannot change",
                        row.key, current.kind
                    ));
                }
            }
            if let Some(company) = data.company_key.as_deref() {
                let in_db = existing.get(company).map(|c| c.kind == "company");
                match (in_db, file_companies.contains(company)) {
                    (Some(true), _) | (None, true) => {}
                    (Some(false), _) => {
                        row_problems.push(format!("company_key {company:?} names a person"))
                    }
                    (None, false) => {
                        row_problems.push(format!("company_key {company:?} names no company"))
                    }
                }
            }
            if let Some(login) = &row.account_email {
                if let Some(owner) = logins.get(login) {
                    if owner != &row.key {
                        row_problems.push(format!(
                            "account_email {login} is the login of another member"
                        ));
                    }
                }
            }
            let mut field_values = Vec::new();
            for (field_key, raw) in &row.fields {
                let Some(field) = fields.get(field_key) else {
                    row_problems.push(format!("there is no custom field {field_key:?}"));
                    continue;
                };
                if raw.trim().is_empty() {
                    field_values.push((field, None));
                    continue;
                }
                if !field.applies_to_kind(data.kind.as_str()) {
                    row_problems.push(format!(
                        "field {field_key} does not apply to a {}",
                        data.kind
                    ));
                    continue;
                }
                match field.check_value(raw) {
                    Ok(v) => field_values.push((field, Some(v))),
                    Err(e) => row_problems.push(e),
                }
            }
            for message in row_problems {
                problems.push(RowProblem {
                    line: row.line,
                    message,
                });
            }
            planned.push((row, current, data, field_values));
        }
        if !problems.is_empty() {
            problems.sort_by_key(|p| p.line);
            return Err(ImportError::Rejected(problems));
        }

        // Write: companies first, so that people can point at companies of the same file.
        planned.sort_by_key(|(row, ..)| (row.kind != Kind::Company, row.line));
        let mut report = ImportReport {
            rows: planned.len(),
            ..Default::default()
        };
        let mut ids: HashMap<String, String> = existing
            .iter()
            .map(|(k, m)| (k.clone(), m.id.clone()))
            .collect();
        let mut tx = self.begin().await?;
        for (row, current, data, field_values) in planned {
            let company_id = data.company_key.as_ref().and_then(|k| ids.get(k).cloned());
            let (member_id, mut changed) = match current {
                Some(current) => {
                    let changed = members::update_member(
                        &mut tx,
                        actor,
                        current,
                        &data,
                        company_id.as_deref(),
                    )
                    .await?;
                    (current.id.clone(), changed)
                }
                None => {
                    let id = members::insert_member(
                        &mut tx,
                        actor,
                        &row.key,
                        &data,
                        company_id.as_deref(),
                    )
                    .await?;
                    ids.insert(row.key.clone(), id.clone());
                    (id, true)
                }
            };
            for (field, value) in field_values {
                let old = values.get(&(member_id.clone(), field.field_key.clone()));
                if old.map(String::as_str) != value.as_deref() {
                    custom_fields::write_value(&mut tx, actor, &member_id, field, value.as_deref())
                        .await?;
                    changed = true;
                }
            }
            if let Some(login) = &row.account_email {
                let has_account = current.is_some_and(|m| m.account_state.is_some());
                if !has_account {
                    accounts::create_account(&mut tx, actor, &member_id, login, Role::Member, None)
                        .await?;
                    report.accounts_created += 1;
                    changed = true;
                } else if logins.get(login) != Some(&row.key) {
                    change_login(&mut tx, actor, &member_id, login).await?;
                    changed = true;
                }
            }
            match (current.is_some(), changed) {
                (false, _) => report.created += 1,
                (true, true) => report.updated += 1,
                (true, false) => report.unchanged += 1,
            }
        }
        if dry_run {
            tx.rollback().await.map_err(StoreError::from)?;
        } else {
            tx.commit().await.map_err(StoreError::from)?;
        }
        Ok(report)
    }
}

async fn change_login(
    tx: &mut crate::db::Transaction,
    actor: &str,
    member_id: &str,
    login: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE accounts SET login_email = $1, updated_at = $2 WHERE member_id = $3")
        .bind(login)
        .bind(now_ms())
        .bind(member_id)
        .execute(&mut **tx)
        .await?;
    Change::new(actor, Event::AccountLoginChanged, member_id)
        .member(member_id)
        .record(tx)
        .await
}

/// Reads the file into rows, adding every problem that needs no database to `problems`.
fn parse(input: impl Read, problems: &mut Vec<RowProblem>) -> Vec<Row> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::Headers)
        .from_reader(input);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            problems.push(RowProblem {
                line: 1,
                message: format!("cannot read the header: {e}"),
            });
            return Vec::new();
        }
    };
    let mut seen_columns = HashSet::new();
    for h in headers.iter() {
        if !seen_columns.insert(h) {
            problems.push(RowProblem {
                line: 1,
                message: format!("column {h:?} appears twice"),
            });
        }
        let known = h == KEY_COLUMN
            || h == ACCOUNT_COLUMN
            || members::MEMBER_FIELDS.contains(&h)
            || h.strip_prefix(FIELD_PREFIX).is_some_and(|k| !k.is_empty());
        if !known {
            problems.push(RowProblem {
                line: 1,
                message: format!("unknown column {h:?} (custom fields are written field.<key>)"),
            });
        }
    }
    let Some(key_index) = headers.iter().position(|h| h == KEY_COLUMN) else {
        problems.push(RowProblem {
            line: 1,
            message: "the header has no member_key column".into(),
        });
        return Vec::new();
    };
    if !problems.is_empty() {
        return Vec::new();
    }

    let mut rows = Vec::new();
    let mut keys: HashMap<String, u64> = HashMap::new();
    let mut logins: HashMap<String, u64> = HashMap::new();
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
                problems.push(RowProblem { line, message });
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let mut bad = |message: String| problems.push(RowProblem { line, message });
        let key = record.get(key_index).unwrap_or_default().trim().to_string();
        if let Err(e) = check_member_key(&key) {
            bad(e);
            continue;
        }
        if let Some(first) = keys.insert(key.clone(), line) {
            bad(format!(
                "member_key {key:?} appears again (first on line {first})"
            ));
            continue;
        }
        let mut row = Row {
            line,
            key,
            columns: Vec::new(),
            account_email: None,
            fields: Vec::new(),
            kind: Kind::Person,
        };
        for (column, value) in headers.iter().zip(record.iter()) {
            if column == KEY_COLUMN {
                continue;
            } else if column == ACCOUNT_COLUMN {
                let login = value.trim().to_lowercase();
                if login.is_empty() {
                    continue;
                }
                if let Err(e) = check_email(&login) {
                    bad(format!("account_email: {e}"));
                } else if let Some(first) = logins.insert(login.clone(), line) {
                    bad(format!(
                        "account_email {login} appears again (first on line {first})"
                    ));
                }
                row.account_email = Some(login);
            } else if let Some(field_key) = column.strip_prefix(FIELD_PREFIX) {
                row.fields.push((field_key.to_string(), value.to_string()));
            } else {
                if column == "kind" {
                    match Kind::parse(value) {
                        Some(k) => row.kind = k,
                        None => bad(format!("kind must be person or company, not {value:?}")),
                    }
                }
                row.columns.push((column.to_string(), value.to_string()));
            }
        }
        rows.push(row);
    }
    rows
}

/// The header of a file [`Store::import_csv`] reads, with the given custom fields.
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

    fn problems_of(text: &str) -> Vec<RowProblem> {
        let mut problems = Vec::new();
        parse(text.as_bytes(), &mut problems);
        problems
    }

    #[test]
    fn good_file_parses() {
        let mut problems = Vec::new();
        let rows = parse(
            "member_key,kind,first_name,name,account_email,field.chapter\n\
             p1,person,Ada,,ADA@example.org,North\nc1,company,,Acme,,\n"
                .as_bytes(),
            &mut problems,
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
        assert!(p[2].message.contains("fields"));
    }
}
