//! Placing, answering and hanging up calls: the call state machine's
//! transitions that a party asks for.

use crate::{
    AlertReason, AnswerHow, AnswerOutcome, Call, CallId, CallOutcome, CallState, DialOutcome,
    Dialed, EndReason, Event, Extension, HangupOutcome, Notice, Party, PickupKind, PickupOutcome,
    RetrieveOutcome, TenantId,
};

use super::ringing::{alert_stopped, stop_announced_alerts};
use super::{RACE_WINDOW_MS, Released, Switchboard};

impl Switchboard {
    pub(super) fn dial(
        &mut self,
        tenant_id: &TenantId,
        from: &Party,
        digits: &str,
        now_ms: u64,
        random: u64,
        events: &mut Vec<Event>,
    ) -> DialOutcome {
        let Some(tenant) = self.tenants.get(tenant_id) else {
            return DialOutcome::Call(CallOutcome::UnknownCaller);
        };
        if let Party::Extension(e) = from
            && !tenant.extensions.contains_key(e)
        {
            return DialOutcome::Call(CallOutcome::UnknownCaller);
        }
        let Ok(dialed) = tenant.config.feature_codes.parse(digits) else {
            return DialOutcome::Call(CallOutcome::NoSuchExtension);
        };
        let kind = match dialed {
            Dialed::Call(callee) => {
                return DialOutcome::Call(
                    self.place_call(tenant_id, from, &callee, now_ms, events),
                );
            }
            Dialed::Retrieve(raw) => {
                let Party::Extension(by) = from else {
                    return DialOutcome::Retrieve(RetrieveOutcome::NoParkPolicy);
                };
                return DialOutcome::Retrieve(match super::dialled_code(&raw) {
                    Some(code) => self.retrieve(tenant_id, by, code, now_ms, events),
                    None => RetrieveOutcome::UnknownCode,
                });
            }
            Dialed::DirectedPickup(target) => PickupKind::Directed(target),
            Dialed::GroupPickup => PickupKind::Group,
            Dialed::NamedPickup(name) => PickupKind::Named(name),
        };
        DialOutcome::Pickup(match from {
            Party::Extension(picker) => {
                self.pickup(tenant_id, picker, &kind, now_ms, random, events)
            }
            Party::Outside(_) => PickupOutcome::NotPermitted,
        })
    }

