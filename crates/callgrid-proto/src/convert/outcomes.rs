//! Business outcomes ↔ the response messages that carry them.
//!
//! Model → proto is what the node answers. Proto → model exists so a node
//! that forwarded a request to the shard owner gets the owner's outcome
//! back as the model type, unchanged.

use callgrid_model::{
    AnswerOutcome, CallId, CallOutcome, DialOutcome, Extension, HangupOutcome, ParkCode,
    ParkOutcome, PickupOutcome, RetrieveOutcome, ValidationError,
};

use super::enums::{end_reason, required_answer_how};
use super::{enum_field, unspecified};
use crate::v1;

// ---- pickup -----------------------------------------------------------------

impl From<&PickupOutcome> for v1::PickupResponse {
    fn from(o: &PickupOutcome) -> Self {
        use v1::PickupResult as R;
        let bare = |r: R| v1::PickupResponse {
            result: r as i32,
            ..Default::default()
        };
        match o {
            PickupOutcome::PickedUp { call, from, how } => v1::PickupResponse {
                result: R::PickedUp as i32,
                call_id: call.number(),
                from: from.to_string(),
                how: v1::AnswerHow::from(*how) as i32,
            },
            PickupOutcome::InvalidExtension => bare(R::InvalidExtension),
            PickupOutcome::NoAlertingCall => bare(R::NoAlertingCall),
            PickupOutcome::AlreadyAnswered => bare(R::AlreadyAnswered),
            PickupOutcome::NotPermitted => bare(R::NotPermitted),
        }
    }
}

impl TryFrom<&v1::PickupResponse> for PickupOutcome {
    type Error = ValidationError;

    fn try_from(r: &v1::PickupResponse) -> Result<Self, Self::Error> {
        use v1::PickupResult as R;
        Ok(match enum_field("result", r.result)? {
            R::Unspecified => return Err(unspecified("result")),
            R::PickedUp => PickupOutcome::PickedUp {
                call: CallId(r.call_id),
                from: Extension::parse("from", &r.from)?,
                how: required_answer_how("how", r.how)?,
            },
            R::InvalidExtension => PickupOutcome::InvalidExtension,
            R::NoAlertingCall => PickupOutcome::NoAlertingCall,
            R::AlreadyAnswered => PickupOutcome::AlreadyAnswered,
            R::NotPermitted => PickupOutcome::NotPermitted,
        })
    }
}

// ---- answer -----------------------------------------------------------------

impl From<&AnswerOutcome> for v1::AnswerResponse {
    fn from(o: &AnswerOutcome) -> Self {
        use v1::AnswerResult as R;
        let (result, how) = match o {
            AnswerOutcome::Answered { how } => (R::Answered, v1::AnswerHow::from(*how)),
            AnswerOutcome::AlreadyAnswered => (R::AlreadyAnswered, v1::AnswerHow::Unspecified),
            AnswerOutcome::NotAlerting => (R::NotAlerting, v1::AnswerHow::Unspecified),
            AnswerOutcome::CallEnded => (R::CallEnded, v1::AnswerHow::Unspecified),
            AnswerOutcome::UnknownCall => (R::UnknownCall, v1::AnswerHow::Unspecified),
            AnswerOutcome::NotPermitted => (R::NotPermitted, v1::AnswerHow::Unspecified),
        };
        v1::AnswerResponse {
            result: result as i32,
            how: how as i32,
        }
    }
}

impl TryFrom<&v1::AnswerResponse> for AnswerOutcome {
    type Error = ValidationError;

    fn try_from(r: &v1::AnswerResponse) -> Result<Self, Self::Error> {
        use v1::AnswerResult as R;
        Ok(match enum_field("result", r.result)? {
            R::Unspecified => return Err(unspecified("result")),
            R::Answered => AnswerOutcome::Answered {
                how: required_answer_how("how", r.how)?,
            },
            R::AlreadyAnswered => AnswerOutcome::AlreadyAnswered,
            R::NotAlerting => AnswerOutcome::NotAlerting,
            R::CallEnded => AnswerOutcome::CallEnded,
            R::UnknownCall => AnswerOutcome::UnknownCall,
            R::NotPermitted => AnswerOutcome::NotPermitted,
        })
    }
}

// ---- hangup -----------------------------------------------------------------

