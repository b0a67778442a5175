//! The Higher Logic settings and group sync through the admin API, against the Push API double.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{bare, message, seed, with, Api};
use crate::support::{api_token, hl_double, poll, TestApp, TestDb};

const SETTINGS: &str = "/integrations/higher-logic";
const TEST: &str = "/integrations/higher-logic/test";
const RIGHT_KEY: &str = "the-real-api-key-0001";
const WRONG_KEY: &str = "wrong-key-000000000";
const BAD_REQUEST: StatusCode = StatusCode::BAD_REQUEST;

/// The seeded store, the Higher Logic double, the application, and a read and a write token.
struct Fixture {
    double: hl_double::HlDouble,
    app: TestApp,
    read: String,
    write: String,
}

impl Fixture {
    async fn start(db: &TestDb) -> Fixture {
        seed(db).await;
        let double = hl_double::HlDouble::start("ASSOC", RIGHT_KEY).await;
        let app = TestApp::spawn(db).await;
        Fixture {
            double,
            app,
            read: api_token(db, "reporting", "read"),
            write: api_token(db, "provisioning", "write"),
        }
    }

    fn reader(&self) -> Api<'_> {
        Api::new(&self.app, &self.read)
    }

    fn writer(&self) -> Api<'_> {
        Api::new(&self.app, &self.write)
    }
}

/// A settings body for the double at `base_url`, with `key` when given.
fn with_key(key: Option<&str>, base_url: &str) -> Value {
    let mut body = json!({
        "tenant_code": "ASSOC", "base_url": base_url,
        "integrate_bio": true, "integrate_profile_image": false, "integrate_social": false,
    });
    if let Some(k) = key {
        body["api_key"] = json!(k);
    }
    body
}

/// `PUT` of the settings with `body`.
fn put_settings(body: Value) -> super::Call<'static> {
    with(Method::PUT, SETTINGS, body)
}

both_engines!(higher_logic_settings, |db: TestDb| async move {
    let f = Fixture::start(&db).await;
    let (reader, api) = (f.reader(), f.writer());
    let base_url = f.double.base_url.as_str();

    // Nothing entered yet: read, and the test says so in words.
    let b = reader
        .expect(StatusCode::OK, bare(Method::GET, SETTINGS))
        .await;
    assert_eq!(b["api_key_set"], false, "{b}");
    assert_eq!(b["api_key"], "");
    assert_eq!(b["configured"], false);
    let b = api.expect(StatusCode::OK, bare(Method::POST, TEST)).await;
    assert_eq!(b["ok"], false);
    assert_eq!(b["message"], "Enter the tenant code and the API key first.");

    // A read token may read, never write.
    let writes = vec![
        put_settings(with_key(Some(WRONG_KEY), base_url)),
        bare(Method::POST, TEST),
    ];
    reader
        .refuses(StatusCode::FORBIDDEN, "forbidden", writes)
        .await;

    // The console's validation: plain http off loopback, a key of two words, a missing field.
    let off_loopback = with_key(Some(WRONG_KEY), "http://data.example.org/push");
    let b = api
        .refuses(BAD_REQUEST, "bad_request", vec![put_settings(off_loopback)])
        .await;
    assert!(message(&b).contains("https"), "{b}");
    let invalid = vec![
        put_settings(with_key(Some("two words"), base_url)),
        put_settings(json!({"api_key": "k-123456789012"})),
    ];
    api.refuses(BAD_REQUEST, "bad_request", invalid).await;
    let (_, b) = reader.get(SETTINGS).await;
    assert_eq!(b["tenant_code"], "", "nothing saved: {b}");
    assert_eq!(b["api_key_set"], false);

    // A wrong key: saved, answered masked, and the test says Higher Logic refused it.
    let wrong = put_settings(with_key(Some(WRONG_KEY), base_url));
    let b = api.expect(StatusCode::OK, wrong).await;
    assert_eq!(b["api_key"], "••••0000");
    assert_eq!(b["api_key_set"], true);
    assert_eq!(b["configured"], true);
    assert!(
        !b.to_string().contains("wrong-key"),
        "the key is write-only"
    );
    let b = api.expect(StatusCode::OK, bare(Method::POST, TEST)).await;
    assert_eq!(b["ok"], false);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("Higher Logic refused the API key or the tenant code"),
        "{b}"
    );

    the_right_key_is_kept_and_never_shown(&db, &f).await;
});

