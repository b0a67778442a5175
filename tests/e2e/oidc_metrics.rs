//! The provider's metrics: after a scripted failure, sign-in, code exchange, refresh and a
//! refresh-token replay, `/metrics` of the server (its own process, so the counters are this
//! test's alone) counts each; a sign-in with a second factor counts once it is complete, and
//! its wrong codes apart.

use reqwest::StatusCode;

use crate::support::app::{fill_in, get_page};
use crate::support::html::csrf_of;
use crate::support::oidc::*;
use crate::support::two_factor::{enrol, STEP};
use crate::support::{Server, TestDb};

/// The value of the series `name{labels}` (labels as Prometheus writes them), or 0.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// `/metrics` of the server at `base`.
async fn metrics(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The `guildgate_sign_ins_total` series of `outcome`.
fn sign_ins(text: &str, outcome: &str) -> f64 {
    value(
        text,
        &format!("guildgate_sign_ins_total{{outcome=\"{outcome}\"}}"),
    )
}

both_engines!(metrics_count_sign_ins_and_tokens, |db: TestDb| async move {
    let setup = setup(&db).await;
    let server = Server::start(&db).await;
    let base = server.base.as_str();
    let browser = browser();

    let (_, challenge) = pkce();
    let url = authorize_url(base, &code_request("portal", "openid profile", &challenge));
    let page = page_at(&browser, &url).await;
    let failed = submit_login(&browser, base, &page, EMAIL, "not the password").await;
    assert_eq!(failed.status(), 401);
    let (code, verifier) = code_for(&browser, base, &setup.client_id, &[]).await;
    let (status, tokens) = exchange(base, &setup.client_id, &setup.secret, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let again = || refresh(base, &setup.client_id, &setup.secret, refresh_token);
    assert_eq!(again().await.0, 200);
    assert_eq!(again().await.0, 400, "a replay");

    let text = metrics(base).await;
    for (series, expected) in [
        ("guildgate_sign_ins_total{outcome=\"success\"}", 1.0),
        ("guildgate_sign_ins_total{outcome=\"wrong_password\"}", 1.0),
        ("guildgate_sign_ins_total{outcome=\"shed\"}", 0.0),
        (
            "guildgate_tokens_issued_total{grant_type=\"authorization_code\"}",
            1.0,
        ),
        (
            "guildgate_tokens_issued_total{grant_type=\"refresh_token\"}",
            1.0,
        ),
        (
            "guildgate_token_reuse_detected_total{kind=\"refresh_token\"}",
            1.0,
        ),
        (
            "guildgate_http_requests_total{method=\"POST\",route=\"/token\",status=\"200\"}",
            2.0,
        ),
        (
            "guildgate_http_requests_total{method=\"POST\",route=\"/token\",status=\"400\"}",
            1.0,
        ),
        ("guildgate_sessions_active", 1.0),
        ("guildgate_password_hash_queue_length", 0.0),
    ] {
        assert_eq!(value(&text, series), expected, "{series} in\n{text}");
    }
    assert!(text.contains("guildgate_http_request_duration_seconds_bucket{route=\"/token\""));
    // The sync's metrics are still there.
    assert!(text.contains("guildgate_hl_queue_depth"));
});

both_engines!(
    a_sign_in_counts_once_its_second_factor_is_given,
    |db: TestDb| async move {
        let setup = setup(&db).await;
        let server = Server::start(&db).await;
        let base = server.base.as_str();
        let url = |path: &str| format!("{base}{path}");

        // Signing in to the account page is a sign-in; turning two-factor sign-in on is not.
        let me = browser();
        let fields = [("email", EMAIL), ("password", PASSWORD)];
        let (status, _, _) = fill_in(&me, &url("/account"), &url("/account/login"), &fields).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let enrolment = url("/account/two-factor/enrol");
        let (_, page, _) = fill_in(&me, &url("/account"), &enrolment, &[]).await;
        let (phone, _, _) = enrol(&me, base, &page, "/account/two-factor/confirm").await;
        assert_eq!(sign_ins(&metrics(base).await, "success"), 1.0);

        // The right password alone signs nobody in yet; a wrong code is counted as one.
        let (_, challenge) = pkce();
        let request = authorize_url(base, &code_request(&setup.client_id, "openid", &challenge));
        let b = browser();
        let page = page_at(&b, &request).await;
        let r = submit_login_form(&b, base, &page, EMAIL, PASSWORD).await;
        assert_eq!(location(&r), STEP);
        let text = metrics(base).await;
        assert_eq!(sign_ins(&text, "success"), 1.0, "{text}");
        let send_code = |code: String| {
            let b = b.clone();
            let step = url(STEP);
            async move {
                let (_, page, _) = get_page(&b, &step).await;
                send_form(&b, step, &[("csrf_token", csrf_of(&page)), ("code", code)]).await
            }
        };
        let r = send_code("000000".into()).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // The right code completes it: one sign-in more.
        let r = send_code(phone.next_code().await).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let text = metrics(base).await;
        assert_eq!(sign_ins(&text, "success"), 2.0, "{text}");
        assert_eq!(sign_ins(&text, "wrong_code"), 1.0, "{text}");
        assert_eq!(sign_ins(&text, "wrong_password"), 0.0, "{text}");
    }
);
