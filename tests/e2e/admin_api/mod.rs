//! The admin API over HTTP against the real server: token scopes, the error shape, members,
//! fields, groups with live preview, the audit log, the Higher Logic settings and group sync
//! (against the Push API double, in [`higher_logic`]), and an OpenAPI-driven sweep for 500s
//! ([`sweep`]).

mod higher_logic;
mod member_import;
mod member_writes;
mod sweep;
mod tokens;

use guildgate::accounts::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::people::{add_account, person};
use crate::support::{api_token, cli_line, cli_ok, TestApp, TestDb};

/// The admin API as one token holder calls it.
struct Api<'a> {
    app: &'a TestApp,
    token: String,
}

/// A call: the method, the path under `/admin/api`, and the JSON body if any.
type Call<'a> = (Method, &'a str, Option<Value>);

impl<'a> Api<'a> {
    fn new(app: &'a TestApp, token: &str) -> Api<'a> {
        Api {
            app,
            token: token.to_string(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.app.api(&self.token, method, path, body.as_ref()).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// A call that must answer `want`; its body.
    async fn expect(&self, want: StatusCode, (method, path, body): Call<'_>) -> Value {
        let label = format!("{method} {path}");
        let (status, answer) = self.call(method, path, body).await;
        assert_eq!(status, want, "{label}: {answer}");
        answer
    }

    /// Makes each call in turn; each must be refused with `want` and the error `code`. The
    /// body of the last refusal.
    async fn refuses(&self, want: StatusCode, code: &str, calls: Vec<Call<'_>>) -> Value {
        let mut answer = Value::Null;
        for (method, path, body) in calls {
            let label = format!("{method} {path} {body:?}");
            let (status, refusal) = self.call(method, path, body).await;
            assert_error(status, &refusal, want, code, &label);
            answer = refusal;
        }
        answer
    }
}

/// `call` with a JSON body.
fn with(method: Method, path: &str, body: Value) -> Call<'_> {
    (method, path, Some(body))
}

/// `call` without a body.
fn bare(method: Method, path: &str) -> Call<'_> {
    (method, path, None)
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

/// The error shape every refusal shares; `label` names the call in a failure.
fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str, label: &str) {
    assert_eq!(status, want, "{label}: {body}");
    assert_eq!(body["error"]["status"], want.as_u16(), "{label}: {body}");
    assert_eq!(body["error"]["code"], code, "{label}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{label}: {body}"
    );
}

/// The message of an error answer.
fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
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
    let unauthorized = StatusCode::UNAUTHORIZED;
    assert_error(
        unauthorized,
        &body,
        unauthorized,
        "unauthenticated",
        "no token",
    );
    for bad in [
        "nonsense",
        "gga_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let (s, b) = Api::new(&app, bad).get("/members").await;
        assert_error(s, &b, unauthorized, "unauthenticated", bad);
    }

    // A read token reads and may not write.
    let reader = Api::new(&app, &read);
    reader
        .expect(StatusCode::OK, bare(Method::GET, "/fields"))
        .await;
    let create = with(Method::POST, "/groups", json!({"name": "X"}));
    reader
        .refuses(StatusCode::FORBIDDEN, "forbidden", vec![create])
        .await;

    // A write token writes.
    let board = json!({"name": "Board", "group_key": "board"});
    Api::new(&app, &write)
        .expect(StatusCode::CREATED, with(Method::POST, "/groups", board))
        .await;

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
    let fields = bare(Method::GET, "/fields");
    reader
        .refuses(unauthorized, "unauthenticated", vec![fields])
        .await;
    drop(app);
});

/// The seeded store, the application and a write token (its value, for the audit checks).
async fn start(db: &TestDb) -> (TestApp, String) {
    seed(db).await;
    let app = TestApp::spawn(db).await;
    let secret = api_token(db, "console-script", "write");
    (app, secret)
}

/// The member keys of a members list.
fn member_keys(list: &Value) -> Vec<&str> {
    list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member_key"].as_str().unwrap())
        .collect()
}

