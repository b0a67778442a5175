//! The binary as an operator uses it: the CLI and `serve`, on SQLite and on PostgreSQL.

use crate::support::oidc::open;
use crate::support::{cli, cli_err, cli_line, cli_ok, write_file, Server, TestDb};

both_engines!(cli_members_fields_groups, |db: TestDb| async move {
    cli_line(
        &db,
        "company add --key C1 --name Acme --email info@acme.example",
    );
    cli_line(&db, "field add --key chapter --name Chapter --type choice --choice North --choice South --show-in-members --sync-to-higher-logic");
    let err = cli_err(
        &db,
        "field add --key secret --name S --type text --sync-to-higher-logic",
    );
    assert!(err.contains("Members section"), "{err}");

    cli_line(&db, "member add --key M1 --first-name Ada --last-name Lovelace --email ada@example.org --company C1 --member-type Regular --status active --account");
    cli_line(
        &db,
        "member add --key M2 --first-name Bob --member-type Regular",
    );
    cli_line(&db, "field set M1 chapter North");
    // A member whose account is refused (a taken login) is not half-created.
    cli_err(
        &db,
        "member add --key M9 --first-name Cy --account ADA@example.org",
    );
    cli_err(&db, "member show M9");
    cli_line(&db, "field set M2 chapter North");
    let out = cli(&db, &["field", "set", "M2", "chapter", "West"], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("North, South"));

    let out = cli_line(&db, "group add --key north --name North --where field.chapter=North --where member_type=Regular");
    assert!(
        out.contains("1 with a user account") && out.contains("1 without a user account"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&cli_line(&db, "group show north --json")).unwrap();
    assert_eq!(json["members"]["with_account"][0]["member_key"], "M1");
    assert_eq!(json["members"]["without_account"][0]["member_key"], "M2");

    // M1 leaves the group when their data changes.
    cli_line(&db, "member update M1 --member-type Student");
    let json: serde_json::Value =
        serde_json::from_str(&cli_line(&db, "member show M1 --json")).unwrap();
    assert_eq!(json["member"]["member_type"], "Student");
    assert_eq!(json["groups"].as_array().unwrap().len(), 0);
    assert_eq!(json["fields"]["chapter"], "North");

    let out = cli_line(&db, "member list --search love");
    assert!(out.contains("M1") && !out.contains("M2"), "{out}");
    let out = cli_line(&db, "company list");
    assert!(out.contains("Acme"), "{out}");

    // Passwords from standard input; deactivation.
    let out = cli(
        &db,
        &["member", "set-password", "M1", "--password-stdin"],
        Some("tiny\n"),
    );
    assert!(!out.status.success());
    let out = cli(
        &db,
        &["member", "set-password", "M1", "--password-stdin"],
        Some("a long enough password\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cli_line(&db, "member deactivate M1");
    let json: serde_json::Value =
        serde_json::from_str(&cli_line(&db, "member show M1 --json")).unwrap();
    assert_eq!(json["account"]["state"], "deactivated");
    cli_line(&db, "member reactivate M1");
});

both_engines!(cli_import, |db: TestDb| async move {
    let dir = db.dir.path();
    let bad = write_file(
        dir,
        "bad.csv",
        "member_key,first_name,email\nP1,Ada,ada@example.org\nP1,Ada,x@example.org\nP2,Bob,bob@\n",
    );
    let err = cli_err(&db, &format!("import {}", bad.display()));
    assert!(
        err.contains("nothing was imported") && err.contains("line 3") && err.contains("line 4"),
        "{err}"
    );

    let good = write_file(dir, "good.csv", "member_key,first_name,email,account_email\nP1,Ada,ada@example.org,ada@example.org\nP2,Bob,bob@example.org,\n");
    let out = cli_ok(&db, &["import", good.to_str().unwrap()]);
    assert!(out.contains("2 created"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&cli_ok(&db, &["import", good.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(json["unchanged"], 2);
    let list: serde_json::Value =
        serde_json::from_str(&cli_line(&db, "member list --json")).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
});

both_engines!(serve_first_start_and_health, |db: TestDb| async move {
    let server = Server::start(&db).await;
    let client = reqwest::Client::new();
    let r = open(&client, format!("{}/healthz", server.base)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    let r = open(&client, format!("{}/readyz", server.base)).await;
    assert_eq!(r.text().await.unwrap(), "ready");
    let first = server.stdout();
    assert!(first.contains("one-time password"), "{first}");
    assert!(first.contains("admin@guildgate.local"), "{first}");
    assert!(server.stop().success(), "graceful shutdown exits 0");

    // The password is shown once: a second start does not print one.
    let server = Server::start(&db).await;
    assert!(!server.stdout().contains("one-time password"));
    let json: serde_json::Value =
        serde_json::from_str(&cli_line(&db, "member show admin --json")).unwrap();
    assert_eq!(json["account"]["role"], "admin");
    assert_eq!(json["account"]["must_change_password"], true);
});

both_engines!(metrics_on_a_management_address, |db: TestDb| async move {
    let client = reqwest::Client::new();
    // By default `/metrics` is on the main listener.
    let server = Server::start(&db).await;
    let r = open(&client, format!("{}/metrics", server.base)).await;
    assert_eq!(r.status(), 200);
    assert!(server.stop().success());

    // With `metrics_listen`, only there (with the probes), and both listeners stop together.
    let port = crate::support::free_port();
    let at = format!("127.0.0.1:{port}");
    let server = Server::start_with(&db, &[("GUILDGATE_METRICS_LISTEN", &at)]).await;
    let r = open(&client, format!("{}/metrics", server.base)).await;
    assert_eq!(r.status(), 404, "not on the public listener");
    let mut body = String::new();
    for _ in 0..50 {
        if let Ok(r) = client.get(format!("http://{at}/metrics")).send().await {
            body = r.text().await.unwrap();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(body.contains("guildgate_hl_queue_depth"), "{body}");
    let r = open(&client, format!("http://{at}/readyz")).await;
    assert_eq!(r.text().await.unwrap(), "ready");
    let r = open(&client, format!("http://{at}/admin/members")).await;
    assert_eq!(r.status(), 404, "nothing else on the management address");
    assert!(server.stop().success(), "graceful shutdown of both exits 0");
    assert!(client
        .get(format!("http://{at}/healthz"))
        .send()
        .await
        .is_err());
});

#[test]
fn bad_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "g.toml", "max_connections = \"lots\"\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_guildgate"))
        .current_dir(dir.path())
        .args(["--config", config.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("max_connections") && err.contains("lots"),
        "{err}"
    );
    // Nothing was created.
    assert!(!dir.path().join("data").exists());

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_guildgate"))
        .current_dir(dir.path())
        .env("GUILDGATE_ISSUER", "http://example.org")
        .arg("migrate")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("issuer"), "{err}");
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["member", "--help"],
        vec!["member", "add", "--help"],
        vec!["company", "--help"],
        vec!["field", "--help"],
        vec!["group", "--help"],
        vec!["import", "--help"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_guildgate"))
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}
