//! Calls and the outcomes of call control: dial, answer, hang up, pickup, park, retrieve.

use callgrid_proto::v1;
use serde_json::{Value, json};

use super::{label, lines, opt_str, party_json, party_text, when, words};
use crate::output::Render;

impl Render for v1::CallResponse {
    fn text(&self) -> String {
        match v1::CallResult::try_from(self.result) {
            Ok(v1::CallResult::Ringing) => format!("call {} ringing", self.call_id),
            Ok(v1::CallResult::Unavailable) => {
                format!("call {} unavailable: nobody could be alerted", self.call_id)
            }
            _ => words::<v1::CallResult>(self.result),
        }
    }

    fn json(&self) -> Value {
        json!({
            "kind": "call",
            "result": label::<v1::CallResult>(self.result),
            "call_id": self.call_id,
        })
    }
}

impl Render for v1::PickupResponse {
    fn text(&self) -> String {
        if self.result == v1::PickupResult::PickedUp as i32 {
            format!(
                "picked up call {} (rang for {}, {})",
                self.call_id,
                self.from,
                words::<v1::AnswerHow>(self.how)
            )
        } else {
            words::<v1::PickupResult>(self.result)
        }
    }

    fn json(&self) -> Value {
        json!({
            "kind": "pickup",
            "result": label::<v1::PickupResult>(self.result),
            "call_id": self.call_id,
            "from": opt_str(&self.from),
            "how": label::<v1::AnswerHow>(self.how),
        })
    }
}

impl Render for v1::RetrieveResponse {
    fn text(&self) -> String {
        if self.result == v1::RetrieveResult::Retrieved as i32 {
            format!("retrieved call {}", self.call_id)
        } else {
            words::<v1::RetrieveResult>(self.result)
        }
    }

    fn json(&self) -> Value {
        json!({
            "kind": "retrieve",
            "result": label::<v1::RetrieveResult>(self.result),
            "call_id": self.call_id,
        })
    }
}

impl Render for v1::DialResponse {
    fn text(&self) -> String {
        use v1::dial_response::Outcome;
        match &self.outcome {
            Some(Outcome::Call(c)) => c.text(),
            Some(Outcome::Pickup(p)) => p.text(),
            Some(Outcome::Retrieve(r)) => r.text(),
            None => "no outcome".into(),
        }
    }

    fn json(&self) -> Value {
        use v1::dial_response::Outcome;
        match &self.outcome {
            Some(Outcome::Call(c)) => c.json(),
            Some(Outcome::Pickup(p)) => p.json(),
            Some(Outcome::Retrieve(r)) => r.json(),
            None => json!({ "kind": null }),
        }
    }
}

impl Render for v1::AnswerResponse {
    fn text(&self) -> String {
        if self.result == v1::AnswerResult::Answered as i32 {
            format!("answered ({})", words::<v1::AnswerHow>(self.how))
        } else {
            words::<v1::AnswerResult>(self.result)
        }
    }

    fn json(&self) -> Value {
        json!({
            "result": label::<v1::AnswerResult>(self.result),
            "how": label::<v1::AnswerHow>(self.how),
        })
    }
}

impl Render for v1::HangupResponse {
    fn text(&self) -> String {
        if self.result == v1::HangupResult::Ended as i32 {
            format!("ended ({})", words::<v1::EndReason>(self.reason))
        } else {
            words::<v1::HangupResult>(self.result)
        }
    }

    fn json(&self) -> Value {
        json!({
            "result": label::<v1::HangupResult>(self.result),
            "reason": label::<v1::EndReason>(self.reason),
        })
    }
}

impl Render for v1::ParkResponse {
    fn text(&self) -> String {
        if self.result == v1::ParkResult::Parked as i32 {
            format!("parked on code {}", self.code)
        } else {
            words::<v1::ParkResult>(self.result)
        }
    }

    fn json(&self) -> Value {
        json!({
            "result": label::<v1::ParkResult>(self.result),
            "code": self.code,
        })
    }
}

