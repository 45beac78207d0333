//! One owner's actor: a queue of decisions and a set of timers.

use std::collections::HashMap;
use std::time::Duration;

use callgrid_model::{CallId, Command, Response};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::clock::now_ms;
use crate::consensus::{Consensus, ProposeError};

use super::OwnerKey;

pub enum OwnerMsg {
    /// Commit `cmd` after every decision queued before it.
    Decide {
        cmd: Box<Command>,
        reply: RpcReplyPort<Result<Response, ProposeError>>,
    },
    /// Tick `call` at `at_ms` (replaces any earlier timer of that call).
    Arm { call: CallId, at_ms: u64 },
    /// A timer went off.
    Fire { call: CallId, at_ms: u64 },
}

pub struct OwnerActor;

pub struct OwnerState {
    key: OwnerKey,
    consensus: Consensus,
    /// The one live deadline per call; a `Fire` for any other is stale.
    armed: HashMap<CallId, u64>,
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
                // Racers queue here; once one has won, the others are
                // answered from the applied state without a commit.
                let cmd = *cmd;
                if let Some(lost) = state.consensus.read(|sb| sb.already_answered(&cmd)) {
                    metrics::counter!("callgrid_decisions_without_commit_total", "command" => cmd.kind()).increment(1);
                    let _ = reply.send(Ok(lost));
                    return Ok(());
                }
                let outcome = state.consensus.propose(cmd).await;
                // The requester may have gone away; the decision stands.
                let _ = reply.send(outcome);
            }
            OwnerMsg::Arm { call, at_ms } => {
                if state.armed.get(&call) != Some(&at_ms) {
                    state.armed.insert(call, at_ms);
                    let delay = Duration::from_millis(at_ms.saturating_sub(now_ms()));
                    myself.send_after(delay, move || OwnerMsg::Fire { call, at_ms });
                }
            }
            OwnerMsg::Fire { call, at_ms } => {
                let me = state.consensus.node_id;
                let still_mine = state
                    .consensus
                    .read(|sb| super::is_local(&state.key, sb, me));
                if state.armed.get(&call) == Some(&at_ms) && !still_mine {
                    // The shard moved; its new owner re-armed this timer.
                    state.armed.remove(&call);
                } else if state.armed.get(&call) == Some(&at_ms) {
                    state.armed.remove(&call);
                    // Never tick before the deadline, whatever this clock says.
                    let tick = Command::Tick {
                        call,
                        now_ms: now_ms().max(at_ms),
                    };
                    if let Err(e) = state.consensus.propose(tick).await {
                        tracing::warn!(owner = %state.key, call = call.0, error = %e, "timer tick not committed; retrying");
                        state.armed.insert(call, at_ms);
                        myself.send_after(Duration::from_millis(200), move || OwnerMsg::Fire {
                            call,
                            at_ms,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}
