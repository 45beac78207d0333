//! Proposing commands through Raft and reading the applied state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use callgrid_actors::{Deadline, DecideError, Propose};
use callgrid_model::{Command, Response, Switchboard};
use callgrid_raft::{CallgridRaft, ClientWriteError, RaftError, SharedState};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::Instrument;

use crate::peers::{Peers, never_sent};
use crate::wire::ProposeReply;

/// A leader that has heard from no majority for this long refuses new
/// proposals, and answers the ones it holds "outcome unknown". Heartbeats
/// go every 100 ms and followers elect a new leader after 300–600 ms of
/// silence, so by then the majority may well have moved on without it.
pub const QUORUM_LOST_AFTER: Duration = Duration::from_millis(1_500);

/// How long a proposal waits for news of a leader before it looks again.
const LOOK_AGAIN_AFTER: Duration = Duration::from_millis(50);

/// The longest a read-your-writes wait holds up an answer already decided.
const CATCH_UP_WITHIN: Duration = Duration::from_secs(2);

/// Most proposals one log entry carries.
const MAX_BATCH: usize = 256;
/// Batches in flight at once; while one is, new proposals queue up and go
/// out together in the next one (group commit).
///
/// One, measured against four and two (`benches/README.md`, "One batch in
/// flight"): every log entry costs a flush on the leader and on each
/// follower, and a flush is sled's most expensive step (it wakes every
/// idle thread of its I/O pool). With four entries in flight the leader
/// flushed once per entry, each entry carrying one or two proposals; with
/// one, what arrives during a commit shares the next entry: in a
/// three-node race at concurrency 16, 0.5 entries and 1.6 flushes (all
/// nodes) per decided call instead of 1.4 and 2.7. That is 20-30 % more
/// decided calls per second at concurrency 16, lower p50 and p99, and no
/// change measured at concurrency 1 or 4. The batch grows with the load, up
/// to [`MAX_BATCH`] proposals per entry: over a link whose commit takes
/// R, a node commits at most `MAX_BATCH` proposals per R (25,600 a second
/// at 10 ms).
const BATCHES_IN_FLIGHT: usize = 1;

/// A proposal waiting for its batch.
struct Pending {
    cmd: Command,
    deadline: Deadline,
    reply: oneshot::Sender<Result<Response, DecideError>>,
}

