//! The sync through the real binary: `serve` with its worker, `kill -9` mid-sync,
//! `/metrics`, `sync run`, `sync status`, `hl settings`, `group sync`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use guildgate::accounts::Role;
use guildgate::custom_fields::AppliesTo;
use guildgate::db::Store;
use guildgate::members::MemberData;

use crate::support::hl::{
    add_chapter_group, add_field, field, save_settings_cli, set_value, FAST_WORKER_ENV, TENANT,
};
use crate::support::hl_double::{Faults, HlDouble};
use crate::support::{cli, cli_err, cli_line, eventually, Server, TestDb};

const KEY: &str = "hl-cli-api-key-0123456789abcdef";

async fn setup(db: &TestDb, members: usize) -> (Store, HlDouble) {
    db.set_binary_env(FAST_WORKER_ENV);
    let store = db.store().await;
    let double = HlDouble::start(TENANT, KEY).await;
    let shown = save_settings_cli(db, &double.base_url, KEY, &["--json"]);
    assert!(!shown.contains(KEY), "the key is never shown: {shown}");
    assert!(shown.contains("••••cdef"), "{shown}");
    add_field(
        &store,
        field("chapter", "Chapter", &[], AppliesTo::Both, false),
    )
    .await;
    for i in 0..members {
        add(&store, i).await;
    }
    add_chapter_group(&store, "north", "North").await;
    (store, double)
}

async fn add(store: &Store, i: usize) {
    let key = format!("S{i:04}");
    let login = format!("s{i}@example.org");
    store
        .add_member_with_account(
            "test",
            &key,
            MemberData {
                first_name: Some(format!("First{i}")),
                last_name: Some("Member".into()),
                email: Some(login.clone()),
                ..Default::default()
            },
            Some((login.as_str(), Role::Member)),
        )
        .await
        .unwrap();
    set_value(store, &key, "chapter", "North").await;
}

async fn expected_north(store: &Store) -> BTreeSet<String> {
    let m = store.group_members("north").await.unwrap();
    m.with_account
        .iter()
        .chain(&m.deactivated)
        .map(|m| m.member_key.clone())
        .collect()
}

both_engines!(
    serve_pushes_changes_and_survives_kill_9,
    |db: TestDb| async move {
        let (store, double) = setup(&db, 40).await;
        cli_line(&db, "group sync north --on --type community");
        let server = Server::start(&db).await;
        let want = expected_north(&store).await;
        eventually("the first full sync", Duration::from_secs(60), || {
            double.with(|s| s.members_of("north") == want)
        })
        .await;

        // A change arrives by itself while serve runs.
        let mut d = store.member("S0003").await.unwrap().data;
        d.first_name = Some("Renamed".into());
        store.update_member("test", "S0003", d).await.unwrap();
        eventually("the change", Duration::from_secs(30), || {
            double.with(|s| s.detail("S0003", "FirstName").as_deref() == Some("Renamed"))
        })
        .await;

        // The counter moves once the push is recorded, a moment after the double has it.
        let pushed_total = |metrics: &str| -> f64 {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix("guildgate_hl_contacts_pushed_total "))
                .unwrap()
                .parse()
                .unwrap()
        };
        let mut metrics = String::new();
        for _ in 0..100 {
            metrics = reqwest::get(format!("{}/metrics", server.base))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if pushed_total(&metrics) >= 41.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for name in [
            "guildgate_hl_queue_depth",
            "guildgate_hl_contacts_pushed_total",
            "guildgate_hl_push_failures_total",
            "guildgate_hl_push_duration_seconds_bucket",
            "guildgate_hl_change_to_push_seconds_bucket",
        ] {
            assert!(metrics.contains(name), "{name} missing from\n{metrics}");
        }
        let pushed = pushed_total(&metrics);
        assert!(pushed >= 41.0, "{pushed}");

        // Many more members, a slow Higher Logic, and serve killed with SIGKILL mid-sync.
        double.set_faults(Faults {
            slow: 1.0,
            slow_ms: 150,
            ..Default::default()
        });
        for i in 40..200 {
            add(&store, i).await;
        }
        store
            .rename_group("test", "north", "Northern")
            .await
            .unwrap();
        eventually("pushes under way", Duration::from_secs(60), || {
            double.with(|s| s.members_of("north").len() > 60)
        })
        .await;
        drop(server); // kill -9
        let before = double.with(|s| s.members_of("north").len());
        assert!(before < 200, "killed mid-sync ({before} pushed)");
        double.set_faults(Faults::default());
        let server = Server::start(&db).await;
        let want = expected_north(&store).await;
        assert_eq!(want.len(), 200);
        eventually(
            "the sync to finish after the restart",
            Duration::from_secs(90),
            || {
                double
                    .with(|s| s.members_of("north") == want && s.groups["north"].name == "Northern")
            },
        )
        .await;
        double.with(|s| assert_eq!(s.group_creations["north"], 1, "no duplicate group"));
        let status = cli_line(&db, "sync status --json");
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut status = status;
        while status["pending"] != 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            status = serde_json::from_str(&cli_line(&db, "sync status --json")).unwrap();
        }
        assert_eq!(status["pending"], 0, "{status}");
        assert_eq!(status["groups"][0]["state"], "up_to_date", "{status}");
        server.stop();
    }
);

