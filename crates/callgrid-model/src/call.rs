//! A call and its state machine.
//!
//! `Ringing` → `Answered` ⇄ `Parked` → `Ended`. At every instant a call has
//! at most one answerer: the only way into `Answered` is [`Call::claim`],
//! which succeeds once per ringing (or ringing-back) episode.

use serde::{Deserialize, Serialize};

use crate::{AlertMode, CallId, Extension, ParkCode, Party, PolicyName, TenantId};

/// How an answered call came to be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AnswerHow {
    Direct,
    DirectedPickup,
    GroupPickup,
    NamedPickup,
    CallGroup,
    Retrieve,
    RingBack,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EndReason {
    /// The caller hung up before anyone answered.
    Cancelled,
    /// Someone hung up an established (or parked) call.
    HungUp,
    /// Nobody answered before the ring timeout and nothing forwarded it.
    NoAnswer,
    /// No endpoint could be alerted at all.
    Unavailable,
    /// The parker did not answer the ring-back.
    RingBackUnanswered,
}

/// Why an endpoint is being alerted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertReason {
    /// The callee itself (or a forwarding target).
    Callee,
    /// A member of the callee's call group.
    CallGroupMember,
    /// The parker, being rung back.
    RingBack,
}

/// One endpoint a ringing call alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub extension: Extension,
    pub mode: AlertMode,
    pub reason: AlertReason,
    /// When the alert starts (a call-group member's alert delay); before
    /// this the endpoint is not alerted and cannot answer.
    pub from_ms: u64,
    /// The endpoint has been told (its `Alert` notice was sent).
    pub announced: bool,
}

/// A call group being hunted in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hunt {
    pub members: Vec<(Extension, AlertMode)>,
    /// The member now alerted.
    pub index: usize,
    pub ring_ms: u64,
    pub step_deadline_ms: u64,
}

/// The one state a call is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallState {
    Ringing {
        alerting: Vec<Alert>,
        since_ms: u64,
        /// When ringing gives up (ends, or forwards on no answer).
        deadline_ms: u64,
        hunt: Option<Hunt>,
        /// The extension whose no-answer rule applies (the callee, or the
        /// last forwarding target).
        ringing_for: Extension,
        /// A forward on no answer has already happened; the next timeout ends the call.
        forwarded: bool,
    },
    Answered {
        by: Extension,
        how: AnswerHow,
        since_ms: u64,
    },
    Parked {
        code: ParkCode,
        policy: PolicyName,
        by: Extension,
        since_ms: u64,
        /// When the parker is rung back.
        ring_back_at_ms: u64,
        /// Set while the parker is being rung back: until when.
        ringing_back_until_ms: Option<u64>,
    },
    Ended {
        reason: EndReason,
        at_ms: u64,
    },
}

/// One call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub id: CallId,
    pub tenant: TenantId,
    pub caller: Party,
    /// The extension that was dialled.
    pub callee: Extension,
    pub state: CallState,
    pub created_ms: u64,
    /// When the call last left `Ringing` for `Answered` (used to tell a late
    /// racer that it lost, rather than that nothing rang).
    pub answered_ms: Option<u64>,
    /// The endpoints that were alerted when it was answered.
    pub rang_on: Vec<Extension>,
}

impl Call {
    pub fn is_ringing(&self) -> bool {
        matches!(self.state, CallState::Ringing { .. })
    }

    pub fn is_ended(&self) -> bool {
        matches!(self.state, CallState::Ended { .. })
    }

    /// Endpoints alerted at `now_ms` (delayed alerts that have not started are left out).
    pub fn alerting_at(&self, now_ms: u64) -> Vec<&Alert> {
        match &self.state {
            CallState::Ringing { alerting, .. } => {
                alerting.iter().filter(|a| a.from_ms <= now_ms).collect()
            }
            _ => Vec::new(),
        }
    }

    /// True if `ext` is alerted by this call at `now_ms`, ring-back included.
    pub fn alerts(&self, ext: &Extension, now_ms: u64) -> bool {
        match &self.state {
            CallState::Ringing { .. } => {
                self.alerting_at(now_ms).iter().any(|a| &a.extension == ext)
            }
            CallState::Parked {
                by,
                ringing_back_until_ms: Some(_),
                ..
            } => by == ext,
            _ => false,
        }
    }

    /// The earliest instant at which time alone changes this call.
    pub fn next_deadline(&self) -> Option<u64> {
        match &self.state {
            CallState::Ringing {
                alerting,
                deadline_ms,
                hunt,
                since_ms,
                ..
            } => {
                let mut next = *deadline_ms;
                if let Some(h) = hunt {
                    next = next.min(h.step_deadline_ms);
                }
                for a in alerting.iter().filter(|a| !a.announced) {
                    next = next.min(a.from_ms.max(*since_ms));
                }
                Some(next)
            }
            CallState::Parked {
                ring_back_at_ms,
                ringing_back_until_ms,
                ..
            } => Some(ringing_back_until_ms.unwrap_or(*ring_back_at_ms)),
            CallState::Answered { .. } | CallState::Ended { .. } => None,
        }
    }

    /// Everyone whose lamp this call can light: caller (if an extension),
    /// callee, alerted endpoints, answerer and parker.
    pub fn involved(&self) -> Vec<Extension> {
        let mut v: Vec<Extension> = Vec::new();
        if let Some(e) = self.caller.extension() {
            v.push(e.clone());
        }
        v.push(self.callee.clone());
        match &self.state {
            CallState::Ringing { alerting, hunt, .. } => {
                v.extend(alerting.iter().map(|a| a.extension.clone()));
                if let Some(h) = hunt {
                    v.extend(h.members.iter().map(|(e, _)| e.clone()));
                }
            }
            CallState::Answered { by, .. } | CallState::Parked { by, .. } => v.push(by.clone()),
            CallState::Ended { .. } => {}
        }
        v.sort();
        v.dedup();
        v
    }
}

/// A BLF lamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LampState {
    Idle,
    Ringing,
    Busy,
    Offline,
    /// A park code's lamp while a call is parked on it.
    Parked,
}
