//! Property tests over the parameters of `/authorize`, `/login`, `/token`, `/userinfo`,
//! `/revoke`, `/introspect` and `/logout`: whatever arrives, the server answers with a
//! deliberate status (never a 500, never a dropped connection), and it redirects only to a
//! registered redirect URI.

use crate::support::oidc::*;
use crate::support::{TestApp, TestDb};
use guildgate::oidc::authorize::CARRIED;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// The parameters of other endpoints and forms; the authorization request's own are
/// `authorize::CARRIED`, the list the login form carries along.
const OTHER_NAMES: &[&str] = &[
    "request",
    "request_uri",
    "registration",
    "id_token_hint",
    "post_logout_redirect_uri",
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "token",
    "token_type_hint",
    "access_token",
    "csrf_token",
    "email",
    "password",
    "confirm",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("portal".to_string()),
        Just("higherlogic".to_string()),
        Just(REDIRECT.to_string()),
        Just(HL_REDIRECT.to_string()),
        Just(POST_LOGOUT.to_string()),
        Just("code".to_string()),
        Just("S256".to_string()),
        Just("plain".to_string()),
        Just("openid profile email".to_string()),
        Just("none".to_string()),
        Just("login".to_string()),
        Just("authorization_code".to_string()),
        Just("refresh_token".to_string()),
        Just("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_string()),
        Just(String::new()),
        Just("-1".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("a".repeat(3000)),
        "[a-zA-Z0-9_.~-]{0,64}",
        ".{0,40}",
        any::<String>(),
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(
            CARRIED.iter().chain(OTHER_NAMES).copied().collect::<Vec<_>>()
        )
        .prop_map(str::to_string),
        1 => "[a-z_]{1,12}",
        1 => ".{0,10}",
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((name(), value()), 0..14)
}

/// Statuses a deliberate answer may have.
fn deliberate(status: u16) -> bool {
    matches!(status, 200 | 303 | 400 | 401 | 403 | 405 | 415 | 422 | 429)
}

fn check_redirect(r: &reqwest::Response) -> Result<(), TestCaseError> {
    if r.status().is_redirection() {
        let loc = location(r);
        prop_assert!(
            loc.starts_with(REDIRECT)
                || loc.starts_with(HL_REDIRECT)
                || loc.starts_with(POST_LOGOUT),
            "redirect to an unregistered place: {loc}"
        );
    }
    Ok(())
}

both_engines!(no_parameters_make_a_500, |db: TestDb| async move {
    let store = db.store().await;
    add_member(&store).await;
    let (client_id, secret) = add_client(&db, &store).await;
    let _ = add_higher_logic_client(&db, &store).await;
    let app = TestApp::spawn(&db).await;
    let base = app.base.clone();
    // A signed-in browser, so that some requests get as far as issuing a code.
    let signed_in = browser();
    let _ = app.code_for(&signed_in, &client_id, &[]).await;
    let handle = tokio::runtime::Handle::current();

    let mut runner = TestRunner::new(Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(
        &(params(), 0u8..12, any::<bool>()),
        |(params, endpoint, authenticate)| {
            tokio::task::block_in_place(|| {
                handle.block_on(async {
                    let http = if authenticate { &signed_in } else { &http() };
                    let mut url = reqwest::Url::parse(&base).unwrap();
                    let request = match endpoint {
                        0 | 1 => {
                            url.set_path("/authorize");
                            url.query_pairs_mut().extend_pairs(&params);
                            http.get(url)
                        }
                        2 => http.post(format!("{base}/authorize")).form(&params),
                        3 => http.post(format!("{base}/login")).form(&params),
                        4..=6 => {
                            let r = http.post(format!("{base}/token")).form(&params);
                            if authenticate {
                                r.basic_auth(&client_id, Some(&secret))
                            } else {
                                r
                            }
                        }
                        7 => {
                            url.set_path("/userinfo");
                            url.query_pairs_mut().extend_pairs(&params);
                            http.get(url)
                        }
                        8 => http.post(format!("{base}/userinfo")).form(&params),
                        9 => http
                            .post(format!("{base}/revoke"))
                            .basic_auth(&client_id, Some(&secret))
                            .form(&params),
                        10 => http
                            .post(format!("{base}/introspect"))
                            .basic_auth(&client_id, Some(&secret))
                            .form(&params),
                        _ => {
                            url.set_path("/logout");
                            url.query_pairs_mut().extend_pairs(&params);
                            http.get(url)
                        }
                    };
                    let r = request
                        .send()
                        .await
                        .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
                    let status = r.status().as_u16();
                    prop_assert!(
                        deliberate(status),
                        "endpoint {endpoint}: status {status} for {params:?}"
                    );
                    check_redirect(&r)?;
                    Ok(())
                })
            })
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    // Still serving.
    let r = open(&http(), format!("{}/readyz", app.base)).await;
    assert_eq!(r.status(), 200);
});