/// The right key; then the key left out, or null, keeps it, and the masked key sent back is
/// refused. Read back, the settings hold the key without showing it, and the test passes.
async fn the_right_key_is_kept_and_never_shown(db: &TestDb, f: &Fixture) {
    let (reader, api) = (f.reader(), f.writer());
    let base_url = f.double.base_url.as_str();
    let right = put_settings(with_key(Some(RIGHT_KEY), base_url));
    let b = api.expect(StatusCode::OK, right).await;
    assert_eq!(b["api_key"], "••••0001");
    let left_out = put_settings(with_key(None, base_url));
    api.expect(StatusCode::OK, left_out).await;
    let mut body = with_key(None, base_url);
    body["api_key"] = Value::Null;
    body["integrate_social"] = json!(true);
    let b = api.expect(StatusCode::OK, put_settings(body)).await;
    // Sending back the masked key (a GET answer put back as is) is refused, not saved.
    let mut echoed = b.clone();
    echoed["api_key"] = json!("••••0001");
    let b = api
        .refuses(BAD_REQUEST, "bad_request", vec![put_settings(echoed)])
        .await;
    assert!(message(&b).contains("masked"), "{b}");
    let b = reader
        .expect(StatusCode::OK, bare(Method::GET, SETTINGS))
        .await;
    assert_eq!(b["tenant_code"], "ASSOC");
    assert_eq!(b["api_key"], "••••0001");
    assert_eq!(b["base_url"], base_url);
    assert_eq!(
        (
            &b["integrate_bio"],
            &b["integrate_profile_image"],
            &b["integrate_social"]
        ),
        (&json!(true), &json!(false), &json!(true))
    );
    assert!(!b.to_string().contains("the-real-api-key"), "{b}");
    let store = db.store().await;
    assert_eq!(store.hl_settings().await.unwrap().api_key(), RIGHT_KEY);
    let b = api.expect(StatusCode::OK, bare(Method::POST, TEST)).await;
    assert_eq!(b["ok"], true, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .starts_with("Higher Logic accepted the tenant code ASSOC"),
        "{b}"
    );
}

both_engines!(group_sync_and_its_status, |db: TestDb| async move {
    let f = Fixture::start(&db).await;
    let api = f.writer();

    // The settings as the story above leaves them: the right key, saved again unchanged,
    // then social on.
    let mut social = with_key(None, &f.double.base_url);
    social["integrate_social"] = json!(true);
    let right_key = with_key(Some(RIGHT_KEY), &f.double.base_url);
    for body in [right_key, with_key(None, &f.double.base_url), social] {
        api.expect(StatusCode::OK, put_settings(body)).await;
    }

    sync_on_locks_the_group_type(&f).await;
    the_worker_brings_the_group_up_to_date(&f).await;
    a_refused_record_is_sent_again(&f).await;
    sync_off_keeps_the_type_and_the_audit_names_the_token(&f).await;
    drop(f);
});

