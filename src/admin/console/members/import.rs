//! The CSV import: upload a file (multipart, at most `admin_api.import_max_bytes`), watch its
//! dry run, read the report (rows to create, update and leave unchanged; every bad row with
//! its line and reason), then Apply the same file or Cancel it. Each step runs in the
//! background ([`crate::import::jobs`]); the job's page refreshes itself (a
//! `<meta http-equiv=refresh>`, no script) while a step runs, with a progress bar.

use askama::Template;
use axum::extract::multipart::{Field, Multipart, MultipartError};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;

use crate::admin::console::{urlencoding, Admin, Chrome, ConsoleResult, Shown};
use crate::db::{format_ms, StoreError};
use crate::groups::Group;
use crate::import::jobs::{ImportJob, JobState};
use crate::web::csrf::{self, CsrfForm};
use crate::web::pages;

/// Bad rows listed on the report page, at most (the count says how many there are).
const PROBLEMS_SHOWN: usize = 1000;

#[derive(Template)]
#[template(path = "admin/import.html")]
struct ImportPage {
    chrome: Chrome,
    /// The upload limit, in words.
    limit: String,
    /// For the export by group.
    groups: Vec<Group>,
}

fn limit_text(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MB", bytes / (1024 * 1024))
    } else {
        format!("{} KB", bytes / 1024)
    }
}

async fn import_form(admin: Admin, shown: Shown) -> ConsoleResult<Response> {
    let limit = limit_text(admin.state.settings.admin_api.import_max_bytes);
    let groups = admin.store().list_groups().await?;
    admin
        .page("members", shown, |chrome| ImportPage {
            chrome,
            limit,
            groups,
        })
        .await
}

pub(super) async fn import_page(admin: Admin) -> ConsoleResult<Response> {
    import_form(admin, Shown::ok()).await
}

/// What the upload's form sent.
#[derive(Default)]
struct Upload {
    csrf_token: String,
    file_name: String,
    file: Option<Vec<u8>>,
}

/// Why an upload was not taken: the file is too large (413), or the form is not one.
enum UploadError {
    TooLarge,
    Malformed(String),
}

impl From<MultipartError> for UploadError {
    fn from(e: MultipartError) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            UploadError::TooLarge
        } else {
            UploadError::Malformed(e.body_text())
        }
    }
}

async fn read_upload(mut multipart: Multipart) -> Result<Upload, UploadError> {
    let mut upload = Upload::default();
    while let Some(field) = multipart.next_field().await? {
        match field.name() {
            Some(csrf::FIELD) => upload.csrf_token = text(field).await?,
            Some("file") => {
                upload.file_name = field.file_name().unwrap_or("members.csv").to_string();
                upload.file = Some(field.bytes().await?.to_vec());
            }
            // Anything else is read and dropped (it still counts towards the limit).
            _ => {
                field.bytes().await?;
            }
        }
    }
    Ok(upload)
}

async fn text(field: Field<'_>) -> Result<String, UploadError> {
    Ok(field.text().await?)
}

/// Takes the uploaded file and starts its dry run; the job's page follows it.
pub(super) async fn upload(admin: Admin, multipart: Multipart) -> ConsoleResult<Response> {
    let limit = admin.state.settings.admin_api.import_max_bytes;
    let upload = match read_upload(multipart).await {
        Ok(upload) => upload,
        Err(UploadError::TooLarge) => {
            let message = format!(
                "The file is larger than {} (admin_api.import_max_bytes): nothing was imported. \
                 Split it into several files.",
                limit_text(limit)
            );
            return import_form(admin, Shown::failed(StatusCode::PAYLOAD_TOO_LARGE, message)).await;
        }
        Err(UploadError::Malformed(why)) => {
            let shown = Shown::failed(StatusCode::BAD_REQUEST, format!("No file read: {why}"));
            return import_form(admin, shown).await;
        }
    };
    csrf::verify(&admin.session, &upload.csrf_token).await?;
    let bytes = match upload.file {
        Some(bytes) if !bytes.is_empty() => bytes,
        _ => {
            let shown = Shown::failed(StatusCode::BAD_REQUEST, "Choose a CSV file to upload.");
            return import_form(admin, shown).await;
        }
    };
    let Ok(csv) = String::from_utf8(bytes) else {
        let shown = Shown::failed(
            StatusCode::BAD_REQUEST,
            "The file is not UTF-8 text: save it as \"CSV UTF-8\" and upload it again.",
        );
        return import_form(admin, shown).await;
    };
    match admin
        .store()
        .start_import_job(&admin.actor(), &upload.file_name, csv)
        .await
    {
        Ok(id) => super::super::done(&job_url(&id)),
        Err(StoreError::Invalid(message)) => {
            import_form(admin, Shown::failed(StatusCode::BAD_REQUEST, message)).await
        }
        Err(e) => Err(e.into()),
    }
}

