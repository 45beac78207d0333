//! Who is who in the bench directory.
//!
//! Tenants are `bench-0`, `bench-1`, ...; each has extensions `1000000`,
//! `1000001`, ... cut into blocks. A worker owns one block, so concurrent
//! workers never touch each other's calls and every race has exactly the
//! racers the scenario put in it. Even blocks are in legacy mode (pickup
//! group `g<block>`), odd blocks in named mode (call and pickup groups
//! `team<block>`), so group pickup is exercised both ways. Every extension
//! holds the `bench` park policy.

use callgrid_proto::v1;

/// First extension number of every tenant.
const FIRST_NUMBER: u64 = 1_000_000;
/// The park policy every bench extension holds.
pub const PARK_POLICY: &str = "bench";
/// Smallest block: caller, callee and six others.
pub const MIN_BLOCK: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub tenants: u32,
    pub extensions: u32,
    pub block: u32,
}

/// The extensions one worker owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub tenant: String,
    pub index: u32,
    pub numbers: Vec<String>,
    /// Named mode: `group` is a named call/pickup group, else a legacy group.
    pub named: bool,
    pub group: String,
}

pub fn tenant_name(i: u32) -> String {
    format!("bench-{i}")
}

pub fn number(index: u32) -> String {
    (FIRST_NUMBER + u64::from(index)).to_string()
}

impl Layout {
    /// The layout for `slots` workers, each needing `block` extensions;
    /// `extensions` overrides the per-tenant count (it must be enough).
    pub fn new(
        tenants: u32,
        extensions: Option<u32>,
        slots: usize,
        block: u32,
    ) -> anyhow::Result<Layout> {
        anyhow::ensure!(tenants >= 1, "--tenants must be at least 1");
        let block = block.max(MIN_BLOCK);
        let blocks_per_tenant = (slots.max(1) as u32).div_ceil(tenants);
        let needed = blocks_per_tenant * block;
        let extensions = extensions.unwrap_or(needed);
        anyhow::ensure!(
            extensions >= needed,
            "{slots} workers over {tenants} tenant(s) need {blocks_per_tenant} blocks of {block} \
             extensions per tenant: --extensions must be at least {needed}"
        );
        Ok(Layout {
            tenants,
            extensions,
            block,
        })
    }

    pub fn total_extensions(&self) -> u64 {
        u64::from(self.tenants) * u64::from(self.extensions)
    }

    /// Worker `slot`'s block: slots go round the tenants first.
    pub fn block_of(&self, slot: usize) -> Block {
        let tenant = (slot as u32) % self.tenants;
        let index = (slot as u32) / self.tenants;
        self.block(tenant, index)
    }

    fn block(&self, tenant: u32, index: u32) -> Block {
        let first = index * self.block;
        let named = index % 2 == 1;
        Block {
            tenant: tenant_name(tenant),
            index,
            numbers: (first..first + self.block).map(number).collect(),
            named,
            group: group_name(index, named),
        }
    }

    /// The directory record of extension `index` of a tenant.
    pub fn extension(&self, index: u32) -> v1::Extension {
        let block = index / self.block;
        let named = block % 2 == 1;
        let group = group_name(block, named);
        let mut ext = v1::Extension {
            number: number(index),
            park_policy: PARK_POLICY.to_owned(),
            ..Default::default()
        };
        if named {
            ext.call_groups = group.clone();
            ext.pickup_groups = group;
        } else {
            ext.legacy_pickup_groups = vec![group];
        }
        ext
    }
}

fn group_name(block: u32, named: bool) -> String {
    if named {
        format!("team{block}")
    } else {
        format!("g{block}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_get_disjoint_blocks_round_the_tenants() {
        let l = Layout::new(2, None, 5, 6).unwrap();
        assert_eq!(l.block, 8);
        assert_eq!(l.extensions, 24);
        let a = l.block_of(0);
        let b = l.block_of(2);
        assert_eq!(a.tenant, "bench-0");
        assert_eq!(b.tenant, "bench-0");
        assert_eq!(a.numbers[0], "1000000");
        assert_eq!(b.numbers[0], "1000008");
        assert!(!a.named && b.named);
        assert_eq!(l.block_of(1).tenant, "bench-1");
    }

    #[test]
    fn too_few_extensions_is_refused_with_the_number_needed() {
        let err = Layout::new(1, Some(10), 4, 8).unwrap_err().to_string();
        assert!(err.contains("at least 32"), "{err}");
    }

    #[test]
    fn records_match_their_block_mode() {
        let l = Layout::new(1, None, 2, 8).unwrap();
        assert_eq!(l.extension(0).legacy_pickup_groups, vec!["g0".to_owned()]);
        assert_eq!(l.extension(9).pickup_groups, "team1");
        assert_eq!(l.extension(9).park_policy, PARK_POLICY);
    }
}
