//! Proposing commands through Raft and reading the applied state.

use std::time::Instant;

use callgrid_model::{Command, Response, Switchboard};
use callgrid_raft::{CallgridRaft, ClientWriteError, RaftError, SharedState};
use thiserror::Error;
use tracing::Instrument;

/// Why a command was not decided. Every case is retryable: nothing was
/// decided, or the outcome is unknown and the caller must look.
#[derive(Debug, Error)]
pub enum ProposeError {
    #[error("this node is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    #[error("raft: {0}")]
    Raft(String),
}

/// A node's handle on the replicated state.
#[derive(Clone)]
pub struct Consensus {
    pub raft: CallgridRaft,
    pub state: SharedState,
    pub node_id: u64,
}

impl Consensus {
    /// Commits `cmd` and returns what applying it answered. Acknowledged
    /// only after the entry is durable on a quorum and applied.
    pub async fn propose(&self, cmd: Command) -> Result<Response, ProposeError> {
        let kind = cmd.kind();
        let span = tracing::debug_span!("propose", command = kind, tenant = cmd.tenant().map(|t| t.as_str()));
        let start = Instant::now();
        let result = self.raft.client_write(cmd).instrument(span).await;
        metrics::histogram!("callgrid_raft_proposal_duration_seconds", "command" => kind)
            .record(start.elapsed().as_secs_f64());
        match result {
            Ok(written) => Ok(written.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ProposeError::NotLeader { leader: f.leader_id })
            }
            Err(e) => Err(ProposeError::Raft(e.to_string())),
        }
    }

    /// Reads the applied switchboard (never across an await).
    pub fn read<R>(&self, f: impl FnOnce(&Switchboard) -> R) -> R {
        self.state.read(f)
    }
}
