//! The member store, on SQLite and on PostgreSQL.

use crate::support::hl::{add_field, field, field_flags, set_value};
use crate::support::{count, people, TestDb};
use guildgate::accounts::Role;
use guildgate::custom_fields::{AppliesTo, FieldSpec, FieldType};
use guildgate::db::{Store, StoreError};
use guildgate::groups::{Condition, Selection};
use guildgate::import::ImportError;
use guildgate::members::MemberData;

fn person(first: &str, last: &str, member_type: &str) -> MemberData {
    MemberData {
        membership_status: Some("active".into()),
        ..people::person(first, last, member_type)
    }
}

async fn chapter_field(store: &Store) {
    let spec = field(
        "chapter",
        "Chapter",
        &["North", "South"],
        AppliesTo::Person,
        true,
    );
    add_field(store, spec).await;
}

async fn rows(store: &Store, table: &str) -> i64 {
    count(store, &format!("SELECT COUNT(*) FROM {table}")).await
}

both_engines!(members_and_change_log, |db: TestDb| async move {
    let store = db.store().await;
    let m = store
        .add_member("test", "M1", person("Ada", "Lovelace", "Regular"))
        .await
        .unwrap();
    assert_eq!(m.display_name(), "Ada Lovelace");
    assert_eq!(m.account_state, None);

    let err = store
        .add_member("test", "M1", person("Bob", "Babbage", "Regular"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");

    let mut data = m.data.clone();
    data.city = Some("London".into());
    store
        .update_member("test", "M1", data.clone())
        .await
        .unwrap();
    // Writing the same data again is not a change.
    store.update_member("test", "M1", data).await.unwrap();

    let changes = store.changes_for_member(&m.id).await.unwrap();
    let actions: Vec<&str> = changes.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(actions, vec!["created", "updated"]);
    assert!(changes[1].detail.contains("city"), "{}", changes[1].detail);

    // A refused change writes nothing, change log included.
    let before = rows(&store, "change_log").await;
    let mut bad = person("Cy", "Clock", "Regular");
    bad.email = Some("nope".into());
    assert!(matches!(
        store.add_member("test", "M2", bad).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(rows(&store, "change_log").await, before);
    assert_eq!(store.count_members().await.unwrap(), 1);
});

both_engines!(companies_and_accounts, |db: TestDb| async move {
    let store = db.store().await;
    store
        .add_member("test", "C1", people::company("Acme"))
        .await
        .unwrap();
    let mut p = person("Ada", "Lovelace", "Regular");
    p.company_key = Some("C1".into());
    let m = store.add_member("test", "M1", p).await.unwrap();
    assert_eq!(m.data.company_key.as_deref(), Some("C1"));

    let mut p = person("Bob", "Babbage", "Regular");
    p.company_key = Some("M1".into());
    let err = store.add_member("test", "M2", p).await.unwrap_err();
    assert!(err.to_string().contains("names a person"), "{err}");

    let a = store
        .create_account("test", "M1", "ADA@Example.org", Role::Member)
        .await
        .unwrap();
    assert_eq!(a.login_email, "ada@example.org");
    assert!(a.is_active() && !a.has_password());
    let err = store
        .create_account("test", "C1", "ada@example.org", Role::Member)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");

    assert!(store.set_password("test", "M1", "short").await.is_err());
    store
        .set_password("test", "M1", "a long enough password")
        .await
        .unwrap();
    let a = store
        .account_by_login("ada@example.org")
        .await
        .unwrap()
        .unwrap();
    assert!(store
        .verify_password("a long enough password".into(), a.password_hash.clone())
        .await
        .unwrap());

    let a = store.deactivate_account("test", "M1").await.unwrap();
    assert_eq!(a.state, "deactivated");
    assert!(a.deactivated_at.is_some());
    let a = store.reactivate_account("test", "M1").await.unwrap();
    assert!(a.is_active() && a.deactivated_at.is_none());
});

both_engines!(sync_flag_needs_members_section, |db: TestDb| async move {
    let store = db.store().await;
    let spec = FieldSpec {
        field_key: "hidden".into(),
        name: "Hidden".into(),
        field_type: FieldType::Text,
        choices: vec![],
        applies_to: AppliesTo::Both,
        show_in_members: false,
        sync_to_higher_logic: true,
    };
    let err = store.add_field("test", spec.clone()).await.unwrap_err();
    assert!(err.to_string().contains("Members section"), "{err}");
    store
        .add_field(
            "test",
            FieldSpec {
                sync_to_higher_logic: false,
                ..spec
            },
        )
        .await
        .unwrap();
    let err = store
        .update_field("test", "hidden", field_flags(None, Some(true)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Members section"), "{err}");
    let f = store
        .update_field("test", "hidden", field_flags(Some(true), Some(true)))
        .await
        .unwrap();
    assert!(f.sync_to_higher_logic);
    // Hiding the field again drops the sync mark with it.
    let f = store
        .update_field("test", "hidden", field_flags(Some(false), None))
        .await
        .unwrap();
    assert!(!f.sync_to_higher_logic);
});

both_engines!(
    group_conditions_follow_member_data,
    |db: TestDb| async move {
        let store = db.store().await;
        chapter_field(&store).await;
        for (key, first, t) in [
            ("M1", "Ada", "Regular"),
            ("M2", "Bob", "Student"),
            ("M3", "Cy", "Regular"),
        ] {
            store
                .add_member("test", key, person(first, "X", t))
                .await
                .unwrap();
        }
        store
            .create_account("test", "M1", "ada@example.org", Role::Member)
            .await
            .unwrap();
        store
            .create_account("test", "M2", "bob@example.org", Role::Member)
            .await
            .unwrap();
        set_value(&store, "M1", "chapter", "north").await;
        set_value(&store, "M3", "chapter", "North").await;

        let conditions = vec![
            Condition::parse("member_type=Regular|Student").unwrap(),
            Condition::parse("field.chapter=North").unwrap(),
            Condition::parse("membership_status!=lapsed").unwrap(),
        ];
        let g = store
            .add_group(
                "test",
                Some("north"),
                "North chapter",
                Selection::Conditions(conditions),
            )
            .await
            .unwrap();
        let keys = |m: &Vec<guildgate::members::Member>| {
            m.iter().map(|m| m.member_key.clone()).collect::<Vec<_>>()
        };
        let members = store.group_members(&g.group_key).await.unwrap();
        assert_eq!(keys(&members.with_account), vec!["M1"]);
        // M3 qualifies but has no user account: reported apart, never synced.
        assert_eq!(keys(&members.without_account), vec!["M3"]);

        // M2 enters when their chapter changes...
        set_value(&store, "M2", "chapter", "North").await;
        let members = store.group_members("north").await.unwrap();
        assert_eq!(keys(&members.with_account), vec!["M1", "M2"]);
        let groups = store.groups_of_member("M2").await.unwrap();
        assert_eq!(groups.len(), 1);

        // ...and M1 leaves when their membership lapses.
        let mut data = store.member("M1").await.unwrap().data;
        data.membership_status = Some("lapsed".into());
        store.update_member("test", "M1", data).await.unwrap();
        let members = store.group_members("north").await.unwrap();
        assert_eq!(keys(&members.with_account), vec!["M2"]);
        assert!(store.groups_of_member("M1").await.unwrap().is_empty());

        // A deactivated account stays in the group, reported as such.
        store.deactivate_account("test", "M2").await.unwrap();
        let members = store.group_members("north").await.unwrap();
        assert!(members.with_account.is_empty());
        assert_eq!(keys(&members.deactivated), vec!["M2"]);

        // Conditions on fields that do not exist are refused.
        let err = store
            .add_group(
                "test",
                None,
                "Bad",
                Selection::Conditions(vec![Condition::parse("field.colour=red").unwrap()]),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        assert_eq!(store.list_groups().await.unwrap().len(), 1);

        // Renaming keeps the key.
        let g = store
            .rename_group("test", "north", "Northern chapter")
            .await
            .unwrap();
        assert_eq!(
            (g.group_key.as_str(), g.name.as_str()),
            ("north", "Northern chapter")
        );
    }
);

both_engines!(static_groups, |db: TestDb| async move {
    let store = db.store().await;
    store
        .add_member("test", "M1", person("Ada", "X", "Regular"))
        .await
        .unwrap();
    store
        .add_member("test", "M2", person("Bob", "X", "Regular"))
        .await
        .unwrap();
    let g = store
        .add_group(
            "test",
            Some("board"),
            "Board",
            Selection::Static(vec!["M1".into()]),
        )
        .await
        .unwrap();
    assert_eq!(store.group_members(&g.group_key).await.unwrap().total(), 1);
    store
        .set_selection(
            "test",
            "board",
            Selection::Static(vec!["M1".into(), "M2".into()]),
        )
        .await
        .unwrap();
    assert_eq!(store.group_members("board").await.unwrap().total(), 2);
    let err = store
        .set_selection("test", "board", Selection::Static(vec!["M9".into()]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("M9"), "{err}");
    // The refused change left the group as it was.
    assert_eq!(store.group_members("board").await.unwrap().total(), 2);
});

const GOOD_CSV: &str = "member_key,kind,first_name,last_name,name,email,company_key,member_type,membership_status,account_email,field.chapter\n\
P1,person,Ada,Lovelace,,ada@example.org,C1,Regular,active,ada@example.org,North\n\
C1,company,,,Acme,info@acme.example,,Corporate,active,,\n\
P2,person,Bob,Babbage,,bob@example.org,,Student,active,,South\n";

both_engines!(
    import_is_all_or_nothing_and_idempotent,
    |db: TestDb| async move {
        let store = db.store().await;
        chapter_field(&store).await;

        let bad = "member_key,first_name,email,field.chapter,field.colour\n\
               P1,Ada,ada@example.org,North,\n\
               P1,Ada again,ada2@example.org,North,\n\
               P3,,p3@example.org,,\n\
               P4,Dee,not-an-email,West,\n";
        let err = store
            .import_csv("test", bad.as_bytes(), false)
            .await
            .unwrap_err();
        let ImportError::Rejected(problems) = err else {
            panic!("{err}")
        };
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        for (line, says) in [
            ("line 3", "first on line 2"),
            ("line 4", "first_name"),
            ("line 5", "not-an-email"),
            ("line 5", "West"),
        ] {
            assert!(
                text.iter().any(|p| p.starts_with(line) && p.contains(says)),
                "no problem on {line} saying {says:?}: {text:?}"
            );
        }
        assert!(text.iter().any(|p| p.contains("colour")), "{text:?}");
        assert_eq!(store.count_members().await.unwrap(), 0);
        assert_eq!(rows(&store, "change_log").await, 1); // only the field's creation

        let import_good_csv = || store.import_csv("test", GOOD_CSV.as_bytes(), false);
        let report = import_good_csv().await.unwrap();
        assert_eq!(
            (report.created, report.updated, report.accounts_created),
            (3, 0, 1)
        );
        let p1 = store.member("P1").await.unwrap();
        assert_eq!(p1.data.company_key.as_deref(), Some("C1"));
        assert_eq!(p1.account_state.as_deref(), Some("active"));
        assert_eq!(
            store.field_values(&p1.id).await.unwrap(),
            vec![("chapter".to_string(), "North".to_string())]
        );

        // The same file again changes nothing and duplicates nothing.
        let log = rows(&store, "change_log").await;
        let report = import_good_csv().await.unwrap();
        assert_eq!(
            (report.created, report.updated, report.unchanged),
            (0, 0, 3)
        );
        assert_eq!(store.count_members().await.unwrap(), 3);
        assert_eq!(rows(&store, "accounts").await, 1);
        assert_eq!(rows(&store, "change_log").await, log);

        // An edited file updates.
        let edited = GOOD_CSV.replace("Babbage", "Babbage-Smith");
        let report = store
            .import_csv("test", edited.as_bytes(), false)
            .await
            .unwrap();
        assert_eq!((report.updated, report.unchanged), (1, 2));
        assert_eq!(
            store.member("P2").await.unwrap().data.last_name.as_deref(),
            Some("Babbage-Smith")
        );

        // A dry run reports and writes nothing.
        let more = format!("{GOOD_CSV}P9,person,Nine,Nine,,,,,,,\n");
        let report = store
            .import_csv("test", more.as_bytes(), true)
            .await
            .unwrap();
        assert_eq!(report.created, 1);
        assert!(store.member("P9").await.is_err());

        // A company key that is neither in the file nor in the database is refused.
        let orphan = "member_key,first_name,company_key\nP5,Eve,C404\n";
        let err = store
            .import_csv("test", orphan.as_bytes(), false)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("line 2") && err.to_string().contains("C404"),
            "{err}"
        );
    }
);

both_engines!(malformed_csv_is_refused, |db: TestDb| async move {
    let store = db.store().await;
    let broken = "member_key,first_name\nP1,Ada\nP2,Bob,extra\n\"P3,Cy\n";
    let err = store
        .import_csv("test", broken.as_bytes(), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("line 3"), "{err}");
    assert_eq!(store.count_members().await.unwrap(), 0);
});

both_engines!(first_start_creates_one_admin, |db: TestDb| async move {
    let store = db.store().await;
    let admin = store
        .bootstrap_admin("root@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(admin.one_time_password.len(), 24);
    let a = store
        .account_by_login("root@example.org")
        .await
        .unwrap()
        .unwrap();
    assert!(a.is_admin() && a.must_change_password);
    assert!(store
        .verify_password(admin.one_time_password, a.password_hash)
        .await
        .unwrap());
    assert!(store
        .bootstrap_admin("root@example.org")
        .await
        .unwrap()
        .is_none());
});