/// Group sync: a group of P1 (with an account) and P3 (without); sync off, then on as a
/// community, which locks the type.
async fn sync_on_locks_the_group_type(f: &Fixture) {
    let (reader, api) = (f.reader(), f.writer());
    let g1 = json!({"group_key": "g1", "name": "Group one", "members": ["P1", "P3"]});
    api.expect(StatusCode::CREATED, with(Method::POST, "/groups", g1))
        .await;
    let b = reader
        .expect(StatusCode::OK, bare(Method::GET, "/groups/g1/sync"))
        .await;
    assert_eq!(b["sync_enabled"], false);
    assert!(b["group_type"].is_null());
    assert_eq!(b["type_locked"], false);
    assert_eq!(b["status"]["sync_enabled"], false);
    assert_eq!(b["status"]["without_account"], 1);
    assert_eq!(b["message"], "Not synced to Higher Logic.");
    let on = json!({"sync_enabled": true, "group_type": "community"});
    let unknown = bare(Method::GET, "/groups/none-such/sync");
    reader
        .refuses(StatusCode::NOT_FOUND, "not_found", vec![unknown])
        .await;
    let unknown = with(Method::PUT, "/groups/none-such/sync", on.clone());
    api.refuses(StatusCode::NOT_FOUND, "not_found", vec![unknown])
        .await;
    let read_only = vec![with(Method::PUT, "/groups/g1/sync", on.clone())];
    reader
        .refuses(StatusCode::FORBIDDEN, "forbidden", read_only)
        .await;
    // Turning sync on needs a type; an unknown type is refused.
    let untyped = vec![
        with(
            Method::PUT,
            "/groups/g1/sync",
            json!({"sync_enabled": true}),
        ),
        with(
            Method::PUT,
            "/groups/g1/sync",
            json!({"sync_enabled": true, "group_type": "guild"}),
        ),
    ];
    api.refuses(BAD_REQUEST, "bad_request", untyped).await;

    // On as a community: the type is locked, and changing it is refused with the reason.
    let b = api
        .expect(StatusCode::OK, with(Method::PUT, "/groups/g1/sync", on))
        .await;
    assert_eq!(b["sync_enabled"], true);
    assert_eq!(b["group_type"], "community");
    assert_eq!(b["type_locked"], true);
    let security = json!({"sync_enabled": true, "group_type": "security"});
    let retype = vec![with(Method::PUT, "/groups/g1/sync", security)];
    let b = api.refuses(StatusCode::CONFLICT, "conflict", retype).await;
    assert!(
        message(&b).contains("cannot change once sync was saved on"),
        "{b}"
    );
    let (_, b) = reader.get("/groups/g1/sync").await;
    assert_eq!(b["group_type"], "community", "{b}");
}

/// The worker inside serve pushes the group; its status and the global one reach up to date.
async fn the_worker_brings_the_group_up_to_date(f: &Fixture) {
    let reader = f.reader();
    let sync = || async { reader.get("/groups/g1/sync").await.1 };
    let b = poll(300, sync, |b| b["status"]["state"] == "up_to_date").await;
    assert_eq!(b["status"]["state"], "up_to_date", "{b}");
    assert!(b["status"]["up_to_date_as_of"].as_i64().unwrap() > 0, "{b}");
    assert_eq!(b["status"]["pending"], 0);
    assert_eq!(b["status"]["with_account"], 1);
    assert_eq!(b["status"]["without_account"], 1);
    assert!(b["status"]["last_error"].is_null());
    let message = b["message"].as_str().unwrap();
    assert!(
        message.starts_with("Up to date in the Higher Logic community as of"),
        "{b}"
    );
    assert!(
        message.contains("1 member has no user account and is not sent"),
        "{b}"
    );
    let expected: std::collections::BTreeSet<String> = ["P1".to_string()].into();
    assert_eq!(f.double.with(|s| s.members_of("g1")), expected);

    // The global status: nothing pending, the group up to date.
    let b = reader
        .expect(StatusCode::OK, bare(Method::GET, "/sync/status"))
        .await;
    assert_eq!(b["configured"], true);
    assert_eq!(b["pending"], 0, "{b}");
    let groups = b["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{b}");
    assert_eq!(groups[0]["group_key"], "g1");
    assert_eq!(groups[0]["state"], "up_to_date");
    assert_eq!(groups[0]["without_account"], 1);
}

/// A record Higher Logic refuses is listed with its answer, and sent again on request.
async fn a_refused_record_is_sent_again(f: &Fixture) {
    let (reader, api) = (f.reader(), f.writer());
    f.double.set_faults(hl_double::Faults {
        reject_keys: ["P1".to_string()].into(),
        ..Default::default()
    });
    api.expect(StatusCode::OK, bare(Method::POST, "/members/P1/deactivate"))
        .await;
    let refused = || async { reader.get("/sync/refused").await.1 };
    let b = poll(150, refused, |b| b["total"] == 1).await;
    assert_eq!(b["total"], 1, "{b}");
    assert_eq!(b["contacts"][0]["member_key"], "P1");
    assert!(
        b["contacts"][0]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{b}"
    );
    let retry = bare(Method::POST, "/sync/retry-refused");
    reader
        .refuses(StatusCode::FORBIDDEN, "forbidden", vec![retry.clone()])
        .await;
    f.double.set_faults(hl_double::Faults::default());
    let requeued = api.expect(StatusCode::OK, retry).await;
    assert_eq!(requeued["requeued"], 1);
    let status = || async { reader.get("/sync/status").await.1 };
    let b = poll(150, status, |b| b["pending"] == 0 && b["parked"] == 0).await;
    assert_eq!(
        (b["pending"].clone(), b["parked"].clone()),
        (json!(0), json!(0)),
        "{b}"
    );
    assert_eq!(reader.get("/sync/refused").await.1["total"], 0);
    // Deactivated, and still a contact in Higher Logic.
    assert!(f.double.with(|s| s.members_of("g1").contains("P1")));
    api.expect(StatusCode::OK, bare(Method::POST, "/members/P1/reactivate"))
        .await;
}

