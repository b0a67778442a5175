//! Members written through the admin API reach Higher Logic; the first-start administrator (an
//! operator, not a member) never does: it is in no group, even one whose conditions select
//! everyone, a static list cannot name it, and it is created only when no active administrator
//! exists.

use guildgate::accounts::Role;
use guildgate::db::StoreError;
use guildgate::groups::{Condition, Selection};
use guildgate::higher_logic::GroupType;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{add, drain, setup};
use crate::support::people::{add_account, person};
use crate::support::{api_token, TestApp, TestDb};

both_engines!(
    api_members_sync_and_operators_never_do,
    |db: TestDb| async move {
        let (store, double) = setup(&db).await;
        // Members imported before the first start: no administrator yet, so one is created.
        add(&store, "M1", "North", true).await;
        let app = TestApp::spawn(&db).await;
        let admin = store
            .account_by_login("admin@guildgate.local")
            .await
            .unwrap()
            .expect("the first-start administrator");
        assert!(admin.is_admin() && admin.is_active());

        // A group whose conditions select everyone, synced.
        let everyone = Condition::parse("kind=person|company").unwrap();
        let selection = Selection::Conditions(vec![everyone]);
        store
            .add_group("test", Some("everyone"), "Everyone", selection)
            .await
            .unwrap();
        // The operator is in no group, even one whose conditions it meets...
        let members = store.group_members("everyone").await.unwrap();
        let keys: Vec<&str> = members
            .with_account
            .iter()
            .map(|m| m.member_key.as_str())
            .collect();
        assert_eq!(keys, ["M1"], "the operator counted as a member");
        // ... nor can a static list name it, saved or previewed.
        let staff = Selection::Static(vec!["M1".into(), admin.member_key.clone()]);
        for refused in [
            store
                .add_group("test", Some("staff"), "Staff", staff.clone())
                .await
                .map(|_| ()),
            store.preview_selection(&staff).await.map(|_| ()),
        ] {
            assert!(
                matches!(&refused, Err(StoreError::Invalid(m)) if m.contains("operator account")),
                "{refused:?}"
            );
        }
        store
            .set_group_sync("test", "everyone", true, Some(GroupType::Community))
            .await
            .unwrap();

        // A member created, then changed, through the admin API.
        let token = api_token(&db, "ams", "write");
        let ann = json!({
            "member_key": "API-1", "first_name": "Ann", "last_name": "Api",
            "email": "ann@example.org", "account_email": "ann@example.org"
        });
        let (status, body) = app.api(&token, Method::POST, "/members", Some(&ann)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        drain(&store).await;
        let change = json!({"last_name": "Apiston"});
        let (status, body) = app
            .api(&token, Method::PATCH, "/members/API-1", Some(&change))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // The administrator's own changes do not send it either.
        store
            .set_password("test", &admin.member_key, "a-long-new-password-1")
            .await
            .unwrap();
        drain(&store).await;
        double.with(|s| {
            let everyone = s.members_of("everyone");
            assert!(
                everyone.contains("API-1") && everyone.contains("M1"),
                "{everyone:?}"
            );
            assert_eq!(s.detail("API-1", "LastName").as_deref(), Some("Apiston"));
            assert!(
                !s.contacts.contains_key(&admin.member_key),
                "the operator reached Higher Logic"
            );
        });

        // Nor can the command line (the store) edit it as a member...
        let mut data = store.member(&admin.member_key).await.unwrap().data;
        data.city = Some("Leeds".into());
        let refused = store.update_member("cli", &admin.member_key, data).await;
        assert!(
            matches!(&refused, Err(StoreError::Invalid(m)) if m.contains("operator account")),
            "{refused:?}"
        );
        // ... nor the AMS write over it as if it were a member.
        let path = format!("/members/{}", admin.member_key);
        let city = json!({"city": "Leeds"});
        let (status, body) = app.api(&token, Method::PATCH, &path, Some(&city)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            body["error"]["problems"][0]["field"], "member_key",
            "{body}"
        );
        // And what the console and the API show of it says so.
        let (status, body) = app.api(&token, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["operator"], true, "{body}");
        assert_eq!(body["member"]["operator"], true, "{body}");
        assert_eq!(body["groups"], json!([]), "{body}");
        assert_eq!(body["higher_logic"]["synced"], false, "{body}");
        // The group's sync status counts the members Higher Logic receives, not the operator.
        let status = store.hl_group_status("everyone").await.unwrap();
        assert_eq!(status.with_account, 2, "{status:?}");
        let (_, body) = app.api(&token, Method::GET, "/members/API-1", None).await;
        assert_eq!(body["operator"], false, "{body}");
        assert_eq!(body["higher_logic"]["synced"], true, "{body}");

        // The first-start administrator is not made again while an active administrator exists,
        // even when the first one is deactivated.
        let boss = person("Bea", "Boss", "Staff");
        add_account(&store, "BOSS", boss, Role::Admin, None).await;
        store
            .deactivate_account("test", &admin.member_key)
            .await
            .unwrap();
        assert!(store
            .bootstrap_admin("another@example.org")
            .await
            .unwrap()
            .is_none());
        drop(app);
    }
);

both_engines!(
    no_active_administrator_means_a_new_one,
    |db: TestDb| async move {
        let store = db.store().await;
        // An administrator from the members, deactivated: none can sign in, so one is made.
        add_account(
            &store,
            "OLD",
            person("Old", "Admin", "Staff"),
            Role::Admin,
            None,
        )
        .await;
        // The store refuses to deactivate the last active administrator: a database where it
        // happened anyway (imported with the account deactivated, or from before the rule).
        let refused = store.deactivate_account("test", "OLD").await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{refused:?}"
        );
        sqlx::query("UPDATE accounts SET state = 'deactivated'")
            .execute(store.pool())
            .await
            .unwrap();
        let made = store.bootstrap_admin("root@example.org").await.unwrap();
        assert!(made.is_some());
        assert!(store
            .bootstrap_admin("root@example.org")
            .await
            .unwrap()
            .is_none());
    }
);
