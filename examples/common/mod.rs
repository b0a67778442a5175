//! What the examples share: a scratch database on either engine, and reading a form. Each example includes it with
//! `#[path = "common/mod.rs"] mod common;`.
// Each example uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use guildgate::custom_fields::{AppliesTo, FieldSpec, FieldType};
use guildgate::db::Store;
use guildgate::settings::Settings;
use sqlx::Connection;

/// A database for one run: a SQLite file in a temporary folder or, given a PostgreSQL admin
/// URL, a new PostgreSQL database that [`ScratchDb::remove`] drops.
pub struct ScratchDb {
    pub url: String,
    /// The temporary folder (the SQLite file, keys, mail).
    pub dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl ScratchDb {
    /// `prefix` names the file (`<prefix>.db`) or the database (`gg_<prefix>_<uuid>`).
    pub async fn create(postgres_admin: Option<&str>, prefix: &str) -> anyhow::Result<ScratchDb> {
        let dir = tempfile::tempdir()?;
        let Some(admin) = postgres_admin else {
            return Ok(ScratchDb {
                url: format!(
                    "sqlite://{}",
                    dir.path().join(format!("{prefix}.db")).display()
                ),
                dir,
                postgres: None,
            });
        };
        let name = format!("gg_{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(admin).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        // Only the path changes: a query such as `?sslmode=require` stays.
        let mut url = url::Url::parse(admin)?;
        url.set_path(&format!("/{name}"));
        Ok(ScratchDb {
            url: url.to_string(),
            dir,
            postgres: Some((admin.to_string(), name)),
        })
    }

    /// Drops the PostgreSQL database (the folder goes when `self` is dropped).
    /// Runs `work` on a fresh scratch database (its URL and folder), then removes it whether
    /// or not the work succeeded; the work's result.
    pub async fn around<Fut>(
        postgres_admin: Option<&str>,
        prefix: &str,
        work: impl FnOnce(String, std::path::PathBuf) -> Fut,
    ) -> anyhow::Result<()>
    where
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        let scratch = ScratchDb::create(postgres_admin, prefix).await?;
        let result = work(scratch.url.clone(), scratch.dir.path().to_path_buf()).await;
        scratch.remove().await?;
        result
    }

    pub async fn remove(self) -> anyhow::Result<()> {
        if let Some((admin, name)) = &self.postgres {
            let mut conn = sqlx::PgConnection::connect(admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
        }
        Ok(())
    }
}

/// The hidden fields of the first form of a page (the login form's CSRF token and the carried
/// authorization request).
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|part| {
            let attr = |name: &str| {
                part.split(&format!("{name}=\""))
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .unwrap_or_default()
                    .replace("&amp;", "&")
            };
            (attr("name"), attr("value"))
        })
        .collect()
}

/// The command line every example takes: a PostgreSQL admin URL (to run there instead of on
/// SQLite) and numbers, in any order.
pub struct Args {
    pub postgres: Option<String>,
    pub numbers: Vec<u64>,
}

impl Args {
    pub fn parse() -> Args {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Args {
            postgres: args.iter().find(|a| a.starts_with("postgres")).cloned(),
            numbers: args.iter().filter_map(|a| a.parse().ok()).collect(),
        }
    }

    /// The `n`th number (from 0), or `default`.
    pub fn number(&self, n: usize, default: usize) -> usize {
        self.numbers.get(n).map_or(default, |&v| v as usize)
    }
}

/// A cookie-keeping HTTP client that stops at redirects, as a browser the examples drive.
pub fn browser() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()?)
}

