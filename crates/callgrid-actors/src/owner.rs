//! One owner's actor: its claims, its other decisions and its timers.
//!
//! Every command is read against the applied state first: a request whose
//! id the state machine remembers is answered from that memory, and a
//! claim that has already lost (an answer of an answered call, a pickup of
//! a call just taken, a retrieve of a code just retrieved) is answered
//! from the state, without a commit.
//!
//! Claims are then serialized per *gate*, what they contend for
//! ([`Contended`]: the call, or the park code). While one claim through a
//! gate is being committed, later claims through it wait; once it is
//! applied, each waiting claim is taken up again, and those that lost are
//! answered without a commit. So a race costs one commit, the winner's.
//!
//! A claim that carries a request id is the exception: won or lost, its
//! outcome is committed, so that its retries hear it. Waiting behind the
//! gate would save it no commit and cost it the winner's commit time, so
//! it never waits: it is proposed at once, beside the gate, and the state
//! machine decides it. Racers that all carry ids (as callgridctl, the
//! console and the bench send them) are then committed together, usually
//! in the entry after the first claim's, and every loser hears its answer
//! about one commit time after the winner instead of two. The first claim
//! *applied* wins: after a leader change or a forwarded retry, that need
//! not be the first proposed. A retry of a claim whose first try is still
//! being committed is committed too, and hears the first try's outcome.
//!
//! Everything else (plain dials, hang-ups, parks, timer ticks) is proposed
//! at once, without waiting for earlier decisions to commit: the state
//! machine decides each in log order, so an owner with many calls (a park
//! lot, a busy call group) is not limited to one commit at a time. Such a
//! command, and a claim the applied state already decides, never reaches
//! the actor: [`Owners::decide`](crate::Owners::decide) settles it in the
//! requester's task, which saves the hand-offs to the actor and to a task
//! of its own.
//!
//! An actor with nothing to do (no claim waiting or being committed, no
//! timer armed or ticking) stops itself after [`IDLE_AFTER`] without a
//! message: it drains its mailbox first, so nothing sent to it is lost,
//! and the next request for its owner starts another.
//!
//! A claim still waiting when its deadline passes is answered "not
//! decided" and never proposed; one still waiting when the actor stops
//! (its shard moved, the node stops) is proposed as it is, beside any gate:
//! the state machine decides it either way.

use std::collections::{HashMap, HashSet, VecDeque};
use std::marker::PhantomData;
use std::time::Duration;

use callgrid_model::{CallId, Command, Contended, OwnerKey, Response};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::place::is_local;
use crate::{Deadline, DecideError, Propose};

pub(crate) type Reply = RpcReplyPort<Result<Response, DecideError>>;

/// How long a timer tick may take to commit before it is tried again.
const TICK_WITHIN: Duration = Duration::from_secs(5);
/// The pause before a tick that did not commit is tried again.
const TICK_RETRY_AFTER: Duration = Duration::from_millis(200);
/// How long an actor with nothing to do waits for a message before it
/// stops (between one and two of these, in fact).
pub(crate) const IDLE_AFTER: Duration = if cfg!(test) {
    Duration::from_millis(40)
} else {
    Duration::from_secs(60)
};

pub enum OwnerMsg {
    /// Decide `cmd` by `deadline`: a claim after every earlier claim
    /// through its gate, anything else at once.
    Decide {
        cmd: Box<Command>,
        deadline: Deadline,
        reply: Reply,
    },
    /// A claim through `gate` was decided (and, if committed, applied).
    Settled { gate: Contended },
    /// Tick `call` at `at_ms` (replaces any earlier timer of that call).
    Arm { call: CallId, at_ms: u64 },
    /// A timer went off.
    Fire { call: CallId, at_ms: u64 },
    /// A tick was not committed; try it again shortly.
    Retry { call: CallId, at_ms: u64 },
    /// A tick was committed.
    Ticked,
    /// Stop if nothing came or is pending since the last check.
    IdleCheck,
    /// How many claims wait behind their gates.
    #[cfg(test)]
    Queued(RpcReplyPort<usize>),
    /// How many idle checks the actor has made.
    #[cfg(test)]
    IdleChecks(RpcReplyPort<u64>),
}

/// What the applied state says of a command being taken up.
pub(crate) enum Read {
    /// A retry: the request's first outcome.
    Recalled(Response),
    /// A claim that has already lost: its answer.
    Lost(Response),
    /// What the claim contends for, if anything.
    Contends(Option<Contended>),
}

/// A claim waiting for its gate.
struct Waiting {
    cmd: Command,
    deadline: Deadline,
    reply: Reply,
}

/// The actor of one owner; `P` is how it commits.
pub struct OwnerActor<P>(PhantomData<fn() -> P>);

impl<P> Default for OwnerActor<P> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

