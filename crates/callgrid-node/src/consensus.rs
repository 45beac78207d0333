//! Proposing commands through Raft and reading the applied state.

use std::time::{Duration, Instant};

use callgrid_model::{Command, Response, Switchboard};
use callgrid_raft::{CallgridRaft, ClientWriteError, RaftError, SharedState};
use thiserror::Error;
use tracing::Instrument;

use crate::cluster::{Peers, ProposeReply};

/// Why a command was not decided. Every case is retryable: nothing was
/// decided, or the outcome is unknown and the caller must look.
#[derive(Debug, Error)]
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

/// A node's handle on the replicated state.
#[derive(Clone)]
pub struct Consensus {
    pub raft: CallgridRaft,
    pub state: SharedState,
    pub node_id: u64,
    pub peers: Peers,
}

impl Consensus {
    /// Commits `cmd` and returns what applying it answered: here if this
    /// node leads, else on the leader. Acknowledged only after the entry is
    /// durable on a quorum and applied.
    pub async fn propose(&self, cmd: Command) -> Result<Response, ProposeError> {
        let kind = cmd.kind();
        let span = tracing::debug_span!(
            "propose",
            command = kind,
            tenant = cmd.tenant().map(|t| t.as_str())
        );
        let start = Instant::now();
        let result = self.propose_anywhere(cmd).instrument(span).await;
        metrics::histogram!("callgrid_raft_proposal_duration_seconds", "command" => kind)
            .record(start.elapsed().as_secs_f64());
        result
    }

    async fn propose_anywhere(&self, cmd: Command) -> Result<Response, ProposeError> {
        let deadline = Instant::now() + FIND_LEADER_FOR;
        let mut leader = None;
        loop {
            match self.raft.client_write(cmd.clone()).await {
                Ok(written) => return Ok(written.data),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    leader = f.leader_id.or(leader);
                    if let (Some(id), Some(node)) = (f.leader_id, f.leader_node)
                        && id != self.node_id
                    {
                        match self.forward(&node.addr, &cmd).await {
                            Ok(Some(response)) => return Ok(response),
                            Ok(None) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(ProposeError::Raft(e.to_string())),
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

    /// Reads the applied switchboard (never across an await).
    pub fn read<R>(&self, f: impl FnOnce(&Switchboard) -> R) -> R {
        self.state.read(f)
    }
}
