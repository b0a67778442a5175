//! Two-factor sign-in: a member turns it on from the account page (QR code and secret, a
//! first code, ten recovery codes once) and then signs in at the provider with a code; a code
//! is taken once; a recovery code works once; wrong codes are throttled like passwords;
//! turning it off needs the password and a code and ends the other sessions; an administrator
//! without it is sent to enrolment after the password, at the console and at the provider; the
//! setting turns that off; `guildgate member reset-2fa` removes it. SQLite and PostgreSQL.

use reqwest::{Client, StatusCode};

use crate::support::app::{fill_in, get_page, post_form};
use crate::support::html::csrf_of;
use crate::support::oidc::*;
use crate::support::people::{add_admin_grace, GRACE_PASSWORD};
use crate::support::two_factor::{authenticator, code_at, enrol, secret_on, unix_now, STEP};
use crate::support::{cli_ok, count, TestApp, TestDb};

/// The login form of a new authorization request in `browser`, filled in: the answer.
async fn password_step(app: &TestApp, setup: &Setup, browser: &Client) -> reqwest::Response {
    let url = app.openid_url(&setup.client_id, &[("state", "s2")]);
    let page = page_at(browser, &url).await;
    submit_login_form(browser, &app.base, &page, EMAIL, PASSWORD).await
}

/// `POST /login/second-factor` with `code` from the step's page; (status, page, Location).
async fn send_code(app: &TestApp, browser: &Client, code: &str) -> reqwest::Response {
    let (status, page, _) = get_page(browser, &app.url(STEP)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("name=\"code\""), "{page}");
    assert!(!page.contains("totp-secret"), "{page}");
    send_form(
        browser,
        app.url(STEP),
        &[("csrf_token", csrf_of(&page).as_str()), ("code", code)],
    )
    .await
}

/// A new browser's console sign-in form sent with `login` and Grace's password: the browser,
/// and the answer's status and Location.
async fn console_password(app: &TestApp, login: &str) -> (Client, StatusCode, Option<String>) {
    let console = browser();
    let url = app.url("/admin/login");
    let fields = [("email", login), ("password", GRACE_PASSWORD)];
    let (status, _, to) = fill_in(&console, &url, &url, &fields).await;
    (console, status, to)
}

/// The account page's "turn on" in `me`: the enrolment page.
async fn enrolment_page(app: &TestApp, me: &Client) -> String {
    let enrol = app.url("/account/two-factor/enrol");
    fill_in(me, &app.url("/account"), &enrol, &[]).await.1
}

