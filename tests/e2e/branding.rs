//! The association's branding and the members' language: the console's Sign-in page settings
//! (checked field by field, previewed, saved, audited), shown on every member-facing page and
//! in the e-mails; English or French from `ui_locales`, then `Accept-Language`, then English,
//! carried through the forms and the mailed link. SQLite and PostgreSQL.

use guildgate::branding::Branding;
use reqwest::StatusCode;

use crate::support::app::{get_page, Console};
use crate::support::html::{csrf_of, hidden_fields, switch_link};
use crate::support::oidc::*;
use crate::support::people::add_admin_bob;
use crate::support::{newest_mail, poll, TestApp, TestDb};

const ADMIN_PASSWORD: &str = "correct horse battery staple";

const NAME: &str = "Guild of Northern Engineers";
const LOGO: &str = "https://cdn.example.org/guild-logo.png";
const COLOR: &str = "#7a1f3d";
const SUPPORT: &str = "help@guild.example.org";
const PRIVACY: &str = "https://guild.example.org/privacy";

/// The member and the portal client, an administrator (Bob), the application and Bob's
/// console.
async fn start(db: &TestDb) -> (Setup, TestApp, Console) {
    let setup = setup(db).await;
    add_admin_bob(&setup.store, ADMIN_PASSWORD).await;
    let app = TestApp::spawn(db).await;
    let console = app.console("bob@example.org", ADMIN_PASSWORD).await;
    (setup, app, console)
}

fn fields<'a>(
    name: &'a str,
    logo: &'a str,
    color: &'a str,
    action: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("logo_url", logo),
        ("primary_color", color),
        ("support_email", SUPPORT),
        ("privacy_url", PRIVACY),
        ("action", action),
    ]
}

