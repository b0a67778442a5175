//! `guildgate doctor` on a healthy installation and on broken ones: one line a check, and the
//! exit code says whether any failed. `guildgate sso worksheet` and `guildgate hl test` print
//! what the console shows.

use crate::support::{cli, Server, TestDb};

/// `guildgate doctor`: whether it succeeded, and what it printed.
fn doctor(db: &TestDb) -> (bool, String) {
    let out = cli(db, &["doctor"], None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

both_engines!(
    doctor_tells_a_healthy_installation_from_a_broken_one,
    |db: TestDb| async move {
        // A first start makes the pepper and the signing keys.
        drop(Server::start(&db).await);
        let (healthy, report) = doctor(&db);
        assert!(healthy, "{report}");
        for line in [
            "ok    issuer",
            "ok    database:",
            "ok    pepper",
            "ok    signing keys: 2 published",
            "ok    signing keys stored: in the database",
            "todo  Higher Logic client",
            "todo  Higher Logic sync",
            "todo  mail",
        ] {
            assert!(report.contains(line), "{line:?} in\n{report}");
        }
        let worksheet = cli(&db, &["sso", "worksheet", "--json"], None);
        let worksheet: serde_json::Value = serde_json::from_slice(&worksheet.stdout).unwrap();
        assert_eq!(worksheet["client_registered"], false);
        let test = cli(&db, &["hl", "test"], None);
        assert!(!test.status.success(), "no settings yet");
        assert!(String::from_utf8_lossy(&test.stdout).contains("tenant code"));

        // A plain-http public issuer.
        db.set_binary_env(&[("GUILDGATE_ISSUER", "http://login.example.org")]);
        let (ok, report) = doctor(&db);
        assert!(!ok && report.contains("issuer"), "{report}");
        db.set_binary_env(&[("GUILDGATE_ISSUER", "http://127.0.0.1:8080")]);

        // A database that does not answer.
        db.set_binary_env(&[(
            "GUILDGATE_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/nothing",
        )]);
        let (ok, report) = doctor(&db);
        assert!(!ok && report.contains("FAIL  database"), "{report}");
        db.set_binary_env(&[("GUILDGATE_DATABASE_URL", &db.url)]);

        // The pepper lost.
        std::fs::remove_file(db.dir.path().join("keys/client-secret-pepper")).unwrap();
        let (ok, report) = doctor(&db);
        assert!(!ok && report.contains("FAIL  pepper"), "{report}");
        assert!(
            !db.dir.path().join("keys/client-secret-pepper").exists(),
            "doctor creates nothing"
        );
    }
);