impl Render for v1::CallInfo {
    fn text(&self) -> String {
        let head = format!(
            "call {} {} -> {}",
            self.call_id,
            party_text(self.caller.as_ref()),
            self.callee
        );
        let state = match v1::CallState::try_from(self.state) {
            Ok(v1::CallState::Ringing) => {
                let alerting: Vec<String> = self
                    .alerting
                    .iter()
                    .map(|a| format!("{} ({})", a.extension, words::<v1::AlertMode>(a.mode)))
                    .collect();
                format!("ringing on {}", alerting.join(", "))
            }
            Ok(v1::CallState::Answered) => format!(
                "answered by {} ({}) {}",
                self.answered_by,
                words::<v1::AnswerHow>(self.how),
                when(self.state_since_ms)
            ),
            Ok(v1::CallState::Parked) => {
                let ringing_back = if self.alerting.is_empty() {
                    format!("rings back {}", when(self.ring_back_at_ms))
                } else {
                    "ringing back".to_owned()
                };
                format!(
                    "parked on {} by {} ({}), {ringing_back}",
                    self.park_code, self.parked_by, self.park_policy
                )
            }
            Ok(v1::CallState::Ended) => format!(
                "ended ({}) {}",
                words::<v1::EndReason>(self.end_reason),
                when(self.state_since_ms)
            ),
            _ => words::<v1::CallState>(self.state),
        };
        format!("{head} {state}")
    }

    fn json(&self) -> Value {
        json!({
            "call_id": self.call_id,
            "caller": party_json(self.caller.as_ref()),
            "callee": self.callee,
            "state": label::<v1::CallState>(self.state),
            "alerting": self.alerting.iter().map(|a| json!({
                "extension": a.extension,
                "mode": label::<v1::AlertMode>(a.mode),
                "reason": label::<v1::AlertReason>(a.reason),
                "from_ms": a.from_ms,
            })).collect::<Vec<_>>(),
            "ringing_for": opt_str(&self.ringing_for),
            "answered_by": opt_str(&self.answered_by),
            "how": label::<v1::AnswerHow>(self.how),
            "park_code": self.park_code,
            "parked_by": opt_str(&self.parked_by),
            "park_policy": opt_str(&self.park_policy),
            "ring_back_at_ms": self.ring_back_at_ms,
            "end_reason": label::<v1::EndReason>(self.end_reason),
            "created_ms": self.created_ms,
            "state_since_ms": self.state_since_ms,
            "answered_ms": self.answered_ms,
            "ring_deadline_ms": self.ring_deadline_ms,
            "rang_on": self.rang_on,
        })
    }
}

impl Render for v1::ListCallsResponse {
    fn text(&self) -> String {
        lines(&self.calls, "no calls", Render::text)
    }

    fn json(&self) -> Value {
        json!({ "calls": self.calls.iter().map(Render::json).collect::<Vec<_>>() })
    }
}

impl Render for v1::ParkedCall {
    fn text(&self) -> String {
        let ring_back = if self.ringing_back {
            "ringing back".to_owned()
        } else {
            format!("rings back {}", when(self.ring_back_at_ms))
        };
        format!(
            "code {}: call {} from {} parked by {} ({}) {}, {ring_back}",
            self.code,
            self.call_id,
            party_text(self.caller.as_ref()),
            self.parked_by,
            self.policy,
            when(self.since_ms),
        )
    }

    fn json(&self) -> Value {
        json!({
            "code": self.code,
            "call_id": self.call_id,
            "policy": self.policy,
            "parked_by": self.parked_by,
            "since_ms": self.since_ms,
            "ring_back_at_ms": self.ring_back_at_ms,
            "ringing_back": self.ringing_back,
            "caller": party_json(self.caller.as_ref()),
        })
    }
}

impl Render for v1::ListParkedResponse {
    fn text(&self) -> String {
        lines(&self.parked, "no parked calls", Render::text)
    }

    fn json(&self) -> Value {
        json!({ "parked": self.parked.iter().map(Render::json).collect::<Vec<_>>() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pickup_reads_as_a_sentence() {
        let r = v1::PickupResponse {
            result: v1::PickupResult::PickedUp as i32,
            call_id: 7,
            from: "102".into(),
            how: v1::AnswerHow::DirectedPickup as i32,
        };
        assert_eq!(r.text(), "picked up call 7 (rang for 102, directed pickup)");
        assert_eq!(r.json()["result"], "picked_up");
        let lost = v1::PickupResponse {
            result: v1::PickupResult::AlreadyAnswered as i32,
            ..Default::default()
        };
        assert_eq!(lost.text(), "already answered");
        assert_eq!(lost.json()["from"], Value::Null);
    }

    #[test]
    fn a_dial_prints_whatever_the_digits_meant() {
        let r = v1::DialResponse {
            outcome: Some(v1::dial_response::Outcome::Retrieve(v1::RetrieveResponse {
                result: v1::RetrieveResult::OtherParkGroup as i32,
                call_id: 0,
            })),
        };
        assert_eq!(r.text(), "other park group");
        assert_eq!(r.json()["kind"], "retrieve");
    }
}
