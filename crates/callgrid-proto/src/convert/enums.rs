//! The enums shared by several messages: alert mode and reason, how a call
//! was answered, why it ended, what a lamp shows.
//!
//! Model → proto is `From`; proto → model is a function per enum that names
//! the field and decides what `UNSPECIFIED` means there.

use callgrid_model::{AlertMode, AlertReason, AnswerHow, EndReason, LampState, ValidationError};

use super::{enum_field, unspecified};
use crate::v1;

impl From<AlertMode> for v1::AlertMode {
    fn from(m: AlertMode) -> Self {
        match m {
            AlertMode::Ring => v1::AlertMode::Ring,
            AlertMode::Visual => v1::AlertMode::Visual,
            AlertMode::Banner => v1::AlertMode::Banner,
        }
    }
}

/// An alert mode; `UNSPECIFIED` means the default, `RING`.
pub fn alert_mode(field: &str, raw: i32) -> Result<AlertMode, ValidationError> {
    Ok(match enum_field(field, raw)? {
        v1::AlertMode::Unspecified | v1::AlertMode::Ring => AlertMode::Ring,
        v1::AlertMode::Visual => AlertMode::Visual,
        v1::AlertMode::Banner => AlertMode::Banner,
    })
}

impl From<AlertReason> for v1::AlertReason {
    fn from(r: AlertReason) -> Self {
        match r {
            AlertReason::Callee => v1::AlertReason::Callee,
            AlertReason::CallGroupMember => v1::AlertReason::CallGroupMember,
            AlertReason::RingBack => v1::AlertReason::RingBack,
        }
    }
}

/// An alert reason, which must be set.
pub fn alert_reason(field: &str, raw: i32) -> Result<AlertReason, ValidationError> {
    match enum_field(field, raw)? {
        v1::AlertReason::Unspecified => Err(unspecified(field)),
        v1::AlertReason::Callee => Ok(AlertReason::Callee),
        v1::AlertReason::CallGroupMember => Ok(AlertReason::CallGroupMember),
        v1::AlertReason::RingBack => Ok(AlertReason::RingBack),
    }
}

impl From<AnswerHow> for v1::AnswerHow {
    fn from(h: AnswerHow) -> Self {
        match h {
            AnswerHow::Direct => v1::AnswerHow::Direct,
            AnswerHow::DirectedPickup => v1::AnswerHow::DirectedPickup,
            AnswerHow::GroupPickup => v1::AnswerHow::GroupPickup,
            AnswerHow::NamedPickup => v1::AnswerHow::NamedPickup,
            AnswerHow::CallGroup => v1::AnswerHow::CallGroup,
            AnswerHow::Retrieve => v1::AnswerHow::Retrieve,
            AnswerHow::RingBack => v1::AnswerHow::RingBack,
        }
    }
}

/// How a call was answered; `UNSPECIFIED` is `None` (not answered).
pub fn answer_how(field: &str, raw: i32) -> Result<Option<AnswerHow>, ValidationError> {
    Ok(match enum_field(field, raw)? {
        v1::AnswerHow::Unspecified => None,
        v1::AnswerHow::Direct => Some(AnswerHow::Direct),
        v1::AnswerHow::DirectedPickup => Some(AnswerHow::DirectedPickup),
        v1::AnswerHow::GroupPickup => Some(AnswerHow::GroupPickup),
        v1::AnswerHow::NamedPickup => Some(AnswerHow::NamedPickup),
        v1::AnswerHow::CallGroup => Some(AnswerHow::CallGroup),
        v1::AnswerHow::Retrieve => Some(AnswerHow::Retrieve),
        v1::AnswerHow::RingBack => Some(AnswerHow::RingBack),
    })
}

/// How a call was answered, which must be set.
pub fn required_answer_how(field: &str, raw: i32) -> Result<AnswerHow, ValidationError> {
    answer_how(field, raw)?.ok_or_else(|| unspecified(field))
}

