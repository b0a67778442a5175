//! The admin console over HTTP, as a browser without JavaScript uses it: sign-in through the
//! provider's session, the first-sign-in password change, 403 for non-administrators on every
//! page, CSRF on every form, and the pages doing what they say; the Higher Logic page and
//! group sync in [`higher_logic`]; adding, editing and importing members in [`members`].

mod higher_logic;
mod members;
mod overview;

use guildgate::accounts::Role;
use guildgate::members::MemberData;
use reqwest::{Method, StatusCode};

use crate::support::app::{get_page as get, post_form as post, Console};
use crate::support::html::csrf_of;
use crate::support::oidc::{browser, open};
use crate::support::people::{add_account, person};
use crate::support::{Server, TestApp, TestDb};

const ADMIN_PASSWORD: &str = "correct horse battery staple";
const MEMBER_PASSWORD: &str = "member password 123";

/// An administrator, a member with a password, a member without an account, a field, a group.
async fn seed(db: &TestDb) {
    let store = db.store().await;
    let regular = |first| person(first, "Tester", "Regular");
    add_account(
        &store,
        "A1",
        regular("Ada"),
        Role::Admin,
        Some(ADMIN_PASSWORD),
    )
    .await;
    add_account(
        &store,
        "P1",
        regular("Bob"),
        Role::Member,
        Some(MEMBER_PASSWORD),
    )
    .await;
    store.add_member("test", "P2", regular("Cy")).await.unwrap();
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

/// The application on the database as the test left it, and Ada signed in to its console.
async fn open_console(db: &TestDb) -> (TestApp, Console) {
    let app = TestApp::spawn(db).await;
    let admin = app.console("ada@example.org", ADMIN_PASSWORD).await;
    (app, admin)
}

fn pages() -> Vec<&'static str> {
    vec![
        "/admin/members",
        "/admin/members?q=bob",
        "/admin/members/P1",
        "/admin/members/P1/edit",
        "/admin/new/person",
        "/admin/new/company",
        "/admin/import",
        "/admin/export/members.csv",
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
            "/admin/new/person",
            vec![("member_key", "NEW"), ("first_name", "Newt")],
        ),
        ("/admin/members/P2/edit", vec![("city", "Forged City")]),
        (
            "/admin/members/P2/account",
            vec![("account_email", "cy@example.org")],
        ),
        ("/admin/members/P1/role", vec![("role", "admin")]),
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
                ("current", MEMBER_PASSWORD),
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
        let app = TestApp::spawn(&db).await;
        let stranger = browser();
        for page in pages() {
            let (s, _, location) = app.page(&stranger, page).await;
            assert_eq!(s, StatusCode::SEE_OTHER, "{page}");
            assert_eq!(location.as_deref(), Some("/admin/login"), "{page}");
        }
        let member = app.admin_session("bob@example.org", MEMBER_PASSWORD).await;
        for page in pages() {
            let (s, body, _) = app.page(&member, page).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{page}: {body}");
            assert!(body.contains("Administrators only"), "{page}");
        }
        // Even with a valid CSRF token of their own session (from their account page, which
        // shares the session), a member changes nothing: refused for the role, not the token.
        let (s, html, _) = app.page(&member, "/account").await;
        assert_eq!(s, StatusCode::OK, "{html}");
        let token = csrf_of(&html);
        for (action, mut fields) in forms() {
            if action == "/admin/logout" {
                continue;
            }
            fields.push(("csrf_token", token.as_str()));
            let (s, body, _) = app.submit(&member, action, &fields).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{action}");
            assert!(body.contains("Administrators only"), "{action}: {body}");
        }
        let store = db.store().await;
        assert_eq!(
            store.account_for_member("P1").await.unwrap().state,
            "active"
        );
        assert_members_untouched(&store).await;
        assert_eq!(store.group("g1").await.unwrap().name, "Regulars");
    }
);

/// None of the member forms of [`forms`] changed anything: no member added, P2 as seeded and
/// without an account, P1 not an administrator.
async fn assert_members_untouched(store: &guildgate::db::Store) {
    assert!(store.member("NEW").await.is_err(), "a member was added");
    assert_eq!(store.member("P2").await.unwrap().data.city, None);
    assert!(store.account_for_member("P2").await.is_err());
    assert!(!store.account_for_member("P1").await.unwrap().is_admin());
}

