//! The member-facing pages in a real browser (headless Chromium over WebDriver), branded, in
//! English and in French: the sign-in page, forgot password (form and answer), the mailed
//! set-password page, the one-time-password step, the account page (its sign-in form and the
//! page), two-factor sign-in (turned on from the account page with a code computed from the
//! secret shown, the recovery codes, then the code step of the next sign-in), the sign-out confirmation, signed out, and an error page. Each is checked with
//! axe-core: no serious or critical accessibility violation.
//!
//! Screenshots of every page go to `target/screenshots/members-<engine>/` (CI keeps them).

use guildgate::branding::BrandingInput;

use crate::support::browser::Browser;
use crate::support::oidc::{openid_url, setup, EMAIL, PASSWORD};
use crate::support::people::one_time_admin;
use crate::support::two_factor::{code_at, unix_now, Authenticator};
use crate::support::{newest_set_password_link, poll, TestApp, TestDb};

/// Screenshots the page as `name` and fails on any serious accessibility violation.
async fn check(b: &mut Browser, lang: &str, name: &str) {
    b.screenshot(&format!("{lang}-{name}")).await;
    let violations = b.serious_violations().await;
    assert!(
        violations.is_empty(),
        "{lang} {name} at {}: {violations:#?}",
        b.url().await
    );
}

both_engines!(
    member_pages_are_branded_translated_and_accessible,
    |db: TestDb| async move {
        let engine = db.engine_name();
        let setup = setup(&db).await;
        // An account still on its one-time password, for the step that asks for a new one.
        let boot = one_time_admin(&setup.store).await;
        setup
            .store
            .save_branding(
                "test",
                &BrandingInput {
                    name: "Guild of Northern Engineers".into(),
                    logo_url: String::new(),
                    primary_color: "#7a1f3d".into(),
                    support_email: "help@guild.example.org".into(),
                    privacy_url: "https://guild.example.org/privacy".into(),
                },
            )
            .await
            .unwrap();
        let app = TestApp::spawn(&db).await;
        let mut b = Browser::start(&format!("members-{engine}")).await;
        let mut phone: Option<Authenticator> = None;

        for (lang, sign_in, forgot_sent) in [
            ("en", "Sign in", "If an account exists"),
            ("fr", "Connexion", "Si un compte existe"),
        ] {
            let q = format!("ui_locales={lang}");
            b.goto(&app.url(&format!("/authorize?client_id=nobody&{q}")))
                .await;
            check(&mut b, lang, "error").await;

            let authorize = openid_url(&app.base, &setup.client_id, &[("ui_locales", lang)]);
            b.goto(&authorize).await;
            assert_eq!(b.text("h1").await, sign_in);
            assert!(b.page_text().await.contains("Guild of Northern Engineers"));
            check(&mut b, lang, "sign-in").await;

            // Forgot password, from the sign-in page's link: the form, then the answer.
            b.click("main p a").await;
            b.find("#email").await;
            check(&mut b, lang, "forgot-password").await;
            b.fill("#email", EMAIL).await;
            b.submit("main button[type=submit]").await;
            assert!(b.page_text().await.contains(forgot_sent));
            check(&mut b, lang, "forgot-password-sent").await;

            // The mailed link, in the same language.
            let link = poll(
                50,
                || async { newest_set_password_link(&db) },
                |l: &String| l.ends_with(&q),
            )
            .await;
            assert!(link.ends_with(&q), "{link}");
            b.goto(&app.url(&link)).await;
            check(&mut b, lang, "set-password").await;

            // The one-time password step.
            b.goto(&authorize).await;
            b.fill("#email", &boot.login_email).await;
            b.fill("#password", &boot.one_time_password).await;
            b.submit("main button[type=submit]").await;
            b.find("#password_again").await;
            check(&mut b, lang, "new-password").await;

            // The account page: its sign-in form, then the page.
            b.goto(&app.url(&format!("/account?{q}"))).await;
            check(&mut b, lang, "account-sign-in").await;
            b.fill("#email", EMAIL).await;
            b.fill("#password", PASSWORD).await;
            b.submit("main button[type=submit]").await;
            // Two-factor sign-in is on (turned on in English): the code step.
            if let Some(phone) = &phone {
                b.find("#code").await;
                check(&mut b, lang, "two-factor-code").await;
                b.fill("#code", &phone.next_code().await).await;
                b.submit("main button[type=submit]").await;
            }
            b.find("#current").await;
            assert!(b.url().await.contains(&q), "{}", b.url().await);
            check(&mut b, lang, "account").await;
            if phone.is_none() {
                // Turning two-factor sign-in on: the QR code and the secret, a first code
                // computed from the secret shown, then the recovery codes once.
                b.submit("form[action^='/account/two-factor/enrol'] button")
                    .await;
                let secret: String = b.text("#totp-secret").await.split_whitespace().collect();
                assert!(b.exists(".qr svg").await);
                check(&mut b, lang, "two-factor-enrol").await;
                let authenticator = Authenticator::new(&secret);
                b.fill("#code", &code_at(&secret, unix_now())).await;
                authenticator.used_now();
                b.submit("main button[type=submit]").await;
                b.find("#recovery-codes").await;
                check(&mut b, lang, "recovery-codes").await;
                b.submit("main button[type=submit]").await;
                b.find("#two-factor-state").await;
                assert!(b.text("#two-factor-state").await.contains("10"));
                phone = Some(authenticator);
            }

            // Signing out: the confirmation, then signed out.
            b.goto(&app.url(&format!("/logout?{q}"))).await;
            check(&mut b, lang, "logout").await;
            b.submit("main button[type=submit]").await;
            check(&mut b, lang, "logged-out").await;
        }
        b.close().await;
    }
);
