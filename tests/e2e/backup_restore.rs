//! `guildgate backup` and `guildgate restore` through the real binary: an installation backed
//! up (on PostgreSQL with pg_dump beside the archive), restored into a fresh folder and
//! database, where a member signs in and the Higher Logic sync pushes with the API key sealed
//! in the database; and a restore over a non-empty installation, refused without `--force`.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use crate::support::hl::{save_settings_cli, FAST_WORKER_ENV, TENANT};
use crate::support::hl_double::HlDouble;
use crate::support::oidc::*;
use crate::support::{cli, cli_line, cli_ok, eventually, Engine, Server, TestDb};
use guildgate::secrets::PEPPER_FILE;

const HL_KEY: &str = "hl-backup-api-key-0123456789abcdef";

/// The names of an archive's entries, in order.
fn entries(archive: &Path) -> Vec<String> {
    let mut tar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    tar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

fn run_ok(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `guildgate restore ARGS`: exit code, standard output and error.
fn restore(db: &TestDb, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["restore"];
    all.extend_from_slice(args);
    let out = cli(db, &all, None);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

both_engines!(
    a_backup_restored_into_a_fresh_installation_signs_in_and_syncs,
    |db: TestDb| async move {
        let postgres = db.engine_name() == "postgres";
        let setup = setup(&db).await;
        let (id, secret) = (setup.client_id.as_str(), setup.secret.as_str());
        let double = HlDouble::start(TENANT, HL_KEY).await;
        save_settings_cli(&db, &double.base_url, HL_KEY, &[]);
        cli_line(
            &db,
            &format!("group add --key north --name North --member {MEMBER_KEY}"),
        );
        cli_line(&db, "keys list");

        // Kept apart from the installation, which goes away.
        let safe = tempfile::tempdir().unwrap();
        let archive = safe.path().join("guildgate-backup.tar");
        let archive_text = archive.display().to_string();
        let said = cli_ok(&db, &["backup", &archive_text]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&archive).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut want = vec!["guildgate-backup.json".to_string()];
        if !postgres {
            want.push("database.sqlite".into());
        }
        want.push(format!("keys/{PEPPER_FILE}"));
        assert_eq!(entries(&archive), want);
        if postgres {
            assert!(said.contains("pg_dump"), "{said}");
        }
        // A backup never replaces a file.
        let again = cli(&db, &["backup", &archive_text], None);
        assert!(!again.status.success());
        assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
        // The API key is sealed in the archive's database, never in clear.
        let mut raw = Vec::new();
        std::fs::File::open(&archive)
            .unwrap()
            .read_to_end(&mut raw)
            .unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains(HL_KEY));

        // A fresh folder and database; on PostgreSQL the database comes back with pg_restore.
        let fresh = TestDb::new(if postgres {
            Engine::Postgres
        } else {
            Engine::Sqlite
        })
        .await;
        if postgres {
            let dump = safe.path().join("guildgate.pgdump");
            let dump = dump.display().to_string();
            run_ok("pg_dump", &["--format=custom", "--file", &dump, &db.url]);
            run_ok("pg_restore", &["--no-owner", "--dbname", &fresh.url, &dump]);
        }
        let (code, out, err) = restore(&fresh, &[&archive_text]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert_eq!(
            std::fs::read(fresh.dir.path().join("keys").join(PEPPER_FILE)).unwrap(),
            std::fs::read(db.dir.path().join("keys").join(PEPPER_FILE)).unwrap()
        );
        drop(db);

        // The member signs in, and the client's secret checks, on the restored installation.
        fresh.set_binary_env(FAST_WORKER_ENV);
        let server = Server::start(&fresh).await;
        let browser = browser();
        let (code, verifier) = code_for(&browser, &server.base, id, &[]).await;
        let tokens = exchange(&server.base, id, secret, &code, &verifier).await;
        assert_eq!(tokens.0, 200, "{}", tokens.1);
        let (status, _, claims) =
            userinfo(&server.base, tokens.1["access_token"].as_str().unwrap()).await;
        assert_eq!((status, claims["sub"].as_str()), (200, Some(MEMBER_KEY)));

        // The sync pushes with the API key opened from the restored database.
        cli_line(&fresh, "group sync north --on --type community");
        eventually("the member pushed", Duration::from_secs(60), || {
            double.with(|s| s.members_of("north").contains(MEMBER_KEY))
        })
        .await;

        // Over an installation that is not empty: refused, nothing replaced, unless --force.
        server.stop();
        let keys = fresh.dir.path().join("keys").join(PEPPER_FILE);
        if postgres {
            // The database is pg_restore's to replace; a different pepper is in the way.
            std::fs::remove_file(&keys).unwrap();
            std::fs::write(&keys, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
        } else {
            cli_line(&fresh, "member add --key LATE --first-name Late --last-name Comer --email late@example.org");
        }
        let before = std::fs::read(&keys).unwrap();
        let (code, _, err) = restore(&fresh, &[&archive_text]);
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains("refusing to restore over a non-empty installation")
                && err.contains("--force"),
            "{err}"
        );
        assert!(
            err.contains(if postgres {
                "holds a different client-secret-pepper"
            } else {
                "member(s)"
            }),
            "{err}"
        );
        assert_eq!(std::fs::read(&keys).unwrap(), before, "nothing replaced");
        let store = fresh.store().await;
        if !postgres {
            assert!(store.member("LATE").await.is_ok());
        }
        store.close().await;

        let (code, out, err) = restore(&fresh, &[&archive_text, "--force"]);
        assert_eq!(code, Some(0), "{out}{err}");
        let server = Server::start(&fresh).await;
        if !postgres {
            let store = fresh.store().await;
            assert!(
                store.member("LATE").await.is_err(),
                "the backup's data is back"
            );
            store.close().await;
        }
        let (code, _) = code_for(&crate::support::oidc::browser(), &server.base, id, &[]).await;
        assert!(!code.is_empty());
        server.stop();
    }
);
