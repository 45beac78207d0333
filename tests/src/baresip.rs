//! baresip (Debian's `baresip-core`) as real softphones for the SIP edge's
//! media tests: each phone runs in its own network namespace (baresip will
//! not take its media address from `lo`), registers through the edge as
//! `<extension>@<tenant>` with digest, plays a 440 Hz tone as its
//! microphone, and is driven over its `ctrl_tcp` socket: netstring-framed
//! JSON commands (`dial`, `accept`, `hangup`, `transfer`, `callstat`), with
//! the phone's events (`CALL_ESTABLISHED`, `CALL_RTCP`, ...) arriving on the
//! same socket. Every wait is bounded; the process is killed on drop.
//!
//! What a phone says about its RTP is the evidence the tests want: a
//! `CALL_RTCP` event carries the packets it sent and received in the call,
//! and its log names the address RTP arrives from.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::EVENT_TIMEOUT;
use crate::prometheus::which;

/// The port each phone's control socket listens on, on its own address.
const CONTROL_PORT: u16 = 4444;
const MODULES: &str = "/usr/lib/baresip/modules";

/// Makes sure `baresip` and the modules the phones load are installed
/// (installing `baresip-core` with apt-get where it can); `Err` says why
/// not, for the caller to skip with.
pub fn ensure_installed() -> Result<PathBuf, String> {
    let present = || {
        which("baresip").filter(|_| {
            ["ctrl_tcp", "ausine", "aufile", "g711", "menu", "account"]
                .iter()
                .all(|m| std::path::Path::new(&format!("{MODULES}/{m}.so")).exists())
        })
    };
    if let Some(baresip) = present() {
        return Ok(baresip);
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", "baresip-core"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
    };
    let installed =
        install().map_err(|e| format!("baresip is not installed and apt-get cannot run: {e}"))?;
    if !installed.status.success() {
        // The package lists may be missing on a fresh machine.
        let _ = Command::new("apt-get").args(["update", "-q"]).output();
        let again = install().map_err(|e| format!("apt-get: {e}"))?;
        if !again.status.success() {
            return Err(format!(
                "apt-get install baresip-core failed: {}",
                String::from_utf8_lossy(&again.stderr)
            ));
        }
    }
    present().ok_or_else(|| "baresip-core installed no baresip or lacks its modules".to_string())
}

/// Who a phone is and where it lives.
pub struct PhoneSpec<'a> {
    /// The network namespace it runs in.
    pub netns: &'a str,
    /// Its address there (on the namespace's `eth0`).
    pub address: &'a str,
    pub tenant: &'a str,
    pub extension: &'a str,
    pub password: &'a str,
    /// The SIP edge it registers through (its outbound proxy).
    pub edge: SocketAddr,
}

/// What a phone counted of one call's RTP, from a `CALL_RTCP` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpCounts {
    pub sent: u64,
    pub received: u64,
    pub lost: i64,
}

/// A running baresip: one registered account, its control socket, its log.
pub struct Softphone {
    pub extension: String,
    pub address: String,
    child: Child,
    control: TcpStream,
    /// Bytes read from the control socket that do not make a frame yet.
    unread: Vec<u8>,
    /// Events read but not yet consumed by a wait.
    pending: VecDeque<Value>,
    /// Every event the phone sent, for failure messages and `saw`.
    history: Vec<Value>,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

fn netstring(text: &str) -> Vec<u8> {
    format!("{}:{text},", text.len()).into_bytes()
}

/// Appends everything `from` writes to `log`, in chunks: baresip's status
/// line is rewritten with `\r` and never ends in a newline.
fn collect(mut from: impl Read + Send + 'static, log: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            log.lock()
                .expect("log lock")
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
}

impl Softphone {
    /// Starts the phone, connects to its control socket and waits (bounded)
    /// until its registration was accepted.
    pub async fn start(spec: PhoneSpec<'_>) -> Softphone {
        let dir = tempfile::tempdir().expect("a directory for the phone's config");
        let path = dir.path();
        let config = format!(
            "poll_method epoll\n\
             sip_listen {address}:5060\n\
             net_interface eth0\n\
             net_af ipv4\n\
             audio_source ausine,440\n\
             audio_player aufile,{heard}\n\
             audio_alert aufile,/dev/null\n\
             ausrc_srate 48000\n\
             ausrc_channels 2\n\
             auplay_srate 48000\n\
             auplay_channels 2\n\
             module_path {MODULES}\n\
             module g711.so\n\
             module ausine.so\n\
             module aufile.so\n\
             module_app account.so\n\
             module_app menu.so\n\
             module_app ctrl_tcp.so\n\
             ctrl_tcp_listen {address}:{CONTROL_PORT}\n",
            address = spec.address,
            heard = path.join("heard.wav").display(),
        );
        std::fs::write(path.join("config"), config).expect("phone config written");
        let account = format!(
            "<sip:{ext}@{tenant}>;auth_user={ext};auth_pass={password};\
             outbound=\"sip:{edge}\";regint=600;answermode=manual\n",
            ext = spec.extension,
            tenant = spec.tenant,
            password = spec.password,
            edge = spec.edge,
        );
        std::fs::write(path.join("accounts"), account).expect("phone account written");

        // `ip netns exec` execs in place: the child is baresip itself.
        let mut child = Command::new("ip")
            .args(["netns", "exec", spec.netns, "baresip", "-f"])
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("baresip starts");
        let log = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().expect("stdout is piped"), log.clone());
        collect(child.stderr.take().expect("stderr is piped"), log.clone());

