//! "Forgot your password?" from the sign-in page of a client's authorization request: the same
//! answer for a known, an unknown and a deactivated e-mail; a mail only for the known one; the
//! link works once and brings the member back to the sign-in, which completes with the new
//! password. Requests are throttled per e-mail. SQLite and PostgreSQL.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;

use crate::support::html::{csrf_of, hidden, hidden_fields};
use crate::support::oidc::*;
use crate::support::{TestApp, TestDb};

const NEW_PASSWORD: &str = "a brand new passphrase";

fn mails(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

/// The mails in `dir` once there are `count` (the link goes out after the answer).
async fn wait_for_mails(dir: &Path, count: usize) -> Vec<String> {
    for _ in 0..100 {
        let found = mails(dir);
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {count} mails in {}", dir.display());
}

both_engines!(
    a_forgotten_password_is_reset_and_the_sign_in_completes,
    |db: TestDb| async move {
        let setup = setup(&db).await;
        // A second member, deactivated (add_second_member answers its login e-mail).
        let deactivated_email = add_second_member(&setup.store).await;
        let second = setup
            .store
            .account_by_login(deactivated_email)
            .await
            .unwrap()
            .unwrap();
        setup
            .store
            .deactivate_account("test", &second.member_key)
            .await
            .unwrap();
        let app = TestApp::spawn(&db).await;
        let mail_dir = db.dir.path().join("data/mail");

        // The client's authorization request shows the sign-in page with the link.
        let browser = browser();
        let (verifier, challenge) = pkce();
        let mut params = code_request(&setup.client_id, "openid email", &challenge);
        params.push(("state", "hl-state"));
        let url = app.authorize_url(&params);
        let page = page_at(&browser, &url).await;
        let start = page.find("href=\"/forgot-password?").expect("the link") + 6;
        let href = page[start..]
            .split('"')
            .next()
            .unwrap()
            .replace("&#38;", "&")
            .replace("&amp;", "&");
        let form_page = open(&browser, app.url(&href)).await;
        assert_eq!(form_page.status(), 200);
        let form_page = form_page.text().await.unwrap();
        assert_eq!(
            hidden(&form_page, "state"),
            "hl-state",
            "the request is carried"
        );
        let ask = |email: &str| {
            let mut form = hidden_fields(&form_page);
            form.push(("email".into(), email.into()));
            let browser = browser.clone();
            let url = app.url("/forgot-password");
            async move { browser.post(url).form(&form).send().await.unwrap() }
        };

        // Unknown, deactivated and known: one answer, word for word.
        let mut answers = Vec::new();
        for email in ["nobody@example.org", deactivated_email, EMAIL] {
            let r = ask(email).await;
            answers.push((r.status(), r.text().await.unwrap()));
        }
        assert_eq!(answers[0].0, StatusCode::OK);
        assert!(
            answers[0]
                .1
                .contains("If an account exists for this address"),
            "{}",
            answers[0].1
        );
        assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");

        // One mail, to the known address only.
        let sent = wait_for_mails(&mail_dir, 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent_now = mails(&mail_dir);
        assert_eq!(sent_now.len(), 1, "{sent_now:?}");
        assert!(sent[0].contains(EMAIL), "{}", sent[0]);
        let marker = "/set-password?token=";
        let at = sent[0].find(marker).expect("a link in the mail");
        let link = sent[0][at..].lines().next().unwrap().trim().to_string();

        // The link: a new password, then back to the sign-in of the same request.
        let page = page_at(&browser, app.url(&link)).await;
        let choose = |csrf: String, token: String| {
            let browser = browser.clone();
            let url = app.url("/set-password");
            async move {
                browser
                    .post(url)
                    .form(&[
                        ("csrf_token", csrf),
                        ("token", token),
                        ("password", NEW_PASSWORD.to_string()),
                        ("password_again", NEW_PASSWORD.to_string()),
                    ])
                    .send()
                    .await
                    .unwrap()
            }
        };
        let (csrf, token) = (csrf_of(&page), hidden(&page, "token"));
        let r = choose(csrf.clone(), token.clone()).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let back = location(&r);
        assert!(back.starts_with("/authorize?"), "{back}");
        assert_eq!(query(&app.url(&back))["state"], "hl-state");
        // It works once.
        assert_eq!(choose(csrf, token).await.status(), StatusCode::GONE);

        // The old password no longer signs in; the new one completes the client's request.
        let page = page_at(&browser, app.url(&back)).await;
        let r = app.login(&browser, &page, EMAIL, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let page = page_at(&browser, app.url(&back)).await;
        let r = app.login(&browser, &page, EMAIL, NEW_PASSWORD).await;
        let code = code_at_client(&r, "hl-state");
        let (status, tokens) = app
            .exchange(&setup.client_id, &setup.secret, &code, &verifier)
            .await;
        assert_eq!(status, 200, "{tokens}");
    }
);

both_engines!(
    reset_requests_are_throttled_apart_from_sign_in,
    |db: TestDb| async move {
        let (setup, app) = TestApp::with_portal(&db).await;
        let browser = browser();
        let page = page_at(&browser, app.url("/forgot-password")).await;
        let mut statuses = Vec::new();
        for _ in 0..8 {
            let mut form = hidden_fields(&page);
            form.push(("email".into(), EMAIL.into()));
            let r = browser
                .post(app.url("/forgot-password"))
                .form(&form)
                .send()
                .await
                .unwrap();
            if r.status() == StatusCode::TOO_MANY_REQUESTS {
                assert!(r.headers().contains_key("retry-after"));
            }
            statuses.push(r.status());
        }
        assert_eq!(statuses[0], StatusCode::OK);
        assert!(
            statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
            "{statuses:?}"
        );
        // Sign-in for the same e-mail is not delayed by the reset requests.
        let (code, verifier) = app.code_for(&browser, &setup.client_id, &[]).await;
        assert_eq!(
            app.exchange(&setup.client_id, &setup.secret, &code, &verifier)
                .await
                .0,
            200
        );
        // Without the CSRF token nothing is sent.
        let r = browser
            .post(app.url("/forgot-password"))
            .form(&[("email", EMAIL)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
);
