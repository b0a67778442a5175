//! The Higher Logic sync engine against the Push API double, on SQLite and PostgreSQL; what
//! changes in its settings do, in [`settings`].

mod console;
mod failures;
mod limits;
mod operators;
mod settings;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use guildgate::accounts::Role;
use guildgate::custom_fields::AppliesTo;
use guildgate::db::{Store, StoreError};
use guildgate::groups::Selection;
use guildgate::higher_logic::client::PushV1;
use guildgate::higher_logic::settings::SettingsUpdate;
use guildgate::higher_logic::worker::{SyncSettings, Worker};
use guildgate::higher_logic::GroupType;
use guildgate::members::MemberData;

use crate::support::hl::{
    add_chapter_group, add_field, chapter, field, field_flags, save_settings, set_value, social_on,
    TENANT,
};
use crate::support::hl_double::{Faults, HlDouble};
use crate::support::people::company;
use crate::support::TestDb;

const KEY: &str = "hl-test-api-key-0123456789";

fn cfg() -> SyncSettings {
    SyncSettings {
        worker: true,
        lease_secs: 4,
        timeout_secs: 1,
        poll_ms: 20,
        batch_size: 25,
        backoff_base_ms: 20,
        backoff_max_ms: 300,
    }
}

fn worker(store: &Store) -> Worker {
    Worker::new(store.clone(), cfg()).unwrap()
}

fn person(first: &str, chapter_hint: &str) -> MemberData {
    MemberData {
        first_name: Some(first.into()),
        last_name: Some(format!("{chapter_hint}son")),
        email: Some(format!("{}@example.org", first.to_lowercase())),
        membership_status: Some("active".into()),
        member_since: Some("2020-01-01".into()),
        bio: Some(format!("{first} writes")),
        linkedin_url: Some(format!("https://linkedin.example/{first}")),
        ..Default::default()
    }
}

async fn setup(db: &TestDb) -> (Store, HlDouble) {
    let store = db.store().await;
    let double = HlDouble::start(TENANT, KEY).await;
    save_settings(
        &store,
        SettingsUpdate {
            tenant_code: Some(TENANT.into()),
            api_key: Some(KEY.into()),
            base_url: Some(double.base_url.clone()),
            integrate_bio: Some(true),
            ..Default::default()
        },
    )
    .await;
    double.with(|s| s.integrate_bio = true);
    let chapter = field(
        "chapter",
        "Chapter",
        &["North", "South"],
        AppliesTo::Both,
        false,
    );
    add_field(&store, chapter).await;
    add_field(
        &store,
        field("expertise", "Expertise", &[], AppliesTo::Both, true),
    )
    .await;
    (store, double)
}

async fn add(store: &Store, key: &str, chapter: &str, account: bool) {
    let login = format!("{}@example.org", key.to_lowercase());
    store
        .add_member_with_account(
            "test",
            key,
            person(key, chapter),
            account.then_some((login.as_str(), Role::Member)),
        )
        .await
        .unwrap();
    set_value(store, key, "chapter", chapter).await;
}

async fn drain(store: &Store) {
    let report = worker(store).drain(Duration::from_secs(60)).await.unwrap();
    assert!(report.complete, "drain did not complete: {report:?}");
}

/// What Higher Logic should hold, from Guildgate's data: synced group -> member keys with an
/// account (active or deactivated).
async fn expected(store: &Store) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for g in store.list_groups().await.unwrap() {
        if !g.hl_sync_enabled {
            continue;
        }
        let m = store.group_members(&g.group_key).await.unwrap();
        let keys = m
            .with_account
            .iter()
            .chain(&m.deactivated)
            .map(|m| m.member_key.clone())
            .collect();
        out.insert(g.group_key.clone(), keys);
    }
    out
}

