//! Sign-in throttling on SQLite and PostgreSQL, shared by instances through the database.

use std::net::IpAddr;
use std::time::Duration;

use crate::support::oidc;
use crate::support::{count, Server, TestApp, TestDb};
use guildgate::oidc::known_device::DeviceCookie;
use guildgate::oidc::throttle::{Throttle, ThrottleError, ThrottleSettings};
use guildgate::secrets::Pepper;

fn settings() -> ThrottleSettings {
    ThrottleSettings {
        account_free_failures: 3,
        address_free_failures: 6,
        base_delay_secs: 1,
        max_delay_secs: 2,
        window_secs: 3600,
    }
}

fn pepper() -> Pepper {
    Pepper::from_bytes([7; 32])
}

/// No known-device cookie: an untrusted client.
fn none() -> DeviceCookie {
    DeviceCookie::none()
}

/// A throttle of the tests' settings on its own pool of the test database: another instance's
/// when called again.
async fn throttle(db: &TestDb) -> Throttle {
    Throttle::new(db.store().await, settings(), pepper())
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

both_engines!(
    account_delays_grow_and_success_clears,
    |db: TestDb| async move {
        let t = throttle(&db).await;
        // A second instance: its own pool on the same database.
        let other = throttle(&db).await;
        let a = ip("192.0.2.10");
        let b = ip("198.51.100.7");

        for _ in 0..2 {
            t.check("ann@example.org", a, &none()).await.unwrap();
            t.record_failure("ann@example.org", a, &none())
                .await
                .unwrap();
        }
        t.check("ann@example.org", a, &none()).await.unwrap();
        // The third failure happens on the other instance; both see the block.
        other
            .record_failure("ANN@example.org ", a, &none())
            .await
            .unwrap();
        let err = t.check("ann@example.org", b, &none()).await.unwrap_err();
        assert!(matches!(err, ThrottleError::RetryAfter(d) if d <= Duration::from_secs(1)));
        assert_eq!(err.retry_after_secs(), Some(1));
        assert!(!err.to_string().contains("ann"));
        assert!(other.check("ann@example.org", a, &none()).await.is_err());
        // Other accounts are not affected (the address allowance is higher).
        t.check("bob@example.org", a, &none()).await.unwrap();

        tokio::time::sleep(Duration::from_millis(1_100)).await;
        t.check("ann@example.org", a, &none()).await.unwrap();
        t.record_failure("ann@example.org", a, &none())
            .await
            .unwrap();
        let err = t.check("ann@example.org", a, &none()).await.unwrap_err();
        assert_eq!(err.retry_after_secs(), Some(2), "the delay doubled");
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        t.record_failure("ann@example.org", b, &none())
            .await
            .unwrap();
        assert_eq!(
            t.check("ann@example.org", b, &none())
                .await
                .unwrap_err()
                .retry_after_secs(),
            Some(2),
            "capped at max_delay_secs"
        );
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        t.record_success("ann@example.org", &none()).await.unwrap();
        t.record_failure("ann@example.org", b, &none())
            .await
            .unwrap();
        t.check("ann@example.org", b, &none()).await.unwrap();
    }
);

both_engines!(
    address_is_throttled_across_accounts,
    |db: TestDb| async move {
        let t = throttle(&db).await;
        let attacker = ip("2001:db8:5:6::1");
        let same_net = ip("2001:db8:5:6:ffff::2");
        for n in 0..6 {
            let email = format!("user{n}@example.org");
            t.check(&email, attacker, &none()).await.unwrap();
            t.record_failure(&email, attacker, &none()).await.unwrap();
            // A success on an own account does not reset the address.
            t.record_success("mine@example.org", &none()).await.unwrap();
        }
        let err = t
            .check("someone@example.org", same_net, &none())
            .await
            .unwrap_err();
        assert!(matches!(err, ThrottleError::RetryAfter(_)));
        // Another network is fine.
        t.check("someone@example.org", ip("2001:db8:5:7::1"), &none())
            .await
            .unwrap();
        // Nothing readable is stored.
        let store = db.store().await;
        let rows: Vec<(String,)> = sqlx::query_as("SELECT subject FROM login_throttle")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert!(rows
            .iter()
            .all(|(s,)| !s.contains('@') && !s.contains("2001")));
    }
);

both_engines!(
    a_known_device_is_counted_on_its_own,
    |db: TestDb| async move {
        let t = throttle(&db).await;
        let member = ip("192.0.2.10");
        let attacker = ip("198.51.100.7");
        let mine = DeviceCookie::from_value(&t.device_cookie_value("ann@example.org"));
        let laptop = DeviceCookie::from_value(&t.device_cookie_value("ann@example.org"));
        // The attacker locks the login out for untrusted clients...
        for _ in 0..3 {
            t.record_failure("ann@example.org", attacker, &none())
                .await
                .unwrap();
        }
        assert!(t.check("ann@example.org", member, &none()).await.is_err());
        // ... and a forged cookie, or one of another login, is an untrusted client.
        let forged = DeviceCookie::from_value("x.y.z");
        assert!(t.check("ann@example.org", member, &forged).await.is_err());
        let bobs = DeviceCookie::from_value(&t.device_cookie_value("bob@example.org"));
        assert!(t.check("ann@example.org", member, &bobs).await.is_err());
        // The member's known devices are not delayed.
        t.check("ann@example.org", member, &mine).await.unwrap();
        t.check("ann@example.org", member, &laptop).await.unwrap();
        // A known device's own failures delay that device only, not the other one, and add
        // nothing to the login's count.
        for _ in 0..3 {
            t.record_failure("ann@example.org", member, &mine)
                .await
                .unwrap();
        }
        assert!(t.check("ann@example.org", member, &mine).await.is_err());
        t.check("ann@example.org", member, &laptop).await.unwrap();
        let devices = "SELECT COUNT(*) FROM login_throttle WHERE kind = 'device'";
        assert_eq!(count(&db.store().await, devices).await, 1);
    }
);

both_engines!(
    behind_a_proxy_only_its_own_entry_counts,
    |db: TestDb| async move {
        let _setup = oidc::setup(&db).await;
        let env = [
            (
                "GUILDGATE_OIDC__CLIENT_ADDRESS",
                "rightmost-x-forwarded-for",
            ),
            ("RUST_LOG", "info"),
        ];
        let server = Server::start_logged(&db, &env).await;
        // A failed sign-in whose browser sent `forwarded`, through a proxy that appended
        // nothing (or garbage): the log names the address it counted under.
        let failed_from = |forwarded: &'static str| {
            let base = server.base.clone();
            async move {
                let mut headers = reqwest::header::HeaderMap::new();
                headers.insert("x-forwarded-for", forwarded.parse().unwrap());
                let browser = reqwest::Client::builder()
                    .cookie_store(true)
                    .redirect(reqwest::redirect::Policy::none())
                    .default_headers(headers)
                    .build()
                    .unwrap();
                let (_, challenge) = oidc::pkce();
                let request = oidc::code_request("portal", "openid", &challenge);
                let url = oidc::authorize_url(&base, &request);
                let page = oidc::open(&browser, &url).await.text().await.unwrap();
                let r = oidc::submit_login(&browser, &base, &page, oidc::EMAIL, "wrong").await;
                assert_eq!(r.status(), 401);
            }
        };
        failed_from("203.0.113.1, 198.51.100.7").await;
        failed_from("203.0.113.9, garbage").await;
        failed_from("203.0.113.9, garbage").await;
        let log = server.log();
        let counted: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("sign-in failed"))
            .collect();
        assert_eq!(counted.len(), 3, "{log}");
        // The proxy's entry, not the client's.
        assert!(counted[0].contains("198.51.100.7"), "{}", counted[0]);
        // A malformed entry: the peer (the proxy), never the client's entry before it.
        for line in &counted[1..] {
            assert!(
                line.contains("127.0.0.1") && !line.contains("203.0.113.9"),
                "{line}"
            );
        }
        let reported = log.matches("client address header set by the proxy is malformed");
        assert_eq!(reported.count(), 1, "logged once: {log}");
    }
);

