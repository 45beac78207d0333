//! What an owner needs from the node: a way to commit, and the applied state.

use std::future::Future;
use std::time::Duration;

use callgrid_model::{Command, Response, Switchboard};
use tokio::time::Instant;

use crate::DecideError;

/// When a request stops being worth answering: set once where the request
/// enters (from its `grpc-timeout`, or a default) and carried down the
/// whole path, across nodes too, instead of a timeout at every step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

impl Deadline {
    /// `within` from now.
    pub fn after(within: Duration) -> Self {
        Deadline(Instant::now() + within)
    }

    pub fn at(instant: Instant) -> Self {
        Deadline(instant)
    }

    pub fn instant(self) -> Instant {
        self.0
    }

    /// What is left of it (zero once passed).
    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    pub fn passed(self) -> bool {
        Instant::now() >= self.0
    }

    /// The earlier of this deadline and `within` from now: for one step
    /// that has a bound of its own (a read-your-writes wait, say).
    pub fn or_within(self, within: Duration) -> Self {
        self.min(Deadline::after(within))
    }

    /// Runs `work` until the deadline; `None` if it passed first.
    pub async fn run<F: Future>(self, work: F) -> Option<F::Output> {
        tokio::time::timeout_at(self.0, work).await.ok()
    }
}

/// Committing commands and reading the applied state: what the node gives
/// its owners (consensus through Raft, forwarding to the leader). Tests
/// give a fake.
pub trait Propose: Clone + Send + Sync + 'static {
    /// Commits `cmd` and answers what applying it answered, by `deadline`.
    fn propose(
        &self,
        cmd: Command,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Response, DecideError>> + Send;

    /// Reads the applied state (never across an await).
    fn read<R>(&self, f: impl FnOnce(&Switchboard) -> R) -> R;

    /// This node's id in the shard map.
    fn node_id(&self) -> u64;
}