/// The double's state equals Guildgate's expectation exactly: the same members in each synced
/// group, no other group holding members, every group created once, names and details current.
async fn assert_same_state(store: &Store, double: &HlDouble, parked: &[&str]) {
    let expected = expected(store).await;
    let groups = store.list_groups().await.unwrap();
    double.with(|s| {
        for (key, members) in &expected {
            let want: BTreeSet<String> = members
                .iter()
                .filter(|m| !parked.contains(&m.as_str()))
                .cloned()
                .collect();
            assert_eq!(s.members_of(key), want, "members of group {key}");
            if !want.is_empty() {
                let g = groups.iter().find(|g| &g.group_key == key).unwrap();
                assert_eq!(s.groups[key].name, g.name, "name of group {key}");
            }
        }
        for (gkey, _) in &s.memberships {
            assert!(
                expected.contains_key(gkey),
                "Higher Logic has members in {gkey}, which is not synced"
            );
        }
        for (gkey, n) in &s.group_creations {
            assert_eq!(*n, 1, "group {gkey} was created {n} times");
        }
    });
    for members in expected.values() {
        for key in members {
            if parked.contains(&key.as_str()) {
                continue;
            }
            let m = store.member(key).await.unwrap();
            double.with(|s| {
                let text = |f: &str| s.detail(key, f).unwrap_or_default();
                assert_eq!(
                    text("FirstName"),
                    m.data.first_name.unwrap_or_default(),
                    "{key}"
                );
                assert_eq!(
                    text("EmailAddress"),
                    m.data.email.unwrap_or_default(),
                    "{key}"
                );
                assert_eq!(s.detail(key, "IsActive").as_deref(), Some("True"), "{key}");
            });
        }
    }
}

/// The group `key` named `name` holding chapter `chapter_name`, synced as a Community.
async fn add_community(store: &Store, key: &str, name: &str, chapter_name: &str) {
    store
        .add_group("test", Some(key), name, chapter(chapter_name))
        .await
        .unwrap();
    store
        .set_group_sync("test", key, true, Some(GroupType::Community))
        .await
        .unwrap();
}

/// The group "north" (chapter North), synced to Higher Logic as a Community.
async fn sync_north(store: &Store) {
    add_community(store, "north", "North", "North").await;
}

/// `count` members of North with accounts, keyed `<prefix>00`, `<prefix>01`..., and the
/// North group synced as a community.
async fn synced_north_members(store: &Store, prefix: &str, count: usize) {
    for i in 0..count {
        add(store, &format!("{prefix}{i:02}"), "North", true).await;
    }
    sync_north(store).await;
}

/// [`setup`] with `count` members of the synced North group (see [`synced_north_members`]),
/// and the double failing as `faults` say.
async fn north_with_faults(
    db: &TestDb,
    prefix: &str,
    count: usize,
    faults: Faults,
) -> (Store, HlDouble) {
    let (store, double) = setup(db).await;
    synced_north_members(&store, prefix, count).await;
    double.set_faults(faults);
    (store, double)
}

/// Turns on the sync of each group with its type.
async fn sync_groups(store: &Store, groups: &[(&str, GroupType)]) {
    for (g, t) in groups {
        store
            .set_group_sync("test", g, true, Some(*t))
            .await
            .unwrap();
    }
}

