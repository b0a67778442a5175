//! Test harness: a fresh database per test on each engine, and the real server binary.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use guildgate::db::Store;

pub mod browser;
pub mod hl_double;
pub mod oidc;

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
}

impl TestDb {
    pub async fn new(engine: Engine) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match engine {
            Engine::Sqlite => TestDb {
                url: format!("sqlite://{}", dir.path().join("guildgate.db").display()),
                dir,
                postgres: None,
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
                }
            }
        }
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

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
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
                let db = support::TestDb::new(support::Engine::Sqlite).await;
                ($body)(db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = support::TestDb::new(support::Engine::Postgres).await;
                ($body)(db).await;
            }
        }
    };
}

/// Environment for the binary: everything in the test's own folder and database.
pub fn binary_env(db: &TestDb, port: u16) -> Vec<(String, String)> {
    let root = db.dir.path();
    vec![
        ("GUILDGATE_DATABASE_URL".into(), db.url.clone()),
        ("GUILDGATE_LISTEN".into(), format!("127.0.0.1:{port}")),
        (
            "GUILDGATE_ISSUER".into(),
            format!("http://127.0.0.1:{port}"),
        ),
        (
            "GUILDGATE_DATA_DIR".into(),
            root.join("data").display().to_string(),
        ),
        (
            "GUILDGATE_KEYS_DIR".into(),
            root.join("keys").display().to_string(),
        ),
        ("GUILDGATE_MAX_CONNECTIONS".into(), "4".into()),
    ]
}

fn command(db: &TestDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_guildgate"));
    cmd.current_dir(db.dir.path())
        .env_remove("GUILDGATE_CONFIG")
        .envs(binary_env(db, 0))
        .env("RUST_LOG", "warn");
    cmd
}

/// Runs `guildgate ARGS` against the test database, with `stdin` as standard input.
pub fn cli(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = command(db);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn guildgate");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("guildgate output")
}

/// `cli` that must succeed; returns its standard output.
pub fn cli_ok(db: &TestDb, args: &[&str]) -> String {
    let out = cli(db, args, None);
    assert!(
        out.status.success(),
        "guildgate {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running `guildgate serve`, killed when dropped.
pub struct Server {
    pub base: String,
    pub port: u16,
    child: Child,
    pub stdout_path: PathBuf,
}

impl Server {
    pub async fn start(db: &TestDb) -> Server {
        Server::start_with(db, &[]).await
    }

    /// `start` with extra environment (e.g. a shared `GUILDGATE_ISSUER` for two instances).
    pub async fn start_with(db: &TestDb, env: &[(&str, &str)]) -> Server {
        Server::spawn(db, env, false).await
    }

    /// `start_with`, keeping the log (standard error) in a file: see [`Server::log`].
    pub async fn start_logged(db: &TestDb, env: &[(&str, &str)]) -> Server {
        Server::spawn(db, env, true).await
    }

    /// What the server logged so far (only for `start_logged`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.stdout_path.with_extension("err")).unwrap_or_default()
    }

    async fn spawn(db: &TestDb, env: &[(&str, &str)], keep_log: bool) -> Server {
        let port = free_port();
        let stdout_path = db.dir.path().join(format!("serve-{port}.out"));
        let out = std::fs::File::create(&stdout_path).expect("stdout file");
        let child = command(db)
            .envs(binary_env(db, port))
            .envs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(if keep_log {
                Stdio::from(
                    std::fs::File::create(stdout_path.with_extension("err")).expect("log file"),
                )
            } else {
                Stdio::inherit()
            })
            .spawn()
            .expect("spawn guildgate serve");
        let mut server = Server {
            base: format!("http://127.0.0.1:{port}"),
            port,
            child,
            stdout_path,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("guildgate serve exited with {status}:\n{}", self.stdout());
            }
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("guildgate serve did not become ready on {}", self.base);
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Stops the server with SIGTERM and waits for it.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("wait for server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}
