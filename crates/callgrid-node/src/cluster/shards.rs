//! Routing requests to shard owners, and keeping the shard map current.
//!
//! Any node accepts any request. The router finds the owner of the
//! request's shard in the shard map and forwards it there with the map's
//! epoch; an owner refuses a stale epoch, and the router waits for its own
//! map to catch up and retries — the client never sees it. If the owner is
//! unreachable, the router waits for the leader's failure detector to move
//! the shard; failing that it decides locally, because the state machine,
//! not the owner, is what makes one winner.
//!
//! The leader runs the shard keeper: it pings every member, and when the
//! set of live members changes it commits a rebalanced map (next epoch).
//! Under [`ShardPlacement::Leader`] it instead gathers every shard onto
//! itself, so a claim is decided on the node that commits it; a new
//! leader gathers them again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use callgrid_model::{Command, Response, Switchboard, shard_of};
use callgrid_proto::internal::{DecideRequest, PingRequest};
use openraft::BasicNode;
use tokio::sync::watch;

use super::Peers;
use super::peers::never_sent;
use super::wire::{DecideReply, decode, encode};
use crate::actors::{OwnerKey, Owners, owner_of};
use crate::config::ShardPlacement;
use crate::consensus::{Consensus, ProposeError};

/// Where a command is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    Local,
    Remote { node: u64, addr: String, epoch: u64 },
}

/// Where `key` lives under the applied shard map.
pub fn place(
    key: &OwnerKey,
    sb: &Switchboard,
    me: u64,
    members: &BTreeMap<u64, BasicNode>,
) -> Placement {
    let map = sb.shard_map();
    match map.owner(shard_of(&key.to_string())) {
        Some(owner) if owner != me && map.epoch > 0 => match members.get(&owner) {
            Some(node) => Placement::Remote {
                node: owner,
                addr: node.addr.clone(),
                epoch: map.epoch,
            },
            None => Placement::Local,
        },
        _ => Placement::Local,
    }
}

/// How many times a request is re-routed before it is decided locally.
const ROUTE_ATTEMPTS: usize = 6;

/// Routes commands to their owners; the API's one way to decide anything.
#[derive(Clone)]
pub struct Router {
    pub consensus: Consensus,
    pub owners: Owners,
    pub peers: Peers,
    /// Set when this node is shutting down: it hands its shards off.
    pub draining: Arc<AtomicBool>,
}

impl Router {
    fn members(&self) -> BTreeMap<u64, BasicNode> {
        self.consensus.members()
    }

    fn applied(&self) -> u64 {
        self.consensus.state.last_applied().unwrap_or(0)
    }

    fn epoch(&self) -> u64 {
        self.consensus.read(|sb| sb.shard_map().epoch)
    }