both_engines!(end_to_end_story, |db: TestDb| async move {
    let (store, double) = setup(&db).await;
    for k in ["P1", "P2", "P3", "P4"] {
        add(&store, k, "North", true).await;
    }
    add(&store, "P5", "North", false).await; // no account: counted, never sent
    add(&store, "P6", "South", true).await;
    store
        .add_member_with_account(
            "test",
            "C1",
            company("Acme"),
            Some(("acme@example.org", Role::Member)),
        )
        .await
        .unwrap();
    let mut p4 = store.member("P4").await.unwrap().data;
    p4.company_key = Some("C1".into());
    store.update_member("test", "P4", p4).await.unwrap();
    set_value(&store, "C1", "chapter", "North").await;
    set_value(&store, "P1", "expertise", "Rust").await;

    // Nothing is pushed before a group is synced.
    drain(&store).await;
    assert_eq!(double.with(|s| s.requests), 0);

    add_community(&store, "north", "North chapter", "North").await;
    let status = store.hl_group_status("north").await.unwrap();
    assert_eq!(status.state, "pending");
    drain(&store).await;

    double.with(|s| {
        let want: BTreeSet<String> = ["C1", "P1", "P2", "P3", "P4"].map(String::from).into();
        assert_eq!(s.members_of("north"), want);
        assert_eq!(s.groups["north"].kind, "community");
        assert_eq!(s.groups["north"].name, "North chapter");
        assert!(!s.contacts.contains_key("P5"), "no account, not sent");
        assert!(!s.contacts.contains_key("P6"), "not in a synced group");
        assert_eq!(s.detail("C1", "IsOrganization").as_deref(), Some("True"));
        assert_eq!(s.detail("P4", "CompanyName").as_deref(), Some("Acme"));
        assert_eq!(s.detail("P4", "ParentMemberKey").as_deref(), Some("C1"));
        assert_eq!(s.detail("P1", "Bio").as_deref(), Some("P1 writes"));
        // Social media not activated: left out by Guildgate and ignored by the double.
        assert_eq!(s.detail("P1", "LinkedInURL"), None);
        let d = &s.contacts["P1"].demographics;
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0]["DemographicValue"], "Rust");
    });
    let status = store.hl_group_status("north").await.unwrap();
    assert_eq!(status.state, "up_to_date", "{status:?}");
    assert!(status.up_to_date_as_of.is_some());
    assert_eq!(status.without_account, 1);
    assert_eq!(status.with_account, 5);
    assert_same_state(&store, &double, &[]).await;

    // P2 leaves by a data change: one push without the group; the contact stays.
    set_value(&store, "P2", "chapter", "South").await;
    // Rename, synced custom field change, deactivation.
    store
        .rename_group("test", "north", "Northern chapter")
        .await
        .unwrap();
    set_value(&store, "P1", "expertise", "Go").await;
    store.deactivate_account("test", "P3").await.unwrap();
    // The company's new name reaches its people.
    let mut c1 = store.member("C1").await.unwrap().data;
    c1.name = Some("Acme Ltd".into());
    store.update_member("test", "C1", c1).await.unwrap();
    drain(&store).await;

    double.with(|s| {
        assert!(!s.members_of("north").contains("P2"));
        assert!(
            s.contacts.contains_key("P2"),
            "leaving never deletes the contact"
        );
        assert!(s.groups_of("P2").is_empty());
        assert_eq!(s.groups["north"].name, "Northern chapter");
        assert_eq!(s.group_creations["north"], 1);
        assert_eq!(s.contacts["P1"].demographics[0]["DemographicValue"], "Go");
        assert!(s.members_of("north").contains("P3"), "deactivated stays");
        assert_eq!(s.detail("P3", "IsActive").as_deref(), Some("True"));
        assert_eq!(s.detail("P4", "CompanyName").as_deref(), Some("Acme Ltd"));
    });
    assert_same_state(&store, &double, &[]).await;

    // A member leaving the group is pushed once; later changes to them are not sent.
    let pushes = double.with(|s| s.contacts["P2"].pushes);
    let mut p2 = store.member("P2").await.unwrap().data;
    p2.city = Some("Leeds".into());
    store.update_member("test", "P2", p2).await.unwrap();
    drain(&store).await;
    assert_eq!(double.with(|s| s.contacts["P2"].pushes), pushes);

    // The synced field leaves the sync: every contact is re-pushed without it.
    store
        .update_field("test", "expertise", field_flags(None, Some(false)))
        .await
        .unwrap();
    drain(&store).await;
    double.with(|s| assert!(s.contacts["P1"].demographics.is_empty()));

    // Turning sync off removes the group from its contacts (pushed without it).
    store
        .set_group_sync("test", "north", false, None)
        .await
        .unwrap();
    drain(&store).await;
    double.with(|s| {
        assert!(s.members_of("north").is_empty());
        assert!(s.contacts.contains_key("P1"));
    });
    let status = store.hl_status().await.unwrap();
    assert_eq!(status.pending, 0);
    assert_eq!(status.groups[0].state, "off");
});

