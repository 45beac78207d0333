//! Pickup: directed, BLF, group (legacy and named mode) and named-group.
//!
//! Eligibility is decided here and nowhere else. A pickup resolves the call
//! and claims it in one apply, so two racers can never both win; a racer
//! that arrives after the winner learns `AlreadyAnswered` from the call it
//! would have taken.

use crate::{
    AnswerHow, Call, CallId, Dialed, Extension, ExtensionRecord, GroupName, PickupKind,
    PickupOutcome, PickupSelection, TenantId,
};

use super::{RACE_WINDOW_MS, Switchboard, Tenant};

/// Which ringing endpoints a picker may take a call from.
enum Eligible<'a> {
    /// Exactly this extension (directed and BLF pickup).
    Target(&'a Extension),
    /// Legacy mode `*98`: legacy-mode extensions in any of these pickup
    /// groups (the picker's), all alike: the spec's "longest ringing" is
    /// over their union, so no group is searched before another.
    LegacyGroups(&'a [crate::LegacyGroupId]),
    /// Named mode `*98`: named-mode extensions whose call groups meet the picker's pickup groups.
    NamedAny(&'a ExtensionRecord),
    /// `88<name>`: extensions with `name` among their call groups.
    Named(&'a GroupName),
}

impl Eligible<'_> {
    fn admits(&self, endpoint: &ExtensionRecord) -> bool {
        match self {
            Eligible::Target(t) => &endpoint.number == *t,
            Eligible::LegacyGroups(groups) => {
                !endpoint.named_mode()
                    && endpoint
                        .legacy_pickup_groups
                        .iter()
                        .any(|g| groups.contains(g))
            }
            Eligible::NamedAny(picker) => {
                endpoint.named_mode() && endpoint.call_groups.meets(&picker.pickup_groups)
            }
            Eligible::Named(name) => endpoint.call_groups.contains(name),
        }
    }
}

/// True if `call` rings (at `now_ms`) on an endpoint `rule` admits, other
/// than the picker, and is not the picker's own outgoing call.
fn rings_for(
    tenant: &Tenant,
    call: &Call,
    picker: &Extension,
    rule: &Eligible<'_>,
    now_ms: u64,
) -> bool {
    call.caller.extension() != Some(picker)
        && call.alerting_at(now_ms).iter().any(|a| {
            &a.extension != picker
                && tenant
                    .extensions
                    .get(&a.extension)
                    .is_some_and(|r| rule.admits(r))
        })
}

/// True if `call` was answered in the race window and had rung on an
/// endpoint `rule` admits: a late picker lost the race for it.
fn lost_race(
    tenant: &Tenant,
    call: &Call,
    picker: &Extension,
    rule: &Eligible<'_>,
    now_ms: u64,
) -> bool {
    !call.is_ringing()
        && call
            .answered_ms
            .is_some_and(|at| now_ms.saturating_sub(at) <= RACE_WINDOW_MS)
        && call.caller.extension() != Some(picker)
        && call
            .rang_on
            .iter()
            .any(|e| e != picker && tenant.extensions.get(e).is_some_and(|r| rule.admits(r)))
}

impl Switchboard {
    pub(super) fn pickup(
        &mut self,
        tenant_id: &TenantId,
        picker: &Extension,
        kind: &PickupKind,
        now_ms: u64,
        random: u64,
        events: &mut Vec<crate::Event>,
    ) -> PickupOutcome {
        let decision = match self.tenants.get(tenant_id) {
            Some(tenant) => self.choose(tenant, tenant_id, picker, kind, now_ms, random),
            None => Err(PickupOutcome::NotPermitted),
        };
        match decision {
            Ok((call, how)) => {
                let from = self
                    .calls
                    .get(&call)
                    .map(|c| c.callee.clone())
                    .expect("a chosen call exists");
                self.claim(call, picker, how, now_ms, events);
                PickupOutcome::PickedUp { call, from, how }
            }
            Err(outcome) => outcome,
        }
    }

    /// Finds the call a pickup takes, or the outcome that explains why none.
    fn choose(
        &self,
        tenant: &Tenant,
        tenant_id: &TenantId,
        picker: &Extension,
        kind: &PickupKind,
        now_ms: u64,
        random: u64,
    ) -> Result<(CallId, AnswerHow), PickupOutcome> {
        let me = tenant
            .extensions
            .get(picker)
            .ok_or(PickupOutcome::NotPermitted)?;
        match kind {
            PickupKind::Directed(None) => Err(PickupOutcome::InvalidExtension),
            PickupKind::Directed(Some(target)) => {
                self.choose_directed(tenant, tenant_id, me, target, None, now_ms)
            }
            PickupKind::Blf { target, call } => {
                self.choose_directed(tenant, tenant_id, me, target, *call, now_ms)
            }
            PickupKind::Group => {
                if !me.group_pickup_allowed {
                    return Err(PickupOutcome::NotPermitted);
                }
                // One rule over all of the picker's groups, so the tenant's
                // selection (oldest or random) runs over their union.
                let rule = if me.named_mode() {
                    Eligible::NamedAny(me)
                } else if me.legacy_pickup_groups.is_empty() {
                    return Err(PickupOutcome::NotPermitted);
                } else {
                    Eligible::LegacyGroups(&me.legacy_pickup_groups)
                };
                self.choose_in_group(tenant, picker, &rule, now_ms, random)
                    .map(|c| (c, AnswerHow::GroupPickup))
                    .map_err(|o| self.cross_mode(tenant, me, now_ms, o))
            }
            PickupKind::Named(name) => {
                if !me.group_pickup_allowed || !me.pickup_groups.contains(name) {
                    return Err(PickupOutcome::NotPermitted);
                }
                self.choose_in_group(tenant, picker, &Eligible::Named(name), now_ms, random)
                    .map(|c| (c, AnswerHow::NamedPickup))
            }
        }
    }

    fn choose_directed(
        &self,
        tenant: &Tenant,
        tenant_id: &TenantId,
        me: &ExtensionRecord,
        target: &Extension,
        seen_call: Option<CallId>,
        now_ms: u64,
    ) -> Result<(CallId, AnswerHow), PickupOutcome> {
        if !tenant.extensions.contains_key(target) {
            return Err(PickupOutcome::InvalidExtension);
        }
        if !me.directed_pickup_allowed {
            return Err(PickupOutcome::NotPermitted);
        }
        let rule = Eligible::Target(target);
        // A BLF key names the call its lamp showed: that call or none, so a
        // stale lamp never takes a different caller.
        if let Some(id) = seen_call {
            return match self.call_in(tenant_id, id) {
                Some(c) if rings_for(tenant, c, &me.number, &rule, now_ms) => {
                    Ok((c.id, AnswerHow::DirectedPickup))
                }
                Some(c) if lost_race(tenant, c, &me.number, &rule, now_ms) => {
                    Err(PickupOutcome::AlreadyAnswered)
                }
                _ => Err(PickupOutcome::NoAlertingCall),
            };
        }
        self.choose_in_group(tenant, &me.number, &rule, now_ms, 0)
            .map(|c| (c, AnswerHow::DirectedPickup))
    }

    /// `NotPermitted` instead of `otherwise` when a call rings now in one of
    /// the picker's legacy pickup groups on an extension of the other mode
    /// (named vs legacy): those users may not group-pick-up each other, and
    /// a call ringing in front of the picker matters more than one taken.
    fn cross_mode(
        &self,
        tenant: &Tenant,
        me: &ExtensionRecord,
        now_ms: u64,
        otherwise: PickupOutcome,
    ) -> PickupOutcome {
        if !matches!(
            otherwise,
            PickupOutcome::NoAlertingCall | PickupOutcome::AlreadyAnswered
        ) {
            return otherwise;
        }
        let blocked = tenant
            .ringing
            .iter()
            .filter_map(|id| self.calls.get(id))
            .any(|c| {
                c.caller.extension() != Some(&me.number)
                    && c.alerting_at(now_ms).iter().any(|a| {
                        a.extension != me.number
                            && tenant.extensions.get(&a.extension).is_some_and(|e| {
                                e.named_mode() != me.named_mode()
                                    && e.legacy_pickup_groups
                                        .iter()
                                        .any(|g| me.legacy_pickup_groups.contains(g))
                            })
                    })
            });
        if blocked {
            PickupOutcome::NotPermitted
        } else {
            otherwise
        }
    }

    /// The tenant's ringing calls that `rule` admits, chosen by the tenant's
    /// selection (directed pickup passes `random` 0 and always takes the oldest).
    fn choose_in_group(
        &self,
        tenant: &Tenant,
        picker: &Extension,
        rule: &Eligible<'_>,
        now_ms: u64,
        random: u64,
    ) -> Result<CallId, PickupOutcome> {
        let mut candidates: Vec<(u64, CallId)> = tenant
            .ringing
            .iter()
            .filter_map(|id| self.calls.get(id))
            .filter(|c| rings_for(tenant, c, picker, rule, now_ms))
            .filter_map(|c| match &c.state {
                crate::CallState::Ringing { since_ms, .. } => Some((*since_ms, c.id)),
                _ => None,
            })
            .collect();
        if candidates.is_empty() {
            let lost = tenant
                .recently_answered
                .iter()
                .filter_map(|(_, id)| self.calls.get(id))
                .any(|c| lost_race(tenant, c, picker, rule, now_ms));
            return Err(if lost {
                PickupOutcome::AlreadyAnswered
            } else {
                PickupOutcome::NoAlertingCall
            });
        }
        candidates.sort();
        let pick = match (
            tenant.config.pickup_selection,
            matches!(rule, Eligible::Target(_)),
        ) {
            (PickupSelection::Random, false) => {
                candidates[(random % candidates.len() as u64) as usize]
            }
            _ => candidates[0],
        };
        Ok(pick.1)
    }
}

impl Switchboard {
    /// The answer to a claim that has already lost: `Some(AlreadyAnswered)`
    /// when applying `cmd` now would only report that another claim won
    /// (an answer of an answered call, a directed or BLF pickup whose call
    /// was just taken, a retrieve of a code just retrieved). Such a claim
    /// changes nothing, so its owner may answer it from this state without
    /// a commit: the common case of a race costs one commit, the winner's.
    /// Never `Some` for a claim that could still win.
    pub fn already_answered(&self, cmd: &crate::Command) -> Option<crate::Response> {
        use crate::{AnswerOutcome, CallState, Command, Response, RetrieveOutcome};
        match cmd {
            Command::Answer { tenant, call, .. } => {
                let c = self.calls.get(call)?;
                (&c.tenant == tenant && matches!(c.state, CallState::Answered { .. }))
                    .then_some(Response::Answer(AnswerOutcome::AlreadyAnswered))
            }
            Command::Pickup {
                tenant,
                picker,
                kind: kind @ (PickupKind::Directed(Some(_)) | PickupKind::Blf { .. }),
                now_ms,
                ..
            } => {
                let t = self.tenants.get(tenant)?;
                match self.choose(t, tenant, picker, kind, *now_ms, 0) {
                    Err(PickupOutcome::AlreadyAnswered) => {
                        Some(Response::Pickup(PickupOutcome::AlreadyAnswered))
                    }
                    _ => None,
                }
            }
            // A feature code dialled is the claim it names.
            Command::Dial { .. } => match self.already_answered(&self.dialled_claim(cmd)?)? {
                Response::Pickup(lost) => Some(Response::Dial(crate::DialOutcome::Pickup(lost))),
                Response::Retrieve(lost) => {
                    Some(Response::Dial(crate::DialOutcome::Retrieve(lost)))
                }
                _ => None,
            },
            Command::Retrieve {
                tenant, by, code, ..
            } => {
                let t = self.tenants.get(tenant)?;
                let has_policy = t
                    .extensions
                    .get(by)
                    .is_some_and(|r| r.park_policy.is_some());
                let retrieved = !t.parked.contains_key(code)
                    && matches!(t.released.get(code), Some(super::Released::Retrieved(_)));
                (has_policy && retrieved)
                    .then_some(Response::Retrieve(RetrieveOutcome::AlreadyAnswered))
            }
            _ => None,
        }
    }
}

/// What a racing claim contends for: the call an answer or a pickup would
/// take, or the park code a retrieve would. Claims on one contended thing
/// meet in one owner actor, which takes them one at a time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Contended {
    Call(CallId),
    Code(crate::ParkCode),
}

impl Switchboard {
    /// What `cmd` contends for if applied now: `None` for a command nobody
    /// races for (a plain dial, a hang-up, a park) and for a claim with
    /// nothing to take. Read from this state; by the time the claim is
    /// applied another may have won, which the state machine decides.
    pub fn contended(&self, cmd: &crate::Command) -> Option<Contended> {
        use crate::Command;
        match cmd.inner() {
            Command::Answer { call, .. } => Some(Contended::Call(*call)),
            Command::Retrieve { code, .. } => Some(Contended::Code(*code)),
            Command::Pickup {
                tenant,
                picker,
                kind,
                now_ms,
                random,
            } => self.contended_pickup(tenant, picker, kind, *now_ms, *random),
            Command::Dial { .. } => self.contended(&self.dialled_claim(cmd)?),
            _ => None,
        }
    }

    /// The pickup or retrieve that a dial of a feature code from an
    /// extension asks for, as the command that would ask it directly;
    /// `None` for any other dial (an extension's number, an outside caller,
    /// digits that name no park code).
    fn dialled_claim(&self, cmd: &crate::Command) -> Option<crate::Command> {
        use crate::Command;
        let Command::Dial {
            tenant,
            from: crate::Party::Extension(by),
            digits,
            now_ms,
            random,
        } = cmd.inner()
        else {
            return None;
        };
        let dialed = self.tenants.get(tenant)?.config.feature_codes.parse(digits);
        let kind = match dialed.ok()? {
            Dialed::Call(_) => return None,
            Dialed::Retrieve(raw) => {
                return Some(Command::Retrieve {
                    tenant: tenant.clone(),
                    by: by.clone(),
                    code: super::dialled_code(&raw)?,
                    now_ms: *now_ms,
                });
            }
            Dialed::DirectedPickup(target) => PickupKind::Directed(target),
            Dialed::GroupPickup => PickupKind::Group,
            Dialed::NamedPickup(name) => PickupKind::Named(name),
        };
        Some(Command::Pickup {
            tenant: tenant.clone(),
            picker: by.clone(),
            kind,
            now_ms: *now_ms,
            random: *random,
        })
    }

    fn contended_pickup(
        &self,
        tenant: &TenantId,
        picker: &Extension,
        kind: &PickupKind,
        now_ms: u64,
        random: u64,
    ) -> Option<Contended> {
        let t = self.tenants.get(tenant)?;
        let (call, _) = self.choose(t, tenant, picker, kind, now_ms, random).ok()?;
        Some(Contended::Call(call))
    }
}
