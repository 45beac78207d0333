//! Joining, adding and removing nodes.
//!
//! A node started with `--join` asks any member to add it; the leader adds
//! it as a learner (it catches up from the log or a snapshot), then makes
//! it a voter while the cluster has fewer voters than it wants: 3 voters
//! from 3 nodes, 5 from 5; further nodes stay non-voting learners.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use callgrid_proto::internal::JoinRequest;
use callgrid_raft::CallgridRaft;
use openraft::{BasicNode, ChangeMembers};

use super::Peers;

/// How many voters a cluster of `nodes` members wants.
pub fn voters_wanted(nodes: usize) -> usize {
    match nodes {
        n if n >= 5 => 5,
        n if n >= 3 => 3,
        n => n,
    }
}

/// Asks the node at `seed` to add this node, retrying until accepted or
/// `timeout` passes.
pub async fn join(
    peers: &Peers,
    seed: &str,
    node_id: u64,
    addr: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        let request = JoinRequest {
            node_id,
            addr: addr.to_owned(),
        };
        match peers.client(seed)?.join(request).await {
            Ok(reply) if reply.get_ref().accepted => {
                tracing::info!(seed, node = node_id, "joined the cluster");
                return Ok(());
            }
            Ok(reply) => last = reply.into_inner().reason,
            Err(status) => last = status.message().to_owned(),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    anyhow::bail!("--join {seed}: not accepted within {timeout:?}: {last}")
}

/// On the leader: adds `node_id` as a learner, waits for it to catch up,
/// and promotes it if the cluster wants more voters.
pub async fn add_node(raft: &CallgridRaft, node_id: u64, addr: &str) -> Result<(), String> {
    let membership = raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .clone();
    let known = membership
        .nodes()
        .any(|(id, n)| *id == node_id && n.addr == addr);
    if !known {
        raft.add_learner(
            node_id,
            BasicNode {
                addr: addr.to_owned(),
            },
            true,
        )
        .await
        .map_err(|e| format!("adding node {node_id} as a learner: {e}"))?;
    }
    let membership = raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .clone();
    let mut voters: BTreeSet<u64> = membership.voter_ids().collect();
    let total = membership.nodes().count();
    if !voters.contains(&node_id) && voters.len() < voters_wanted(total) {
        voters.insert(node_id);
        raft.change_membership(voters, true)
            .await
            .map_err(|e| format!("promoting node {node_id} to voter: {e}"))?;
        tracing::info!(node = node_id, "promoted to voter");
    }
    Ok(())
}

/// On the leader: removes `node_id` (after its shards were handed off),
/// promoting a learner in its place if it was a voter.
pub async fn remove_node(raft: &CallgridRaft, node_id: u64) -> Result<(), String> {
    let membership = raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .clone();
    if !membership.nodes().any(|(id, _)| *id == node_id) {
        return Err(format!("node {node_id} is not a member"));
    }
    let mut voters: BTreeSet<u64> = membership.voter_ids().collect();
    if voters.remove(&node_id) {
        if voters.is_empty() {
            return Err("cannot remove the last voter".into());
        }
        let learner = membership.learner_ids().find(|id| *id != node_id);
        if let Some(l) = learner {
            voters.insert(l);
        }
        raft.change_membership(voters, true)
            .await
            .map_err(|e| format!("removing voter {node_id}: {e}"))?;
    }
    raft.change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([node_id])), false)
        .await
        .map_err(|e| format!("removing node {node_id}: {e}"))?;
    tracing::info!(node = node_id, "removed from the cluster");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::voters_wanted;

    #[test]
    fn three_or_five_voters_then_learners() {
        assert_eq!(voters_wanted(1), 1);
        assert_eq!(voters_wanted(2), 2);
        assert_eq!(voters_wanted(3), 3);
        assert_eq!(voters_wanted(4), 3);
        assert_eq!(voters_wanted(5), 5);
        assert_eq!(voters_wanted(7), 5);
    }
}
