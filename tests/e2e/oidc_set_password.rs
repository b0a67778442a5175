//! The set-password page against the real server, as a browser uses it after `member invite`:
//! CSRF, policy, single use, deactivated accounts, and the argon2id password it leaves.

use crate::support::html::hidden;
use crate::support::oidc::{browser, open, page_at, send_form};
use crate::support::{cli_line, newest_set_password_link, Server, TestApp, TestDb};

/// Ann (M1), with an account and no password yet.
fn add_ann(db: &TestDb) {
    cli_line(
        db,
        "member add --key M1 --first-name Ann --email ann@example.org --account",
    );
}

/// Runs the `member invite` line `invite`; the link it mailed, pointed at `base` (the CLI that
/// sent it ran with another port in its issuer), and the link's token.
fn mailed_link(db: &TestDb, base: &str, invite: &str) -> (String, String) {
    cli_line(db, invite);
    let link = format!("{base}{}", newest_set_password_link(db));
    let token = link.split("token=").nth(1).unwrap();
    let token = token.split('&').next().unwrap().to_string();
    (link, token)
}

/// `POST /set-password` in `browser` with `csrf`, the link's `token` and a good new password
/// typed twice.
async fn send_new_password(
    browser: &reqwest::Client,
    base: &str,
    csrf: &str,
    token: &str,
) -> reqwest::Response {
    let password = "a long new password";
    let form = [
        ("csrf_token", csrf),
        ("token", token),
        ("password", password),
        ("password_again", password),
    ];
    send_form(browser, format!("{base}/set-password"), &form).await
}

both_engines!(invited_member_sets_a_password, |db: TestDb| async move {
    add_ann(&db);
    let server = Server::start(&db).await;
    let base = server.base.as_str();
    let (link, token) = mailed_link(&db, base, "member invite M1");
    assert!(
        !server.stdout().contains(&token),
        "the token is never logged"
    );

    let b = browser();
    let r = open(&b, &link).await;
    assert_eq!(r.status(), 200);
    let headers = r.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Choose your password") && page.contains("ann@example.org"),
        "{page}"
    );
    let csrf = hidden(&page, "csrf_token");
    assert_eq!(hidden(&page, "token"), token);

    let post = |form: Vec<(&'static str, String)>| {
        let b = b.clone();
        async move {
            b.post(format!("{base}/set-password"))
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    // The form as the page sends it: this session's CSRF token, the link's token.
    let choose = |password: &str, again: &str| {
        post(vec![
            ("csrf_token", csrf.clone()),
            ("token", token.clone()),
            ("password", password.into()),
            ("password_again", again.into()),
        ])
    };
    // Without the CSRF token, or with another, nothing happens.
    let r = post(vec![
        ("token", token.clone()),
        ("password", "a long new password".into()),
        ("password_again", "a long new password".into()),
    ])
    .await;
    assert_eq!(r.status(), 403);
    let r = send_new_password(&browser(), base, &csrf, &token).await;
    assert_eq!(r.status(), 403, "a CSRF token from another session");
    // Policy and typos are shown on the form.
    let r = choose("short", "short").await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("at least 12 characters"));
    let r = choose("a long new password", "a long new passwort").await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("differ"));

    let r = choose("a long new password", "a long new password").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Password set"));
    let store = db.store().await;
    let account = store.account_for_member("M1").await.unwrap();
    assert!(store
        .verify_password("a long new password".into(), account.password_hash.clone())
        .await
        .unwrap());

    // The link works once.
    let r = open(&b, &link).await;
    assert_eq!(r.status(), 410);
    let r = choose("another long password", "another long password").await;
    assert_eq!(r.status(), 410);
    let r = open(&b, format!("{base}/set-password?token=made-up")).await;
    assert_eq!(r.status(), 410);
    let r = open(&b, format!("{base}/set-password")).await;
    assert_eq!(r.status(), 410);
    assert!(
        !server.stdout().contains(&token),
        "the token is never logged"
    );
});

both_engines!(
    deactivated_account_cannot_use_its_link,
    |db: TestDb| async move {
        add_ann(&db);
        let app = TestApp::spawn(&db).await;
        let base = app.base.as_str();
        let (link, token) = mailed_link(&db, base, "member invite M1 --reset");
        let b = browser();
        let page = page_at(&b, &link).await;
        assert!(page.contains("Choose a new password"));
        let csrf = hidden(&page, "csrf_token");

        cli_line(&db, "member deactivate M1");
        let r = open(&b, &link).await;
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("not active"));
        let r = send_new_password(&b, base, &csrf, &token).await;
        assert_eq!(r.status(), 403);
        let store = db.store().await;
        assert!(!store.account_for_member("M1").await.unwrap().has_password());
    }
);
