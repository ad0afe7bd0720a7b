//! The browser the web tests drive: Debian's Chromium through chromedriver (a child process
//! killed on drop), with helpers to find, fill and click as a person would, to wait for what a
//! page shows, to save desktop and 375 px screenshots under `<target>/web-screenshots/`, and
//! to run axe-core on a page. Shared by `web.rs` and `web_office.rs` through `#[path]`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::common::TestApp;

const FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// One browser: chromedriver (a child process, killed on drop) and a WebDriver session.
pub struct Browser {
    driver: Child,
    pub client: Client,
    base: String,
    shots: PathBuf,
    /// axe-core's script (from npm, see scripts/web-tools.sh), injected to check pages.
    axe: Option<String>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Chromium outlives chromedriver when a test panics before the session ends, so the
    /// whole process group chromedriver leads (it and the browser it started) is killed.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A fresh browser on `base`, or `None` (after saying why) when Chromium is not installed.
pub async fn browser(base: &str) -> Option<Browser> {
    let (Some(chromium), Some(chromedriver)) = (which("chromium"), which("chromedriver")) else {
        eprintln!(
            "SKIPPED: the web browser tests need Debian's chromium and chromium-driver \
             (apt-get install -y chromium chromium-driver)"
        );
        return None;
    };
    let port = free_port();
    let driver = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        // Its own process group, so Drop can end the browser with it.
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().expect("a profile directory");
    let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    args.push("--window-size=1280,900".into());
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": chromium, "args": args}),
    );
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => break client,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no WebDriver session: {e}"),
        }
    };
    // Screenshots sit beside the test's scratch directory, under the target directory.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("web-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    let axe = match std::env::var("AGORA_AXE_JS") {
        Ok(path) => Some(std::fs::read_to_string(&path).expect("read axe-core")),
        // CI installs axe-core (scripts/test): there a missing script is a failure.
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("AGORA_AXE_JS is not set: run the tests through scripts/test")
        }
        Err(_) => {
            eprintln!(
                "SKIPPED accessibility checks: AGORA_AXE_JS is not set (scripts/test sets it)"
            );
            None
        }
    };
    Some(Browser {
        driver,
        client,
        base: base.to_string(),
        shots,
        axe,
        _profile: profile,
    })
}

impl Browser {
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let source = self.client.source().await.unwrap_or_default();
                panic!(
                    "no element {css} on {}: {e}\n{}",
                    self.path().await,
                    &source[..source.len().min(4000)]
                )
            }
        }
    }

    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_string(),
            })
            .unwrap_or_default()
    }

    pub async fn click(&self, css: &str) {
        self.on_fresh(css, "click", async |e| e.click().await).await
    }

    /// Runs `act` on the element `css` names. A page that is being replaced can swap the
    /// element between finding it and acting on it (a stale reference): find it again, for up
    /// to a few seconds, as a person would look again.
    async fn on_fresh<T>(
        &self,
        css: &str,
        what: &str,
        act: impl AsyncFn(fantoccini::elements::Element) -> Result<T, fantoccini::error::CmdError>,
    ) -> T {
        for _ in 0..40 {
            match act(self.find(css).await).await {
                Ok(done) => return done,
                // Chromium reports a node replaced mid-command either as a stale reference or
                // as an inspector error about a node that left the document.
                Err(e)
                    if e.is_stale_element_reference()
                        || e.to_string().contains("does not belong to the document") =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("{what} {css}: {e}"),
            }
        }
        panic!("{what} {css}: the element kept going stale")
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    pub async fn text(&self, css: &str) -> String {
        self.on_fresh(css, "text of", async |e| e.text().await)
            .await
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    /// Waits until `check` holds on the current page (no reloads).
    pub async fn until(&self, what: &str, within: Duration, check: impl AsyncFn(&Browser) -> bool) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if check(self).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let source = self.client.source().await.unwrap_or_default();
        panic!(
            "{what}: not within {within:?} on {}\n{}",
            self.path().await,
            &source[..source.len().min(4000)]
        );
    }

    /// Saves a screenshot of the page at desktop width and at 375 px.
    pub async fn shot(&self, name: &str) {
        for (suffix, width, height) in [("desktop", 1280, 900), ("375", 375, 812)] {
            self.client
                .set_window_size(width, height)
                .await
                .expect("resize");
            let png = self.client.screenshot().await.expect("screenshot");
            std::fs::write(self.shots.join(format!("{name}-{suffix}.png")), png)
                .expect("write screenshot");
        }
        self.client
            .set_window_size(1280, 900)
            .await
            .expect("resize");
    }

    /// Runs axe-core on the current page: no serious or critical violation.
    pub async fn accessible(&self, page: &str) {
        let Some(axe) = &self.axe else {
            return;
        };
        self.client
            .execute(&format!("{axe}\n;return null;"), vec![])
            .await
            .expect("inject axe-core");
        let found = self
            .client
            .execute_async(
                "var done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']}).then(function (r) {
                   done(r.violations.filter(function (v) {
                     return v.impact === 'serious' || v.impact === 'critical';
                   }).map(function (v) {
                     return {id: v.id, impact: v.impact, help: v.help,
                             targets: v.nodes.slice(0, 3).map(function (n) { return n.target.join(' '); })};
                   }));
                 }).catch(function (e) { done([{id: 'axe-error', help: String(e)}]); });",
                vec![],
            )
            .await
            .expect("run axe-core");
        assert_eq!(
            found.as_array().map(Vec::len),
            Some(0),
            "serious or critical accessibility violations on {page}: {found:#}"
        );
    }

    /// Fills in and sends the sign-in form (whatever the outcome).
    pub async fn submit_sign_in(&self, email: &str, password: &str) {
        self.goto("/account/signin").await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("#signin").await;
    }

    /// Signs in and waits until the page shows the person signed in.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.submit_sign_in(email, password).await;
        self.until("signed in", Duration::from_secs(10), async |b| {
            b.count("nav.top form[action='/account/signout']").await == 1
        })
        .await;
    }

    /// Signs out from the top navigation and waits for the sign-in link.
    pub async fn sign_out(&self) {
        self.click("nav.top form[action='/account/signout'] button")
            .await;
        self.find("a[href='/account/signin']").await;
    }

    pub async fn cookie(&self, name: &str) -> Option<String> {
        self.client
            .get_named_cookie(name)
            .await
            .ok()
            .map(|c| c.value().to_string())
    }
}

/// Waits until the storefront's search finds `q`.
pub async fn until_searchable(app: &TestApp, q: &str) {
    agora_testkit::eventually(Duration::from_secs(30), || async {
        let r: Value = app
            .http
            .get(format!("{}/store/search", app.base))
            .query(&[("q", q)])
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (r["total"].as_u64()? > 0).then_some(())
    })
    .await
    .unwrap_or_else(|_| panic!("{q} never became searchable"));
}
