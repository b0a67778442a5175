//! The admin console in a real browser (headless Chromium over WebDriver): an administrator
//! signs in (enrolling a second factor, required for administrators), enters the Higher Logic settings and tests the connection, registers the Higher
//! Logic client and reads the worksheet, adds a custom field and marks it to sync, creates a
//! group from conditions, turns sync on as a Community, sees the type locked, and watches the
//! status move from pending to up to date against the Higher Logic test double; then brands
//! the sign-in page, watching the preview follow what is typed.
//!
//! Screenshots of every page go to `target/screenshots/admin-<engine>/` (CI keeps them).

use std::collections::BTreeSet;
use std::time::Duration;

use guildgate::accounts::Role;

use crate::support::browser::Browser;
use crate::support::hl_double::HlDouble;
use crate::support::people::{add_account, person};
use crate::support::two_factor::{code_at, unix_now};
use crate::support::{TestApp, TestDb};

const ADMIN_PASSWORD: &str = "correct horse battery staple";
const API_KEY: &str = "hl-api-key-7f3a9c21";

/// An administrator, two Regular members with accounts, one Regular member without an account
/// and a Student (not selected by the group).
async fn seed(db: &TestDb) {
    let store = db.store().await;
    let admin = person("Ada", "Browser", "Staff");
    add_account(&store, "A1", admin, Role::Admin, Some(ADMIN_PASSWORD)).await;
    for (key, first, member_type, account) in [
        ("R1", "Rita", "Regular", true),
        ("R2", "Ravi", "Regular", true),
        ("R3", "Rosa", "Regular", false),
        ("S1", "Sam", "Student", true),
    ] {
        let data = person(first, "Browser", member_type);
        if account {
            add_account(&store, key, data, Role::Member, None).await;
        } else {
            store.add_member("test", key, data).await.unwrap();
        }
    }
    store.close().await;
}