impl From<&HangupOutcome> for v1::HangupResponse {
    fn from(o: &HangupOutcome) -> Self {
        use v1::HangupResult as R;
        let (result, reason) = match o {
            HangupOutcome::Ended { reason } => (R::Ended, v1::EndReason::from(*reason)),
            HangupOutcome::AlreadyEnded => (R::AlreadyEnded, v1::EndReason::Unspecified),
            HangupOutcome::NotInCall => (R::NotInCall, v1::EndReason::Unspecified),
            HangupOutcome::UnknownCall => (R::UnknownCall, v1::EndReason::Unspecified),
            HangupOutcome::NotPermitted => (R::NotPermitted, v1::EndReason::Unspecified),
        };
        v1::HangupResponse {
            result: result as i32,
            reason: reason as i32,
        }
    }
}

impl TryFrom<&v1::HangupResponse> for HangupOutcome {
    type Error = ValidationError;

    fn try_from(r: &v1::HangupResponse) -> Result<Self, Self::Error> {
        use v1::HangupResult as R;
        Ok(match enum_field("result", r.result)? {
            R::Unspecified => return Err(unspecified("result")),
            R::Ended => HangupOutcome::Ended {
                reason: end_reason("reason", r.reason)?,
            },
            R::AlreadyEnded => HangupOutcome::AlreadyEnded,
            R::NotInCall => HangupOutcome::NotInCall,
            R::UnknownCall => HangupOutcome::UnknownCall,
            R::NotPermitted => HangupOutcome::NotPermitted,
        })
    }
}

// ---- park and retrieve ------------------------------------------------------

impl From<&ParkOutcome> for v1::ParkResponse {
    fn from(o: &ParkOutcome) -> Self {
        use v1::ParkResult as R;
        let (result, code) = match o {
            ParkOutcome::Parked { code } => (R::Parked, u32::from(code.get())),
            ParkOutcome::NotAnswered => (R::NotAnswered, 0),
            ParkOutcome::NoParkPolicy => (R::NoParkPolicy, 0),
            ParkOutcome::ParkingNotAllowed => (R::ParkingNotAllowed, 0),
            ParkOutcome::RangeFull => (R::RangeFull, 0),
            ParkOutcome::CodeInUse => (R::CodeInUse, 0),
            ParkOutcome::CodeOutOfRange => (R::CodeOutOfRange, 0),
            ParkOutcome::UnknownCall => (R::UnknownCall, 0),
            ParkOutcome::NotPermitted => (R::NotPermitted, 0),
        };
        v1::ParkResponse {
            result: result as i32,
            code,
        }
    }
}

impl TryFrom<&v1::ParkResponse> for ParkOutcome {
    type Error = ValidationError;

    fn try_from(r: &v1::ParkResponse) -> Result<Self, Self::Error> {
        use v1::ParkResult as R;
        Ok(match enum_field("result", r.result)? {
            R::Unspecified => return Err(unspecified("result")),
            R::Parked => ParkOutcome::Parked {
                code: ParkCode::new("code", r.code)?,
            },
            R::NotAnswered => ParkOutcome::NotAnswered,
            R::NoParkPolicy => ParkOutcome::NoParkPolicy,
            R::ParkingNotAllowed => ParkOutcome::ParkingNotAllowed,
            R::RangeFull => ParkOutcome::RangeFull,
            R::CodeInUse => ParkOutcome::CodeInUse,
            R::CodeOutOfRange => ParkOutcome::CodeOutOfRange,
            R::UnknownCall => ParkOutcome::UnknownCall,
            R::NotPermitted => ParkOutcome::NotPermitted,
        })
    }
}

impl From<&RetrieveOutcome> for v1::RetrieveResponse {
    fn from(o: &RetrieveOutcome) -> Self {
        use v1::RetrieveResult as R;
        let (result, call_id) = match o {
            RetrieveOutcome::Retrieved { call } => (R::Retrieved, call.number()),
            RetrieveOutcome::UnknownCode => (R::UnknownCode, 0),
            RetrieveOutcome::AlreadyAnswered => (R::AlreadyAnswered, 0),
            RetrieveOutcome::CallEnded => (R::CallEnded, 0),
            RetrieveOutcome::NoParkPolicy => (R::NoParkPolicy, 0),
            RetrieveOutcome::OtherParkGroup => (R::OtherParkGroup, 0),
        };
        v1::RetrieveResponse {
            result: result as i32,
            call_id,
        }
    }
}