both_engines!(
    group_type_is_locked_once_sync_was_on,
    |db: TestDb| async move {
        let (store, _double) = setup(&db).await;
        store
            .add_group("test", Some("g"), "G", Selection::Static(vec![]))
            .await
            .unwrap();
        let sync = |on, group_type| store.set_group_sync("test", "g", on, group_type);
        let err = sync(true, None).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
        sync(true, Some(GroupType::Community)).await.unwrap();
        let err = sync(true, Some(GroupType::Security)).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        sync(false, None).await.unwrap();
        let err = sync(true, Some(GroupType::Security)).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        let g = sync(true, None).await.unwrap();
        assert_eq!(g.hl_group_type.as_deref(), Some("community"));
        assert!(g.hl_sync_enabled && g.hl_type_locked);
        // Renames stay allowed.
        store.rename_group("test", "g", "G2").await.unwrap();
    }
);

both_engines!(
    security_groups_and_no_account_members,
    |db: TestDb| async move {
        let (store, double) = setup(&db).await;
        add(&store, "A1", "North", true).await;
        add(&store, "A2", "North", false).await;
        add(&store, "A3", "North", false).await;
        store
            .add_group(
                "test",
                Some("board"),
                "Board",
                Selection::Static(vec!["A1".into(), "A2".into(), "A3".into()]),
            )
            .await
            .unwrap();
        store
            .set_group_sync("test", "board", true, Some(GroupType::Security))
            .await
            .unwrap();
        drain(&store).await;
        double.with(|s| {
            assert_eq!(s.members_of("board"), BTreeSet::from(["A1".to_string()]));
            assert_eq!(s.groups["board"].kind, "security");
            assert_eq!(s.contacts.len(), 1);
        });
        let status = store.hl_group_status("board").await.unwrap();
        assert_eq!((status.with_account, status.without_account), (1, 2));
        // Getting an account brings the member in.
        store
            .create_account("test", "A2", "a2@example.org", Role::Member)
            .await
            .unwrap();
        drain(&store).await;
        assert!(double.with(|s| s.members_of("board").contains("A2")));
        assert_same_state(&store, &double, &[]).await;
    }
);

