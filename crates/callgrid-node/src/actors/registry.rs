//! Finding (or starting) the actor of an owner.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callgrid_model::{CallId, Command, Response};
use ractor::{Actor, ActorRef, ActorStatus};

use crate::consensus::{Consensus, ProposeError};

use super::{OwnerActor, OwnerKey, OwnerMsg, is_local};

/// How long a request waits for its owner's decision before it reports the
/// outcome as unknown (the decision may still commit).
const DECIDE_TIMEOUT: Duration = Duration::from_secs(10);

/// The live owner actors of this node, started on first use.
#[derive(Clone)]
pub struct Owners {
    actors: Arc<Mutex<HashMap<OwnerKey, ActorRef<OwnerMsg>>>>,
    consensus: Consensus,
}

impl Owners {
    pub fn new(consensus: Consensus) -> Self {
        Self {
            actors: Arc::default(),
            consensus,
        }
    }

    fn live(&self, key: &OwnerKey) -> Option<ActorRef<OwnerMsg>> {
        let actors = self.actors.lock().expect("owners lock poisoned");
        actors
            .get(key)
            .filter(|a| !matches!(a.get_status(), ActorStatus::Stopped | ActorStatus::Stopping))
            .cloned()
    }

    async fn actor(&self, key: &OwnerKey) -> Result<ActorRef<OwnerMsg>, ProposeError> {
        if let Some(actor) = self.live(key) {
            return Ok(actor);
        }
        let (started, _) = Actor::spawn(None, OwnerActor, (key.clone(), self.consensus.clone()))
            .await
            .map_err(|e| {
                ProposeError::NotDecided(format!("owner actor {key} did not start: {e}"))
            })?;
        let mut actors = self.actors.lock().expect("owners lock poisoned");
        match actors.get(key) {
            // Another request started it first: use that one, so one owner has one queue.
            Some(existing)
                if !matches!(
                    existing.get_status(),
                    ActorStatus::Stopped | ActorStatus::Stopping
                ) =>
            {
                started.stop(None);
                Ok(existing.clone())
            }
            _ => {
                actors.insert(key.clone(), started.clone());
                Ok(started)
            }
        }
    }

    /// Decides `cmd` through this node's actor for `key`, after every
    /// decision queued there before it.
    pub async fn decide_local(
        &self,
        key: &OwnerKey,
        cmd: Command,
    ) -> Result<Response, ProposeError> {
        let key = key.clone();
        let actor = self.actor(&key).await?;
        // Mailbox depth: decisions sent and not yet taken up by the actor.
        metrics::gauge!("callgrid_actor_mailbox_depth", "kind" => key.kind()).increment(1.0);
        match actor
            .call(
                |reply| OwnerMsg::Decide {
                    cmd: Box::new(cmd),
                    reply,
                },
                Some(DECIDE_TIMEOUT),
            )
            .await
        {
            Ok(ractor::rpc::CallResult::Success(outcome)) => outcome,
            Ok(_) => Err(ProposeError::OutcomeUnknown(format!(
                "owner {key} did not answer in time"
            ))),
            Err(e) => Err(ProposeError::OutcomeUnknown(format!(
                "owner {key} is gone: {e}"
            ))),
        }
    }

    /// Arms `call`'s timer on its owner, if that owner lives on this node.
    pub async fn arm(&self, key: &OwnerKey, call: CallId, at_ms: u64) {
        let me = self.consensus.node_id;
        if !self.consensus.read(|sb| is_local(key, sb, me)) {
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

    /// How many owner actors run here.
    pub fn len(&self) -> usize {
        self.actors.lock().expect("owners lock poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
