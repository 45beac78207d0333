//! The replicated state and its deterministic `apply`.
//!
//! [`Switchboard`] holds the directory and every live call. Raft feeds it
//! committed [`Command`]s in log order; it answers each with a
//! [`Response`] and a list of [`Event`]s (lamp changes, notices, timers).
//! The first claim on a ringing call wins because claims are applied one at
//! a time and a claim only succeeds from `Ringing`: that is invariant 1.

mod calls;
mod directory;
mod lamps;
mod park;
mod pickup;
pub use pickup::Contended;
mod registrar;
mod ringing;

/// The park code a retrieve's dialled digits name, if they name one.
fn dialled_code(raw: &str) -> Option<crate::ParkCode> {
    crate::ParkCode::new("code", raw.parse().ok()?).ok()
}
#[cfg(test)]
mod tests;
mod timers;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::{
    Applied, Bindings, Call, CallGroup, CallId, Command, Extension, ExtensionRecord, LampState,
    ParkCode, ParkPolicy, PolicyName, RequestOutcomes, Response, ShardMap, TenantConfig, TenantId,
};

/// How long after a call is answered a late pickup is told
/// `AlreadyAnswered` (it lost a race) rather than `NoAlertingCall`.
pub const RACE_WINDOW_MS: u64 = 5_000;

/// How long an ended call stays queryable.
pub const ENDED_CALL_RETENTION_MS: u64 = 60_000;

/// Everything Raft replicates, apart from cluster membership.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Switchboard {
    tenants: BTreeMap<TenantId, Tenant>,
    calls: BTreeMap<CallId, Call>,
    /// 0 means 1,000,000: real time.
    timer_scale_ppm: u32,
    /// Ended calls, oldest first, for pruning.
    ended: VecDeque<(u64, CallId)>,
    shard_map: ShardMap,
    /// What requests with ids were answered, for their retries.
    requests: RequestOutcomes,
}

/// How a park code was last released, so that a late retrieve learns why
/// the code is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Released {
    Retrieved(CallId),
    Ended(CallId),
}

/// One tenant: its directory and the indexes over its live calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub config: TenantConfig,
    pub extensions: BTreeMap<Extension, ExtensionRecord>,
    /// Keyed by owner: an extension owns at most one call group.
    pub call_groups: BTreeMap<Extension, CallGroup>,
    pub park_policies: BTreeMap<PolicyName, ParkPolicy>,
    /// Codes now in use, tenant-wide.
    pub parked: BTreeMap<ParkCode, CallId>,
    released: BTreeMap<ParkCode, Released>,
    /// Calls now ringing, for group pickup.
    ringing: BTreeSet<CallId>,
    /// Live calls each extension is part of, for lamps.
    active: BTreeMap<Extension, BTreeSet<CallId>>,
    /// Lamps last shown that are not `Idle` (absent means idle).
    lamps: BTreeMap<Extension, LampState>,
    /// Calls answered in the last [`RACE_WINDOW_MS`], oldest first.
    recently_answered: VecDeque<(u64, CallId)>,
    /// SIP bindings of the extensions that have any.
    registrations: BTreeMap<Extension, Bindings>,
    /// The number of the tenant's last call: each tenant numbers its own
    /// calls, so ids say nothing of other tenants'.
    last_call: u64,
}

impl Tenant {
    pub fn extension(&self, number: &Extension) -> Option<&ExtensionRecord> {
        self.extensions.get(number)
    }

    /// The lamp an extension shows now.
    pub fn lamp(&self, number: &Extension) -> LampState {
        self.lamps.get(number).copied().unwrap_or(LampState::Idle)
    }

    /// The lamp of a park code now, and the call parked on it.
    pub fn park_lamp(&self, code: ParkCode) -> (LampState, Option<CallId>) {
        match self.parked.get(&code) {
            Some(call) => (LampState::Parked, Some(*call)),
            None => (LampState::Idle, None),
        }
    }
}

