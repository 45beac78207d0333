//! Multi-node scaffolding: a cluster of real `callgrid` processes on
//! loopback, each on a fixed port (a member's address is part of the Raft
//! membership, so it must survive restarts), and the racing helpers the
//! cluster suites share.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use callgrid_model::{SHARD_COUNT, shard_of};
use tempfile::TempDir;

use crate::netns::Netns;
use crate::{Clients, Node, NodeOptions, api, eventually};

/// A free loopback port for a server that must keep its address across a
/// restart. It is taken below the kernel's ephemeral range (32768 up), so no
/// client connection of another test can be given it while its node is
/// down; within this process no port is handed out twice.
pub fn free_port() -> u16 {
    const LOW: u16 = 20_000;
    const SPAN: u16 = 12_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Test binaries of one run start at different offsets.
    let start = (std::process::id() % u32::from(SPAN)) as u16;
    for _ in 0..SPAN {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LOW + (start.wrapping_add(offset.wrapping_mul(7)) % SPAN);
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free loopback port in {LOW}..{}", LOW + SPAN)
}

/// N nodes, node `i` (0-based) with Raft id `i + 1`.
pub struct TestCluster {
    pub nodes: Vec<Node>,
    pub addrs: Vec<String>,
    /// Started with `--shard-placement leader`: the leader holds every
    /// shard, and the other nodes none.
    pub owners_on_leader: bool,
    _dirs: Vec<TempDir>,
}

impl TestCluster {
    /// Starts node 1, then joins the others to it, and waits until every
    /// node is a member and owns its share of the shards.
    pub async fn start(n: usize, timer_scale: f64) -> TestCluster {
        Self::start_with(n, timer_scale, &[]).await
    }

    pub async fn start_with(n: usize, timer_scale: f64, extra: &[&str]) -> TestCluster {
        Self::start_in(None, n, timer_scale, extra).await
    }

    /// Like [`start_with`](Self::start_with), each node in its own network
    /// namespace of `net` (so partitions are real) when `net` is given.
    pub async fn start_in(
        net: Option<&Netns>,
        n: usize,
        timer_scale: f64,
        extra: &[&str],
    ) -> TestCluster {
        let addrs: Vec<String> = (0..n)
            .map(|i| match net {
                Some(net) => format!("{}:7700", net.ip(i)),
                None => format!("127.0.0.1:{}", free_port()),
            })
            .collect();
        let mut dirs = Vec::new();
        let mut nodes = Vec::new();
        for (i, addr) in addrs.iter().enumerate() {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut extra_args = vec!["--listen".to_string(), addr.clone()];
            if i > 0 {
                extra_args.extend(["--join".to_string(), addrs[0].clone()]);
            }
            extra_args.extend(extra.iter().map(|s| s.to_string()));
            let options = NodeOptions {
                timer_scale,
                node_id: i as u64 + 1,
                extra_args,
                netns: net.map(|net| net.name(i)),
            };
            nodes.push(Node::start(dir.path(), options));
            dirs.push(dir);
        }
        let cluster = TestCluster {
            nodes,
            addrs,
            owners_on_leader: extra
                .windows(2)
                .any(|w| w == ["--shard-placement", "leader"]),
            _dirs: dirs,
        };
        let all: Vec<usize> = (0..n).collect();
        cluster.wait_converged(&all, Duration::from_secs(60)).await;
        cluster
    }

    pub async fn clients(&self, i: usize) -> Clients {
        self.nodes[i].clients().await
    }

    pub async fn status(&self, i: usize) -> Option<api::StatusResponse> {
        let mut c = Clients::new(self.nodes[i].try_channel().await?);
        c.cluster
            .status(api::StatusRequest {})
            .await
            .ok()
            .map(|r| r.into_inner())
    }

    /// Panics with the log of any node whose process has exited on its own.
    pub fn assert_alive(&mut self) {
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if !node.is_running() {
                panic!("node {} exited; its log:\n{}", i + 1, node.log());
            }
        }
    }

    /// Waits until every node in `live` agrees on a leader among them and
    /// on a shard map that gives every shard to one of them: spread so
    /// that each has some, or, under leader placement, all on the leader.
    pub async fn wait_converged(&self, live: &[usize], timeout: Duration) -> api::StatusResponse {
        let ids: Vec<u64> = live.iter().map(|i| *i as u64 + 1).collect();
        eventually(timeout, "the cluster to converge", || async {
            let mut first: Option<api::StatusResponse> = None;
            for i in live {
                let s = self.status(*i).await?;
                let leader = s.leader_id?;
                if !ids.contains(&leader) {
                    return None;
                }
                let owned: u32 = s
                    .membership
                    .iter()
                    .filter(|m| ids.contains(&m.node_id))
                    .map(|m| m.shards)
                    .sum();
                let placed = |m: &api::ClusterMember| {
                    if self.owners_on_leader {
                        (m.node_id == leader) == (m.shards == SHARD_COUNT)
                    } else {
                        m.shards > 0
                    }
                };
                if owned != SHARD_COUNT
                    || !s
                        .membership
                        .iter()
                        .filter(|m| ids.contains(&m.node_id))
                        .all(placed)
                {
                    return None;
                }
                if let Some(f) = &first {
                    if f.leader_id != s.leader_id || f.shard_epoch != s.shard_epoch {
                        return None;
                    }
                } else {
                    first = Some(s);
                }
            }
            first
        })
        .await
    }

    /// The first answer to a status request, `observer` first, then the others.
    async fn any_status(&self, observer: usize) -> api::StatusResponse {
        eventually(
            Duration::from_secs(30),
            "a node to answer status",
            || async {
                for i in (0..self.nodes.len()).map(|k| (observer + k) % self.nodes.len()) {
                    if let Some(s) = self.status(i).await.filter(|s| s.leader_id.is_some()) {
                        return Some(s);
                    }
                }
                None
            },
        )
        .await
    }

    /// The index of the node that leads now, as `observer` (or, if it does
    /// not answer, another node) sees it.
    pub async fn leader(&self, observer: usize) -> usize {
        let s = self.any_status(observer).await;
        s.leader_id.expect("a leader") as usize - 1
    }

    /// The index of the node owning the shard of `key` (`acme/ext/102`),
    /// under the shard map `observer` has applied.
    pub async fn owner_of(&self, observer: usize, key: &str) -> usize {
        let s = self.any_status(observer).await;
        let owner = s
            .shard_owners
            .get(shard_of(key) as usize)
            .copied()
            .expect("shards are assigned");
        owner as usize - 1
    }
}

