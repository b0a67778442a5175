//! The database: one SQL dialect served by SQLite (embedded default) and PostgreSQL (several
//! instances behind a load balancer), through sqlx's `Any` driver. Where the two engines need
//! different SQL, the difference lives here.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::config::redact_url;
use crate::passwords::{HashPool, PasswordSettings};
use crate::private_files;

pub type Transaction = sqlx::Transaction<'static, sqlx::Any>;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Errors of the data layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    /// Input the store refuses; the message is meant for the person who sent it.
    #[error("{0}")]
    Invalid(String),
    /// The change contradicts what is stored (a taken key, a locked setting).
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// Too much work at once (the password-hashing queue is full): try again shortly.
    #[error("{0}")]
    Overloaded(String),
    /// The key for the secrets kept encrypted in the database could not be had.
    #[error("settings encryption: {0}")]
    Sealing(String),
}

impl StoreError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        StoreError::Invalid(msg.into())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        // PostgreSQL refuses NUL characters in text (SQLSTATE 22021); that is bad input, not
        // a failure of the store.
        let code = err
            .as_database_error()
            .and_then(|d| d.code().map(|c| c.into_owned()));
        if code.as_deref() == Some("22021") {
            return StoreError::invalid("text must not contain NUL characters");
        }
        StoreError::Database(err)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Handle on the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// Reads (and, on PostgreSQL, writes too).
    read: AnyPool,
    /// Writes. On SQLite a single connection, so that in-process writers queue instead of
    /// failing with SQLITE_BUSY when a reading transaction upgrades to a write.
    write: AnyPool,
    engine: Engine,
    sealing: Arc<Sealing>,
    hashing: Arc<Hashing>,
}

/// The bounded password-hashing pool every clone of the store shares, started on first use.
#[derive(Default)]
struct Hashing {
    settings: OnceLock<PasswordSettings>,
    pool: OnceLock<HashPool>,
}

/// Secrets the integration must send in clear (Higher Logic's API key) are stored encrypted,
/// with a key derived from the keys folder's pepper: a copy of the database alone does not
/// reveal them. The key is loaded on first use.
#[derive(Default)]
struct Sealing {
    keys_dir: OnceLock<PathBuf>,
    pepper: tokio::sync::OnceCell<crate::secrets::Pepper>,
    key: tokio::sync::OnceCell<ring::aead::LessSafeKey>,
}

impl Store {
    /// Connects and applies pending migrations.
    pub async fn open(database_url: &str, max_connections: u32) -> StoreResult<Store> {
        let store = Store::connect(database_url, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating.
    ///
    /// Connections are not pinged when taken from the pool: sqlx pings each one as it goes
    /// back, and a second ping before every statement cost a hand-off to the SQLite worker
    /// thread or a PostgreSQL round trip per statement. A PostgreSQL connection that dies
    /// while idle fails its next statement once and is replaced.
    pub async fn connect(database_url: &str, max_connections: u32) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        if database_url.starts_with("sqlite:") {
            let url = sqlite_url(database_url)?;
            let options = AnyConnectOptions::from_str(&url)?;
            let pool = |max: u32| {
                AnyPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(Duration::from_secs(30))
                    .test_before_acquire(false)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options.clone())
            };
            let write = pool(1).await?;
            let read = pool(max_connections.max(2)).await?;
            Ok(Store {
                read,
                write,
                engine: Engine::Sqlite,
                sealing: Arc::default(),
                hashing: Arc::default(),
            })
        } else {
            let options = AnyConnectOptions::from_str(database_url)?;
            let pool = AnyPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(30))
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .inspect_err(|_| {
                    tracing::error!(url = %redact_url(database_url), "cannot connect to PostgreSQL");
                })?;
            Ok(Store {
                read: pool.clone(),
                write: pool,
                engine: Engine::Postgres,
                sealing: Arc::default(),
                hashing: Arc::default(),
            })
        }
    }

    /// Names the keys folder (`keys_dir`), whose pepper also encrypts the secrets kept in the
    /// database. Every instance and command that reads those secrets must name the same folder.
    pub fn with_keys_dir(self, dir: impl Into<PathBuf>) -> Store {
        // Set once: a store keeps the folder it was first given.
        let _ = self.sealing.keys_dir.set(dir.into());
        self
    }

    /// The hashing pool's settings and cell, for `passwords` to fill on first use.
    pub(crate) fn hash_pool_parts(&self) -> (&OnceLock<PasswordSettings>, &OnceLock<HashPool>) {
        (&self.hashing.settings, &self.hashing.pool)
    }

    /// The keys folder and the cells of the pepper and the sealing key, for `secrets` to fill
    /// on first use.
    pub(crate) fn sealing_parts(
        &self,
    ) -> (
        &OnceLock<PathBuf>,
        &tokio::sync::OnceCell<crate::secrets::Pepper>,
        &tokio::sync::OnceCell<ring::aead::LessSafeKey>,
    ) {
        (
            &self.sealing.keys_dir,
            &self.sealing.pepper,
            &self.sealing.key,
        )
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.write).await?;
        Ok(())
    }

    /// The versions of the migrations this build has that the database has not applied.
    pub async fn pending_migrations(&self) -> StoreResult<Vec<i64>> {
        // No table yet: nothing applied.
        let applied: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&self.write)
                .await
                .unwrap_or_default();
        let applied: Vec<i64> = applied.into_iter().map(|(v,)| v).collect();
        Ok(MIGRATOR
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The pool for reads outside a transaction.
    pub fn pool(&self) -> &AnyPool {
        &self.read
    }

    /// The pool for a write of one statement, outside a transaction: on SQLite its one
    /// writer connection, so that writers wait their turn in the pool rather than in SQLite's
    /// busy handler (which sleeps).
    pub fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> StoreResult<Transaction> {
        Ok(self.write.begin().await?)
    }

    /// The row `sql` selects by its one parameter `key`, or [`StoreError::NotFound`] naming
    /// `what` and the key.
    pub async fn fetch_by_key<T>(&self, sql: &str, key: &str, what: &str) -> StoreResult<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        // No key holds a NUL (keys are checked when made), and PostgreSQL refuses one in a
        // bound text: not found on both engines.
        if key.contains('\0') {
            return Err(StoreError::NotFound(format!("{what} {key:?}")));
        }
        sqlx::query_as(sql)
            .bind(key)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("{what} {key}")))
    }

    /// Every row `sql` selects (it takes no parameters).
    pub async fn fetch_all_rows<T>(&self, sql: &str) -> StoreResult<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        Ok(sqlx::query_as(sql).fetch_all(self.pool()).await?)
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Makes sure the SQLite file can be created: its folder exists and `mode=rwc` is set.
fn sqlite_url(url: &str) -> StoreResult<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path != ":memory:" && !path.is_empty() {
        let path = Path::new(path);
        let invalid = |what: &str, at: &Path, e: std::io::Error| {
            StoreError::Invalid(format!(
                "cannot create the database {what} {}: {e}",
                at.display()
            ))
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            private_files::create_dir(parent).map_err(|e| invalid("folder", parent, e))?;
        }
        // Created here so that it is the owner's only; SQLite gives its `-wal` and `-shm`
        // files the same mode.
        let created = private_files::create_file(path).map_err(|e| invalid("file", path, e))?;
        if !created && private_files::open_to_others(path) {
            tracing::warn!(
                path = %path.display(),
                "the database is readable by other users of this machine; chmod 600 it (and its -wal and -shm files)"
            );
        }
    }
    Ok(match query {
        Some(q) if q.contains("mode=") => format!("sqlite://{path}?{q}"),
        Some(q) => format!("sqlite://{path}?{q}&mode=rwc"),
        None => format!("sqlite://{path}?mode=rwc"),
    })
}

