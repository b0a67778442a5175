//! Members written through the admin API one at a time, as an AMS sends its changes: create,
//! patch, put (twice: the second changes nothing), each refusal naming the field and writing
//! nothing, a read token refused, and the audit log naming the token.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{bare, message, start, with, Api};
use crate::support::{api_token, count, TestDb};

/// The number of change-log entries.
async fn change_log_entries(db: &TestDb) -> i64 {
    let store = db.store().await;
    let n = count(&store, "SELECT COUNT(*) FROM change_log").await;
    store.close().await;
    n
}

/// The chapter field (North or South, people only), through the API.
async fn chapter_field(api: &Api<'_>) {
    let chapter = json!({
        "field_key": "chapter", "name": "Chapter", "field_type": "choice",
        "choices": ["North", "South"], "applies_to": "person", "show_in_members": true
    });
    api.expect(StatusCode::CREATED, with(Method::POST, "/fields", chapter))
        .await;
}

/// A refusal with status 400 whose one problem names `field`; the body of the answer.
async fn refused_on(api: &Api<'_>, call: super::Call<'_>, field: &str) -> Value {
    let label = format!("{} {} {:?}", call.0, call.1, call.2);
    let body = api
        .refuses(StatusCode::BAD_REQUEST, "bad_request", vec![call])
        .await;
    let problems = body["error"]["problems"].as_array().expect("problems");
    assert!(
        problems
            .iter()
            .any(|p| p["field"] == field && p["row"] == 1),
        "{label}: no problem on {field}: {body}"
    );
    assert!(message(&body).contains(field), "{label}: {body}");
    body
}

