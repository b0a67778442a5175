//! A real browser for the console's and the member pages' tests: headless Chromium driven over WebDriver
//! (chromedriver + fantoccini). `.ci/run` installs Debian's `chromium` and `chromium-driver`;
//! a missing browser fails the test, it never skips it.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

pub struct Browser {
    pub client: Client,
    driver: Child,
    shots: PathBuf,
    shot_count: usize,
}

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// axe-core 4.14.1 (MPL-2.0), vendored: see `axe-core.md` beside this file.
const AXE: &str = include_str!("axe.min.js");

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium. Screenshots go to
    /// `target/screenshots/<name>/`.
    pub async fn start(name: &str) -> Browser {
        for exe in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(exe).exists(),
                "{exe} is missing: install Debian's chromium and chromium-driver (.ci/run does)"
            );
        }
        let port = super::free_port();
        // Its own process group, so that a failed test can take Chromium down with it.
        let driver = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000",
                         // This machine's network is closed: no background calls home.
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--disable-quic"]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..100 {
            // Plain HTTP to chromedriver on loopback: no TLS stack (and no rustls provider
            // ambiguity with reqwest's).
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                        .parent()
                        .expect("target dir")
                        .join("screenshots")
                        .join(name);
                    let _ = std::fs::remove_dir_all(&shots);
                    std::fs::create_dir_all(&shots).expect("screenshot dir");
                    return Browser {
                        client,
                        driver,
                        shots,
                        shot_count: 0,
                    };
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot open Chromium through chromedriver: {last_error}");
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Saves a screenshot of the page, numbered in order.
    pub async fn screenshot(&mut self, what: &str) {
        self.shot_count += 1;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self
            .shots
            .join(format!("{:02}-{what}.png", self.shot_count));
        std::fs::write(&path, png).expect("write screenshot");
    }

    /// The element, or a failure that shows where the browser is and what it sees.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(el) => el,
            Err(e) => {
                let url = self.client.current_url().await.map(|u| u.to_string());
                let source = self.client.source().await.unwrap_or_default();
                panic!("{css}: {e}\nat {url:?}:\n{source}");
            }
        }
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let el = self.find(css).await;
        el.clear().await.expect("clear");
        el.send_keys(value).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// Clicks a button that submits a form and waits until the next page has loaded (a click
    /// returns before the navigation it starts).
    pub async fn submit(&self, css: &str) {
        self.client
            .execute("window.__guildgate_old_page = true; return null;", vec![])
            .await
            .expect("mark page");
        self.click(css).await;
        for _ in 0..200 {
            let loaded = self
                .client
                .execute(
                    "return window.__guildgate_old_page === undefined \
                     && document.readyState === 'complete';",
                    vec![],
                )
                .await;
            if matches!(loaded, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{css}: no new page after the click");
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    pub async fn page_text(&self) -> String {
        self.text("body").await
    }

    /// The accessibility problems axe-core finds on the page whose impact is serious or
    /// critical, one line each (rule, impact, the elements). axe-core is vendored
    /// (`axe.min.js`, see `axe-core.md`) and injected over WebDriver, which the pages' CSP
    /// does not govern.
    pub async fn serious_violations(&self) -> Vec<String> {
        self.client
            .execute(&format!("{AXE}\n;return null;"), vec![])
            .await
            .expect("inject axe-core");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document)
                   .then(r => done({
                     passes: r.passes.length,
                     serious: r.violations
                       .filter(v => v.impact === 'serious' || v.impact === 'critical')
                       .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at '
                         + v.nodes.map(n => n.target.join(' ')).join(', '))
                   }))
                   .catch(e => done({ passes: 0, serious: ['axe failed: ' + e] }));",
                vec![],
            )
            .await
            .expect("run axe-core");
        // A check that checked nothing (axe not loaded, an empty page) is no pass.
        assert!(
            found["passes"].as_u64() > Some(10),
            "axe-core checked nothing: {found}"
        );
        serde_json::from_value(found["serious"].clone()).expect("a list of violations")
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.expect("url").to_string()
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and the Chromium it started (a panicking test never reaches `close`).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
