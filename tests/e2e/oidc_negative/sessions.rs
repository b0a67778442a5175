//! The refusals around the session: logout, sign-in throttling, ID token hints, and a code
//! replayed after it expired and the cleanup ran.

use super::*;

both_engines!(logout_refusals, |db: TestDb| async move {
    let (setup, app) = TestApp::with_portal(&db).await;
    let base = app.base.as_str();
    let browser = browser();
    let tokens = app
        .tokens_for(&browser, &setup.client_id, &setup.secret)
        .await;
    let id_token = tokens["id_token"].as_str().unwrap();

    // An unregistered post-logout address: a page, no redirect, still signed in.
    let r = open(
        &browser,
        format!(
            "{base}/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
            urlencode("https://evil.example/")
        ),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // A post-logout address without naming the client.
    let r = open(
        &browser,
        format!(
            "{base}/logout?post_logout_redirect_uri={}",
            urlencode(POST_LOGOUT)
        ),
    )
    .await;
    assert_eq!(r.status(), 400);
    // A forged hint.
    let mut forged = id_token.to_string();
    forged.push('x');
    let r = open(&browser, format!("{base}/logout?id_token_hint={forged}")).await;
    assert_eq!(r.status(), 400);
    // client_id disagreeing with the hint.
    let r = open(
        &browser,
        format!("{base}/logout?id_token_hint={id_token}&client_id=higherlogic"),
    )
    .await;
    assert_eq!(r.status(), 400);

    // Without a hint, a signed-in member is asked; a cross-site POST without the token fails.
    let r = open(&browser, format!("{base}/logout")).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Sign out"), "{page}");
    let r = send_form(&browser, format!("{base}/logout"), &[("confirm", "yes")]).await;
    assert_eq!(r.status(), 403);
    // Still signed in: prompt=none gives a code.
    let url = app.openid_url("portal", &[("prompt", "none")]);
    let r = open(&browser, &url).await;
    assert!(query(&location(&r)).contains_key("code"));
    // Confirmed with the form's token: signed out.
    let r = send_form(&browser, format!("{base}/logout"), &hidden_fields(&page)).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("signed out"));
    let r = open(&browser, &url).await;
    assert_eq!(query(&location(&r))["error"], "login_required");
});

both_engines!(
    login_is_throttled_without_saying_who_exists,
    |db: TestDb| async move {
        let (setup, app) = TestApp::with_portal(&db).await;
        let base = app.base.as_str();
        let (_, challenge) = pkce();
        let url = url_with(base, &base_params(&challenge));
        let browser = browser();
        let _ = &setup;
        let mut page = page_at(&browser, &url).await;
        // The allowance of failures, for a real account and for an unknown e-mail alike.
        for email in [EMAIL, "nobody@example.org"] {
            for _ in 0..5 {
                let r = app
                    .login(&browser, &page, email, "wrong password 123")
                    .await;
                assert_eq!(r.status(), 401);
                page = r.text().await.unwrap();
            }
            // Now even the right password waits; the answer is the same for both e-mails.
            let r = app.login(&browser, &page, email, PASSWORD).await;
            assert_eq!(r.status(), 429, "{email}");
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry >= 1);
            page = r.text().await.unwrap();
            assert!(page.contains("too many failed sign-in attempts"), "{page}");
        }
        // After the delay the member gets in.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let r = app.login(&browser, &page, EMAIL, PASSWORD).await;
        assert_eq!(r.status(), 303);
    }
);