    /// Waits (bounded) until this node has applied shard-map `epoch`.
    pub async fn await_epoch(&self, epoch: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.epoch() < epoch {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Decides `cmd` on the node that owns it.
    ///
    /// A leader without a majority refuses at once: nothing it proposed
    /// could commit. An owner that cannot be reached is waited out (its
    /// shards move); one that was reached and then lost is retried only
    /// for a command carrying request ids, whose second copy is answered
    /// from the first — any other is answered `OutcomeUnknown`.
    pub async fn decide(&self, cmd: Command) -> Result<Response, ProposeError> {
        let me = self.consensus.node_id;
        self.consensus.check_quorum()?;
        let Some(key) = self.consensus.read(|sb| owner_of(&cmd, sb)) else {
            return self.consensus.propose(cmd).await;
        };
        // An earlier attempt may have reached an owner that proposed it (a
        // command with request ids is then routed again): no later refusal
        // can say "not decided" for the request as a whole.
        let mut maybe_taken = false;
        for attempt in 0..ROUTE_ATTEMPTS {
            if attempt > 0 {
                self.consensus
                    .check_quorum()
                    .map_err(|e| e.after(maybe_taken))?;
            }
            let members = self.members();
            let placement = self.consensus.read(|sb| place(&key, sb, me, &members));
            let Placement::Remote { node, addr, epoch } = placement else {
                return self
                    .owners
                    .decide_local(&key, cmd)
                    .await
                    .map_err(|e| e.after(maybe_taken));
            };
            metrics::counter!("callgrid_forwarded_requests_total", "to" => node.to_string())
                .increment(1);
            let command =
                postcard::to_allocvec(&cmd).map_err(|e| ProposeError::NotDecided(e.to_string()))?;
            let reply = match self.peers.client(&addr) {
                Ok(mut client) => {
                    let mut request = tonic::Request::new(DecideRequest {
                        shard_epoch: epoch,
                        command,
                    });
                    // The owner answers within its own bounds; this one
                    // covers an owner that stopped answering altogether.
                    request.set_timeout(Duration::from_secs(15));
                    client.decide(request).await
                }
                Err(status) => Err(status),
            };
            match reply.map(|r| decode::<DecideReply>(&r.into_inner().data)) {
                Ok(Ok(DecideReply::Decided(response, index))) => {
                    // Read-your-writes on this node too.
                    self.consensus.await_applied(index).await;
                    return Ok(response);
                }
                Ok(Ok(DecideReply::StaleEpoch { owner_epoch })) => {
                    self.await_epoch(owner_epoch, Duration::from_secs(2)).await;
                }
                Ok(Ok(DecideReply::NotOwner { applied })) => {
                    // Catch up with the owner's state, then route again: a
                    // new shard map or the command's new owner will show.
                    self.consensus.await_applied(applied).await;
                }
                Ok(Ok(DecideReply::Failed(e))) => return Err(e.after(maybe_taken)),
                Ok(Err(status)) => {
                    return Err(ProposeError::OutcomeUnknown(format!(
                        "owner {node}'s reply: {}",
                        status.message()
                    )));
                }
                // The owner is down or cut off. Wait for its shards to move.
                Err(status)
                    if never_sent(&status)
                        || (status.code() == tonic::Code::Unavailable && cmd.is_idempotent()) =>
                {
                    maybe_taken |= !never_sent(&status);
                    tracing::debug!(owner = node, attempt, error = %status, "shard owner unreachable");
                    self.await_epoch(epoch + 1, Duration::from_millis(1500))
                        .await;
                }
                Err(status) => {
                    return Err(ProposeError::OutcomeUnknown(format!(
                        "owner {node}: {}",
                        status.message()
                    )));
                }
            }
        }
        // The state machine is the arbiter; an owner only saves commits.
        self.owners
            .decide_local(&key, cmd)
            .await
            .map_err(|e| e.after(maybe_taken))
    }

    /// Answers a command routed here by another node.
    pub async fn decide_as_owner(&self, epoch: u64, cmd: Command) -> DecideReply {
        let mine = self.epoch();
        if epoch < mine {
            return DecideReply::StaleEpoch { owner_epoch: mine };
        }
        if epoch > mine && !self.await_epoch(epoch, Duration::from_secs(2)).await {
            return DecideReply::Failed(ProposeError::NotDecided(format!(
                "owner has not applied shard epoch {epoch}"
            )));
        }
        let me = self.consensus.node_id;
        let members = self.members();
        let key = self.consensus.read(|sb| owner_of(&cmd, sb));
        let Some(key) = key else {
            return match self.consensus.propose(cmd).await {
                Ok(r) => DecideReply::Decided(r, self.applied()),
                Err(e) => DecideReply::Failed(e),
            };
        };
        if self.consensus.read(|sb| place(&key, sb, me, &members)) != Placement::Local {
            return DecideReply::NotOwner {
                applied: self.applied(),
            };
        }
        match self.owners.decide_local(&key, cmd).await {
            Ok(r) => DecideReply::Decided(r, self.applied()),
            Err(e) => DecideReply::Failed(e),
        }
    }
}

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
        let members = router.members();
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
            if let Err(e) = router.consensus.propose(Command::SetShardMap { map }).await {
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
    if router.members().len() < 2 {
        return;
    }
    let deadline = Instant::now() + timeout;
    while router.consensus.read(|sb| sb.shard_map().owned_by(me)) > 0 {
        if Instant::now() >= deadline {
            tracing::warn!(
                "shards not handed off in time; their new owners will take them when this node is seen down"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::info!("shards handed off");
}

/// Encodes a reply for the wire (used by the peer service).
pub fn encode_reply(
    reply: &DecideReply,
) -> Result<callgrid_proto::internal::Payload, tonic::Status> {
    encode(reply)
}
