//! Test support for callgrid's end-to-end suites: start real `callgrid`
//! node processes on free loopback ports, talk to them over gRPC, stop
//! them with SIGTERM or SIGKILL, restart them on the same data directory,
//! and wait on events with bounded timeouts (never on sleeps).
//!
//! Written once, used by every suite in `tests/tests/`.
//!
//! # Layout
//! This file starts, stops and talks to one node; [`cluster`] runs several
//! on fixed loopback ports, [`netns`] in network namespaces for real
//! partitions, and [`faults`] races clients on them while injecting
//! faults. `expect` waits on a refusal or a stream event; `requests` are
//! typed shorthands. The real software the suites drive: [`sipp`] and
//! [`baresip`] as phones, [`browser`] for the console, [`prometheus`] as a
//! scraper; [`pki`] makes certificates for the secure-mode suites.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use callgrid_proto::v1;
use tonic::transport::Channel;

pub use callgrid_proto::v1 as api;

pub mod cluster;
pub mod faults;
pub mod netns;
pub mod pki;
pub mod prereq;
pub mod routing;

mod expect;
mod requests;

pub use expect::*;
pub use requests::*;

pub mod baresip;
pub mod browser;
pub mod prometheus;
pub mod sipp;

/// How long a node may take to start serving.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The default bound for waiting on one event.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

/// Where cargo put the workspace binaries (`target/debug` or `target/release`).
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CALLGRID_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // The test executable lives in <target>/<profile>/deps/.
    let exe = std::env::current_exe().expect("the test knows its own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executables live in <target>/<profile>/deps")
        .to_path_buf()
}

/// The path of a workspace binary, which `cargo test --workspace` builds.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` (or `cargo test --workspace`) first",
        path.display()
    );
    path
}

/// How to start a node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// `--timer-scale`: 0.01 turns a 300 s park timeout into 3 s.
    pub timer_scale: f64,
    pub node_id: u64,
    pub extra_args: Vec<String>,
    /// Run the node inside this network namespace (see [`netns`]).
    pub netns: Option<String>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            timer_scale: 1.0,
            node_id: 1,
            extra_args: Vec::new(),
            netns: None,
        }
    }
}

/// A running `callgrid serve` process. Killed when dropped.
pub struct Node {
    child: Option<Child>,
    pub grpc: SocketAddr,
    pub metrics: SocketAddr,
    /// The embedded SIP edge (UDP and TCP), unless started with `--sip off`.
    pub sip: Option<SocketAddr>,
    /// The browser console (HTTP), unless started with `--http off`.
    pub http: Option<SocketAddr>,
    pub data_dir: PathBuf,
    options: NodeOptions,
    log: Arc<Mutex<String>>,
}

fn field(line: &str, key: &str) -> Option<SocketAddr> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(key))
        .and_then(|v| v.trim_matches('"').parse().ok())
}

impl Node {
    /// Starts a node on free loopback ports with its data in `data_dir`.
    pub fn start(data_dir: &Path, options: NodeOptions) -> Node {
        let log = Arc::new(Mutex::new(String::new()));
        let mut node = Node {
            child: None,
            grpc: "127.0.0.1:0".parse().expect("literal address"),
            metrics: "127.0.0.1:0".parse().expect("literal address"),
            sip: None,
            http: None,
            data_dir: data_dir.to_path_buf(),
            options,
            log,
        };
        node.spawn();
        node
    }

