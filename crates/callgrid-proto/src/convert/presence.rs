//! Lamps and notifications: the model's [`Event`]s as stream messages.
//!
//! Both directions exist: the node that applied a command streams these to
//! its watchers, and a node relaying another node's stream turns them back
//! into events.

use callgrid_model::{
    CallId, Event, Extension, LampState, LampTarget, Notice, ParkCode, Party, TenantId,
    ValidationError,
};

use super::enums::{alert_mode, alert_reason, answer_how, lamp_state};
use super::{ext_or_empty, optional_extension, party, party_from};
use crate::v1;

/// One lamp's state as the `sequence`-th event of a WatchLamps stream.
pub fn lamp_event(
    tenant: &TenantId,
    target: &LampTarget,
    state: LampState,
    call: Option<CallId>,
    caller: Option<&Party>,
    sequence: u64,
) -> v1::LampEvent {
    let target = match target {
        LampTarget::Extension(e) => v1::lamp_event::Target::Extension(e.to_string()),
        LampTarget::ParkCode(c) => v1::lamp_event::Target::ParkCode(u32::from(c.get())),
    };
    v1::LampEvent {
        tenant: tenant.to_string(),
        target: Some(target),
        state: v1::LampState::from(state) as i32,
        call_id: call.map(CallId::number),
        caller: caller.and_then(party_from),
        sequence,
    }
}

/// `event` as a lamp event, if it is [`Event::Lamp`].
pub fn lamp_event_of(event: &Event, sequence: u64) -> Option<v1::LampEvent> {
    match event {
        Event::Lamp {
            tenant,
            target,
            state,
            call,
            caller,
        } => Some(lamp_event(
            tenant,
            target,
            *state,
            *call,
            caller.as_ref(),
            sequence,
        )),
        _ => None,
    }
}

/// The [`Event::Lamp`] a lamp event carries (its sequence is the stream's, not the event's).
pub fn event_from_lamp(raw: &v1::LampEvent) -> Result<Event, ValidationError> {
    let target = match &raw.target {
        None => return Err(ValidationError::new("target", "must be set")),
        Some(v1::lamp_event::Target::Extension(e)) => {
            LampTarget::Extension(Extension::parse("target.extension", e)?)
        }
        Some(v1::lamp_event::Target::ParkCode(c)) => {
            LampTarget::ParkCode(ParkCode::new("target.park_code", *c)?)
        }
    };
    Ok(Event::Lamp {
        tenant: TenantId::parse("tenant", &raw.tenant)?,
        target,
        state: lamp_state("state", raw.state)?,
        call: raw.call_id.map(CallId),
        caller: raw
            .caller
            .as_ref()
            .map(|p| party("caller", Some(p)))
            .transpose()?,
    })
}

/// `notice` for `extension`'s Notifications stream.
pub fn notification(tenant: &TenantId, extension: &Extension, notice: &Notice) -> v1::Notification {
    use v1::notification::Kind;
    let kind = match notice {
        Notice::Alert {
            call,
            caller,
            callee,
            mode,
            reason,
        } => Kind::Alert(v1::Alert {
            call_id: call.number(),
            caller: party_from(caller),
            callee: callee.to_string(),
            mode: v1::AlertMode::from(*mode) as i32,
            reason: v1::AlertReason::from(*reason) as i32,
        }),
        Notice::AlertStopped { call, answered_by } => Kind::AlertStopped(v1::AlertStopped {
            call_id: call.number(),
            answered_by: ext_or_empty(answered_by.as_ref()),
        }),
        Notice::MissedCall {
            call,
            caller,
            answered_by,
            how,
        } => Kind::MissedCall(v1::MissedCall {
            call_id: call.number(),
            caller: party_from(caller),
            answered_by: ext_or_empty(answered_by.as_ref()),
            how: how.map_or(v1::AnswerHow::Unspecified, v1::AnswerHow::from) as i32,
        }),
        Notice::ParkRingBack { call, code } => Kind::ParkRingBack(v1::ParkRingBack {
            call_id: call.number(),
            code: u32::from(code.get()),
        }),
    };
    v1::Notification {
        tenant: tenant.to_string(),
        extension: extension.to_string(),
        kind: Some(kind),
    }
}

/// `event` as a notification, if it is [`Event::Notice`].
pub fn notification_of(event: &Event) -> Option<v1::Notification> {
    match event {
        Event::Notice {
            tenant,
            extension,
            notice,
        } => Some(notification(tenant, extension, notice)),
        _ => None,
    }
}