both_engines!(every_form_needs_its_csrf_token, |db: TestDb| async move {
    seed(&db).await;
    let app = TestApp::spawn(&db).await;
    let admin = app.admin_session("ada@example.org", ADMIN_PASSWORD).await;
    for (action, fields) in forms() {
        for bad in [None, Some("forged-token")] {
            let mut form = fields.clone();
            if let Some(t) = bad {
                form.push(("csrf_token", t));
            }
            let (s, body, _) = app.submit(&admin, action, &form).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{action} with {bad:?}: {body}");
            assert!(body.contains("Form expired"), "{action}");
        }
    }
    // The sign-in form too.
    let (s, _, _) = app
        .submit(
            &browser(),
            "/admin/login",
            &[("email", "ada@example.org"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let store = db.store().await;
    assert_eq!(
        store.account_for_member("P1").await.unwrap().state,
        "active"
    );
    assert_members_untouched(&store).await;
    assert_eq!(store.group("g1").await.unwrap().name, "Regulars");
    assert!(store.list_api_tokens().await.unwrap().is_empty());
    assert!(store.list_clients().await.unwrap().is_empty());
    assert!(!store.hl_settings().await.unwrap().is_configured());
    assert!(!store.group("g1").await.unwrap().hl_sync_enabled);
    // Still signed in: nothing above signed the admin out.
    let (s, _, _) = app.page(&admin, "/admin/members").await;
    assert_eq!(s, StatusCode::OK);
});

both_engines!(console_pages_members_and_fields, |db: TestDb| async move {
    seed(&db).await;
    let (_app, admin) = open_console(&db).await;
    for page in pages() {
        let (s, body, _) = admin.page(page).await;
        assert_eq!(s, StatusCode::OK, "{page}: {body}");
    }
    // Members: search and the member page with the reason they do not sync.
    let (_, html, _) = admin.page("/admin/members?q=cy").await;
    assert!(html.contains("P2") && !html.contains(">P1<"));
    // A NUL matches nobody, on both engines (PostgreSQL refused to compare it).
    let (s, html, _) = admin.page("/admin/members?q=c%00y").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(!html.contains(">P2<"), "{html}");
    let (_, html, _) = admin.page("/admin/members/P2").await;
    assert!(html.contains("no user account"), "{html}");
    let (s, _, location) = admin.post("/admin/members/P1/deactivate", &[]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html, _) = admin.page(&location.unwrap()).await;
    assert!(html.contains("Account deactivated"), "notice shown: {html}");
    assert!(html.contains("Reactivate account"));
    // Deactivation refuses the sign-in; it does not take the contact out of Higher Logic.
    assert!(
        html.contains("Higher Logic keeps the contact and still receives its changes"),
        "{html}"
    );
    let (s, _, _) = admin.post("/admin/members/P1/reactivate", &[]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);

    // An invitation goes out by mail (here the development folder) and says so.
    let (s, _, _) = admin.post("/admin/members/P1/invite", &[]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html, _) = admin.page("/admin/members/P1").await;
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
    let (_, html, _) = admin.page("/admin/fields/chapter").await;
    assert!(html.contains("name=\"sync_to_higher_logic\""));
    let chapter = [("name", "Chapter"), ("sync_to_higher_logic", "on")];
    let (s, html, _) = admin.post("/admin/fields/chapter", &chapter).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(html.contains("Members section"), "{html}");
    let shown = [("show_in_members", "on")];
    let (s, _, _) = admin
        .post("/admin/fields/chapter", &[&chapter[..], &shown].concat())
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let hidden = [
        ("field_key", "hidden"),
        ("name", "Hidden"),
        ("field_type", "text"),
        ("applies_to", "both"),
    ];
    let (s, _, _) = admin.post("/admin/fields", &hidden).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html, _) = admin.page("/admin/fields/hidden").await;
    assert!(
        !html.contains("name=\"sync_to_higher_logic\""),
        "no sync box for a hidden field"
    );

    // The audit log shows who did it.
    let (_, html, _) = admin.page("/admin/audit").await;
    assert!(html.contains("admin:ada@example.org"));
    assert!(html.contains("deactivated"));
});

/// The groups form: `name`, then `conditions` or `members`, then the button `action`.
fn group_form<'a>(
    name: &'a str,
    selection: (&'a str, &'a str),
    action: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![("name", name), selection, ("action", action)]
}

both_engines!(console_groups_preview_and_save, |db: TestDb| async move {
    seed(&db).await;
    let (_app, admin) = open_console(&db).await;
    let regular = ("conditions", "member_type=Regular");

    // Groups: preview without saving, then save.
    let preview = group_form("Everyone", regular, "preview");
    let (s, html, _) = admin.post("/admin/groups", &preview).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("3 members"), "{html}");
    assert!(html.contains("1 without a user account"), "{html}");
    let store = db.store().await;
    assert_eq!(
        store.list_groups().await.unwrap().len(),
        1,
        "a preview saves nothing"
    );
    let bad = group_form("Bad", ("conditions", "colour=red"), "save");
    let (s, html, _) = admin.post("/admin/groups", &bad).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(html.contains("colour"), "{html}");
    // A NUL in a field is refused on both engines (PostgreSQL cannot store it, SQLite would).
    let nul = group_form("Nul\0", regular, "save");
    let (s, html, _) = admin.post("/admin/groups", &nul).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(html.contains("NUL character"), "{html}");
    assert_eq!(store.list_groups().await.unwrap().len(), 1, "nothing saved");
    let mut everyone = group_form("Everyone", regular, "save");
    everyone.push(("group_key", "everyone"));
    let (s, _, location) = admin.post("/admin/groups", &everyone).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/admin/groups/everyone"));
    let listed = group_form("Everybody", ("members", "P1\nP2"), "save");
    let (s, _, _) = admin.post("/admin/groups/everyone", &listed).await;
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

    // The audit log shows who did it.
    let (_, html, _) = admin.page("/admin/audit").await;
    assert!(html.contains("admin:ada@example.org"));
    assert!(html.contains("renamed"));
});

