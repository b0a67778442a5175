//! The Higher Logic page and group sync in the console, against the Push API double.

use reqwest::StatusCode;

use super::{seed, ADMIN_PASSWORD};
use crate::support::app::Console;
use crate::support::{hl_double, TestApp, TestDb};

const PAGE: &str = "/admin/integrations/higher-logic";
const RIGHT_KEY: &str = "the-real-api-key-0001";
const WRONG_KEY: &str = "wrong-key-000000000";

/// The seeded store, the Higher Logic double, the application and a signed-in administrator
/// who has found the page not configured yet.
async fn start(db: &TestDb) -> (hl_double::HlDouble, TestApp, Console) {
    seed(db).await;
    let double = hl_double::HlDouble::start("ASSOC", RIGHT_KEY).await;
    let app = TestApp::spawn(db).await;
    let admin = app.console("ada@example.org", ADMIN_PASSWORD).await;
    let (s, html, _) = admin.page(PAGE).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("not configured"));
    (double, app, admin)
}

/// Posts the Higher Logic settings form: tenant ASSOC, `key`, `base_url`, `flags` ticked.
async fn save_settings(
    admin: &Console,
    key: &str,
    base_url: &str,
    flags: &[&'static str],
) -> (StatusCode, String) {
    let mut form = vec![
        ("tenant_code", "ASSOC"),
        ("api_key", key),
        ("base_url", base_url),
    ];
    form.extend(flags.iter().map(|flag| (*flag, "on")));
    let (status, html, _) = admin.post(PAGE, &form).await;
    (status, html)
}

/// The page the test-connection button answers with.
async fn test_connection(admin: &Console) -> String {
    admin.post(&format!("{PAGE}/test"), &[]).await.1
}

/// No secret in the audit log.
async fn assert_audit_keeps_no_key(admin: &Console) {
    let (_, html, _) = admin.page("/admin/audit").await;
    assert!(!html.contains(RIGHT_KEY) && !html.contains(WRONG_KEY));
}

both_engines!(
    higher_logic_settings_and_test_connection,
    |db: TestDb| async move {
        let (double, _app, admin) = start(&db).await;

        // Test connection before anything is entered: said in words.
        let html = test_connection(&admin).await;
        assert!(
            html.contains("Enter the tenant code and the API key first"),
            "{html}"
        );

        // A plain-http address off loopback is refused; nothing saved.
        let off_loopback = "http://data.example.org/push";
        let (s, html) = save_settings(&admin, WRONG_KEY, off_loopback, &[]).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(html.contains("https"), "{html}");

        // A wrong key: saved, masked, and the test says Higher Logic refused it.
        let bio = ["integrate_bio"];
        let (s, _) = save_settings(&admin, WRONG_KEY, &double.base_url, &bio).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let (_, html, _) = admin.page(PAGE).await;
        assert!(!html.contains(WRONG_KEY), "the key is write-only");
        assert!(html.contains("••••0000"), "{html}");
        let html = test_connection(&admin).await;
        assert!(html.contains("refused the API key"), "{html}");

        // Replace the key (an empty field keeps it; a new one replaces it).
        let (s, _) = save_settings(&admin, RIGHT_KEY, &double.base_url, &bio).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let bio_and_social = ["integrate_bio", "integrate_social"];
        let (s, _) = save_settings(&admin, "", &double.base_url, &bio_and_social).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let html = test_connection(&admin).await;
        assert!(
            html.contains("Higher Logic accepted the tenant code ASSOC"),
            "{html}"
        );
        let store = db.store().await;
        let saved = store.hl_settings().await.unwrap();
        assert_eq!(saved.api_key(), RIGHT_KEY);
        assert!(saved.integrate_bio && saved.integrate_social && !saved.integrate_profile_image);
        assert_audit_keeps_no_key(&admin).await;
    }
);

both_engines!(
    higher_logic_group_sync_from_the_console,
    |db: TestDb| async move {
        let (double, _app, admin) = start(&db).await;

        // The settings as entered above: the right key, bio and social on.
        let bio_and_social = ["integrate_bio", "integrate_social"];
        let (s, _) = save_settings(&admin, RIGHT_KEY, &double.base_url, &bio_and_social).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let store = db.store().await;

        // Group sync: on as a Community; the type is then locked, with the reason shown.
        let group = "/admin/groups/g1";
        let (_, html, _) = admin.page(group).await;
        assert!(html.contains("Not synced to Higher Logic"));
        let sync = |group_type| [("sync", "on"), ("group_type", group_type)];
        let (s, _, _) = admin
            .post("/admin/groups/g1/sync", &sync("community"))
            .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let (_, html, _) = admin.page(group).await;
        assert!(html.contains("first full sync has started"), "{html}");
        assert!(html.contains("id=\"type-lock\""), "{html}");
        assert!(html.contains("Higher Logic community"), "{html}");
        let (s, html, _) = admin.post("/admin/groups/g1/sync", &sync("security")).await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert!(html.contains("cannot change"), "{html}");
        let g = store.group("g1").await.unwrap();
        assert_eq!(g.hl_group_type.as_deref(), Some("community"));
        // The worker inside serve pushes the group; the status line moves to up to date.
        let html = admin.page_until(group, 150, "Up to date").await;
        assert!(
            html.contains("Up to date in the Higher Logic community as of"),
            "{html}"
        );
        assert!(
            html.contains("1 member has no user account and is not sent"),
            "{html}"
        );
        let expected: std::collections::BTreeSet<String> =
            ["A1", "P1"].iter().map(|s| s.to_string()).collect();
        assert_eq!(double.with(|s| s.members_of("g1")), expected);

        a_refused_record_is_listed_and_sent_again(&db, &double, &admin).await;
        assert_audit_keeps_no_key(&admin).await;
    }
);

/// A record Higher Logic refuses: listed on the Higher Logic page with its answer, and sent
/// again with the button once the cause is gone.
async fn a_refused_record_is_listed_and_sent_again(
    db: &TestDb,
    double: &hl_double::HlDouble,
    admin: &Console,
) {
    double.set_faults(hl_double::Faults {
        reject_keys: ["P1".to_string()].into(),
        ..Default::default()
    });
    let store = db.store().await;
    store
        .set_field_value("test", "P1", "chapter", "South")
        .await
        .unwrap();
    let html = admin.page_until(PAGE, 150, "id=\"refused\"").await;
    assert!(html.contains("Refused by Higher Logic"), "{html}");
    assert!(html.contains(">P1</a>"), "{html}");
    double.set_faults(hl_double::Faults::default());
    let (s, _, location) = admin.post(&format!("{PAGE}/retry-refused"), &[]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some(PAGE));
    let (_, html, _) = admin.page(PAGE).await;
    assert!(
        html.contains("1 refused contact is back in the queue"),
        "{html}"
    );
    let probe = || async { admin.page(PAGE).await.1 };
    let settled =
        |html: &String| !html.contains("id=\"refused\"") && html.contains("· 0 changes pending");
    let html = crate::support::poll(150, probe, settled).await;
    assert!(!html.contains("id=\"refused\""), "{html}");
    assert_eq!(
        double.with(|s| s.detail("P1", "FirstName")).as_deref(),
        Some("Bob")
    );
}

both_engines!(
    key_clashes_and_refusals_on_the_console_pages,
    |db: TestDb| async move {
        let (double, _app, admin) = start(&db).await;
        let (s, _) = save_settings(&admin, RIGHT_KEY, &double.base_url, &[]).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        // The group's key belongs to a group made inside Higher Logic: the group page says so
        // and offers a new key; with it, its members arrive.
        double.add_native_group("g1", "Their own group", "community");
        let on = [("sync", "on"), ("group_type", "community")];
        let (s, _, _) = admin.post("/admin/groups/g1/sync", &on).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let html = admin
            .page_until("/admin/groups/g1", 150, "id=\"key-clash\"")
            .await;
        assert!(
            html.contains("Sync error: this key is already used in Higher Logic: choose another key for this group"),
            "{html}"
        );
        let rekey = [
            ("sync", "on"),
            ("group_type", "community"),
            ("group_key", "g1-new"),
        ];
        let (s, _, location) = admin.post("/admin/groups/g1/sync", &rekey).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert_eq!(location.as_deref(), Some("/admin/groups/g1-new"));
        let html = admin
            .page_until("/admin/groups/g1-new", 150, "Up to date")
            .await;
        assert!(!html.contains("id=\"key-clash\""), "{html}");
        assert_eq!(double.with(|s| s.members_of("g1-new").len()), 2);

        // Higher Logic refuses everything: both pages say so; nothing is parked.
        let migrating = "Tenant ASSOC is being migrated";
        double.set_faults(hl_double::Faults {
            refuse_all: Some(migrating.into()),
            ..Default::default()
        });
        let store = db.store().await;
        // Both members go again: a refusal of two records alike that names neither.
        store
            .rename_group("test", "g1-new", "Renamed")
            .await
            .unwrap();
        let said = format!("Higher Logic refuses every record: {migrating}");
        let html = admin.page_until(PAGE, 150, &said).await;
        assert!(!html.contains("id=\"refused\""), "nothing parked: {html}");
        let html = admin.page_until("/admin/groups/g1-new", 150, &said).await;
        assert!(html.contains(&format!("Sync error: {said}")), "{html}");
        // It recovers by itself; the error goes.
        double.set_faults(hl_double::Faults::default());
        let html = admin.page_until(PAGE, 150, "· 0 changes pending").await;
        assert!(!html.contains("last error"), "{html}");
        assert_eq!(store.hl_status().await.unwrap().parked, 0);
    }
);
