//! The peer baseline: the same race decided by etcd, as a team without
//! callgrid would decide it — a compare-and-swap on a replicated store.
//!
//! One call is a `Put(call/<slot>/<n>, "ringing")` (the dial), K racers each
//! sending `Txn(if value(key) == "ringing" then Put(key, <racer>))` at once
//! on connections of their own spread over the members (the pickups: the
//! one whose compare held won), then a `DeleteRange(key)` (the hang-up).
//! Exactly one `succeeded` per call is checked, as for callgrid. The bare
//! write is an etcd `Put`, beside callgrid's `Cluster.Noop`.
//!
//! `--peer etcd` spawns a local 3-member etcd cluster (Debian's
//! `etcd-server`, installed with apt-get where missing) on loopback, or
//! drives the members given with `--etcd URL`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use tonic::transport::{Channel, Endpoint};

use crate::cpu::Cpu;
use crate::recorder::Recorder;
use crate::report::{Check, Measured};
use crate::runner::{Budget, drive};

/// The etcd KV subset (`benches/proto/etcd_kv.proto`).
pub mod pb {
    tonic::include_proto!("etcdserverpb");
}

use pb::{
    Compare, DeleteRangeRequest, PutRequest, RequestOp, TxnRequest, compare, kv_client::KvClient,
    request_op,
};

const ONE_WINNER: &str = "etcd calls with one winner";
const NO_WINNER: &str = "etcd calls with no winner";
const SEVERAL_WINNERS: &str = "etcd calls with several winners";
const UNDECIDED: &str = "etcd calls undecided by an error";

/// How long a spawned member may take to serve.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A local etcd cluster this run started: killed, and its data removed,
/// when dropped.
pub struct EtcdCluster {
    members: Vec<Child>,
    pub endpoints: Vec<String>,
    _data: tempfile::TempDir,
}

impl EtcdCluster {
    /// The members' process ids, for their CPU time.
    pub fn pids(&self) -> Vec<u32> {
        self.members.iter().map(Child::id).collect()
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            let _ = m.kill();
            let _ = m.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `etcd` on the PATH, else installed from Debian's `etcd-server`.
fn ensure_etcd() -> anyhow::Result<PathBuf> {
    let found = || -> Option<PathBuf> {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("etcd"))
                .find(|p| p.is_file())
        })
    };
    if let Some(p) = found() {
        return Ok(p);
    }
    eprintln!("etcd is missing: installing etcd-server with apt-get");
    crate::install::debian_package("etcd-server")?;
    found().context("etcd-server installed no etcd")
}

