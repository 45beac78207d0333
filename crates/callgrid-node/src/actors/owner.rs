//! One owner's actor: its claims, its other decisions and its timers.
//!
//! Claims (answers, pickups, retrieves: the commands racers send) are
//! serialized per *gate*: while one claim through a gate is being
//! committed, later claims through it wait; once it is applied, each
//! waiting claim that has already lost is answered from the applied state
//! without a commit. So the common race costs one commit.
//!
//! A request whose id the state machine remembers is answered from that
//! memory at once, claim or not. A claim that has lost and carries a
//! request id is still committed (beside the gate, not through it), so
//! that its loss is remembered for its retries.
//!
//! Everything else (dials, hang-ups, parks, timer ticks) is proposed at
//! once, without waiting for earlier decisions to commit: the state machine
//! decides each in log order, so an owner with many calls (a park lot, a
//! busy call group) is not limited to one commit at a time.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use callgrid_model::{CallId, Command, ParkCode, Response};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::clock::now_ms;
use crate::consensus::{Consensus, ProposeError};

use super::OwnerKey;

type Reply = RpcReplyPort<Result<Response, ProposeError>>;

pub enum OwnerMsg {
    /// Decide `cmd`: a claim after every earlier claim through its gate,
    /// anything else at once.
    Decide { cmd: Box<Command>, reply: Reply },
    /// A claim through `gate` was decided (and, if committed, applied here).
    Settled { gate: Gate },
    /// Tick `call` at `at_ms` (replaces any earlier timer of that call).
    Arm { call: CallId, at_ms: u64 },
    /// A timer went off.
    Fire { call: CallId, at_ms: u64 },
    /// A tick was not committed; try it again shortly.
    Retry { call: CallId, at_ms: u64 },
}

/// What racing claims contend for, within one owner.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Gate {
    /// An extension's or call group's calls: answers, pickups and the
    /// pickup and retrieve codes dialled there.
    Owner,
    /// One park code of a park lot.
    Code(ParkCode),
}

/// The gate of a claim; `None` for commands nobody races for.
pub fn gate_of(cmd: &Command) -> Option<Gate> {
    match cmd.inner() {
        Command::Retrieve { code, .. } => Some(Gate::Code(*code)),
        Command::Answer { .. } | Command::Pickup { .. } | Command::Dial { .. } => Some(Gate::Owner),
        _ => None,
    }
}

pub struct OwnerActor;

pub struct OwnerState {
    key: OwnerKey,
    consensus: Consensus,
    /// The one live deadline per call; a `Fire` for any other is stale.
    armed: HashMap<CallId, u64>,
    /// Gates with a claim being committed.
    busy: HashSet<Gate>,
    /// Claims waiting for their gate, oldest first.
    waiting: HashMap<Gate, VecDeque<(Command, Reply)>>,
}

impl OwnerState {
    /// Proposes `cmd` without holding up the actor; the reply goes straight
    /// to the requester, and a claim's gate reopens once it is decided.
    fn propose(&self, myself: &ActorRef<OwnerMsg>, cmd: Command, reply: Reply, gate: Option<Gate>) {
        let consensus = self.consensus.clone();
        let myself = myself.clone();
        tokio::spawn(async move {
            let outcome = consensus.propose(cmd).await;
            // The requester may have gone away; the decision stands.
            let _ = reply.send(outcome);
            if let Some(gate) = gate {
                let _ = myself.cast(OwnerMsg::Settled { gate });
            }
        });
    }

    /// Takes up a claim whose gate is free: answered from the applied state
    /// if it has already lost, else proposed, closing the gate.
    fn claim(&mut self, myself: &ActorRef<OwnerMsg>, cmd: Command, reply: Reply, gate: Gate) {
        if let Some(lost) = self.consensus.read(|sb| sb.already_answered(cmd.inner())) {
            if matches!(cmd, Command::Once { .. }) {
                // It cannot win, so it need not hold the gate; but its
                // retries must hear this loss, so it is committed.
                self.propose(myself, cmd, reply, None);
                return;
            }
            metrics::counter!("callgrid_decisions_without_commit_total", "command" => cmd.kind())
                .increment(1);
            let _ = reply.send(Ok(lost));
            return;
        }
        self.busy.insert(gate.clone());
        self.propose(myself, cmd, reply, Some(gate));
    }