both_engines!(
    members_are_created_patched_and_put,
    |db: TestDb| async move {
        let (app, secret) = start(&db).await;
        let api = Api::new(&app, &secret);
        chapter_field(&api).await;

        // Create, with an account and a custom field (its choice written as the field spells it).
        let nia = json!({
            "member_key": "N1", "first_name": "Nia", "last_name": "New", "email": "nia@example.org",
            "account_email": "Nia@Example.org", "fields": {"chapter": "north"}
        });
        let b = api
            .expect(
                StatusCode::CREATED,
                with(Method::POST, "/members", nia.clone()),
            )
            .await;
        assert_eq!(b["member"]["first_name"], "Nia");
        assert_eq!(b["account"]["login_email"], "nia@example.org");
        assert_eq!(b["fields"]["chapter"], "North");
        let taken = vec![with(Method::POST, "/members", nia)];
        api.refuses(StatusCode::CONFLICT, "conflict", taken).await;

        // Patch: only what is sent changes; the login too.
        let patch = json!({
            "city": "Leeds", "fields": {"chapter": "South"}, "account_email": "nia.new@example.org"
        });
        let b = api
            .expect(StatusCode::OK, with(Method::PATCH, "/members/N1", patch))
            .await;
        assert_eq!(
            (&b["member"]["city"], &b["member"]["first_name"]),
            (&json!("Leeds"), &json!("Nia"))
        );
        assert_eq!(b["fields"]["chapter"], "South");
        assert_eq!(b["account"]["login_email"], "nia.new@example.org");
        let b = api
            .expect(
                StatusCode::OK,
                with(Method::PATCH, "/members/N1", json!({"city": null})),
            )
            .await;
        assert!(b["member"]["city"].is_null(), "{b}");
        let missing = vec![with(Method::PATCH, "/members/NOPE", json!({"city": "X"}))];
        api.refuses(StatusCode::NOT_FOUND, "not_found", missing)
            .await;

        // Bad input: each refusal names its field, and nothing of it is written.
        let before = change_log_entries(&db).await;
        let patch = |body: Value| with(Method::PATCH, "/members/N1", body);
        for (body, field) in [
            (json!({"colour": "red", "city": "Half"}), "colour"),
            (json!({"email": "not-an-email", "city": "Half"}), "email"),
            (json!({"fields": {"chapter": "West"}}), "fields.chapter"),
            (json!({"fields": {"colour": "red"}}), "fields.colour"),
            (json!({"kind": "company", "name": "Nia Ltd"}), "kind"),
        ] {
            refused_on(&api, patch(body), field).await;
        }
        let takes_ada = json!({"account_email": "ada@example.org", "city": "Half"});
        let b = refused_on(&api, patch(takes_ada), "account_email").await;
        assert!(message(&b).contains("another member"), "{b}");
        refused_on(&api, patch(json!({"member_key": "N2"})), "member_key").await;
        let twin = json!({"member_key": "N2", "first_name": "Twin", "account_email": "nia.new@example.org"});
        refused_on(&api, with(Method::POST, "/members", twin), "account_email").await;
        refused_on(
            &api,
            with(Method::POST, "/members", json!({"first_name": "Keyless"})),
            "member_key",
        )
        .await;
        for (content_type, body) in [
            ("application/json", "{\"city\": \"Half\""),
            ("application/json", "[1, 2"),
            ("text/plain", "city=Half"),
        ] {
            let (status, b) = app
                .api_raw(&secret, Method::PATCH, "/members/N1", content_type, body)
                .await;
            assert!(
                status.is_client_error(),
                "{content_type} {body}: {status} {b}"
            );
            assert!(b["error"]["message"].is_string(), "{b}");
        }
        assert_eq!(
            change_log_entries(&db).await,
            before,
            "a refusal wrote nothing"
        );
        let (_, b) = api.get("/members/N1").await;
        assert_eq!(b["member"]["city"], Value::Null, "{b}");
        assert!(api.get("/members/N2").await.0 == StatusCode::NOT_FOUND);

        // Put: creates, then the same body again changes nothing and logs nothing.
        let record = json!({
            "kind": "person", "first_name": "Paul", "last_name": "Put", "city": "York",
            "membership_status": "active", "account_email": "paul@example.org",
            "fields": {"chapter": "North"}
        });
        let put = || with(Method::PUT, "/members/PUT-1", record.clone());
        let b = api.expect(StatusCode::CREATED, put()).await;
        assert_eq!(b["member"]["member_key"], "PUT-1");
        let after_first = change_log_entries(&db).await;
        let again = api.expect(StatusCode::OK, put()).await;
        assert_eq!(again["member"], b["member"]);
        assert_eq!(
            change_log_entries(&db).await,
            after_first,
            "the second PUT logged nothing"
        );
        // A replacement empties what it leaves out (custom fields too), keeping the account.
        let replaced = json!({"member_key": "PUT-1", "first_name": "Paula", "last_name": "Put"});
        let b = api
            .expect(
                StatusCode::OK,
                with(Method::PUT, "/members/PUT-1", replaced),
            )
            .await;
        assert_eq!(b["member"]["first_name"], "Paula");
        assert!(
            b["member"]["city"].is_null() && b["member"]["membership_status"].is_null(),
            "{b}"
        );
        assert_eq!(b["fields"], json!({}));
        assert_eq!(b["account"]["login_email"], "paul@example.org");
        refused_on(
            &api,
            with(Method::PUT, "/members/PUT-2", json!({"city": "Nowhere"})),
            "first_name",
        )
        .await;

        // A read token may not write.
        let reader = Api::new(&app, &api_token(&db, "reader", "read"));
        let writes = vec![
            with(
                Method::POST,
                "/members",
                json!({"member_key": "R1", "first_name": "R"}),
            ),
            with(Method::PATCH, "/members/N1", json!({"city": "Read"})),
            with(Method::PUT, "/members/N1", json!({"first_name": "Read"})),
            with(Method::POST, "/members/import", json!({"members": []})),
        ];
        reader
            .refuses(StatusCode::FORBIDDEN, "forbidden", writes)
            .await;

        // The audit log names the token for every write.
        let b = api
            .expect(StatusCode::OK, bare(Method::GET, "/audit?limit=1000"))
            .await;
        let by_token: Vec<(&str, &str)> = b["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["actor"] == "api-token:console-script")
            .map(|e| (e["entity"].as_str().unwrap(), e["action"].as_str().unwrap()))
            .collect();
        for entry in [
            ("member", "created"),
            ("member", "updated"),
            ("account", "created"),
            ("account", "login_changed"),
            ("custom_field_value", "set"),
            ("custom_field_value", "cleared"),
        ] {
            assert!(
                by_token.contains(&entry),
                "no {entry:?} by the token: {by_token:?}"
            );
        }
        drop(app);
    }
);