impl EtcdCluster {
    /// Starts `n` members on loopback with etcd's defaults (fsync on every
    /// commit, as callgrid flushes before it acknowledges), and waits until
    /// the cluster takes a write.
    pub async fn spawn(n: usize) -> anyhow::Result<EtcdCluster> {
        let etcd = ensure_etcd()?;
        let data = tempfile::Builder::new()
            .prefix("callgrid-bench-etcd-")
            .tempdir()?;
        let ports: Vec<(u16, u16)> = (0..n)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<anyhow::Result<_>>()?;
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect();
        // Members join the handle as they start, so a failure part-way
        // kills the ones already running (on drop).
        let mut cluster = EtcdCluster {
            members: Vec::new(),
            endpoints: Vec::new(),
            _data: data,
        };
        for (i, (client, peer)) in ports.iter().enumerate() {
            let dir = cluster._data.path().join(format!("m{i}"));
            let log = std::fs::File::create(cluster._data.path().join(format!("m{i}.log")))?;
            let child = Command::new(&etcd)
                .args(["--name", &format!("m{i}")])
                .arg("--data-dir")
                .arg(&dir)
                .args([
                    "--listen-client-urls",
                    &format!("http://127.0.0.1:{client}"),
                ])
                .args([
                    "--advertise-client-urls",
                    &format!("http://127.0.0.1:{client}"),
                ])
                .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
                .args([
                    "--initial-advertise-peer-urls",
                    &format!("http://127.0.0.1:{peer}"),
                ])
                .args(["--initial-cluster", &initial.join(",")])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", "callgrid-bench"])
                // A long run must not fill etcd's space quota with history.
                .args(["--auto-compaction-mode", "revision"])
                .args(["--auto-compaction-retention", "10000"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| format!("starting {}", etcd.display()))?;
            cluster.members.push(child);
            cluster.endpoints.push(format!("http://127.0.0.1:{client}"));
        }
        cluster.wait_ready().await?;
        Ok(cluster)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        for endpoint in &self.endpoints {
            loop {
                let put = async {
                    let mut kv = KvClient::new(connect(endpoint).await?);
                    kv.put(PutRequest {
                        key: b"callgrid-bench/ready".to_vec(),
                        value: b"1".to_vec(),
                        ..Default::default()
                    })
                    .await?;
                    anyhow::Ok(())
                };
                match put.await {
                    Ok(()) => break,
                    Err(e) if Instant::now() > deadline => {
                        let logs = self.logs();
                        anyhow::bail!(
                            "etcd at {endpoint} took no write within {START_TIMEOUT:?}: {e}\n{logs}"
                        )
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
        Ok(())
    }

    fn logs(&self) -> String {
        (0..self.members.len())
            .filter_map(|i| {
                let path = self._data.path().join(format!("m{i}.log"));
                std::fs::read_to_string(path).ok()
            })
            .map(|l| l.lines().rev().take(5).collect::<Vec<_>>().join("\n"))
            .collect::<Vec<_>>()
            .join("\n--\n")
    }
}

async fn connect(endpoint: &str) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(endpoint.to_owned())?
        .tcp_nodelay(true)
        .connect()
        .await?)
}

/// `n` connections, spread over `endpoints` in turn.
async fn connections(endpoints: &[String], n: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(n);
    for i in 0..n {
        channels.push(connect(&endpoints[i % endpoints.len()]).await?);
    }
    Ok(channels)
}

/// The peer's side of a run.
pub struct PeerRace {
    /// Calls decided with exactly one winner per second.
    pub decided_per_sec: f64,
    pub racer: Measured,
    pub winner: Measured,
    pub check: Check,
    pub put: Measured,
    pub rec: Recorder,
    /// CPU time the race took: the members (when this run spawned them)
    /// and this driver.
    pub cpu: Cpu,
}

/// The race, then the bare write, against the etcd members at `endpoints`
/// (whose processes are `pids`, when this run spawned them).
pub async fn race(
    endpoints: &[String],
    pids: &[u32],
    concurrency: usize,
    racers: usize,
    budget: Budget,
    write_for: Duration,
) -> anyhow::Result<PeerRace> {
    let racer_channels = connections(endpoints, concurrency * racers).await?;
    let caller_channels = connections(endpoints, concurrency).await?;
    eprintln!(
        "peer: etcd race ({racers} racers) at {} member(s)",
        endpoints.len()
    );
    let cpu_before = Cpu::now(pids);
    let (rec, elapsed) = drive("etcd race", concurrency, budget, |slot, work| {
        let caller = KvClient::new(caller_channels[slot].clone());
        let racers: Vec<_> = (0..racers)
            .map(|r| KvClient::new(racer_channels[slot * racers + r].clone()))
            .collect();
        worker(slot, caller, racers, work)
    })
    .await?;
    let cpu = Cpu::now(pids).since(&cpu_before);
    let decided = rec.counter(ONE_WINNER);
    let (none, several, undecided) = (
        rec.counter(NO_WINNER),
        rec.counter(SEVERAL_WINNERS),
        rec.counter(UNDECIDED),
    );
    let check = Check::new(
        "etcd: exactly one winner per call",
        none == 0 && several == 0 && undecided == 0 && decided > 0,
        format!(
            "{} calls raced: {decided} with one succeeded Txn, {none} with none, {several} with \
             several, {undecided} undecided (gRPC error)",
            decided + none + several + undecided
        ),
    );
    let racer = Measured::of(
        "etcd race Txn",
        "each racer's compare-and-swap Txn",
        &rec,
        "etcd: txn",
        elapsed,
    );
    let winner = Measured::of(
        "etcd race Txn (winner)",
        "the winning racer's Txn",
        &rec,
        "etcd: txn (winner)",
        elapsed,
    );
    let put = bare_write(&caller_channels, concurrency, write_for).await?;
    Ok(PeerRace {
        decided_per_sec: decided as f64 / elapsed.as_secs_f64().max(1e-9),
        racer,
        winner,
        check,
        put,
        rec,
        cpu,
    })
}

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// The compare-and-swap of one racer: the call is still ringing, so this
/// racer takes it.
fn take_if_ringing(key: &str, racer: usize) -> TxnRequest {
    TxnRequest {
        compare: vec![Compare {
            result: compare::CompareResult::Equal as i32,
            target: compare::CompareTarget::Value as i32,
            key: key.as_bytes().to_vec(),
            target_union: Some(compare::TargetUnion::Value(b"ringing".to_vec())),
        }],
        success: vec![RequestOp {
            request: Some(request_op::Request::RequestPut(put(
                key,
                &format!("answered-by-{racer}"),
            ))),
        }],
        failure: vec![],
    }
}

async fn worker(
    slot: usize,
    mut caller: KvClient<Channel>,
    racers: Vec<KvClient<Channel>>,
    work: std::sync::Arc<crate::runner::Work>,
) -> Recorder {
    let mut rec = Recorder::default();
    let mut n = 0u64;
    while work.next().is_some() {
        n += 1;
        let key = format!("call/{slot}/{n}");
        if rec
            .rpc("etcd: put (ring)", caller.put(put(&key, "ringing")))
            .await
            .is_none()
        {
            work.finished();
            continue;
        }
        let started = Instant::now();
        let attempts = racers.iter().enumerate().map(|(r, client)| {
            let mut client = client.clone();
            let txn = take_if_ringing(&key, r);
            async move {
                let start = Instant::now();
                (client.txn(txn).await, start.elapsed())
            }
        });
        let results = futures::future::join_all(attempts).await;
        rec.latency("etcd: decision (all racers answered)", started.elapsed());
        let (mut winners, mut errored) = (0, false);
        for (result, elapsed) in results {
            match result {
                Ok(r) => {
                    rec.latency("etcd: txn", elapsed);
                    if r.into_inner().succeeded {
                        winners += 1;
                        rec.latency("etcd: txn (winner)", elapsed);
                    }
                }
                Err(status) => {
                    rec.error("etcd: txn", &status);
                    errored = true;
                }
            }
        }
        rec.count(
            match winners {
                1 => ONE_WINNER,
                0 if errored => UNDECIDED,
                0 => NO_WINNER,
                _ => SEVERAL_WINNERS,
            },
            1,
        );
        let delete = caller.delete_range(DeleteRangeRequest {
            key: key.into_bytes(),
            ..Default::default()
        });
        rec.rpc("etcd: delete (hang-up)", delete).await;
        work.finished();
    }
    rec
}

async fn bare_write(
    channels: &[Channel],
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Measured> {
    let (rec, elapsed) = drive(
        "etcd put",
        concurrency,
        Budget::For(duration),
        |slot, work| {
            let mut kv = KvClient::new(channels[slot].clone());
            async move {
                let mut rec = Recorder::default();
                let key = format!("bare-write/{slot}");
                while work.next().is_some() {
                    rec.rpc("etcd_put", kv.put(put(&key, "x"))).await;
                    work.finished();
                }
                rec
            }
        },
    )
    .await?;
    Ok(Measured::of(
        "etcd_put",
        "etcd Put of one key (one committed, fsynced write)",
        &rec,
        "etcd_put",
        elapsed,
    ))
}

/// The members to race against: `given` if any, else a spawned 3-member
/// cluster (kept alive by the returned handle).
pub async fn members(given: &[String]) -> anyhow::Result<(Vec<String>, Option<EtcdCluster>)> {
    if !given.is_empty() {
        let endpoints = given
            .iter()
            .map(|e| {
                if e.starts_with("http") {
                    e.clone()
                } else {
                    format!("http://{e}")
                }
            })
            .collect();
        return Ok((endpoints, None));
    }
    let cluster = EtcdCluster::spawn(3).await?;
    eprintln!(
        "peer: spawned a 3-member etcd cluster at {:?}",
        cluster.endpoints
    );
    Ok((cluster.endpoints.clone(), Some(cluster)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn a_racers_txn_compares_the_value_and_puts_its_name() {
        let txn = take_if_ringing("call/0/1", 2);
        let c = &txn.compare[0];
        assert_eq!(c.result, compare::CompareResult::Equal as i32);
        assert_eq!(c.target, compare::CompareTarget::Value as i32);
        assert_eq!(
            c.target_union,
            Some(compare::TargetUnion::Value(b"ringing".to_vec()))
        );
        match &txn.success[0].request {
            Some(request_op::Request::RequestPut(p)) => {
                assert_eq!(p.value, b"answered-by-2");
                assert_eq!(p.key, b"call/0/1");
            }
            other => panic!("{other:?}"),
        }
        // Field numbers as etcd's: compare = 1, key = 3, value = 7.
        let bytes = txn.encode_to_vec();
        assert_eq!(bytes[0], 0x0a, "TxnRequest.compare is field 1");
        let compare = c.encode_to_vec();
        assert!(
            compare.windows(2).any(|w| w == [0x1a, 8]),
            "Compare.key is field 3"
        );
        assert!(
            compare.windows(2).any(|w| w == [0x3a, 7]),
            "Compare.value is field 7"
        );
    }
}