/// Reloads `url` until the element `css` contains `needle` (the worker runs inside serve).
async fn wait_for_text(b: &Browser, url: &str, css: &str, needle: &str) -> String {
    let mut text = String::new();
    for _ in 0..150 {
        b.goto(url).await;
        text = b.text(css).await;
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{css} never said {needle:?}; last: {text}");
}

/// Reads the element `css` until `done` holds for its text (at most `tries` times, 100 ms
/// apart); the last text.
async fn text_until(b: &Browser, css: &str, tries: usize, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..tries {
        text = b.text(css).await;
        if done(&text) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    text
}

both_engines!(
    admin_sets_up_higher_logic_in_a_browser,
    |db: TestDb| async move {
        let engine = db.engine_name();
        seed(&db).await;
        let double = HlDouble::start("ASSOC", API_KEY).await;
        let app = TestApp::spawn(&db).await;
        let base = app.base.as_str();
        let mut b = Browser::start(&format!("admin-{engine}")).await;

        sign_in(&mut b, base).await;
        enter_the_higher_logic_settings(&mut b, base, &double.base_url).await;
        let secret = register_higher_logic_and_read_the_worksheet(&mut b, base).await;
        add_a_field_marked_to_sync(&mut b, base).await;
        create_a_group_from_conditions(&mut b, base).await;
        turn_sync_on_as_a_community(&mut b, base, &double).await;
        brand_the_sign_in_page(&mut b, base).await;

        // The Overview now shows the contacts the sync pushed.
        b.goto(&format!("{base}/admin/overview")).await;
        assert!(b.text("#sync-counts").await.contains("In Higher Logic"));
        assert!(b.text("#sync-state").await.contains("Last accepted push"));
        b.screenshot("overview-after-sync").await;

        // The audit log tells who did all this, without the key or the secret.
        b.goto(&format!("{base}/admin/audit")).await;
        let audit = b.page_text().await;
        assert!(audit.contains("ada@example.org"), "{audit}");
        assert!(audit.contains("branding"), "{audit}");
        assert!(!audit.contains(API_KEY) && !audit.contains(&secret));
        b.screenshot("audit-log").await;
        b.close().await;
    }
);

/// Asserts that the browser is at a URL ending with `path`.
async fn assert_at(b: &Browser, path: &str) {
    let url = b.url().await;
    assert!(url.ends_with(path), "{url} is not {path}");
}

/// Sign in through the provider's session.
async fn sign_in(b: &mut Browser, base: &str) {
    b.goto(&format!("{base}/admin")).await;
    assert!(b.url().await.contains("/admin/login"), "{}", b.url().await);
    b.fill("#email", "ada@example.org").await;
    b.fill("#password", ADMIN_PASSWORD).await;
    b.screenshot("sign-in").await;
    b.submit("form button[type=submit]").await;
    // Administrators need a second factor: the enrolment, with a code computed from the
    // secret shown, then the recovery codes once.
    assert_at(b, "/login/second-factor").await;
    let secret: String = b.text("#totp-secret").await.split_whitespace().collect();
    assert!(b.exists(".qr svg").await);
    b.screenshot("two-factor-enrol").await;
    b.fill("#code", &code_at(&secret, unix_now())).await;
    b.submit("main button[type=submit]").await;
    b.find("#recovery-codes").await;
    b.screenshot("recovery-codes").await;
    b.submit("main button[type=submit]").await;
    // The console opens on the Overview, which counts this sign-in.
    assert_at(b, "/admin/overview").await;
    let overview = b.page_text().await;
    assert!(overview.contains("1 successful, 0 failed"), "{overview}");
    b.screenshot("overview").await;
    b.goto(&format!("{base}/admin/members")).await;
    let members = b.page_text().await;
    assert!(
        members.contains("Rita") && members.contains("Sam"),
        "{members}"
    );
    b.screenshot("members").await;
}

/// Integrations > Higher Logic: the settings, then the test connection in words.
async fn enter_the_higher_logic_settings(b: &mut Browser, base: &str, double_url: &str) {
    b.goto(&format!("{base}/admin/integrations/higher-logic"))
        .await;
    b.fill("#tenant_code", "ASSOC").await;
    b.fill("#api_key", API_KEY).await;
    b.fill("#base_url", double_url).await;
    for name in [
        "integrate_bio",
        "integrate_profile_image",
        "integrate_social",
    ] {
        b.click(&format!("input[name={name}]")).await;
    }
    b.submit("form[action='/admin/integrations/higher-logic'] button[type=submit]")
        .await;
    let masked = b.text("#api-key-masked").await;
    assert!(
        masked.ends_with("9c21") && !masked.contains("7f3a"),
        "{masked}"
    );
    assert!(!b.client.source().await.unwrap().contains(API_KEY));
    b.submit("form[action='/admin/integrations/higher-logic/test'] button")
        .await;
    let result = b.text("#test-result").await;
    assert!(
        result.contains("Higher Logic accepted the tenant code ASSOC"),
        "{result}"
    );
    b.screenshot("higher-logic-settings").await;
}

/// Single sign-on: register Higher Logic (secret shown once), read the worksheet, copy from
/// it; the secret.
async fn register_higher_logic_and_read_the_worksheet(b: &mut Browser, base: &str) -> String {
    b.goto(&format!("{base}/admin/sso")).await;
    b.fill("#site", "https://community.example.org").await;
    b.submit("form[action='/admin/sso/register'] button").await;
    let secret = b.text("#client-secret").await;
    assert!(secret.len() >= 43, "{secret}");
    b.screenshot("sso-registered").await;
    let worksheet = b.text("#worksheet").await;
    for expected in [
        format!("{base}/authorize"),
        format!("{base}/token"),
        format!("{base}/userinfo"),
        format!("{base}/jwks"),
        "https://community.example.org/HigherLogic/Security/OAuth/Authentication.aspx".into(),
        "higher-logic".to_string(),
    ] {
        assert!(
            worksheet.contains(&expected),
            "{expected} not in {worksheet}"
        );
    }
    // The secret is never shown again.
    b.goto(&format!("{base}/admin/sso")).await;
    assert!(!b.exists("#client-secret").await);
    assert!(!b.client.source().await.unwrap().contains(&secret));
    // The copy buttons work (the script loads under the page's CSP): copied, or selected
    // for Ctrl+C where the browser keeps the clipboard to itself.
    b.click("#ws-issuer button.copy").await;
    let label = text_until(b, "#ws-issuer button.copy", 50, |l| l != "Copy").await;
    assert!(
        label == "Copied" || label == "Selected: press Ctrl+C",
        "{label}"
    );
    b.screenshot("sso-worksheet").await;
    secret
}

/// Custom fields: a field shown in the Members section, then marked to sync.
async fn add_a_field_marked_to_sync(b: &mut Browser, base: &str) {
    b.goto(&format!("{base}/admin/fields")).await;
    b.fill("#field_key", "chapter").await;
    b.fill("#name", "Chapter").await;
    b.click("input[name=show_in_members]").await;
    b.submit("form[action='/admin/fields'] button[type=submit]")
        .await;
    b.goto(&format!("{base}/admin/fields/chapter")).await;
    b.click("input[name=sync_to_higher_logic]").await;
    b.submit("form[action='/admin/fields/chapter'] button[type=submit]")
        .await;
    b.goto(&format!("{base}/admin/fields")).await;
    let fields = b.text("table").await;
    assert!(fields.contains("chapter Chapter text"), "{fields}");
    assert!(fields.contains("shown yes"), "{fields}");
    b.screenshot("custom-fields").await;
}

/// Groups: conditions, a preview that counts the member without an account, then save.
async fn create_a_group_from_conditions(b: &mut Browser, base: &str) {
    b.goto(&format!("{base}/admin/groups")).await;
    b.fill("#group_key", "regulars").await;
    b.fill("#name", "Regular members").await;
    b.fill("#conditions", "member_type=Regular").await;
    // The live preview follows the typing (no click); the Preview button is the same
    // without JavaScript.
    let preview = text_until(b, "#preview", 100, |p| !p.is_empty()).await;
    assert!(
        preview.contains(
            "3 members: 2 with an active user account, 0 deactivated, 1 without a user account"
        ),
        "{preview}"
    );
    assert!(
        preview.contains("Rosa Browser") && !preview.contains("Sam"),
        "{preview}"
    );
    b.screenshot("group-preview").await;
    b.submit("button[value=save]").await;
    assert_at(b, "/admin/groups/regulars").await;
}

/// Details: sync on as a Community; the type is then locked, with the reason shown; the
/// worker inside serve pushes the group and the status line moves to up to date.
async fn turn_sync_on_as_a_community(b: &mut Browser, base: &str, double: &HlDouble) {
    b.click("input[name=sync]").await;
    b.submit("form[action='/admin/groups/regulars/sync'] button[type=submit]")
        .await;
    let page = b.page_text().await;
    assert!(page.contains("the first full sync has started"), "{page}");
    let status = b.text("#sync-status").await;
    assert!(
        status.contains("pending") || status.contains("Up to date"),
        "{status}"
    );
    assert!(b.text("#type-lock").await.contains("The type is locked"));
    let select = b
        .client
        .find(fantoccini::Locator::Css("#group_type"))
        .await
        .unwrap();
    assert_eq!(
        select.attr("disabled").await.unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(select.text().await.unwrap(), "Community");
    b.screenshot("group-sync-pending").await;

    let group_url = format!("{base}/admin/groups/regulars");
    let status = wait_for_text(b, &group_url, "#sync-status", "Up to date").await;
    assert!(
        status.contains("Up to date in the Higher Logic community as of"),
        "{status}"
    );
    b.screenshot("group-sync-up-to-date").await;
    let expected: BTreeSet<String> = ["R1", "R2"].iter().map(|s| s.to_string()).collect();
    assert_eq!(double.with(|s| s.members_of("regulars")), expected);
    double.with(|s| {
        assert_eq!(s.groups.len(), 1, "one Higher Logic group: {:?}", s.groups);
        assert_eq!(s.groups["regulars"].kind, "community");
        assert_eq!(s.groups["regulars"].name, "Regular members");
        assert_eq!(s.group_creations["regulars"], 1);
    });
}

/// Sign-in page: the preview follows the name and the colour as they are typed, says when a
/// colour is too light for white text, and the saved branding shows on the members' sign-in.
async fn brand_the_sign_in_page(b: &mut Browser, base: &str) {
    b.goto(&format!("{base}/admin/sign-in-page")).await;
    b.fill("#name", "Guild of Browser Testers").await;
    let name = text_until(b, "#pv-name", 20, |t| t == "Guild of Browser Testers").await;
    assert_eq!(name, "Guild of Browser Testers");
    b.fill("#primary_color", "#ffee88").await;
    let note = text_until(b, "#pv-contrast", 20, |t| t.contains("too light")).await;
    assert!(note.contains("too light for white text"), "{note}");
    b.screenshot("sign-in-page-light-colour").await;
    b.fill("#primary_color", "#2d5016").await;
    let style = |b: &Browser| {
        let client = b.client.clone();
        async move {
            client
                .execute(
                    "return document.getElementById('brand-preview').style.getPropertyValue('--brand');",
                    vec![],
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(style(b).await, serde_json::json!("#2d5016"));
    assert_eq!(b.text("#pv-contrast").await, "");
    b.screenshot("sign-in-page-preview").await;
    b.submit("button[value=save]").await;
    assert!(b.page_text().await.contains("Sign-in page saved."));
    b.goto(&format!("{base}/forgot-password")).await;
    assert!(b.page_text().await.contains("Guild of Browser Testers"));
    b.screenshot("sign-in-page-shown-to-members").await;
}
