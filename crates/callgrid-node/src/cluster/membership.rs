//! Joining, adding and removing nodes.
//!
//! A node started with `--join` asks any member to add it; the leader adds
//! it as a learner (it catches up from the log or a snapshot), then makes
//! it a voter while the cluster has fewer voters than it wants: 3 voters
//! from 3 nodes, 5 from 5; further nodes stay non-voting learners.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use callgrid_proto::internal::{JoinRequest, PingRequest};
use callgrid_raft::CallgridRaft;
use openraft::{BasicNode, ChangeMembers};
use tonic::{Code, Status};

use crate::peers::Peers;

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
            Err(status) if status.code() == Code::InvalidArgument => {
                anyhow::bail!("--join {seed}: refused: {}", status.message())
            }
            Err(status) => last = status.message().to_owned(),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    anyhow::bail!("--join {seed}: not accepted within {timeout:?}: {last}")
}

/// How long a new learner may take to catch up before a join is answered
/// "not yet" (the joiner asks again; the learner keeps catching up).
const CATCH_UP_WAIT: Duration = Duration::from_secs(30);

/// How long the leader waits for a joining node to answer its ping.
const PROBE_WAIT: Duration = Duration::from_secs(5);

/// Checks a join's own fields: a node id above 0 and a `host:port` address
/// with a port above 0.
fn validate_join(node_id: u64, addr: &str) -> Result<(), Status> {
    if node_id == 0 {
        return Err(Status::invalid_argument("node_id: must be above 0"));
    }
    let valid = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !valid {
        return Err(Status::invalid_argument(format!(
            "addr: {addr:?} must be host:port with a port above 0 (the address other nodes reach it on)"
        )));
    }
    Ok(())
}

/// On the leader: adds `node_id` at `addr` as a learner, waits for it to
/// catch up, and only then promotes it if the cluster wants more voters.
///
/// Nothing unverified reaches the membership: the fields are validated,
/// an id or address already taken by another member is refused, and the
/// node must answer a ping at `addr` as `node_id` before it is added, so a
/// caller cannot add an unreachable node (as a voter, one that would cost
/// the cluster its majority). A learner that has not caught up within
/// [`CATCH_UP_WAIT`] stays a learner and the join is answered `UNAVAILABLE`;
/// asking again resumes the wait.
pub async fn add_node(
    raft: &CallgridRaft,
    peers: &Peers,
    node_id: u64,
    addr: &str,
) -> Result<(), Status> {
    validate_join(node_id, addr)?;
    let membership = raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .clone();
    let mut known = false;
    for (id, node) in membership.nodes() {
        match (*id == node_id, node.addr == addr) {
            (true, true) => known = true,
            (true, false) => {
                return Err(Status::failed_precondition(format!(
                    "node_id: {node_id} is already a member at {}; remove it first",
                    node.addr
                )));
            }
            (false, true) => {
                return Err(Status::failed_precondition(format!(
                    "addr: {addr} is already member {id}'s address"
                )));
            }
            (false, false) => {}
        }
    }
    if !known {
        probe(peers, node_id, addr).await?;
        raft.add_learner(
            node_id,
            BasicNode {
                addr: addr.to_owned(),
            },
            false,
        )
        .await
        .map_err(|e| Status::unavailable(format!("adding node {node_id} as a learner: {e}")))?;
        tracing::info!(node = node_id, addr, "added as a learner");
    }
    wait_caught_up(raft, node_id).await?;
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
            .map_err(|e| Status::unavailable(format!("promoting node {node_id} to voter: {e}")))?;
        tracing::info!(node = node_id, "promoted to voter");
    }
    Ok(())
}

/// The node at `addr` must answer a ping, as `node_id`.
async fn probe(peers: &Peers, node_id: u64, addr: &str) -> Result<(), Status> {
    let answer = tokio::time::timeout(PROBE_WAIT, peers.client(addr)?.ping(PingRequest {})).await;
    match answer {
        Ok(Ok(reply)) if reply.get_ref().node_id == node_id => Ok(()),
        Ok(Ok(reply)) => Err(Status::failed_precondition(format!(
            "addr: the node at {addr} is node {}, not {node_id}",
            reply.get_ref().node_id
        ))),
        Ok(Err(status)) => Err(Status::failed_precondition(format!(
            "addr: node {node_id} does not answer at {addr}: {}",
            status.message()
        ))),
        Err(_) => Err(Status::failed_precondition(format!(
            "addr: node {node_id} does not answer at {addr} within {PROBE_WAIT:?}"
        ))),
    }
}

/// Waits until the leader has replicated its whole log (as of now) to
/// `node_id`.
async fn wait_caught_up(raft: &CallgridRaft, node_id: u64) -> Result<(), Status> {
    let target = raft.metrics().borrow().last_log_index.unwrap_or(0);
    raft.wait(Some(CATCH_UP_WAIT))
        .metrics(
            |m| {
                m.replication
                    .as_ref()
                    .and_then(|r| r.get(&node_id))
                    .is_some_and(|matched| matched.is_some_and(|l| l.index >= target))
            },
            "learner caught up",
        )
        .await
        .map(|_| ())
        .map_err(|e| {
            Status::unavailable(format!(
                "node {node_id} is a learner and has not caught up to index {target} yet ({e}); \
                 it is promoted once it has: ask again"
            ))
        })
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