impl TryFrom<&v1::RetrieveResponse> for RetrieveOutcome {
    type Error = ValidationError;

    fn try_from(r: &v1::RetrieveResponse) -> Result<Self, Self::Error> {
        use v1::RetrieveResult as R;
        Ok(match enum_field("result", r.result)? {
            R::Unspecified => return Err(unspecified("result")),
            R::Retrieved => RetrieveOutcome::Retrieved {
                call: CallId(r.call_id),
            },
            R::UnknownCode => RetrieveOutcome::UnknownCode,
            R::AlreadyAnswered => RetrieveOutcome::AlreadyAnswered,
            R::CallEnded => RetrieveOutcome::CallEnded,
            R::NoParkPolicy => RetrieveOutcome::NoParkPolicy,
            R::OtherParkGroup => RetrieveOutcome::OtherParkGroup,
        })
    }
}

// ---- dial -------------------------------------------------------------------

impl From<&CallOutcome> for v1::CallResponse {
    fn from(o: &CallOutcome) -> Self {
        use v1::CallResult as R;
        let (result, call_id) = match o {
            CallOutcome::Ringing { call } => (R::Ringing, call.number()),
            CallOutcome::Unavailable { call } => (R::Unavailable, call.number()),
            CallOutcome::NoSuchExtension => (R::NoSuchExtension, 0),
            CallOutcome::UnknownCaller => (R::UnknownCaller, 0),
        };
        v1::CallResponse {
            result: result as i32,
            call_id,
        }
    }
}

impl TryFrom<&v1::CallResponse> for CallOutcome {
    type Error = ValidationError;

    fn try_from(r: &v1::CallResponse) -> Result<Self, Self::Error> {
        use v1::CallResult as R;
        Ok(match enum_field("result", r.result)? {
            R::Unspecified => return Err(unspecified("result")),
            R::Ringing => CallOutcome::Ringing {
                call: CallId(r.call_id),
            },
            R::Unavailable => CallOutcome::Unavailable {
                call: CallId(r.call_id),
            },
            R::NoSuchExtension => CallOutcome::NoSuchExtension,
            R::UnknownCaller => CallOutcome::UnknownCaller,
        })
    }
}

impl From<&DialOutcome> for v1::DialResponse {
    fn from(o: &DialOutcome) -> Self {
        use v1::dial_response::Outcome;
        let outcome = match o {
            DialOutcome::Call(c) => Outcome::Call(c.into()),
            DialOutcome::Pickup(p) => Outcome::Pickup(p.into()),
            DialOutcome::Retrieve(r) => Outcome::Retrieve(r.into()),
        };
        v1::DialResponse {
            outcome: Some(outcome),
        }
    }
}

impl TryFrom<&v1::DialResponse> for DialOutcome {
    type Error = ValidationError;

    fn try_from(r: &v1::DialResponse) -> Result<Self, Self::Error> {
        use v1::dial_response::Outcome;
        let in_outcome = |e: ValidationError| super::in_field("outcome", e);
        match &r.outcome {
            None => Err(ValidationError::new("outcome", "must be set")),
            Some(Outcome::Call(c)) => CallOutcome::try_from(c).map(DialOutcome::Call),
            Some(Outcome::Pickup(p)) => PickupOutcome::try_from(p).map(DialOutcome::Pickup),
            Some(Outcome::Retrieve(t)) => RetrieveOutcome::try_from(t).map(DialOutcome::Retrieve),
        }
        .map_err(in_outcome)
    }
}

#[cfg(test)]
mod tests {
    use callgrid_model::{AnswerHow, EndReason};

    use super::*;

    fn ext(s: &str) -> Extension {
        Extension::parse("t", s).unwrap()
    }

    fn every_pickup() -> Vec<PickupOutcome> {
        vec![
            PickupOutcome::PickedUp {
                call: CallId(7),
                from: ext("102"),
                how: AnswerHow::DirectedPickup,
            },
            PickupOutcome::InvalidExtension,
            PickupOutcome::NoAlertingCall,
            PickupOutcome::AlreadyAnswered,
            PickupOutcome::NotPermitted,
        ]
    }

