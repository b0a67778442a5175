//! Test harness: a fresh database per test on each engine, the application in process
//! ([`TestApp`]) or as the real binary ([`Server`], [`cli`]), and the helpers the tests share.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use guildgate::db::Store;

pub mod app;
pub mod binary;
pub mod browser;
pub mod hl;
pub mod hl_double;
pub mod html;
pub mod oidc;
pub mod people;
pub mod two_factor;

pub use app::TestApp;
pub use binary::{api_token, cli, cli_err, cli_line, cli_ok, Server};

/// The variable `.ci/run` sets to the admin URL of the PostgreSQL server.
pub const POSTGRES_ENV: &str = "GUILDGATE_TEST_POSTGRES_URL";

#[derive(Clone, Copy, Debug)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A fresh, empty database, removed when dropped.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
    /// Extra environment for every binary this test starts (see [`TestDb::set_binary_env`]).
    binary_env: Mutex<Vec<(String, String)>>,
}

impl TestDb {
    /// `sqlite` or `postgres`, for names (the screenshot folders).
    pub fn engine_name(&self) -> &'static str {
        if self.url.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        }
    }

    pub async fn new(engine: Engine) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match engine {
            Engine::Sqlite => TestDb {
                url: format!("sqlite://{}", dir.path().join("guildgate.db").display()),
                dir,
                postgres: None,
                binary_env: Mutex::default(),
            },
            Engine::Postgres => {
                let admin = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
                    panic!(
                        "{POSTGRES_ENV} is not set: the PostgreSQL half of the suite needs it \
                         (e.g. postgres://postgres@127.0.0.1:5432/postgres); .ci/run sets it"
                    )
                });
                let name = format!("gg_test_{}", uuid::Uuid::new_v4().simple());
                run_admin(&admin, &format!("CREATE DATABASE {name}")).await;
                let url = replace_database(&admin, &name);
                TestDb {
                    url,
                    dir,
                    postgres: Some((admin, name)),
                    binary_env: Mutex::default(),
                }
            }
        }
    }

    /// Sets variables for every binary (command or server) this test starts from now on;
    /// the test process's own environment stays as it is, shared by every test.
    pub fn set_binary_env(&self, vars: &[(&str, &str)]) {
        let mut env = self.binary_env.lock().expect("binary env");
        env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    }

    pub async fn store(&self) -> Store {
        // The same keys folder as the server binary's (see `binary_env`).
        Store::open(&self.url, 5)
            .await
            .expect("open store")
            .with_keys_dir(self.dir.path().join("keys"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.postgres.take() {
            // Drop runs outside any runtime we may block; use a thread with its own.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(run_admin(
                        &admin,
                        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    ));
                }
            })
            .join();
        }
    }
}

async fn run_admin(admin_url: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin_url}: {e}"));
    sqlx::query(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// `url` naming the database `name`, its query (e.g. `?sslmode=`) kept.
fn replace_database(url: &str, name: &str) -> String {
    let mut url = url::Url::parse(url).expect("PostgreSQL URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Runs each test body on SQLite and on PostgreSQL, each on its own fresh database:
/// `both_engines!(name, |db: TestDb| async move { ... });`
#[macro_export]
macro_rules! both_engines {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::support::TestDb::new($crate::support::Engine::Sqlite).await;
                ($body)(db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = $crate::support::TestDb::new($crate::support::Engine::Postgres).await;
                ($body)(db).await;
            }
        }
    };
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The newest mail of the development mail folder, if there is one.
pub fn newest_mail(db: &TestDb) -> Option<String> {
    let dir = db.dir.path().join("data/mail");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .ok()?
        .map(|e| e.expect("mail file").path())
        .collect();
    files.sort();
    let newest = files.last()?;
    let raw = std::fs::read_to_string(newest).expect("read the mail");
    Some(
        if raw.contains("Content-Transfer-Encoding: quoted-printable") {
            quoted_printable(&raw)
        } else {
            raw
        },
    )
}

/// A quoted-printable text decoded (RFC 2045 6.7): soft line breaks joined, `=XX` as bytes.
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8 mail")
}

/// The path and query (`/set-password?token=...`) of the set-password link in the newest mail
/// of the development mail folder.
pub fn newest_set_password_link(db: &TestDb) -> String {
    let text = newest_mail(db).expect("a mail");
    let start = text
        .find("/set-password?token=")
        .unwrap_or_else(|| panic!("no link in {text}"));
    text[start..]
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

/// Calls `probe` at most `tries` times, 200 ms apart, until `done` holds for its answer, and
/// returns the last answer: the caller asserts on it, so a timeout fails showing what was seen.
pub async fn poll<T, F>(tries: usize, mut probe: impl FnMut() -> F, done: impl Fn(&T) -> bool) -> T
where
    F: std::future::Future<Output = T>,
{
    let mut answer = probe().await;
    for _ in 1..tries {
        if done(&answer) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        answer = probe().await;
    }
    answer
}

/// Waits (a liveness bound, not a speed check) until `check` holds, failing after `limit`.
pub async fn eventually(what: &str, limit: std::time::Duration, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The names of the files in `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The number a `SELECT COUNT(*)` query answers.
pub async fn count(store: &Store, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql)
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    n
}
