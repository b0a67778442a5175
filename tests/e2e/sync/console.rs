//! A member edited in the admin console reaches Higher Logic, as a command-line change does:
//! the console writes the change with its change-log entry, and the outbox sends it.

use guildgate::accounts::Role;
use reqwest::StatusCode;

use super::{add, drain, setup, sync_north};
use crate::support::people::{add_account, person};
use crate::support::{TestApp, TestDb};

const ADMIN_PASSWORD: &str = "correct horse battery staple";

both_engines!(
    a_member_edited_in_the_console_reaches_higher_logic,
    |db: TestDb| async move {
        let (store, double) = setup(&db).await;
        add(&store, "M1", "North", true).await;
        sync_north(&store).await;
        let ada = person("Ada", "Console", "Staff");
        add_account(&store, "A1", ada, Role::Admin, Some(ADMIN_PASSWORD)).await;
        drain(&store).await;
        double.with(|s| assert_eq!(s.detail("M1", "LastName").as_deref(), Some("Northson")));

        let app = TestApp::spawn(&db).await;
        let admin = app.console("ada@example.org", ADMIN_PASSWORD).await;
        let edit = [
            ("first_name", "M1"),
            ("last_name", "Consoleson"),
            ("email", "m1@example.org"),
            ("city", "Leeds"),
            ("field.chapter", "North"),
        ];
        let (s, html, _) = admin.post("/admin/members/M1/edit", &edit).await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
        drain(&store).await;
        double.with(|s| {
            assert_eq!(s.detail("M1", "LastName").as_deref(), Some("Consoleson"));
            assert!(s.members_of("north").contains("M1"));
        });
        // The change is the administrator's in the log.
        let m1 = store.member("M1").await.unwrap();
        let changes = store.changes_for_member(&m1.id).await.unwrap();
        assert!(changes
            .iter()
            .any(|c| c.action == "updated" && c.actor == "admin:ada@example.org"));
    }
);
