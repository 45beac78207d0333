//! The shard-aware client against a real 3-node cluster: it learns the
//! members and the shard map, and a request it sends for a key reaches the
//! key's owner directly, so no node forwards it; the same requests sent all
//! to one node are forwarded for the keys that node does not own. A write
//! that no owner decides goes to the leader the client learnt, so no node
//! forwards its proposal either.

use std::time::Duration;

use callgrid_client::{Client, Key};
use callgrid_proto::v1::{NoopRequest, cluster_client::ClusterClient};
use callgrid_tests::cluster::TestCluster;
use callgrid_tests::eventually;
use callgrid_tests::routing::{forwarded, forwarded_proposals, ring_and_pick_up};

const T: &str = "acme";

#[tokio::test(flavor = "multi_thread")]
async fn requests_go_straight_to_their_owner_and_a_plain_client_is_forwarded() {
    let cluster = TestCluster::start(3, 1.0).await;
    let mut c = cluster.clients(0).await;
    let targets: Vec<String> = (200..232).map(|n| n.to_string()).collect();
    let mut numbers: Vec<&str> = vec!["100", "101"];
    numbers.extend(targets.iter().map(String::as_str));
    c.tenant_with(T, &numbers).await;

    let endpoints: Vec<String> = cluster.nodes.iter().map(|n| n.endpoint()).collect();
    let seeds: Vec<&str> = endpoints.iter().map(String::as_str).collect();
    let client = Client::connect(&seeds).await.expect("the client connects");
    let status = cluster.status(0).await.expect("status");
    assert_eq!(client.epoch(), status.shard_epoch);
    for target in &targets {
        let key = Key::extension(T, target).unwrap();
        let shard = callgrid_model::shard_of(&format!("{T}/ext/{target}")) as usize;
        assert_eq!(client.owner(&key), Some(status.shard_owners[shard]));
    }
    assert!(!client.refresh().await.unwrap(), "the map did not move");

    // Owners differ across the targets: some live on every node.
    let owners: std::collections::BTreeSet<u64> = targets
        .iter()
        .filter_map(|t| client.owner(&Key::extension(T, t).unwrap()))
        .collect();
    assert_eq!(owners.len(), 3, "{owners:?}");

    let before = forwarded(&cluster.nodes).await;
    for target in &targets[..16] {
        let owner = client.channel(&Key::extension(T, target).unwrap());
        ring_and_pick_up(owner, T, "101", "100", target).await;
    }
    assert_eq!(
        forwarded(&cluster.nodes).await,
        before,
        "no dial or pickup was forwarded"
    );

    // The same through node 1 alone: the dial and the pickup of every call
    // node 1 does not own are forwarded.
    let elsewhere = targets[16..]
        .iter()
        .filter(|t| client.owner(&Key::extension(T, t).unwrap()) != Some(1))
        .count();
    for target in &targets[16..] {
        let node_1 = cluster.nodes[0].channel().await.into();
        ring_and_pick_up(node_1, T, "101", "100", target).await;
    }
    eventually(
        Duration::from_secs(5),
        "the forwards to be counted",
        || async {
            (forwarded(&cluster.nodes).await >= before + 2.0 * elsewhere as f64).then_some(())
        },
    )
    .await;

    // A bare write through the client's leader is proposed where it is
    // committed, even for a client whose seed is a follower; the same
    // write sent to that follower is forwarded to the leader.
    let leader = status.leader_id.expect("a leader");
    // Node ids are 1, 2, 3 in the cluster's order.
    let follower = (0..cluster.nodes.len())
        .find(|i| *i as u64 + 1 != leader)
        .expect("a follower");
    let from_follower = Client::connect(&[endpoints[follower].as_str()])
        .await
        .expect("the client connects through a follower");
    let before = forwarded_proposals(&cluster.nodes).await;
    for _ in 0..8 {
        ClusterClient::new(from_follower.leader())
            .noop(NoopRequest {})
            .await
            .expect("a write through the leader");
    }
    assert_eq!(
        forwarded_proposals(&cluster.nodes).await,
        before,
        "no write sent to the leader was forwarded"
    );
    ClusterClient::new(from_follower.any())
        .noop(NoopRequest {})
        .await
        .expect("a write through a follower");
    assert!(
        forwarded_proposals(&cluster.nodes).await > before,
        "a follower forwards the write to the leader"
    );
}
