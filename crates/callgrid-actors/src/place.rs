//! Which owner decides a command, and which node that owner lives on.

use callgrid_model::{
    CallId, CallState, Command, Contended, Dialed, Extension, OwnerKey, PickupKind, Switchboard,
    TenantId,
};

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

/// Whose timers and claims a call is: its park lot while parked, else its
/// callee (or the callee's call group).
pub fn home_of_call(sb: &Switchboard, call: CallId) -> Option<OwnerKey> {
    let c = sb.call(call)?;
    Some(match c.state {
        CallState::Parked { .. } => OwnerKey::ParkLot(c.tenant.clone()),
        _ => home_of_callee(sb, &c.tenant, &c.callee),
    })
}

/// The owner that decides `cmd`; `None` for directory writes (and for
/// commands about unknown calls, which the state machine answers itself).
///
/// A claim goes to the home of what it contends for, so every racer for
/// one call — an answer on any of its phones, a directed, group, named or
/// BLF pickup, a feature code dialled — meets the others in one actor, and
/// every retrieve of one park code in its tenant's park lot.
pub fn owner_of(cmd: &Command, sb: &Switchboard) -> Option<OwnerKey> {
    match sb.contended(cmd) {
        Some(Contended::Call(call)) => return home_of_call(sb, call),
        Some(Contended::Code(_)) => return cmd.tenant().cloned().map(OwnerKey::ParkLot),
        None => {}
    }
    // Nothing contended (yet): where the command's calls would be.
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

/// Where an owner lives under the applied shard map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// On this node (or no map has been assigned yet, as on a fresh node).
    Local,
    /// On `node`, as of shard-map `epoch`.
    Remote { node: u64, epoch: u64 },
}

/// Where `key` lives, for node `me`: the one placement function.
pub fn place(key: &OwnerKey, sb: &Switchboard, me: u64) -> Placement {
    let map = sb.shard_map();
    match map.owner(key.shard()) {
        Some(owner) if owner != me && map.epoch > 0 => Placement::Remote {
            node: owner,
            epoch: map.epoch,
        },
        _ => Placement::Local,
    }
}

/// True if `key` lives on node `me`.
pub fn is_local(key: &OwnerKey, sb: &Switchboard, me: u64) -> bool {
    place(key, sb, me) == Placement::Local
}
