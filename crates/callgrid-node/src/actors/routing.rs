//! Which owner decides a command.

use callgrid_model::{
    CallId, CallState, Command, Dialed, Extension, PickupKind, Switchboard, TenantId, shard_of,
};

pub use callgrid_model::OwnerKey;

/// A call rings through its callee's call group if the callee owns one.
fn home_of_callee(sb: &Switchboard, tenant: &TenantId, callee: &Extension) -> OwnerKey {
    let owns_group = sb
        .tenant(tenant)
        .is_some_and(|t| t.call_groups.contains_key(callee));
    if owns_group {
        OwnerKey::CallGroup(tenant.clone(), callee.clone())
    } else {
        OwnerKey::Extension(tenant.clone(), callee.clone())
    }
}

/// Whose timers and decisions a call is: its park lot while parked, else
/// its callee (or the callee's call group).
pub fn home_of_call(sb: &Switchboard, call: CallId) -> Option<OwnerKey> {
    let c = sb.call(call)?;
    Some(match c.state {
        CallState::Parked { .. } => OwnerKey::ParkLot(c.tenant.clone()),
        _ => home_of_callee(sb, &c.tenant, &c.callee),
    })
}

/// The owner that decides `cmd`; `None` for directory writes (and for
/// commands about unknown calls, which the state machine answers itself).
pub fn owner_of(cmd: &Command, sb: &Switchboard) -> Option<OwnerKey> {
    match cmd.inner() {
        Command::Dial {
            tenant,
            from,
            digits,
            ..
        } => {
            let codes = &sb.tenant(tenant)?.config.feature_codes;
            match codes.parse(digits).ok()? {
                Dialed::Call(callee) => Some(home_of_callee(sb, tenant, &callee)),
                Dialed::DirectedPickup(Some(target)) => {
                    Some(OwnerKey::Extension(tenant.clone(), target))
                }
                Dialed::Retrieve(_) => Some(OwnerKey::ParkLot(tenant.clone())),
                Dialed::DirectedPickup(None) | Dialed::GroupPickup | Dialed::NamedPickup(_) => from
                    .extension()
                    .map(|p| OwnerKey::Extension(tenant.clone(), p.clone())),
            }
        }
        Command::Answer { call, .. }
        | Command::Hangup { call, .. }
        | Command::Tick { call, .. } => home_of_call(sb, *call),
        Command::Park { tenant, .. } | Command::Retrieve { tenant, .. } => {
            Some(OwnerKey::ParkLot(tenant.clone()))
        }
        Command::Pickup {
            tenant,
            picker,
            kind,
            ..
        } => Some(match kind {
            PickupKind::Directed(Some(target)) | PickupKind::Blf { target, .. } => {
                OwnerKey::Extension(tenant.clone(), target.clone())
            }
            _ => OwnerKey::Extension(tenant.clone(), picker.clone()),
        }),
        _ => None,
    }
}

/// True if this node (`me`) owns `key` under the applied shard map (or no
/// map has been assigned yet, as on a fresh single node).
pub fn is_local(key: &OwnerKey, sb: &Switchboard, me: u64) -> bool {
    let map = sb.shard_map();
    map.epoch == 0
        || map
            .owner(shard_of(&key.to_string()))
            .is_none_or(|owner| owner == me)
}
