//! Placing, ringing, answering, hanging up and timing out calls.

use crate::{
    Alert, AlertMode, AlertReason, AnswerHow, AnswerOutcome, Call, CallGroup, CallGroupRouting,
    CallId, CallOutcome, CallState, DialOutcome, Dialed, EndReason, Event, Extension,
    ForwardTarget, HangupOutcome, Hunt, LampState, Notice, ParkCode, Party, PickupKind,
    PickupOutcome, RetrieveOutcome, RingOrder, TenantId,
};

use super::{RACE_WINDOW_MS, Released, Switchboard, Tenant};

/// Whom a call rings, worked out from forwarding and call groups.
struct RingPlan {
    alerting: Vec<Alert>,
    hunt: Option<Hunt>,
    /// Whose no-answer rule applies.
    ringing_for: Extension,
}

/// How many forwarding hops a call follows before it rings where it is.
const MAX_FORWARD_HOPS: usize = 5;

fn alert(extension: &Extension, mode: AlertMode, reason: AlertReason, from_ms: u64) -> Alert {
    Alert {
        extension: extension.clone(),
        mode,
        reason,
        from_ms,
        announced: false,
    }
}

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
                let code = raw
                    .parse::<u32>()
                    .ok()
                    .and_then(|n| ParkCode::new("code", n).ok());
                return DialOutcome::Retrieve(match code {
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

    fn place_call(
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
        // Ids start at 1: 0 is what an unset proto field reads as.
        self.next_call += 1;
        let id = CallId(self.next_call);
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

    /// Follows unconditional and busy forwarding, then rings the extension
    /// (or its call group).
    fn plan_ring(
        &self,
        tenant: &Tenant,
        target: &Extension,
        caller: &Party,
        now_ms: u64,
    ) -> RingPlan {
        let mut ext = target.clone();
        let mut hops: Vec<Extension> = Vec::new();
        while let Some(rec) = tenant.extensions.get(&ext) {
            let busy = tenant.lamp(&ext) == LampState::Busy;
            let rule = rec
                .forwarding
                .unconditional
                .clone()
                .or_else(|| busy.then(|| rec.forwarding.on_busy.clone()).flatten());
            match rule {
                Some(ForwardTarget::Extension(next))
                    if hops.len() < MAX_FORWARD_HOPS
                        && next != *target
                        && !hops.contains(&next)
                        && tenant.extensions.contains_key(&next) =>
                {
                    hops.push(ext);
                    ext = next;
                }
                Some(ForwardTarget::CallGroup) => {
                    if let Some(group) = tenant.call_groups.get(&ext) {
                        return self.plan_group(tenant, group, true, caller, now_ms);
                    }
                    break;
                }
                _ => break,
            }
        }
        match tenant.call_groups.get(&ext) {
            Some(group) => self.plan_group(tenant, group, false, caller, now_ms),
            None => RingPlan {
                alerting: self.reachable(
                    tenant,
                    caller,
                    [alert(&ext, AlertMode::Ring, AlertReason::Callee, now_ms)],
                ),
                hunt: None,
                ringing_for: ext,
            },
        }
    }

    /// Rings a call group. `forwarded` means the call was sent to the group,
    /// so the owner does not ring even if the group rings simultaneously.
    fn plan_group(
        &self,
        tenant: &Tenant,
        group: &CallGroup,
        forwarded: bool,
        caller: &Party,
        now_ms: u64,
    ) -> RingPlan {
        let owner = alert(&group.owner, AlertMode::Ring, AlertReason::Callee, now_ms);
        let members = group.members.iter().map(|m| {
            alert(
                &m.extension,
                m.alert,
                AlertReason::CallGroupMember,
                now_ms
                    + if m.delay_secs == 0 {
                        0
                    } else {
                        self.scaled_ms(m.delay_secs)
                    },
            )
        });
        let (alerting, hunt) = match group.routing {
            CallGroupRouting::Simultaneous if !forwarded => (
                self.reachable(tenant, caller, std::iter::once(owner).chain(members)),
                None,
            ),
            CallGroupRouting::Simultaneous | CallGroupRouting::Forward(RingOrder::AllAtOnce) => {
                (self.reachable(tenant, caller, members), None)
            }
            CallGroupRouting::Forward(RingOrder::InOrder { ring_secs }) => {
                let order: Vec<(Extension, AlertMode)> = self
                    .reachable(tenant, caller, members)
                    .into_iter()
                    .map(|a| (a.extension, a.mode))
                    .collect();
                match order.first() {
                    None => (Vec::new(), None),
                    Some((first, mode)) => {
                        let ring_ms = self.scaled_ms(ring_secs);
                        let first = alert(first, *mode, AlertReason::CallGroupMember, now_ms);
                        let hunt = Hunt {
                            members: order,
                            index: 0,
                            ring_ms,
                            step_deadline_ms: now_ms + ring_ms,
                        };
                        (vec![first], Some(hunt))
                    }
                }
            }
        };
        RingPlan {
            alerting,
            hunt,
            ringing_for: group.owner.clone(),
        }
    }

    /// Keeps the alerts that can ring: online extensions other than the caller.
    fn reachable(
        &self,
        tenant: &Tenant,
        caller: &Party,
        alerts: impl IntoIterator<Item = Alert>,
    ) -> Vec<Alert> {
        alerts
            .into_iter()
            .filter(|a| caller.extension() != Some(&a.extension))
            .filter(|a| {
                tenant
                    .extensions
                    .get(&a.extension)
                    .is_some_and(|r| r.online)
            })
            .collect()
    }

    /// Where `ext`'s no-answer forwarding sends a call, if anywhere.
    fn plan_no_answer(
        &self,
        tenant: &Tenant,
        ext: &Extension,
        caller: &Party,
        now_ms: u64,
    ) -> Option<RingPlan> {
        let (target, _) = tenant
            .extensions
            .get(ext)?
            .forwarding
            .on_no_answer
            .clone()?;
        let plan = match target {
            ForwardTarget::Extension(next) => self.plan_ring(tenant, &next, caller, now_ms),
            ForwardTarget::CallGroup => {
                self.plan_group(tenant, tenant.call_groups.get(ext)?, true, caller, now_ms)
            }
        };
        (!plan.alerting.is_empty()).then_some(plan)
    }

    fn ring_deadline(&self, tenant: &Tenant, plan: &RingPlan, forwarded: bool, now_ms: u64) -> u64 {
        if let Some(h) = &plan.hunt {
            return now_ms + h.ring_ms * h.members.len() as u64;
        }
        let no_answer_secs = tenant
            .extensions
            .get(&plan.ringing_for)
            .and_then(|r| r.forwarding.on_no_answer.as_ref())
            .filter(|_| !forwarded)
            .map(|(_, secs)| *secs);
        now_ms + self.scaled_ms(no_answer_secs.unwrap_or(tenant.config.ring_timeout_secs))
    }

    /// Tells every endpoint whose alert has started (delays elapsed) that it rings.
    fn announce_due(&mut self, id: CallId, now_ms: u64, events: &mut Vec<Event>) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let CallState::Ringing { alerting, .. } = &mut call.state else {
            return;
        };
        for a in alerting
            .iter_mut()
            .filter(|a| !a.announced && a.from_ms <= now_ms)
        {
            a.announced = true;
            events.push(Event::Notice {
                tenant: call.tenant.clone(),
                extension: a.extension.clone(),
                notice: Notice::Alert {
                    call: id,
                    caller: call.caller.clone(),
                    callee: call.callee.clone(),
                    mode: a.mode,
                    reason: a.reason,
                },
            });
        }
    }

    pub(super) fn answer(
        &mut self,
        tenant_id: &TenantId,
        id: CallId,
        by: &Extension,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> AnswerOutcome {
        let Some(call) = self.calls.get(&id) else {
            return AnswerOutcome::UnknownCall;
        };
        if &call.tenant != tenant_id {
            return AnswerOutcome::NotPermitted;
        }
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
            events.push(Event::Notice {
                tenant: tenant_id.clone(),
                extension: ext,
                notice: Notice::AlertStopped {
                    call: id,
                    answered_by: Some(by.clone()),
                },
            });
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
        let Some(call) = self.calls.get(&id) else {
            return HangupOutcome::UnknownCall;
        };
        if &call.tenant != tenant_id {
            return HangupOutcome::NotPermitted;
        }
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
                for a in alerting.iter().filter(|a| a.announced) {
                    events.push(Event::Notice {
                        tenant: tenant_id.clone(),
                        extension: a.extension.clone(),
                        notice: Notice::AlertStopped {
                            call: id,
                            answered_by: None,
                        },
                    });
                }
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
                    events.push(Event::Notice {
                        tenant: tenant_id.clone(),
                        extension: by.clone(),
                        notice: Notice::AlertStopped {
                            call: id,
                            answered_by: None,
                        },
                    });
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
    fn next_in_hunt(&mut self, id: CallId, now_ms: u64, events: &mut Vec<Event>) {
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
        for a in alerting.iter().filter(|a| a.announced) {
            events.push(Event::Notice {
                tenant: tenant_id.clone(),
                extension: a.extension.clone(),
                notice: Notice::AlertStopped {
                    call: id,
                    answered_by: None,
                },
            });
        }
        hunt.index += 1;
        hunt.step_deadline_ms = now_ms + hunt.ring_ms;
        let (next, mode) = hunt.members[hunt.index].clone();
        *alerting = vec![alert(&next, mode, AlertReason::CallGroupMember, now_ms)];
        self.announce_due(id, now_ms, events);
    }

    /// Nobody answered in time: forward on no answer once, else end.
    fn ring_timeout(&mut self, id: CallId, now_ms: u64, events: &mut Vec<Event>) {
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
            for a in alerting.iter().filter(|a| a.announced) {
                events.push(Event::Notice {
                    tenant: call.tenant.clone(),
                    extension: a.extension.clone(),
                    notice: Notice::AlertStopped {
                        call: id,
                        answered_by: None,
                    },
                });
            }
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
    fn start_ring_back(&mut self, id: CallId, now_ms: u64, events: &mut Vec<Event>) {
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
