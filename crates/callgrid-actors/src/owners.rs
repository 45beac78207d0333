//! The owner actors of this node: found or started on first use,
//! supervised, and stopped when their shard moves away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use callgrid_model::{CallId, Command, OwnerKey, Response};
use ractor::{Actor, ActorProcessingErr, ActorRef, ActorStatus, SupervisionEvent};

use crate::owner::{OwnerActor, OwnerMsg, Read, answered_without_commit};
use crate::place::{home_of_call, is_local};
use crate::{Deadline, DecideError, Propose};

/// The live owner actors of this node. Cheap to clone.
pub struct Owners<P: Propose> {
    shared: Arc<Shared<P>>,
}

impl<P: Propose> Clone for Owners<P> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<P> {
    actors: Mutex<HashMap<OwnerKey, ActorRef<OwnerMsg>>>,
    proposer: P,
    /// Links every owner actor: a failed one is replaced (its timers
    /// re-armed from replicated state), a stopped one forgotten.
    supervisor: Mutex<Option<ActorRef<()>>>,
}

/// Whether `actor` still takes messages: not stopped, stopping, or
/// draining its mailbox on the way out.
fn alive(actor: &ActorRef<OwnerMsg>) -> bool {
    !matches!(
        actor.get_status(),
        ActorStatus::Stopped | ActorStatus::Stopping | ActorStatus::Draining
    )
}

impl<P: Propose> Owners<P> {
    /// Starts the supervisor; owner actors start on first use.
    pub async fn start(proposer: P) -> Result<Self, DecideError> {
        let owners = Self {
            shared: Arc::new(Shared {
                actors: Mutex::default(),
                proposer,
                supervisor: Mutex::default(),
            }),
        };
        let (supervisor, _) = Actor::spawn(None, Supervisor(owners.clone()), ())
            .await
            .map_err(|e| DecideError::NotDecided(format!("owner supervisor did not start: {e}")))?;
        *owners
            .shared
            .supervisor
            .lock()
            .expect("owners lock poisoned") = Some(supervisor);
        Ok(owners)
    }

    pub fn proposer(&self) -> &P {
        &self.shared.proposer
    }

    pub(crate) fn live(&self, key: &OwnerKey) -> Option<ActorRef<OwnerMsg>> {
        let actors = self.shared.actors.lock().expect("owners lock poisoned");
        actors.get(key).filter(|a| alive(a)).cloned()
    }

    async fn actor(&self, key: &OwnerKey) -> Result<ActorRef<OwnerMsg>, DecideError> {
        if let Some(actor) = self.live(key) {
            return Ok(actor);
        }
        let supervisor = self
            .shared
            .supervisor
            .lock()
            .expect("owners lock poisoned")
            .clone()
            .ok_or(DecideError::ShuttingDown)?;
        let (started, _) = Actor::spawn_linked(
            None,
            OwnerActor::<P>::default(),
            (key.clone(), self.shared.proposer.clone()),
            supervisor.get_cell(),
        )
        .await
        .map_err(|e| DecideError::NotDecided(format!("owner actor {key} did not start: {e}")))?;
        let mut actors = self.shared.actors.lock().expect("owners lock poisoned");
        match actors.get(key) {
            // Another request started it first: use that one, so one owner has one queue.
            Some(existing) if alive(existing) => {
                started.stop(None);
                Ok(existing.clone())
            }
            _ => {
                actors.insert(key.clone(), started.clone());
                Ok(started)
            }
        }
    }

    /// Decides `cmd` for the owner `key`, by `deadline`. A command that
    /// contends for nothing (a plain dial, a hang-up, a park) and a claim
    /// already decided are settled here, in the caller's task: the actor
    /// would only pass them on. A claim that may still win goes to the
    /// actor, behind every earlier claim through its gate.
    pub async fn decide(
        &self,
        key: &OwnerKey,
        cmd: Command,
        deadline: Deadline,
    ) -> Result<Response, DecideError> {
        match Read::of(&self.shared.proposer, &cmd) {
            Read::Recalled(first) => {
                answered_without_commit("retry");
                return Ok(first);
            }
            Read::Lost(lost) if !matches!(cmd, Command::Once { .. }) => {
                answered_without_commit(cmd.kind());
                return Ok(lost);
            }
            // A loss to remember for its retries, or nothing to contend
            // for: a commit, beside any gate.
            Read::Lost(_) | Read::Contends(None) => {
                if deadline.passed() {
                    return Err(DecideError::DeadlineBeforeProposal);
                }
                return self.shared.proposer.propose(cmd, deadline).await;
            }
            Read::Contends(Some(_)) => {}
        }
        let (reply, answer) = ractor::concurrency::oneshot();
        let mut message = OwnerMsg::Decide {
            cmd: Box::new(cmd),
            deadline,
            reply: reply.into(),
        };
        // An actor that stopped (idle, say) between the lookup and the send
        // refuses the message unread: send it to the owner's next actor.
        let mut attempts = 0;
        loop {
            let actor = self.actor(key).await?;
            // Mailbox depth: decisions sent and not yet taken up by the actor.
            metrics::gauge!("callgrid_actor_mailbox_depth", "kind" => key.kind()).increment(1.0);
            let refused = match actor.send_message(message) {
                Ok(()) => break,
                Err(refused) => refused,
            };
            metrics::gauge!("callgrid_actor_mailbox_depth", "kind" => key.kind()).decrement(1.0);
            match refused {
                ractor::MessagingErr::SendErr(back) if attempts < 2 => {
                    attempts += 1;
                    message = back;
                }
                _ => return Err(DecideError::NotDecided(format!("owner {key} stopped"))),
            }
        }
        match deadline.run(answer).await {
            Some(Ok(outcome)) => outcome,
            // Dropped unanswered: the actor failed with it in hand.
            Some(Err(_)) => Err(DecideError::OutcomeUnknown(format!(
                "owner {key} stopped with the request in hand"
            ))),
            None => Err(DecideError::DeadlineInFlight),
        }
    }

