//! Proposing commands through Raft and reading the applied state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use callgrid_model::{Command, Response, Switchboard};
use callgrid_raft::{CallgridRaft, ClientWriteError, RaftError, SharedState};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::Instrument;

use crate::cluster::{Peers, ProposeReply, never_sent};

/// Why a command got no decided answer. The two cases are what a client
/// may conclude: retry freely, or retry with the same request id to learn
/// what happened.
#[derive(Debug, Clone, Error, Serialize, Deserialize)]
pub enum ProposeError {
    /// This attempt certainly did not take effect and never will: it was
    /// never handed to a Raft leader that could commit it, or the entry it
    /// became was removed from the log.
    #[error("not decided: {0}")]
    NotDecided(String),
    /// This attempt was (or may have been) handed to Raft and is not known
    /// to have committed: it may have taken effect, or may yet.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
}

impl ProposeError {
    /// This error, for a request an earlier attempt of which may have
    /// been taken (`maybe_taken`): then a later "not decided" does not
    /// settle it, and the request's outcome is unknown.
    pub fn after(self, maybe_taken: bool) -> Self {
        match self {
            ProposeError::NotDecided(why) if maybe_taken => ProposeError::OutcomeUnknown(format!(
                "an earlier attempt may have been taken; then: {why}"
            )),
            e => e,
        }
    }

    fn not_leader(leader: Option<u64>) -> Self {
        ProposeError::NotDecided(format!(
            "no leader reachable (last known: {leader:?}); this node may be cut off from the majority"
        ))
    }
}

/// A leader that has heard from no majority for this long refuses new
/// proposals, and answers the ones it holds "outcome unknown". Heartbeats
/// go every 100 ms and followers elect a new leader after 300–600 ms of
/// silence, so by then the majority may well have moved on without it.
pub const QUORUM_LOST_AFTER: Duration = Duration::from_millis(1_500);

/// How long a proposal looks for a leader before giving up (an election
/// takes well under a second; a minority side never finds one).
const FIND_LEADER_FOR: Duration = Duration::from_secs(5);

/// The longest a proposal may take, from this node to applied.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Most proposals one log entry carries.
const MAX_BATCH: usize = 256;
/// Batches in flight at once; while they are, new proposals queue up and
/// go out together in the next one.
const BATCHES_IN_FLIGHT: usize = 4;

/// A proposal waiting for its batch.
struct Pending {
    cmd: Command,
    reply: oneshot::Sender<Result<Response, ProposeError>>,
}

/// What writing through this node's Raft came to.
pub enum Written {
    /// Committed and applied at this log index.
    Committed(Response, u64),
    /// Not appended here (or removed from the log): this node does not
    /// lead; here is who it thinks does.
    NotLeader(Option<u64>),
    Failed(ProposeError),
}

fn quorum_lost_in(metrics: &callgrid_raft::RaftMetrics, me: u64) -> Option<Duration> {
    if metrics.current_leader != Some(me) {
        return None;
    }
    let silent = Duration::from_millis(metrics.millis_since_quorum_ack?);
    (silent > QUORUM_LOST_AFTER).then_some(silent)
}

/// What forwarding a proposal to the leader came to.
enum Forwarded {
    Answered(Response),
    /// Certainly not committed there.
    NotTaken,
    /// Perhaps taken there (the reply was lost); the command carries
    /// request ids, so trying it again is safe.
    MaybeTaken,
}

/// A node's handle on the replicated state.
#[derive(Clone)]
pub struct Consensus {
    pub raft: CallgridRaft,
    pub state: SharedState,
    pub node_id: u64,
    pub peers: Peers,
    batcher: mpsc::UnboundedSender<Pending>,
}

impl Consensus {
    /// Starts the proposal batcher; the handle is cheap to clone.
    pub fn new(raft: CallgridRaft, state: SharedState, node_id: u64, peers: Peers) -> Self {
        let (batcher, queue) = mpsc::unbounded_channel();
        let consensus = Self {
            raft,
            state,
            node_id,
            peers,
            batcher,
        };
        tokio::spawn(consensus.clone().batch(queue));
        consensus
    }

    /// Commits `cmd` and returns what applying it answered: here if this
    /// node leads, else on the leader. Acknowledged only after the entry is
    /// durable on a quorum and applied. Under load, concurrent proposals
    /// share one log entry ([`Command::Batch`]): one commit, one flush.
    pub async fn propose(&self, cmd: Command) -> Result<Response, ProposeError> {
        let kind = cmd.kind();
        let span = tracing::debug_span!(
            "propose",
            command = kind,
            tenant = cmd.tenant().map(|t| t.as_str())
        );
        let start = Instant::now();
        let (reply, answer) = oneshot::channel();
        let result = async {
            self.batcher
                .send(Pending { cmd, reply })
                .map_err(|_| ProposeError::NotDecided("the node is shutting down".into()))?;
            answer.await.map_err(|_| {
                ProposeError::OutcomeUnknown(
                    "the node shut down with the proposal in flight".into(),
                )
            })?
        }
        .instrument(span)
        .await;
        metrics::histogram!("callgrid_raft_proposal_duration_seconds", "command" => kind)
            .record(start.elapsed().as_secs_f64());
        result
    }

