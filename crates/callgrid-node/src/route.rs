//! Routing a command to the node that owns it, and deciding it there.
//!
//! Any node accepts any request. The router finds the owner of the
//! command (`callgrid_actors::owner_of`) and where it lives
//! (`callgrid_actors::place`); a local owner's actor decides it, a remote
//! one gets it over the `Peer` service with the map's epoch. An owner
//! refuses a stale epoch, and the router waits for its own map to catch up
//! and retries — the client never sees it. If the owner is unreachable, the
//! router waits for the leader's failure detector to move the shard;
//! failing that it decides locally, because the state machine, not the
//! owner, is what makes one winner.
//!
//! The request's one [`Deadline`] bounds all of it, and travels to the
//! owner as the forwarded call's `grpc-timeout`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use callgrid_actors::{Deadline, DecideError, Owners, Placement, owner_of, place};
use callgrid_model::{Command, Response};
use callgrid_proto::internal::DecideRequest;

use crate::consensus::Consensus;
use crate::peers::{Peers, never_sent};
use crate::wire::{DecideReply, decode};

/// How many times a request is re-routed before it is decided locally.
const ROUTE_ATTEMPTS: usize = 6;
/// How long a router waits for a shard map it was told is newer.
const CATCH_UP_WITHIN: Duration = Duration::from_secs(2);
/// How long it waits for the shards of an unreachable owner to move.
const MOVE_WITHIN: Duration = Duration::from_millis(1_500);

/// Routes commands to their owners; the API's one way to decide anything.
#[derive(Clone)]
pub struct Router {
    pub consensus: Consensus,
    pub owners: Owners<Consensus>,
    pub peers: Peers,
    /// Set when this node is shutting down: it hands its shards off.
    pub draining: Arc<AtomicBool>,
}

impl Router {
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Decides `cmd` on the node that owns it, by `deadline`.
    ///
    /// A leader without a majority refuses at once: nothing it proposed
    /// could commit. An owner that cannot be reached is waited out (its
    /// shards move); one that was reached and then lost is retried only
    /// for a command carrying request ids, whose second copy is answered
    /// from the first — any other is answered "outcome unknown".
    pub async fn decide(&self, cmd: Command, deadline: Deadline) -> Result<Response, DecideError> {
        let me = self.consensus.node_id;
        self.consensus.check_quorum()?;
        // One read of the applied state: the owner, and where it lives.
        let Some((key, mut placed)) = self
            .consensus
            .read(|sb| owner_of(&cmd, sb).map(|key| (place(&key, sb, me), key)))
            .map(|(placed, key)| (key, placed))
        else {
            return self.consensus.propose(cmd, deadline).await;
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
            if deadline.passed() {
                return Err(if maybe_taken {
                    DecideError::DeadlineInFlight
                } else {
                    DecideError::DeadlineBeforeProposal
                });
            }
            if attempt > 0 {
                placed = self.consensus.read(|sb| place(&key, sb, me));
            }
            let remote = match placed {
                Placement::Remote { node, epoch } => self
                    .consensus
                    .address_of(node)
                    .map(|addr| (node, addr, epoch)),
                // An owner that is not a member (any more) decides nothing.
                Placement::Local => None,
            };
            let Some((node, addr, epoch)) = remote else {
                return self
                    .owners
                    .decide(&key, cmd, deadline)
                    .await
                    .map_err(|e| e.after(maybe_taken));
            };
            metrics::counter!("callgrid_forwarded_requests_total", "to" => node.to_string())
                .increment(1);
            let command = postcard::to_allocvec(&cmd)
                .map_err(|e| DecideError::NotDecided(format!("encoding the command: {e}")))?;
            let reply = match self.peers.client(&addr) {
                Ok(mut client) => {
                    let mut request = tonic::Request::new(DecideRequest {
                        shard_epoch: epoch,
                        command,
                    });
                    // The owner decides within what is left of the deadline.
                    request.set_timeout(deadline.remaining());
                    client.decide(request).await
                }
                Err(status) => Err(status),
            };
            match reply.map(|r| decode::<DecideReply>(&r.into_inner().data)) {
                Ok(Ok(DecideReply::Decided(response, index))) => {
                    // Read-your-writes on this node too.
                    self.consensus.await_applied(index, deadline).await;
                    return Ok(response);
                }
                Ok(Ok(DecideReply::StaleEpoch { owner_epoch })) => {
                    self.consensus
                        .await_epoch(owner_epoch, deadline.or_within(CATCH_UP_WITHIN))
                        .await;
                }
                Ok(Ok(DecideReply::NotOwner { applied })) => {
                    // Catch up with the owner's state, then route again: a
                    // new shard map or the command's new owner will show.
                    self.consensus.await_applied(applied, deadline).await;
                }
                Ok(Ok(DecideReply::Failed(e))) => return Err(e.after(maybe_taken)),
                Ok(Err(status)) => {
                    return Err(DecideError::OutcomeUnknown(format!(
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
                    self.consensus
                        .await_epoch(epoch + 1, deadline.or_within(MOVE_WITHIN))
                        .await;
                }
                Err(status) if status.code() == tonic::Code::DeadlineExceeded => {
                    return Err(DecideError::DeadlineInFlight);
                }
                Err(status) => {
                    return Err(DecideError::OutcomeUnknown(format!(
                        "owner {node}: {}",
                        status.message()
                    )));
                }
            }
        }
        // The state machine is the arbiter; an owner only saves commits.
        self.owners
            .decide(&key, cmd, deadline)
            .await
            .map_err(|e| e.after(maybe_taken))
    }

    /// Answers a command routed here by another node, by `deadline`.
    pub async fn decide_as_owner(
        &self,
        epoch: u64,
        cmd: Command,
        deadline: Deadline,
    ) -> DecideReply {
        let mine = self.consensus.epoch();
        if epoch < mine {
            return DecideReply::StaleEpoch { owner_epoch: mine };
        }
        if epoch > mine
            && !self
                .consensus
                .await_epoch(epoch, deadline.or_within(CATCH_UP_WITHIN))
                .await
        {
            return DecideReply::Failed(DecideError::NotDecided(format!(
                "owner has not applied shard epoch {epoch}"
            )));
        }
        let me = self.consensus.node_id;
        let applied = || self.consensus.applied();
        let key = self.consensus.read(|sb| owner_of(&cmd, sb));
        let Some(key) = key else {
            return match self.consensus.propose(cmd, deadline).await {
                Ok(r) => DecideReply::Decided(r, applied()),
                Err(e) => DecideReply::Failed(e),
            };
        };
        if self.consensus.read(|sb| place(&key, sb, me)) != Placement::Local {
            return DecideReply::NotOwner { applied: applied() };
        }
        match self.owners.decide(&key, cmd, deadline).await {
            Ok(r) => DecideReply::Decided(r, applied()),
            Err(e) => DecideReply::Failed(e),
        }
    }
}
