//! Business outcomes: what a call-control request achieved.
//!
//! These are results, not errors. Load testers count them, so every case a
//! caller can act on has its own variant; a race loser always gets
//! `AlreadyAnswered`.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{AnswerHow, CallId, EndReason, Extension, ParkCode, ValidationError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PickupOutcome {
    PickedUp {
        call: CallId,
        /// The extension the call was ringing for.
        from: Extension,
        how: AnswerHow,
    },
    /// The target is not an extension of the picker's tenant.
    InvalidExtension,
    NoAlertingCall,
    /// Somebody else answered first (this is what a race loser gets).
    AlreadyAnswered,
    /// The picker may not pick this call up: permission, named/legacy mode,
    /// or another tenant's call.
    NotPermitted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnswerOutcome {
    Answered {
        how: AnswerHow,
    },
    AlreadyAnswered,
    /// The extension is not (or not yet) alerted by this call.
    NotAlerting,
    CallEnded,
    UnknownCall,
    NotPermitted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallOutcome {
    /// The call exists and rings (or was forwarded) as `CallId`.
    Ringing { call: CallId },
    /// Ended at once: nobody could be alerted.
    Unavailable { call: CallId },
    /// The dialled number is no extension of the tenant.
    NoSuchExtension,
    /// The calling extension is not in the tenant.
    UnknownCaller,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HangupOutcome {
    Ended {
        reason: EndReason,
    },
    AlreadyEnded,
    /// The party is neither the caller nor the answerer.
    NotInCall,
    UnknownCall,
    NotPermitted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParkOutcome {
    Parked {
        code: ParkCode,
    },
    /// Only an answered call can be parked, and only by its answerer.
    NotAnswered,
    NoParkPolicy,
    ParkingNotAllowed,
    /// Every code of the policy's range is taken; the call stays answered.
    RangeFull,
    CodeInUse,
    /// The requested code is outside the policy's range.
    CodeOutOfRange,
    UnknownCall,
    NotPermitted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetrieveOutcome {
    Retrieved {
        call: CallId,
    },
    UnknownCode,
    /// Already retrieved (or answered on ring-back): a race loser's outcome.
    AlreadyAnswered,
    /// The parked call ended (caller hung up, or the ring-back went unanswered).
    CallEnded,
    NoParkPolicy,
    /// The code is parked under another park policy than the retriever's.
    OtherParkGroup,
}

/// What dialling digits did: an ordinary call or a feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DialOutcome {
    Call(CallOutcome),
    Pickup(PickupOutcome),
    Retrieve(RetrieveOutcome),
}

/// Why a directory write was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum DirectoryError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("tenant {0} does not exist")]
    TenantNotFound(String),
    #[error("{field}: extension {number} does not exist in this tenant")]
    ExtensionNotFound { field: String, number: String },
    #[error("{field}: park policy {name} does not exist in this tenant")]
    PolicyNotFound { field: String, name: String },
    #[error("{field}: extension {number} is not voice-enabled (call groups and park require it)")]
    NotVoiceEnabled { field: String, number: String },
    #[error("tenant limit reached: at most {limit} call groups")]
    CallGroupLimit { limit: u32 },
    #[error("extension {0} owns no call group")]
    CallGroupNotFound(String),
    #[error("{0}")]
    InUse(String),
    #[error("{field}: extension {number} has no SIP password, so it cannot register")]
    NoSipSecret { field: String, number: String },
}