/// `GET url` in `browser` with an `Accept-Language` header; (status, page).
async fn page_in(browser: &reqwest::Client, url: &str, accept: &str) -> (StatusCode, String) {
    let r = browser
        .get(url)
        .header("accept-language", accept)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The newest mail once one for `to` is there (the reset link goes out after the answer).
async fn mail_to(db: &TestDb, to: &str, containing: &str) -> String {
    let mail = poll(
        50,
        || async { newest_mail(db).unwrap_or_default() },
        |m: &String| m.contains(to) && m.contains(containing),
    )
    .await;
    assert!(mail.contains(containing), "{mail}");
    mail
}

both_engines!(
    the_sign_in_page_settings_are_checked_saved_audited_and_shown_everywhere,
    |db: TestDb| async move {
        let (setup, app, console) = start(&db).await;
        let (status, page, _) = console.page("/admin/sign-in-page").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("value=\"Guildgate\""), "{page}");
        assert!(page.contains("id=\"brand-preview\""), "{page}");

        // Bad input: every field refused with its own message beside it, nothing saved.
        let long = "N".repeat(81);
        let mut bad = fields(&long, "http://cdn.example.org/logo.png", "blue", "save");
        bad[3] = ("support_email", "not an address");
        bad[4] = ("privacy_url", "ftp://guild.example.org/privacy");
        let (status, page, _) = console.post("/admin/sign-in-page", &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
        for (id, words) in [
            ("name-error", "too long"),
            ("logo_url-error", "https://"),
            ("primary_color-error", "not a colour"),
            ("support_email-error", "not an e-mail address"),
            ("privacy_url-error", "https://"),
        ] {
            let at = page
                .find(&format!("id=\"{id}\""))
                .unwrap_or_else(|| panic!("{id}: {page}"));
            let message = &page[at..at + page[at..].find("</p>").unwrap()];
            assert!(message.contains(words), "{id}: {message}");
        }
        assert!(page.contains("aria-invalid=\"true\""), "{page}");
        // What was typed stays in the fields.
        assert!(
            page.contains("value=\"http://cdn.example.org/logo.png\""),
            "{page}"
        );
        // A colour too light for white text: refused, with a darker one offered.
        let (status, page, _) = console
            .post(
                "/admin/sign-in-page",
                &fields(NAME, LOGO, "#ffcc00", "save"),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
        assert!(page.contains("too light for white text"), "{page}");
        assert_eq!(setup.store.branding().await.unwrap(), Branding::default());

        // The preview shows what was typed without saving it.
        let (status, page, _) = console
            .post("/admin/sign-in-page", &fields(NAME, LOGO, COLOR, "preview"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains(&format!("--brand: {COLOR}")), "{page}");
        assert!(
            page.contains(&format!("<strong id=\"pv-name\">{NAME}</strong>")),
            "{page}"
        );
        assert_eq!(setup.store.branding().await.unwrap(), Branding::default());

        // Saved, and in the audit log.
        let (status, page, location) = console
            .post(
                "/admin/sign-in-page",
                &fields(NAME, LOGO, "#7A1F3D", "save"),
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(location.as_deref(), Some("/admin/sign-in-page"));
        let saved = setup.store.branding().await.unwrap();
        assert_eq!(
            (saved.name.as_str(), saved.primary_color.as_str()),
            (NAME, COLOR)
        );
        let (_, audit, _) = console.page("/admin/audit").await;
        assert!(
            audit.contains("admin:bob@example.org") && audit.contains("branding"),
            "{audit}"
        );
        assert!(audit.contains(NAME), "{audit}");

        // Every member-facing page wears it: sign-in, forgot password, account, sign-out,
        // signed out, and an error page.
        let browser = browser();
        let sign_in = app.openid_url(&setup.client_id, &[]);
        let pages = [
            sign_in.clone(),
            app.url("/forgot-password"),
            app.url("/account"),
            app.url("/logout"),
            app.url("/authorize?client_id=nobody"),
        ];
        for url in &pages {
            let (_, page) = page_in(&browser, url, "en").await;
            for shown in [
                NAME,
                &format!("src=\"{LOGO}\""),
                &format!("background: {COLOR}"),
                &format!("href=\"mailto:{SUPPORT}\""),
                &format!("href=\"{PRIVACY}\""),
            ] {
                assert!(page.contains(shown), "{url}: {shown} not in {page}");
            }
        }
        // The logo may come from its https address (and nothing else may).
        let r = open(&browser, &sign_in).await;
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("img-src 'self' https:") && csp.contains("default-src 'none'"));
        let login_page = r.text().await.unwrap();
        // The sign-out confirmation, for a member signed in.
        let r = submit_login(&browser, &app.base, &login_page, EMAIL, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let (_, page) = page_in(&browser, &app.url("/logout"), "en").await;
        assert!(page.contains(&format!("sign out of {NAME}?")), "{page}");

        // The reset mail is signed with the name and gives the support address.
        let r = send_form(
            &browser,
            app.url("/forgot-password"),
            &[("csrf_token", csrf_of(&page).as_str()), ("email", EMAIL)],
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let mail = mail_to(&db, EMAIL, NAME).await;
        assert!(
            mail.contains(&format!("{NAME}: choose a new password")),
            "{mail}"
        );
        assert!(mail.contains(SUPPORT) && mail.contains(PRIVACY), "{mail}");
    }
);

both_engines!(
    pages_and_mails_speak_the_language_asked_for,
    |db: TestDb| async move {
        let (setup, app, _console) = start(&db).await;
        let browser = browser();
        let url = |extra: &[(&str, &str)]| app.openid_url(&setup.client_id, extra);

        // ui_locales first, then Accept-Language, then English; unknown values fall back.
        for (extra, accept, lang) in [
            (vec![("ui_locales", "fr")], "en", "fr"),
            (vec![("ui_locales", "xx fr-CA")], "", "fr"),
            (vec![], "de, fr-BE;q=0.8, en;q=0.5", "fr"),
            (vec![("ui_locales", "en")], "fr", "en"),
            (vec![("ui_locales", "zz-Nope !!")], "", "en"),
            (vec![("ui_locales", "de")], "de-AT", "en"),
        ] {
            let (status, page) = page_in(&browser, &url(&extra), accept).await;
            assert_eq!(status, StatusCode::OK, "{extra:?} {accept}: {page}");
            assert!(
                page.contains(&format!("<html lang=\"{lang}\">")),
                "{extra:?}: {page}"
            );
            let title = if lang == "fr" {
                "<h1>Connexion</h1>"
            } else {
                "<h1>Sign in</h1>"
            };
            assert!(page.contains(title), "{extra:?}: {page}");
        }

        // The language switch offers French on the English page, keeping the request.
        let (_, page) = page_in(&browser, &url(&[("state", "s-1")]), "en").await;
        let link = switch_link(&page, "fr");
        assert!(
            link.contains("state=s-1") && link.contains("ui_locales=fr"),
            "{link}"
        );
        let (_, french) = page_in(&browser, &app.url(&link), "en").await;
        assert!(french.contains("<h1>Connexion</h1>"), "{link}: {french}");

        // A wrong password through the French form is refused in French.
        let r = send_form(
            &browser,
            app.url("/login?ui_locales=fr"),
            &[
                hidden_fields(&french),
                vec![
                    ("email".into(), EMAIL.into()),
                    ("password".into(), "wrong password!".into()),
                ],
            ]
            .concat(),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let refused = r.text().await.unwrap();
        assert!(
            refused.contains("adresse e-mail ou le mot de passe est incorrect"),
            "{refused}"
        );
        assert!(
            refused.contains("action=\"/login?ui_locales=fr\""),
            "{refused}"
        );

        // Forgot password in French: the page, the mail, and the mailed link's page.
        assert!(refused.contains("href=\"/forgot-password?"), "{refused}");
        let (_, page) = page_in(&browser, &app.url("/forgot-password?ui_locales=fr"), "").await;
        assert!(page.contains("Mot de passe oublié\u{a0}?"), "{page}");
        let r = send_form(
            &browser,
            app.url("/forgot-password?ui_locales=fr"),
            &[("csrf_token", csrf_of(&page).as_str()), ("email", EMAIL)],
        )
        .await;
        assert!(r
            .text()
            .await
            .unwrap()
            .contains("Si un compte existe pour cette adresse"));
        let mail = mail_to(&db, EMAIL, "Bonjour").await;
        assert!(
            mail.contains("Un nouveau mot de passe a été demandé pour votre compte"),
            "{mail}"
        );
        let at = mail.find("/set-password?token=").expect("the link");
        let link = mail[at..].lines().next().unwrap().trim();
        assert!(link.ends_with("&ui_locales=fr"), "{link}");
        let (status, page, _) = get_page(&browser, &app.url(link)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            page.contains("Choisissez un nouveau mot de passe"),
            "{page}"
        );
        // The password policy answers in French too.
        let mut form = hidden_fields(&page);
        form.push(("password".into(), "court".into()));
        form.push(("password_again".into(), "court".into()));
        let r = send_form(&browser, app.url("/set-password?ui_locales=fr"), &form).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let refused = r.text().await.unwrap();
        assert!(refused.contains("au moins 12 caractères"), "{refused}");

        // An error page speaks it too.
        let (status, page) = page_in(
            &browser,
            &app.url("/authorize?client_id=nobody&redirect_uri=x&ui_locales=fr"),
            "",
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("application inconnue"), "{page}");

        // Discovery names the languages.
        let doc: serde_json::Value = app.discovery().await.json().await.unwrap();
        assert_eq!(doc["ui_locales_supported"], serde_json::json!(["en", "fr"]));
    }
);

both_engines!(
    the_member_s_language_reaches_answers_to_forms_dates_and_mails_an_administrator_sends,
    |db: TestDb| async move {
        let (setup, app, console) = start(&db).await;
        let browser = browser();

        // A refused sign-in answers a post: its switch reloads the authorization request.
        let url = app.openid_url(&setup.client_id, &[("state", "s-9"), ("ui_locales", "fr")]);
        let (_, page) = page_in(&browser, &url, "").await;
        let mut form = hidden_fields(&page);
        form.push(("email".into(), EMAIL.into()));
        form.push(("password".into(), "wrong password!".into()));
        let r = send_form(&browser, app.url("/login?ui_locales=fr"), &form).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let refused = r.text().await.unwrap();
        let english = switch_link(&refused, "en");
        assert!(
            english.starts_with("/authorize?") && english.contains("state=s-9"),
            "{english}"
        );
        assert!(english.ends_with("ui_locales=en"), "{english}");
        let (status, page) = page_in(&browser, &app.url(&english), "fr").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<h1>Sign in</h1>"), "{page}");

        // The account page in French: its dates are French, and the language is remembered.
        let (_, page) = page_in(&browser, &app.url("/account?ui_locales=fr"), "").await;
        let r = send_form(
            &browser,
            app.url("/account/login?ui_locales=fr"),
            &[
                ("csrf_token", csrf_of(&page).as_str()),
                ("email", EMAIL),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
        let (_, page) = page_in(&browser, &app.url(&location(&r)), "").await;
        assert!(page.contains("<html lang=\"fr\">"), "{page}");
        let french_months = [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ];
        assert!(page.contains("dernière utilisation le "), "{page}");
        assert!(french_months.iter().any(|m| page.contains(m)), "{page}");
        assert!(page.contains(" UTC"), "{page}");

        // A refused password change answers a post: its switch reloads the account page.
        let r = send_form(
            &browser,
            app.url("/account/password?ui_locales=fr"),
            &[
                ("csrf_token", csrf_of(&page).as_str()),
                ("current_password", "not the password"),
                ("new_password", "another long password"),
                ("new_password_again", "another long password"),
            ],
        )
        .await;
        let refused = r.text().await.unwrap();
        assert_eq!(switch_link(&refused, "en"), "/account?ui_locales=en");

        // An invitation an administrator sends speaks the member's language.
        let (status, _, _) = console
            .post(&format!("/admin/members/{MEMBER_KEY}/invite"), &[])
            .await;
        assert!(status.is_success() || status.is_redirection(), "{status}");
        let mail = mail_to(&db, EMAIL, "Bonjour").await;
        let at = mail.find("/set-password?token=").expect("the link");
        assert!(
            mail[at..]
                .lines()
                .next()
                .unwrap()
                .trim()
                .ends_with("&ui_locales=fr"),
            "{mail}"
        );
    }
);