both_engines!(
    a_known_browser_signs_in_while_the_account_is_throttled,
    |db: TestDb| async move {
        let setup = oidc::setup(&db).await;
        let app = TestApp::spawn_with(&db, |s| {
            s.throttle.account_free_failures = 3;
            s.throttle.base_delay_secs = 300;
        })
        .await;
        // The member's browser signed in before: it holds a device cookie (HttpOnly, long-lived,
        // naming the login only as a keyed hash).
        let mine = oidc::browser();
        let url = app.openid_url(&setup.client_id, &[("prompt", "login")]);
        let page = oidc::open(&mine, &url).await.text().await.unwrap();
        let r = app.login(&mine, &page, oidc::EMAIL, oidc::PASSWORD).await;
        assert_eq!(r.status(), 303);
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with("guildgate_device="))
            .expect("a device cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("Max-Age=31536000"),
            "{cookie}"
        );
        assert!(!cookie.contains("ada"), "{cookie}");

        // An attacker throttles the account with wrong passwords from another browser.
        let attacker = oidc::browser();
        for _ in 0..3 {
            let page = oidc::open(&attacker, &url).await.text().await.unwrap();
            let r = app
                .login(&attacker, &page, oidc::EMAIL, "wrong guess")
                .await;
            assert_eq!(r.status(), 401);
        }
        let page = oidc::open(&attacker, &url).await.text().await.unwrap();
        let r = app
            .login(&attacker, &page, oidc::EMAIL, "wrong guess")
            .await;
        assert_eq!(r.status(), 429);

        // An unknown browser with the right password is still throttled.
        let unknown = oidc::browser();
        let page = oidc::open(&unknown, &url).await.text().await.unwrap();
        let r = app
            .login(&unknown, &page, oidc::EMAIL, oidc::PASSWORD)
            .await;
        assert_eq!(r.status(), 429);
        assert!(r.headers().contains_key("retry-after"));

        // The member's known browser signs in.
        let page = oidc::open(&mine, &url).await.text().await.unwrap();
        let r = app.login(&mine, &page, oidc::EMAIL, oidc::PASSWORD).await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        assert!(oidc::location(&r).starts_with(oidc::REDIRECT));
    }
);
