//! Stream events: lamps and notifications.

use callgrid_proto::v1;
use serde_json::{Value, json};

use super::{label, opt_str, party_json, party_text, words};
use crate::output::Render;

impl Render for v1::LampEvent {
    fn text(&self) -> String {
        let lamp = match &self.target {
            Some(v1::lamp_event::Target::Extension(e)) => format!("ext {e}"),
            Some(v1::lamp_event::Target::ParkCode(c)) => format!("park {c}"),
            None => "?".to_owned(),
        };
        let mut line = format!(
            "#{} {lamp}: {}",
            self.sequence,
            words::<v1::LampState>(self.state)
        );
        if let Some(call) = self.call_id {
            line.push_str(&format!(" (call {call}"));
            if self.caller.is_some() {
                line.push_str(&format!(" from {}", party_text(self.caller.as_ref())));
            }
            line.push(')');
        }
        line
    }

    fn json(&self) -> Value {
        let (extension, park_code) = match &self.target {
            Some(v1::lamp_event::Target::Extension(e)) => (json!(e), Value::Null),
            Some(v1::lamp_event::Target::ParkCode(c)) => (Value::Null, json!(c)),
            None => (Value::Null, Value::Null),
        };
        json!({
            "tenant": self.tenant,
            "sequence": self.sequence,
            "extension": extension,
            "park_code": park_code,
            "state": label::<v1::LampState>(self.state),
            "call_id": self.call_id,
            "caller": party_json(self.caller.as_ref()),
        })
    }
}

impl Render for v1::Notification {
    fn text(&self) -> String {
        use v1::notification::Kind;
        let what = match &self.kind {
            Some(Kind::Alert(a)) => format!(
                "alert: call {} from {} to {} ({}, {})",
                a.call_id,
                party_text(a.caller.as_ref()),
                a.callee,
                words::<v1::AlertMode>(a.mode),
                words::<v1::AlertReason>(a.reason),
            ),
            Some(Kind::AlertStopped(s)) if s.answered_by.is_empty() => {
                format!("alert stopped: call {}", s.call_id)
            }
            Some(Kind::AlertStopped(s)) => format!(
                "alert stopped: call {} answered by {}",
                s.call_id, s.answered_by
            ),
            Some(Kind::MissedCall(m)) if m.answered_by.is_empty() => format!(
                "missed call {} from {}",
                m.call_id,
                party_text(m.caller.as_ref())
            ),
            Some(Kind::MissedCall(m)) => format!(
                "missed call {} from {} (answered by {}, {})",
                m.call_id,
                party_text(m.caller.as_ref()),
                m.answered_by,
                words::<v1::AnswerHow>(m.how),
            ),
            Some(Kind::ParkRingBack(p)) => {
                format!("park ring-back: call {} on code {}", p.call_id, p.code)
            }
            None => "unknown notification".to_owned(),
        };
        format!("{}: {what}", self.extension)
    }

    fn json(&self) -> Value {
        use v1::notification::Kind;
        let (kind, body) = match &self.kind {
            Some(Kind::Alert(a)) => (
                "alert",
                json!({
                    "call_id": a.call_id,
                    "caller": party_json(a.caller.as_ref()),
                    "callee": a.callee,
                    "mode": label::<v1::AlertMode>(a.mode),
                    "reason": label::<v1::AlertReason>(a.reason),
                }),
            ),
            Some(Kind::AlertStopped(s)) => (
                "alert_stopped",
                json!({ "call_id": s.call_id, "answered_by": opt_str(&s.answered_by) }),
            ),
            Some(Kind::MissedCall(m)) => (
                "missed_call",
                json!({
                    "call_id": m.call_id,
                    "caller": party_json(m.caller.as_ref()),
                    "answered_by": opt_str(&m.answered_by),
                    "how": label::<v1::AnswerHow>(m.how),
                }),
            ),
            Some(Kind::ParkRingBack(p)) => (
                "park_ring_back",
                json!({ "call_id": p.call_id, "code": p.code }),
            ),
            None => ("unknown", Value::Null),
        };
        json!({
            "tenant": self.tenant,
            "extension": self.extension,
            "kind": kind,
            kind: body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ringing_lamp_names_call_and_caller() {
        let e = v1::LampEvent {
            tenant: "acme".into(),
            target: Some(v1::lamp_event::Target::Extension("101".into())),
            state: v1::LampState::Ringing as i32,
            call_id: Some(7),
            caller: Some(v1::Party {
                kind: Some(v1::party::Kind::Outside("+15551234".into())),
            }),
            sequence: 3,
        };
        assert_eq!(e.text(), "#3 ext 101: ringing (call 7 from +15551234)");
        assert_eq!(e.json()["state"], "ringing");
    }

    #[test]
    fn a_missed_call_names_who_answered() {
        let n = v1::Notification {
            tenant: "acme".into(),
            extension: "101".into(),
            kind: Some(v1::notification::Kind::MissedCall(v1::MissedCall {
                call_id: 7,
                caller: Some(v1::Party {
                    kind: Some(v1::party::Kind::Extension("100".into())),
                }),
                answered_by: "102".into(),
                how: v1::AnswerHow::DirectedPickup as i32,
            })),
        };
        assert_eq!(
            n.text(),
            "101: missed call 7 from 100 (answered by 102, directed pickup)"
        );
        assert_eq!(n.json()["missed_call"]["answered_by"], "102");
    }
}