both_engines!(
    never_attaches_to_an_existing_group,
    |db: TestDb| async move {
        let (store, double) = setup(&db).await;
        double.add_native_group("LEGACY-1", "Old community", "community");
        double.add_native_group("LEGACY-2", "Old board", "security");
        for (k, chapter) in [("B1", "North"), ("B2", "South"), ("B3", "North")] {
            add(&store, k, chapter, true).await;
        }
        store
            .add_group("test", Some("LEGACY-1"), "Imported", chapter("North"))
            .await
            .unwrap();
        add_chapter_group(&store, "south", "South").await;
        let everyone = Selection::Static(["B1", "B2", "B3"].map(String::from).to_vec());
        store
            .add_group("test", Some("all"), "Everyone", everyone)
            .await
            .unwrap();
        let board = Selection::Static(vec!["B2".into()]);
        store
            .add_group("test", Some("LEGACY-2"), "Board", board)
            .await
            .unwrap();
        sync_groups(
            &store,
            &[
                ("LEGACY-1", GroupType::Community),
                ("south", GroupType::Community),
                ("all", GroupType::Community),
                ("LEGACY-2", GroupType::Security),
            ],
        )
        .await;
        // A mixed batch: the clashing groups are found and left out; nobody is parked, and
        // their members reach their other communities.
        let report = worker(&store).drain(Duration::from_secs(30)).await.unwrap();
        assert!(report.complete, "{report:?}");
        assert_eq!(report.parked, 0, "{report:?}");
        double.with(|s| {
            assert!(s.members_of("LEGACY-1").is_empty(), "never attached");
            assert!(s.members_of("LEGACY-2").is_empty(), "never attached");
            assert!(s.groups["LEGACY-1"].native);
            assert_eq!(s.members_of("south"), BTreeSet::from(["B2".to_string()]));
            assert_eq!(s.members_of("all").len(), 3);
        });
        for key in ["LEGACY-1", "LEGACY-2"] {
            let status = store.hl_group_status(key).await.unwrap();
            assert_eq!(status.state, "error", "{status:?}");
            assert!(
                status.message().starts_with(
                    "Sync error: this key is already used in Higher Logic: choose another key \
                     for this group"
                ),
                "{}",
                status.message()
            );
        }
        assert_eq!(store.hl_status().await.unwrap().parked, 0);
        assert_eq!(
            store.hl_group_status("south").await.unwrap().state,
            "up_to_date"
        );
        // A group that synced cannot be re-keyed; one that never did can.
        let err = store
            .hl_rekey_group("test", "all", "all-2")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        store
            .hl_rekey_group("test", "LEGACY-1", "north")
            .await
            .unwrap();
        // The other one's sync is turned off instead.
        store
            .set_group_sync("test", "LEGACY-2", false, None)
            .await
            .unwrap();
        drain(&store).await;
        double.with(|s| {
            let north: BTreeSet<String> = ["B1", "B3"].map(String::from).into();
            assert_eq!(s.members_of("north"), north);
            assert_eq!(s.group_creations["north"], 1);
        });
        assert_eq!(
            store.hl_group_status("north").await.unwrap().state,
            "up_to_date"
        );
        assert_eq!(
            store.hl_group_status("LEGACY-2").await.unwrap().state,
            "off"
        );
        assert_same_state(&store, &double, &[]).await;
    }
);

both_engines!(
    credentials_and_outages_pause_and_resume,
    |db: TestDb| async move {
        let (store, double) = setup(&db).await;
        add(&store, "D1", "North", true).await;
        add_community(&store, "n", "N", "North").await;
        double.with(|s| s.api_key = "rotated".into());
        let w = worker(&store);
        let tick = w.tick().await.unwrap();
        assert_eq!(tick.pushed, 0);
        assert!(tick.paused_until.is_some());
        let status = store.hl_status().await.unwrap();
        assert!(
            status.last_error.as_deref().unwrap().contains("401"),
            "{status:?}"
        );
        let g = store.hl_group_status("n").await.unwrap();
        assert_eq!(g.state, "error");
        assert!(g.next_attempt_at.is_some());
        assert_eq!(status.parked, 0, "a credentials problem parks nothing");
        // The administrator enters the new key; the engine resumes by itself.
        save_settings(
            &store,
            SettingsUpdate {
                api_key: Some("rotated".into()),
                ..Default::default()
            },
        )
        .await;
        // 429 with Retry-After: honoured, then through.
        double.set_faults(Faults {
            rate_429: 1.0,
            retry_after_secs: 1,
            ..Default::default()
        });
        tokio::time::sleep(Duration::from_millis(400)).await;
        let tick = w.tick().await.unwrap();
        let until = tick.paused_until.expect("rate limited");
        assert!(
            until - guildgate::db::now_ms() > 700,
            "Retry-After honoured"
        );
        double.set_faults(Faults::default());
        drain(&store).await;
        assert!(double.with(|s| s.members_of("n").contains("D1")));
        let status = store.hl_status().await.unwrap();
        assert!(status.paused_until.is_none());
    }
);

