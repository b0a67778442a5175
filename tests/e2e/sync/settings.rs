//! The sync and its settings: new credentials and a new tenant, the API key sealed at rest,
//! the fan-out of newly activated properties, and a new address while a push hangs.

use super::*;

/// New credentials: the tenant, the key and the address.
fn credentials(tenant: &str, key: &str, url: &str) -> SettingsUpdate {
    SettingsUpdate {
        tenant_code: Some(tenant.into()),
        api_key: Some(key.into()),
        base_url: Some(url.into()),
        ..Default::default()
    }
}

/// [`cfg`] with a backoff far longer than any test: only new settings resume the sync.
fn patient() -> SyncSettings {
    SyncSettings {
        backoff_base_ms: 600_000,
        backoff_max_ms: 600_000,
        ..cfg()
    }
}

both_engines!(
    new_credentials_resume_at_once_and_a_new_tenant_gets_everything,
    |db: TestDb| async move {
        let (store, double) = setup(&db).await;
        synced_north_members(&store, "T", 5).await;
        drain(&store).await;
        assert_same_state(&store, &double, &[]).await;

        // A backoff far longer than this test: only the new settings can resume the sync.
        let patient = patient();
        save_settings(
            &store,
            credentials(TENANT, "wrong-key-000000000", &double.base_url),
        )
        .await;
        add(&store, "T99", "North", true).await;
        let report = Worker::new(store.clone(), patient.clone())
            .unwrap()
            .drain(Duration::from_secs(2))
            .await
            .unwrap();
        assert!(!report.complete, "{report:?}");
        let status = store.hl_status().await.unwrap();
        assert!(status.paused_until.is_some(), "{status:?}");
        assert!(!double.with(|s| s.contacts.contains_key("T99")));

        // The right key: the pause and the backoff are lifted at once.
        save_settings(&store, credentials(TENANT, KEY, &double.base_url)).await;
        let report = Worker::new(store.clone(), patient.clone())
            .unwrap()
            .drain(Duration::from_secs(30))
            .await
            .unwrap();
        assert!(report.complete, "{report:?}");
        assert_same_state(&store, &double, &[]).await;

        // Another tenant is another Higher Logic site: every contact and group goes there,
        // each group created once.
        let other = HlDouble::start("OTHER", "other-tenant-key-00001").await;
        other.with(|s| s.integrate_bio = true);
        save_settings(
            &store,
            credentials("OTHER", "other-tenant-key-00001", &other.base_url),
        )
        .await;
        drain(&store).await;
        assert_same_state(&store, &other, &[]).await;
        other.with(|s| {
            assert_eq!(s.members_of("north").len(), 6);
            assert_eq!(s.group_creations["north"], 1);
        });
        // A settings save that changes no credentials re-pushes nothing.
        let before = other.with(|s| s.accepted_requests);
        save_settings(
            &store,
            credentials("OTHER", "other-tenant-key-00001", &other.base_url),
        )
        .await;
        drain(&store).await;
        assert_eq!(other.with(|s| s.accepted_requests), before);
    }
);

both_engines!(the_api_key_is_encrypted_at_rest, |db: TestDb| async move {
    let (store, _double) = setup(&db).await;
    let raw = || async {
        let (raw,): (String,) = sqlx::query_as("SELECT api_key FROM hl_settings WHERE id = 1")
            .fetch_one(store.pool())
            .await
            .unwrap();
        raw
    };
    let first = raw().await;
    assert!(!first.is_empty() && !first.contains(KEY), "{first}");
    assert_eq!(store.hl_settings().await.unwrap().api_key(), KEY);
    // Each save seals anew, with a fresh nonce.
    save_settings(
        &store,
        SettingsUpdate {
            api_key: Some(KEY.into()),
            ..Default::default()
        },
    )
    .await;
    let second = raw().await;
    assert_ne!(first, second);
    assert_eq!(store.hl_settings().await.unwrap().api_key(), KEY);
    // The audit trail never carries it either.
    let (log,): (String,) = sqlx::query_as(
        "SELECT COALESCE(MAX(detail), '') FROM change_log WHERE entity = 'hl_settings'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(!log.is_empty() && !log.contains(KEY), "{log}");
    // Another keys folder is refused, not used to misread.
    let stranger = Store::open(&db.url, 2)
        .await
        .unwrap()
        .with_keys_dir(db.dir.path().join("other-keys"));
    let err = stranger.hl_settings().await.unwrap_err();
    assert!(matches!(err, StoreError::Sealing(_)), "{err}");
    stranger.close().await;
    // A value altered in the database reads as no key: nothing is pushed until it is entered
    // again.
    assert!(second.starts_with("sealed:v1:"), "{second}");
    let at = second.len() - 3;
    let flipped = if &second[at..at + 1] == "A" { "B" } else { "A" };
    sqlx::query("UPDATE hl_settings SET api_key = $1 WHERE id = 1")
        .bind(format!("{}{flipped}{}", &second[..at], &second[at + 1..]))
        .execute(store.pool())
        .await
        .unwrap();
    let settings = store.hl_settings().await.unwrap();
    assert!(settings.api_key().is_empty() && !settings.is_configured());
    // A key saved in clear by an earlier version is still used, and sealed at the next save.
    sqlx::query("UPDATE hl_settings SET api_key = $1 WHERE id = 1")
        .bind(KEY)
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(store.hl_settings().await.unwrap().api_key(), KEY);
    save_settings(&store, social_on()).await;
    let resealed = raw().await;
    assert!(resealed.starts_with("sealed:v1:") && !resealed.contains(KEY));
    assert_eq!(store.hl_settings().await.unwrap().api_key(), KEY);
});

both_engines!(
    a_group_never_synced_has_no_work_of_its_own,
    |db: TestDb| async move {
        let (store, _double) = setup(&db).await;
        add(&store, "U01", "North", true).await;
        store
            .add_group("test", Some("quiet"), "Quiet", chapter("North"))
            .await
            .unwrap();
        // Newly activated properties queue a re-push of every synced contact (a global fan-out).
        save_settings(&store, social_on()).await;
        assert!(store.hl_status().await.unwrap().fanouts_pending > 0);
        let status = store.hl_group_status("quiet").await.unwrap();
        assert_eq!(status.state, "off", "{status:?}");
        assert_eq!(status.pending, 0);
        assert_eq!(status.message(), "Not synced to Higher Logic.");
    }
);

both_engines!(
    a_push_failing_with_old_settings_does_not_pause_the_new_ones,
    |db: TestDb| async move {
        let (store, hanging) = setup(&db).await;
        synced_north_members(&store, "H", 3).await;
        // The saved address hangs past the client's timeout; the backoff is far longer than
        // this test.
        hanging.set_faults(Faults {
            slow: 1.0,
            slow_ms: 3_000,
            ..Default::default()
        });
        let worker = Worker::new(store.clone(), patient()).unwrap();
        let run = tokio::spawn(async move { worker.drain(Duration::from_secs(30)).await });
        // While that push is in flight, the administrator points the sync at a working address.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let working = HlDouble::start(TENANT, KEY).await;
        working.with(|s| s.integrate_bio = true);
        save_settings(
            &store,
            SettingsUpdate {
                base_url: Some(working.base_url.clone()),
                ..Default::default()
            },
        )
        .await;
        // The old address's failure does not pause the new one: the same drain finishes.
        let report = run.await.unwrap().unwrap();
        assert!(report.complete, "{report:?}");
        assert_same_state(&store, &working, &[]).await;
    }
);