    fn spawn(&mut self) {
        let mut cmd = match &self.options.netns {
            // `ip netns exec` execs in place: the pid is the node's own.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(binary("callgrid"));
                c
            }
            None => Command::new(binary("callgrid")),
        };
        cmd.arg("serve")
            // Free ports unless the caller pinned them (a cluster member must
            // keep its address across restarts: it is in the membership).
            .args(if self.options.extra_args.iter().any(|a| a == "--listen") {
                &[][..]
            } else {
                &["--listen", "127.0.0.1:0"][..]
            })
            .args(["--metrics", "127.0.0.1:0"])
            // Every node has its own SIP edge on a free port (the default,
            // 5060, is one per machine).
            .args(if self.options.extra_args.iter().any(|a| a == "--sip") {
                &[][..]
            } else {
                &["--sip", "127.0.0.1:0"][..]
            })
            // And its own console (the default, 7780, is one per machine).
            .args(if self.options.extra_args.iter().any(|a| a == "--http") {
                &[][..]
            } else {
                &["--http", "127.0.0.1:0"][..]
            })
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--node-id", &self.options.node_id.to_string()])
            .args(["--timer-scale", &self.options.timer_scale.to_string()])
            .args(&self.options.extra_args)
            .env("RUST_LOG", "info,openraft=warn,rsipstack=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("callgrid starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (ready_tx, ready_rx) = mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("callgrid serving") {
                    let _ = ready_tx.send((
                        field(&line, "grpc="),
                        field(&line, "metrics="),
                        field(&line, "sip="),
                        field(&line, "http="),
                    ));
                }
                let mut log = log.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        self.child = Some(child);
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok((Some(grpc), Some(metrics), sip, http)) => {
                self.grpc = grpc;
                self.metrics = metrics;
                self.sip = sip;
                self.http = http;
            }
            _ => panic!(
                "callgrid did not start serving in time; its log:\n{}",
                self.log()
            ),
        }
    }

    /// One scrape of the node's `/metrics` page (HTTP/1.0, no client library).
    pub async fn scrape_metrics(&self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut http = tokio::net::TcpStream::connect(self.metrics)
            .await
            .expect("metrics port");
        http.write_all(b"GET /metrics HTTP/1.0\r\nHost: callgrid\r\n\r\n")
            .await
            .expect("request");
        let mut page = String::new();
        http.read_to_string(&mut page).await.expect("response");
        page
    }

    /// Everything the node has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// A channel if the node accepts connections now.
    pub async fn try_channel(&self) -> Option<Channel> {
        Channel::from_shared(self.endpoint())
            .ok()?
            .connect_timeout(Duration::from_secs(2))
            // A paused (SIGSTOPped) node accepts the TCP connection and
            // then never answers: every request on a probe gives up.
            .timeout(Duration::from_secs(3))
            .connect()
            .await
            .ok()
    }

    /// True while the process runs (it has not exited or been killed).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().map(|s| s.is_none()).unwrap_or(false))
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.endpoint())
            .expect("valid endpoint")
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .expect("connects to the node")
    }

    pub async fn clients(&self) -> Clients {
        Clients::new(self.channel().await)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("node is running").id()
    }

    /// Sends `signal` (e.g. "TERM", "KILL", "STOP", "CONT") to the node.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("node is running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait works") {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node did not exit within {timeout:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit(Duration::from_secs(30))
    }

    /// SIGKILL: no shutdown at all.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the node again on the same data directory (new ports).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the node before restarting it");
        self.spawn();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A node on its own temporary data directory. Dropping it kills the
/// process first, then removes the directory.
pub struct TestNode {
    pub node: Node,
    _dir: tempfile::TempDir,
}

impl TestNode {
    /// Starts a node with `--timer-scale timer_scale` (0.01 turns the
    /// default 30 s ring timeout into 0.3 s) on a fresh data directory.
    pub fn start(timer_scale: f64) -> Self {
        let dir = tempfile::tempdir().expect("a temporary data directory");
        let node = Node::start(
            dir.path(),
            NodeOptions {
                timer_scale,
                ..Default::default()
            },
        );
        Self { node, _dir: dir }
    }
}

impl std::ops::Deref for TestNode {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.node
    }
}

impl std::ops::DerefMut for TestNode {
    fn deref_mut(&mut self) -> &mut Node {
        &mut self.node
    }
}