/// The notice a notification carries.
pub fn notice(raw: &v1::Notification) -> Result<Notice, ValidationError> {
    use v1::notification::Kind;
    Ok(match &raw.kind {
        None => return Err(ValidationError::new("kind", "must be set")),
        Some(Kind::Alert(a)) => Notice::Alert {
            call: CallId(a.call_id),
            caller: party("alert.caller", a.caller.as_ref())?,
            callee: Extension::parse("alert.callee", &a.callee)?,
            mode: alert_mode("alert.mode", a.mode)?,
            reason: alert_reason("alert.reason", a.reason)?,
        },
        Some(Kind::AlertStopped(s)) => Notice::AlertStopped {
            call: CallId(s.call_id),
            answered_by: optional_extension("alert_stopped.answered_by", &s.answered_by)?,
        },
        Some(Kind::MissedCall(m)) => Notice::MissedCall {
            call: CallId(m.call_id),
            caller: party("missed_call.caller", m.caller.as_ref())?,
            answered_by: optional_extension("missed_call.answered_by", &m.answered_by)?,
            how: answer_how("missed_call.how", m.how)?,
        },
        Some(Kind::ParkRingBack(p)) => Notice::ParkRingBack {
            call: CallId(p.call_id),
            code: ParkCode::new("park_ring_back.code", p.code)?,
        },
    })
}

/// The [`Event::Notice`] a notification carries.
pub fn event_from_notification(raw: &v1::Notification) -> Result<Event, ValidationError> {
    Ok(Event::Notice {
        tenant: TenantId::parse("tenant", &raw.tenant)?,
        extension: Extension::parse("extension", &raw.extension)?,
        notice: notice(raw)?,
    })
}

#[cfg(test)]
mod tests {
    use callgrid_model::{AlertMode, AlertReason, AnswerHow, OutsideNumber};

    use super::*;

    fn ext(s: &str) -> Extension {
        Extension::parse("t", s).unwrap()
    }

    fn tenant() -> TenantId {
        TenantId::parse("t", "acme").unwrap()
    }

    #[test]
    fn lamp_events_round_trip() {
        let caller = Party::Outside(OutsideNumber::parse("t", "+15551234").unwrap());
        let events = [
            Event::Lamp {
                tenant: tenant(),
                target: LampTarget::Extension(ext("101")),
                state: LampState::Ringing,
                call: Some(CallId(0)),
                caller: Some(caller),
            },
            Event::Lamp {
                tenant: tenant(),
                target: LampTarget::ParkCode(ParkCode::new("t", 42).unwrap()),
                state: LampState::Idle,
                call: None,
                caller: None,
            },
        ];
        for (i, e) in events.iter().enumerate() {
            let proto = lamp_event_of(e, i as u64 + 1).unwrap();
            assert_eq!(proto.sequence, i as u64 + 1);
            assert_eq!(&event_from_lamp(&proto).unwrap(), e);
        }
    }

    #[test]
    fn notices_round_trip() {
        let caller = Party::Extension(ext("100"));
        let notices = [
            Notice::Alert {
                call: CallId(1),
                caller: caller.clone(),
                callee: ext("101"),
                mode: AlertMode::Banner,
                reason: AlertReason::CallGroupMember,
            },
            Notice::AlertStopped {
                call: CallId(1),
                answered_by: Some(ext("102")),
            },
            Notice::AlertStopped {
                call: CallId(1),
                answered_by: None,
            },
            Notice::MissedCall {
                call: CallId(1),
                caller: caller.clone(),
                answered_by: Some(ext("102")),
                how: Some(AnswerHow::DirectedPickup),
            },
            Notice::MissedCall {
                call: CallId(1),
                caller,
                answered_by: None,
                how: None,
            },
            Notice::ParkRingBack {
                call: CallId(1),
                code: ParkCode::new("t", 10).unwrap(),
            },
        ];
        for n in notices {
            let event = Event::Notice {
                tenant: tenant(),
                extension: ext("101"),
                notice: n,
            };
            let proto = notification_of(&event).unwrap();
            assert_eq!(event_from_notification(&proto).unwrap(), event);
        }
    }

    #[test]
    fn other_events_are_neither_lamps_nor_notices() {
        let deadline = Event::Deadline {
            tenant: tenant(),
            call: CallId(1),
            at_ms: 5,
        };
        assert!(lamp_event_of(&deadline, 1).is_none());
        assert!(notification_of(&deadline).is_none());
    }
}
