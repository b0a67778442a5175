//! What the examples share: a scratch database on either engine, and reading a form. Each example includes it with
//! `#[path = "common/mod.rs"] mod common;`.
// Each example uses part of it.
#![allow(dead_code)]

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
