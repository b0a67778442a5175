//! A one-time password (the first administrator's, printed at first start) cannot finish an
//! authorization: the sign-in asks for the member's own password, different from the one-time
//! one, then (an administrator) the second factor, then continues the client's request.
//! SQLite and PostgreSQL.

use guildgate::accounts::BootstrapAdmin;
use reqwest::StatusCode;

use crate::support::html::{hidden_fields, switch_link};
use crate::support::oidc::*;
use crate::support::people::one_time_admin;
use crate::support::two_factor;
use crate::support::{TestApp, TestDb};

const OWN_PASSWORD: &str = "the administrator's own passphrase";

both_engines!(
    a_one_time_password_cannot_finish_an_authorization,
    |db: TestDb| async move {
        let (setup, boot, app) = start(&db).await;
        let browser = browser();
        let (verifier, challenge) = pkce();
        let url = app.authorize_url(&[
            ("client_id", &setup.client_id),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "st-9"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let page = page_at(&browser, &url).await;
        let r = app
            .login(&browser, &page, &boot.login_email, &boot.one_time_password)
            .await;
        // No code: the step asks for a password of one's own.
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("location").is_none());
        let step = r.text().await.unwrap();
        assert!(step.contains("Choose your own password"), "{step}");
        // Nor a session: the client cannot get a code silently.
        let silent = open(&browser, format!("{url}&prompt=none")).await;
        assert_eq!(query(&location(&silent))["error"], "login_required");

        let choose = |password: &str, again: &str| {
            let mut form = hidden_fields(&step);
            form.push(("password".into(), password.into()));
            form.push(("password_again".into(), again.into()));
            let (browser, url) = (browser.clone(), app.url("/login/new-password"));
            async move { browser.post(url).form(&form).send().await.unwrap() }
        };
        for (password, again, expected) in [
            (
                boot.one_time_password.as_str(),
                boot.one_time_password.as_str(),
                "differs from the one you were given",
            ),
            (OWN_PASSWORD, "another passphrase here", "differ"),
            ("short", "short", "at least 12"),
        ] {
            let r = choose(password, again).await;
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{expected}");
            let page = r.text().await.unwrap();
            assert!(page.contains(expected), "{expected}: {page}");
        }
        // Without the CSRF token nothing is set.
        let r = browser
            .post(app.url("/login/new-password"))
            .form(&[("password", OWN_PASSWORD), ("password_again", OWN_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);

        // The member's own password, then (an administrator) the second factor's enrolment:
        // signed in, and the request continues to the client.
        let r = choose(OWN_PASSWORD, OWN_PASSWORD).await;
        assert_eq!(location(&r), two_factor::STEP);
        let r = two_factor::complete(&browser, &app.base, &boot.login_email, r).await;
        let code = code_at_client(&r, "st-9");
        let (status, tokens) = app
            .exchange(&setup.client_id, &setup.secret, &code, &verifier)
            .await;
        assert_eq!(status, 200, "{tokens}");
        // The one-time password is gone; the new one signs in directly.
        let fresh = sign_in_page(&app, &setup).await;
        let r = app
            .login(
                &fresh.0,
                &fresh.1,
                &boot.login_email,
                &boot.one_time_password,
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let fresh = sign_in_page(&app, &setup).await;
        let r = app
            .login(&fresh.0, &fresh.1, &boot.login_email, OWN_PASSWORD)
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
);

both_engines!(
    the_step_switches_language_without_signing_in_again,
    |db: TestDb| async move {
        let (setup, boot, app) = start(&db).await;
        let (browser, page) = sign_in_page(&app, &setup).await;
        let r = app
            .login(&browser, &page, &boot.login_email, &boot.one_time_password)
            .await;
        let step = r.text().await.unwrap();
        assert!(step.contains("Choose your own password"), "{step}");

        // The switch (the page answered a post) leads to the step's own address, in French,
        // still waiting for the new password.
        let link = switch_link(&step, "fr");
        assert!(
            link.starts_with("/login/new-password?") && link.contains("ui_locales=fr"),
            "{link}"
        );
        let french = page_at(&browser, app.url(&link)).await;
        assert!(
            french.contains("Choisissez votre propre mot de passe"),
            "{french}"
        );
        // Its form carries the request and the language on: a short password is refused in
        // French.
        let action = "/login/new-password?ui_locales=fr";
        assert!(french.contains(&format!("action=\"{action}\"")), "{french}");
        let mut form = hidden_fields(&french);
        form.push(("password".into(), "short".into()));
        form.push(("password_again".into(), "short".into()));
        let r = send_form(&browser, app.url(action), &form).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let refused = r.text().await.unwrap();
        assert!(
            refused.contains("Choisissez votre propre mot de passe"),
            "{refused}"
        );
        // Another browser, with no sign-in waiting, is sent to the sign-in page.
        let r = open(&http(), app.url(&link)).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(location(&r).starts_with("/authorize?"), "{}", location(&r));
    }
);

/// The client, the first administrator holding its one-time password, and the server.
async fn start(db: &TestDb) -> (Setup, BootstrapAdmin, TestApp) {
    let setup = setup(db).await;
    let boot = one_time_admin(&setup.store).await;
    (setup, boot, TestApp::spawn(db).await)
}

/// A new browser on the sign-in page of the client's request: (browser, page).
async fn sign_in_page(app: &TestApp, setup: &Setup) -> (reqwest::Client, String) {
    let browser = browser();
    let url = app.openid_url(&setup.client_id, &[]);
    let page = page_at(&browser, &url).await;
    (browser, page)
}