pub struct OwnerState<P> {
    key: OwnerKey,
    proposer: P,
    /// The one live deadline per call; a `Fire` for any other is stale.
    armed: HashMap<CallId, u64>,
    /// Gates with a claim being committed.
    busy: HashSet<Contended>,
    /// Claims waiting for their gate, oldest first.
    waiting: HashMap<Contended, VecDeque<Waiting>>,
    /// Ticks proposed and not yet reported back.
    ticking: usize,
    /// Whether a message other than an idle check came since the last one.
    stirred: bool,
    /// Idle checks made (tests wait on them).
    checks: u64,
}

impl Read {
    /// One read of the applied state: the first outcome of a retry, else
    /// the loss of a claim that already lost, else what the claim contends
    /// for.
    pub(crate) fn of<P: Propose>(proposer: &P, cmd: &Command) -> Read {
        proposer.read(|sb| match sb.recall(cmd) {
            Some(first) => Read::Recalled(first),
            None => match sb.already_answered(cmd.inner()) {
                Some(lost) => Read::Lost(lost),
                None => Read::Contends(sb.contended(cmd)),
            },
        })
    }
}

/// Counts a decision answered from the applied state, without a commit.
pub(crate) fn answered_without_commit(command: &'static str) {
    metrics::counter!("callgrid_decisions_without_commit_total", "command" => command).increment(1);
}

impl<P: Propose> OwnerState<P> {
    /// Proposes `cmd` without holding up the actor; the reply goes straight
    /// to the requester, and a claim's gate reopens once it is decided.
    fn propose(
        &self,
        myself: &ActorRef<OwnerMsg>,
        cmd: Command,
        deadline: Deadline,
        reply: Reply,
        gate: Option<Contended>,
    ) {
        let proposer = self.proposer.clone();
        let myself = myself.clone();
        tokio::spawn(async move {
            let outcome = proposer.propose(cmd, deadline).await;
            // The requester may have gone away; the decision stands.
            let _ = reply.send(outcome);
            if let Some(gate) = gate {
                let _ = myself.cast(OwnerMsg::Settled { gate });
            }
        });
    }

    /// Takes up a command: answered from the applied state if that can
    /// answer it, queued behind its gate if the gate is busy, else
    /// proposed (closing the gate of a claim).
    ///
    /// A claim with a request id never waits behind its gate: won or lost,
    /// its outcome is committed so that its retries hear it, so waiting
    /// would save no commit and only add a commit time to every loser.
    /// Proposed at once, beside the gate, it usually rides in the entry
    /// after the gate's claim, with the other racers', and the state
    /// machine (which applies the first claim of a call and rejects later
    /// ones) decides it.
    fn take_up(&mut self, myself: &ActorRef<OwnerMsg>, w: Waiting) {
        let Waiting {
            cmd,
            deadline,
            reply,
        } = w;
        if deadline.passed() {
            let _ = reply.send(Err(DecideError::DeadlineBeforeProposal));
            return;
        }
        let once = matches!(cmd, Command::Once { .. });
        let gate = match Read::of(&self.proposer, &cmd) {
            Read::Recalled(first) => {
                answered_without_commit("retry");
                let _ = reply.send(Ok(first));
                return;
            }
            // It cannot win, so it need not wait for its gate.
            Read::Lost(lost) if !once => {
                answered_without_commit(cmd.kind());
                let _ = reply.send(Ok(lost));
                return;
            }
            // Its retries must hear this loss: committed, beside the gate.
            Read::Lost(_) => None,
            Read::Contends(Some(gate)) if once && self.busy.contains(&gate) => None,
            Read::Contends(gate) => gate,
        };
        if let Some(gate) = &gate
            && self.busy.contains(gate)
        {
            self.waiting
                .entry(gate.clone())
                .or_default()
                .push_back(Waiting {
                    cmd,
                    deadline,
                    reply,
                });
            return;
        }
        if let Some(gate) = &gate {
            self.busy.insert(gate.clone());
        }
        self.propose(myself, cmd, deadline, reply, gate);
    }

    /// Proposes the timer's tick; `Ticked` or `Retry` reports it back.
    fn tick(&mut self, myself: &ActorRef<OwnerMsg>, call: CallId, at_ms: u64) {
        self.ticking += 1;
        // Never tick before the deadline, whatever this clock says.
        let tick = Command::Tick {
            call,
            now_ms: crate::now_ms().max(at_ms),
        };
        let proposer = self.proposer.clone();
        let (myself, owner) = (myself.clone(), self.key.to_string());
        tokio::spawn(async move {
            match proposer.propose(tick, Deadline::after(TICK_WITHIN)).await {
                Ok(_) => {
                    let _ = myself.cast(OwnerMsg::Ticked);
                }
                Err(e) => {
                    tracing::warn!(%owner, call = call.0, error = %e, "timer tick not committed; retrying");
                    let _ = myself.cast(OwnerMsg::Retry { call, at_ms });
                }
            }
        });
    }

    /// Nothing waits on this actor: no claim queued or being committed, no
    /// timer armed or ticking.
    fn idle(&self) -> bool {
        self.busy.is_empty()
            && self.waiting.is_empty()
            && self.armed.is_empty()
            && self.ticking == 0
    }
}

