//! Writing members in bulk or one by one, all or nothing, with one set of checks for every way
//! in: the CSV file of `guildgate import` ([`parse_csv`]) and the admin API's JSON
//! ([`rows_from_json`]) both become [`Row`]s that [`Store::import_rows`] checks against the
//! database before writing any of them. A batch with any bad row writes nothing and every bad
//! row is reported with its line (or position) and field; importing the same rows again updates
//! members (keyed by `member_key`) instead of duplicating them, and writes nothing that is
//! already equal.

mod csv_rows;
mod export;
mod form_rows;
pub mod jobs;
mod json_rows;
mod snapshot;
mod write;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

pub use csv_rows::{csv_header, parse_csv};
pub use export::ExportSelection;
pub use form_rows::row_from_form;
pub use json_rows::{rows_from_json, JsonShape, FIELDS_KEY};

use crate::db::{new_id, Store, StoreError};
use crate::members::{check_email, Kind, MemberData};

/// Columns besides the member fields.
pub const KEY_COLUMN: &str = "member_key";
pub const ACCOUNT_COLUMN: &str = "account_email";
pub const FIELD_PREFIX: &str = "field.";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowProblem {
    /// The CSV line (1 is the header line), or the member's position in a JSON list (from 1).
    pub line: u64,
    /// The column or field the problem is about, when it is about one.
    pub field: Option<String>,
    pub message: String,
}

impl RowProblem {
    fn new(line: u64, field: Option<&str>, message: impl Into<String>) -> RowProblem {
        RowProblem {
            line,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }
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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub accounts_created: usize,
}

/// One member to write, as read from a CSV row or a JSON object.
#[derive(Debug)]
pub struct Row {
    line: u64,
    key: String,
    /// Each present member column with its value.
    columns: Vec<(String, String)>,
    account_email: Option<String>,
    /// (field key, raw value), for every custom field given.
    fields: Vec<(String, String)>,
    kind: Kind,
    source: Source,
    /// The row is the full record: what it leaves out is emptied (its kind kept).
    replace: bool,
}

/// Where a row came from, for the words of its problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Csv,
    Json,
    /// The admin console's member form.
    Form,
}

impl Source {
    /// How problems name a custom field: a CSV column `field.<key>`, or `fields.<key>` in JSON.
    fn field_prefix(self) -> &'static str {
        match self {
            Source::Csv | Source::Form => FIELD_PREFIX,
            Source::Json => "fields.",
        }
    }

    /// What a row's number counts.
    fn position(self) -> &'static str {
        match self {
            Source::Csv => "line",
            Source::Json | Source::Form => "member",
        }
    }
}

impl Row {
    fn new(line: u64, key: String, source: Source, replace: bool) -> Row {
        Row {
            line,
            key,
            columns: Vec::new(),
            account_email: None,
            fields: Vec::new(),
            kind: Kind::Person,
            source,
            replace,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Takes `raw` as the account's login (trimmed, in lower case; empty gives none); what is
    /// wrong with it, if anything.
    fn set_login(&mut self, raw: &str) -> Option<String> {
        let login = raw.trim().to_lowercase();
        if login.is_empty() {
            return None;
        }
        let problem = check_email(&login)
            .err()
            .map(|e| format!("{ACCOUNT_COLUMN}: {e}"));
        self.account_email = Some(login);
        problem
    }

    /// Takes the value of a member column (the `kind` also sets the row's kind); what is wrong
    /// with it, if anything.
    fn set_column(&mut self, column: &str, value: String) -> Option<String> {
        if column == "kind" {
            match Kind::parse(&value) {
                Some(kind) => self.kind = kind,
                None => return Some(format!("kind must be person or company, not {value:?}")),
            }
        }
        self.columns.push((column.to_string(), value));
        None
    }
}

/// Rows read from one input, with the problems found while reading them (rows with problems
/// of their own are left out; the others are still checked, so one report lists them all).
#[derive(Debug, Default)]
pub struct Batch {
    pub rows: Vec<Row>,
    pub problems: Vec<RowProblem>,
}

/// What the caller of [`Store::import_rows`] expects of the members it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Create or update, as each row's key finds.
    Any,
    /// Every member is new: an existing key is a conflict.
    New,
    /// Every member exists: an unknown key is not found.
    Existing,
}

/// How far an import has come, for a progress bar: every row is checked (one step), then,
/// unless it is a dry run, written (a second step). Read from another task while the import
/// runs.
#[derive(Debug, Default)]
pub struct ImportProgress {
    done: AtomicU64,
    total: AtomicU64,
}

impl ImportProgress {
    /// (steps done, steps in all); the total is 0 until the rows are read.
    pub fn steps(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }

