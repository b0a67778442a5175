//! `guildgate doctor`: whether this installation is healthy, one line a check, before members
//! find out it is not. It reads and never creates: no migration, no pepper, no key. Exits
//! non-zero when any check fails; what is merely not set up yet (Higher Logic) is said, and
//! does not fail.

use std::path::Path;

use crate::admin::{integrations, sso};
use crate::db::Store;
use crate::mail::Mailer;
use crate::oidc::keys::{self, KeyRing};
use crate::private_files;
use crate::secrets::{Pepper, PEPPER_FILE};
use crate::settings::Settings;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// Not set up yet; not a failure.
    Todo,
    Fail,
}

struct Report {
    failures: usize,
}

impl Report {
    fn line(&mut self, outcome: Outcome, what: &str, detail: impl AsRef<str>) {
        let tag = match outcome {
            Outcome::Ok => "ok  ",
            Outcome::Todo => "todo",
            Outcome::Fail => {
                self.failures += 1;
                "FAIL"
            }
        };
        println!("{tag}  {what}: {}", detail.as_ref());
    }
}

/// Runs every check with `settings`; an error when any failed.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let mut report = Report { failures: 0 };
    configuration(&mut report, settings);
    let store = match Store::connect(&settings.database_url, 2).await {
        Ok(store) => store.with_keys_dir(&settings.keys_dir),
        Err(e) => {
            report.line(Outcome::Fail, "database", format!("cannot connect: {e}"));
            return finish(report);
        }
    };
    if database(&mut report, &store, settings).await {
        keys_and_pepper(&mut report, &store, settings).await;
        higher_logic(&mut report, &store).await;
    }
    mail(&mut report, settings).await;
    store.close().await;
    finish(report)
}

fn finish(report: Report) -> anyhow::Result<()> {
    match report.failures {
        0 => Ok(()),
        n => anyhow::bail!("{n} check(s) failed"),
    }
}

fn configuration(report: &mut Report, settings: &Settings) {
    match crate::config::validate_issuer(&settings.issuer) {
        Ok(()) => report.line(Outcome::Ok, "issuer", &settings.issuer),
        Err(e) => report.line(Outcome::Fail, "issuer", e.to_string()),
    }
}

/// Reachable and migrated; whether the later checks can read it.
async fn database(report: &mut Report, store: &Store, settings: &Settings) -> bool {
    if let Err(e) = sqlx::query("SELECT 1").execute(store.pool()).await {
        report.line(Outcome::Fail, "database", format!("does not answer: {e}"));
        return false;
    }
    let pending = match store.pending_migrations().await {
        Ok(pending) => pending,
        Err(e) => {
            report.line(Outcome::Fail, "database", e.to_string());
            return false;
        }
    };
    if !pending.is_empty() {
        let detail = format!(
            "{} migration(s) not applied: run `guildgate migrate`",
            pending.len()
        );
        report.line(Outcome::Fail, "database", detail);
        return false;
    }
    report.line(
        Outcome::Ok,
        "database",
        format!("{:?}, migrated", store.engine()),
    );
    if let Some(path) = settings.database_url.strip_prefix("sqlite://") {
        let path = Path::new(path.split('?').next().unwrap_or(path));
        if private_files::open_to_others(path) {
            let detail = format!("{} is readable by other users: chmod 600", path.display());
            report.line(Outcome::Fail, "database file", detail);
        } else {
            report.line(Outcome::Ok, "database file", "readable by its owner only");
        }
    }
    true
}

