//! What time alone does to a call: delayed alerts start, in-order hunts
//! move on, ring timeouts forward or end it, parked calls ring back and
//! then end. Every deadline is replicated state; a tick applies what is due.

use crate::{AlertMode, AlertReason, CallId, CallState, EndReason, Event, Notice};

use super::Switchboard;
use super::ringing::{alert, stop_announced_alerts};

impl Switchboard {
    /// Applies whatever of a call's deadlines are due at `now_ms`. A tick
    /// that arrives early or for a call that moved on changes nothing, so
    /// timers may fire twice or late without harm.
    pub(super) fn tick(&mut self, id: CallId, now_ms: u64, events: &mut Vec<Event>) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        match &call.state {
            CallState::Ringing {
                deadline_ms, hunt, ..
            } => {
                let deadline_ms = *deadline_ms;
                let step = hunt
                    .as_ref()
                    .filter(|h| now_ms >= h.step_deadline_ms)
                    .map(|h| h.index + 1 < h.members.len());
                let before = call.involved();
                self.announce_due(id, now_ms, events);
                match step {
                    Some(true) => self.next_in_hunt(id, now_ms, events),
                    Some(false) => return self.ring_timeout(id, now_ms, events),
                    None if now_ms >= deadline_ms => return self.ring_timeout(id, now_ms, events),
                    None => {}
                }
                self.settle(id, &before, now_ms, events);
            }
            CallState::Parked {
                ring_back_at_ms,
                ringing_back_until_ms,
                ..
            } => match ringing_back_until_ms {
                Some(until) if now_ms >= *until => {
                    self.end_call(id, EndReason::RingBackUnanswered, now_ms, events)
                }
                None if now_ms >= *ring_back_at_ms => self.start_ring_back(id, now_ms, events),
                _ => {}
            },
            CallState::Answered { .. } | CallState::Ended { .. } => {}
        }
    }

    /// An in-order call group moves on to its next member.
    pub(super) fn next_in_hunt(&mut self, id: CallId, now_ms: u64, events: &mut Vec<Event>) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let tenant_id = call.tenant.clone();
        let CallState::Ringing {
            alerting,
            hunt: Some(hunt),
            ..
        } = &mut call.state
        else {
            return;
        };
        stop_announced_alerts(alerting, &tenant_id, id, events);
        hunt.index += 1;
        hunt.step_deadline_ms = now_ms + hunt.ring_ms;
        let (next, mode) = hunt.members[hunt.index].clone();
        *alerting = vec![alert(&next, mode, AlertReason::CallGroupMember, now_ms)];
        self.announce_due(id, now_ms, events);
    }

    /// Nobody answered in time: forward on no answer once, else end.
    pub(super) fn ring_timeout(&mut self, id: CallId, now_ms: u64, events: &mut Vec<Event>) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let CallState::Ringing {
            ringing_for,
            forwarded: false,
            since_ms,
            ..
        } = &call.state
        else {
            return self.end_call(id, EndReason::NoAnswer, now_ms, events);
        };
        let since_ms = *since_ms;
        let Some(tenant) = self.tenants.get(&call.tenant) else {
            return;
        };
        let Some(plan) = self.plan_no_answer(tenant, ringing_for, &call.caller, now_ms) else {
            return self.end_call(id, EndReason::NoAnswer, now_ms, events);
        };
        let deadline_ms = self.ring_deadline(tenant, &plan, true, now_ms);
        let call = self.calls.get_mut(&id).expect("call was found just above");
        let before = call.involved();
        if let CallState::Ringing { alerting, .. } = &call.state {
            stop_announced_alerts(alerting, &call.tenant, id, events);
        }
        call.state = CallState::Ringing {
            alerting: plan.alerting,
            since_ms,
            deadline_ms,
            hunt: plan.hunt,
            ringing_for: plan.ringing_for,
            forwarded: true,
        };
        self.announce_due(id, now_ms, events);
        self.settle(id, &before, now_ms, events);
    }

    /// The park timeout passed: ring the parker back.
    pub(super) fn start_ring_back(&mut self, id: CallId, now_ms: u64, events: &mut Vec<Event>) {
        let Some(ring_ms) = self
            .calls
            .get(&id)
            .and_then(|c| self.tenants.get(&c.tenant))
            .map(|t| self.scaled_ms(t.config.ring_timeout_secs))
        else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let before = call.involved();
        let CallState::Parked {
            code,
            by,
            ringing_back_until_ms,
            ..
        } = &mut call.state
        else {
            return;
        };
        *ringing_back_until_ms = Some(now_ms + ring_ms);
        let tenant = call.tenant.clone();
        events.push(Event::Notice {
            tenant: tenant.clone(),
            extension: by.clone(),
            notice: Notice::ParkRingBack {
                call: id,
                code: *code,
            },
        });
        events.push(Event::Notice {
            tenant,
            extension: by.clone(),
            notice: Notice::Alert {
                call: id,
                caller: call.caller.clone(),
                callee: call.callee.clone(),
                mode: AlertMode::Ring,
                reason: AlertReason::RingBack,
            },
        });
        self.settle(id, &before, now_ms, events);
    }
}