impl From<EndReason> for v1::EndReason {
    fn from(r: EndReason) -> Self {
        match r {
            EndReason::Cancelled => v1::EndReason::Cancelled,
            EndReason::HungUp => v1::EndReason::HungUp,
            EndReason::NoAnswer => v1::EndReason::NoAnswer,
            EndReason::Unavailable => v1::EndReason::Unavailable,
            EndReason::RingBackUnanswered => v1::EndReason::RingBackUnanswered,
        }
    }
}

/// Why a call ended, which must be set.
pub fn end_reason(field: &str, raw: i32) -> Result<EndReason, ValidationError> {
    match enum_field(field, raw)? {
        v1::EndReason::Unspecified => Err(unspecified(field)),
        v1::EndReason::Cancelled => Ok(EndReason::Cancelled),
        v1::EndReason::HungUp => Ok(EndReason::HungUp),
        v1::EndReason::NoAnswer => Ok(EndReason::NoAnswer),
        v1::EndReason::Unavailable => Ok(EndReason::Unavailable),
        v1::EndReason::RingBackUnanswered => Ok(EndReason::RingBackUnanswered),
    }
}

impl From<LampState> for v1::LampState {
    fn from(s: LampState) -> Self {
        match s {
            LampState::Idle => v1::LampState::Idle,
            LampState::Ringing => v1::LampState::Ringing,
            LampState::Busy => v1::LampState::Busy,
            LampState::Offline => v1::LampState::Offline,
            LampState::Parked => v1::LampState::Parked,
        }
    }
}

/// What a lamp shows, which must be set.
pub fn lamp_state(field: &str, raw: i32) -> Result<LampState, ValidationError> {
    match enum_field(field, raw)? {
        v1::LampState::Unspecified => Err(unspecified(field)),
        v1::LampState::Idle => Ok(LampState::Idle),
        v1::LampState::Ringing => Ok(LampState::Ringing),
        v1::LampState::Busy => Ok(LampState::Busy),
        v1::LampState::Offline => Ok(LampState::Offline),
        v1::LampState::Parked => Ok(LampState::Parked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_how_round_trips() {
        use AnswerHow::*;
        for h in [
            Direct,
            DirectedPickup,
            GroupPickup,
            NamedPickup,
            CallGroup,
            Retrieve,
            RingBack,
        ] {
            let raw = v1::AnswerHow::from(h) as i32;
            assert_eq!(required_answer_how("how", raw).unwrap(), h);
        }
        assert_eq!(answer_how("how", 0).unwrap(), None);
    }

    #[test]
    fn every_end_reason_round_trips() {
        use EndReason::*;
        for r in [Cancelled, HungUp, NoAnswer, Unavailable, RingBackUnanswered] {
            assert_eq!(
                end_reason("reason", v1::EndReason::from(r) as i32).unwrap(),
                r
            );
        }
    }

    #[test]
    fn every_lamp_state_round_trips() {
        use LampState::*;
        for s in [Idle, Ringing, Busy, Offline, Parked] {
            assert_eq!(
                lamp_state("state", v1::LampState::from(s) as i32).unwrap(),
                s
            );
        }
    }

    #[test]
    fn alert_modes_and_reasons_round_trip() {
        for m in [AlertMode::Ring, AlertMode::Visual, AlertMode::Banner] {
            assert_eq!(
                alert_mode("alert", v1::AlertMode::from(m) as i32).unwrap(),
                m
            );
        }
        for r in [
            AlertReason::Callee,
            AlertReason::CallGroupMember,
            AlertReason::RingBack,
        ] {
            assert_eq!(
                alert_reason("reason", v1::AlertReason::from(r) as i32).unwrap(),
                r
            );
        }
    }

    #[test]
    fn unspecified_alert_mode_means_ring() {
        assert_eq!(alert_mode("alert", 0).unwrap(), AlertMode::Ring);
    }

    #[test]
    fn unknown_enum_numbers_name_the_field() {
        let err = alert_mode("group.members[0].alert", 42).unwrap_err();
        assert_eq!(err.field, "group.members[0].alert");
        assert!(err.rule.contains("42"));
        assert!(
            end_reason("reason", 0)
                .unwrap_err()
                .rule
                .contains("UNSPECIFIED")
        );
    }
}