impl Switchboard {
    /// Applies one committed command. Deterministic: same state and command,
    /// same result, on every node.
    pub fn apply(&mut self, cmd: &Command) -> Applied {
        let mut events = Vec::new();
        let response = match cmd {
            Command::Noop => Response::Done,
            Command::Batch(cmds) => Response::Batch(
                cmds.iter()
                    .map(|c| {
                        let applied = self.apply(c);
                        events.extend(applied.events);
                        applied.response
                    })
                    .collect(),
            ),
            Command::Once {
                tenant,
                request,
                fingerprint,
                cmd,
            } => match self.requests.recall(tenant, request, *fingerprint) {
                Some(first) => first,
                None => {
                    let applied = self.apply(cmd);
                    events.extend(applied.events);
                    self.requests.remember(
                        tenant,
                        request.clone(),
                        *fingerprint,
                        applied.response.clone(),
                    );
                    applied.response
                }
            },
            Command::SetTimerScale { parts_per_million } => {
                self.timer_scale_ppm = *parts_per_million;
                Response::Done
            }
            Command::SetShardMap { map } => {
                if map.epoch == self.shard_map.epoch + 1
                    && map.owners.len() == crate::SHARD_COUNT as usize
                {
                    self.shard_map = map.clone();
                    events.push(crate::Event::ShardsMoved { epoch: map.epoch });
                }
                Response::Done
            }
            Command::PutTenant { .. }
            | Command::DeleteTenant { .. }
            | Command::PutExtension { .. }
            | Command::DeleteExtension { .. }
            | Command::SetOnline { .. }
            | Command::PutCallGroup { .. }
            | Command::DeleteCallGroup { .. }
            | Command::PutParkPolicy { .. }
            | Command::DeleteParkPolicy { .. }
            | Command::GrantParkPolicy { .. } => {
                Response::Directory(self.apply_directory(cmd, &mut events))
            }
            Command::Dial {
                tenant,
                from,
                digits,
                now_ms,
                random,
            } => {
                self.prune(*now_ms);
                Response::Dial(self.dial(tenant, from, digits, *now_ms, *random, &mut events))
            }
            Command::Answer {
                tenant,
                call,
                by,
                now_ms,
            } => Response::Answer(self.answer(tenant, *call, by, *now_ms, &mut events)),
            Command::Hangup {
                tenant,
                call,
                by,
                now_ms,
            } => Response::Hangup(self.hangup(tenant, *call, by, *now_ms, &mut events)),
            Command::Pickup {
                tenant,
                picker,
                kind,
                now_ms,
                random,
            } => Response::Pickup(self.pickup(tenant, picker, kind, *now_ms, *random, &mut events)),
            Command::Park {
                tenant,
                call,
                by,
                code,
                now_ms,
            } => Response::Park(self.park(tenant, *call, by, *code, *now_ms, &mut events)),
            Command::Retrieve {
                tenant,
                by,
                code,
                now_ms,
            } => Response::Retrieve(self.retrieve(tenant, by, *code, *now_ms, &mut events)),
            Command::Tick { call, now_ms } => {
                self.tick(*call, *now_ms, &mut events);
                Response::Done
            }
            Command::Register {
                tenant,
                extension,
                registration,
                now_ms,
            } => Response::Register(self.register(
                tenant,
                extension,
                registration,
                *now_ms,
                &mut events,
            )),
        };
        Applied { response, events }
    }

    /// The response a retry of `cmd` gets without a commit: the outcome
    /// remembered for its request id (`None` for a command without an id,
    /// or whose id is not remembered).
    pub fn recall(&self, cmd: &Command) -> Option<Response> {
        match cmd {
            Command::Once {
                tenant,
                request,
                fingerprint,
                ..
            } => self.requests.recall(tenant, request, *fingerprint),
            _ => None,
        }
    }

    /// How many request outcomes are remembered now.
    pub fn remembered_requests(&self) -> usize {
        self.requests.len()
    }

    /// The shard map now in force.
    pub fn shard_map(&self) -> &ShardMap {
        &self.shard_map
    }

    pub fn tenant(&self, id: &TenantId) -> Option<&Tenant> {
        self.tenants.get(id)
    }

    pub fn tenants(&self) -> impl Iterator<Item = (&TenantId, &Tenant)> {
        self.tenants.iter()
    }

    pub fn call(&self, id: CallId) -> Option<&Call> {
        self.calls.get(&id)
    }

    /// The call `id` if it is `tenant`'s: another tenant's call is, to every
    /// decision, indistinguishable from one that does not exist.
    pub(super) fn call_in(&self, tenant: &TenantId, id: CallId) -> Option<&Call> {
        self.calls.get(&id).filter(|c| &c.tenant == tenant)
    }

    /// Every live and recently ended call.
    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.calls.values()
    }

    /// Live and recently ended calls of one tenant.
    pub fn calls_of<'a>(&'a self, tenant: &'a TenantId) -> impl Iterator<Item = &'a Call> + 'a {
        self.calls.values().filter(move |c| &c.tenant == tenant)
    }

    /// Every call with a pending timer, and when: what a node arms at start-up
    /// (or when it takes over) to resume ring timeouts, hunts and ring-backs.
    pub fn pending_deadlines(&self) -> Vec<(TenantId, CallId, u64)> {
        self.calls
            .values()
            .filter_map(|c| c.next_deadline().map(|at| (c.tenant.clone(), c.id, at)))
            .collect()
    }

    /// The timer scale in parts per million (1,000,000 is real time).
    pub fn timer_scale_ppm(&self) -> u32 {
        if self.timer_scale_ppm == 0 {
            1_000_000
        } else {
            self.timer_scale_ppm
        }
    }

    /// Converts seconds of configured time into scaled milliseconds.
    fn scaled_ms(&self, secs: u32) -> u64 {
        let ppm = self.timer_scale_ppm() as u64;
        (secs as u64 * 1000 * ppm / 1_000_000).max(1)
    }

    /// Forgets every call of a deleted tenant, live or ended, with its
    /// place in the pruning queue.
    fn forget_calls_of(&mut self, tenant: &TenantId) {
        self.calls.retain(|_, c| &c.tenant != tenant);
        let calls = &self.calls;
        self.ended.retain(|(_, id)| calls.contains_key(id));
    }

    /// The id of `tenant`'s next call: the next number of its own
    /// sequence (from 1; 0 is what an unset proto field reads as), skipping
    /// numbers whose id is taken (after wrapping, or by a tenant sharing
    /// its id space).
    fn next_call_id(&mut self, tenant: &TenantId) -> CallId {
        let Some(t) = self.tenants.get_mut(tenant) else {
            return CallId(u64::MAX);
        };
        loop {
            t.last_call = t.last_call % CallId::MAX_NUMBER + 1;
            let id = CallId::in_tenant(tenant, t.last_call);
            if !self.calls.contains_key(&id) {
                return id;
            }
        }
    }

    /// Forgets calls that ended long ago.
    fn prune(&mut self, now_ms: u64) {
        while let Some(&(at, id)) = self.ended.front() {
            if now_ms.saturating_sub(at) < ENDED_CALL_RETENTION_MS {
                break;
            }
            self.ended.pop_front();
            self.calls.remove(&id);
        }
    }
}
