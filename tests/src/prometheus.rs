//! A real Prometheus server for the observability suite: Debian's
//! `prometheus` package (installed by `deploy/prometheus/install.sh`), run
//! on a free loopback port with its own config and storage in a tempdir,
//! scraping node metrics addresses; queried over its HTTP API with a plain
//! HTTP/1.0 GET (no HTTP client dependency).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The workspace root (tests/ is one level down).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// The full path of `program` on PATH, if there.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Makes sure `prometheus` and `promtool` are installed, running the
/// project's install script if they are not. `Err` says why they cannot be
/// had (no apt-get, not root, no registry): the caller skips with it.
pub fn ensure_installed() -> Result<(), String> {
    if which("prometheus").is_some() && which("promtool").is_some() {
        return Ok(());
    }
    let script = workspace_root().join("deploy/prometheus/install.sh");
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if which("prometheus").is_some() && which("promtool").is_some() {
        Ok(())
    } else {
        Err(format!(
            "prometheus/promtool not installed and {} failed ({}): {}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

pub use crate::cluster::free_port;

/// A running Prometheus server. Killed when dropped.
pub struct Prometheus {
    child: Option<Child>,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
    log: Arc<Mutex<String>>,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (node metrics addresses) as job
    /// `callgrid` every `interval`, with `rule_files` loaded, and waits
    /// (bounded) until it is ready.
    pub fn start(targets: &[SocketAddr], interval: Duration, rule_files: &[PathBuf]) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir for prometheus");
        let secs = interval.as_secs().max(1);
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let rules: Vec<String> = rule_files
            .iter()
            .map(|r| format!("  - '{}'\n", r.display()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: {secs}s\n  scrape_timeout: {secs}s\n  evaluation_interval: {secs}s\n\
             rule_files:\n{}\
             scrape_configs:\n  - job_name: callgrid\n    static_configs:\n      - targets: [{}]\n",
            rules.concat(),
            targets.join(", ")
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}")
            .parse()
            .expect("literal address");
        let mut child = Command::new(which("prometheus").expect("prometheus is installed"))
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("prometheus starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut prometheus = Prometheus {
            child: Some(child),
            addr,
            _dir: dir,
            log,
        };
        prometheus.wait_ready(Duration::from_secs(30));
        prometheus
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("prometheus exited with {status}; its log:\n{}", self.log());
            }
            if let Ok(mut s) =
                std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(200))
            {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut reply = String::new();
                if s.write_all(b"GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    .is_ok()
                    && s.read_to_string(&mut reply).is_ok()
                    && reply.starts_with("HTTP/1.0 200")
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within {timeout:?}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Everything Prometheus has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// GETs `path_and_query` and returns the parsed JSON body.
    pub async fn get(&self, path_and_query: &str) -> serde_json::Value {
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connects to prometheus");
        let request = format!(
            "GET {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("request sent");
        let mut reply = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
            .await
            .expect("prometheus answers within 10 s")
            .expect("reply read");
        let reply = String::from_utf8_lossy(&reply);
        let (_, body) = reply
            .split_once("\r\n\r\n")
            .expect("an HTTP reply has headers and a body");
        serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("GET {path_and_query}: not JSON ({e}): {reply}"))
    }

    /// Runs an instant query; returns the `data.result` vector, panicking
    /// on a query error (which names the bad expression).
    pub async fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        let body = self
            .get(&format!("/api/v1/query?query={}", percent_encode(expr)))
            .await;
        assert_eq!(body["status"], "success", "query {expr:?} failed: {body}");
        body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The value of a one-sample instant query, if it has a sample.
    pub async fn scalar(&self, expr: &str) -> Option<f64> {
        let result = self.query(expr).await;
        result
            .first()
            .and_then(|s| s["value"][1].as_str())
            .and_then(|v| v.parse().ok())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Percent-encodes a query-string value (RFC 3986 unreserved kept).
pub fn percent_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 3);
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