fn job_url(id: &str) -> String {
    format!("/admin/import/{}", urlencoding(id))
}

#[derive(Template)]
#[template(path = "admin/import_job.html")]
struct JobPage {
    chrome: Chrome,
    job: ImportJob,
    started: String,
    /// The first [`PROBLEMS_SHOWN`] bad rows.
    problems_shown: usize,
}

pub(super) async fn job_page(admin: Admin, Path(id): Path<String>) -> ConsoleResult<Response> {
    job_page_shown(admin, &id, Shown::ok()).await
}

async fn job_page_shown(admin: Admin, id: &str, shown: Shown) -> ConsoleResult<Response> {
    let job = admin.store().import_job(id).await?;
    let started = format_ms(job.created_at);
    let problems_shown = job.problems.len().min(PROBLEMS_SHOWN);
    let running = job.state.is_running();
    let content = |chrome| JobPage {
        chrome,
        job,
        started,
        problems_shown,
    };
    if running {
        // While a step runs the page writes nothing, not even the session (taking the notice
        // would): on SQLite the import's transaction holds the one writer, and a page that
        // waited for it would fail instead of showing the progress.
        let Shown { status, error } = shown;
        let chrome = Chrome {
            section: "members",
            csrf_token: admin.csrf_token.clone(),
            notice: None,
            error,
        };
        return Ok(pages::render(status, &content(chrome)));
    }
    admin.page("members", shown, content).await
}

/// Writes the checked file, in the background, as the administrator who clicked.
pub(super) async fn apply(
    admin: Admin,
    Path(id): Path<String>,
    CsrfForm(()): CsrfForm<()>,
) -> ConsoleResult<Response> {
    match admin.store().apply_import_job(&admin.actor(), &id).await {
        Ok(()) => super::super::done(&job_url(&id)),
        Err(StoreError::Conflict(message)) => {
            job_page_shown(admin, &id, Shown::failed(StatusCode::CONFLICT, message)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Drops the file: nothing is imported.
pub(super) async fn cancel(
    admin: Admin,
    Path(id): Path<String>,
    CsrfForm(()): CsrfForm<()>,
) -> ConsoleResult<Response> {
    match admin.store().cancel_import_job(&id).await {
        Ok(()) => {
            admin
                .done("Import cancelled: nothing was imported.", "/admin/import")
                .await
        }
        Err(StoreError::Conflict(message)) => {
            job_page_shown(admin, &id, Shown::failed(StatusCode::CONFLICT, message)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The progress page refreshes itself this often, in seconds, while a step runs.
pub const REFRESH_SECS: u32 = 1;

impl JobPage {
    fn running(&self) -> bool {
        self.job.state.is_running()
    }

    fn state_words(&self) -> &'static str {
        match self.job.state {
            JobState::Checking => "Checking the file (dry run: nothing is written)…",
            JobState::Checked => "Checked: nothing is written until you apply it.",
            JobState::Rejected => "Not imported: the file has bad rows. Nothing was written.",
            JobState::Applying => "Importing…",
            JobState::Applied => "Imported, in one transaction.",
            JobState::Failed => "Failed: nothing was written.",
            JobState::Cancelled => "Cancelled: nothing was imported.",
        }
    }

    fn refresh_secs(&self) -> u32 {
        REFRESH_SECS
    }
}
