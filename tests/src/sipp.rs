//! SIPp, the SIP traffic generator (Debian's `sip-tester`), as the phones
//! of the SIP edge's tests: each run plays one scenario of `tests/sip/` as
//! one phone, bounded in time, and leaves its log (`<log>` actions) and
//! errors in files the test reads.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::prometheus::{which, workspace_root};

/// Makes sure `sipp` is installed (installing `sip-tester` with apt-get
/// where it can); `Err` says why not, for the caller to skip with.
pub fn ensure_installed() -> Result<PathBuf, String> {
    // Once per test process: parallel tests must not race for apt-get.
    static INSTALLED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(install).clone()
}

fn install() -> Result<PathBuf, String> {
    if let Some(sipp) = which("sipp") {
        return Ok(sipp);
    }
    let installed = Command::new("apt-get")
        .args(["install", "-y", "-q", "sip-tester"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|e| format!("sipp is not installed and apt-get cannot run: {e}"))?;
    if !installed.status.success() {
        // The package lists may be missing on a fresh machine.
        let _ = Command::new("apt-get").args(["update", "-q"]).output();
        let again = Command::new("apt-get")
            .args(["install", "-y", "-q", "sip-tester"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .map_err(|e| format!("apt-get: {e}"))?;
        if !again.status.success() {
            return Err(format!(
                "apt-get install sip-tester failed: {}",
                String::from_utf8_lossy(&again.stderr)
            ));
        }
    }
    which("sipp").ok_or_else(|| "sip-tester installed no sipp".to_string())
}

/// A free UDP port on loopback, for one phone.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

/// One phone: a SIPp instance bound to its own port.
pub struct Phone {
    /// The loopback address it sends from and listens on (127.0.0.1 unless
    /// a test needs a second source address).
    pub bind_ip: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub tenant: String,
    edge: SocketAddr,
    dir: tempfile::TempDir,
}

/// A SIPp run in progress; `wait` bounds it.
pub struct Run {
    child: Child,
    log: PathBuf,
    errors: PathBuf,
}

/// What a finished run left.
#[derive(Debug)]
pub struct Finished {
    pub success: bool,
    /// The scenario's `<log>` lines.
    pub log: String,
    /// SIPp's own account of what went wrong, if anything.
    pub errors: String,
}

impl Phone {
    pub fn new(edge: SocketAddr, tenant: &str, user: &str, password: &str) -> Phone {
        Phone {
            bind_ip: "127.0.0.1".into(),
            port: free_udp_port(),
            user: user.into(),
            password: password.into(),
            tenant: tenant.into(),
            edge,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn scenario(name: &str) -> PathBuf {
        workspace_root().join("tests/sip").join(name)
    }

    /// Starts `scenario` as this phone; `service` is the request URI's user
    /// (the digits dialled), `extra` more SIPp arguments.
    pub fn start(&self, scenario: &str, service: &str, extra: &[&str]) -> Run {
        let stem = Path::new(scenario)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("run");
        let nonce: u32 = rand::random();
        let log = self.dir.path().join(format!("{stem}-{nonce}.log"));
        let errors = self.dir.path().join(format!("{stem}-{nonce}.err"));
        let child = Command::new("sipp")
            .arg(self.edge.to_string())
            .args(["-sf"])
            .arg(Self::scenario(scenario))
            .args(["-i", &self.bind_ip, "-p", &self.port.to_string()])
            .args(["-m", "1", "-timeout", "20s", "-timeout_error", "-nostdin"])
            .args(["-key", "domain", &self.tenant, "-key", "caller", &self.user])
            .args(["-au", &self.user, "-ap", &self.password, "-s", service])
            .args(["-trace_logs", "-log_file"])
            .arg(&log)
            .args(["-trace_err", "-error_file"])
            .arg(&errors)
            .args(extra)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp starts");
        Run { child, log, errors }
    }

    /// Plays `scenario` to its end.
    pub fn play(&self, scenario: &str, service: &str) -> Finished {
        self.start(scenario, service, &[]).wait()
    }

    /// Registers this phone (its address is where it listens).
    pub fn register(&self) {
        let done = self.play("register.xml", &self.user);
        assert!(done.success, "{} did not register: {done:?}", self.user);
    }
}

impl Run {
    /// The scenario's `<log>` lines so far.
    pub fn log_so_far(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until the scenario has logged `text`: an event,
    /// such as an INVITE reaching the phone.
    pub fn wait_logged(&self, text: &str, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if std::fs::read_to_string(&self.log).is_ok_and(|l| l.contains(text)) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the phone did not log {text:?} within {timeout:?}; errors: {}",
                std::fs::read_to_string(&self.errors).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the scenario to end (SIPp's own `-timeout` bounds it at 20
    /// s; this waits 30 s before killing it).
    pub fn wait(mut self) -> Finished {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("sipp status") {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Finished {
            success: status.is_some_and(|s| s.success()),
            log: std::fs::read_to_string(&self.log).unwrap_or_default(),
            errors: std::fs::read_to_string(&self.errors).unwrap_or_default(),
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Starts `pickers` dialling `digits` at once and waits for them all:
/// asserts exactly one got 200 OK and every other lost the race
/// (410, `ALREADY_ANSWERED`); returns the winner's index.
pub fn race(pickers: &[Phone], digits: &str) -> usize {
    let runs: Vec<Run> = pickers
        .iter()
        .map(|p| p.start("pickup.xml", digits, &[]))
        .collect();
    let results: Vec<Finished> = runs.into_iter().map(Run::wait).collect();
    let winners: Vec<usize> = (0..results.len())
        .filter(|i| results[*i].log.contains("RESULT 200"))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one 200 OK: {results:#?}");
    for (i, r) in results.iter().enumerate() {
        assert!(r.success, "picker {i}: {r:?}");
        if i != winners[0] {
            assert!(
                r.log.contains("RESULT 410 PICKUP_RESULT_ALREADY_ANSWERED"),
                "{r:?}"
            );
        }
    }
    winners[0]
}

/// Who answered the call that alerted the extension whose notifications
/// `notices` streams, as its stopped alert names them.
pub async fn answered_by(notices: &mut tonic::Streaming<crate::api::Notification>) -> String {
    use crate::api::notification::Kind;
    let stopped = crate::next_matching(notices, Duration::from_secs(10), |n: &crate::api::Notification| {
        matches!(&n.kind, Some(Kind::AlertStopped(s)) if !s.answered_by.is_empty())
    })
    .await;
    match stopped.kind {
        Some(Kind::AlertStopped(s)) => s.answered_by,
        _ => unreachable!("matched an answered alert"),
    }
}
