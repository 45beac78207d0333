//! Whom a call rings: forwarding, call groups (simultaneous, all at once,
//! in order), alert delays and reachability, and how long it rings.

use crate::{
    Alert, AlertMode, AlertReason, CallGroup, CallGroupRouting, CallId, CallState, Event,
    Extension, ForwardTarget, Hunt, LampState, Notice, Party, RingOrder, TenantId,
};

use super::{Switchboard, Tenant};

/// Whom a call rings, worked out from forwarding and call groups.
pub(super) struct RingPlan {
    pub(super) alerting: Vec<Alert>,
    pub(super) hunt: Option<Hunt>,
    /// Whose no-answer rule applies.
    pub(super) ringing_for: Extension,
}

/// How many forwarding hops a call follows before it rings where it is.
const MAX_FORWARD_HOPS: usize = 5;

pub(super) fn alert(
    extension: &Extension,
    mode: AlertMode,
    reason: AlertReason,
    from_ms: u64,
) -> Alert {
    Alert {
        extension: extension.clone(),
        mode,
        reason,
        from_ms,
        announced: false,
    }
}

/// The notice that `call` no longer alerts `extension`: it was answered
/// (by `answered_by`), moved on, or ended.
pub(super) fn alert_stopped(
    tenant: &TenantId,
    extension: Extension,
    call: CallId,
    answered_by: Option<Extension>,
) -> Event {
    Event::Notice {
        tenant: tenant.clone(),
        extension,
        notice: Notice::AlertStopped { call, answered_by },
    }
}

/// Stops every alert of a ringing call that has been announced.
pub(super) fn stop_announced_alerts(
    alerting: &[Alert],
    tenant: &TenantId,
    call: CallId,
    events: &mut Vec<Event>,
) {
    for a in alerting.iter().filter(|a| a.announced) {
        events.push(alert_stopped(tenant, a.extension.clone(), call, None));
    }
}

impl Switchboard {
    /// Follows unconditional and busy forwarding, then rings the extension
    /// (or its call group).
    pub(super) fn plan_ring(
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
    pub(super) fn plan_group(
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
    pub(super) fn reachable(
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
    pub(super) fn plan_no_answer(
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

    pub(super) fn ring_deadline(
        &self,
        tenant: &Tenant,
        plan: &RingPlan,
        forwarded: bool,
        now_ms: u64,
    ) -> u64 {
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
    pub(super) fn announce_due(&mut self, id: CallId, now_ms: u64, events: &mut Vec<Event>) {
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
}