    fn tick(&self, myself: &ActorRef<OwnerMsg>, call: CallId, at_ms: u64) {
        // Never tick before the deadline, whatever this clock says.
        let tick = Command::Tick {
            call,
            now_ms: now_ms().max(at_ms),
        };
        let consensus = self.consensus.clone();
        let (myself, owner) = (myself.clone(), self.key.to_string());
        tokio::spawn(async move {
            if let Err(e) = consensus.propose(tick).await {
                tracing::warn!(%owner, call = call.0, error = %e, "timer tick not committed; retrying");
                let _ = myself.cast(OwnerMsg::Retry { call, at_ms });
            }
        });
    }
}

impl Actor for OwnerActor {
    type Msg = OwnerMsg;
    type State = OwnerState;
    type Arguments = (OwnerKey, Consensus);

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        (key, consensus): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        metrics::gauge!("callgrid_actors", "kind" => key.kind()).increment(1.0);
        Ok(OwnerState {
            key,
            consensus,
            armed: HashMap::new(),
            busy: HashSet::new(),
            waiting: HashMap::new(),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        metrics::gauge!("callgrid_actors", "kind" => state.key.kind()).decrement(1.0);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            OwnerMsg::Decide { cmd, reply } => {
                metrics::gauge!("callgrid_actor_mailbox_depth", "kind" => state.key.kind())
                    .decrement(1.0);
                let cmd = *cmd;
                if let Some(first) = state.consensus.read(|sb| sb.recall(&cmd)) {
                    metrics::counter!("callgrid_decisions_without_commit_total", "command" => "retry")
                        .increment(1);
                    let _ = reply.send(Ok(first));
                    return Ok(());
                }
                match gate_of(&cmd) {
                    None => state.propose(&myself, cmd, reply, None),
                    Some(gate) if state.busy.contains(&gate) => {
                        state
                            .waiting
                            .entry(gate)
                            .or_default()
                            .push_back((cmd, reply));
                    }
                    Some(gate) => state.claim(&myself, cmd, reply, gate),
                }
            }
            OwnerMsg::Settled { gate } => {
                state.busy.remove(&gate);
                // Racers that queued behind it: the losers are answered
                // now; the first that may still win is proposed.
                while !state.busy.contains(&gate)
                    && let Some((cmd, reply)) =
                        state.waiting.get_mut(&gate).and_then(VecDeque::pop_front)
                {
                    state.claim(&myself, cmd, reply, gate.clone());
                }
                if state.waiting.get(&gate).is_some_and(VecDeque::is_empty) {
                    state.waiting.remove(&gate);
                }
            }
            OwnerMsg::Arm { call, at_ms } => {
                if state.armed.get(&call) != Some(&at_ms) {
                    state.armed.insert(call, at_ms);
                    let delay = Duration::from_millis(at_ms.saturating_sub(now_ms()));
                    myself.send_after(delay, move || OwnerMsg::Fire { call, at_ms });
                }
            }
            OwnerMsg::Fire { call, at_ms } => {
                if state.armed.get(&call) == Some(&at_ms) {
                    state.armed.remove(&call);
                    let me = state.consensus.node_id;
                    let (still_mine, due) = state.consensus.read(|sb| {
                        (
                            super::is_local(&state.key, sb, me),
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
            OwnerMsg::Retry { call, at_ms } => {
                // Unless the call was re-armed meanwhile.
                if let std::collections::hash_map::Entry::Vacant(slot) = state.armed.entry(call) {
                    slot.insert(at_ms);
                    myself.send_after(Duration::from_millis(200), move || OwnerMsg::Fire {
                        call,
                        at_ms,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use callgrid_model::{Extension, Party, TenantId};

    use super::*;

    #[test]
    fn racers_share_a_gate_and_everything_else_pipelines() {
        let tenant = TenantId::parse("tenant", "acme").unwrap();
        let ext = Extension::parse("by", "101").unwrap();
        let code = ParkCode::new("code", 42).unwrap();
        let call = CallId(7);
        let claim = |cmd: Command| gate_of(&cmd);
        assert_eq!(
            claim(Command::Retrieve {
                tenant: tenant.clone(),
                by: ext.clone(),
                code,
                now_ms: 0,
            }),
            Some(Gate::Code(code)),
            "retrieves of one code race each other, not other codes"
        );
        assert_eq!(
            claim(Command::Answer {
                tenant: tenant.clone(),
                call,
                by: ext.clone(),
                now_ms: 0,
            }),
            Some(Gate::Owner)
        );
        for unraced in [
            Command::Hangup {
                tenant: tenant.clone(),
                call,
                by: Party::Extension(ext.clone()),
                now_ms: 0,
            },
            Command::Park {
                tenant: tenant.clone(),
                call,
                by: ext.clone(),
                code: None,
                now_ms: 0,
            },
            Command::Tick { call, now_ms: 0 },
        ] {
            assert_eq!(claim(unraced), None);
        }
    }
}
