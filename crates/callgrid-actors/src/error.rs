//! Why a request got no decided answer.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a command got no decided answer. Every case is one of two things a
/// client may conclude ([`DecideError::is_certain`]): it certainly took
/// no effect (retry freely), or it may have (retry with the same request
/// id to learn what happened). The gRPC API maps these to a status in one
/// place.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum DecideError {
    /// No leader could be reached to commit it.
    #[error(
        "not decided: no leader reachable (last known: {leader:?}); this node may be cut off from the majority"
    )]
    NoLeader { leader: Option<u64> },
    /// This node leads but a majority has not answered it lately: nothing
    /// it proposed now could commit.
    #[error("not decided: this node leads but has heard from no majority for {silent_ms} ms")]
    NoQuorum { silent_ms: u64 },
    /// The node is shutting down and took nothing new.
    #[error("not decided: the node is shutting down")]
    ShuttingDown,
    /// The request's deadline passed before anything was proposed.
    #[error("not decided: the request's deadline passed before it was proposed")]
    DeadlineBeforeProposal,
    /// Certainly not taken, for another reason (named).
    #[error("not decided: {0}")]
    NotDecided(String),
    /// The request's deadline passed while its proposal was in flight: it
    /// may have taken effect, or may yet.
    #[error(
        "outcome unknown: the request's deadline passed with its proposal in flight; it may commit"
    )]
    DeadlineInFlight,
    /// Handed to Raft (or perhaps handed) and not known to have committed.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
}

impl DecideError {
    /// True if the request certainly took no effect and never will.
    pub fn is_certain(&self) -> bool {
        matches!(
            self,
            DecideError::NoLeader { .. }
                | DecideError::NoQuorum { .. }
                | DecideError::ShuttingDown
                | DecideError::DeadlineBeforeProposal
                | DecideError::NotDecided(_)
        )
    }

    /// This error, for a request an earlier attempt of which may have
    /// been taken (`maybe_taken`): then a later refusal does not settle
    /// it, and the request's outcome is unknown.
    pub fn after(self, maybe_taken: bool) -> Self {
        if maybe_taken && self.is_certain() {
            DecideError::OutcomeUnknown(format!(
                "an earlier attempt may have been taken; then: {}",
                self.reason()
            ))
        } else {
            self
        }
    }

    /// The explanation without its "not decided" / "outcome unknown" prefix.
    pub fn reason(&self) -> String {
        let text = self.to_string();
        text.split_once(": ")
            .map_or(text.clone(), |(_, why)| why.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::DecideError;

    #[test]
    fn a_refusal_after_an_attempt_that_may_have_been_taken_is_outcome_unknown() {
        let refused = || DecideError::NoLeader { leader: Some(2) };
        assert_eq!(refused().after(false), refused());
        let later = refused().after(true);
        assert!(!later.is_certain());
        assert!(
            later.to_string().starts_with("outcome unknown: ")
                && later.to_string().contains("no leader reachable"),
            "{later}"
        );
        let unknown = DecideError::OutcomeUnknown("timed out".into());
        assert_eq!(unknown.clone().after(false), unknown);
        assert_eq!(
            DecideError::DeadlineInFlight.after(true),
            DecideError::DeadlineInFlight
        );
    }

    #[test]
    fn each_case_says_which_of_the_two_it_is() {
        for e in [
            DecideError::NoLeader { leader: None },
            DecideError::NoQuorum { silent_ms: 1_600 },
            DecideError::ShuttingDown,
            DecideError::DeadlineBeforeProposal,
            DecideError::NotDecided("owner has not applied shard epoch 4".into()),
        ] {
            assert!(e.is_certain(), "{e}");
            assert!(e.to_string().starts_with("not decided: "), "{e}");
        }
        for e in [
            DecideError::DeadlineInFlight,
            DecideError::OutcomeUnknown("leader: connection reset".into()),
        ] {
            assert!(!e.is_certain(), "{e}");
            assert!(e.to_string().starts_with("outcome unknown: "), "{e}");
        }
    }
}