impl<P: Propose> Actor for OwnerActor<P> {
    type Msg = OwnerMsg;
    type State = OwnerState<P>;
    type Arguments = (OwnerKey, P);

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (key, proposer): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        metrics::gauge!("callgrid_actors", "kind" => key.kind()).increment(1.0);
        myself.send_after(IDLE_AFTER, || OwnerMsg::IdleCheck);
        Ok(OwnerState {
            key,
            proposer,
            armed: HashMap::new(),
            busy: HashSet::new(),
            waiting: HashMap::new(),
            ticking: 0,
            stirred: true,
            checks: 0,
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        metrics::gauge!("callgrid_actors", "kind" => state.key.kind()).decrement(1.0);
        // Claims still queued are proposed as they are: the state machine
        // decides them, and their requesters are answered.
        let waiting = std::mem::take(&mut state.waiting);
        for w in waiting.into_values().flatten() {
            if w.deadline.passed() {
                let _ = w.reply.send(Err(DecideError::DeadlineBeforeProposal));
            } else {
                state.propose(&myself, w.cmd, w.deadline, w.reply, None);
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if !matches!(msg, OwnerMsg::IdleCheck) {
            state.stirred = true;
        }
        match msg {
            OwnerMsg::Decide {
                cmd,
                deadline,
                reply,
            } => {
                metrics::gauge!("callgrid_actor_mailbox_depth", "kind" => state.key.kind())
                    .decrement(1.0);
                state.take_up(
                    &myself,
                    Waiting {
                        cmd: *cmd,
                        deadline,
                        reply,
                    },
                );
            }
            OwnerMsg::Settled { gate } => {
                state.busy.remove(&gate);
                // Racers that queued behind it are taken up again: the
                // losers are answered now; the first that may still win
                // closes the gate again, and the rest wait on.
                let mut queue = state.waiting.remove(&gate).unwrap_or_default();
                while let Some(w) = queue.pop_front() {
                    state.take_up(&myself, w);
                    if state.busy.contains(&gate) {
                        break;
                    }
                }
                if !queue.is_empty() {
                    let mut rest = state.waiting.remove(&gate).unwrap_or_default();
                    queue.append(&mut rest);
                    state.waiting.insert(gate, queue);
                }
            }
            OwnerMsg::Arm { call, at_ms } => {
                if state.armed.get(&call) != Some(&at_ms) {
                    state.armed.insert(call, at_ms);
                    let delay = Duration::from_millis(at_ms.saturating_sub(crate::now_ms()));
                    myself.send_after(delay, move || OwnerMsg::Fire { call, at_ms });
                }
            }
            OwnerMsg::Fire { call, at_ms } => {
                if state.armed.get(&call) == Some(&at_ms) {
                    state.armed.remove(&call);
                    let me = state.proposer.node_id();
                    let (still_mine, due) = state.proposer.read(|sb| {
                        (
                            is_local(&state.key, sb, me),
                            sb.call(call)
                                .and_then(|c| c.next_deadline())
                                .is_some_and(|next| next <= at_ms),
                        )
                    });
                    // If the shard moved, its new owner re-armed this timer.
                    // If the call was answered or ended meanwhile, or its
                    // deadline moved (and was re-armed), there is nothing
                    // to tick: most calls end long before their ring
                    // timeout, and a tick each would be a commit each.
                    if still_mine && due {
                        state.tick(&myself, call, at_ms);
                    } else if !due {
                        metrics::counter!("callgrid_stale_timers_total").increment(1);
                    }
                }
            }
            #[cfg(test)]
            OwnerMsg::Queued(reply) => {
                let _ = reply.send(state.waiting.values().map(VecDeque::len).sum());
            }
            OwnerMsg::Ticked => state.ticking = state.ticking.saturating_sub(1),
            OwnerMsg::IdleCheck => {
                state.checks += 1;
                if !state.stirred && state.idle() {
                    // Messages already sent are taken up first; later ones
                    // are refused, and their senders start another actor.
                    metrics::counter!("callgrid_actors_stopped_idle_total", "kind" => state.key.kind())
                        .increment(1);
                    myself.drain()?;
                } else {
                    state.stirred = false;
                    myself.send_after(IDLE_AFTER, || OwnerMsg::IdleCheck);
                }
            }
            #[cfg(test)]
            OwnerMsg::IdleChecks(reply) => {
                let _ = reply.send(state.checks);
            }
            OwnerMsg::Retry { call, at_ms } => {
                state.ticking = state.ticking.saturating_sub(1);
                // Unless the call was re-armed meanwhile.
                if let std::collections::hash_map::Entry::Vacant(slot) = state.armed.entry(call) {
                    slot.insert(at_ms);
                    myself.send_after(TICK_RETRY_AFTER, move || OwnerMsg::Fire { call, at_ms });
                }
            }
        }
        Ok(())
    }
}