both_engines!(chaos_with_a_killed_worker, |db: TestDb| async move {
    let (store, double) = setup(&db).await;
    for i in 0..150 {
        let chapter = if i % 3 == 0 { "South" } else { "North" };
        add(&store, &format!("M{i:03}"), chapter, i % 10 != 7).await;
    }
    add_chapter_group(&store, "north", "North").await;
    add_chapter_group(&store, "south", "South").await;
    store
        .add_group(
            "test",
            Some("board"),
            "Board",
            Selection::Static((0..20).map(|i| format!("M{i:03}")).collect()),
        )
        .await
        .unwrap();
    sync_groups(
        &store,
        &[
            ("north", GroupType::Community),
            ("south", GroupType::Community),
            ("board", GroupType::Security),
        ],
    )
    .await;
    // 30% of requests fail, of every kind, and one record is always refused.
    double.set_faults(Faults {
        error_500: 0.08,
        rate_429: 0.04,
        retry_after_secs: 1,
        slow: 0.08,
        slow_ms: 1500, // beyond the 1 s client timeout
        drop: 0.10,
        reject_keys: ["M005".to_string()].into(),
        ..Default::default()
    });
    // Worker A runs and is killed mid-sync (its claims stay until their lease ends).
    let a = tokio::spawn({
        let store = store.clone();
        async move { worker(&store).drain(Duration::from_secs(120)).await }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    a.abort();
    let _ = a.await;
    // Changes keep arriving meanwhile.
    for i in (1..150).step_by(11) {
        let chapter = if i % 2 == 0 { "South" } else { "North" };
        set_value(&store, &format!("M{i:03}"), "chapter", chapter).await;
    }
    store
        .rename_group("test", "south", "Southern")
        .await
        .unwrap();
    store.deactivate_account("test", "M010").await.unwrap();
    // Worker B takes over (after A's leases expire).
    let report = worker(&store)
        .drain(Duration::from_secs(180))
        .await
        .unwrap();
    assert!(report.complete, "{report:?}");
    let parked = store.hl_parked(10).await.unwrap();
    assert_eq!(
        parked
            .iter()
            .map(|p| p.member_key.as_str())
            .collect::<Vec<_>>(),
        vec!["M005"]
    );
    assert_same_state(&store, &double, &["M005"]).await;
    // Higher Logic fixes its side; the administrator retries the parked record.
    double.set_faults(Faults::default());
    assert_eq!(store.hl_retry_parked().await.unwrap(), 1);
    drain(&store).await;
    assert_same_state(&store, &double, &[]).await;
    assert!(double.with(|s| s.requests > s.accepted_requests));
});

both_engines!(two_workers_share_the_queue, |db: TestDb| async move {
    let (store, double) = setup(&db).await;
    for i in 0..120 {
        add(&store, &format!("W{i:03}"), "North", true).await;
    }
    sync_north(&store).await;
    // The group's fan-outs (creation, then sync on) are expanded first: a fan-out expanded
    // while a batch is in flight rightly bumps its rows' versions and has them pushed again,
    // and this test is about claims, not coalescing.
    guildgate::higher_logic::outbox::expand_fanouts(&store, "setup", 60_000)
        .await
        .unwrap();
    // Slow answers keep both workers busy at once.
    double.set_faults(Faults {
        slow: 1.0,
        slow_ms: 50,
        ..Default::default()
    });
    let client = Arc::new(PushV1::new(Duration::from_secs(5)).unwrap());
    let w1 = Worker::with_client(store.clone(), cfg(), client.clone());
    let w2 = Worker::with_client(store.clone(), cfg(), client);
    let (r1, r2) = tokio::join!(
        w1.drain(Duration::from_secs(60)),
        w2.drain(Duration::from_secs(60))
    );
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_eq!(r1.pushed + r2.pushed, 120, "{r1:?} {r2:?}");
    assert!(r1.pushed > 0 && r2.pushed > 0, "both worked: {r1:?} {r2:?}");
    double.with(|s| {
        assert_eq!(s.members_of("north").len(), 120);
        assert!(
            s.contacts.values().all(|c| c.pushes == 1),
            "each contact pushed once"
        );
        assert!(s.largest_batch <= 25);
    });
});
