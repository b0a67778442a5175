//! The admin API over HTTP against the real server: token scopes, the error shape, members,
//! fields, groups with live preview, the audit log, the Higher Logic settings and group sync
//! (against the Push API double), and an OpenAPI-driven sweep for 500s.

use guildgate::accounts::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::people::{add_account, person};
use crate::support::{api_token, cli_line, cli_ok, hl_double, TestApp, TestDb};

/// The admin API as one token holder calls it.
struct Api<'a> {
    app: &'a TestApp,
    token: String,
}

impl Api<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.app.api(&self.token, method, path, body.as_ref()).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn send(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(method, path, Some(body)).await
    }
}

async fn seed(db: &TestDb) {
    let store = db.store().await;
    let regular = |first| person(first, "Tester", "Regular");
    add_account(&store, "P1", regular("Ada"), Role::Member, None).await;
    add_account(&store, "P2", regular("Bob"), Role::Member, None).await;
    store.add_member("test", "P3", regular("Cy")).await.unwrap();
    let student = person("Di", "Tester", "Student");
    store.add_member("test", "P4", student).await.unwrap();
    store.close().await;
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"]["status"], want.as_u16(), "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

both_engines!(tokens_and_scopes, |db: TestDb| async move {
    let app = TestApp::spawn(&db).await;
    let read = api_token(&db, "reporting", "read");
    let write = api_token(&db, "provisioning", "write");

    // No token, a malformed one, an unknown one: 401 with a Bearer challenge.
    let resp = app.get("/admin/api/members").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let body: Value = resp.json().await.unwrap();
    assert_error(
        StatusCode::UNAUTHORIZED,
        &body,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    for bad in [
        "nonsense",
        "gga_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let api = Api {
            app: &app,
            token: bad.into(),
        };
        let (s, b) = api.get("/members").await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthenticated");
    }

    // A read token reads and may not write.
    let reader = Api {
        app: &app,
        token: read.clone(),
    };
    let (s, _) = reader.get("/fields").await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = reader
        .send(Method::POST, "/groups", json!({"name": "X"}))
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");

    // A write token writes.
    let writer = Api {
        app: &app,
        token: write,
    };
    let (s, b) = writer
        .send(
            Method::POST,
            "/groups",
            json!({"name": "Board", "group_key": "board"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    // Revoked: refused at once.
    let listed: Value = serde_json::from_str(&cli_line(&db, "api-token list --json")).unwrap();
    let id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "reporting")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !listed.to_string().contains(&read),
        "token values are never listed"
    );
    cli_ok(&db, &["api-token", "revoke", &id]);
    let (s, b) = reader.get("/fields").await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthenticated");
    drop(app);
});

/// The seeded store, the application and a write token (its value, for the audit checks).
async fn start(db: &TestDb) -> (TestApp, String) {
    seed(db).await;
    let app = TestApp::spawn(db).await;
    let secret = api_token(db, "console-script", "write");
    (app, secret)
}

both_engines!(members_search, |db: TestDb| async move {
    let (app, secret) = start(&db).await;
    let api = Api {
        app: &app,
        token: secret.clone(),
    };

    // Search by name, e-mail or key.
    let (s, b) = api.get("/members?q=ada").await;
    assert_eq!(s, StatusCode::OK);
    let keys: Vec<&str> = b["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["P1"]);
    let (s, b) = api.get("/members?q=example.org&limit=2&offset=1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["members"].as_array().unwrap().len(), 2);
    let (s, b) = api.get("/members?limit=0").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (s, b) = api.get("/members?kind=robot").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
});

both_engines!(fields_need_the_members_section, |db: TestDb| async move {
    let (app, secret) = start(&db).await;
    let api = Api {
        app: &app,
        token: secret.clone(),
    };

    // Fields: the sync box needs the Members section.
    let (s, b) = api
        .send(
            Method::POST,
            "/fields",
            json!({
                "field_key": "chapter", "name": "Chapter", "field_type": "text",
                "applies_to": "person", "sync_to_higher_logic": true
            }),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Members section"));
    let (s, b) = api
        .send(
            Method::POST,
            "/fields",
            json!({
                "field_key": "chapter", "name": "Chapter", "field_type": "text",
                "applies_to": "person", "show_in_members": true
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = api
        .send(
            Method::PATCH,
            "/fields/chapter",
            json!({"sync_to_higher_logic": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["sync_to_higher_logic"], true);
    let (s, b) = api
        .send(
            Method::PATCH,
            "/fields/chapter",
            json!({"show_in_members": false, "sync_to_higher_logic": true}),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (s, b) = api
        .send(Method::POST, "/fields", json!({"field_key": 7}))
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
});

both_engines!(groups_members_and_the_audit_log, |db: TestDb| async move {
    let (app, secret) = start(&db).await;
    let api = Api {
        app: &app,
        token: secret.clone(),
    };

    // Groups: live preview counts the members without an account.
    let (s, b) = api
        .send(
            Method::POST,
            "/groups/preview",
            json!({"conditions": ["member_type=Regular"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["total"], 3);
    assert_eq!(b["with_account"], 2);
    assert_eq!(b["without_account"], 1);
    let (s, b) = api
        .send(
            Method::POST,
            "/groups/preview",
            json!({"conditions": ["field.nope=1"]}),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (s, b) = api
        .send(
            Method::POST,
            "/groups/preview",
            json!({"members": ["P4", "ZZ"]}),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (s, b) = api
        .send(
            Method::POST,
            "/groups",
            json!({
                "group_key": "regulars", "name": "Regulars", "conditions": ["member_type=Regular"]
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["members"]["total"], 3);
    assert_eq!(b["conditions"], json!(["member_type=Regular"]));
    let (s, b) = api
        .send(
            Method::POST,
            "/groups",
            json!({"group_key": "regulars", "name": "Again"}),
        )
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    let (s, b) = api
        .send(
            Method::PATCH,
            "/groups/regulars",
            json!({
                "name": "Students", "conditions": ["member_type=Student"]
            }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["group"]["name"], "Students");
    assert_eq!(b["members"]["total"], 1);
    assert_eq!(b["members"]["sample"][0]["member_key"], "P4");
    // A bad selection changes nothing, not even the name sent with it.
    let (s, b) = api
        .send(
            Method::PATCH,
            "/groups/regulars",
            json!({
                "name": "Broken", "conditions": ["colour=red"]
            }),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (_, b) = api.get("/groups/regulars").await;
    assert_eq!(b["group"]["name"], "Students");
    let (s, b) = api.get("/groups/none-such").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");

    // A member's page: account state, groups, and why they do not sync.
    let (_, b) = api.get("/members/P3").await;
    assert!(b["account"].is_null());
    assert_eq!(b["higher_logic"]["synced"], false);
    assert!(b["higher_logic"]["reason"]
        .as_str()
        .unwrap()
        .contains("no user account"));
    let (s, b) = api.call(Method::POST, "/members/P2/deactivate", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["account"]["state"], "deactivated");
    assert!(b["higher_logic"]["note"]
        .as_str()
        .unwrap()
        .contains("account deactivated: sign-in is refused"));
    assert!(b["account"].get("password_hash").is_none());
    let (_, b) = api.call(Method::POST, "/members/P2/reactivate", None).await;
    assert_eq!(b["account"]["state"], "active");
    let (s, b) = api.call(Method::POST, "/members/P3/deactivate", None).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");

    // The audit log names the token that made each change and never holds its value.
    let (s, b) = api.get("/audit?limit=1000").await;
    assert_eq!(s, StatusCode::OK);
    let entries = b["entries"].as_array().unwrap();
    let by_token: Vec<&Value> = entries
        .iter()
        .filter(|e| e["actor"] == "api-token:console-script")
        .collect();
    for action in ["deactivated", "reactivated", "renamed", "created"] {
        assert!(
            by_token
                .iter()
                .any(|e| e["action"].as_str().unwrap().contains(action)),
            "no {action} entry by the token in {b}"
        );
    }
    assert!(!b.to_string().contains(&secret));
    assert!(entries
        .iter()
        .any(|e| e["entity"] == "api_token" && e["action"] == "created"));

    // Page by page with `next`, the audit log is the same list, in the same order.
    assert!(b["next"].is_null(), "one page holds it all: {}", b["next"]);
    let all: Vec<String> = entries
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert!(all.len() > 3);
    let mut paged = Vec::new();
    let mut path = "/audit?limit=3".to_string();
    loop {
        let (s, page) = api.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        paged.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(next) => path = format!("/audit?limit=3&before={next}"),
            None => break,
        }
    }
    assert_eq!(paged, all);
    for bad in ["x", "12.", ".abc", "12.a%27b"] {
        let (s, b) = api.get(&format!("/audit?before={bad}")).await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    }

    let (s, b) = api.get("/no/such/thing").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    drop(app);
});

const HL_SETTINGS: &str = "/integrations/higher-logic";
const HL_TEST: &str = "/integrations/higher-logic/test";

/// The seeded store, the Higher Logic double, the application, and (read, write) tokens.
async fn start_with_higher_logic(db: &TestDb) -> (hl_double::HlDouble, TestApp, (String, String)) {
    seed(db).await;
    let double = hl_double::HlDouble::start("ASSOC", "the-real-api-key-0001").await;
    let app = TestApp::spawn(db).await;
    let tokens = (
        api_token(db, "reporting", "read"),
        api_token(db, "provisioning", "write"),
    );
    (double, app, tokens)
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

both_engines!(higher_logic_settings, |db: TestDb| async move {
    let (double, app, tokens) = start_with_higher_logic(&db).await;
    let reader = Api {
        app: &app,
        token: tokens.0,
    };
    let api = Api {
        app: &app,
        token: tokens.1,
    };
    let (settings, test) = (HL_SETTINGS, HL_TEST);

    // Nothing entered yet: read, and the test says so in words.
    let (s, b) = reader.get(settings).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["api_key_set"], false, "{b}");
    assert_eq!(b["api_key"], "");
    assert_eq!(b["configured"], false);
    let (s, b) = api.call(Method::POST, test, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["ok"], false);
    assert_eq!(b["message"], "Enter the tenant code and the API key first.");

    // A read token may read, never write.
    let (s, b) = reader
        .send(
            Method::PUT,
            settings,
            with_key(Some("wrong-key-000000000"), &double.base_url),
        )
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = reader.call(Method::POST, test, None).await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");

    // The console's validation: plain http off loopback, a key of two words, a missing field.
    let (s, b) = api
        .send(
            Method::PUT,
            settings,
            with_key(Some("wrong-key-000000000"), "http://data.example.org/push"),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("https"),
        "{b}"
    );
    let (s, b) = api
        .send(
            Method::PUT,
            settings,
            with_key(Some("two words"), &double.base_url),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (s, b) = api
        .send(Method::PUT, settings, json!({"api_key": "k-123456789012"}))
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (_, b) = reader.get(settings).await;
    assert_eq!(b["tenant_code"], "", "nothing saved: {b}");
    assert_eq!(b["api_key_set"], false);

    // A wrong key: saved, answered masked, and the test says Higher Logic refused it.
    let (s, b) = api
        .send(
            Method::PUT,
            settings,
            with_key(Some("wrong-key-000000000"), &double.base_url),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["api_key"], "••••0000");
    assert_eq!(b["api_key_set"], true);
    assert_eq!(b["configured"], true);
    assert!(
        !b.to_string().contains("wrong-key"),
        "the key is write-only"
    );
    let (s, b) = api.call(Method::POST, test, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["ok"], false);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("Higher Logic refused the API key or the tenant code"),
        "{b}"
    );

    // The right key; then the key left out, or null, keeps it.
    let (s, b) = api
        .send(
            Method::PUT,
            settings,
            with_key(Some("the-real-api-key-0001"), &double.base_url),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["api_key"], "••••0001");
    let (s, b) = api
        .send(Method::PUT, settings, with_key(None, &double.base_url))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut body = with_key(None, &double.base_url);
    body["api_key"] = Value::Null;
    body["integrate_social"] = json!(true);
    let (s, b) = api.send(Method::PUT, settings, body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Sending back the masked key (a GET answer put back as is) is refused, not saved.
    let mut echoed = b.clone();
    echoed["api_key"] = json!("••••0001");
    let (s, b) = api.send(Method::PUT, settings, echoed).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("masked"),
        "{b}"
    );
    let (s, b) = reader.get(settings).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["tenant_code"], "ASSOC");
    assert_eq!(b["api_key"], "••••0001");
    assert_eq!(b["base_url"], double.base_url.as_str());
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
    assert_eq!(
        store.hl_settings().await.unwrap().api_key(),
        "the-real-api-key-0001"
    );
    let (s, b) = api.call(Method::POST, test, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["ok"], true, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .starts_with("Higher Logic accepted the tenant code ASSOC"),
        "{b}"
    );
});

both_engines!(group_sync_and_its_status, |db: TestDb| async move {
    let (double, app, tokens) = start_with_higher_logic(&db).await;
    let reader = Api {
        app: &app,
        token: tokens.0,
    };
    let api = Api {
        app: &app,
        token: tokens.1,
    };
    let settings = HL_SETTINGS;

    // The settings as the story above leaves them: the right key, saved again unchanged,
    // then social on.
    let mut social = with_key(None, &double.base_url);
    social["integrate_social"] = json!(true);
    let right_key = with_key(Some("the-real-api-key-0001"), &double.base_url);
    for body in [right_key, with_key(None, &double.base_url), social] {
        let (s, b) = api.send(Method::PUT, settings, body).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }

    // Group sync: a group of P1 (with an account) and P3 (without).
    let (s, b) = api
        .send(
            Method::POST,
            "/groups",
            json!({"group_key": "g1", "name": "Group one", "members": ["P1", "P3"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = reader.get("/groups/g1/sync").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["sync_enabled"], false);
    assert!(b["group_type"].is_null());
    assert_eq!(b["type_locked"], false);
    assert_eq!(b["status"]["sync_enabled"], false);
    assert_eq!(b["status"]["without_account"], 1);
    assert_eq!(b["message"], "Not synced to Higher Logic.");
    let (s, b) = reader.get("/groups/none-such/sync").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let on = json!({"sync_enabled": true, "group_type": "community"});
    let (s, b) = api
        .send(Method::PUT, "/groups/none-such/sync", on.clone())
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = reader
        .send(Method::PUT, "/groups/g1/sync", on.clone())
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    // Turning sync on needs a type; an unknown type is refused.
    let (s, b) = api
        .send(
            Method::PUT,
            "/groups/g1/sync",
            json!({"sync_enabled": true}),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (s, b) = api
        .send(
            Method::PUT,
            "/groups/g1/sync",
            json!({"sync_enabled": true, "group_type": "guild"}),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");

    // On as a community: the type is locked, and changing it is refused with the reason.
    let (s, b) = api.send(Method::PUT, "/groups/g1/sync", on).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["sync_enabled"], true);
    assert_eq!(b["group_type"], "community");
    assert_eq!(b["type_locked"], true);
    let (s, b) = api
        .send(
            Method::PUT,
            "/groups/g1/sync",
            json!({"sync_enabled": true, "group_type": "security"}),
        )
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot change once sync was saved on"),
        "{b}"
    );
    let (_, b) = reader.get("/groups/g1/sync").await;
    assert_eq!(b["group_type"], "community", "{b}");

    // The worker inside serve pushes the group; the status reaches up to date.
    let mut b = Value::Null;
    for _ in 0..300 {
        b = reader.get("/groups/g1/sync").await.1;
        if b["status"]["state"] == "up_to_date" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
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
    assert_eq!(double.with(|s| s.members_of("g1")), expected);

    // The global status: nothing pending, the group up to date.
    let (s, b) = reader.get("/sync/status").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["configured"], true);
    assert_eq!(b["pending"], 0, "{b}");
    let groups = b["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{b}");
    assert_eq!(groups[0]["group_key"], "g1");
    assert_eq!(groups[0]["state"], "up_to_date");
    assert_eq!(groups[0]["without_account"], 1);

    // A record Higher Logic refuses is listed with its answer, and sent again on request.
    double.set_faults(hl_double::Faults {
        reject_keys: ["P1".to_string()].into(),
        ..Default::default()
    });
    let (s, b) = api.call(Method::POST, "/members/P1/deactivate", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut b = Value::Null;
    for _ in 0..150 {
        b = reader.get("/sync/refused").await.1;
        if b["total"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(b["total"], 1, "{b}");
    assert_eq!(b["contacts"][0]["member_key"], "P1");
    assert!(
        b["contacts"][0]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{b}"
    );
    let (s, refused) = reader.call(Method::POST, "/sync/retry-refused", None).await;
    assert_error(s, &refused, StatusCode::FORBIDDEN, "forbidden");
    double.set_faults(hl_double::Faults::default());
    let (s, requeued) = api.call(Method::POST, "/sync/retry-refused", None).await;
    assert_eq!(s, StatusCode::OK, "{requeued}");
    assert_eq!(requeued["requeued"], 1);
    for _ in 0..150 {
        b = reader.get("/sync/status").await.1;
        if b["pending"] == 0 && b["parked"] == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        (b["pending"].clone(), b["parked"].clone()),
        (json!(0), json!(0)),
        "{b}"
    );
    assert_eq!(reader.get("/sync/refused").await.1["total"], 0);
    // Deactivated, and still a contact in Higher Logic.
    assert!(double.with(|s| s.members_of("g1").contains("P1")));
    let (s, _) = api.call(Method::POST, "/members/P1/reactivate", None).await;
    assert_eq!(s, StatusCode::OK);

    // Off again: the type stays locked.
    let (s, b) = api
        .send(
            Method::PUT,
            "/groups/g1/sync",
            json!({"sync_enabled": false}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["sync_enabled"], false);
    assert_eq!(b["type_locked"], true);
    assert_eq!(b["group_type"], "community");

    // The audit log names the token for the settings and the sync, and holds no key.
    let (_, b) = reader.get("/audit?limit=1000").await;
    let entries = b["entries"].as_array().unwrap();
    let by_token = |entity: &str, action: &str| {
        entries.iter().any(|e| {
            e["actor"] == "api-token:provisioning" && e["entity"] == entity && e["action"] == action
        })
    };
    assert!(by_token("hl_settings", "properties_changed"), "{b}");
    assert!(by_token("hl_settings", "updated"), "{b}");
    assert!(by_token("group", "hl_sync_on"), "{b}");
    assert!(by_token("group", "hl_sync_off"), "{b}");
    let text = b.to_string();
    assert!(!text.contains("the-real-api-key") && !text.contains("wrong-key-000000000"));
    drop(app);
});

/// Values that break naive handlers: empty, huge, unicode, SQL and path tricks.
const NASTY: &[&str] = &[
    "",
    " ",
    "0",
    "-1",
    "9999999999999999999999",
    "P1",
    // Sent percent-encoded: %00 and ..%2F..
    "\0",
    "../..",
    "' OR 1=1 --",
    "ÄÖÜ😀",
    "null",
    "true",
    "{}",
    "[]",
];

fn nasty_bodies() -> Vec<Value> {
    let long = "x".repeat(70_000);
    vec![
        json!(null),
        json!({}),
        json!([]),
        json!("text"),
        json!(42),
        json!({"name": long}),
        json!({"name": "", "conditions": []}),
        json!({"name": "G", "members": ["P1", "P1", "nope"]}),
        json!({"name": "G", "conditions": ["member_type="]}),
        json!({"name": "G", "conditions": ["field.x=1"], "members": []}),
        json!({"field_key": "Bad Key", "name": "x", "field_type": "choice", "applies_to": "both"}),
        json!({"field_key": "ok_key", "name": "x", "field_type": "choice", "choices": [""], "applies_to": "both"}),
        json!({"field_key": "ok_key2", "name": "x", "field_type": "text", "choices": ["a"], "applies_to": "company", "show_in_members": true, "sync_to_higher_logic": true}),
        json!({"show_in_members": "yes"}),
        json!({"group_key": "../../etc", "name": "x"}),
        json!({"group_key": "k".repeat(101), "name": "x"}),
        // Higher Logic settings and group sync.
        json!({"tenant_code": "T\u{0}", "integrate_bio": true, "integrate_profile_image": false, "integrate_social": false}),
        json!({"tenant_code": long, "integrate_bio": true, "integrate_profile_image": false, "integrate_social": false}),
        json!({"tenant_code": "T", "api_key": "k".repeat(600), "integrate_bio": false, "integrate_profile_image": false, "integrate_social": false}),
        json!({"tenant_code": "T", "api_key": "••••1234", "integrate_bio": false, "integrate_profile_image": false, "integrate_social": false}),
        json!({"tenant_code": "T", "base_url": "javascript:alert(1)", "integrate_bio": false, "integrate_profile_image": false, "integrate_social": false}),
        json!({"tenant_code": "T", "base_url": "http://example.org/push", "integrate_bio": false, "integrate_profile_image": false, "integrate_social": false}),
        json!({"tenant_code": "T", "integrate_bio": "yes", "integrate_profile_image": 1, "integrate_social": null}),
        // Saved: the test connection then meets a closed port.
        json!({"tenant_code": "SWEEP", "api_key": "sweep-key-0123456789", "base_url": "http://127.0.0.1:9/push/v1/members", "integrate_bio": true, "integrate_profile_image": true, "integrate_social": true}),
        json!({"sync_enabled": true}),
        json!({"sync_enabled": "on", "group_type": "community"}),
        json!({"sync_enabled": true, "group_type": "guild"}),
        json!({"sync_enabled": true, "group_type": "security"}),
        json!({"sync_enabled": true, "group_type": "community"}),
        json!({"sync_enabled": false, "group_type": "community"}),
        json!({"sync_enabled": false}),
    ]
}

// Equivalent of a schemathesis run: every operation of the served OpenAPI document, with
// hostile path values, query values and bodies, must never answer 5xx.
both_engines!(openapi_sweep_finds_no_500, |db: TestDb| async move {
    seed(&db).await;
    // A group keyed like one of the hostile values, so that its paths reach real data too.
    let store = db.store().await;
    store
        .add_group(
            "test",
            Some("P1"),
            "Sweep group",
            guildgate::groups::Selection::Static(vec!["P1".into(), "P3".into()]),
        )
        .await
        .unwrap();
    store.close().await;
    let app = TestApp::spawn(&db).await;
    let api = Api {
        app: &app,
        token: api_token(&db, "sweep", "write"),
    };
    let doc: Value = app
        .get("/admin/api/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 10, "the document lists the API: {paths:?}");
    for (path, method) in [
        ("/admin/api/integrations/higher-logic", "get"),
        ("/admin/api/integrations/higher-logic", "put"),
        ("/admin/api/integrations/higher-logic/test", "post"),
        ("/admin/api/groups/{key}/sync", "get"),
        ("/admin/api/groups/{key}/sync", "put"),
        ("/admin/api/sync/status", "get"),
        ("/admin/api/sync/refused", "get"),
        ("/admin/api/sync/retry-refused", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not in the document"
        );
    }
    let mut calls = 0;
    for (template, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let query_names: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "query")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            for value in NASTY {
                let path = nasty_path(template, &query_names, value);
                let bodies = if op.get("requestBody").is_some() {
                    nasty_bodies()
                } else {
                    vec![Value::Null]
                };
                for body in bodies {
                    let body = if op.get("requestBody").is_some() {
                        Some(body)
                    } else {
                        None
                    };
                    let (status, answer) = api.call(method.clone(), &path, body.clone()).await;
                    calls += 1;
                    assert!(
                        !status.is_server_error(),
                        "{method} {path} with {body:?} answered {status}: {answer}"
                    );
                    if !status.is_success() {
                        assert!(
                            answer["error"]["code"].is_string(),
                            "{method} {path}: {answer}"
                        );
                    }
                }
            }
        }
    }
    assert!(calls > 200, "only {calls} calls");
    // The store still answers after the sweep, and no key came back.
    let (s, _) = api.get("/members").await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = api.get("/integrations/higher-logic").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!b.to_string().contains("sweep-key"), "{b}");
    drop(app);
});

/// The API path of `template` (under `/admin/api`) with `value` as its `{key}` and as every
/// query parameter, percent-encoded by `url`.
fn nasty_path(template: &str, query_names: &[&str], value: &str) -> String {
    let mut url = reqwest::Url::parse("http://localhost").expect("url");
    url.path_segments_mut()
        .expect("a base URL")
        .clear()
        .extend(template.split('/').skip(1).map(|part| match part {
            "{key}" => value,
            part => part,
        }));
    if !query_names.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(query_names.iter().map(|name| (name, value)));
    }
    let path = url.path().strip_prefix("/admin/api").expect("an API path");
    match url.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    }
}