both_engines!(
    a_member_turns_it_on_and_signs_in_with_codes,
    |db: TestDb| async move {
        let (setup, app) = TestApp::with_portal(&db).await;
        let me = app.account_session(EMAIL, PASSWORD).await;
        let (_, page, _) = get_page(&me, &app.url("/account")).await;
        assert!(page.contains("Two-factor sign-in is off"), "{page}");

        // Turning it on: the QR code (inline SVG, nothing fetched) and the secret in text.
        let (status, page, _) = post_form(
            &me,
            &app.url("/account/two-factor/enrol"),
            &[("csrf_token", &csrf_of(&page))],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("<svg role=\"img\""), "{page}");
        assert!(!page.contains("<script"), "{page}");
        let secret = secret_on(&page);
        assert_eq!(secret.len(), 32, "{secret}");
        // The secret is stored sealed, never as typed.
        let (stored,): (String,) = sqlx::query_as("SELECT pending_secret FROM account_two_factor")
            .fetch_one(setup.store.pool())
            .await
            .unwrap();
        assert!(stored.starts_with("sealed:v1:") && !stored.contains(&secret));
        // A wrong first code turns nothing on; without the CSRF token nothing is taken.
        let (status, _, _) = post_form(
            &me,
            &app.url("/account/two-factor/confirm"),
            &[("csrf_token", &csrf_of(&page)), ("code", "000000")],
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let code = code_at(&secret, unix_now());
        let (status, _, _) = post_form(
            &me,
            &app.url("/account/two-factor/confirm"),
            &[("code", &code)],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, page, _) = get_page(&me, &app.url("/account")).await;
        assert!(page.contains("Two-factor sign-in is off"), "{page}");

        let page = enrolment_page(&app, &me).await;
        let (phone, recovery, r) =
            enrol(&me, &app.base, &page, "/account/two-factor/confirm").await;
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), "/account");
        // Recovery codes are stored as keyed hashes only.
        let hashes: Vec<(String,)> = sqlx::query_as("SELECT code_hash FROM account_recovery_codes")
            .fetch_all(setup.store.pool())
            .await
            .unwrap();
        assert_eq!(hashes.len(), 10);
        for (hash,) in &hashes {
            assert!(recovery.iter().all(|c| !hash.contains(&c[..5])));
        }
        let (_, page, _) = get_page(&me, &app.url("/account")).await;
        assert!(page.contains("Recovery codes left: 10"), "{page}");

        // Signing in at the provider: the password, then a code page; no code for the client
        // and no session until the code is given.
        let b = browser();
        let r = password_step(&app, &setup, &b).await;
        assert_eq!((r.status().as_u16(), location(&r)), (303, STEP.to_string()));
        let none = open(&b, app.openid_url(&setup.client_id, &[("prompt", "none")])).await;
        assert_eq!(query(&location(&none))["error"], "login_required");
        // The enrolment's code again: a replay, refused; a wrong code, refused.
        let r = send_code(&app, &b, &code_at(&phone.secret, unix_now())).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.text().await.unwrap().contains("already used"));
        let r = send_code(&app, &b, "123456").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // A fresh code: the authorization goes on, a code for the client.
        let fresh = phone.next_code().await;
        let r = send_code(&app, &b, &fresh).await;
        let code = code_at_client(&r, "s2");
        assert!(!code.is_empty());
        // The same code from another browser: refused, though the password was right.
        let other = browser();
        let r = password_step(&app, &setup, &other).await;
        assert_eq!(location(&r), STEP);
        let r = send_code(&app, &other, &fresh).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

        // A recovery code works once.
        let r = send_code(&app, &other, &recovery[3].to_uppercase()).await;
        code_at_client(&r, "s2");
        let third = browser();
        password_step(&app, &setup, &third).await;
        let r = send_code(&app, &third, &recovery[3]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let used = "SELECT COUNT(*) FROM account_recovery_codes WHERE used_at IS NOT NULL";
        assert_eq!(count(&setup.store, used).await, 1);
        let audit = "SELECT COUNT(*) FROM change_log WHERE action = 'recovery_code_used'";
        assert_eq!(count(&setup.store, audit).await, 1);

        // Turning it off takes the password and a code, and ends the other sessions.
        let (_, page, _) = get_page(&me, &app.url("/account")).await;
        let (status, page, _) = post_form(
            &me,
            &app.url("/account/two-factor/disable"),
            &[
                ("csrf_token", &csrf_of(&page)),
                ("current_password", PASSWORD),
                ("code", "000000"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
        let next = phone.next_code().await;
        let (status, _, to) = post_form(
            &me,
            &app.url("/account/two-factor/disable"),
            &[
                ("csrf_token", &csrf_of(&page)),
                ("current_password", PASSWORD),
                ("code", &next),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (_, page, _) = get_page(&me, &app.url(&to.unwrap())).await;
        assert!(page.contains("Two-factor sign-in is off."), "{page}");
        let r = open(&b, app.openid_url(&setup.client_id, &[("prompt", "none")])).await;
        assert_eq!(query(&location(&r))["error"], "login_required");
        let audit = "SELECT COUNT(*) FROM change_log WHERE action IN \
                     ('two_factor_enabled', 'two_factor_disabled') AND actor = 'self-service'";
        assert_eq!(count(&setup.store, audit).await, 2);
        // The password alone signs in again.
        let r = password_step(&app, &setup, &browser()).await;
        code_at_client(&r, "s2");
    }
);

both_engines!(
    wrong_codes_are_throttled_like_passwords,
    |db: TestDb| async move {
        let setup = setup(&db).await;
        let app = TestApp::spawn_with(&db, |s| {
            s.throttle.account_free_failures = 3;
            s.throttle.base_delay_secs = 120;
        })
        .await;
        let me = app.account_session(EMAIL, PASSWORD).await;
        let page = enrolment_page(&app, &me).await;
        let (phone, _, _) = enrol(&me, &app.base, &page, "/account/two-factor/confirm").await;
        let b = browser();
        password_step(&app, &setup, &b).await;
        for _ in 0..2 {
            let r = send_code(&app, &b, "000000").await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        // The right password again does not clear the count while a code is owed: the third
        // wrong code, after it, reaches the allowance.
        let again = browser();
        let r = password_step(&app, &setup, &again).await;
        assert_eq!(location(&r), STEP);
        let r = send_code(&app, &again, "000000").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // Over the allowance: even the right code waits.
        let r = send_code(&app, &again, &phone.next_code().await).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers().contains_key("retry-after"));
        let r = send_code(&app, &b, &phone.next_code().await).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
);

both_engines!(
    an_administrator_without_it_is_sent_to_enrolment,
    |db: TestDb| async move {
        let setup = setup(&db).await;
        let login = add_admin_grace(&setup.store).await;
        let app = TestApp::spawn(&db).await;

        // The console: the password leads to enrolment, and nothing is signed in before it.
        let (console, status, to) = console_password(&app, &login).await;
        assert_eq!((status, to.as_deref()), (StatusCode::SEE_OTHER, Some(STEP)));
        let (_, _, to) = get_page(&console, &app.url("/admin/members")).await;
        assert_eq!(to.as_deref(), Some("/admin/login"));
        let (status, page, _) = get_page(&console, &app.url(STEP)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains("Administrators sign in with a second factor"),
            "{page}"
        );
        assert!(page.contains("<svg role=\"img\""), "{page}");
        secret_on(&page);

        // The provider: the same for an authorization request.
        let b = browser();
        let url = app.openid_url(&setup.client_id, &[("state", "adm")]);
        let form = page_at(&b, &url).await;
        let r = submit_login_form(&b, &app.base, &form, &login, GRACE_PASSWORD).await;
        assert_eq!(location(&r), STEP);
        let page = page_at(&b, app.url(STEP)).await;
        let (phone, _, r) = enrol(&b, &app.base, &page, STEP).await;
        // The recovery codes seen, the authorization goes on: a code for the client.
        code_at_client(&r, "adm");
        let audit = "SELECT COUNT(*) FROM change_log WHERE action = 'two_factor_enabled'";
        assert_eq!(count(&setup.store, audit).await, 1);

        // From now on the console asks for a code, not an enrolment.
        let (console, _, to) = console_password(&app, &login).await;
        assert_eq!(to.as_deref(), Some(STEP));
        let r = send_code(&app, &console, &phone.next_code().await).await;
        assert_eq!(location(&r), "/admin/overview");
        let (status, _, _) = get_page(&console, &app.url("/admin/members")).await;
        assert_eq!(status, StatusCode::OK);
        // An administrator may not turn it off from the account page.
        let (_, page, _) = get_page(&console, &app.url("/account")).await;
        assert!(page.contains("Two-factor sign-in is on"), "{page}");
        assert!(!page.contains("/account/two-factor/disable"), "{page}");

        // The operator's escape hatch: the second factor is removed, audited, and the
        // account's sessions end; the next sign-in enrols again.
        let out = cli_ok(&db, &["member", "reset-2fa", &login]);
        assert!(out.contains("two-factor sign-in removed"), "{out}");
        let (_, _, to) = get_page(&console, &app.url("/admin/members")).await;
        assert_eq!(to.as_deref(), Some("/admin/login"));
        let audit = "SELECT COUNT(*) FROM change_log WHERE action = 'two_factor_reset' \
                     AND actor LIKE 'cli:%'";
        assert_eq!(count(&setup.store, audit).await, 1);
        let again = browser();
        let form = page_at(&again, &url).await;
        let r = submit_login_form(&again, &app.base, &form, &login, GRACE_PASSWORD).await;
        assert_eq!(location(&r), STEP);
        let page = page_at(&again, app.url(STEP)).await;
        assert!(page.contains("totp-secret"), "{page}");
    }
);

both_engines!(
    the_requirement_for_administrators_can_be_turned_off,
    |db: TestDb| async move {
        let setup = setup(&db).await;
        let login = add_admin_grace(&setup.store).await;
        let app = TestApp::spawn_with(&db, |s| {
            s.two_factor.required_for_administrators = false;
        })
        .await;
        let (_, _, to) = console_password(&app, &login).await;
        assert_eq!(to.as_deref(), Some("/admin/overview"));
        assert!(authenticator(&app.base, &login).is_none());
    }
);

both_engines!(
    a_session_signed_in_before_two_factor_existed_signs_in_again,
    |db: TestDb| async move {
        let setup = setup(&db).await;
        let app = TestApp::spawn(&db).await;
        let member = app.account_session(EMAIL, PASSWORD).await;
        let url = app.openid_url(&setup.client_id, &[("state", "s-old")]);
        let r = open(&member, &url).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed in: a code");

        // The same session as an earlier version wrote it: its login names no sign-in rules.
        let changed = sqlx::query(
            "UPDATE oidc_sessions SET data = REPLACE(data, ',\"rules\":2', '') \
             WHERE account_id IS NOT NULL",
        )
        .execute(setup.store.pool())
        .await
        .unwrap()
        .rows_affected();
        assert_eq!(changed, 1);
        let r = open(&member, &url).await;
        assert_eq!(r.status(), StatusCode::OK, "the sign-in page, no code");
        let page = r.text().await.unwrap();
        assert!(page.contains("name=\"password\""), "{page}");
        let (status, page, _) = get_page(&member, &app.url("/account")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("name=\"password\""), "{page}");
    }
);
