//! Members in the console over HTTP: a form with wrong fields saves nothing and says why beside
//! each field; the last active administrator can be neither demoted nor deactivated, from the
//! console or the admin API, and removing an administrator's rights revokes their API tokens;
//! the CSV upload refuses a missing CSRF token, a non-administrator and an oversized file; a
//! file uploaded on one instance is applied from another; an export imports again with nothing
//! changed.

use guildgate::accounts::Role;
use reqwest::{Method, StatusCode};

use super::{open_console, seed, ADMIN_PASSWORD, MEMBER_PASSWORD};
use crate::support::app::Console;
use crate::support::html::csrf_of;
use crate::support::{api_token, TestApp, TestDb};

/// A multipart body holding `csrf` (when given) and the file `csv`; (content type, body).
pub fn multipart(csrf: Option<&str>, csv: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----guildgate-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    if let Some(token) = csrf {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n\
                 {token}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"members.csv\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(csv);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Uploads `csv` to the console's import in `browser`; (status, page, Location).
async fn upload(
    base: &str,
    browser: &reqwest::Client,
    csrf: Option<&str>,
    csv: &[u8],
) -> (StatusCode, String, Option<String>) {
    let (content_type, body) = multipart(csrf, csv);
    let response = browser
        .post(format!("{base}/admin/import"))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("upload");
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (status, response.text().await.unwrap_or_default(), location)
}

/// The job page at `path` once its step has ended (it no longer refreshes itself).
async fn finished(admin: &Console, path: &str) -> String {
    let probe = || async { admin.page(path).await.1 };
    let page = crate::support::poll(300, probe, |p: &String| !p.contains("http-equiv")).await;
    assert!(!page.contains("http-equiv"), "still running: {page}");
    page
}

both_engines!(
    member_forms_check_fields_as_the_import_does,
    |db: TestDb| async move {
        seed(&db).await;
        let (_app, admin) = open_console(&db).await;
        let store = db.store().await;

        // Every field wrong at once: nothing saved, each reason beside its field, what was
        // typed kept.
        let bad = [
            ("member_key", "NEW-1"),
            ("first_name", "Nia"),
            ("email", "not-an-email"),
            ("member_since", "2024-13-01"),
            ("website_url", "example.org"),
            ("company_key", "P2"),
        ];
        let (s, html, _) = admin.post("/admin/new/person", &bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{html}");
        for id in ["email", "member_since", "website_url", "company_key"] {
            assert!(
                html.contains(&format!("id=\"{id}-error\"")),
                "no error beside {id}: {html}"
            );
        }
        assert!(html.contains("not a valid e-mail address"), "{html}");
        assert!(html.contains("names a person"), "{html}");
        assert!(html.contains("value=\"not-an-email\""), "typed value kept");
        assert!(html.contains("value=\"NEW-1\""), "typed key kept");
        assert!(store.member("NEW-1").await.is_err(), "nothing saved");

        // A custom field holds the import's rules too: over the limit Higher Logic takes.
        let long = "x".repeat(5000);
        let too_long = [("city", "Leeds"), ("field.chapter", long.as_str())];
        let (s, html, _) = admin.post("/admin/members/P2/edit", &too_long).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{html}");
        assert!(html.contains("id=\"field-chapter-error\""), "{html}");
        assert_eq!(
            store.member("P2").await.unwrap().data.city,
            None,
            "nothing saved"
        );

        // A field the import does not know is refused, not ignored.
        let (s, html, _) = admin
            .post("/admin/members/P2/edit", &[("colour", "red")])
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(html.contains("unknown field"), "{html}");

        // A key taken: beside the key, 409 as the API answers.
        let taken = [("member_key", "P1"), ("first_name", "Dup")];
        let (s, html, _) = admin.post("/admin/new/person", &taken).await;
        assert_eq!(s, StatusCode::CONFLICT, "{html}");
        assert!(html.contains("id=\"member_key-error\""), "{html}");
        assert_eq!(
            store.member("P1").await.unwrap().data.first_name.as_deref(),
            Some("Bob")
        );

        // Right: saved, with its change-log entry under the administrator's name.
        let good = [
            ("member_key", "NEW-1"),
            ("first_name", "Nia"),
            ("email", "nia@example.org"),
            ("field.chapter", "North"),
        ];
        let (s, html, location) = admin.post("/admin/new/person", &good).await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
        assert_eq!(location.as_deref(), Some("/admin/members/NEW-1"));
        let nia = store.member("NEW-1").await.unwrap();
        let changes = store.changes_for_member(&nia.id).await.unwrap();
        assert!(
            changes
                .iter()
                .any(|c| c.action == "created" && c.actor == "admin:ada@example.org"),
            "{changes:?}"
        );

        // A login that belongs to someone else is refused; nothing changes.
        let theirs = [("account_email", "bob@example.org")];
        let (s, html, _) = admin.post("/admin/members/NEW-1/account", &theirs).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{html}");
        assert!(html.contains("login of another member"), "{html}");
        assert!(store.account_for_member("NEW-1").await.is_err());
        assert!(
            html.contains("value=\"bob@example.org\""),
            "typed login kept"
        );
    }
);

both_engines!(
    the_last_administrator_stays_from_console_and_api,
    |db: TestDb| async move {
        seed(&db).await;
        let (app, admin) = open_console(&db).await;
        let store = db.store().await;

        // Ada is the only active administrator: she can neither lose the rights nor the
        // account, from the console...
        let (s, html, _) = admin
            .post("/admin/members/A1/role", &[("role", "member")])
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{html}");
        assert!(html.contains("last active administrator"), "{html}");
        let (s, html, _) = admin.post("/admin/members/A1/deactivate", &[]).await;
        assert_eq!(s, StatusCode::CONFLICT, "{html}");
        assert!(html.contains("last active administrator"), "{html}");
        // ... or the admin API.
        let token = api_token(&db, "ams", "write");
        let (s, body) = app
            .api(&token, Method::POST, "/members/A1/deactivate", None)
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");
        let ada = store.account_for_member("A1").await.unwrap();
        assert!(ada.is_admin() && ada.is_active());

        // A token Ada makes herself.
        let (_, html, _) = admin
            .post("/admin/api-tokens", &[("name", "ada's"), ("scope", "read")])
            .await;
        let marker = "id=\"new-token\">";
        let start = html.find(marker).expect("token shown") + marker.len();
        let secret = html[start..].split('<').next().unwrap().to_string();
        let (s, _) = app.api(&secret, Method::GET, "/members", None).await;
        assert_eq!(s, StatusCode::OK);

        // Bob made an administrator; then Ada's rights can go, and her token with them.
        let (s, _, _) = admin
            .post("/admin/members/P1/role", &[("role", "admin")])
            .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert!(store.account_for_member("P1").await.unwrap().is_admin());
        let (s, html, _) = admin
            .post("/admin/members/A1/role", &[("role", "member")])
            .await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
        assert!(!store.account_for_member("A1").await.unwrap().is_admin());
        let tokens = store.list_api_tokens().await.unwrap();
        let ada_token = tokens.iter().find(|t| t.name == "ada's").unwrap();
        assert!(ada_token.revoked_at.is_some(), "revoked with the rights");
        let (s, _) = app.api(&secret, Method::GET, "/members", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // Ada is no administrator now: the console is closed to her.
        let (s, _, _) = admin.page("/admin/members").await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // Bob is the last one now: the API cannot deactivate him either; the audit log names
        // who did what.
        let (s, body) = app
            .api(&token, Method::POST, "/members/P1/deactivate", None)
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");
        let bob = Console::sign_in(&app.base, "bob@example.org", MEMBER_PASSWORD).await;
        let (_, audit, _) = bob.page("/admin/audit").await;
        assert!(audit.contains("admin_granted") && audit.contains("admin_revoked"));
        assert!(audit.contains("admin:ada@example.org"), "{audit}");
    }
);

both_engines!(
    csv_upload_refusals_and_a_round_trip,
    |db: TestDb| async move {
        seed(&db).await;
        let app = TestApp::spawn_with(&db, |s| s.admin_api.import_max_bytes = 4096).await;
        let admin = app.console("ada@example.org", ADMIN_PASSWORD).await;
        let store = db.store().await;
        let good =
            b"member_key,first_name,last_name,account_email\nU1,Uma,Upload,uma@example.org\n";

        // Without the CSRF token, or with another session's: refused, nothing kept.
        let (s, html, _) = upload(&app.base, &admin.browser, None, good).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{html}");
        let (s, _, _) = upload(&app.base, &admin.browser, Some("forged"), good).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // A member, even with their own session's token: refused for the role.
        let member = app.admin_session("bob@example.org", MEMBER_PASSWORD).await;
        let (_, account_page, _) = app.page(&member, "/account").await;
        let token = csrf_of(&account_page);
        let (s, html, _) = upload(&app.base, &member, Some(&token), good).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{html}");
        assert!(html.contains("Administrators only"));
        let (s, _, _) = app.page(&member, "/admin/export/members.csv").await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // Larger than admin_api.import_max_bytes: 413, with the setting named.
        let mut big = b"member_key,first_name\n".to_vec();
        for i in 0..500 {
            big.extend_from_slice(format!("BIG{i},Name{i}\n").as_bytes());
        }
        let (s, html, _) = upload(&app.base, &admin.browser, Some(&admin.csrf), &big).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{html}");
        assert!(html.contains("admin_api.import_max_bytes"), "{html}");
        // Not UTF-8.
        let latin1 = b"member_key,first_name\nL1,Jos\xe9\n";
        let (s, html, _) = upload(&app.base, &admin.browser, Some(&admin.csrf), latin1).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{html}");
        assert!(html.contains("UTF-8"), "{html}");
        assert!(store.member("U1").await.is_err() && store.member("BIG0").await.is_err());

        // A good file: checked, applied, the account created.
        let (s, _, location) = upload(&app.base, &admin.browser, Some(&admin.csrf), good).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let job = location.expect("the job's page");
        let page = finished(&admin, &job).await;
        assert!(page.contains("1 to create, 0 changed"), "{page}");
        assert!(
            store.member("U1").await.is_err(),
            "a dry run writes nothing"
        );
        // Another instance on the same database shows the job and applies the file: it waits
        // in the database, not in the instance that took it.
        let other = TestApp::spawn(&db).await;
        store
            .set_account_role("test", "P1", Role::Admin)
            .await
            .unwrap();
        let elsewhere = other.console("bob@example.org", MEMBER_PASSWORD).await;
        let (s, page, _) = elsewhere.page(&job).await;
        assert_eq!(s, StatusCode::OK);
        assert!(page.contains("1 to create, 0 changed"), "{page}");
        let (s, _, _) = elsewhere.post(&format!("{job}/apply"), &[]).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let page = finished(&admin, &job).await;
        assert!(page.contains("data-state=\"applied\""), "{page}");
        assert!(store.account_for_member("U1").await.is_ok());
        // Applied once only.
        let (s, _, _) = admin.post(&format!("{job}/apply"), &[]).await;
        assert_eq!(s, StatusCode::CONFLICT);

        // The export, uploaded again: nothing to change.
        let (s, csv, _) = admin.page("/admin/export/members.csv").await;
        assert_eq!(s, StatusCode::OK);
        assert!(csv.starts_with("member_key,kind,"), "{csv}");
        assert!(csv.contains("U1,person,Uma,Upload"), "{csv}");
        let (_, _, location) =
            upload(&app.base, &admin.browser, Some(&admin.csrf), csv.as_bytes()).await;
        let page = finished(&admin, &location.unwrap()).await;
        assert!(page.contains("0 to create, 0 changed"), "{page}");
        // One group's members only.
        let (_, csv, _) = admin.page("/admin/export/members.csv?group=g1").await;
        assert!(csv.contains("\nP1,") && !csv.contains("\nU1,"), "{csv}");
    }
);

both_engines!(
    an_import_whose_instance_stopped_is_shown_as_failed,
    |db: TestDb| async move {
        seed(&db).await;
        let (_app, admin) = open_console(&db).await;
        let store = db.store().await;
        // A job left applying a minute ago by an instance that is gone (no process here runs
        // it).
        let minute_ago = guildgate::db::now_ms() - 60_000;
        sqlx::query(
            "INSERT INTO import_jobs (id, file_name, created_by, csv, state, created_at, \
             updated_at) VALUES ('gone-1', 'gone.csv', 'admin:someone', 'member_key\n', \
             'applying', $1, $1)",
        )
        .bind(minute_ago)
        .execute(store.pool())
        .await
        .unwrap();
        let (s, page, _) = admin.page("/admin/import/gone-1").await;
        assert_eq!(s, StatusCode::OK);
        if db.engine_name() == "postgres" {
            // Its progress stopped coming: failed, and it can be cancelled.
            assert!(page.contains("data-state=\"failed\""), "{page}");
            assert!(page.contains("interrupted"), "{page}");
            let (s, _, _) = admin.post("/admin/import/gone-1/cancel", &[]).await;
            assert_eq!(s, StatusCode::SEE_OTHER);
        } else {
            // SQLite's one writer is the import's while it runs: no progress is written, so
            // silence says nothing and the page keeps waiting.
            assert!(page.contains("data-state=\"applying\""), "{page}");
            assert!(page.contains("http-equiv=\"refresh\""), "{page}");
        }
        // A job that is not there.
        let (s, _, _) = admin.page("/admin/import/none-such").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
);

both_engines!(
    the_progress_page_writes_nothing_while_a_step_runs,
    |db: TestDb| async move {
        seed(&db).await;
        let (_app, admin) = open_console(&db).await;
        let store = db.store().await;
        sqlx::query(
            "INSERT INTO import_jobs (id, file_name, created_by, csv, state, total_steps, \
             done_steps, created_at, updated_at) VALUES ('run-1', 'big.csv', 'admin:someone', \
             '', 'applying', 200, 150, $1, $1)",
        )
        .bind(guildgate::db::now_ms())
        .execute(store.pool())
        .await
        .unwrap();
        // Another writer holds the database, as an import's transaction does (on SQLite the
        // one writer): the progress page still answers at once.
        let mut tx = store.begin().await.unwrap();
        sqlx::query("UPDATE import_jobs SET file_name = 'big.csv' WHERE id = 'run-1'")
            .execute(&mut *tx)
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let (s, page, _) = admin.page("/admin/import/run-1").await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert!(started.elapsed() < std::time::Duration::from_secs(3));
        assert!(page.contains("http-equiv=\"refresh\""), "{page}");
        assert!(
            page.contains("value=\"150\"") && page.contains("75 %"),
            "{page}"
        );
        tx.rollback().await.unwrap();
    }
);
