//! Keeping indexes and BLF lamps in step with calls.
//!
//! Every change to a call ends in [`Switchboard::settle`], which is the one
//! place that updates the per-extension indexes, recomputes the lamps of
//! everyone the call touched, and re-arms the call's timer. Lamps change in
//! log order, so every watcher on every node sees the same sequence.

use std::collections::BTreeMap;

use crate::{
    Call, CallId, CallState, Event, Extension, LampState, LampTarget, ParkCode, Party, TenantId,
};

use super::{Switchboard, Tenant};

/// What one extension's lamp shows, with the call behind it.
fn compute_lamp(
    tenant: &Tenant,
    calls: &BTreeMap<CallId, Call>,
    ext: &Extension,
    now_ms: u64,
) -> (LampState, Option<(CallId, Party)>) {
    match tenant.extensions.get(ext) {
        None => return (LampState::Idle, None),
        Some(rec) if !rec.online => return (LampState::Offline, None),
        Some(_) => {}
    }
    let mut ringing = None;
    for id in tenant.active.get(ext).into_iter().flatten() {
        let Some(call) = calls.get(id) else { continue };
        let is_caller = call.caller.extension() == Some(ext);
        let busy = match &call.state {
            CallState::Answered { by, .. } => is_caller || by == ext,
            CallState::Ringing { .. } | CallState::Parked { .. } => is_caller,
            CallState::Ended { .. } => false,
        };
        if busy {
            return (LampState::Busy, Some((call.id, call.caller.clone())));
        }
        if ringing.is_none() && call.alerts(ext, now_ms) {
            ringing = Some((call.id, call.caller.clone()));
        }
    }
    match ringing {
        Some(c) => (LampState::Ringing, Some(c)),
        None => (LampState::Idle, None),
    }
}

impl Switchboard {
    /// After `id` changed: update indexes, lamps and timers. `before` is who
    /// the call involved before the change.
    pub(super) fn settle(
        &mut self,
        id: CallId,
        before: &[Extension],
        now_ms: u64,
        events: &mut Vec<Event>,
    ) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let tenant_id = call.tenant.clone();
        let after = if call.is_ended() {
            Vec::new()
        } else {
            call.involved()
        };
        let is_ringing = call.is_ringing();
        let deadline = call.next_deadline();
        let Some(tenant) = self.tenants.get_mut(&tenant_id) else {
            return;
        };
        for e in before.iter().filter(|e| !after.contains(e)) {
            if let Some(set) = tenant.active.get_mut(e) {
                set.remove(&id);
                if set.is_empty() {
                    tenant.active.remove(e);
                }
            }
        }
        for e in &after {
            tenant.active.entry(e.clone()).or_default().insert(id);
        }
        if is_ringing {
            tenant.ringing.insert(id);
        } else {
            tenant.ringing.remove(&id);
        }
        let mut touched: Vec<Extension> = before.iter().chain(after.iter()).cloned().collect();
        touched.sort();
        touched.dedup();
        for e in &touched {
            self.refresh_lamp(&tenant_id, e, now_ms, events);
        }
        if let Some(at_ms) = deadline {
            events.push(Event::Deadline {
                tenant: tenant_id,
                call: id,
                at_ms,
            });
        }
    }

    /// Recomputes one extension's lamp and reports it if it changed.
    pub(super) fn refresh_lamp(
        &mut self,
        tenant_id: &TenantId,
        ext: &Extension,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) {
        let Some(tenant) = self.tenants.get(tenant_id) else {
            return;
        };
        let (state, behind) = compute_lamp(tenant, &self.calls, ext, now_ms);
        if tenant.lamp(ext) == state {
            return;
        }
        let tenant = self
            .tenants
            .get_mut(tenant_id)
            .expect("tenant was found just above");
        if state == LampState::Idle {
            tenant.lamps.remove(ext);
        } else {
            tenant.lamps.insert(ext.clone(), state);
        }
        let (call, caller) = behind.map_or((None, None), |(c, p)| (Some(c), Some(p)));
        events.push(Event::Lamp {
            tenant: tenant_id.clone(),
            target: LampTarget::Extension(ext.clone()),
            state,
            call,
            caller,
        });
    }

    /// Reports a park code's lamp after it was taken or freed.
    pub(super) fn park_lamp_changed(
        &self,
        tenant_id: &TenantId,
        code: ParkCode,
        events: &mut Vec<Event>,
    ) {
        let Some(tenant) = self.tenants.get(tenant_id) else {
            return;
        };
        let (state, call) = tenant.park_lamp(code);
        let caller = call
            .and_then(|c| self.calls.get(&c))
            .map(|c| c.caller.clone());
        events.push(Event::Lamp {
            tenant: tenant_id.clone(),
            target: LampTarget::ParkCode(code),
            state,
            call,
            caller,
        });
    }
}

impl Switchboard {
    /// What an extension's lamp shows now, with the call behind it and that
    /// call's caller: the first event of a BLF stream.
    pub fn lamp_view(
        &self,
        tenant_id: &TenantId,
        ext: &Extension,
    ) -> (LampState, Option<CallId>, Option<Party>) {
        let Some(tenant) = self.tenants.get(tenant_id) else {
            return (LampState::Idle, None, None);
        };
        let state = tenant.lamp(ext);
        // The shown state is the one last reported; the call behind it is
        // any call of the extension that lights it that way.
        let (_, behind) = compute_lamp(tenant, &self.calls, ext, u64::MAX);
        match (state, behind) {
            (LampState::Ringing | LampState::Busy, Some((call, caller))) => {
                (state, Some(call), Some(caller))
            }
            _ => (state, None, None),
        }
    }
}
