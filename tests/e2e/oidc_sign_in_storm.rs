//! A sign-in storm against a small hashing pool: what the queue cannot hold is refused at once
//! with 503 and `Retry-After`, the rest signs in. Counts, never times.

use crate::support::app::TestApp;
use crate::support::oidc::{self, EMAIL, PASSWORD};
use crate::support::TestDb;
use guildgate::passwords::PasswordSettings;

/// Concurrent sign-ins: far more than one thread and a queue of two can hold.
const STORM: usize = 24;

both_engines!(
    a_full_hashing_queue_sheds_with_503,
    |db: TestDb| async move {
        let setup = oidc::setup(&db).await;
        let app = TestApp::spawn_with(&db, |s| {
            s.passwords = PasswordSettings {
                hash_workers: 1,
                hash_queue: 2,
                ..Default::default()
            };
        })
        .await;
        let url = app.openid_url(&setup.client_id, &[]);
        // Every browser opens the login form first, so that all the posts arrive together.
        let mut forms = Vec::new();
        for _ in 0..STORM {
            let browser = oidc::browser();
            let page = oidc::open(&browser, url.as_str())
                .await
                .text()
                .await
                .expect("login page");
            assert!(
                page.contains("name=\"password\""),
                "not a login page: {page}"
            );
            forms.push((browser, page));
        }
        let mut posts = tokio::task::JoinSet::new();
        for (browser, page) in forms {
            let base = app.url("");
            posts.spawn(async move {
                oidc::submit_login(&browser, &base, &page, EMAIL, PASSWORD).await
            });
        }
        let answers = posts.join_all().await;
        let mut signed_in = 0;
        let mut shed = 0;
        for r in answers {
            match r.status().as_u16() {
                303 => signed_in += 1,
                503 => {
                    assert_eq!(
                        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
                        Some("5")
                    );
                    let body = r.text().await.expect("page");
                    assert!(body.contains("Too many sign-ins right now"), "{body}");
                    shed += 1;
                }
                other => panic!(
                    "unexpected answer {other}: {}",
                    r.text().await.unwrap_or_default()
                ),
            }
        }
        assert_eq!(signed_in + shed, STORM);
        assert!(shed > 0, "a queue of 2 held {STORM} concurrent sign-ins");
        assert!(signed_in >= 1, "nobody signed in");
        // The storm over, the pool takes sign-ins again.
        let browser = oidc::browser();
        let location = app.sign_in(&browser, &url).await;
        assert!(location.contains("code="), "{location}");
    }
);
