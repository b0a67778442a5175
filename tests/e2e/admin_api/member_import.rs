//! The bulk import of the admin API: 10,000 members in one request, all or nothing, as JSON
//! or CSV, with `dry_run`, per-row problems, and its limits.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{seed, start, with, Api};
use crate::support::{api_token, TestApp, TestDb};

/// `n` people, keyed `B00001`...; every tenth with a user account.
fn members(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            let mut m = json!({
                "member_key": format!("B{i:05}"), "first_name": "Bulk", "last_name": format!("No{i}"),
                "email": format!("bulk{i}@example.org"), "membership_status": "active"
            });
            if i % 10 == 0 {
                m["account_email"] = json!(format!("bulk{i}@example.org"));
            }
            m
        })
        .collect()
}

async fn member_count(db: &TestDb) -> i64 {
    let store = db.store().await;
    let n = store.count_members().await.unwrap();
    store.close().await;
    n
}

/// The (row, field) of every problem of a refusal.
fn problems(body: &Value) -> Vec<(u64, String)> {
    body["error"]["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems in {body}"))
        .iter()
        .map(|p| {
            let field = p["field"].as_str().unwrap_or_default().to_string();
            (p["row"].as_u64().unwrap(), field)
        })
        .collect()
}

both_engines!(
    ten_thousand_members_in_one_request,
    |db: TestDb| async move {
        seed(&db).await;
        // A request of 10,000 takes a few seconds in a release build (see the README), but a
        // debug build beside other test runs on 2 cores can reach the default 30 s.
        let app = TestApp::spawn_with(&db, |s| s.request_timeout_secs = 180).await;
        let secret = api_token(&db, "console-script", "write");
        let api = Api::new(&app, &secret);
        let before = member_count(&db).await;

        // One bad row among 10,000: nothing is imported, and that row is named.
        let mut list = members(10_000);
        list[6_999]["email"] = json!("not-an-email");
        let import = |list: &Vec<Value>, query: &str| {
            let path = format!("/members/import{query}");
            (Method::POST, path, Some(json!({ "members": list })))
        };
        let (method, path, body) = import(&list, "");
        let b = api
            .refuses(
                StatusCode::BAD_REQUEST,
                "bad_request",
                vec![(method, &path, body)],
            )
            .await;
        assert_eq!(problems(&b), vec![(7_000, "email".to_string())], "{b}");
        assert!(
            b["error"]["message"].as_str().unwrap().contains("row 7000"),
            "{b}"
        );
        assert_eq!(member_count(&db).await, before);

        // Without it: a dry run counts and writes nothing, then all 10,000 are imported.
        list[6_999]["email"] = json!("bulk7000@example.org");
        let (method, path, body) = import(&list, "?dry_run=true");
        let b = api.expect(StatusCode::OK, (method, &path, body)).await;
        assert_eq!(
            (&b["dry_run"], &b["created"]),
            (&json!(true), &json!(10_000)),
            "{b}"
        );
        assert_eq!(member_count(&db).await, before);
        let (method, path, body) = import(&list, "");
        let b = api.expect(StatusCode::OK, (method, &path, body)).await;
        assert_eq!(
            (&b["created"], &b["accounts_created"], &b["dry_run"]),
            (&json!(10_000), &json!(1_000), &json!(false)),
            "{b}"
        );
        assert_eq!(member_count(&db).await, before + 10_000);

        // The same list again changes nothing; one changed member is one update.
        list[41]["city"] = json!("Leeds");
        let (method, path, body) = import(&list, "");
        let b = api.expect(StatusCode::OK, (method, &path, body)).await;
        assert_eq!(
            (&b["updated"], &b["unchanged"]),
            (&json!(1), &json!(9_999)),
            "{b}"
        );
        let (_, b) = api.get("/members/B00042").await;
        assert_eq!(b["member"]["city"], "Leeds");

        // More than 10,000 in one request is refused before anything is checked.
        let too_many = json!({ "members": members(10_001) });
        let b = api
            .refuses(
                StatusCode::BAD_REQUEST,
                "bad_request",
                vec![with(Method::POST, "/members/import", too_many)],
            )
            .await;
        assert!(
            b["error"]["message"].as_str().unwrap().contains("10000"),
            "{b}"
        );
        drop(app);
    }
);