    fn every_retrieve() -> Vec<RetrieveOutcome> {
        vec![
            RetrieveOutcome::Retrieved { call: CallId(0) },
            RetrieveOutcome::UnknownCode,
            RetrieveOutcome::AlreadyAnswered,
            RetrieveOutcome::CallEnded,
            RetrieveOutcome::NoParkPolicy,
            RetrieveOutcome::OtherParkGroup,
        ]
    }

    #[test]
    fn every_pickup_outcome_round_trips() {
        for o in every_pickup() {
            let r = v1::PickupResponse::from(&o);
            assert_eq!(PickupOutcome::try_from(&r).unwrap(), o);
        }
    }

    #[test]
    fn every_answer_outcome_round_trips() {
        for o in [
            AnswerOutcome::Answered {
                how: AnswerHow::CallGroup,
            },
            AnswerOutcome::AlreadyAnswered,
            AnswerOutcome::NotAlerting,
            AnswerOutcome::CallEnded,
            AnswerOutcome::UnknownCall,
            AnswerOutcome::NotPermitted,
        ] {
            let r = v1::AnswerResponse::from(&o);
            assert_eq!(AnswerOutcome::try_from(&r).unwrap(), o);
        }
    }

    #[test]
    fn every_hangup_outcome_round_trips() {
        for o in [
            HangupOutcome::Ended {
                reason: EndReason::Cancelled,
            },
            HangupOutcome::AlreadyEnded,
            HangupOutcome::NotInCall,
            HangupOutcome::UnknownCall,
            HangupOutcome::NotPermitted,
        ] {
            let r = v1::HangupResponse::from(&o);
            assert_eq!(HangupOutcome::try_from(&r).unwrap(), o);
        }
    }

    #[test]
    fn every_park_outcome_round_trips() {
        for o in [
            ParkOutcome::Parked {
                code: ParkCode::new("t", 42).unwrap(),
            },
            ParkOutcome::NotAnswered,
            ParkOutcome::NoParkPolicy,
            ParkOutcome::ParkingNotAllowed,
            ParkOutcome::RangeFull,
            ParkOutcome::CodeInUse,
            ParkOutcome::CodeOutOfRange,
            ParkOutcome::UnknownCall,
            ParkOutcome::NotPermitted,
        ] {
            let r = v1::ParkResponse::from(&o);
            assert_eq!(ParkOutcome::try_from(&r).unwrap(), o);
        }
    }

    #[test]
    fn every_retrieve_outcome_round_trips() {
        for o in every_retrieve() {
            let r = v1::RetrieveResponse::from(&o);
            assert_eq!(RetrieveOutcome::try_from(&r).unwrap(), o);
        }
    }

    #[test]
    fn every_dial_outcome_round_trips() {
        let mut all = vec![
            DialOutcome::Call(CallOutcome::Ringing { call: CallId(3) }),
            DialOutcome::Call(CallOutcome::Unavailable { call: CallId(4) }),
            DialOutcome::Call(CallOutcome::NoSuchExtension),
            DialOutcome::Call(CallOutcome::UnknownCaller),
        ];
        all.extend(every_pickup().into_iter().map(DialOutcome::Pickup));
        all.extend(every_retrieve().into_iter().map(DialOutcome::Retrieve));
        for o in all {
            let r = v1::DialResponse::from(&o);
            assert_eq!(DialOutcome::try_from(&r).unwrap(), o);
        }
    }

    #[test]
    fn malformed_responses_name_the_field() {
        let r = v1::PickupResponse::default();
        assert_eq!(PickupOutcome::try_from(&r).unwrap_err().field, "result");
        let r = v1::PickupResponse {
            result: v1::PickupResult::PickedUp as i32,
            from: "102".into(),
            ..Default::default()
        };
        assert_eq!(PickupOutcome::try_from(&r).unwrap_err().field, "how");
        let r = v1::DialResponse {
            outcome: Some(v1::dial_response::Outcome::Retrieve(v1::RetrieveResponse {
                result: 99,
                call_id: 0,
            })),
        };
        assert_eq!(
            DialOutcome::try_from(&r).unwrap_err().field,
            "outcome.result"
        );
    }
}
