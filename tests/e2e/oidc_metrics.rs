//! The provider's metrics: after a scripted failure, sign-in, code exchange, refresh and a
//! refresh-token replay, `/metrics` of the server (its own process, so the counters are this
//! test's alone) counts each.

use crate::support::oidc::*;
use crate::support::{Server, TestDb};

/// The value of the series `name{labels}` (labels as Prometheus writes them), or 0.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
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

    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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
