//! CSV imports run in the background, for the admin console: a file is uploaded, checked in a
//! dry run, then applied (in one transaction, by [`Store::import_rows_with_progress`]) or
//! cancelled. A large file takes longer than a browser waits for one answer, so each step runs
//! in a task of its own and the page asks how far it has come.
//!
//! The job lives in the database (`import_jobs`): the file between its dry run and Apply, the
//! state, the progress and the result, so that any instance can show the progress page and
//! apply the file. The instance running a step knows its progress row by row (in memory); on
//! PostgreSQL it also writes it to the job every second, for the other instances. (On SQLite
//! the import's transaction holds the one writer, so the other instances see the step, not
//! its rows, until it ends.) On PostgreSQL a job whose progress stops coming for 30 seconds
//! lost its instance (stopped or killed) and is shown as failed.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::{parse_csv, Expect, ImportError, ImportProgress, ImportReport, RowProblem};
use crate::db::{new_id, now_ms, Engine, Store, StoreError, StoreResult};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// The dry run is under way.
    Checking,
    /// The dry run found no problem: the file waits for Apply or Cancel.
    Checked,
    /// The dry run (or the apply, when the members changed meanwhile) found bad rows;
    /// nothing was written.
    Rejected,
    /// The file is being written.
    Applying,
    /// Written, in one transaction.
    Applied,
    /// A step stopped on an error (nothing was written).
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Checking => "checking",
            JobState::Checked => "checked",
            JobState::Rejected => "rejected",
            JobState::Applying => "applying",
            JobState::Applied => "applied",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> JobState {
        match s {
            "checking" => JobState::Checking,
            "checked" => JobState::Checked,
            "rejected" => JobState::Rejected,
            "applying" => JobState::Applying,
            "applied" => JobState::Applied,
            "cancelled" => JobState::Cancelled,
            _ => JobState::Failed,
        }
    }

    /// A step is under way: the page shows its progress.
    pub fn is_running(self) -> bool {
        matches!(self, JobState::Checking | JobState::Applying)
    }
}

/// A job as the console shows it (without its file).
#[derive(Debug, Clone)]
pub struct ImportJob {
    pub id: String,
    pub file_name: String,
    pub created_by: String,
    pub state: JobState,
    /// Steps done and in all (see [`ImportProgress`]); the total is 0 until the rows are read.
    pub done_steps: u64,
    pub total_steps: u64,
    pub report: Option<ImportReport>,
    pub problems: Vec<RowProblem>,
    pub message: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ImportJob {
    /// How far the running step has come, in per cent.
    pub fn percent(&self) -> u64 {
        match self.total_steps {
            0 => 0,
            total => (self.done_steps.min(total) * 100) / total,
        }
    }
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: String,
    file_name: String,
    created_by: String,
    state: String,
    done_steps: i64,
    total_steps: i64,
    report: Option<String>,
    problems: Option<String>,
    message: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const JOB_COLUMNS: &str = "id, file_name, created_by, state, done_steps, total_steps, report, \
    problems, message, created_at, updated_at";

/// Finished jobs are deleted this long after their last change.
const KEEP_FINISHED_MS: i64 = 24 * 3600 * 1000;

/// How often the running step writes its progress to the job (PostgreSQL).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// On PostgreSQL a running step writes its progress every [`PROGRESS_EVERY`]: a job silent
/// for this long lost the instance that ran it (stopped, or killed).
const STALE_AFTER_MS: i64 = 30_000;

const INTERRUPTED: &str = "interrupted: the instance running this step stopped before it \
    ended. An import is written all or nothing: the members list shows whether it was; \
    upload the file again if it was not";

/// The steps running in this process, by job id.
static RUNNING: LazyLock<Mutex<HashMap<String, Arc<ImportProgress>>>> =
    LazyLock::new(Mutex::default);

fn running_here(id: &str) -> Option<Arc<ImportProgress>> {
    RUNNING.lock().ok()?.get(id).cloned()
}

impl Store {
    /// Keeps the uploaded CSV file as a new job and starts its dry run in the background;
    /// the job's id. Deletes the jobs that finished more than a day ago.
    pub async fn start_import_job(
        &self,
        actor: &str,
        file_name: &str,
        csv: String,
    ) -> StoreResult<String> {
        if csv.contains('\0') {
            return Err(StoreError::invalid(
                "the file contains NUL characters: it is not a CSV text file",
            ));
        }
        let id = new_id();
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "DELETE FROM import_jobs WHERE updated_at < $1 \
             AND state NOT IN ('checking', 'applying')",
        )
        .bind(now - KEEP_FINISHED_MS)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO import_jobs (id, file_name, created_by, csv, state, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, 'checking', $5, $5)",
        )
        .bind(&id)
        .bind(file_name.chars().take(200).collect::<String>())
        .bind(actor)
        .bind(&csv)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        spawn_step(self.clone(), id.clone(), actor.to_string(), csv, true);
        Ok(id)
    }

