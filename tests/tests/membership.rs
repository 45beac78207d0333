//! Membership beyond the first three: learners, catching up from a
//! snapshot, and the epoch fence on routed decisions.

use std::time::Duration;

use callgrid_proto::internal::{DecideRequest, peer_client::PeerClient};
use callgrid_tests::cluster::{TestCluster, free_port};
use callgrid_tests::{Node, NodeOptions, api, eventually};

const T: &str = "acme";

/// Enough directory writes to pass several snapshots at `--snapshot-every 20`.
async fn many_writes(c: &mut callgrid_tests::Clients, from: u32, n: u32) {
    for i in from..from + n {
        c.put_extension(
            T,
            api::Extension {
                number: i.to_string(),
                ..Default::default()
            },
        )
        .await;
    }
}

async fn has_extension(node: &Node, number: &str) -> Option<()> {
    let mut c = node.clients().await;
    let req = api::GetExtensionRequest {
        tenant: T.into(),
        number: number.into(),
    };
    c.directory.get_extension(req).await.ok().map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_fourth_node_joins_as_a_learner_and_catches_up_from_a_snapshot() {
    let cluster = TestCluster::start_with(3, 1.0, &["--snapshot-every", "20"]).await;
    let mut c = cluster.clients(0).await;
    c.tenant_with(T, &["100"]).await;
    many_writes(&mut c, 1000, 120).await;
    let leader = cluster.leader(0).await;
    let purged = eventually(
        Duration::from_secs(10),
        "the leader to purge its log",
        || async {
            let s = cluster.status(leader).await?;
            (s.purged_index > 0).then_some(s.purged_index)
        },
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let extra_args = vec![
        "--listen".into(),
        addr,
        "--join".into(),
        cluster.addrs[1].clone(),
        "--snapshot-every".into(),
        "20".into(),
    ];
    let late = Node::start(
        dir.path(),
        NodeOptions {
            node_id: 4,
            extra_args,
            ..Default::default()
        },
    );
    eventually(
        Duration::from_secs(30),
        "the late node to have the directory",
        || has_extension(&late, "1119"),
    )
    .await;
    let s = cluster.status(0).await.unwrap();
    let me = s
        .membership
        .iter()
        .find(|m| m.node_id == 4)
        .expect("node 4 is a member");
    assert!(
        !me.voter,
        "a fourth node is a learner: 3 voters until there are 5 nodes"
    );
    assert_eq!(s.membership.iter().filter(|m| m.voter).count(), 3);
    let mine = late
        .clients()
        .await
        .cluster
        .status(api::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        mine.snapshot_index >= purged,
        "the late node got a snapshot covering the purged log ({} < {purged})",
        mine.snapshot_index
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_down_for_long_catches_up_when_it_returns() {
    let mut cluster = TestCluster::start_with(3, 1.0, &["--snapshot-every", "20"]).await;
    let mut c = cluster.clients(0).await;
    c.tenant_with(T, &["100"]).await;
    let victim = (cluster.leader(0).await + 1) % 3;
    cluster.nodes[victim].kill();
    let rest: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
    let mut c = cluster.clients(rest[0]).await;
    many_writes(&mut c, 2000, 100).await;
    cluster.nodes[victim].restart();
    eventually(
        Duration::from_secs(30),
        "the returning node to catch up",
        || has_extension(&cluster.nodes[victim], "2099"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_owner_refuses_a_decision_routed_by_a_stale_shard_epoch() {
    let cluster = TestCluster::start(3, 1.0).await;
    let mut c = cluster.clients(0).await;
    c.tenant_with(T, &["100", "101"]).await;
    let s = cluster.status(0).await.unwrap();
    assert!(s.shard_epoch >= 1);
    let owner = cluster.owner_of(0, &format!("{T}/ext/100")).await;
    let cmd = callgrid_model::Command::Noop;
    let mut peer = PeerClient::new(cluster.nodes[owner].channel().await);
    let reply = peer
        .decide(DecideRequest {
            shard_epoch: s.shard_epoch - 1,
            command: postcard::to_allocvec(&cmd).unwrap(),
        })
        .await
        .unwrap()
        .into_inner();
    let text = String::from_utf8_lossy(&reply.data);
    // postcard encodes the enum variant index first: 1 is StaleEpoch.
    assert_eq!(
        reply.data.first(),
        Some(&1),
        "stale epoch refused: {text:?}"
    );
}