/// What writing through this node's Raft came to.
pub enum Written {
    /// Committed and applied at this log index.
    Committed(Response, u64),
    /// Not appended here (or removed from the log): this node does not
    /// lead; here is who it thinks does.
    NotLeader(Option<u64>),
    Failed(DecideError),
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
    /// One per log entry of proposals in flight, [`BATCHES_IN_FLIGHT`] in all.
    slots: Arc<Semaphore>,
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
            slots: Arc::new(Semaphore::new(BATCHES_IN_FLIGHT)),
        };
        tokio::spawn(consensus.clone().batch(queue));
        consensus
    }

    /// Commits `cmd` and returns what applying it answered: here if this
    /// node leads, else on the leader, by `deadline`. Acknowledged only
    /// after the entry is durable on a quorum and applied. Under load,
    /// concurrent proposals share one log entry ([`Command::Batch`]): one
    /// commit, one flush. With nothing in flight, a proposal is committed
    /// alone at once, in the caller's task: nothing would share its entry,
    /// and the hand-offs to the batcher and a task of its own only add
    /// latency.
    pub async fn propose(&self, cmd: Command, deadline: Deadline) -> Result<Response, DecideError> {
        let kind = cmd.kind();
        let span = tracing::debug_span!(
            "propose",
            command = kind,
            tenant = cmd.tenant().map(|t| t.as_str())
        );
        let start = Instant::now();
        let result = async {
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                if deadline.passed() {
                    metrics::counter!("callgrid_proposals_expired_total").increment(1);
                    return Err(DecideError::DeadlineBeforeProposal);
                }
                metrics::histogram!("callgrid_raft_proposal_batch_size").record(1.0);
                let outcome = self.propose_bounded(cmd, deadline).await;
                drop(slot);
                return outcome;
            }
            let (reply, answer) = oneshot::channel();
            self.batcher
                .send(Pending {
                    cmd,
                    deadline,
                    reply,
                })
                .map_err(|_| DecideError::ShuttingDown)?;
            match deadline.run(answer).await {
                Some(Ok(outcome)) => outcome,
                Some(Err(_)) => Err(DecideError::OutcomeUnknown(
                    "the node shut down with the proposal in flight".into(),
                )),
                None => Err(DecideError::DeadlineInFlight),
            }
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
        while let Some(first) = queue.recv().await {
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            // A proposal whose requester's deadline passed while it queued
            // is dropped here, never proposed.
            batch.retain(|p| {
                let live = !p.deadline.passed() && !p.reply.is_closed();
                if !live {
                    metrics::counter!("callgrid_proposals_expired_total").increment(1);
                }
                live
            });
            if batch.is_empty() {
                continue;
            }
            metrics::histogram!("callgrid_raft_proposal_batch_size").record(batch.len() as f64);
            let me = self.clone();
            tokio::spawn(async move {
                me.commit(batch).await;
                drop(slot);
            });
        }
    }

    /// [`propose_anywhere`](Self::propose_anywhere), bounded by the latest
    /// deadline among the proposals it carries: a leader that lost its
    /// majority may never answer, and a batch slot must not be held forever.
    async fn propose_bounded(
        &self,
        cmd: Command,
        deadline: Deadline,
    ) -> Result<Response, DecideError> {
        deadline
            .run(self.propose_anywhere(cmd, deadline))
            .await
            .unwrap_or(Err(DecideError::DeadlineInFlight))
    }

    /// Commits one batch and answers each proposal in it.
    async fn commit(&self, mut batch: Vec<Pending>) {
        if batch.len() == 1 {
            let p = batch.remove(0);
            let _ = p.reply.send(self.propose_bounded(p.cmd, p.deadline).await);
            return;
        }
        let deadline = batch
            .iter()
            .map(|p| p.deadline)
            .max()
            .expect("a batch is never empty");
        let (cmds, replies): (Vec<Command>, Vec<_>) =
            batch.into_iter().map(|p| (p.cmd, p.reply)).unzip();
        let result = match self.propose_bounded(Command::Batch(cmds), deadline).await {
            Ok(Response::Batch(responses)) if responses.len() == replies.len() => {
                for (reply, response) in replies.into_iter().zip(responses) {
                    let _ = reply.send(Ok(response));
                }
                return;
            }
            Ok(other) => {
                DecideError::OutcomeUnknown(format!("a batch was answered with {other:?}"))
            }
            Err(e) => e,
        };
        for reply in replies {
            let _ = reply.send(Err(result.clone()));
        }
    }

    async fn propose_anywhere(
        &self,
        cmd: Command,
        deadline: Deadline,
    ) -> Result<Response, DecideError> {
        let mut leader = None;
        let mut refused = None;
        // An earlier attempt may have reached a leader (a command with
        // request ids is then tried again): no later refusal can say
        // "not decided" for the request as a whole.
        let mut maybe_taken = false;
        let mut news = self.raft.metrics();
        loop {
            // A follower that knows its leader forwards at once, without
            // first asking its own Raft core to refuse the write.
            let known = news.borrow_and_update().current_leader;
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
                if let Some(addr) = self.address_of(id) {
                    match self.forward(&addr, &cmd, deadline).await {
                        Ok(Forwarded::Answered(response)) => return Ok(response),
                        Ok(Forwarded::NotTaken) => {}
                        Ok(Forwarded::MaybeTaken) => maybe_taken = true,
                        // The leader it knew refused (it lost its majority,
                        // say): nothing was proposed, so look again until a
                        // leader that can decide shows up.
                        Err(e) if e.is_certain() => refused = Some(e),
                        Err(e) => return Err(e),
                    }
                }
            }
            if deadline.passed() {
                let e = refused.unwrap_or(DecideError::NoLeader { leader });
                return Err(e.after(maybe_taken));
            }
            // Look again when Raft has news (a leader elected), or shortly.
            let _ = deadline
                .or_within(LOOK_AGAIN_AFTER)
                .run(news.changed())
                .await;
        }
    }

    /// How long this node has led without hearing from a majority, if it
    /// leads and that is longer than [`QUORUM_LOST_AFTER`].
    pub fn quorum_lost(&self) -> Option<Duration> {
        quorum_lost_in(&self.raft.metrics().borrow(), self.node_id)
    }

    /// Fails at once if this node leads without a majority: whatever it
    /// proposed now could not commit.
    pub fn check_quorum(&self) -> Result<(), DecideError> {
        match self.quorum_lost() {
            Some(silent) => Err(DecideError::NoQuorum {
                silent_ms: silent.as_millis() as u64,
            }),
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
                Err(e) => Written::Failed(DecideError::OutcomeUnknown(format!("raft: {e}"))),
            },
            silent = self.until_quorum_lost() => Written::Failed(DecideError::OutcomeUnknown(format!(
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
    /// it is "outcome unknown".
    async fn forward(
        &self,
        addr: &str,
        cmd: &Command,
        deadline: Deadline,
    ) -> Result<Forwarded, DecideError> {
        let data = postcard::to_allocvec(cmd)
            .map_err(|e| DecideError::NotDecided(format!("encoding the command: {e}")))?;
        let mut client = self
            .peers
            .client(addr)
            .map_err(|s| DecideError::NotDecided(s.message().to_owned()))?;
        metrics::counter!("callgrid_forwarded_proposals_total").increment(1);
        let mut request = tonic::Request::new(callgrid_proto::internal::Payload { data });
        request.set_timeout(deadline.remaining());
        match client.propose(request).await {
            Ok(reply) => match postcard::from_bytes::<ProposeReply>(&reply.get_ref().data) {
                Ok(ProposeReply::Committed(response, index)) => {
                    // Read-your-writes: a client that reads from this node next sees it.
                    self.await_applied(index, deadline).await;
                    Ok(Forwarded::Answered(response))
                }
                Ok(ProposeReply::NotLeader(_)) => Ok(Forwarded::NotTaken),
                Ok(ProposeReply::Failed(e)) => Err(e),
                Err(e) => Err(DecideError::OutcomeUnknown(format!("leader's reply: {e}"))),
            },
            Err(status) if never_sent(&status) => Ok(Forwarded::NotTaken),
            Err(status) if status.code() == tonic::Code::Unavailable && cmd.is_idempotent() => {
                Ok(Forwarded::MaybeTaken)
            }
            Err(status) if status.code() == tonic::Code::DeadlineExceeded => {
                Err(DecideError::DeadlineInFlight)
            }
            Err(status) => Err(DecideError::OutcomeUnknown(format!(
                "leader: {}",
                status.message()
            ))),
        }
    }

    /// Waits until this node has applied log `index` (read-your-writes),
    /// by the deadline and for at most [`CATCH_UP_WITHIN`].
    pub async fn await_applied(&self, index: u64, deadline: Deadline) {
        let _ = self
            .raft
            .wait(Some(deadline.or_within(CATCH_UP_WITHIN).remaining()))
            .applied_index_at_least(Some(index), "read-your-writes")
            .await;
    }

    /// Waits until this node has applied shard-map `epoch`, by `deadline`;
    /// `false` if it has not by then.
    pub async fn await_epoch(&self, epoch: u64, deadline: Deadline) -> bool {
        self.await_state(deadline, "shard epoch", move |sb| {
            sb.shard_map().epoch >= epoch
        })
        .await
    }

    /// Waits until the applied state satisfies `done`, by `deadline`;
    /// `false` if it does not by then. Woken by Raft's metrics, which
    /// change with every applied entry.
    pub async fn await_state(
        &self,
        deadline: Deadline,
        what: &str,
        done: impl Fn(&Switchboard) -> bool + Send + 'static,
    ) -> bool {
        if self.read(&done) {
            return true;
        }
        let state = self.state.clone();
        self.raft
            .wait(Some(deadline.remaining()))
            .metrics(move |_| state.read(&done), what)
            .await
            .is_ok()
    }

    /// The applied shard map's epoch.
    pub fn epoch(&self) -> u64 {
        self.read(|sb| sb.shard_map().epoch)
    }

    /// The last log index applied here.
    pub fn applied(&self) -> u64 {
        self.state.last_applied().unwrap_or(0)
    }

    /// The address of member `node`, if it is one.
    pub fn address_of(&self, node: u64) -> Option<String> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&node)
            .map(|n| n.addr.clone())
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

impl Propose for Consensus {
    async fn propose(&self, cmd: Command, deadline: Deadline) -> Result<Response, DecideError> {
        Consensus::propose(self, cmd, deadline).await
    }

    fn read<R>(&self, f: impl FnOnce(&Switchboard) -> R) -> R {
        self.state.read(f)
    }

    fn node_id(&self) -> u64 {
        self.node_id
    }
}
