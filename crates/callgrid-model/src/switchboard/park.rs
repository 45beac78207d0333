//! Call park and retrieve.
//!
//! Codes are unique among a tenant's parked calls; each parked call belongs
//! to the park policy (the park group) of its parker, and only holders of
//! that policy may retrieve it.

use crate::{
    AnswerHow, CallId, CallState, Event, Extension, ParkCode, ParkOutcome, RetrieveOutcome,
    TenantId,
};

use super::{Released, Switchboard, Tenant};

/// The lowest code of `start..=end` not parked in the tenant.
fn lowest_free(tenant: &Tenant, start: ParkCode, end: ParkCode) -> Option<ParkCode> {
    let mut want = start.get();
    for code in tenant.parked.range(start..=end).map(|(c, _)| c.get()) {
        if code != want {
            break;
        }
        want += 1;
    }
    (want <= end.get()).then(|| ParkCode::new("code", want as u32).expect("within a valid range"))
}

impl Switchboard {
    pub(super) fn park(
        &mut self,
        tenant_id: &TenantId,
        id: CallId,
        by: &Extension,
        requested: Option<ParkCode>,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> ParkOutcome {
        let Some(call) = self.call_in(tenant_id, id) else {
            return ParkOutcome::UnknownCall;
        };
        if !matches!(&call.state, CallState::Answered { by: answerer, .. } if answerer == by) {
            return ParkOutcome::NotAnswered;
        }
        let Some(tenant) = self.tenants.get(tenant_id) else {
            return ParkOutcome::NotPermitted;
        };
        let Some(policy) = tenant
            .extensions
            .get(by)
            .and_then(|r| r.park_policy.as_ref())
            .and_then(|p| tenant.park_policies.get(p))
        else {
            return ParkOutcome::NoParkPolicy;
        };
        if !policy.allow_parking || !tenant.extensions.get(by).is_some_and(|r| r.voice_enabled) {
            return ParkOutcome::ParkingNotAllowed;
        }
        let code = match requested {
            Some(code) if !policy.contains(code) => return ParkOutcome::CodeOutOfRange,
            Some(code) if tenant.parked.contains_key(&code) => return ParkOutcome::CodeInUse,
            Some(code) => code,
            None => match lowest_free(tenant, policy.code_start, policy.code_end) {
                Some(code) => code,
                None => return ParkOutcome::RangeFull,
            },
        };
        let policy_name = policy.name.clone();
        let ring_back_at_ms = now_ms + self.scaled_ms(policy.timeout_secs);
        let call = self.calls.get_mut(&id).expect("call was found just above");
        let before = call.involved();
        call.state = CallState::Parked {
            code,
            policy: policy_name,
            by: by.clone(),
            since_ms: now_ms,
            ring_back_at_ms,
            ringing_back_until_ms: None,
        };
        let tenant = self
            .tenants
            .get_mut(tenant_id)
            .expect("tenant was found just above");
        tenant.parked.insert(code, id);
        tenant.released.remove(&code);
        self.park_lamp_changed(tenant_id, code, events);
        self.settle(id, &before, now_ms, events);
        ParkOutcome::Parked { code }
    }

    pub(super) fn retrieve(
        &mut self,
        tenant_id: &TenantId,
        by: &Extension,
        code: ParkCode,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> RetrieveOutcome {
        let Some(tenant) = self.tenants.get(tenant_id) else {
            return RetrieveOutcome::NoParkPolicy;
        };
        let Some(my_policy) = tenant
            .extensions
            .get(by)
            .and_then(|r| r.park_policy.as_ref())
        else {
            return RetrieveOutcome::NoParkPolicy;
        };
        let Some(&id) = tenant.parked.get(&code) else {
            return match tenant.released.get(&code) {
                Some(Released::Retrieved(_)) => RetrieveOutcome::AlreadyAnswered,
                Some(Released::Ended(_)) => RetrieveOutcome::CallEnded,
                None => RetrieveOutcome::UnknownCode,
            };
        };
        match self.calls.get(&id).map(|c| &c.state) {
            Some(CallState::Parked { policy, .. }) if policy == my_policy => {}
            Some(CallState::Parked { .. }) => return RetrieveOutcome::OtherParkGroup,
            _ => return RetrieveOutcome::UnknownCode,
        }
        self.claim(id, by, AnswerHow::Retrieve, now_ms, events);
        RetrieveOutcome::Retrieved { call: id }
    }
}
