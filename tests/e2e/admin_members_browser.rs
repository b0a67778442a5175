//! Members kept in the console, in a real browser (headless Chromium over WebDriver): an
//! administrator adds a person (first with a wrong e-mail, shown beside the field) and a
//! company, edits both, gives the person a user account and sends the invitation; uploads a
//! CSV file with a bad row (the report names its line), then a good one whose progress bar
//! reaches the end, applies it, exports the members and uploads the export again: nothing to
//! change.
//!
//! Screenshots of every page go to `target/screenshots/members-admin-<engine>/`.

use std::time::Duration;

use guildgate::accounts::Role;

use crate::support::browser::Browser;
use crate::support::people::{add_account, person};
use crate::support::two_factor::{code_at, unix_now};
use crate::support::{newest_mail, TestApp, TestDb};

const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// The administrator, and a custom field for people.
async fn seed(db: &TestDb) {
    let store = db.store().await;
    let admin = person("Ada", "Browser", "Staff");
    add_account(&store, "A1", admin, Role::Admin, Some(ADMIN_PASSWORD)).await;
    store
        .add_field(
            "test",
            serde_json::from_value(serde_json::json!({
                "field_key": "chapter", "name": "Chapter", "field_type": "choice",
                "choices": ["North", "South"], "applies_to": "person",
                "show_in_members": true
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    store.close().await;
}

both_engines!(admin_keeps_members_in_a_browser, |db: TestDb| async move {
    let engine = db.engine_name();
    seed(&db).await;
    let app = TestApp::spawn(&db).await;
    let base = app.base.as_str();
    let mut b = Browser::start(&format!("members-admin-{engine}")).await;
    let files = tempfile::tempdir().unwrap();

    sign_in(&mut b, base).await;
    add_a_person(&mut b).await;
    add_a_company(&mut b, base).await;
    edit_both(&mut b, base).await;
    give_an_account_and_invite(&mut b, &db).await;
    import_a_bad_then_a_good_file(&mut b, base, files.path()).await;
    export_and_import_again(&mut b, base, files.path()).await;

    // The audit log names who did all this.
    b.goto(&format!("{base}/admin/audit")).await;
    let audit = b.page_text().await;
    assert!(audit.contains("admin:ada@example.org"), "{audit}");
    b.screenshot("audit-log").await;
    b.close().await;
});

async fn sign_in(b: &mut Browser, base: &str) {
    b.goto(&format!("{base}/admin/login")).await;
    b.fill("#email", "ada@example.org").await;
    b.fill("#password", ADMIN_PASSWORD).await;
    b.submit("form button[type=submit]").await;
    // Administrators need a second factor: the enrolment, then the recovery codes once.
    assert!(b.url().await.ends_with("/login/second-factor"));
    let secret: String = b.text("#totp-secret").await.split_whitespace().collect();
    b.fill("#code", &code_at(&secret, unix_now())).await;
    b.submit("main button[type=submit]").await;
    b.find("#recovery-codes").await;
    b.submit("main button[type=submit]").await;
    assert!(
        b.url().await.ends_with("/admin/overview"),
        "{}",
        b.url().await
    );
    b.goto(&format!("{base}/admin/members")).await;
    b.screenshot("members").await;
}

async fn add_a_person(b: &mut Browser) {
    b.submit("#add-person").await;
    b.screenshot("add-person").await;
    b.fill("#member_key", "P-100").await;
    b.fill("#first_name", "Pia").await;
    b.fill("#last_name", "Person").await;
    b.fill("#email", "pia-at-example.org").await;
    b.fill("#member_since", "2024-02-30").await;
    b.find("#field-chapter option[value=North]")
        .await
        .click()
        .await
        .unwrap();
    b.submit("#save").await;
    // Nothing saved; each reason beside its field; what was typed still there.
    let email_error = b.text("#email-error").await;
    assert!(email_error.contains("not a valid e-mail"), "{email_error}");
    assert!(b.text("#member_since-error").await.contains("not a date"));
    let typed = b.find("#first_name").await.prop("value").await.unwrap();
    assert_eq!(typed.as_deref(), Some("Pia"));
    b.screenshot("add-person-errors").await;
    b.fill("#email", "pia@example.org").await;
    b.fill("#member_since", "2024-02-01").await;
    b.submit("#save").await;
    assert!(b.url().await.ends_with("/admin/members/P-100"));
    let page = b.page_text().await;
    assert!(
        page.contains("Person added") && page.contains("North"),
        "{page}"
    );
    b.screenshot("person-added").await;
}

async fn add_a_company(b: &mut Browser, base: &str) {
    b.goto(&format!("{base}/admin/members")).await;
    b.submit("#add-company").await;
    b.fill("#member_key", "C-100").await;
    b.fill("#name", "Acme Ltd").await;
    b.fill("#website_url", "https://acme.example").await;
    b.screenshot("add-company").await;
    b.submit("#save").await;
    assert!(b.url().await.ends_with("/admin/members/C-100"));
    assert!(b.page_text().await.contains("Company added"));
    b.screenshot("company-added").await;
}

async fn edit_both(b: &mut Browser, base: &str) {
    b.goto(&format!("{base}/admin/members/C-100")).await;
    b.submit("#edit-member").await;
    b.fill("#city", "Leeds").await;
    b.screenshot("edit-company").await;
    b.submit("#save").await;
    assert!(b.page_text().await.contains("Leeds"));

    b.goto(&format!("{base}/admin/members/P-100/edit")).await;
    b.fill("#company_key", "C-999").await;
    b.submit("#save").await;
    assert!(b
        .text("#company_key-error")
        .await
        .contains("names no company"));
    b.screenshot("edit-person-error").await;
    b.fill("#company_key", "C-100").await;
    b.fill("#member_type", "Regular").await;
    b.submit("#save").await;
    let page = b.page_text().await;
    assert!(
        page.contains("Member saved") && page.contains("C-100"),
        "{page}"
    );
    b.screenshot("person-edited").await;
}

async fn give_an_account_and_invite(b: &mut Browser, db: &TestDb) {
    // The login field starts with the member's e-mail.
    b.submit("#create-account").await;
    let account = b.text("#account").await;
    assert!(account.contains("pia@example.org"), "{account}");
    assert!(b.page_text().await.contains("User account created"));
    b.screenshot("account-created").await;
    b.submit("#invite").await;
    assert!(b
        .page_text()
        .await
        .contains("Invitation sent to pia@example.org"));
    let mail = newest_mail(db).expect("the invitation");
    assert!(mail.contains("pia@example.org"), "{mail}");
    b.screenshot("invitation-sent").await;
}

/// The job page's state, once its step has ended (the page refreshes itself meanwhile).
async fn job_ends(b: &mut Browser, shot: &str) -> String {
    let mut shot_taken = false;
    for _ in 0..600 {
        let state = b
            .client
            .execute(
                "const e = document.querySelector('#import-state'); \
                 return e ? e.dataset.state : null;",
                vec![],
            )
            .await;
        if let Ok(serde_json::Value::String(state)) = state {
            if !shot_taken {
                b.screenshot(&format!("{shot}-progress")).await;
                shot_taken = true;
            }
            if state != "checking" && state != "applying" {
                b.screenshot(shot).await;
                return state;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the import never ended: {}", b.page_text().await);
}

/// Uploads the file at `path` from the import page; the job page's final state.
async fn upload(b: &mut Browser, base: &str, path: &std::path::Path, shot: &str) -> String {
    b.goto(&format!("{base}/admin/import")).await;
    b.find("#file")
        .await
        .send_keys(&path.display().to_string())
        .await
        .unwrap();
    b.submit("#upload").await;
    job_ends(b, shot).await
}

async fn import_a_bad_then_a_good_file(b: &mut Browser, base: &str, dir: &std::path::Path) {
    b.goto(&format!("{base}/admin/import")).await;
    b.screenshot("import").await;
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "member_key,first_name,last_name,email,field.chapter\n\
         B1,Bea,Good,bea@example.org,North\n\
         B2,Bad,Row,not-an-email,South\n",
    )
    .unwrap();
    assert_eq!(upload(b, base, &bad, "import-rejected").await, "rejected");
    let problems = b.text("#import-problems").await;
    assert!(
        problems.contains("3") && problems.contains("email"),
        "{problems}"
    );
    b.submit("#cancel").await;

    // A good file of 300 members: checked, then applied with the progress bar at its end.
    let good = dir.join("good.csv");
    let mut csv = String::from("member_key,first_name,last_name,member_type,field.chapter\n");
    for i in 0..300 {
        csv.push_str(&format!("G{i:03},Gil{i},Good,Regular,South\n"));
    }
    std::fs::write(&good, csv).unwrap();
    assert_eq!(upload(b, base, &good, "import-checked").await, "checked");
    assert_eq!(b.text("#created").await, "300");
    b.submit("#apply").await;
    assert_eq!(job_ends(b, "import-applied").await, "applied");
    let bar = b.find("#import-progress").await;
    let (value, max) = (
        bar.attr("value").await.unwrap().unwrap(),
        bar.attr("max").await.unwrap().unwrap(),
    );
    assert_eq!(value, max, "the progress bar reaches the end");
    assert_eq!(max, "600", "300 rows checked and 300 written");
    assert_eq!(b.text("#import-percent").await, "100 %");
    let summary = b.text("#import-summary").await;
    assert!(summary.contains("300 created, 0 changed"), "{summary}");
}

async fn export_and_import_again(b: &mut Browser, base: &str, dir: &std::path::Path) {
    b.goto(&format!("{base}/admin/members")).await;
    // The download, read through the page (same origin, as the link fetches it).
    let csv = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch(document.querySelector('#export-shown').href) \
               .then(r => r.text()).then(done, e => done('failed: ' + e));",
            vec![],
        )
        .await
        .unwrap();
    let csv = csv.as_str().unwrap().to_string();
    assert!(csv.starts_with("member_key,kind,"), "{csv}");
    assert!(csv.contains("P-100,person,Pia,Person"), "{csv}");
    assert!(csv.contains("pia@example.org"), "{csv}");
    assert!(csv.contains("G299,person,Gil299"), "{csv}");
    let exported = dir.join("export.csv");
    std::fs::write(&exported, csv).unwrap();
    assert_eq!(
        upload(b, base, &exported, "reimport-checked").await,
        "checked"
    );
    let summary = b.text("#import-summary").await;
    assert!(summary.contains("0 to create, 0 changed"), "{summary}");
    assert_eq!(b.text("#rows").await, b.text("#unchanged").await);
}
