//! The real binary: its commands ([`cli`]) and `guildgate serve` ([`Server`]), for the tests
//! that need the process itself (its output, its logs, a kill, several instances).

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::{free_port, TestDb};

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
        .env("RUST_LOG", "warn")
        .envs(db.binary_env.lock().expect("binary env").iter().cloned());
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

/// `guildgate LINE` (split at white space) that must fail; returns its standard error.
pub fn cli_err(db: &TestDb, line: &str) -> String {
    let args: Vec<&str> = line.split_whitespace().collect();
    let out = cli(db, &args, None);
    assert!(!out.status.success(), "guildgate {line} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
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

/// `cli_ok` with the arguments written as one line (none of them holding a space).
pub fn cli_line(db: &TestDb, line: &str) -> String {
    cli_ok(db, &line.split_whitespace().collect::<Vec<_>>())
}

/// A new admin API token from `guildgate api-token create`.
pub fn api_token(db: &TestDb, name: &str, scope: &str) -> String {
    let out = cli_ok(
        db,
        &[
            "api-token",
            "create",
            "--name",
            name,
            "--scope",
            scope,
            "--json",
        ],
    );
    let created: serde_json::Value = serde_json::from_str(&out).expect("token JSON");
    created["token"].as_str().expect("token").to_string()
}