/// Off again: the type stays locked. The audit log names the token for the settings and the
/// sync, and holds no key.
async fn sync_off_keeps_the_type_and_the_audit_names_the_token(f: &Fixture) {
    let (reader, api) = (f.reader(), f.writer());
    let off = json!({"sync_enabled": false});
    let b = api
        .expect(StatusCode::OK, with(Method::PUT, "/groups/g1/sync", off))
        .await;
    assert_eq!(b["sync_enabled"], false);
    assert_eq!(b["type_locked"], true);
    assert_eq!(b["group_type"], "community");

    let (_, b) = reader.get("/audit?limit=1000").await;
    let entries = b["entries"].as_array().unwrap();
    let by_token = |entity: &str, action: &str| {
        entries.iter().any(|e| {
            e["actor"] == "api-token:provisioning" && e["entity"] == entity && e["action"] == action
        })
    };
    for (entity, action) in [
        ("hl_settings", "properties_changed"),
        ("hl_settings", "updated"),
        ("group", "hl_sync_on"),
        ("group", "hl_sync_off"),
    ] {
        assert!(by_token(entity, action), "no {entity} {action}: {b}");
    }
    let text = b.to_string();
    assert!(!text.contains("the-real-api-key") && !text.contains(WRONG_KEY));
}

both_engines!(
    a_clashing_group_key_is_changed_through_the_api,
    |db: TestDb| async move {
        let f = Fixture::start(&db).await;
        let api = f.writer();
        let right_key = with_key(Some(RIGHT_KEY), &f.double.base_url);
        api.expect(StatusCode::OK, put_settings(right_key)).await;
        f.double
            .add_native_group("theirs", "Made in Higher Logic", "community");
        let group = json!({"group_key": "theirs", "name": "Ours", "members": ["P1"]});
        api.expect(StatusCode::CREATED, with(Method::POST, "/groups", group))
            .await;
        let on = json!({"sync_enabled": true, "group_type": "community"});
        api.expect(StatusCode::OK, with(Method::PUT, "/groups/theirs/sync", on))
            .await;
        let sync = || async { api.get("/groups/theirs/sync").await.1 };
        let b = poll(300, sync, |b| b["status"]["key_clash"] == true).await;
        assert_eq!(b["status"]["state"], "error", "{b}");
        assert!(
            b["message"]
                .as_str()
                .unwrap()
                .starts_with("Sync error: this key is already used in Higher Logic"),
            "{b}"
        );
        // A key of another group is refused; a free one is taken, and the members arrive.
        let other = json!({"group_key": "other", "name": "Other", "members": []});
        api.expect(StatusCode::CREATED, with(Method::POST, "/groups", other))
            .await;
        let taken = json!({"sync_enabled": true, "group_key": "other"});
        let taken = vec![with(Method::PUT, "/groups/theirs/sync", taken)];
        api.refuses(StatusCode::CONFLICT, "conflict", taken).await;
        let rekey = json!({"sync_enabled": true, "group_key": "ours"});
        let b = api
            .expect(
                StatusCode::OK,
                with(Method::PUT, "/groups/theirs/sync", rekey),
            )
            .await;
        assert_eq!(b["group_key"], "ours", "{b}");
        assert_eq!(b["status"]["key_clash"], false, "{b}");
        let sync = || async { api.get("/groups/ours/sync").await.1 };
        let b = poll(300, sync, |b| b["status"]["state"] == "up_to_date").await;
        assert_eq!(b["status"]["state"], "up_to_date", "{b}");
        let members: std::collections::BTreeSet<String> = ["P1".to_string()].into();
        assert_eq!(f.double.with(|s| s.members_of("ours")), members);
        // Once synced, the key stays.
        let again = json!({"sync_enabled": true, "group_key": "ours-2"});
        let again = vec![with(Method::PUT, "/groups/ours/sync", again)];
        api.refuses(StatusCode::CONFLICT, "conflict", again).await;
    }
);