both_engines!(
    console_api_tokens_audit_and_sign_out,
    |db: TestDb| async move {
        seed(&db).await;
        let (app, admin) = open_console(&db).await;
        let store = db.store().await;

        // API tokens: the value shown once, usable, revocable.
        let nightly = [("name", "nightly export"), ("scope", "read")];
        let (_, html, _) = admin.post("/admin/api-tokens", &nightly).await;
        let marker = "id=\"new-token\">";
        let start = html.find(marker).expect("token shown") + marker.len();
        let secret = html[start..].split('<').next().unwrap().to_string();
        let (status, _) = app.api(&secret, Method::GET, "/members", None).await;
        assert_eq!(status, StatusCode::OK);
        let (_, html, _) = admin.page("/admin/api-tokens").await;
        assert!(!html.contains(&secret), "shown once only");
        let id = store.list_api_tokens().await.unwrap()[0].id.clone();
        let revoke = format!("/admin/api-tokens/{id}/revoke");
        let (s, _, _) = admin.post(&revoke, &[]).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let (status, _) = app.api(&secret, Method::GET, "/members", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // The audit log shows who did it, and no secret.
        let (_, html, _) = admin.page("/admin/audit").await;
        assert!(html.contains("admin:ada@example.org"));
        assert!(!html.contains(&secret));

        // Signing out ends the session.
        let (s, _, _) = admin.post("/admin/logout", &[]).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let (s, _, location) = admin.page("/admin/members").await;
        assert_eq!(
            (s, location.as_deref()),
            (StatusCode::SEE_OTHER, Some("/admin/login"))
        );
    }
);

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
        let admin = Console::sign_in(&server.base, "admin@guildgate.local", &password).await;
        let (s, _, location) = admin.page("/admin/members").await;
        assert_eq!(
            (s, location.as_deref()),
            (StatusCode::SEE_OTHER, Some("/admin/password"))
        );
        let new_password = |current: &str, p: &str| {
            [("current", current), ("password", p), ("confirm", p)].map(|(k, v)| (k, v.to_string()))
        };
        let change = |fields: [(&'static str, String); 3]| {
            let admin = &admin;
            async move {
                let fields: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                admin.post("/admin/password", &fields).await
            }
        };
        let (s, html, _) = change(new_password(&password, "short")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(html.contains("12"), "{html}");
        // The current password is asked for, and the new one must differ from it.
        let wrong = new_password("not the password", "a brand new passphrase");
        let (s, html, _) = change(wrong).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(html.contains("current password is not right"), "{html}");
        let (s, html, _) = change(new_password(&password, &password)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(html.contains("must differ"), "{html}");
        let (s, _, _) = change(new_password(&password, "a brand new passphrase")).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let (s, _, _) = admin.page("/admin/members").await;
        assert_eq!(s, StatusCode::OK);
        // The one-time password no longer works.
        let client = browser();
        let login = format!("{}/admin/login", server.base);
        let (_, html, _) = get(&client, &login).await;
        let csrf = csrf_of(&html);
        let old = [
            ("csrf_token", csrf.as_str()),
            ("email", "admin@guildgate.local"),
            ("password", &password),
        ];
        let (s, _, _) = post(&client, &login, &old).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
);

both_engines!(
    live_group_preview_answers_a_fragment,
    |db: TestDb| async move {
        seed(&db).await;
        let (app, admin) = open_console(&db).await;
        let (_, html, _) = admin.page("/admin/groups").await;
        assert!(html.contains("<script src=\"/admin/static/preview.js\">"));
        let preview = "/admin/group-preview";
        let regular = [("conditions", "member_type=Regular")];
        let (s, fragment, _) = admin.post(preview, &regular).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            fragment.contains("3 members: 2 with an active user account, 0 deactivated"),
            "{fragment}"
        );
        assert!(!fragment.contains("<html"), "a fragment, not a page");
        // A condition the store refuses: the reason, in place of the preview.
        let unknown = [("conditions", "shoe_size=42")];
        let (s, fragment, _) = admin.post(preview, &unknown).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(fragment.contains("class=\"error\""), "{fragment}");
        // Nothing typed yet: an empty preview, not an error.
        let (s, fragment, _) = admin.post(preview, &[]).await;
        assert_eq!(s, StatusCode::OK);
        assert!(fragment.trim().is_empty(), "{fragment}");
        let js = open(&admin.browser, app.url("/admin/static/preview.js")).await;
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
    let (_app, admin) = open_console(&db).await;
    let (_, first, _) = admin.page("/admin/audit").await;
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
    let (s, second, _) = admin.page(&link).await;
    assert_eq!(s, StatusCode::OK, "{link}");
    assert!(!second.contains("Name209"), "no entry twice");
    assert!(second.contains("Name000"), "the oldest renames");
    // A cursor that makes no sense starts from the newest entry.
    let (s, html, _) = admin.page("/admin/audit?before=nonsense").await;
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
                MemberData {
                    email: Some(format!("m{i}@example.org")),
                    ..person("Many", "Tester", "Regular")
                },
            )
            .await
            .unwrap();
    }
    let (_app, admin) = open_console(&db).await;
    // Sorted by member key: A1, M000 ... M229, P1, P2; 100 to a page.
    let (_, html, _) = admin.page("/admin/members").await;
    assert!(
        html.contains(">M098<") && !html.contains(">M099<"),
        "page 1"
    );
    assert!(html.contains("Members 1 to 100."));
    assert!(html.contains("href=\"/admin/members?q=&amp;page=2\"") || html.contains("page=2"));
    assert!(!html.contains("previous-page"));
    let (_, html, _) = admin.page("/admin/members?page=3").await;
    assert!(html.contains(">M199<") && html.contains(">P2<") && !html.contains(">M198<"));
    assert!(html.contains("previous-page") && !html.contains("next-page"));
    // A search keeps its words in the page links.
    let (_, html, _) = admin.page("/admin/members?q=many").await;
    assert!(html.contains("q=many"), "{html}");
    assert!(!html.contains(">A1<"));
    // Not a page number: the first page.
    let (s, html, _) = admin.page("/admin/members?page=lots").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(">A1<"));
});