/// The tenant the cluster suites use: callee `100`, caller `200`, and
/// pickers `101..=100+pickers`, all with default permissions.
pub async fn racing_tenant(c: &mut Clients, tenant: &str, pickers: usize) -> Vec<String> {
    let mut numbers = vec!["100".to_string(), "200".to_string()];
    let racers: Vec<String> = (1..=pickers).map(|i| (100 + i).to_string()).collect();
    numbers.extend(racers.iter().cloned());
    let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
    c.tenant_with(tenant, &refs).await;
    racers
}

/// What one racer got: `Ok(picked up?)`, or the gRPC error (indeterminate).
pub type RaceResult = Result<bool, tonic::Status>;

/// One round: `200` calls `100` through `dialer`, then every racer (each on
/// its own connection, to the node it was made for) tries a directed pickup
/// of `100` at once. Returns the call id and each racer's result; losers
/// must report ALREADY_ANSWERED, anything else panics.
pub async fn race_round(
    dialer: &mut Clients,
    racers: &[(Clients, String)],
    tenant: &str,
) -> (u64, Vec<RaceResult>) {
    let call = dialer.ring(tenant, "200", "100").await;
    let tasks = racers.iter().cloned().map(|(mut c, picker)| {
        let tenant = tenant.to_string();
        tokio::spawn(async move {
            let r = c
                .pickup
                .directed_pickup(api::DirectedPickupRequest {
                    tenant,
                    picker,
                    target: "100".into(),
                })
                .await?
                .into_inner();
            if r.result == api::PickupResult::PickedUp as i32 {
                assert_eq!(r.call_id, call, "the winner picked up this round's call");
                Ok(true)
            } else {
                assert_eq!(
                    r.result,
                    api::PickupResult::AlreadyAnswered as i32,
                    "a loser is told ALREADY_ANSWERED: {r:?}"
                );
                Ok(false)
            }
        })
    });
    let results = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|j| j.expect("racer task"))
        .collect();
    (call, results)
}

/// The caller (`200`, as [`racing_tenant`] makes it) hangs up a raced call.
pub async fn hang_up(c: &mut Clients, tenant: &str, call: u64) {
    c.calls
        .hangup(api::HangupRequest {
            tenant: tenant.to_string(),
            call_id: call,
            by: Some(crate::ext("200")),
        })
        .await
        .expect("hangup answered");
}

/// Checks one round: exactly one winner, and the call says so.
pub async fn assert_one_winner(
    observer: &mut Clients,
    tenant: &str,
    call: u64,
    results: &[RaceResult],
    racers: &[(Clients, String)],
) {
    let winners: Vec<&String> = results
        .iter()
        .zip(racers)
        .filter(|(r, _)| matches!(r, Ok(true)))
        .map(|(_, (_, p))| p)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one winner for call {call}: {results:?}"
    );
    let winner = winners[0].clone();
    let info = eventually(Duration::from_secs(10), "the answer to be visible", || {
        let mut observer = observer.clone();
        let tenant = tenant.to_string();
        async move {
            let info = observer
                .calls
                .get_call(api::GetCallRequest {
                    tenant,
                    call_id: call,
                })
                .await
                .ok()?
                .into_inner()
                .call?;
            (info.state != api::CallState::Ringing as i32).then_some(info)
        }
    })
    .await;
    assert_eq!(info.answered_by, winner, "the call names the one winner");
}