    /// Arms `call`'s timer on its owner, if that owner lives on this node.
    pub async fn arm(&self, key: &OwnerKey, call: CallId, at_ms: u64) {
        let me = self.shared.proposer.node_id();
        if !self.shared.proposer.read(|sb| is_local(key, sb, me)) {
            return;
        }
        match self.actor(key).await {
            Ok(actor) => {
                let _ = actor.cast(OwnerMsg::Arm { call, at_ms });
            }
            Err(e) => {
                tracing::error!(owner = %key, call = call.0, error = %e, "could not arm a call timer")
            }
        }
    }

    /// Re-arms every pending call timer this node owns (of `only` that
    /// owner, if given), from replicated state: at start-up, when shards
    /// move here, when a failed actor is replaced.
    pub async fn resume_timers(&self, only: Option<&OwnerKey>) {
        let pending = self.shared.proposer.read(|sb| {
            sb.pending_deadlines()
                .into_iter()
                .filter_map(|(_, call, at)| home_of_call(sb, call).map(|key| (key, call, at)))
                .filter(|(key, _, _)| only.is_none_or(|o| o == key))
                .collect::<Vec<_>>()
        });
        if !pending.is_empty() {
            tracing::debug!(timers = pending.len(), "arming call timers");
        }
        for (key, call, at) in pending {
            self.arm(&key, call, at).await;
        }
    }

    /// Stops the actors of owners no longer placed on this node; their
    /// queued claims are proposed as they are, and the new owner re-arms
    /// their timers.
    pub fn release_moved(&self) -> usize {
        let me = self.shared.proposer.node_id();
        let moved: Vec<_> = {
            let mut actors = self.shared.actors.lock().expect("owners lock poisoned");
            let gone: Vec<OwnerKey> = self.shared.proposer.read(|sb| {
                actors
                    .keys()
                    .filter(|key| !is_local(key, sb, me))
                    .cloned()
                    .collect()
            });
            gone.iter().filter_map(|key| actors.remove(key)).collect()
        };
        for actor in &moved {
            actor.stop(Some("shard moved".into()));
        }
        moved.len()
    }

    /// Stops every owner actor and the supervisor (the node is stopping).
    pub fn stop_all(&self) {
        let supervisor = self
            .shared
            .supervisor
            .lock()
            .expect("owners lock poisoned")
            .take();
        let actors: Vec<_> = self
            .shared
            .actors
            .lock()
            .expect("owners lock poisoned")
            .drain()
            .map(|(_, a)| a)
            .collect();
        for actor in actors {
            actor.stop(Some("node stopping".into()));
        }
        if let Some(supervisor) = supervisor {
            supervisor.stop(None);
        }
    }

    /// Forgets `actor` (it stopped or failed); `true` if it was the live
    /// actor of its owner, which is then named.
    fn forget(&self, actor: &ractor::ActorCell) -> Option<OwnerKey> {
        let mut actors = self.shared.actors.lock().expect("owners lock poisoned");
        let key = actors
            .iter()
            .find(|(_, a)| a.get_id() == actor.get_id())
            .map(|(k, _)| k.clone())?;
        actors.remove(&key);
        Some(key)
    }

    /// How many owner actors run here.
    pub fn len(&self) -> usize {
        self.shared
            .actors
            .lock()
            .expect("owners lock poisoned")
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an actor of `key` runs here.
    pub fn runs(&self, key: &OwnerKey) -> bool {
        self.live(key).is_some()
    }

    /// How many claims wait behind their gates in `key`'s actor, once it
    /// has taken up every message sent before this one.
    #[cfg(test)]
    pub(crate) async fn queued(&self, key: &OwnerKey) -> Option<usize> {
        let actor = self.live(key)?;
        ractor::call!(actor, OwnerMsg::Queued).ok()
    }

    /// How many idle checks `key`'s actor has made.
    #[cfg(test)]
    pub(crate) async fn idle_checks(&self, key: &OwnerKey) -> Option<u64> {
        let actor = self.live(key)?;
        ractor::call!(actor, OwnerMsg::IdleChecks).ok()
    }
}

/// The supervisor of a node's owner actors.
struct Supervisor<P: Propose>(Owners<P>);

impl<P: Propose> Actor for Supervisor<P> {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<()>, _args: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<()>,
        event: SupervisionEvent,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(actor, error) => {
                metrics::counter!("callgrid_actor_failures_total").increment(1);
                if let Some(key) = self.0.forget(&actor) {
                    tracing::error!(owner = %key, %error, "owner actor failed; starting another");
                    // Its timers live on in replicated state.
                    let owners = self.0.clone();
                    tokio::spawn(async move { owners.resume_timers(Some(&key)).await });
                }
            }
            SupervisionEvent::ActorTerminated(actor, _, _) => {
                self.0.forget(&actor);
            }
            _ => {}
        }
        Ok(())
    }
}
