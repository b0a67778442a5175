//! The admin API over HTTP against the real server: token scopes, the error shape, members,
//! fields, groups with live preview, the audit log, and an OpenAPI-driven sweep for 500s.

mod support;

use guildgate::members::{Kind, MemberData};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use support::{cli_ok, Server, TestDb};

fn token(db: &TestDb, name: &str, scope: &str) -> String {
    let out = cli_ok(
        db,
        &[
            "api-token",
            "create",
            "--name",
            name,
            "--scope",
            scope,
            "--json",
        ],
    );
    let v: Value = serde_json::from_str(&out).expect("token json");
    v["token"].as_str().expect("token").to_string()
}

struct Api {
    client: Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}/admin/api{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
}

fn person(first: &str, email: &str, member_type: &str) -> MemberData {
    MemberData {
        kind: Kind::Person,
        first_name: Some(first.into()),
        last_name: Some("Tester".into()),
        email: Some(email.into()),
        member_type: Some(member_type.into()),
        ..Default::default()
    }
}

async fn seed(db: &TestDb) {
    let store = db.store().await;
    store
        .add_member_with_account(
            "test",
            "P1",
            person("Ada", "ada@example.org", "Regular"),
            Some(("ada@example.org", guildgate::accounts::Role::Member)),
        )
        .await
        .unwrap();
    store
        .add_member_with_account(
            "test",
            "P2",
            person("Bob", "bob@example.org", "Regular"),
            Some(("bob@example.org", guildgate::accounts::Role::Member)),
        )
        .await
        .unwrap();
    store
        .add_member("test", "P3", person("Cy", "cy@example.org", "Regular"))
        .await
        .unwrap();
    store
        .add_member("test", "P4", person("Di", "di@example.org", "Student"))
        .await
        .unwrap();
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
    let server = Server::start(&db).await;
    let read = token(&db, "reporting", "read");
    let write = token(&db, "provisioning", "write");
    let client = Client::new();

    // No token, a malformed one, an unknown one: 401 with a Bearer challenge.
    let resp = client
        .get(format!("{}/admin/api/members", server.base))
        .send()
        .await
        .unwrap();
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
            client: client.clone(),
            base: server.base.clone(),
            token: bad.into(),
        };
        let (s, b) = api.get("/members").await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthenticated");
    }

    // A read token reads and may not write.
    let reader = Api {
        client: client.clone(),
        base: server.base.clone(),
        token: read.clone(),
    };
    let (s, _) = reader.get("/fields").await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = reader
        .call(Method::POST, "/groups", Some(json!({"name": "X"})))
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");

    // A write token writes.
    let writer = Api {
        client: client.clone(),
        base: server.base.clone(),
        token: write,
    };
    let (s, b) = writer
        .call(
            Method::POST,
            "/groups",
            Some(json!({"name": "Board", "group_key": "board"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    // Revoked: refused at once.
    let listed: Value =
        serde_json::from_str(&cli_ok(&db, &["api-token", "list", "--json"])).unwrap();
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
    drop(server);
});

both_engines!(members_fields_groups_and_audit, |db: TestDb| async move {
    seed(&db).await;
    let server = Server::start(&db).await;
    let secret = token(&db, "console-script", "write");
    let api = Api {
        client: Client::new(),
        base: server.base.clone(),
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

    // Fields: the sync box needs the Members section.
    let (s, b) = api
        .call(
            Method::POST,
            "/fields",
            Some(json!({
                "field_key": "chapter", "name": "Chapter", "field_type": "text",
                "applies_to": "person", "sync_to_higher_logic": true
            })),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Members section"));
    let (s, b) = api
        .call(
            Method::POST,
            "/fields",
            Some(json!({
                "field_key": "chapter", "name": "Chapter", "field_type": "text",
                "applies_to": "person", "show_in_members": true
            })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = api
        .call(
            Method::PATCH,
            "/fields/chapter",
            Some(json!({"sync_to_higher_logic": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["sync_to_higher_logic"], true);
    let (s, b) = api
        .call(
            Method::PATCH,
            "/fields/chapter",
            Some(json!({"show_in_members": false, "sync_to_higher_logic": true})),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (s, b) = api
        .call(Method::POST, "/fields", Some(json!({"field_key": 7})))
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");

    // Groups: live preview counts the members without an account.
    let (s, b) = api
        .call(
            Method::POST,
            "/groups/preview",
            Some(json!({"conditions": ["member_type=Regular"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["total"], 3);
    assert_eq!(b["with_account"], 2);
    assert_eq!(b["without_account"], 1);
    let (s, b) = api
        .call(
            Method::POST,
            "/groups/preview",
            Some(json!({"conditions": ["field.nope=1"]})),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (s, b) = api
        .call(
            Method::POST,
            "/groups/preview",
            Some(json!({"members": ["P4", "ZZ"]})),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_request");
    let (s, b) = api
        .call(
            Method::POST,
            "/groups",
            Some(json!({
                "group_key": "regulars", "name": "Regulars", "conditions": ["member_type=Regular"]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["members"]["total"], 3);
    assert_eq!(b["conditions"], json!(["member_type=Regular"]));
    let (s, b) = api
        .call(
            Method::POST,
            "/groups",
            Some(json!({"group_key": "regulars", "name": "Again"})),
        )
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    let (s, b) = api
        .call(
            Method::PATCH,
            "/groups/regulars",
            Some(json!({
                "name": "Students", "conditions": ["member_type=Student"]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["group"]["name"], "Students");
    assert_eq!(b["members"]["total"], 1);
    assert_eq!(b["members"]["sample"][0]["member_key"], "P4");
    // A bad selection changes nothing, not even the name sent with it.
    let (s, b) = api
        .call(
            Method::PATCH,
            "/groups/regulars",
            Some(json!({
                "name": "Broken", "conditions": ["colour=red"]
            })),
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
    assert!(b["higher_logic"]["reason"]
        .as_str()
        .unwrap()
        .contains("deactivated"));
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

    let (s, b) = api.get("/no/such/thing").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    drop(server);
});

/// Values that break naive handlers: empty, huge, unicode, SQL and path tricks.
const NASTY: &[&str] = &[
    "",
    " ",
    "0",
    "-1",
    "9999999999999999999999",
    "P1",
    "%00",
    "..%2F..",
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
    ]
}

// Equivalent of a schemathesis run: every operation of the served OpenAPI document, with
// hostile path values, query values and bodies, must never answer 5xx.
both_engines!(openapi_sweep_finds_no_500, |db: TestDb| async move {
    seed(&db).await;
    let server = Server::start(&db).await;
    let api = Api {
        client: Client::new(),
        base: server.base.clone(),
        token: token(&db, "sweep", "write"),
    };
    let doc: Value = api
        .client
        .get(format!("{}/admin/api/openapi.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 10, "the document lists the API: {paths:?}");
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
                let encoded: String = url_escape(value);
                let path = template
                    .strip_prefix("/admin/api")
                    .unwrap()
                    .replace("{key}", &encoded);
                let query: Vec<String> = query_names
                    .iter()
                    .map(|n| format!("{n}={encoded}"))
                    .collect();
                let path = if query.is_empty() {
                    path
                } else {
                    format!("{path}?{}", query.join("&"))
                };
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
    // The store still answers after the sweep.
    let (s, _) = api.get("/members").await;
    assert_eq!(s, StatusCode::OK);
    drop(server);
});

fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