    fn start(&self, total: usize) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total as u64, Ordering::Relaxed);
    }

    fn step(&self) {
        self.advance(1);
    }

    fn advance(&self, steps: usize) {
        self.done.fetch_add(steps as u64, Ordering::Relaxed);
    }
}

impl Store {
    /// Imports a CSV file (see the README for its columns).
    pub async fn import_csv(
        &self,
        actor: &str,
        input: impl Read,
        dry_run: bool,
    ) -> Result<ImportReport, ImportError> {
        self.import_rows(actor, parse_csv(input), dry_run, Expect::Any)
            .await
    }

    /// Checks every row against the batch and the database, then writes them all in one
    /// transaction, or none when any row has a problem; with `dry_run` only counts what would
    /// change.
    pub async fn import_rows(
        &self,
        actor: &str,
        batch: Batch,
        dry_run: bool,
        expect: Expect,
    ) -> Result<ImportReport, ImportError> {
        let progress = ImportProgress::default();
        self.import_rows_with_progress(actor, batch, dry_run, expect, &progress)
            .await
    }

    /// [`Store::import_rows`], counting its steps in `progress` as it goes.
    pub async fn import_rows_with_progress(
        &self,
        actor: &str,
        batch: Batch,
        dry_run: bool,
        expect: Expect,
        progress: &ImportProgress,
    ) -> Result<ImportReport, ImportError> {
        let Batch { rows, mut problems } = batch;
        let rows = drop_duplicates(rows, &mut problems);
        progress.start(rows.len() * if dry_run { 1 } else { 2 });
        let snapshot = snapshot::load(self, &rows).await?;
        for row in &rows {
            match (expect, snapshot.existing.contains_key(&row.key)) {
                (Expect::New, true) => {
                    return Err(StoreError::Conflict(format!(
                        "member {} exists already (PUT or PATCH changes it)",
                        row.key
                    ))
                    .into())
                }
                (Expect::Existing, false) => {
                    return Err(StoreError::NotFound(format!("member {}", row.key)).into())
                }
                _ => {}
            }
        }

        // Check every row against the batch and the database before writing anything.
        let batch_companies: HashSet<&str> = rows
            .iter()
            .filter(|r| r.kind == Kind::Company)
            .map(|r| r.key.as_str())
            .collect();
        let mut planned = Vec::with_capacity(rows.len());
        for row in &rows {
            progress.step();
            let mut bad = |field: Option<&str>, message: String| {
                problems.push(RowProblem::new(row.line, field, message))
            };
            if snapshot.operators.contains(&row.key) {
                let message = format!(
                    "{} is Guildgate's operator account, not a member; use another member_key",
                    row.key
                );
                bad(Some(KEY_COLUMN), message);
            }
            let current = snapshot.existing.get(&row.key);
            let mut data = match current {
                Some(m) if row.replace => MemberData {
                    kind: m.data.kind,
                    ..Default::default()
                },
                Some(m) => m.data.clone(),
                None => MemberData::default(),
            };
            for (column, value) in &row.columns {
                if value.contains('\0') {
                    bad(
                        Some(column),
                        format!("{column} must not contain NUL characters"),
                    );
                } else if let Err(e) = data.set(column, value) {
                    bad(Some(column), e);
                }
            }
            let data = data.normalized();
            for (field, message) in data.field_problems() {
                bad(Some(field), message);
            }
            if let Some(current) = current {
                if current.data.kind != data.kind {
                    let message = format!(
                        "{} is a {} already; a member's kind cannot change",
                        row.key, current.data.kind
                    );
                    bad(Some("kind"), message);
                }
            }
            if let Some(company) = data.company_key.as_deref() {
                let in_db = snapshot
                    .existing
                    .get(company)
                    .map(|c| c.data.kind == Kind::Company);
                match (in_db, batch_companies.contains(company)) {
                    (Some(true), _) | (None, true) => {}
                    (Some(false), _) => bad(
                        Some("company_key"),
                        format!("company_key {company:?} names a person"),
                    ),
                    (None, false) => bad(
                        Some("company_key"),
                        format!("company_key {company:?} names no company"),
                    ),
                }
            }
            if let Some(login) = &row.account_email {
                if snapshot.logins.get(login).is_some_and(|o| o != &row.key) {
                    bad(
                        Some(ACCOUNT_COLUMN),
                        format!("account_email {login} is the login of another member"),
                    );
                }
            }
            let mut field_values = Vec::new();
            for (field_key, raw) in &row.fields {
                let name = format!("{}{field_key}", row.source.field_prefix());
                let Some(field) = snapshot.fields.get(field_key) else {
                    bad(
                        Some(&name),
                        format!("there is no custom field {field_key:?}"),
                    );
                    continue;
                };
                if raw.trim().is_empty() {
                    field_values.push((field, None));
                    continue;
                }
                if raw.contains('\0') {
                    bad(
                        Some(&name),
                        format!("{name} must not contain NUL characters"),
                    );
                } else if !field.applies_to_kind(data.kind.as_str()) {
                    let message = format!("field {field_key} does not apply to a {}", data.kind);
                    bad(Some(&name), message);
                } else {
                    match field.check_value(raw) {
                        Ok(v) => field_values.push((field, Some(v))),
                        Err(e) => bad(Some(&name), e),
                    }
                }
            }
            if row.replace {
                // The full record: every custom field it leaves out is emptied.
                let given: HashSet<&str> = row.fields.iter().map(|(k, _)| k.as_str()).collect();
                let left_out = snapshot.fields.values();
                let left_out = left_out.filter(|f| !given.contains(f.field_key.as_str()));
                field_values.extend(left_out.map(|f| (f, None)));
            }
            planned.push((row, current, data, field_values));
        }
        if !problems.is_empty() {
            problems.sort_by_key(|p| p.line);
            return Err(ImportError::Rejected(problems));
        }

        // Count what changes, and write it unless this is a dry run: companies first, so that
        // people can point at companies of the same batch.
        planned.sort_by_key(|(row, _, data, _)| (data.kind != Kind::Company, row.line));
        let mut report = ImportReport {
            rows: planned.len(),
            ..Default::default()
        };
        // A new member's id is made here, so that people can name a company of the batch.
        let mut ids: HashMap<&str, String> = snapshot
            .existing
            .iter()
            .map(|(k, m)| (k.as_str(), m.id.clone()))
            .collect();
        let mut writes = Vec::with_capacity(if dry_run { 0 } else { planned.len() });
        for (row, current, data, field_values) in planned {
            let member_changed = current.is_none_or(|c| !c.data.changed_fields(&data).is_empty());
            let field_changes: Vec<_> = field_values
                .into_iter()
                .filter(|(field, value)| {
                    let old = current.and_then(|c| {
                        let key = (c.id.clone(), field.field_key.clone());
                        snapshot.values.get(&key)
                    });
                    old.map(String::as_str) != value.as_deref()
                })
                .collect();
            let has_account = current.is_some_and(|m| m.account_state.is_some());
            let login = row
                .account_email
                .as_deref()
                .filter(|l| !has_account || snapshot.logins.get(*l) != Some(&row.key));
            match (
                current,
                member_changed || !field_changes.is_empty() || login.is_some(),
            ) {
                (None, _) => report.created += 1,
                (Some(_), true) => report.updated += 1,
                (Some(_), false) => report.unchanged += 1,
            }
            if login.is_some() && !has_account {
                report.accounts_created += 1;
            }
            if dry_run {
                continue;
            }
            let id = match current {
                Some(current) => current.id.clone(),
                None => {
                    let id = new_id();
                    ids.insert(&row.key, id.clone());
                    id
                }
            };
            let company_id = data
                .company_key
                .as_deref()
                .and_then(|k| ids.get(k).cloned());
            writes.push(write::Write {
                key: &row.key,
                current,
                id,
                data,
                company_id,
                field_changes,
                login,
                has_account,
            });
        }
        if !dry_run {
            let mut tx = self.begin().await?;
            write::write_all(&mut tx, actor, &writes, progress).await?;
            tx.commit().await.map_err(StoreError::from)?;
        }
        Ok(report)
    }
}

/// Leaves out every row whose key came earlier in the batch, and reports it; a login given
/// twice is reported on its second row.
fn drop_duplicates(rows: Vec<Row>, problems: &mut Vec<RowProblem>) -> Vec<Row> {
    let mut keys: HashMap<String, u64> = HashMap::new();
    let mut logins: HashMap<String, u64> = HashMap::new();
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(first) = keys.insert(row.key.clone(), row.line) {
            let message = format!(
                "member_key {:?} appears again (first on {} {first})",
                row.key,
                row.source.position()
            );
            problems.push(RowProblem::new(row.line, Some(KEY_COLUMN), message));
            continue;
        }
        if let Some(login) = &row.account_email {
            if let Some(first) = logins.insert(login.clone(), row.line) {
                let message = format!(
                    "account_email {login} appears again (first on {} {first})",
                    row.source.position()
                );
                problems.push(RowProblem::new(row.line, Some(ACCOUNT_COLUMN), message));
            }
        }
        kept.push(row);
    }
    kept
}