/// Fills the login form of `page` with `email` and `password` and posts it to `base` in
/// `browser`; the answer and how long the POST took.
pub async fn post_login(
    browser: &reqwest::Client,
    base: &str,
    page: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<(reqwest::Response, std::time::Duration)> {
    let mut form = hidden_fields(page);
    form.push(("email".into(), email.into()));
    form.push(("password".into(), password.into()));
    let started = std::time::Instant::now();
    let answer = browser
        .post(format!("{base}/login"))
        .form(&form)
        .send()
        .await?;
    Ok((answer, started.elapsed()))
}

/// The redirect URI of the examples' clients.
pub const REDIRECT: &str = "https://rp.example.org/callback";
/// Any well-formed S256 challenge (RFC 7636's example): the codes are never exchanged.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The authorization request of `client_id` (redirecting to [`REDIRECT`]) a sign-in starts at.
fn authorize_url(base: &str, client_id: &str) -> String {
    format!(
        "{base}/authorize?response_type=code&client_id={client_id}&redirect_uri={}\
         &scope=openid&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    )
}

/// How a sign-in through the login page ended.
pub enum SignIn {
    /// Signed in: milliseconds of the form's POST.
    Done(f64),
    /// Refused with 503 ("Too many sign-ins right now"): come back after this long.
    Shed(Duration),
}

/// One sign-in at `client_id` (redirecting to [`REDIRECT`]) in a fresh browser.
pub async fn sign_in(
    base: &str,
    client_id: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<SignIn> {
    sign_in_with(&browser()?, base, client_id, email, password).await
}

/// One sign-in at `client_id` in `browser`: the login page, then the form.
pub async fn sign_in_with(
    browser: &reqwest::Client,
    base: &str,
    client_id: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<SignIn> {
    let page = browser
        .get(authorize_url(base, client_id))
        .send()
        .await?
        .text()
        .await?;
    let (answer, took) = post_login(browser, base, &page, email, password).await?;
    match answer.status().as_u16() {
        303 => Ok(SignIn::Done(took.as_secs_f64() * 1000.0)),
        503 => {
            let seconds = answer
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(5);
            Ok(SignIn::Shed(Duration::from_secs(seconds)))
        }
        other => anyhow::bail!("unexpected {other}"),
    }
}

/// The `p` quantile (0 to 1) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The settings of a server on a free loopback port, its database at `url` and its files
/// (keys, mail) under `root`.
pub fn local_settings(url: &str, root: &Path) -> anyhow::Result<Settings> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Ok(Settings {
        listen: ([127, 0, 0, 1], port).into(),
        issuer: format!("http://127.0.0.1:{port}"),
        database_url: url.to_string(),
        data_dir: root.join("data"),
        keys_dir: root.join("keys"),
        ..Settings::default()
    })
}

/// Serves `settings` in this process (as `guildgate serve`), answering once `/readyz` does.
pub async fn serve_local(
    settings: &Settings,
    store: &Store,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let server = tokio::spawn(guildgate::server::serve(settings.clone(), store.clone()));
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("{}/readyz", settings.issuer))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(server)
}

/// The custom field `chapter` (North, South, East or West, for people, synced) that the
/// measured imports fill.
pub async fn add_chapter_field(store: &Store) -> anyhow::Result<()> {
    store
        .add_field(
            "bench",
            FieldSpec {
                field_key: "chapter".into(),
                name: "Chapter".into(),
                field_type: FieldType::Choice,
                choices: vec!["North".into(), "South".into(), "East".into(), "West".into()],
                applies_to: AppliesTo::Person,
                show_in_members: true,
                sync_to_higher_logic: true,
            },
        )
        .await?;
    Ok(())
}

/// `guildgate serve` as its own process (the binary built beside the examples), so that its
/// memory is its own and can be read from /proc. Killed when dropped.
pub struct ServerProcess {
    child: std::process::Child,
}

impl ServerProcess {
    /// Starts the server of `settings` (its listen address, issuer, database and folders),
    /// without the sync worker, and waits until `/readyz` answers.
    pub async fn start(settings: &Settings) -> anyhow::Result<ServerProcess> {
        let child = std::process::Command::new(server_binary()?)
            .arg("serve")
            .env("GUILDGATE_LISTEN", settings.listen.to_string())
            .env("GUILDGATE_ISSUER", &settings.issuer)
            .env("GUILDGATE_DATABASE_URL", &settings.database_url)
            .env("GUILDGATE_DATA_DIR", &settings.data_dir)
            .env("GUILDGATE_KEYS_DIR", &settings.keys_dir)
            .env("GUILDGATE_HIGHER_LOGIC__WORKER", "false")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let server = ServerProcess { child };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            let ready = http
                .get(format!("{}/readyz", settings.issuer))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("the server did not answer /readyz within 10 s")
    }

    /// Its peak and current resident memory (`VmHWM`, `VmRSS`), in MB.
    pub fn memory_mb(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time it has used so far (user and system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id())
    }

    /// Its threads, from /proc.
    pub fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.child.id()))
            .map_or(0, |tasks| tasks.count())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server binary built beside the examples (`target/<profile>/guildgate`).
fn server_binary() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .ok_or_else(|| anyhow::anyhow!("no target folder above {}", exe.display()))?;
    let binary = dir.join("guildgate");
    anyhow::ensure!(
        binary.is_file(),
        "{} is missing: run `cargo build --release` first",
        binary.display()
    );
    Ok(binary)
}

/// CPU time (user and system) process `pid` has used so far, in seconds, from /proc.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) start at the third field.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / per_second.max(1.0)
}
