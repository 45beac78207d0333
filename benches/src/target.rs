//! What the bench talks to: the nodes it was given, or one it started, and
//! the pool of gRPC connections to them.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context, bail};
use tonic::transport::{Channel, Endpoint};

/// How long a spawned node may take to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Log lines of a spawned node kept for error messages.
const LOG_LINES: usize = 40;
/// `--max-streams-per-client` of spawned nodes: the driver opens every
/// watch from one address, ten times the largest documented run.
const BENCH_STREAMS_PER_CLIENT: &str = "100000";
/// A unary RPC that takes longer than this counts as an error.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// A `callgrid serve` process this bench started; killed when dropped,
/// its temporary data directory removed.
pub struct SpawnedNode {
    child: Child,
    pub endpoint: String,
    /// The address of the node's embedded SIP edge (UDP and TCP).
    pub sip: Option<String>,
    _data: tempfile::TempDir,
}

impl SpawnedNode {
    /// The node's process id (for its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SpawnedNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `callgrid` binary next to this one (both are in `target/<profile>/`).
pub fn default_node_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this binary's path")?;
    let dir = exe.parent().context("this binary has a directory")?;
    Ok(dir.join("callgrid"))
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(key))
        .map(|v| v.trim_matches('"'))
}

/// Starts one node on 127.0.0.1 (free ports) with a fresh data directory
/// and waits until it logs that it is serving. With `join` (a member's
/// `host:port`) it joins that node's cluster instead of starting one;
/// `extra` goes on its command line as it is.
pub fn spawn_node(
    bin: &Path,
    timer_scale: f64,
    node_id: u64,
    join: Option<&str>,
    extra: &[String],
) -> anyhow::Result<SpawnedNode> {
    if !bin.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p callgrid-node` (or pass --node-bin)",
            bin.display()
        );
    }
    let data = tempfile::Builder::new()
        .prefix("callgrid-bench-")
        .tempdir()
        .context("creating a data directory")?;
    let mut child = Command::new(bin)
        .arg("serve")
        .args([
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--sip",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--node-id", &node_id.to_string()])
        .args(["--timer-scale", &timer_scale.to_string()])
        // Every watcher of `blf --watchers 10000` is a stream from this one
        // address, in development mode: past the default per-client cap.
        .args(["--max-streams-per-client", BENCH_STREAMS_PER_CLIENT])
        .args(join.map(|seed| ["--join", seed]).into_iter().flatten())
        .args(extra)
        .env("RUST_LOG", "warn,callgrid_node=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stderr = child.stderr.take().context("stderr is piped")?;
    let log = Arc::new(Mutex::new(VecDeque::new()));
    let (ready_tx, ready_rx) = mpsc::channel();
    {
        let log = log.clone();
        // Keeps reading after start-up so the node never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("callgrid serving") {
                    let grpc = field(&line, "grpc=").map(str::to_owned);
                    let sip = field(&line, "sip=")
                        .filter(|s| *s != "off")
                        .map(str::to_owned);
                    let _ = ready_tx.send(grpc.map(|g| (g, sip)));
                }
                let mut log = log.lock().expect("log lock");
                if log.len() == LOG_LINES {
                    log.pop_front();
                }
                log.push_back(line);
            }
        });
    }
    let mut node = SpawnedNode {
        child,
        endpoint: String::new(),
        sip: None,
        _data: data,
    };
    match ready_rx.recv_timeout(START_TIMEOUT) {
        Ok(Some((addr, sip))) => {
            node.endpoint = format!("http://{addr}");
            node.sip = sip;
            Ok(node)
        }
        _ => {
            let log: Vec<String> = log.lock().expect("log lock").iter().cloned().collect();
            bail!(
                "the spawned node did not start serving within {START_TIMEOUT:?}; its log:\n{}",
                log.join("\n")
            )
        }
    }
}

/// Waits (bounded) until the cluster behind `endpoint` has `nodes` members
/// and every one of them owns shards (with `on_leader`, one of them: the
/// leader owns them all): the spawned cluster is ready.
pub async fn wait_cluster(
    endpoint: &str,
    nodes: usize,
    on_leader: bool,
    timeout: Duration,
) -> anyhow::Result<()> {
    use callgrid_proto::v1::{StatusRequest, cluster_client::ClusterClient};
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Ok(channel) = connect(endpoint, Some(Duration::from_secs(2))).await
            && let Ok(s) = ClusterClient::new(channel).status(StatusRequest {}).await
        {
            let s = s.into_inner();
            let owning = s.membership.iter().filter(|m| m.shards > 0).count();
            if s.membership.len() == nodes && owning == if on_leader { 1 } else { nodes } {
                return Ok(());
            }
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the spawned {nodes}-node cluster did not form within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `127.0.0.1:7700` or `http://127.0.0.1:7700` as an endpoint URI.
pub fn endpoint_uri(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    }
}

async fn connect(uri: &str, rpc_timeout: Option<Duration>) -> anyhow::Result<Channel> {
    let mut endpoint = Endpoint::from_shared(uri.to_owned())
        .with_context(|| format!("{uri} is not a valid address"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    if let Some(t) = rpc_timeout {
        endpoint = endpoint.timeout(t);
    }
    endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to {uri}"))
}

/// gRPC connections to every target: each `Channel` here is its own
/// HTTP/2 connection, so racers on different channels really race over
/// different connections.
#[derive(Clone)]
pub struct Pool {
    targets: Vec<Vec<Channel>>,
}

impl Pool {
    /// Opens `per_target` connections to each endpoint. `streaming` pools
    /// carry long-lived streams and so have no per-RPC timeout.
    pub async fn connect(
        endpoints: &[String],
        per_target: usize,
        streaming: bool,
    ) -> anyhow::Result<Pool> {
        let timeout = (!streaming).then_some(RPC_TIMEOUT);
        let mut targets = Vec::with_capacity(endpoints.len());
        for uri in endpoints {
            let conns = futures::future::try_join_all(
                (0..per_target.max(1)).map(|_| connect(uri, timeout)),
            )
            .await?;
            targets.push(conns);
        }
        Ok(Pool { targets })
    }

    pub fn targets(&self) -> usize {
        self.targets.len()
    }

    pub fn per_target(&self) -> usize {
        self.targets.first().map_or(0, Vec::len)
    }

    /// Connection `conn` (modulo the pool size) to target `target` (modulo
    /// the number of targets).
    pub fn channel(&self, target: usize, conn: usize) -> Channel {
        let conns = &self.targets[target % self.targets.len()];
        conns[conn % conns.len()].clone()
    }

    /// The connection worker `slot` uses: slots go round the targets first,
    /// then round each target's connections.
    pub fn for_slot(&self, slot: usize) -> Channel {
        let t = self.targets.len();
        self.channel(slot % t, slot / t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_get_a_scheme_once() {
        assert_eq!(endpoint_uri("127.0.0.1:7700"), "http://127.0.0.1:7700");
        assert_eq!(
            endpoint_uri("http://127.0.0.1:7700"),
            "http://127.0.0.1:7700"
        );
    }

    #[test]
    fn the_serving_line_yields_the_grpc_address() {
        let line = "INFO callgrid_node::node: callgrid serving node=1 grpc=127.0.0.1:4321 metrics=127.0.0.1:9 sip=127.0.0.1:5062";
        assert_eq!(field(line, "grpc="), Some("127.0.0.1:4321"));
        assert_eq!(field(line, "sip="), Some("127.0.0.1:5062"));
    }
}