both_engines!(members_search, |db: TestDb| async move {
    let (app, secret) = start(&db).await;
    let api = Api::new(&app, &secret);

    // Search by name, e-mail or key.
    let b = api
        .expect(StatusCode::OK, bare(Method::GET, "/members?q=ada"))
        .await;
    assert_eq!(member_keys(&b), ["P1"]);
    let paged = bare(Method::GET, "/members?q=example.org&limit=2&offset=1");
    let b = api.expect(StatusCode::OK, paged).await;
    assert_eq!(member_keys(&b).len(), 2);
    let bad = vec![
        bare(Method::GET, "/members?limit=0"),
        bare(Method::GET, "/members?kind=robot"),
        // Every list refuses a limit out of range rather than quietly changing it.
        bare(Method::GET, "/sync/refused?limit=0"),
        bare(Method::GET, "/sync/refused?limit=5000"),
        bare(Method::GET, "/audit?limit=5000"),
    ];
    api.refuses(StatusCode::BAD_REQUEST, "bad_request", bad)
        .await;
    // A NUL answers alike on both engines (PostgreSQL would refuse to compare it, SQLite would
    // find nothing): refused in the query, and a key holding one names nothing.
    for (path, want, code, said) in [
        (
            "/members?q=a%00",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the query must not contain NUL characters",
        ),
        (
            "/members/P%001",
            StatusCode::NOT_FOUND,
            "not_found",
            "not found",
        ),
    ] {
        let refusal = api.refuses(want, code, vec![bare(Method::GET, path)]).await;
        let message = refusal["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(said), "{path}: {refusal}");
    }
});

both_engines!(fields_need_the_members_section, |db: TestDb| async move {
    let (app, secret) = start(&db).await;
    let api = Api::new(&app, &secret);
    let chapter = |extra: Value| {
        let mut body = json!({
            "field_key": "chapter", "name": "Chapter", "field_type": "text", "applies_to": "person"
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        with(Method::POST, "/fields", body)
    };

    // Fields: the sync box needs the Members section.
    let hidden_synced = chapter(json!({"sync_to_higher_logic": true}));
    let b = api
        .refuses(StatusCode::BAD_REQUEST, "bad_request", vec![hidden_synced])
        .await;
    assert!(message(&b).contains("Members section"), "{b}");
    let shown = chapter(json!({"show_in_members": true}));
    api.expect(StatusCode::CREATED, shown).await;
    let synced = json!({"sync_to_higher_logic": true});
    let b = api
        .expect(
            StatusCode::OK,
            with(Method::PATCH, "/fields/chapter", synced),
        )
        .await;
    assert_eq!(b["sync_to_higher_logic"], true);
    let hidden_again = json!({"show_in_members": false, "sync_to_higher_logic": true});
    let bad = vec![
        with(Method::PATCH, "/fields/chapter", hidden_again),
        with(Method::POST, "/fields", json!({"field_key": 7})),
    ];
    api.refuses(StatusCode::BAD_REQUEST, "bad_request", bad)
        .await;
});

/// Groups: live preview counts the members without an account; create, rename, refusals.
async fn groups_with_preview(api: &Api<'_>) {
    // Text with a NUL is refused on both engines, saying where (PostgreSQL cannot store it,
    // SQLite would), and nothing is written.
    let refusal = api
        .refuses(
            StatusCode::BAD_REQUEST,
            "bad_request",
            vec![with(
                Method::POST,
                "/groups",
                json!({"name": "Nul\u{0}", "members": ["P1"]}),
            )],
        )
        .await;
    let message = refusal["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(message, "name must not contain NUL characters", "{refusal}");
    let (_, groups) = api.get("/groups").await;
    assert!(!groups.to_string().contains("Nul"), "{groups}");
    let regular = json!({"conditions": ["member_type=Regular"]});
    let b = api
        .expect(
            StatusCode::OK,
            with(Method::POST, "/groups/preview", regular),
        )
        .await;
    assert_eq!(
        (&b["total"], &b["with_account"], &b["without_account"]),
        (&json!(3), &json!(2), &json!(1)),
        "{b}"
    );
    let bad = vec![
        with(
            Method::POST,
            "/groups/preview",
            json!({"conditions": ["field.nope=1"]}),
        ),
        with(
            Method::POST,
            "/groups/preview",
            json!({"members": ["P4", "ZZ"]}),
        ),
    ];
    api.refuses(StatusCode::BAD_REQUEST, "bad_request", bad)
        .await;
    let regulars = json!({
        "group_key": "regulars", "name": "Regulars", "conditions": ["member_type=Regular"]
    });
    let b = api
        .expect(StatusCode::CREATED, with(Method::POST, "/groups", regulars))
        .await;
    assert_eq!(b["members"]["total"], 3);
    assert_eq!(b["conditions"], json!(["member_type=Regular"]));
    let again = json!({"group_key": "regulars", "name": "Again"});
    let conflict = vec![with(Method::POST, "/groups", again)];
    api.refuses(StatusCode::CONFLICT, "conflict", conflict)
        .await;
    let students = json!({"name": "Students", "conditions": ["member_type=Student"]});
    let b = api
        .expect(
            StatusCode::OK,
            with(Method::PATCH, "/groups/regulars", students),
        )
        .await;
    assert_eq!(b["group"]["name"], "Students");
    assert_eq!(b["members"]["total"], 1);
    assert_eq!(b["members"]["sample"][0]["member_key"], "P4");
    // A bad selection changes nothing, not even the name sent with it.
    let broken = json!({"name": "Broken", "conditions": ["colour=red"]});
    let bad = vec![with(Method::PATCH, "/groups/regulars", broken)];
    api.refuses(StatusCode::BAD_REQUEST, "bad_request", bad)
        .await;
    let (_, b) = api.get("/groups/regulars").await;
    assert_eq!(b["group"]["name"], "Students");
    let missing = vec![bare(Method::GET, "/groups/none-such")];
    api.refuses(StatusCode::NOT_FOUND, "not_found", missing)
        .await;
}

/// A member's page: account state, groups, and why they do not sync; (de)activation.
async fn member_page_and_deactivation(api: &Api<'_>) {
    let (_, b) = api.get("/members/P3").await;
    assert!(b["account"].is_null());
    assert_eq!(b["higher_logic"]["synced"], false);
    assert!(b["higher_logic"]["reason"]
        .as_str()
        .unwrap()
        .contains("no user account"));
    let b = api
        .expect(StatusCode::OK, bare(Method::POST, "/members/P2/deactivate"))
        .await;
    assert_eq!(b["account"]["state"], "deactivated");
    assert!(b["higher_logic"]["note"]
        .as_str()
        .unwrap()
        .contains("account deactivated: sign-in is refused"));
    assert!(b["account"].get("password_hash").is_none());
    let (_, b) = api.call(Method::POST, "/members/P2/reactivate", None).await;
    assert_eq!(b["account"]["state"], "active");
    let no_account = vec![bare(Method::POST, "/members/P3/deactivate")];
    api.refuses(StatusCode::NOT_FOUND, "not_found", no_account)
        .await;
}

/// The audit log names the token that made each change and never holds its value; page by
/// page with `next`, it is the same list in the same order.
async fn audit_log_by_token(api: &Api<'_>, secret: &str) {
    let b = api
        .expect(StatusCode::OK, bare(Method::GET, "/audit?limit=1000"))
        .await;
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
    assert!(!b.to_string().contains(secret));
    assert!(entries
        .iter()
        .any(|e| e["entity"] == "api_token" && e["action"] == "created"));

    assert!(b["next"].is_null(), "one page holds it all: {}", b["next"]);
    let ids = |page: &Value| -> Vec<String> {
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = ids(&b);
    assert!(all.len() > 3);
    let mut paged = Vec::new();
    let mut path = "/audit?limit=3".to_string();
    loop {
        let page = api.expect(StatusCode::OK, bare(Method::GET, &path)).await;
        paged.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => path = format!("/audit?limit=3&before={next}"),
            None => break,
        }
    }
    assert_eq!(paged, all);
    // An empty `before` is none: the newest page.
    let empty = api
        .expect(StatusCode::OK, bare(Method::GET, "/audit?before="))
        .await;
    assert_eq!(ids(&empty), all);
    let bad: Vec<String> = ["x", "12.", ".abc", "12.a%27b"]
        .iter()
        .map(|bad| format!("/audit?before={bad}"))
        .collect();
    let bad = bad.iter().map(|path| bare(Method::GET, path)).collect();
    api.refuses(StatusCode::BAD_REQUEST, "bad_request", bad)
        .await;
}

both_engines!(groups_members_and_the_audit_log, |db: TestDb| async move {
    let (app, secret) = start(&db).await;
    let api = Api::new(&app, &secret);
    groups_with_preview(&api).await;
    member_page_and_deactivation(&api).await;
    audit_log_by_token(&api, &secret).await;
    let unknown = vec![bare(Method::GET, "/no/such/thing")];
    api.refuses(StatusCode::NOT_FOUND, "not_found", unknown)
        .await;
    drop(app);
});
