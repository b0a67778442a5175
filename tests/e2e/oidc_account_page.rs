//! The member's account page: signing in to it, the password change (the current password
//! required; a new one ends every other session and every token), where the member is signed
//! in, and "Sign out everywhere else". SQLite and PostgreSQL.

use reqwest::{Client, StatusCode};

use crate::support::app::{fill_in, get_page, post_form};
use crate::support::html::csrf_of;
use crate::support::oidc::*;
use crate::support::{count, TestApp, TestDb};

const NEW_PASSWORD: &str = "the member's new passphrase";

/// A browser signed in to the account page with `password`; the page it shows.
async fn account_session(app: &TestApp, password: &str) -> (Client, String) {
    let browser = app.account_session(EMAIL, password).await;
    let (status, page, _) = get_page(&browser, &app.url("/account")).await;
    assert_eq!(status, StatusCode::OK);
    (browser, page)
}

/// Tokens of the portal client for a new browser signed in with `password`: (browser, access,
/// refresh).
async fn portal_tokens(app: &TestApp, setup: &Setup) -> (Client, String, String) {
    let browser = browser();
    let tokens = app
        .tokens_for(&browser, &setup.client_id, &setup.secret)
        .await;
    (
        browser,
        tokens["access_token"].as_str().unwrap().into(),
        tokens["refresh_token"].as_str().unwrap().into(),
    )
}

/// `POST /account/password` in `browser`, with `csrf` when given, and the current password,
/// the new one and the new one again as typed; (status, page).
async fn change_password(
    app: &TestApp,
    browser: &Client,
    csrf: Option<&str>,
    [current, new, again]: [&str; 3],
) -> (StatusCode, String) {
    let mut form = vec![
        ("current_password", current),
        ("new_password", new),
        ("new_password_again", again),
    ];
    form.extend(csrf.map(|csrf| ("csrf_token", csrf)));
    let (status, page, _) = post_form(browser, &app.url("/account/password"), &form).await;
    (status, page)
}

async fn assert_tokens_end(app: &TestApp, setup: &Setup, access: &str, refresh: &str) {
    assert_eq!(app.userinfo(access).await.0, 401);
    let (status, body) = app.refresh(&setup.client_id, &setup.secret, refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

async fn assert_signed_out(app: &TestApp, setup: &Setup, browser: &Client) {
    let url = app.openid_url(&setup.client_id, &[("prompt", "none")]);
    let r = open(browser, &url).await;
    assert_eq!(query(&location(&r))["error"], "login_required");
}

both_engines!(
    the_account_page_changes_the_password_and_signs_out_elsewhere,
    |db: TestDb| async move {
        let (setup, app) = TestApp::with_portal(&db).await;

        // Signed out, the page is the sign-in form; a wrong password does not open the page.
        let (status, page, _) = get_page(&browser(), &app.url("/account")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("action=\"/account/login\""), "{page}");
        assert!(page.contains("href=\"/forgot-password\""), "{page}");
        let fields = [("email", EMAIL), ("password", "not the password at all")];
        let (status, page, _) = fill_in(
            &browser(),
            &app.url("/account"),
            &app.url("/account/login"),
            &fields,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(page.contains("not right"), "{page}");

        // The page: name and e-mail, this browser and the application holding tokens.
        let (_, access, refresh) = portal_tokens(&app, &setup).await;
        let (me, page) = account_session(&app, PASSWORD).await;
        assert!(
            page.contains("Ada Lovelace") && page.contains(EMAIL),
            "{page}"
        );
        assert!(page.contains("(this one)"), "{page}");
        assert!(page.contains("Member portal"), "{page}");
        // Two browsers: this one and the one that signed in through the portal.
        assert_eq!(page.matches("A browser, last used").count(), 2, "{page}");

        // Refusals: the current password wrong, the two new ones different, the same as now.
        let csrf = csrf_of(&page);
        for (current, new, again, expected) in [
            (
                "wrong current password",
                NEW_PASSWORD,
                NEW_PASSWORD,
                "not right",
            ),
            (PASSWORD, NEW_PASSWORD, "something else entirely", "differ"),
            (PASSWORD, PASSWORD, PASSWORD, "must differ from the current"),
            (PASSWORD, "short", "short", "at least 12"),
        ] {
            let typed = [current, new, again];
            let (status, page) = change_password(&app, &me, Some(&csrf), typed).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{expected}");
            assert!(page.contains(expected), "{expected}: {page}");
        }
        // Nothing changed: the tokens still work.
        assert_eq!(app.userinfo(&access).await.0, 200);
        // Without the CSRF token, nothing happens.
        let good = [PASSWORD, NEW_PASSWORD, NEW_PASSWORD];
        let (status, _) = change_password(&app, &me, None, good).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // The change: the old tokens and the other browser end, this browser stays.
        let (portal_browser, _, _) = portal_tokens(&app, &setup).await;
        let (status, page) = change_password(&app, &me, Some(&csrf), good).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
        assert_tokens_end(&app, &setup, &access, &refresh).await;
        assert_signed_out(&app, &setup, &portal_browser).await;
        let (status, page, _) = get_page(&me, &app.url("/account?done=password")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Your password is changed"), "{page}");
        assert!(page.contains("(this one)"), "still signed in: {page}");
        assert_eq!(page.matches("A browser, last used").count(), 1, "{page}");
        assert!(!page.contains("Member portal"), "{page}");
    }
);

both_engines!(
    sign_out_everywhere_else_ends_the_others_and_the_tokens,
    |db: TestDb| async move {
        let (setup, app) = TestApp::with_portal(&db).await;
        let (other, access, refresh) = portal_tokens(&app, &setup).await;
        let (me, page) = account_session(&app, PASSWORD).await;
        let (status, _, location) = post_form(
            &me,
            &app.url("/account/sign-out-everywhere"),
            &[("csrf_token", &csrf_of(&page))],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (_, page, _) = get_page(&me, &app.url(&location.unwrap())).await;
        assert!(page.contains("signed out everywhere else"), "{page}");
        assert_eq!(page.matches("A browser, last used").count(), 1, "{page}");
        assert_tokens_end(&app, &setup, &access, &refresh).await;
        assert_signed_out(&app, &setup, &other).await;
        // The audit log says who did it.
        let audit = "SELECT COUNT(*) FROM change_log WHERE action = 'signed_out_everywhere' \
                     AND actor = 'self-service'";
        assert_eq!(count(&setup.store, audit).await, 1);
        // Signing out of this browser leaves the sign-in form.
        let (status, _, location) = post_form(
            &me,
            &app.url("/account/sign-out"),
            &[("csrf_token", &csrf_of(&page))],
        )
        .await;
        assert_eq!(
            (status, location.as_deref()),
            (StatusCode::SEE_OTHER, Some("/account"))
        );
        let (_, page, _) = get_page(&me, &app.url("/account")).await;
        assert!(page.contains("action=\"/account/login\""), "{page}");
    }
);