    pub(super) fn place_call(
        &mut self,
        tenant_id: &TenantId,
        caller: &Party,
        callee: &Extension,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> CallOutcome {
        let Some(tenant) = self.tenants.get(tenant_id) else {
            return CallOutcome::UnknownCaller;
        };
        if !tenant.extensions.contains_key(callee) {
            return CallOutcome::NoSuchExtension;
        }
        let mut plan = self.plan_ring(tenant, callee, caller, now_ms);
        let mut forwarded = false;
        if plan.alerting.is_empty() {
            // Nobody reachable: an unanswered call forwards at once.
            if let Some(next) = self.plan_no_answer(tenant, &plan.ringing_for, caller, now_ms) {
                plan = next;
                forwarded = true;
            }
        }
        let deadline_ms = self.ring_deadline(tenant, &plan, forwarded, now_ms);
        let id = self.next_call_id(tenant_id);
        let unavailable = plan.alerting.is_empty();
        self.calls.insert(
            id,
            Call {
                id,
                tenant: tenant_id.clone(),
                caller: caller.clone(),
                callee: callee.clone(),
                state: CallState::Ringing {
                    alerting: plan.alerting,
                    since_ms: now_ms,
                    deadline_ms,
                    hunt: plan.hunt,
                    ringing_for: plan.ringing_for,
                    forwarded,
                },
                created_ms: now_ms,
                answered_ms: None,
                rang_on: Vec::new(),
            },
        );
        if unavailable {
            self.end_call(id, EndReason::Unavailable, now_ms, events);
            return CallOutcome::Unavailable { call: id };
        }
        self.announce_due(id, now_ms, events);
        self.settle(id, &[], now_ms, events);
        CallOutcome::Ringing { call: id }
    }

    pub(super) fn answer(
        &mut self,
        tenant_id: &TenantId,
        id: CallId,
        by: &Extension,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> AnswerOutcome {
        let Some(call) = self.call_in(tenant_id, id) else {
            return AnswerOutcome::UnknownCall;
        };
        let how = match &call.state {
            CallState::Ringing { .. } => {
                let alert = call
                    .alerting_at(now_ms)
                    .into_iter()
                    .find(|a| &a.extension == by);
                match alert.map(|a| a.reason) {
                    Some(AlertReason::CallGroupMember) => AnswerHow::CallGroup,
                    Some(_) => AnswerHow::Direct,
                    None => return AnswerOutcome::NotAlerting,
                }
            }
            CallState::Parked {
                by: parker,
                ringing_back_until_ms: Some(_),
                ..
            } if parker == by => AnswerHow::RingBack,
            CallState::Parked { .. } => return AnswerOutcome::NotAlerting,
            CallState::Answered { .. } => return AnswerOutcome::AlreadyAnswered,
            CallState::Ended { .. } => return AnswerOutcome::CallEnded,
        };
        self.claim(id, by, how, now_ms, events);
        AnswerOutcome::Answered { how }
    }

    /// Makes `by` the one answerer of a ringing or parked call. Callers have
    /// checked that the call is claimable; this is the only way into
    /// `Answered`, and it stops every other alert at once.
    pub(super) fn claim(
        &mut self,
        id: CallId,
        by: &Extension,
        how: AnswerHow,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let before = call.involved();
        let tenant_id = call.tenant.clone();
        let mut stopped: Vec<Extension> = Vec::new();
        let mut freed = None;
        match &call.state {
            CallState::Ringing { alerting, .. } => {
                call.rang_on = alerting
                    .iter()
                    .filter(|a| a.announced)
                    .map(|a| a.extension.clone())
                    .collect();
                stopped = call.rang_on.clone();
                if &call.callee != by {
                    events.push(Event::Notice {
                        tenant: tenant_id.clone(),
                        extension: call.callee.clone(),
                        notice: Notice::MissedCall {
                            call: id,
                            caller: call.caller.clone(),
                            answered_by: Some(by.clone()),
                            how: Some(how),
                        },
                    });
                }
            }
            CallState::Parked {
                code,
                by: parker,
                ringing_back_until_ms,
                ..
            } => {
                if ringing_back_until_ms.is_some() {
                    stopped.push(parker.clone());
                }
                freed = Some(*code);
            }
            CallState::Answered { .. } | CallState::Ended { .. } => return,
        }
        call.state = CallState::Answered {
            by: by.clone(),
            how,
            since_ms: now_ms,
        };
        call.answered_ms = Some(now_ms);
        for ext in stopped.into_iter().filter(|e| e != by) {
            events.push(alert_stopped(&tenant_id, ext, id, Some(by.clone())));
        }
        if let Some(tenant) = self.tenants.get_mut(&tenant_id) {
            tenant.recently_answered.push_back((now_ms, id));
            while tenant
                .recently_answered
                .front()
                .is_some_and(|(at, _)| now_ms.saturating_sub(*at) > RACE_WINDOW_MS)
            {
                tenant.recently_answered.pop_front();
            }
            if let Some(code) = freed {
                tenant.parked.remove(&code);
                tenant.released.insert(code, Released::Retrieved(id));
            }
        }
        if let Some(code) = freed {
            self.park_lamp_changed(&tenant_id, code, events);
        }
        self.settle(id, &before, now_ms, events);
    }

    pub(super) fn hangup(
        &mut self,
        tenant_id: &TenantId,
        id: CallId,
        by: &Party,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> HangupOutcome {
        let Some(call) = self.call_in(tenant_id, id) else {
            return HangupOutcome::UnknownCall;
        };
        let is_caller = &call.caller == by;
        let reason = match &call.state {
            CallState::Ended { .. } => return HangupOutcome::AlreadyEnded,
            CallState::Ringing { .. } if is_caller => EndReason::Cancelled,
            CallState::Answered { by: answerer, .. }
                if is_caller || by.extension() == Some(answerer) =>
            {
                EndReason::HungUp
            }
            CallState::Parked { .. } if is_caller => EndReason::HungUp,
            _ => return HangupOutcome::NotInCall,
        };
        self.end_call(id, reason, now_ms, events);
        HangupOutcome::Ended { reason }
    }

    /// Ends a call: stops its alerts, frees its park code, tells the callee
    /// of a call nobody answered.
    pub(super) fn end_call(
        &mut self,
        id: CallId,
        reason: EndReason,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let before = call.involved();
        let tenant_id = call.tenant.clone();
        let mut freed = None;
        match &call.state {
            CallState::Ringing { alerting, .. } => {
                stop_announced_alerts(alerting, &tenant_id, id, events);
                events.push(Event::Notice {
                    tenant: tenant_id.clone(),
                    extension: call.callee.clone(),
                    notice: Notice::MissedCall {
                        call: id,
                        caller: call.caller.clone(),
                        answered_by: None,
                        how: None,
                    },
                });
            }
            CallState::Parked {
                code,
                by,
                ringing_back_until_ms,
                ..
            } => {
                if ringing_back_until_ms.is_some() {
                    events.push(alert_stopped(&tenant_id, by.clone(), id, None));
                }
                freed = Some(*code);
            }
            CallState::Answered { .. } => {}
            CallState::Ended { .. } => return,
        }
        call.state = CallState::Ended {
            reason,
            at_ms: now_ms,
        };
        self.ended.push_back((now_ms, id));
        if let Some(code) = freed {
            if let Some(tenant) = self.tenants.get_mut(&tenant_id) {
                tenant.parked.remove(&code);
                tenant.released.insert(code, Released::Ended(id));
            }
            self.park_lamp_changed(&tenant_id, code, events);
        }
        self.settle(id, &before, now_ms, events);
    }
}