/// How many rows of `binds_per_row` bound values one multi-row statement in `tx` takes: up
/// to `most` on PostgreSQL; on SQLite about 256 values' worth, since binding `$n` parameters
/// there costs time growing with the square of their number (SQLite looks each name up in a
/// list): an `INSERT` of 1,000 change-log entries (9,000 values) took 110 ms, most of it
/// binding.
pub(crate) fn rows_per_statement(tx: &Transaction, binds_per_row: usize, most: usize) -> usize {
    if tx.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME {
        (256 / binds_per_row).clamp(1, most)
    } else {
        most
    }
}

/// A BIGINT 0/1 column read as `bool`: `#[sqlx(try_from = "crate::db::IntFlag")]`.
/// (sqlx's Any driver cannot decode SQLite's BOOLEAN, so flags are integers on both engines;
/// bind them with `i64::from(flag)`.)
#[derive(Debug, Clone, Copy, sqlx::Type)]
#[sqlx(transparent)]
pub struct IntFlag(i64);

impl From<IntFlag> for bool {
    fn from(flag: IntFlag) -> bool {
        flag.0 != 0
    }
}

/// Milliseconds since the Unix epoch: the unit of every stored time.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

/// A stored time for people: `YYYY-MM-DD HH:MM:SS`, in UTC (the raw number if out of range).
pub fn format_ms(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// `$first, $first+1, ...` for `n` values: the placeholders of an `IN (...)` list.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The row list of a multi-row `INSERT ... VALUES`: `rows` tuples of `binds` numbered
/// placeholders each, the first from `$first` on, each closed by `shared`: the columns every
/// row fills alike (a literal, or a value bound once as `$1`).
pub fn value_rows(first: usize, rows: usize, binds: usize, shared: &str) -> String {
    (0..rows)
        .map(|i| format!("({}{shared})", placeholders(first + binds * i, binds)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A new time-ordered identifier.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// For `map_err`: a unique-constraint violation becomes [`StoreError::Conflict`] with the
/// message `conflict` makes; any other error passes through.
pub fn conflict_on_unique(
    conflict: impl FnOnce() -> String,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| {
        if is_unique_violation(&err) {
            StoreError::Conflict(conflict())
        } else {
            err.into()
        }
    }
}

/// Whether an error is a unique-constraint violation (same meaning on both engines).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_rows_number_each_row_and_close_it_with_the_shared_columns() {
        assert_eq!(value_rows(2, 2, 2, ", $1"), "($2, $3, $1), ($4, $5, $1)");
        assert_eq!(value_rows(1, 1, 3, ""), "($1, $2, $3)");
    }

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/g.db");
        let url = sqlite_url(&format!("sqlite://{}", file.display())).unwrap();
        assert!(url.ends_with("?mode=rwc"));
        assert!(file.parent().unwrap().is_dir());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_database_and_its_journal_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let file = data.join("guildgate.db");
        let store = Store::open(&format!("sqlite://{}", file.display()), 2)
            .await
            .unwrap();
        sqlx::query("SELECT 1").execute(store.pool()).await.unwrap();
        assert_eq!(mode(&data), 0o700);
        for name in ["guildgate.db", "guildgate.db-wal", "guildgate.db-shm"] {
            assert_eq!(mode(&data.join(name)), 0o600, "{name}");
        }
    }

    #[tokio::test]
    async fn dollar_placeholders_work_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url, 2).await.unwrap();
        let (a, b): (i64, String) = sqlx::query_as("SELECT $2, $1")
            .bind("x")
            .bind(5_i64)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!((a, b.as_str()), (5, "x"));
    }
}