async fn keys_and_pepper(report: &mut Report, store: &Store, settings: &Settings) {
    let dir = &settings.keys_dir;
    let pepper_path = dir.join(PEPPER_FILE);
    if !pepper_path.is_file() {
        let detail = format!(
            "{} is missing: client secrets and the sealed Higher Logic key cannot be checked \
             (restore it from the backup of the keys folder)",
            pepper_path.display()
        );
        report.line(Outcome::Fail, "pepper", detail);
        return;
    }
    if private_files::open_to_others(dir) || private_files::open_to_others(&pepper_path) {
        let detail = format!("{} is open to other users: chmod 700 it", dir.display());
        report.line(Outcome::Fail, "keys folder", detail);
    }
    match Pepper::load_or_init(store, dir).await {
        Ok(_) => report.line(
            Outcome::Ok,
            "pepper",
            "present and the one this database knows",
        ),
        Err(e) => {
            report.line(Outcome::Fail, "pepper", e.to_string());
            return;
        }
    }
    match keys::list(store).await {
        Ok(list) if list.is_empty() => {
            let detail = "none yet: `guildgate serve` creates them on its first start";
            report.line(Outcome::Todo, "signing keys", detail);
        }
        Ok(list) => {
            // Every algorithm's current key must sign: a key whose private half is missing
            // or does not open with this pepper fails now, not when a member signs in.
            let signed =
                match KeyRing::load_existing(store, dir, &settings.issuer, &settings.signing).await
                {
                    Ok(ring) => sign_with_each(&ring).await,
                    Err(e) => Err(e),
                };
            match signed {
                Ok(_) => report.line(
                    Outcome::Ok,
                    "signing keys",
                    format!("{} published, the current one signs", list.len()),
                ),
                Err(e) => report.line(Outcome::Fail, "signing keys", e.to_string()),
            }
        }
        Err(e) => report.line(Outcome::Fail, "signing keys", e.to_string()),
    }
    match keys::keys_not_in_database(store).await {
        Ok(kids) if kids.is_empty() => report.line(
            Outcome::Ok,
            "signing keys stored",
            "in the database, sealed with the pepper",
        ),
        Ok(kids) => report.line(
            Outcome::Todo,
            "signing keys stored",
            format!(
                "{} key(s) still only in keys_dir files ({}): `guildgate serve` moves them into \
                 the database at its next start",
                kids.len(),
                kids.join(", ")
            ),
        ),
        Err(e) => report.line(Outcome::Fail, "signing keys stored", e.to_string()),
    }
}

async fn sign_with_each(ring: &KeyRing) -> keys::KeyResult<()> {
    for alg in ring.algorithms() {
        ring.sign(*alg, &serde_json::json!({ "doctor": true }))
            .await?;
    }
    Ok(())
}

async fn higher_logic(report: &mut Report, store: &Store) {
    match sso::higher_logic_client(store).await {
        Ok(Some(client)) => report.line(
            Outcome::Ok,
            "Higher Logic client",
            format!("registered as {}", client.client_id),
        ),
        Ok(None) => report.line(
            Outcome::Todo,
            "Higher Logic client",
            "not registered yet (console: Single sign-on)",
        ),
        Err(e) => report.line(Outcome::Fail, "Higher Logic client", e.to_string()),
    }
    match store.hl_settings().await {
        Ok(hl) if !hl.is_configured() => report.line(
            Outcome::Todo,
            "Higher Logic sync",
            "no tenant code and API key yet (console: Integrations)",
        ),
        Ok(_) => match integrations::test_connection(store).await {
            Ok(test) if test.ok => report.line(Outcome::Ok, "Higher Logic sync", test.message),
            Ok(test) => report.line(Outcome::Fail, "Higher Logic sync", test.message),
            Err(e) => report.line(Outcome::Fail, "Higher Logic sync", e.to_string()),
        },
        Err(e) => report.line(Outcome::Fail, "Higher Logic sync", e.to_string()),
    }
}

async fn mail(report: &mut Report, settings: &Settings) {
    let checked = match Mailer::new(&settings.mail, &settings.data_dir) {
        Ok(mailer) => mailer.check().await,
        Err(e) => Err(e),
    };
    match checked {
        Ok(Some(true)) => report.line(Outcome::Ok, "mail", "the SMTP server answers"),
        Ok(Some(false)) => report.line(Outcome::Fail, "mail", "the SMTP server does not answer"),
        Ok(None) => report.line(
            Outcome::Todo,
            "mail",
            format!(
                "no mail.smtp_url: messages are written to {}",
                settings.data_dir.join("mail").display()
            ),
        ),
        Err(e) => report.line(Outcome::Fail, "mail", e.to_string()),
    }
}
