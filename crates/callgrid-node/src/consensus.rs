//! Proposing commands through Raft and reading the applied state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use callgrid_model::{Command, Response, Switchboard};
use callgrid_raft::{CallgridRaft, ClientWriteError, RaftError, SharedState};
use thiserror::Error;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::Instrument;

use crate::cluster::{Peers, ProposeReply};

/// Why a command was not decided. Every case is retryable: nothing was
/// decided, or the outcome is unknown and the caller must look.
#[derive(Debug, Clone, Error)]
pub enum ProposeError {
    #[error(
        "no leader reachable (last known: {leader:?}); this node may be cut off from the majority"
    )]
    NotLeader { leader: Option<u64> },
    #[error("raft: {0}")]
    Raft(String),
}

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
        let gone = || ProposeError::Raft("the node is shutting down".into());
        let result = async {
            self.batcher
                .send(Pending { cmd, reply })
                .map_err(|_| gone())?;
            answer.await.map_err(|_| gone())?
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
                Err(ProposeError::Raft(format!(
                    "not committed within {PROPOSE_TIMEOUT:?}; the outcome is unknown"
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
            Ok(other) => ProposeError::Raft(format!("a batch was answered with {other:?}")),
            Err(e) => e,
        };
        for reply in replies {
            let _ = reply.send(Err(result.clone()));
        }
    }

    async fn propose_anywhere(&self, cmd: Command) -> Result<Response, ProposeError> {
        let deadline = Instant::now() + FIND_LEADER_FOR;
        let mut leader = None;
        loop {
            // A follower that knows its leader forwards at once, without
            // first asking its own Raft core to refuse the write.
            let known = self.raft.metrics().borrow().current_leader;
            let forward_to = match known {
                Some(id) if id != self.node_id => Some(id),
                _ => match self.raft.client_write(cmd.clone()).await {
                    Ok(written) => return Ok(written.data),
                    Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                        f.leader_id.filter(|id| *id != self.node_id)
                    }
                    Err(e) => return Err(ProposeError::Raft(e.to_string())),
                },
            };
            if let Some(id) = forward_to {
                leader = Some(id);
                if let Some(node) = self.members().remove(&id) {
                    match self.forward(&node.addr, &cmd).await {
                        Ok(Some(response)) => return Ok(response),
                        Ok(None) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(ProposeError::NotLeader { leader });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends `cmd` to the leader at `addr`. `Ok(None)`: not delivered or
    /// that node no longer leads — safe to try again.
    async fn forward(&self, addr: &str, cmd: &Command) -> Result<Option<Response>, ProposeError> {
        let data = postcard::to_allocvec(cmd).map_err(|e| ProposeError::Raft(e.to_string()))?;
        let mut client = self
            .peers
            .client(addr)
            .map_err(|s| ProposeError::Raft(s.message().to_owned()))?;
        metrics::counter!("callgrid_forwarded_proposals_total").increment(1);
        match client
            .propose(callgrid_proto::internal::Payload { data })
            .await
        {
            Ok(reply) => match postcard::from_bytes::<ProposeReply>(&reply.get_ref().data) {
                Ok(ProposeReply::Committed(response, index)) => {
                    // Read-your-writes: a client that reads from this node next sees it.
                    self.await_applied(index).await;
                    Ok(Some(response))
                }
                Ok(ProposeReply::NotLeader(_)) => Ok(None),
                Ok(ProposeReply::Failed(why)) => Err(ProposeError::Raft(why)),
                Err(e) => Err(ProposeError::Raft(format!("leader's reply: {e}"))),
            },
            Err(status) if status.code() == tonic::Code::Unavailable => Ok(None),
            Err(status) => Err(ProposeError::Raft(format!("leader: {}", status.message()))),
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