both_engines!(id_token_hint_at_authorize, |db: TestDb| async move {
    // OIDC Core 3.1.2.1: the hint names the member the client expects to be signed in.
    let setup = setup(&db).await;
    let second_email = add_second_member(&setup.store).await;
    let app = TestApp::spawn(&db).await;
    let base = app.base.as_str();
    let (id, secret) = (setup.client_id.as_str(), setup.secret.as_str());

    // Ada signs in on one browser, Charles on another; each gets an ID token.
    let ada = browser();
    let (code, verifier) = app.code_for(&ada, id, &[]).await;
    let ada_token = app.exchange(id, secret, &code, &verifier).await.1["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    let charles = browser();
    let (verifier, challenge) = pkce();
    let page = page_at(&charles, url_with(base, &base_params(&challenge))).await;
    let r = app.login(&charles, &page, second_email, PASSWORD).await;
    let code = query(&location(&r))["code"].clone();
    let charles_token = app.exchange(id, secret, &code, &verifier).await.1["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(jwt_parts(&charles_token).1["sub"], "M-1002");

    let (_, challenge) = pkce();
    let ok = base_params(&challenge);
    let silent = with(&ok, "prompt", "none");
    // Ada's own hint: a code without a page.
    let r = open(
        &ada,
        url_with(base, &with(&silent, "id_token_hint", &ada_token)),
    )
    .await;
    assert_eq!(r.status(), 303);
    assert!(query(&location(&r)).contains_key("code"));
    // Charles's hint on Ada's browser: not the member asked for.
    let r = open(
        &ada,
        url_with(base, &with(&silent, "id_token_hint", &charles_token)),
    )
    .await;
    assert_eq!(r.status(), 303);
    let q = query(&location(&r));
    assert_eq!(q["error"], "login_required");
    assert_eq!((q["state"].as_str(), q["iss"].as_str()), ("xyz", base));
    assert!(!q.contains_key("code"));
    // Without prompt=none the sign-in page comes instead of a code for Ada.
    let r = open(
        &ada,
        url_with(base, &with(&ok, "id_token_hint", &charles_token)),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("name=\"password\""));
    // Nobody signed in: login_required, whatever the hint.
    let r = open(
        &http(),
        url_with(base, &with(&silent, "id_token_hint", &ada_token)),
    )
    .await;
    assert_eq!(query(&location(&r))["error"], "login_required");
    // Not an ID token of this provider: invalid_request, back to the client.
    let mut forged = ada_token.clone();
    forged.push('x');
    for (hint, what) in [
        (forged.as_str(), "forged signature"),
        ("not-a-jwt", "not a JWT"),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJNLTEwMDEifQ.", "alg none"),
    ] {
        assert_redirect_error(
            base,
            &url_with(base, &with(&silent, "id_token_hint", hint)),
            "invalid_request",
            what,
        )
        .await;
    }
});

both_engines!(
    code_replayed_after_it_expired_and_cleanup_ran,
    |db: TestDb| async move {
        // oidcc-codereuse-30seconds with codes shorter-lived than the delay: the spent code
        // outlives the cleanup while its tokens live, so the late replay still revokes them.
        let setup = setup(&db).await;
        let env = [("GUILDGATE_OIDC__CODE_LIFETIME_SECS", "1")];
        let server = Server::start_with(&db, &env).await;
        let base = server.base.clone();
        let (id, secret) = (setup.client_id.as_str(), setup.secret.as_str());
        let browser = browser();
        let (code, verifier) = code_for(&browser, &base, id, &[]).await;
        let tokens = exchange(&base, id, secret, &code, &verifier).await.1;
        let access = tokens["access_token"].as_str().unwrap().to_string();
        // A second code, never used: the cleanup must delete it.
        let _unused = code_for(&browser, &base, id, &[]).await;
        let count = || async {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_codes")
                .fetch_one(setup.store.pool())
                .await
                .unwrap();
            n
        };
        assert_eq!(count().await, 2);
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        // The cleanup runs when the server starts (and every five minutes).
        server.stop();
        let server = Server::start_with(&db, &env).await;
        let base = server.base.clone();
        let mut left = count().await;
        for _ in 0..100 {
            if left < 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            left = count().await;
        }
        assert_eq!(
            left, 1,
            "the expired unused code is deleted, the spent one kept"
        );
        assert_eq!(userinfo(&base, &access).await.0, 200);
        let r = exchange(&base, id, secret, &code, &verifier).await;
        assert_eq!(
            (r.0, r.1["error"].as_str()),
            (400, Some("invalid_grant")),
            "late replay"
        );
        assert_eq!(
            userinfo(&base, &access).await.0,
            401,
            "access token of the replayed code"
        );
        let r = refresh(&base, id, secret, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!((r.0, r.1["error"].as_str()), (400, Some("invalid_grant")));
    }
);
