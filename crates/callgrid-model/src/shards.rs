//! Virtual shards: which node owns which extensions, call groups and park lots.
//!
//! A fixed number of shards; an owner's shard is a stable hash of its key.
//! The shard map (shard → node, with an epoch) is replicated state, changed
//! only by a committed [`crate::Command::SetShardMap`] whose epoch is the
//! next one, so every node agrees on who owns what at each epoch.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Extension, TenantId};

/// How many virtual shards the cluster has. Fixed for the life of a cluster.
pub const SHARD_COUNT: u32 = 64;

/// A shard number, `0..SHARD_COUNT`.
pub type Shard = u32;

/// The owner of a piece of call-control state (an extension, a call group,
/// a tenant's park lot), and so of an actor on some node: the unit the
/// shard map places.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OwnerKey {
    Extension(TenantId, Extension),
    CallGroup(TenantId, Extension),
    /// A tenant's park codes (unique tenant-wide, so one lot per tenant).
    ParkLot(TenantId),
}

impl OwnerKey {
    pub fn kind(&self) -> &'static str {
        match self {
            OwnerKey::Extension(..) => "extension",
            OwnerKey::CallGroup(..) => "call_group",
            OwnerKey::ParkLot(..) => "park_lot",
        }
    }

    /// The shard this owner lives in.
    pub fn shard(&self) -> Shard {
        shard_of(&self.to_string())
    }
}

/// `tenant/ext/101`, `tenant/call-group/600`, `tenant/park-lot`: what
/// [`shard_of`] hashes.
impl fmt::Display for OwnerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OwnerKey::Extension(t, e) => write!(f, "{t}/ext/{e}"),
            OwnerKey::CallGroup(t, e) => write!(f, "{t}/call-group/{e}"),
            OwnerKey::ParkLot(t) => write!(f, "{t}/park-lot"),
        }
    }
}

/// The shard of an owner key (`tenant/ext/101`, `tenant/park-lot`): FNV-1a,
/// stable across releases and machines.
pub fn shard_of(key: &str) -> Shard {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(SHARD_COUNT)) as Shard
}

/// Which node owns each shard, at an epoch. Epoch 0 is the empty map of a
/// cluster that has assigned nothing yet (every node then decides locally).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMap {
    pub epoch: u64,
    /// `owners[shard]`: a node id; empty before the first assignment.
    pub owners: Vec<u64>,
}

impl ShardMap {
    pub fn owner(&self, shard: Shard) -> Option<u64> {
        self.owners.get(shard as usize).copied()
    }

    /// How many shards `node` owns.
    pub fn owned_by(&self, node: u64) -> usize {
        self.owners.iter().filter(|o| **o == node).count()
    }

    /// The next map with every shard on `node`, for clusters whose owners
    /// follow the Raft leader. `None` if `node` already holds them all.
    pub fn all_on(&self, node: u64) -> Option<ShardMap> {
        let owners = vec![node; SHARD_COUNT as usize];
        (owners != self.owners).then(|| ShardMap {
            epoch: self.epoch + 1,
            owners,
        })
    }

    /// The next map: every shard on one of `nodes`, as even as possible,
    /// moving as few shards as it can (a shard stays where it is unless its
    /// node is gone or holds more than its share). `None` if nothing would change.
    pub fn rebalanced(&self, nodes: &[u64]) -> Option<ShardMap> {
        let mut nodes: Vec<u64> = nodes.to_vec();
        nodes.sort_unstable();
        nodes.dedup();
        if nodes.is_empty() {
            return None;
        }
        let n = nodes.len();
        let base = SHARD_COUNT as usize / n;
        let extra = SHARD_COUNT as usize % n;
        // The first `extra` nodes (by id) may hold one more shard.
        let quota = |node: u64| {
            base + usize::from(
                nodes
                    .iter()
                    .position(|x| *x == node)
                    .is_some_and(|i| i < extra),
            )
        };
        let mut owners: Vec<Option<u64>> = (0..SHARD_COUNT)
            .map(|s| self.owner(s).filter(|o| nodes.contains(o)))
            .collect();
        let mut held: std::collections::BTreeMap<u64, usize> =
            nodes.iter().map(|n| (*n, 0)).collect();
        for slot in owners.iter_mut() {
            if let Some(o) = *slot {
                let count = held.get_mut(&o).expect("owner is one of the nodes");
                if *count < quota(o) {
                    *count += 1;
                } else {
                    *slot = None;
                }
            }
        }
        for slot in owners.iter_mut().filter(|s| s.is_none()) {
            let node = *nodes
                .iter()
                .find(|n| held[n] < quota(**n))
                .expect("quotas add up to SHARD_COUNT");
            *held.get_mut(&node).expect("node is counted") += 1;
            *slot = Some(node);
        }
        let owners: Vec<u64> = owners
            .into_iter()
            .map(|o| o.expect("every shard assigned"))
            .collect();
        (owners != self.owners).then(|| ShardMap {
            epoch: self.epoch + 1,
            owners,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shard_of_is_stable_and_in_range() {
        assert_eq!(shard_of("acme/ext/101"), shard_of("acme/ext/101"));
        assert!(shard_of("") < SHARD_COUNT);
    }

    #[test]
    fn first_assignment_spreads_evenly() {
        let map = ShardMap::default().rebalanced(&[1, 2, 3]).unwrap();
        assert_eq!(map.epoch, 1);
        assert_eq!(
            (map.owned_by(1), map.owned_by(2), map.owned_by(3)),
            (22, 21, 21)
        );
        assert!(map.rebalanced(&[3, 2, 1]).is_none(), "a balanced map stays");
    }

    #[test]
    fn a_lost_node_s_shards_move_and_nothing_else_does() {
        let map = ShardMap::default().rebalanced(&[1, 2, 3]).unwrap();
        let after = map.rebalanced(&[1, 2]).unwrap();
        for s in 0..SHARD_COUNT {
            if map.owner(s) != Some(3) {
                assert_eq!(map.owner(s), after.owner(s), "shard {s} moved needlessly");
            }
        }
        assert_eq!(after.owned_by(3), 0);
        assert_eq!(after.epoch, 2);
    }

    #[test]
    fn all_on_gathers_every_shard_once() {
        let spread = ShardMap::default().rebalanced(&[1, 2, 3]).unwrap();
        let gathered = spread.all_on(2).unwrap();
        assert_eq!(gathered.epoch, spread.epoch + 1);
        assert_eq!(gathered.owned_by(2), SHARD_COUNT as usize);
        assert!(gathered.all_on(2).is_none(), "a gathered map stays");
        let moved = gathered.all_on(3).unwrap();
        assert_eq!(
            (moved.owned_by(2), moved.owned_by(3)),
            (0, SHARD_COUNT as usize)
        );
    }

    proptest! {
        #[test]
        fn rebalanced_maps_cover_every_shard_fairly(
            first in proptest::collection::btree_set(1u64..10, 1..6),
            second in proptest::collection::btree_set(1u64..10, 1..6),
        ) {
            let first: Vec<u64> = first.into_iter().collect();
            let second: Vec<u64> = second.into_iter().collect();
            let a = ShardMap::default().rebalanced(&first).unwrap();
            let b = a.rebalanced(&second).unwrap_or(a.clone());
            prop_assert_eq!(b.owners.len(), SHARD_COUNT as usize);
            let counts: Vec<usize> = second.iter().map(|n| b.owned_by(*n)).collect();
            let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            prop_assert!(max - min <= 1);
            prop_assert!(b.owners.iter().all(|o| second.contains(o)));
        }
    }
}
