//! The expiry janitor: expired links go with expired codes, tokens and sessions, live ones
//! stay; on PostgreSQL one instance sweeps at a time.

use guildgate::accounts::Role;
use guildgate::db::{now_ms, Engine};
use guildgate::oidc::janitor::{self, SWEEP_LOCK};

use crate::support::people::{add_account, person};
use crate::support::TestDb;

both_engines!(
    expired_links_are_swept_one_instance_at_a_time,
    |db: TestDb| async move {
        let store = db.store().await;
        add_account(
            &store,
            "P1",
            person("Ann", "Tester", "Regular"),
            Role::Member,
            None,
        )
        .await;
        let account = store.account_for_member("P1").await.unwrap();
        let now = now_ms();
        for (hash, expires_at) in [("expired", now - 1), ("live", now + 3_600_000)] {
            sqlx::query(
                "INSERT INTO account_tokens (token_hash, account_id, purpose, created_at, \
                 expires_at) VALUES ($1, $2, 'invitation', $3, $4)",
            )
            .bind(hash)
            .bind(&account.id)
            .bind(now - 10)
            .bind(expires_at)
            .execute(store.pool())
            .await
            .unwrap();
        }
        let links = || async {
            let rows: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM account_tokens")
                .fetch_all(store.pool())
                .await
                .unwrap();
            rows.into_iter().map(|(h,)| h).collect::<Vec<_>>()
        };

        if store.engine() == Engine::Postgres {
            // Another instance is sweeping: this one skips the round and deletes nothing.
            let other = db.store().await;
            let mut holding = other.begin().await.unwrap();
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(SWEEP_LOCK)
                .execute(&mut *holding)
                .await
                .unwrap();
            assert_eq!(janitor::sweep(&store).await.unwrap(), None);
            assert_eq!(links().await.len(), 2);
            holding.commit().await.unwrap();
        }

        let swept = janitor::sweep(&store)
            .await
            .unwrap()
            .expect("this instance sweeps");
        assert_eq!(swept.links, 1, "{swept:?}");
        assert_eq!(links().await, ["live"]);
    }
);