        let control_addr = format!("{}:{CONTROL_PORT}", spec.address);
        let deadline = Instant::now() + EVENT_TIMEOUT;
        let control = loop {
            match TcpStream::connect(&control_addr).await {
                Ok(stream) => break stream,
                Err(e) => {
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!(
                            "{}'s control socket {control_addr} never opened ({e}); its log:\n{}",
                            spec.extension,
                            log.lock().expect("log lock")
                        );
                    }
                    // Not listening yet: the process is still starting.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let phone = Softphone {
            extension: spec.extension.to_owned(),
            address: spec.address.to_owned(),
            child,
            control,
            unread: Vec::new(),
            pending: VecDeque::new(),
            history: Vec::new(),
            log,
            _dir: dir,
        };
        // "101@acme: {0/UDP/v4} 200 OK () [1 binding]"
        let registered = format!("{}@{}: {{", spec.extension, spec.tenant);
        phone
            .wait_logged(
                |log| {
                    log.lines()
                        .any(|l| l.contains(&registered) && l.contains(" 200 OK"))
                },
                "its registration accepted",
            )
            .await;
        phone
    }

    /// Everything the phone printed, without its once-per-100 ms status line.
    pub fn log(&self) -> String {
        let log = self.log.lock().expect("log lock").clone();
        log.split(['\r', '\n'])
            .map(|l| l.trim_start_matches(|c: char| c.is_whitespace()))
            .filter(|l| !l.is_empty() && !l.contains("(bit/s)"))
            .map(|l| {
                // Colour escapes around warnings.
                l.replace("\u{1b}[31m", "").replace("\u{1b}[;m", "")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The last `audio=<tx>/<rx> (bit/s)` the phone's status line showed.
    pub fn bitrates(&self) -> Option<(u64, u64)> {
        let log = self.log.lock().expect("log lock");
        let at = log.rfind(" (bit/s)")?;
        let start = log[..at].rfind("audio=")? + "audio=".len();
        let (tx, rx) = log[start..at].split_once('/')?;
        Some((tx.parse().ok()?, rx.parse().ok()?))
    }

    async fn wait_logged(&self, done: impl Fn(&str) -> bool, what: &str) {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            if done(&self.log.lock().expect("log lock")) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not log {what} within {EVENT_TIMEOUT:?}; its log:\n{}",
                self.extension,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// What went on at this phone, for a failure message.
    pub fn story(&self) -> String {
        let events: Vec<String> = self
            .history
            .iter()
            .filter(|e| e["type"] != "CALL_RTCP")
            .map(|e| format!("  {} {}", e["type"], e["param"]))
            .collect();
        format!(
            "--- {} events:\n{}\n--- {} log:\n{}",
            self.extension,
            events.join("\n"),
            self.extension,
            self.log()
        )
    }

    /// Reads one frame from the control socket, by `deadline`.
    async fn read_frame(&mut self, deadline: Instant) -> Option<Value> {
        loop {
            if let Some(colon) = self.unread.iter().position(|b| *b == b':') {
                let len: usize = std::str::from_utf8(&self.unread[..colon])
                    .ok()
                    .and_then(|l| l.parse().ok())
                    .unwrap_or_else(|| panic!("{}: a bad netstring length", self.extension));
                let end = colon + 1 + len;
                if self.unread.len() > end {
                    let frame: Value = serde_json::from_slice(&self.unread[colon + 1..end])
                        .unwrap_or_else(|e| {
                            panic!("{}: a frame that is not JSON: {e}", self.extension)
                        });
                    self.unread.drain(..=end);
                    return Some(frame);
                }
            }
            let mut buf = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.control.read(&mut buf)).await {
                Ok(Ok(0)) => panic!(
                    "{}: the control socket closed\n{}",
                    self.extension,
                    self.story()
                ),
                Ok(Ok(n)) => self.unread.extend_from_slice(&buf[..n]),
                Ok(Err(e)) => panic!("{}: control socket: {e}", self.extension),
                Err(_) => return None,
            }
        }
    }

    /// Sends a command and waits (bounded) for its response; events that
    /// arrive meanwhile are kept for the next wait.
    pub async fn command(&mut self, command: &str, params: Option<&str>) -> Value {
        let token = format!("{command}-{}", rand::random::<u32>());
        let mut request = json!({ "command": command, "token": token });
        if let Some(params) = params {
            request["params"] = json!(params);
        }
        self.control
            .write_all(&netstring(&request.to_string()))
            .await
            .expect("command sent");
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let Some(frame) = self.read_frame(deadline).await else {
                panic!(
                    "{}: no response to {command} within {EVENT_TIMEOUT:?}\n{}",
                    self.extension,
                    self.story()
                );
            };
            if frame["response"] == true && frame["token"] == token.as_str() {
                assert!(
                    frame["ok"] == true,
                    "{}: {command} failed: {frame}\n{}",
                    self.extension,
                    self.story()
                );
                return frame;
            }
            if frame["event"] == true {
                self.history.push(frame.clone());
                self.pending.push_back(frame);
            }
        }
    }

    pub async fn dial(&mut self, uri: &str) {
        self.command("dial", Some(uri)).await;
    }

    pub async fn accept(&mut self) {
        self.command("accept", None).await;
    }

    pub async fn hangup(&mut self) {
        self.command("hangup", None).await;
    }

    /// A blind transfer (REFER) of the current call to `uri`.
    pub async fn transfer(&mut self, uri: &str) {
        self.command("transfer", Some(uri)).await;
    }

    /// The phone's own account of its current call (SDP, codecs).
    pub async fn callstat(&mut self) -> String {
        let r = self.command("callstat", None).await;
        r["data"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits (bounded by `timeout`) for the next event `want` accepts;
    /// events before it are consumed.
    pub async fn wait_event_for(
        &mut self,
        what: &str,
        timeout: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(event) = self.pending.pop_front() {
                if want(&event) {
                    return event;
                }
            }
            match self.read_frame(deadline).await {
                Some(frame) if frame["event"] == true => {
                    self.history.push(frame.clone());
                    self.pending.push_back(frame);
                }
                Some(_) => {}
                None => panic!(
                    "{}: no {what} within {timeout:?}\n{}",
                    self.extension,
                    self.story()
                ),
            }
        }
    }

    /// Waits (bounded) for the next event of type `kind` (`CALL_ESTABLISHED`).
    pub async fn wait_event(&mut self, kind: &str) -> Value {
        self.wait_event_for(kind, EVENT_TIMEOUT, |e| e["type"] == kind)
            .await
    }

    /// Waits (bounded by `timeout`) for an RTCP report in which the phone
    /// both sent and received at least `packets` RTP packets in its call.
    pub async fn wait_rtp(&mut self, packets: u64, timeout: Duration) -> RtpCounts {
        let counts = |e: &Value| RtpCounts {
            sent: e["rtcp_stats"]["tx"]["sent"].as_u64().unwrap_or(0),
            received: e["rtcp_stats"]["rx"]["sent"].as_u64().unwrap_or(0),
            lost: e["rtcp_stats"]["rx"]["lost"].as_i64().unwrap_or(0),
        };
        let what = format!("RTCP report of {packets} RTP packets each way");
        let event = self
            .wait_event_for(&what, timeout, |e| {
                let c = counts(e);
                e["type"] == "CALL_RTCP" && c.sent >= packets && c.received >= packets
            })
            .await;
        counts(&event)
    }

    /// True if the phone has sent an event of type `kind` so far.
    pub fn saw(&self, kind: &str) -> bool {
        self.history.iter().any(|e| e["type"] == kind)
    }
}

impl Drop for Softphone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
