//! The admin console over HTTP, as a browser without JavaScript uses it: sign-in through the
//! provider's session, the first-sign-in password change, 403 for non-administrators on every
//! page, CSRF on every form, and the pages doing what they say.

mod support;

use guildgate::accounts::Role;
use guildgate::members::{Kind, MemberData};
use reqwest::{redirect, Client, StatusCode};
use support::{Server, TestDb};

const ADMIN_PASSWORD: &str = "correct horse battery staple";
const MEMBER_PASSWORD: &str = "member password 123";

fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

fn person(first: &str, email: &str) -> MemberData {
    MemberData {
        kind: Kind::Person,
        first_name: Some(first.into()),
        last_name: Some("Tester".into()),
        email: Some(email.into()),
        member_type: Some("Regular".into()),
        ..Default::default()
    }
}

/// An administrator, a member with a password, a member without an account, a field, a group.
async fn seed(db: &TestDb) {
    let store = db.store().await;
    store
        .add_member_with_account(
            "test",
            "A1",
            person("Ada", "ada@example.org"),
            Some(("ada@example.org", Role::Admin)),
        )
        .await
        .unwrap();
    store
        .set_password("test", "A1", ADMIN_PASSWORD)
        .await
        .unwrap();
    store
        .add_member_with_account(
            "test",
            "P1",
            person("Bob", "bob@example.org"),
            Some(("bob@example.org", Role::Member)),
        )
        .await
        .unwrap();
    store
        .set_password("test", "P1", MEMBER_PASSWORD)
        .await
        .unwrap();
    store
        .add_member("test", "P2", person("Cy", "cy@example.org"))
        .await
        .unwrap();
    store
        .add_field(
            "test",
            serde_json::from_value(serde_json::json!({
                "field_key": "chapter", "name": "Chapter", "field_type": "text",
                "applies_to": "person", "show_in_members": true
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    store
        .add_group(
            "test",
            Some("g1"),
            "Regulars",
            guildgate::groups::Selection::Conditions(vec![guildgate::groups::Condition::parse(
                "member_type=Regular",
            )
            .unwrap()]),
        )
        .await
        .unwrap();
    store.close().await;
}

/// The CSRF token of the page's first form.
fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF field in:\n{html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

async fn get(client: &Client, url: &str) -> (StatusCode, String, Option<String>) {
    let r = client.get(url).send().await.unwrap();
    let status = r.status();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (status, r.text().await.unwrap(), location)
}

async fn post(
    client: &Client,
    url: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String, Option<String>) {
    let r = client.post(url).form(form).send().await.unwrap();
    let status = r.status();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (status, r.text().await.unwrap(), location)
}

async fn sign_in(server: &Server, email: &str, password: &str) -> Client {
    let client = browser();
    let (s, html, _) = get(&client, &format!("{}/admin/login", server.base)).await;
    assert_eq!(s, StatusCode::OK);
    let csrf = csrf_of(&html);
    let (s, body, location) = post(
        &client,
        &format!("{}/admin/login", server.base),
        &[
            ("csrf_token", &csrf),
            ("email", email),
            ("password", password),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location.as_deref(), Some("/admin/members"));
    client
}

fn pages() -> Vec<&'static str> {
    vec![
        "/admin/members",
        "/admin/members?q=bob",
        "/admin/members/P1",
        "/admin/fields",
        "/admin/fields/chapter",
        "/admin/groups",
        "/admin/groups/g1",
        "/admin/audit",
        "/admin/api-tokens",
        "/admin/sso",
        "/admin/integrations/higher-logic",
        "/admin/sso/worksheet.json",
        "/admin/password",
    ]
}

fn forms() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        ("/admin/members/P1/deactivate", vec![]),
        ("/admin/members/P1/reactivate", vec![]),
        ("/admin/members/P1/invite", vec![]),
        (
            "/admin/sso/register",
            vec![("site", "https://community.example.org")],
        ),
        ("/admin/sso/rotate-secret", vec![]),
        (
            "/admin/integrations/higher-logic",
            vec![("tenant_code", "T"), ("api_key", "k")],
        ),
        ("/admin/integrations/higher-logic/test", vec![]),
        ("/admin/integrations/higher-logic/retry-refused", vec![]),
        (
            "/admin/groups/g1/sync",
            vec![("sync", "on"), ("group_type", "community")],
        ),
        (
            "/admin/fields",
            vec![
                ("field_key", "f2"),
                ("name", "F2"),
                ("field_type", "text"),
                ("applies_to", "both"),
            ],
        ),
        (
            "/admin/fields/chapter",
            vec![("name", "Chapter"), ("show_in_members", "on")],
        ),
        (
            "/admin/groups",
            vec![
                ("name", "New"),
                ("conditions", "member_type=Regular"),
                ("action", "save"),
            ],
        ),
        (
            "/admin/groups/g1",
            vec![
                ("name", "Renamed"),
                ("conditions", "member_type=Regular"),
                ("action", "save"),
            ],
        ),
        ("/admin/api-tokens", vec![("name", "t"), ("scope", "read")]),
        ("/admin/api-tokens/none-such/revoke", vec![]),
        (
            "/admin/password",
            vec![
                ("password", "a member's new passphrase"),
                ("confirm", "a member's new passphrase"),
            ],
        ),
        (
            "/admin/group-preview",
            vec![("conditions", "member_type=Regular")],
        ),
        ("/admin/logout", vec![]),
    ]
}

both_engines!(
    non_admins_get_403_and_strangers_the_sign_in,
    |db: TestDb| async move {
        seed(&db).await;
        let server = Server::start(&db).await;
        let stranger = browser();
        for page in pages() {
            let (s, _, location) = get(&stranger, &format!("{}{page}", server.base)).await;
            assert_eq!(s, StatusCode::SEE_OTHER, "{page}");
            assert_eq!(location.as_deref(), Some("/admin/login"), "{page}");
        }
        let member = sign_in(&server, "bob@example.org", MEMBER_PASSWORD).await;
        for page in pages() {
            let (s, body, _) = get(&member, &format!("{}{page}", server.base)).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{page}: {body}");
            assert!(body.contains("Administrators only"), "{page}");
        }
        // Even with a valid CSRF token of their own, a member changes nothing.
        let (_, html, _) = get(&member, &format!("{}/admin/login", server.base)).await;
        let _ = html;
        for (action, fields) in forms() {
            if action == "/admin/logout" {
                continue;
            }
            let (s, _, _) = post(&member, &format!("{}{action}", server.base), &fields).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{action}");
        }
        let store = db.store().await;
        assert_eq!(
            store.account_for_member("P1").await.unwrap().state,
            "active"
        );
        assert_eq!(store.group("g1").await.unwrap().name, "Regulars");
    }
);

both_engines!(every_form_needs_its_csrf_token, |db: TestDb| async move {
    seed(&db).await;
    let server = Server::start(&db).await;
    let admin = sign_in(&server, "ada@example.org", ADMIN_PASSWORD).await;
    for (action, fields) in forms() {
        for bad in [None, Some("forged-token")] {
            let mut form = fields.clone();
            if let Some(t) = bad {
                form.push(("csrf_token", t));
            }
            let (s, body, _) = post(&admin, &format!("{}{action}", server.base), &form).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{action} with {bad:?}: {body}");
            assert!(body.contains("Form expired"), "{action}");
        }
    }
    // The sign-in form too.
    let (s, _, _) = post(
        &browser(),
        &format!("{}/admin/login", server.base),
        &[("email", "ada@example.org"), ("password", ADMIN_PASSWORD)],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let store = db.store().await;
    assert_eq!(
        store.account_for_member("P1").await.unwrap().state,
        "active"
    );
    assert_eq!(store.group("g1").await.unwrap().name, "Regulars");
    assert!(store.list_api_tokens().await.unwrap().is_empty());
    assert!(store.list_clients().await.unwrap().is_empty());
    assert!(!store.hl_settings().await.unwrap().is_configured());
    assert!(!store.group("g1").await.unwrap().hl_sync_enabled);
    // Still signed in: nothing above signed the admin out.
    let (s, _, _) = get(&admin, &format!("{}/admin/members", server.base)).await;
    assert_eq!(s, StatusCode::OK);
});

both_engines!(console_pages_work, |db: TestDb| async move {
    seed(&db).await;
    let server = Server::start(&db).await;
    let base = server.base.clone();
    let admin = sign_in(&server, "ada@example.org", ADMIN_PASSWORD).await;
    for page in pages() {
        let (s, body, _) = get(&admin, &format!("{base}{page}")).await;
        assert_eq!(s, StatusCode::OK, "{page}: {body}");
    }
    // Members: search and the member page with the reason they do not sync.
    let (_, html, _) = get(&admin, &format!("{base}/admin/members?q=cy")).await;
    assert!(html.contains("P2") && !html.contains(">P1<"));
    let (_, html, _) = get(&admin, &format!("{base}/admin/members/P2")).await;
    assert!(html.contains("no user account"), "{html}");
    let (_, html, _) = get(&admin, &format!("{base}/admin/members/P1")).await;
    let csrf = csrf_of(&html);
    let (s, _, location) = post(
        &admin,
        &format!("{base}/admin/members/P1/deactivate"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html, _) = get(&admin, &location.map(|l| format!("{base}{l}")).unwrap()).await;
    assert!(html.contains("Account deactivated"), "notice shown: {html}");
    assert!(html.contains("Reactivate account"));
    // Deactivation refuses the sign-in; it does not take the contact out of Higher Logic.
    assert!(
        html.contains("Higher Logic keeps the contact and still receives its changes"),
        "{html}"
    );
    let (s, _, _) = post(
        &admin,
        &format!("{base}/admin/members/P1/reactivate"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);

    // An invitation goes out by mail (here the development folder) and says so.
    let (s, _, _) = post(
        &admin,
        &format!("{base}/admin/members/P1/invite"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html, _) = get(&admin, &format!("{base}/admin/members/P1")).await;
    assert!(
        html.contains("Invitation sent to bob@example.org"),
        "{html}"
    );
    let mails: Vec<_> = std::fs::read_dir(db.dir.path().join("data").join("mail"))
        .expect("mail folder")
        .collect();
    assert_eq!(mails.len(), 1);

    // Fields: the sync box only for fields shown in the Members section, and the server
    // refuses it otherwise whatever the form says.
    let (_, html, _) = get(&admin, &format!("{base}/admin/fields/chapter")).await;
    assert!(html.contains("name=\"sync_to_higher_logic\""));
    let (s, html, _) = post(
        &admin,
        &format!("{base}/admin/fields/chapter"),
        &[
            ("csrf_token", &csrf),
            ("name", "Chapter"),
            ("sync_to_higher_logic", "on"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(html.contains("Members section"), "{html}");
    let (s, _, _) = post(
        &admin,
        &format!("{base}/admin/fields/chapter"),
        &[
            ("csrf_token", &csrf),
            ("name", "Chapter"),
            ("show_in_members", "on"),
            ("sync_to_higher_logic", "on"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, _) = post(
        &admin,
        &format!("{base}/admin/fields"),
        &[
            ("csrf_token", &csrf),
            ("field_key", "hidden"),
            ("name", "Hidden"),
            ("field_type", "text"),
            ("applies_to", "both"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html, _) = get(&admin, &format!("{base}/admin/fields/hidden")).await;
    assert!(
        !html.contains("name=\"sync_to_higher_logic\""),
        "no sync box for a hidden field"
    );

    // Groups: preview without saving, then save.
    let (s, html, _) = post(
        &admin,
        &format!("{base}/admin/groups"),
        &[
            ("csrf_token", &csrf),
            ("name", "Everyone"),
            ("conditions", "member_type=Regular"),
            ("action", "preview"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("3 members"), "{html}");
    assert!(html.contains("1 without a user account"), "{html}");
    let store = db.store().await;
    assert_eq!(
        store.list_groups().await.unwrap().len(),
        1,
        "a preview saves nothing"
    );
    let (s, html, _) = post(
        &admin,
        &format!("{base}/admin/groups"),
        &[
            ("csrf_token", &csrf),
            ("name", "Bad"),
            ("conditions", "colour=red"),
            ("action", "save"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(html.contains("colour"), "{html}");
    let (s, _, location) = post(
        &admin,
        &format!("{base}/admin/groups"),
        &[
            ("csrf_token", &csrf),
            ("group_key", "everyone"),
            ("name", "Everyone"),
            ("conditions", "member_type=Regular"),
            ("action", "save"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/admin/groups/everyone"));
    let (s, _, _) = post(
        &admin,
        &format!("{base}/admin/groups/everyone"),
        &[
            ("csrf_token", &csrf),
            ("name", "Everybody"),
            ("members", "P1\nP2"),
            ("action", "save"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let g = store.group("everyone").await.unwrap();
    assert_eq!(
        (g.name.as_str(), g.selection.as_str()),
        ("Everybody", "static")
    );
    assert_eq!(
        store.static_member_keys("everyone").await.unwrap(),
        ["P1", "P2"]
    );

    // API tokens: the value shown once, usable, revocable.
    let (_, html, _) = post(
        &admin,
        &format!("{base}/admin/api-tokens"),
        &[
            ("csrf_token", &csrf),
            ("name", "nightly export"),
            ("scope", "read"),
        ],
    )
    .await;
    let marker = "id=\"new-token\">";
    let start = html.find(marker).expect("token shown") + marker.len();
    let secret = html[start..].split('<').next().unwrap().to_string();
    let api = Client::new();
    let r = api
        .get(format!("{base}/admin/api/members"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, html, _) = get(&admin, &format!("{base}/admin/api-tokens")).await;
    assert!(!html.contains(&secret), "shown once only");
    let id = store.list_api_tokens().await.unwrap()[0].id.clone();
    let (s, _, _) = post(
        &admin,
        &format!("{base}/admin/api-tokens/{id}/revoke"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let r = api
        .get(format!("{base}/admin/api/members"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The audit log shows who did it, and no secret.
    let (_, html, _) = get(&admin, &format!("{base}/admin/audit")).await;
    assert!(html.contains("admin:ada@example.org"));
    assert!(html.contains("deactivated") && html.contains("renamed"));
    assert!(!html.contains(&secret));

    // Signing out ends the session.
    let (s, _, _) = post(
        &admin,
        &format!("{base}/admin/logout"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, location) = get(&admin, &format!("{base}/admin/members")).await;
    assert_eq!(
        (s, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/admin/login"))
    );
});

both_engines!(
    first_administrator_changes_the_one_time_password,
    |db: TestDb| async move {
        let server = Server::start(&db).await;
        let out = server.stdout();
        let password = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("one-time password:"))
            .expect("one-time password printed")
            .trim()
            .to_string();
        let admin = sign_in(&server, "admin@guildgate.local", &password).await;
        let (s, _, location) = get(&admin, &format!("{}/admin/members", server.base)).await;
        assert_eq!(
            (s, location.as_deref()),
            (StatusCode::SEE_OTHER, Some("/admin/password"))
        );
        let (_, html, _) = get(&admin, &format!("{}/admin/password", server.base)).await;
        let csrf = csrf_of(&html);
        let (s, html, _) = post(
            &admin,
            &format!("{}/admin/password", server.base),
            &[
                ("csrf_token", &csrf),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(html.contains("12"), "{html}");
        let (s, _, _) = post(
            &admin,
            &format!("{}/admin/password", server.base),
            &[
                ("csrf_token", &csrf),
                ("password", "a brand new passphrase"),
                ("confirm", "a brand new passphrase"),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let (s, _, _) = get(&admin, &format!("{}/admin/members", server.base)).await;
        assert_eq!(s, StatusCode::OK);
        // The one-time password no longer works.
        let client = browser();
        let (_, html, _) = get(&client, &format!("{}/admin/login", server.base)).await;
        let csrf = csrf_of(&html);
        let (s, _, _) = post(
            &client,
            &format!("{}/admin/login", server.base),
            &[
                ("csrf_token", &csrf),
                ("email", "admin@guildgate.local"),
                ("password", &password),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
);

use support::hl_double;

both_engines!(
    higher_logic_settings_test_connection_and_group_sync,
    |db: TestDb| async move {
        seed(&db).await;
        let double = hl_double::HlDouble::start("ASSOC", "the-real-api-key-0001").await;
        let server = Server::start(&db).await;
        let base = server.base.clone();
        let admin = sign_in(&server, "ada@example.org", ADMIN_PASSWORD).await;
        let page = format!("{base}/admin/integrations/higher-logic");
        let (s, html, _) = get(&admin, &page).await;
        assert_eq!(s, StatusCode::OK);
        assert!(html.contains("not configured"));
        let csrf = csrf_of(&html);

        // Test connection before anything is entered: said in words.
        let (_, html, _) = post(&admin, &format!("{page}/test"), &[("csrf_token", &csrf)]).await;
        assert!(
            html.contains("Enter the tenant code and the API key first"),
            "{html}"
        );

        // A plain-http address off loopback is refused; nothing saved.
        let (s, html, _) = post(
            &admin,
            &page,
            &[
                ("csrf_token", &csrf),
                ("tenant_code", "ASSOC"),
                ("api_key", "wrong-key-000000000"),
                ("base_url", "http://data.example.org/push"),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(html.contains("https"), "{html}");

        // A wrong key: saved, masked, and the test says Higher Logic refused it.
        let (s, _, _) = post(
            &admin,
            &page,
            &[
                ("csrf_token", &csrf),
                ("tenant_code", "ASSOC"),
                ("api_key", "wrong-key-000000000"),
                ("base_url", &double.base_url),
                ("integrate_bio", "on"),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let (_, html, _) = get(&admin, &page).await;
        assert!(
            !html.contains("wrong-key-000000000"),
            "the key is write-only"
        );
        assert!(html.contains("••••0000"), "{html}");
        let (_, html, _) = post(&admin, &format!("{page}/test"), &[("csrf_token", &csrf)]).await;
        assert!(html.contains("refused the API key"), "{html}");

        // Replace the key (an empty field keeps it; a new one replaces it).
        let (s, _, _) = post(
            &admin,
            &page,
            &[
                ("csrf_token", &csrf),
                ("tenant_code", "ASSOC"),
                ("api_key", "the-real-api-key-0001"),
                ("base_url", &double.base_url),
                ("integrate_bio", "on"),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let (s, _, _) = post(
            &admin,
            &page,
            &[
                ("csrf_token", &csrf),
                ("tenant_code", "ASSOC"),
                ("api_key", ""),
                ("base_url", &double.base_url),
                ("integrate_bio", "on"),
                ("integrate_social", "on"),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let (_, html, _) = post(&admin, &format!("{page}/test"), &[("csrf_token", &csrf)]).await;
        assert!(
            html.contains("Higher Logic accepted the tenant code ASSOC"),
            "{html}"
        );
        let store = db.store().await;
        let saved = store.hl_settings().await.unwrap();
        assert_eq!(saved.api_key(), "the-real-api-key-0001");
        assert!(saved.integrate_bio && saved.integrate_social && !saved.integrate_profile_image);

        // Group sync: on as a Community; the type is then locked, with the reason shown.
        let group = format!("{base}/admin/groups/g1");
        let (_, html, _) = get(&admin, &group).await;
        assert!(html.contains("Not synced to Higher Logic"));
        let (s, _, _) = post(
            &admin,
            &format!("{group}/sync"),
            &[
                ("csrf_token", &csrf),
                ("sync", "on"),
                ("group_type", "community"),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let (_, html, _) = get(&admin, &group).await;
        assert!(html.contains("first full sync has started"), "{html}");
        assert!(html.contains("id=\"type-lock\""), "{html}");
        assert!(html.contains("Higher Logic community"), "{html}");
        let (s, html, _) = post(
            &admin,
            &format!("{group}/sync"),
            &[
                ("csrf_token", &csrf),
                ("sync", "on"),
                ("group_type", "security"),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert!(html.contains("cannot change"), "{html}");
        let g = store.group("g1").await.unwrap();
        assert_eq!(g.hl_group_type.as_deref(), Some("community"));
        // The worker inside serve pushes the group; the status line moves to up to date.
        let mut html = String::new();
        for _ in 0..150 {
            html = get(&admin, &group).await.1;
            if html.contains("Up to date") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(
            html.contains("Up to date in the Higher Logic community as of"),
            "{html}"
        );
        assert!(
            html.contains("1 member has no user account and is not sent"),
            "{html}"
        );
        let expected: std::collections::BTreeSet<String> =
            ["A1", "P1"].iter().map(|s| s.to_string()).collect();
        assert_eq!(double.with(|s| s.members_of("g1")), expected);
        // A record Higher Logic refuses: listed on the Higher Logic page with its answer, and
        // sent again with the button once the cause is gone.
        double.set_faults(hl_double::Faults {
            reject_keys: ["P1".to_string()].into(),
            ..Default::default()
        });
        store
            .set_field_value("test", "P1", "chapter", "South")
            .await
            .unwrap();
        let mut html = String::new();
        for _ in 0..150 {
            html = get(&admin, &page).await.1;
            if html.contains("id=\"refused\"") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(html.contains("Refused by Higher Logic"), "{html}");
        assert!(html.contains(">P1</a>"), "{html}");
        double.set_faults(hl_double::Faults::default());
        let (s, _, location) = post(
            &admin,
            &format!("{page}/retry-refused"),
            &[("csrf_token", &csrf)],
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert_eq!(
            location.as_deref(),
            Some("/admin/integrations/higher-logic")
        );
        html = get(&admin, &page).await.1;
        assert!(
            html.contains("1 refused contact is back in the queue"),
            "{html}"
        );
        for _ in 0..150 {
            html = get(&admin, &page).await.1;
            if !html.contains("id=\"refused\"") && html.contains("· 0 changes pending") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(!html.contains("id=\"refused\""), "{html}");
        assert_eq!(
            double.with(|s| s.detail("P1", "FirstName")).as_deref(),
            Some("Bob")
        );

        // No secret in the audit log.
        let (_, html, _) = get(&admin, &format!("{base}/admin/audit")).await;
        assert!(!html.contains("the-real-api-key-0001") && !html.contains("wrong-key-000000000"));
    }
);

both_engines!(
    live_group_preview_answers_a_fragment,
    |db: TestDb| async move {
        seed(&db).await;
        let server = Server::start(&db).await;
        let base = server.base.clone();
        let admin = sign_in(&server, "ada@example.org", ADMIN_PASSWORD).await;
        let (_, html, _) = get(&admin, &format!("{base}/admin/groups")).await;
        assert!(html.contains("<script src=\"/admin/static/preview.js\">"));
        let csrf = csrf_of(&html);
        let url = format!("{base}/admin/group-preview");
        let (s, fragment, _) = post(
            &admin,
            &url,
            &[("csrf_token", &csrf), ("conditions", "member_type=Regular")],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            fragment.contains("3 members: 2 with an active user account, 0 deactivated"),
            "{fragment}"
        );
        assert!(!fragment.contains("<html"), "a fragment, not a page");
        // A condition the store refuses: the reason, in place of the preview.
        let (s, fragment, _) = post(
            &admin,
            &url,
            &[("csrf_token", &csrf), ("conditions", "shoe_size=42")],
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(fragment.contains("class=\"error\""), "{fragment}");
        // Nothing typed yet: an empty preview, not an error.
        let (s, fragment, _) = post(&admin, &url, &[("csrf_token", &csrf)]).await;
        assert_eq!(s, StatusCode::OK);
        assert!(fragment.trim().is_empty(), "{fragment}");
        let js = admin
            .get(format!("{base}/admin/static/preview.js"))
            .send()
            .await
            .unwrap();
        assert!(js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
    }
);

both_engines!(the_audit_log_pages_back, |db: TestDb| async move {
    seed(&db).await;
    let store = db.store().await;
    for i in 0..210 {
        store
            .rename_group("test", "g1", &format!("Name{i:03}"))
            .await
            .unwrap();
    }
    let server = Server::start(&db).await;
    let base = server.base.clone();
    let admin = sign_in(&server, "ada@example.org", ADMIN_PASSWORD).await;
    let (_, first, _) = get(&admin, &format!("{base}/admin/audit")).await;
    // Names appear as "from" and "to" in each rename's detail.
    assert!(
        first.contains("Name209") && !first.contains("Name000"),
        "newest first"
    );
    let marker = "id=\"older\" href=\"";
    let start = first.find(marker).expect("an Older entries link") + marker.len();
    let link = first[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#x2e;", ".");
    let (s, second, _) = get(&admin, &format!("{base}{link}")).await;
    assert_eq!(s, StatusCode::OK, "{link}");
    assert!(!second.contains("Name209"), "no entry twice");
    assert!(second.contains("Name000"), "the oldest renames");
    // A cursor that makes no sense starts from the newest entry.
    let (s, html, _) = get(&admin, &format!("{base}/admin/audit?before=nonsense")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Name209"));
});

both_engines!(the_members_list_pages, |db: TestDb| async move {
    seed(&db).await;
    let store = db.store().await;
    for i in 0..230 {
        store
            .add_member(
                "test",
                &format!("M{i:03}"),
                person("Many", &format!("m{i}@example.org")),
            )
            .await
            .unwrap();
    }
    let server = Server::start(&db).await;
    let base = server.base.clone();
    let admin = sign_in(&server, "ada@example.org", ADMIN_PASSWORD).await;
    // Sorted by member key: A1, M000 ... M229, P1, P2; 100 to a page.
    let (_, html, _) = get(&admin, &format!("{base}/admin/members")).await;
    assert!(
        html.contains(">M098<") && !html.contains(">M099<"),
        "page 1"
    );
    assert!(html.contains("Members 1 to 100."));
    assert!(html.contains("href=\"/admin/members?q=&amp;page=2\"") || html.contains("page=2"));
    assert!(!html.contains("previous-page"));
    let (_, html, _) = get(&admin, &format!("{base}/admin/members?page=3")).await;
    assert!(html.contains(">M199<") && html.contains(">P2<") && !html.contains(">M198<"));
    assert!(html.contains("previous-page") && !html.contains("next-page"));
    // A search keeps its words in the page links.
    let (_, html, _) = get(&admin, &format!("{base}/admin/members?q=many")).await;
    assert!(html.contains("q=many"), "{html}");
    assert!(!html.contains(">A1<"));
    // Not a page number: the first page.
    let (s, html, _) = get(&admin, &format!("{base}/admin/members?page=lots")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(">A1<"));
});