/// One typed client per service, on one channel.
#[derive(Clone)]
pub struct Clients {
    pub directory: v1::directory_client::DirectoryClient<Channel>,
    pub calls: v1::calls_client::CallsClient<Channel>,
    pub pickup: v1::pickup_client::PickupClient<Channel>,
    pub park: v1::park_client::ParkClient<Channel>,
    pub presence: v1::presence_client::PresenceClient<Channel>,
    pub cluster: v1::cluster_client::ClusterClient<Channel>,
    pub registrar: v1::registrar_client::RegistrarClient<Channel>,
}

impl Clients {
    pub fn new(channel: Channel) -> Self {
        Self {
            directory: v1::directory_client::DirectoryClient::new(channel.clone()),
            calls: v1::calls_client::CallsClient::new(channel.clone()),
            pickup: v1::pickup_client::PickupClient::new(channel.clone()),
            park: v1::park_client::ParkClient::new(channel.clone()),
            presence: v1::presence_client::PresenceClient::new(channel.clone()),
            registrar: v1::registrar_client::RegistrarClient::new(channel.clone()),
            cluster: v1::cluster_client::ClusterClient::new(channel),
        }
    }

    /// Creates `tenant` with default settings and the given extensions
    /// (voice-enabled, online, default permissions).
    pub async fn tenant_with(&mut self, tenant: &str, numbers: &[&str]) {
        self.directory
            .put_tenant(v1::PutTenantRequest {
                tenant: tenant.into(),
                config: None,
            })
            .await
            .expect("tenant created");
        for n in numbers {
            self.put_extension(
                tenant,
                v1::Extension {
                    number: (*n).into(),
                    ..Default::default()
                },
            )
            .await;
        }
    }

    pub async fn put_extension(&mut self, tenant: &str, extension: v1::Extension) {
        self.directory
            .put_extension(v1::PutExtensionRequest {
                tenant: tenant.into(),
                extension: Some(extension),
            })
            .await
            .expect("extension stored");
    }

    /// Dials `digits` from extension `from`.
    pub async fn dial(&mut self, tenant: &str, from: &str, digits: &str) -> v1::DialResponse {
        self.calls
            .dial(v1::DialRequest {
                tenant: tenant.into(),
                from: Some(v1::Party {
                    kind: Some(v1::party::Kind::Extension(from.into())),
                }),
                digits: digits.into(),
            })
            .await
            .expect("dial answered")
            .into_inner()
    }

    /// Places an ordinary call that must ring, returning its id.
    pub async fn ring(&mut self, tenant: &str, from: &str, to: &str) -> u64 {
        match self.dial(tenant, from, to).await.outcome {
            Some(v1::dial_response::Outcome::Call(c))
                if c.result == v1::CallResult::Ringing as i32 =>
            {
                c.call_id
            }
            other => panic!("call from {from} to {to} did not ring: {other:?}"),
        }
    }

    pub async fn call_info(&mut self, tenant: &str, call_id: u64) -> v1::CallInfo {
        self.calls
            .get_call(v1::GetCallRequest {
                tenant: tenant.into(),
                call_id,
            })
            .await
            .expect("call found")
            .into_inner()
            .call
            .expect("call present")
    }
}

/// Waits for the next stream item matching `want`, failing after `timeout`.
pub async fn next_matching<T, S>(
    stream: &mut S,
    timeout: Duration,
    mut want: impl FnMut(&T) -> bool,
) -> T
where
    S: futures::Stream<Item = Result<T, tonic::Status>> + Unpin,
    T: std::fmt::Debug,
{
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(item))) => {
                if want(&item) {
                    return item;
                }
                seen.push(format!("{item:?}"));
            }
            Ok(Some(Err(status))) => panic!("stream failed: {status}"),
            Ok(None) => panic!("stream ended; saw {seen:#?}"),
            Err(_) => panic!("no matching item within {timeout:?}; saw {seen:#?}"),
        }
    }
}

/// Polls `check` until it returns `Some`, failing after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
