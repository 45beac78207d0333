//! A real browser for the console suite: headless Chromium driven through
//! chromedriver (Debian's `chromium` and `chromium-driver`, installed by
//! `deploy/console/install-test-browser.sh` where missing), and the page
//! checks the suite shares. Screenshots go to `target/console-screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::prometheus::{which, workspace_root};

/// Makes sure Chromium and chromedriver are installed, running the
/// project's install script if not (once per test process, so parallel
/// tests never race for apt). `Err` says why they cannot be had, for
/// [`crate::prereq::needs`].
pub fn ensure_installed() -> Result<(), String> {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(install).clone()
}

fn installed() -> bool {
    which("chromium").is_some() && which("chromedriver").is_some()
}

fn install() -> Result<(), String> {
    if installed() {
        return Ok(());
    }
    let script = workspace_root().join("deploy/console/install-test-browser.sh");
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if installed() {
        Ok(())
    } else {
        Err(format!(
            "chromium/chromedriver not installed and {} failed ({}): {}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A chromedriver process on a free loopback port, and one headless
/// Chromium session through it. Both end when dropped.
pub struct Browser {
    pub client: fantoccini::Client,
    driver: Child,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium window of 1280×900.
    pub async fn start() -> Browser {
        let port = crate::cluster::free_port();
        let mut driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                let _ = driver.kill();
                panic!("chromedriver did not listen on {port} within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                ],
            }),
        );
        let client = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap_or_else(|e| {
            let _ = driver.kill();
            panic!("a Chromium session through chromedriver: {e}")
        });
        Browser { client, driver }
    }

    /// Saves a PNG of the window as `target/console-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = workspace_root().join("target/console-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Waits (bounded) for an element matching `css`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(timeout)
            .every(Duration::from_millis(25))
            .for_element(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css:?} within {timeout:?}: {e}"))
    }

    /// The text of the first element matching `css`, now. An element the
    /// page redrew between finding and reading it is found again.
    pub async fn text(&self, css: &str) -> String {
        let mut attempts = 3;
        loop {
            let found = self
                .client
                .find(fantoccini::Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no element {css:?}: {e}"));
            match found.text().await {
                Ok(text) => return text,
                Err(e) if attempts > 1 => {
                    attempts -= 1;
                    eprintln!("reading {css:?} again: {e}");
                }
                Err(e) => panic!("the text of {css:?}: {e}"),
            }
        }
    }

    /// How many elements match `css`, now.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(fantoccini::Locator::Css(css))
            .await
            .map_or(0, |all| all.len())
    }

    /// Waits (bounded) until `count(css) == n`.
    pub async fn wait_count(&self, css: &str, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.count(css).await;
            if now == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css:?} matched {now} elements, not {n}, within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Signs the page in with `token` (the form a node with tokens shows).
    pub async fn sign_in(&self, token: &str) {
        let input = self.wait_for("#token", Duration::from_secs(10)).await;
        input.send_keys(token).await.expect("type the token");
        self.client
            .find(fantoccini::Locator::Css("#sign-in"))
            .await
            .expect("sign-in button")
            .click()
            .await
            .expect("click sign in");
    }
}

impl Browser {
    /// Ends the Chromium session, then chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