    /// Takes whatever proposals have queued (up to [`MAX_BATCH`]) and
    /// commits them as one entry, with at most [`BATCHES_IN_FLIGHT`]
    /// entries outstanding: the busier the node, the bigger its batches.
    async fn batch(self, mut queue: mpsc::UnboundedReceiver<Pending>) {
        let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
        while let Some(first) = queue.recv().await {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            metrics::histogram!("callgrid_raft_proposal_batch_size").record(batch.len() as f64);
            let me = self.clone();
            tokio::spawn(async move {
                me.commit(batch).await;
                drop(slot);
            });
        }
    }

    /// [`propose_anywhere`](Self::propose_anywhere), bounded: a leader
    /// that lost its majority may never answer, and a batch slot must not
    /// be held forever. A timeout means the outcome is unknown.
    async fn propose_bounded(&self, cmd: Command) -> Result<Response, ProposeError> {
        tokio::time::timeout(PROPOSE_TIMEOUT, self.propose_anywhere(cmd))
            .await
            .unwrap_or_else(|_| {
                Err(ProposeError::OutcomeUnknown(format!(
                    "not committed within {PROPOSE_TIMEOUT:?}"
                )))
            })
    }

    /// Commits one batch and answers each proposal in it.
    async fn commit(&self, mut batch: Vec<Pending>) {
        if batch.len() == 1 {
            let p = batch.remove(0);
            let _ = p.reply.send(self.propose_bounded(p.cmd).await);
            return;
        }
        let (cmds, replies): (Vec<Command>, Vec<_>) =
            batch.into_iter().map(|p| (p.cmd, p.reply)).unzip();
        let result = match self.propose_bounded(Command::Batch(cmds)).await {
            Ok(Response::Batch(responses)) if responses.len() == replies.len() => {
                for (reply, response) in replies.into_iter().zip(responses) {
                    let _ = reply.send(Ok(response));
                }
                return;
            }
            Ok(other) => {
                ProposeError::OutcomeUnknown(format!("a batch was answered with {other:?}"))
            }
            Err(e) => e,
        };
        for reply in replies {
            let _ = reply.send(Err(result.clone()));
        }
    }

