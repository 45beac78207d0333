//! Keeping the shard map current, and handing shards off on shutdown.
//!
//! The leader runs the shard keeper: it pings every member, and when the
//! set of live members changes it commits a rebalanced map (next epoch).
//! Under [`ShardPlacement::Leader`] it instead gathers every shard onto
//! itself, so a claim is decided on the node that commits it; a new
//! leader gathers them again.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use callgrid_actors::Deadline;
use callgrid_model::Command;
use callgrid_proto::internal::PingRequest;
use tokio::sync::watch;

use crate::args::ShardPlacement;
use crate::route::Router;

/// How long a shard-map proposal may take.
const PROPOSE_WITHIN: Duration = Duration::from_secs(5);

/// How long a member may miss pings before its shards move.
const DOWN_AFTER: Duration = Duration::from_secs(2);
const PING_EVERY: Duration = Duration::from_millis(250);

/// On the leader: pings members and commits a new shard map when the set
/// of live members changes (or, under leader placement, when the shards
/// are not all here). Runs until `shutdown`.
pub async fn run_shard_keeper(
    router: Router,
    placement: ShardPlacement,
    mut shutdown: watch::Receiver<bool>,
) {
    let me = router.consensus.node_id;
    let mut last_seen: HashMap<u64, Instant> = HashMap::new();
    let mut was_leader = false;
    let mut every = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let metrics = router.consensus.raft.metrics().borrow().clone();
        let leader = metrics.current_leader == Some(me);
        if !leader {
            was_leader = false;
            continue;
        }
        let members = router.consensus.members();
        let now = Instant::now();
        if !was_leader {
            // A new leader gives everyone a fresh grace period.
            last_seen = members.keys().map(|id| (*id, now)).collect();
            was_leader = true;
        }
        let pings = members
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(id, node)| {
                let peers = router.peers.clone();
                let (id, addr) = (*id, node.addr.clone());
                async move {
                    let mut client = peers.client(&addr).ok()?;
                    let reply =
                        tokio::time::timeout(PING_EVERY * 2, client.ping(PingRequest {})).await;
                    match reply {
                        Ok(Ok(r)) => Some((id, r.into_inner().draining)),
                        _ => None,
                    }
                }
            });
        let mut draining: Vec<u64> = Vec::new();
        if router.draining.load(Ordering::Relaxed) {
            draining.push(me);
        }
        for (id, leaving) in futures::future::join_all(pings).await.into_iter().flatten() {
            last_seen.insert(id, now);
            if leaving {
                draining.push(id);
            }
        }
        let live: Vec<u64> = members
            .keys()
            .copied()
            .filter(|id| {
                *id == me
                    || last_seen
                        .get(id)
                        .is_some_and(|t| now.duration_since(*t) < DOWN_AFTER)
            })
            .filter(|id| !draining.contains(id))
            .collect();
        for id in members.keys() {
            let up = live.contains(id);
            metrics::gauge!("callgrid_node_up", "node" => id.to_string()).set(if up {
                1.0
            } else {
                0.0
            });
        }
        let next = router.consensus.read(|sb| {
            let map = sb.shard_map();
            match placement {
                // A leader that is leaving spreads its shards instead; the
                // next leader gathers them.
                ShardPlacement::Leader if !draining.contains(&me) => map.all_on(me),
                _ => map.rebalanced(&live),
            }
        });
        if let Some(map) = next {
            tracing::info!(epoch = map.epoch, live = ?live, "moving shards");
            if let Err(e) = router
                .consensus
                .propose(
                    Command::SetShardMap { map },
                    Deadline::after(PROPOSE_WITHIN),
                )
                .await
            {
                tracing::warn!(error = %e, "shard map not committed");
            }
        }
    }
}

/// On shutdown: tells the leader (through pings) that this node is
/// leaving, and waits (bounded) until its shards have moved to the others,
/// so that no call loses its owner's timers while the node goes down.
pub async fn hand_off_shards(router: &Router, timeout: Duration) {
    let me = router.consensus.node_id;
    router.draining.store(true, Ordering::Relaxed);
    if router.consensus.members().len() < 2 {
        return;
    }
    // Woken by each applied entry, not by polling.
    let handed_off = router
        .consensus
        .await_state(Deadline::after(timeout), "shards handed off", move |sb| {
            sb.shard_map().owned_by(me) == 0
        })
        .await;
    if !handed_off {
        tracing::warn!(
            "shards not handed off in time; their new owners will take them when this node is seen down"
        );
        return;
    }
    tracing::info!("shards handed off");
}
