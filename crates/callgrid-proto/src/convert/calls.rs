//! A call as the API shows it: `CallInfo` and `ParkedCall`.
//!
//! These go one way only, model → proto: the model's call carries timers
//! and hunt state that no client may set.

use callgrid_model::{AlertMode, AlertReason, Call, CallState};

use super::party_from;
use crate::v1;

/// `call` as `GetCall` and `ListCalls` show it. Alerting endpoints include
/// call-group members whose alert delay has not run out yet (their
/// `from_ms` is in the future), and the parker while a parked call rings
/// back.
pub fn call_info(call: &Call) -> v1::CallInfo {
    let mut info = v1::CallInfo {
        call_id: call.id.number(),
        caller: party_from(&call.caller),
        callee: call.callee.to_string(),
        created_ms: call.created_ms,
        answered_ms: call.answered_ms.unwrap_or(0),
        rang_on: call.rang_on.iter().map(|e| e.to_string()).collect(),
        ..Default::default()
    };
    match &call.state {
        CallState::Ringing {
            alerting,
            since_ms,
            deadline_ms,
            ringing_for,
            ..
        } => {
            info.state = v1::CallState::Ringing as i32;
            info.alerting = alerting
                .iter()
                .map(|a| v1::AlertingEndpoint {
                    extension: a.extension.to_string(),
                    mode: v1::AlertMode::from(a.mode) as i32,
                    reason: v1::AlertReason::from(a.reason) as i32,
                    from_ms: a.from_ms,
                })
                .collect();
            info.ringing_for = ringing_for.to_string();
            info.state_since_ms = *since_ms;
            info.ring_deadline_ms = *deadline_ms;
        }
        CallState::Answered { by, how, since_ms } => {
            info.state = v1::CallState::Answered as i32;
            info.answered_by = by.to_string();
            info.how = v1::AnswerHow::from(*how) as i32;
            info.state_since_ms = *since_ms;
        }
        CallState::Parked {
            code,
            policy,
            by,
            since_ms,
            ring_back_at_ms,
            ringing_back_until_ms,
        } => {
            info.state = v1::CallState::Parked as i32;
            info.park_code = u32::from(code.get());
            info.parked_by = by.to_string();
            info.park_policy = policy.to_string();
            info.ring_back_at_ms = *ring_back_at_ms;
            info.state_since_ms = *since_ms;
            if let Some(until) = ringing_back_until_ms {
                // The parker rings until `until`; the model keeps no
                // separate "ringing back since", which is the ring-back time.
                info.alerting = vec![v1::AlertingEndpoint {
                    extension: by.to_string(),
                    mode: v1::AlertMode::from(AlertMode::Ring) as i32,
                    reason: v1::AlertReason::from(AlertReason::RingBack) as i32,
                    from_ms: *ring_back_at_ms,
                }];
                info.ring_deadline_ms = *until;
            }
        }
        CallState::Ended { reason, at_ms } => {
            info.state = v1::CallState::Ended as i32;
            info.end_reason = v1::EndReason::from(*reason) as i32;
            info.state_since_ms = *at_ms;
        }
    }
    info
}

/// `call` as `ListParked` shows it; `None` unless it is parked.
pub fn parked_call(call: &Call) -> Option<v1::ParkedCall> {
    match &call.state {
        CallState::Parked {
            code,
            policy,
            by,
            since_ms,
            ring_back_at_ms,
            ringing_back_until_ms,
        } => Some(v1::ParkedCall {
            code: u32::from(code.get()),
            call_id: call.id.number(),
            policy: policy.to_string(),
            parked_by: by.to_string(),
            since_ms: *since_ms,
            ring_back_at_ms: *ring_back_at_ms,
            ringing_back: ringing_back_until_ms.is_some(),
            caller: party_from(&call.caller),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use callgrid_model::{
        Alert, AnswerHow, CallId, EndReason, Extension, OutsideNumber, ParkCode, Party, PolicyName,
        TenantId,
    };

    use super::*;

    fn ext(s: &str) -> Extension {
        Extension::parse("t", s).unwrap()
    }

    fn call(state: CallState) -> Call {
        Call {
            id: CallId(7),
            tenant: TenantId::parse("t", "acme").unwrap(),
            caller: Party::Outside(OutsideNumber::parse("t", "+15551234").unwrap()),
            callee: ext("101"),
            state,
            created_ms: 1_000,
            answered_ms: None,
            rang_on: Vec::new(),
        }
    }

    #[test]
    fn ringing_call_lists_every_alert() {
        let c = call(CallState::Ringing {
            alerting: vec![
                Alert {
                    extension: ext("101"),
                    mode: AlertMode::Ring,
                    reason: AlertReason::Callee,
                    from_ms: 1_000,
                    announced: true,
                },
                Alert {
                    extension: ext("102"),
                    mode: AlertMode::Visual,
                    reason: AlertReason::CallGroupMember,
                    from_ms: 6_000,
                    announced: false,
                },
            ],
            since_ms: 1_000,
            deadline_ms: 31_000,
            hunt: None,
            ringing_for: ext("101"),
            forwarded: false,
        });
        let info = call_info(&c);
        assert_eq!(info.state(), v1::CallState::Ringing);
        assert_eq!(info.call_id, 7);
        assert_eq!(info.alerting.len(), 2);
        assert_eq!(info.alerting[1].extension, "102");
        assert_eq!(info.alerting[1].mode(), v1::AlertMode::Visual);
        assert_eq!(info.alerting[1].reason(), v1::AlertReason::CallGroupMember);
        assert_eq!(info.alerting[1].from_ms, 6_000);
        assert_eq!(info.ring_deadline_ms, 31_000);
        assert!(parked_call(&c).is_none());
    }

    #[test]
    fn answered_call_names_answerer_and_how() {
        let mut c = call(CallState::Answered {
            by: ext("103"),
            how: AnswerHow::GroupPickup,
            since_ms: 2_000,
        });
        c.answered_ms = Some(2_000);
        c.rang_on = vec![ext("101"), ext("102")];
        let info = call_info(&c);
        assert_eq!(info.state(), v1::CallState::Answered);
        assert_eq!(info.answered_by, "103");
        assert_eq!(info.how(), v1::AnswerHow::GroupPickup);
        assert_eq!(info.answered_ms, 2_000);
        assert_eq!(info.rang_on, ["101", "102"]);
        assert!(info.alerting.is_empty());
    }

    #[test]
    fn parked_call_ringing_back_alerts_the_parker() {
        let c = call(CallState::Parked {
            code: ParkCode::new("t", 42).unwrap(),
            policy: PolicyName::parse("t", "lobby").unwrap(),
            by: ext("103"),
            since_ms: 3_000,
            ring_back_at_ms: 303_000,
            ringing_back_until_ms: Some(333_000),
        });
        let info = call_info(&c);
        assert_eq!(info.state(), v1::CallState::Parked);
        assert_eq!(info.park_code, 42);
        assert_eq!(info.parked_by, "103");
        assert_eq!(info.alerting[0].reason(), v1::AlertReason::RingBack);
        let parked = parked_call(&c).unwrap();
        assert_eq!(parked.code, 42);
        assert_eq!(parked.policy, "lobby");
        assert!(parked.ringing_back);
    }

    #[test]
    fn ended_call_gives_its_reason() {
        let info = call_info(&call(CallState::Ended {
            reason: EndReason::NoAnswer,
            at_ms: 9_000,
        }));
        assert_eq!(info.state(), v1::CallState::Ended);
        assert_eq!(info.end_reason(), v1::EndReason::NoAnswer);
        assert_eq!(info.state_since_ms, 9_000);
    }
}
