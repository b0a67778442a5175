//! A new password ends what the old one issued: set from the command line (the store call it
//! makes), from an e-mailed reset link, through the admin API, or in the console, every access and refresh token issued
//! before stops working and every other browser session of the account ends, in the
//! transaction of the change. The console session that made the change stays signed in.
//! SQLite and PostgreSQL.

use guildgate::accounts::Role;
use guildgate::mail::{MailSettings, Mailer};
use guildgate::oidc::invitations::{self, Purpose};
use reqwest::{Client, Method, StatusCode};
use serde_json::json;

use crate::support::html::{csrf_of, hidden};
use crate::support::oidc::*;
use crate::support::people::{add_account, add_admin_grace, person, GRACE_PASSWORD};
use crate::support::{api_token, newest_set_password_link, TestApp, TestDb};

const NEW_PASSWORD: &str = "a second, longer passphrase";

/// What a password issued: a browser signed in to the provider, and the client's tokens.
struct Issued {
    browser: Client,
    access: String,
    refresh: String,
}

/// Signs in through the client as `email` in a new browser and exchanges the code.
async fn issue(app: &TestApp, setup: &Setup, email: &str, password: &str) -> Issued {
    let browser = browser();
    let (verifier, challenge) = pkce();
    let url = app.authorize_url(&code_request(&setup.client_id, "openid", &challenge));
    let page = page_at(&browser, &url).await;
    let r = app.login(&browser, &page, email, password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{email} signs in");
    let code = query(&location(&r))["code"].clone();
    let (status, tokens) = app
        .exchange(&setup.client_id, &setup.secret, &code, &verifier)
        .await;
    assert_eq!(status, 200, "{tokens}");
    Issued {
        browser,
        access: tokens["access_token"].as_str().unwrap().into(),
        refresh: tokens["refresh_token"].as_str().unwrap().into(),
    }
}

/// Everything `issued` holds is refused now, as `route` changed the password.
async fn assert_ended(app: &TestApp, setup: &Setup, issued: &Issued, route: &str) {
    let (status, challenge, _) = app.userinfo(&issued.access).await;
    assert_eq!(status, 401, "{route}: the old access token");
    assert!(challenge.contains("invalid_token"), "{route}: {challenge}");
    let (status, body) = app
        .refresh(&setup.client_id, &setup.secret, &issued.refresh)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{route}: the old refresh token"
    );
    let url = app.openid_url(&setup.client_id, &[("prompt", "none")]);
    let r = open(&issued.browser, &url).await;
    assert_eq!(
        query(&location(&r))["error"],
        "login_required",
        "{route}: the browser signed in with the old password"
    );
}

/// What the old password issued keeps working (the control: nothing changed yet).
async fn assert_alive(app: &TestApp, issued: &Issued) {
    assert_eq!(app.userinfo(&issued.access).await.0, 200);
}

both_engines!(
    a_new_password_ends_what_the_old_one_issued,
    |db: TestDb| async move {
        let (setup, app) = TestApp::with_portal(&db).await;

        // The command line (`member set-password`) and the admin tools set it through the store.
        let issued = issue(&app, &setup, EMAIL, PASSWORD).await;
        assert_alive(&app, &issued).await;
        setup
            .store
            .set_password("cli", MEMBER_KEY, NEW_PASSWORD)
            .await
            .unwrap();
        assert_ended(&app, &setup, &issued, "command line").await;
        // The new password signs in and its tokens work.
        let issued = issue(&app, &setup, EMAIL, NEW_PASSWORD).await;
        assert_alive(&app, &issued).await;

        // The e-mailed reset link (`member invite --reset`, the console's invite button).
        let mailer = Mailer::new(&MailSettings::default(), &db.dir.path().join("data")).unwrap();
        invitations::send_link(
            &setup.store,
            &mailer,
            &app.base,
            "test",
            MEMBER_KEY,
            Purpose::PasswordReset,
            None,
            None,
        )
        .await
        .unwrap();
        let link = newest_set_password_link(&db);
        let member = browser();
        let page = page_at(&member, format!("{}{link}", app.base)).await;
        let r = member
            .post(app.url("/set-password"))
            .form(&[
                ("csrf_token", csrf_of(&page)),
                ("token", hidden(&page, "token")),
                ("password", PASSWORD.into()),
                ("password_again", PASSWORD.into()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        assert_ended(&app, &setup, &issued, "reset link").await;
        let issued = issue(&app, &setup, EMAIL, PASSWORD).await;
        assert_alive(&app, &issued).await;

        // The admin API, with a write token (an AMS that keeps its members' passwords).
        let token = api_token(&db, "ams", "write");
        let body = json!({ "password": NEW_PASSWORD });
        let path = format!("/members/{MEMBER_KEY}/password");
        let (status, answer) = app.api(&token, Method::PUT, &path, Some(&body)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
        assert_ended(&app, &setup, &issued, "admin API").await;
        assert_alive(&app, &issue(&app, &setup, EMAIL, NEW_PASSWORD).await).await;
        // Not with a read token, and never an administrator's: that would open the console.
        let reader = api_token(&db, "reader", "read");
        let (status, _) = app.api(&reader, Method::PUT, &path, Some(&body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let admin = person("Ida", "Admin", "Staff");
        add_account(&setup.store, "ADM2", admin, Role::Admin, Some(PASSWORD)).await;
        let admin_path = "/members/ADM2/password";
        let (status, answer) = app.api(&token, Method::PUT, admin_path, Some(&body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
        assert!(answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("administrator"));
    }
);

both_engines!(
    the_console_keeps_its_own_session_and_ends_the_others,
    |db: TestDb| async move {
        let setup = setup(&db).await;
        let login = add_admin_grace(&setup.store).await;
        let app = TestApp::spawn(&db).await;

        let issued = issue(&app, &setup, &login, GRACE_PASSWORD).await;
        let other_console = app.admin_session(&login, GRACE_PASSWORD).await;
        let console = app.admin_session(&login, GRACE_PASSWORD).await;
        let (status, page, _) = app.page(&console, "/admin/password").await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, location) = app
            .submit(
                &console,
                "/admin/password",
                &[
                    ("csrf_token", &csrf_of(&page)),
                    ("current", GRACE_PASSWORD),
                    ("password", NEW_PASSWORD),
                    ("confirm", NEW_PASSWORD),
                ],
            )
            .await;
        assert_eq!(
            (status, location.as_deref()),
            (StatusCode::SEE_OTHER, Some("/admin/overview"))
        );
        assert_ended(&app, &setup, &issued, "console").await;
        // The other console session is signed out; this one goes on.
        let (_, _, location) = app.page(&other_console, "/admin/members").await;
        assert_eq!(location.as_deref(), Some("/admin/login"));
        let (status, _, location) = app.page(&console, "/admin/members").await;
        assert_eq!((status, location), (StatusCode::OK, None));
    }
);