both_engines!(sync_run_and_status_from_the_cli, |db: TestDb| async move {
    let (store, double) = setup(&db, 30).await;
    let status = cli_line(&db, "sync status");
    assert!(status.contains("0 pending"), "{status}");
    cli_line(&db, "group sync north --on --type community");
    let err = cli_err(&db, "group sync north --on --type security");
    assert!(err.contains("cannot change"), "{err}");

    let status: serde_json::Value =
        serde_json::from_str(&cli_line(&db, "sync status --json")).unwrap();
    assert!(status["pending"].as_i64().unwrap() + status["fanouts_pending"].as_i64().unwrap() > 0);
    assert_eq!(status["groups"][0]["state"], "pending");
    assert_eq!(
        double.with(|s| s.requests),
        0,
        "nothing pushed without a worker"
    );

    let out = cli_line(&db, "sync run --timeout 60");
    assert!(out.contains("pushed 30 contacts"), "{out}");
    assert_eq!(
        double.with(|s| s.members_of("north")),
        expected_north(&store).await
    );
    let status = cli_line(&db, "sync status");
    assert!(status.contains("up to date as of"), "{status}");

    // A refused record is parked, reported, and retried on request.
    double.set_faults(Faults {
        reject_keys: ["S0001".to_string()].into(),
        ..Default::default()
    });
    store.rename_group("test", "north", "N2").await.unwrap();
    let out = cli_line(&db, "sync run --timeout 60");
    assert!(out.contains("1 parked"), "{out}");
    let status: serde_json::Value =
        serde_json::from_str(&cli_line(&db, "sync status --json")).unwrap();
    assert_eq!(status["parked"], 1);
    assert_eq!(status["groups"][0]["state"], "error");
    double.set_faults(Faults::default());
    cli_line(&db, "sync retry-parked");
    cli_line(&db, "sync run --timeout 60");
    double.with(|s| assert_eq!(s.groups["north"].name, "N2"));

    // Higher Logic down: `sync run` gives up at its timeout and says so.
    double.with(|s| s.api_key = "other".into());
    store.rename_group("test", "north", "N3").await.unwrap();
    let out = cli(&db, &["sync", "run", "--timeout", "2"], None);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("401"), "{text}");
    let status: serde_json::Value =
        serde_json::from_str(&cli_line(&db, "sync status --json")).unwrap();
    assert!(
        status["last_error"].as_str().unwrap_or("").contains("401"),
        "{status}"
    );

    // Higher Logic back: the first accepted push clears the error, text and JSON.
    double.with(|s| s.api_key = KEY.into());
    cli_line(&db, "sync run --timeout 60");
    let status: serde_json::Value =
        serde_json::from_str(&cli_line(&db, "sync status --json")).unwrap();
    assert!(status["last_error"].is_null(), "{status}");
    assert!(status["last_error_at"].is_null(), "{status}");
    let text = cli_line(&db, "sync status");
    assert!(!text.contains("error"), "{text}");
});