both_engines!(csv_import_and_bad_bodies, |db: TestDb| async move {
    let (app, secret) = start(&db).await;
    let api = Api::new(&app, &secret);
    let csv = |text: &str, query: &str| {
        let path = format!("/members/import{query}");
        let text = text.to_string();
        let app = &app;
        let secret = secret.clone();
        async move {
            app.api_raw(
                &secret,
                Method::POST,
                &path,
                "text/csv; charset=utf-8",
                text,
            )
            .await
        }
    };

    // Bad rows, each named by its line and column; duplicate keys and logins too.
    let bad = "member_key,first_name,account_email,member_since\n\
               C1,Cat,cat@example.org,2020-01-01\n\
               C2,Cid,cat@example.org,2020-01-01\n\
               C1,Cat again,,\n\
               C3,Cy,ada@example.org,2020-13-01\n";
    let (s, b) = csv(bad, "").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let mut found = problems(&b);
    found.sort();
    let want: Vec<(u64, String)> = [
        (3, "account_email"),
        (4, "member_key"),
        (5, "account_email"),
        (5, "member_since"),
    ]
    .iter()
    .map(|(r, f)| (*r, f.to_string()))
    .collect();
    assert_eq!(found, want, "{b}");
    let unknown = "member_key,first_name,colour\nC1,Cat,red\n";
    let (s, b) = csv(unknown, "").await;
    assert_eq!(
        (s, problems(&b)),
        (StatusCode::BAD_REQUEST, vec![(1, "colour".into())])
    );

    // A good file: a dry run, then for real.
    let good = "member_key,kind,name,first_name,company_key,account_email\n\
                CO1,company,Acme,,,\n\
                C1,person,,Cat,CO1,cat@example.org\n";
    let (s, b) = csv(good, "?dry_run=true").await;
    assert_eq!(
        (s, &b["created"], &b["dry_run"]),
        (StatusCode::OK, &json!(2), &json!(true))
    );
    assert_eq!(api.get("/members/C1").await.0, StatusCode::NOT_FOUND);
    let (s, b) = csv(good, "").await;
    assert_eq!(
        (s, &b["created"], &b["accounts_created"]),
        (StatusCode::OK, &json!(2), &json!(1))
    );
    let (_, b) = api.get("/members/C1").await;
    assert_eq!(b["member"]["company_key"], "CO1");

    // Bodies refused whole: malformed, the wrong shape, another media type.
    for (content_type, body, want) in [
        (
            "application/json",
            "{\"members\": [",
            StatusCode::BAD_REQUEST,
        ),
        ("application/json", "[]", StatusCode::BAD_REQUEST),
        (
            "application/json",
            "{\"members\": [], \"dry_run\": true}",
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            "{\"members\": {}}",
            StatusCode::BAD_REQUEST,
        ),
        ("text/csv", "first_name\nNo key\n", StatusCode::BAD_REQUEST),
        (
            "text/csv",
            "member_key,first_name\n\"C9,Cy\n",
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/xml",
            "<members/>",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        let (s, b) = app
            .api_raw(&secret, Method::POST, "/members/import", content_type, body)
            .await;
        assert_eq!(s, want, "{content_type} {body}: {b}");
        assert!(b["error"]["code"].is_string(), "{b}");
    }
    let (s, b) = app
        .api_raw(
            &secret,
            Method::POST,
            "/members/import",
            "application/json",
            "{\"members\": [42]}",
        )
        .await;
    assert_eq!(
        (s, problems(&b)),
        (StatusCode::BAD_REQUEST, vec![(1, String::new())])
    );
    drop(app);

    // The body limit is configurable: a larger body is refused with 413.
    let small = TestApp::spawn_with(&db, |s| s.admin_api.import_max_bytes = 4096).await;
    let secret = api_token(&db, "small", "write");
    let big = json!({ "members": members(100) }).to_string();
    assert!(big.len() > 4096);
    let send = |body: String| {
        small.api_raw(
            &secret,
            Method::POST,
            "/members/import",
            "application/json",
            body,
        )
    };
    let (s, b) = send(big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert_eq!(b["error"]["code"], "too_large");
    let (s, b) = send(json!({ "members": members(3) }).to_string()).await;
    assert_eq!((s, &b["created"]), (StatusCode::OK, &json!(3)), "{b}");
});