    async fn propose_anywhere(&self, cmd: Command) -> Result<Response, ProposeError> {
        let deadline = Instant::now() + FIND_LEADER_FOR;
        let mut leader = None;
        let mut refused = None;
        // An earlier attempt may have reached a leader (a command with
        // request ids is then tried again): no later refusal can say
        // "not decided" for the request as a whole.
        let mut maybe_taken = false;
        loop {
            // A follower that knows its leader forwards at once, without
            // first asking its own Raft core to refuse the write.
            let known = self.raft.metrics().borrow().current_leader;
            let forward_to = match known {
                Some(id) if id != self.node_id => Some(id),
                _ => match self.write_here(cmd.clone()).await {
                    Written::Committed(response, _) => return Ok(response),
                    Written::NotLeader(id) => id.filter(|id| *id != self.node_id),
                    Written::Failed(e) => return Err(e.after(maybe_taken)),
                },
            };
            if let Some(id) = forward_to {
                leader = Some(id);
                if let Some(node) = self.members().remove(&id) {
                    match self.forward(&node.addr, &cmd).await {
                        Ok(Forwarded::Answered(response)) => return Ok(response),
                        Ok(Forwarded::NotTaken) => {}
                        Ok(Forwarded::MaybeTaken) => maybe_taken = true,
                        // The leader it knew refused (it lost its majority,
                        // say): nothing was proposed, so look again until a
                        // leader that can decide shows up.
                        Err(ProposeError::NotDecided(why)) => refused = Some(why),
                        Err(e) => return Err(e),
                    }
                }
            }
            if Instant::now() >= deadline {
                let e = match refused {
                    Some(why) => ProposeError::NotDecided(format!("leader {leader:?}: {why}")),
                    None => ProposeError::not_leader(leader),
                };
                return Err(e.after(maybe_taken));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How long this node has led without hearing from a majority, if it
    /// leads and that is longer than [`QUORUM_LOST_AFTER`].
    pub fn quorum_lost(&self) -> Option<Duration> {
        quorum_lost_in(&self.raft.metrics().borrow(), self.node_id)
    }

    /// Fails with `NotDecided` at once if this node leads without a
    /// majority: whatever it proposed now could not commit.
    pub fn check_quorum(&self) -> Result<(), ProposeError> {
        match self.quorum_lost() {
            Some(silent) => Err(ProposeError::NotDecided(format!(
                "this node leads but has heard from no majority for {} ms",
                silent.as_millis()
            ))),
            None => Ok(()),
        }
    }

    /// Completes when this node leads and has heard from no majority for
    /// [`QUORUM_LOST_AFTER`]; never, otherwise.
    async fn until_quorum_lost(&self) -> Duration {
        let mut metrics = self.raft.metrics();
        loop {
            if let Some(silent) = quorum_lost_in(&metrics.borrow_and_update(), self.node_id) {
                return silent;
            }
            if metrics.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// Writes `cmd` through this node's Raft, if it leads. A leader
    /// without a majority refuses at once (`NotDecided`); one that loses
    /// its majority while the entry is pending answers `OutcomeUnknown`
    /// within [`QUORUM_LOST_AFTER`], instead of waiting for a majority that
    /// may never come back (the entry commits if it does).
    pub async fn write_here(&self, cmd: Command) -> Written {
        if let Err(e) = self.check_quorum() {
            return Written::Failed(e);
        }
        tokio::select! {
            written = self.raft.client_write(cmd) => match written {
                Ok(w) => Written::Committed(w.data, w.log_id.index),
                // Refused before it was appended, or its entry was removed
                // from the log by a new leader: it will never commit.
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    Written::NotLeader(f.leader_id)
                }
                Err(e) => Written::Failed(ProposeError::OutcomeUnknown(format!("raft: {e}"))),
            },
            silent = self.until_quorum_lost() => Written::Failed(ProposeError::OutcomeUnknown(format!(
                "this node led but heard from no majority for {} ms while the entry was pending; \
                 it commits if a majority comes back before another leader replaces it",
                silent.as_millis()
            ))),
        }
    }

    /// Sends `cmd` to the leader at `addr`. `NotTaken`: certainly not
    /// committed there (not delivered, or that node no longer leads) —
    /// safe to try again. A reply lost after the leader may have taken the
    /// command is `MaybeTaken` (try again: a second copy is answered from
    /// the first) for a command that carries request ids; for any other
    /// it is `OutcomeUnknown`.
    async fn forward(&self, addr: &str, cmd: &Command) -> Result<Forwarded, ProposeError> {
        let data =
            postcard::to_allocvec(cmd).map_err(|e| ProposeError::NotDecided(e.to_string()))?;
        let mut client = self
            .peers
            .client(addr)
            .map_err(|s| ProposeError::NotDecided(s.message().to_owned()))?;
        metrics::counter!("callgrid_forwarded_proposals_total").increment(1);
        match client
            .propose(callgrid_proto::internal::Payload { data })
            .await
        {
            Ok(reply) => match postcard::from_bytes::<ProposeReply>(&reply.get_ref().data) {
                Ok(ProposeReply::Committed(response, index)) => {
                    // Read-your-writes: a client that reads from this node next sees it.
                    self.await_applied(index).await;
                    Ok(Forwarded::Answered(response))
                }
                Ok(ProposeReply::NotLeader(_)) => Ok(Forwarded::NotTaken),
                Ok(ProposeReply::Failed(e)) => Err(e),
                Err(e) => Err(ProposeError::OutcomeUnknown(format!("leader's reply: {e}"))),
            },
            Err(status) if never_sent(&status) => Ok(Forwarded::NotTaken),
            Err(status) if status.code() == tonic::Code::Unavailable && cmd.is_idempotent() => {
                Ok(Forwarded::MaybeTaken)
            }
            Err(status) => Err(ProposeError::OutcomeUnknown(format!(
                "leader: {}",
                status.message()
            ))),
        }
    }

    /// Waits (briefly) until this node has applied log `index`.
    pub async fn await_applied(&self, index: u64) {
        let _ = self
            .raft
            .wait(Some(Duration::from_secs(2)))
            .applied_index_at_least(Some(index), "read-your-writes")
            .await;
    }

    /// The cluster's members (voters and learners) and their addresses, as
    /// this node knows them.
    pub fn members(&self) -> std::collections::BTreeMap<u64, openraft::BasicNode> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership()
            .nodes()
            .map(|(id, n)| (*id, n.clone()))
            .collect()
    }

    /// Reads the applied switchboard (never across an await).
    pub fn read<R>(&self, f: impl FnOnce(&Switchboard) -> R) -> R {
        self.state.read(f)
    }
}

#[cfg(test)]
mod tests {
    use super::ProposeError;

    #[test]
    fn a_refusal_after_an_attempt_that_may_have_been_taken_is_outcome_unknown() {
        let refused = || ProposeError::NotDecided("no leader".into());
        assert!(matches!(
            refused().after(false),
            ProposeError::NotDecided(_)
        ));
        assert!(matches!(
            refused().after(true),
            ProposeError::OutcomeUnknown(why) if why.contains("no leader")
        ));
        let unknown = ProposeError::OutcomeUnknown("timed out".into());
        assert!(matches!(
            unknown.after(false),
            ProposeError::OutcomeUnknown(_)
        ));
    }
}
