//! The sync under Higher Logic's real failure modes (issue 13), against the double: a Higher
//! Logic that refuses everything, a short `count`, 413, a 200 that is not JSON, a hang after
//! the batch was applied, parked contacts coming back by themselves, and the error cleared
//! once a push goes through.

use super::*;
use guildgate::db::now_ms;
use guildgate::higher_logic::metrics::METRICS;

/// The worker of [`cfg`] with another batch size.
fn worker_of(store: &Store, batch_size: usize) -> Worker {
    Worker::new(
        store.clone(),
        SyncSettings {
            batch_size,
            ..cfg()
        },
    )
    .unwrap()
}

/// Runs the worker's steps for about `ms` milliseconds, as `serve` would.
async fn run_for(w: &Worker, ms: u64) {
    let until = now_ms() + ms as i64;
    while now_ms() < until {
        let tick = w.tick().await.unwrap();
        if tick.idle || tick.paused_until.is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

both_engines!(
    last_error_is_cleared_once_a_push_goes_through,
    |db: TestDb| async move {
        let (store, double) = setup(&db).await;
        synced_north_members(&store, "E", 3).await;
        double.with(|s| s.api_key = "rotated".into());
        let w = worker(&store);
        assert!(w.tick().await.unwrap().paused_until.is_some());
        let status = store.hl_status().await.unwrap();
        assert!(status.last_error.as_deref().unwrap_or("").contains("401"));
        assert!(status.last_error_at.is_some());
        double.with(|s| s.api_key = KEY.into());
        drain(&store).await;
        let status = store.hl_status().await.unwrap();
        assert_eq!(status.last_error, None, "{status:?}");
        assert_eq!(status.last_error_at, None);
        let json = serde_json::to_value(&status).unwrap();
        assert!(json["last_error"].is_null(), "{json}");
        assert_eq!(
            store.hl_group_status("north").await.unwrap().state,
            "up_to_date"
        );
    }
);

both_engines!(
    a_higher_logic_refusing_everything_pauses_and_parks_nothing,
    |db: TestDb| async move {
        let (store, double) = setup(&db).await;
        synced_north_members(&store, "R", 60).await;
        let migrating = "Tenant ASSOC is being migrated";
        double.set_faults(Faults {
            refuse_all: Some(migrating.into()),
            ..Default::default()
        });
        let w = worker(&store);
        run_for(&w, 1500).await;
        let status = store.hl_status().await.unwrap();
        let expected = format!("Higher Logic refuses every record: {migrating}");
        assert_eq!(status.parked, 0, "nothing is parked: {status:?}");
        assert_eq!(status.last_error.as_deref(), Some(expected.as_str()));
        let group = store.hl_group_status("north").await.unwrap();
        assert_eq!(group.state, "error");
        assert!(
            group
                .message()
                .starts_with(&format!("Sync error: {expected}.")),
            "{}",
            group.message()
        );
        // Three requests a pause (the batch and its two halves), the pauses growing: bounded,
        // where splitting every batch down to single records made hundreds.
        let requests = double.with(|s| s.requests);
        assert!(requests <= 60, "{requests} requests while refused");
        assert!(requests >= 3);
        // The same with batches of one: a run of the same answer is Higher Logic's.
        let single = worker_of(&store, 1);
        run_for(&single, 600).await;
        assert_eq!(store.hl_status().await.unwrap().parked, 0);
        // Higher Logic recovers: everything arrives, without anyone pressing a button.
        double.set_faults(Faults::default());
        drain(&store).await;
        assert_eq!(double.with(|s| s.members_of("north").len()), 60);
        assert_same_state(&store, &double, &[]).await;
        let status = store.hl_status().await.unwrap();
        assert_eq!((status.parked, status.last_error), (0, None));
    }
);

both_engines!(
    a_short_count_pushes_the_skipped_member_again,
    |db: TestDb| async move {
        let faults = Faults {
            skip_once: ["S07".to_string()].into(),
            ..Default::default()
        };
        let (store, double) = north_with_faults(&db, "S", 20, faults).await;
        let skipped = METRICS.skipped.get();
        drain(&store).await;
        assert!(
            double.with(|s| s.contacts.contains_key("S07")),
            "S07 arrived"
        );
        assert_same_state(&store, &double, &[]).await;
        assert!(METRICS.skipped.get() > skipped, "counted in /metrics");
        assert_eq!(store.hl_status().await.unwrap().parked, 0);
    }
);

both_engines!(a_413_halves_the_batch_for_good, |db: TestDb| async move {
    let (store, double) = setup(&db).await;
    synced_north_members(&store, "L", 60).await;
    double.set_faults(Faults {
        max_items: Some(10),
        ..Default::default()
    });
    drain(&store).await;
    let first = double.with(|s| s.too_large);
    assert!(first > 0, "the first run met 413");
    assert_eq!(double.with(|s| s.members_of("north").len()), 60);
    let learnt = store.hl_batch_size().await.unwrap();
    assert!((1..=10).contains(&learnt), "kept in the database: {learnt}");
    // A second run (every contact again, with another worker as on another instance)
    // needs no 413.
    store
        .rename_group("test", "north", "North 2")
        .await
        .unwrap();
    drain(&store).await;
    assert_eq!(
        double.with(|s| s.too_large),
        first,
        "no 413 the second time"
    );
    assert_same_state(&store, &double, &[]).await;
    assert_eq!(store.hl_status().await.unwrap().parked, 0);
});

both_engines!(
    a_non_json_200_and_a_hang_after_applying_are_retried,
    |db: TestDb| async move {
        let faults = Faults {
            non_json_200: 1,
            hang_after_apply: 1,
            slow_ms: 1500, // beyond the 1 s client timeout
            ..Default::default()
        };
        let (store, double) = north_with_faults(&db, "H", 8, faults).await;
        let report = worker(&store).drain(Duration::from_secs(30)).await.unwrap();
        assert!(report.complete, "{report:?}");
        assert_eq!(report.parked, 0);
        double.with(|s| {
            assert_eq!(s.members_of("north").len(), 8);
            // The hung batch was applied, then pushed again: full records make it harmless.
            assert!(s.contacts.values().any(|c| c.pushes == 2));
        });
        assert_same_state(&store, &double, &[]).await;
        assert_eq!(store.hl_status().await.unwrap().last_error, None);
    }
);

/// Makes every parked contact's automatic retry due now, as if its wait had passed.
async fn wait_is_over(store: &Store) {
    sqlx::query("UPDATE hl_queue SET next_attempt_at = 0 WHERE parked = 1")
        .execute(store.pool())
        .await
        .unwrap();
}

both_engines!(
    parked_contacts_come_back_by_themselves,
    |db: TestDb| async move {
        let faults = Faults {
            reject_keys: ["P02".to_string()].into(),
            ..Default::default()
        };
        let (store, double) = north_with_faults(&db, "P", 4, faults).await;
        drain(&store).await;
        let parked = store.hl_parked(10).await.unwrap();
        assert_eq!(parked.len(), 1);
        assert_eq!(
            (parked[0].member_key.as_str(), parked[0].refusals),
            ("P02", 1)
        );
        let minutes = |p: &guildgate::higher_logic::status::ParkedContact| {
            (p.next_retry_at - now_ms()) as f64 / 60_000.0
        };
        assert!((14.0..=15.1).contains(&minutes(&parked[0])), "{parked:?}");
        // The wait passes: sent again by itself, refused again, waits longer.
        wait_is_over(&store).await;
        drain(&store).await;
        let parked = store.hl_parked(10).await.unwrap();
        assert_eq!(parked[0].refusals, 2);
        assert!((59.0..=60.1).contains(&minutes(&parked[0])), "{parked:?}");
        wait_is_over(&store).await;
        drain(&store).await;
        let parked = store.hl_parked(10).await.unwrap();
        assert_eq!(parked[0].refusals, 3);
        assert!((359.0..=360.1).contains(&minutes(&parked[0])), "{parked:?}");
        // Saving the settings sends it again at once.
        double.set_faults(Faults::default());
        save_settings(&store, social_on()).await;
        assert_eq!(store.hl_status().await.unwrap().parked, 0);
        drain(&store).await;
        assert_same_state(&store, &double, &[]).await;

        // Refused again; its group's sync turned off sends it again at once (without it).
        double.set_faults(Faults {
            reject_keys: ["P01".to_string()].into(),
            ..Default::default()
        });
        let mut p1 = store.member("P01").await.unwrap().data;
        p1.city = Some("York".into());
        store.update_member("test", "P01", p1).await.unwrap();
        drain(&store).await;
        assert_eq!(store.hl_status().await.unwrap().parked, 1);
        double.set_faults(Faults::default());
        store
            .set_group_sync("test", "north", false, None)
            .await
            .unwrap();
        guildgate::higher_logic::outbox::expand_fanouts(&store, "test", 60_000)
            .await
            .unwrap();
        assert_eq!(store.hl_status().await.unwrap().parked, 0);
        drain(&store).await;
        double.with(|s| {
            assert_eq!(s.detail("P01", "City").as_deref(), Some("York"));
            assert!(s.members_of("north").is_empty());
        });
    }
);

both_engines!(
    the_learnt_batch_size_grows_back_slowly,
    |db: TestDb| async move {
        let (store, double) = north_with_faults(&db, "G", 130, Faults::default()).await;
        // A 413 taught 5 earlier (on any instance).
        sqlx::query("UPDATE hl_engine_state SET batch_size = 5 WHERE id = 1")
            .execute(store.pool())
            .await
            .unwrap();
        drain(&store).await;
        // 20 full batches of 5, then a quarter more: 6; never back to 25 at once.
        assert_eq!(store.hl_batch_size().await.unwrap(), 6);
        double.with(|s| {
            assert_eq!(s.members_of("north").len(), 130);
            assert_eq!(s.largest_batch, 6);
        });
    }
);
