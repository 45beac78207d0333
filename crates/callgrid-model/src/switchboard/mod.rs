//! The replicated state and its deterministic `apply`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Applied, Call, CallId, Command, TenantId};

/// Everything Raft replicates, apart from membership.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Switchboard {
    pub(crate) tenants: BTreeMap<TenantId, Tenant>,
    pub(crate) calls: BTreeMap<CallId, Call>,
    pub(crate) next_call: u64,
    pub(crate) timer_scale_ppm: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tenant {}

impl Switchboard {
    pub fn apply(&mut self, _cmd: &Command) -> Applied {
        Applied::default()
    }
}