    /// The job, with the progress of its running step (row by row when it runs here).
    pub async fn import_job(&self, id: &str) -> StoreResult<ImportJob> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM import_jobs WHERE id = $1");
        let row: JobRow = self.fetch_by_key(&sql, id, "import").await?;
        let mut state = JobState::parse(&row.state);
        let mut message = row.message;
        let (mut done_steps, mut total_steps) = (row.done_steps as u64, row.total_steps as u64);
        if state.is_running() {
            if let Some(progress) = running_here(id) {
                (done_steps, total_steps) = progress.steps();
            } else if self.engine() == Engine::Postgres
                && now_ms() - row.updated_at > STALE_AFTER_MS
                && self.interrupted(id, &row.state, row.updated_at).await?
            {
                state = JobState::Failed;
                message = Some(INTERRUPTED.to_string());
            }
        }
        Ok(ImportJob {
            id: row.id,
            file_name: row.file_name,
            created_by: row.created_by,
            state,
            done_steps,
            total_steps,
            report: from_json(row.report),
            problems: from_json(row.problems).unwrap_or_default(),
            message,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// Starts writing a checked job's file, in the background, as `actor` (the audit log and
    /// the change log name them). Only a checked job can be applied, and only once, whichever
    /// instance is asked.
    pub async fn apply_import_job(&self, actor: &str, id: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let claimed = sqlx::query(
            "UPDATE import_jobs SET state = 'applying', done_steps = 0, total_steps = 0, \
             updated_at = $2 WHERE id = $1 AND state = 'checked'",
        )
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            let job = self.import_job(id).await?;
            return Err(StoreError::Conflict(format!(
                "this import is {}: only a checked file can be applied",
                job.state.as_str()
            )));
        }
        let (csv,): (String,) = sqlx::query_as("SELECT csv FROM import_jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        spawn_step(self.clone(), id.to_string(), actor.to_string(), csv, false);
        Ok(())
    }

    /// Drops a job that is not running: its file is deleted, nothing is imported.
    pub async fn cancel_import_job(&self, id: &str) -> StoreResult<()> {
        let cancelled = sqlx::query(
            "UPDATE import_jobs SET state = 'cancelled', csv = '', updated_at = $2 \
             WHERE id = $1 AND state IN ('checked', 'rejected', 'failed')",
        )
        .bind(id)
        .bind(now_ms())
        .execute(self.pool())
        .await?
        .rows_affected();
        if cancelled == 0 {
            let job = self.import_job(id).await?;
            if job.state != JobState::Cancelled {
                return Err(StoreError::Conflict(format!(
                    "this import is {}: it can no longer be cancelled",
                    job.state.as_str()
                )));
            }
        }
        Ok(())
    }

    /// Writes what a step ended with; a step of a job cancelled meanwhile changes nothing.
    async fn finish_step(
        &self,
        id: &str,
        dry_run: bool,
        outcome: Result<ImportReport, ImportError>,
        progress: &ImportProgress,
    ) -> StoreResult<()> {
        let running = if dry_run { "checking" } else { "applying" };
        let (state, report, problems, message) = match outcome {
            Ok(report) => {
                let state = if dry_run { "checked" } else { "applied" };
                (state, Some(json(&report)), None, None)
            }
            Err(ImportError::Rejected(problems)) => ("rejected", None, Some(json(&problems)), None),
            Err(ImportError::Store(
                StoreError::Invalid(m) | StoreError::Conflict(m) | StoreError::NotFound(m),
            )) => ("failed", None, None, Some(m)),
            Err(ImportError::Store(e)) => {
                tracing::error!(error = %e, job = id, "CSV import step failed");
                let message = "the database refused the import; nothing was written \
                               (the server's log has the details)";
                ("failed", None, None, Some(message.to_string()))
            }
        };
        // The file is kept only while it may still be applied.
        let keep_file = state == "checked";
        sqlx::query(
            "UPDATE import_jobs SET state = $2, report = $3, problems = $4, message = $5, \
             done_steps = $9, total_steps = $10, \
             csv = CASE WHEN $6 = 1 THEN csv ELSE '' END, updated_at = $7 \
             WHERE id = $1 AND state = $8",
        )
        .bind(id)
        .bind(state)
        .bind(report)
        .bind(problems)
        .bind(message)
        .bind(i64::from(keep_file))
        .bind(now_ms())
        .bind(running)
        .bind(progress.steps().0 as i64)
        .bind(progress.steps().1 as i64)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Marks a running job whose runner stopped writing its progress as failed (unless it
    /// changed meanwhile); whether it did.
    async fn interrupted(&self, id: &str, state: &str, updated_at: i64) -> StoreResult<bool> {
        let marked = sqlx::query(
            "UPDATE import_jobs SET state = 'failed', message = $4, csv = '', updated_at = $5 \
             WHERE id = $1 AND state = $2 AND updated_at = $3",
        )
        .bind(id)
        .bind(state)
        .bind(updated_at)
        .bind(INTERRUPTED)
        .bind(now_ms())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(marked == 1)
    }

    /// Writes the running step's progress to its job, for the other instances.
    async fn record_progress(&self, id: &str, progress: &ImportProgress) -> StoreResult<()> {
        let (done, total) = progress.steps();
        sqlx::query(
            "UPDATE import_jobs SET done_steps = $2, total_steps = $3, updated_at = $4 \
             WHERE id = $1 AND state IN ('checking', 'applying')",
        )
        .bind(id)
        .bind(done as i64)
        .bind(total as i64)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

fn from_json<T: serde::de::DeserializeOwned>(text: Option<String>) -> Option<T> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Runs one step of a job (its dry run, or the import) in a task of its own: the request
/// that started it has long been answered when it ends.
fn spawn_step(store: Store, id: String, actor: String, csv: String, dry_run: bool) {
    let progress = Arc::new(ImportProgress::default());
    if let Ok(mut running) = RUNNING.lock() {
        running.insert(id.clone(), progress.clone());
    }
    tokio::spawn(async move {
        let ticker = (store.engine() == Engine::Postgres).then(|| {
            let (store, id, progress) = (store.clone(), id.clone(), progress.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(PROGRESS_EVERY).await;
                    if let Err(e) = store.record_progress(&id, &progress).await {
                        tracing::warn!(error = %e, job = %id, "cannot record import progress");
                    }
                }
            })
        });
        // Reading a large file is CPU work: off the request threads.
        let batch = tokio::task::spawn_blocking(move || parse_csv(csv.as_bytes())).await;
        let outcome = match batch {
            Ok(batch) => {
                store
                    .import_rows_with_progress(&actor, batch, dry_run, Expect::Any, &progress)
                    .await
            }
            Err(e) => Err(ImportError::Store(StoreError::Invalid(format!(
                "the file could not be read: {e}"
            )))),
        };
        if let Some(ticker) = ticker {
            ticker.abort();
            let _ = ticker.await;
        }
        if let Err(e) = store.finish_step(&id, dry_run, outcome, &progress).await {
            tracing::error!(error = %e, job = %id, "cannot record the end of a CSV import step");
        }
        if let Ok(mut running) = RUNNING.lock() {
            running.remove(&id);
        }
    });
}
