//! What a request contends for: the owner that decides it.

use callgrid_model::{Dialed, Extension, FeatureCodes, OwnerKey, TenantId};

use crate::error::Error;

/// What a request contends for: the owner that decides it (see "Which
/// key" in the crate's documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(pub(crate) OwnerKey);

impl Key {
    /// An extension of a tenant (validated as the API validates it).
    pub fn extension(tenant: &str, number: &str) -> Result<Key, Error> {
        Ok(Key(OwnerKey::Extension(
            TenantId::parse("tenant", tenant)?,
            Extension::parse("extension", number)?,
        )))
    }

    /// A call group of a tenant, by its number.
    pub fn call_group(tenant: &str, number: &str) -> Result<Key, Error> {
        Ok(Key(OwnerKey::CallGroup(
            TenantId::parse("tenant", tenant)?,
            Extension::parse("call_group", number)?,
        )))
    }

    /// A tenant's park lot: its park codes.
    pub fn park_lot(tenant: &str) -> Result<Key, Error> {
        Ok(Key(OwnerKey::ParkLot(TenantId::parse("tenant", tenant)?)))
    }

    /// The key of a `Calls.Dial` of `digits` from `from` (an extension, or
    /// `None` for an outside caller), as the node reads it: a call, the
    /// callee; a directed pickup, its target; a retrieve, the park lot; a
    /// group or named pickup, the picker. The digits are read with the
    /// default feature codes (`*97`, `*98`, `88`, `*71`): the client does
    /// not know a tenant's own, and a dial it reads wrong, or not at all
    /// (`None`: send it to any node), costs one hop, never an answer.
    pub fn dial(tenant: &str, from: Option<&str>, digits: &str) -> Option<Key> {
        let tenant = TenantId::parse("tenant", tenant).ok()?;
        let picker = || {
            let from = Extension::parse("from", from?).ok()?;
            Some(Key(OwnerKey::Extension(tenant.clone(), from)))
        };
        match FeatureCodes::default().parse(digits).ok()? {
            Dialed::Call(callee) | Dialed::DirectedPickup(Some(callee)) => {
                Some(Key(OwnerKey::Extension(tenant.clone(), callee)))
            }
            Dialed::Retrieve(_) => Some(Key(OwnerKey::ParkLot(tenant.clone()))),
            Dialed::DirectedPickup(None) | Dialed::GroupPickup | Dialed::NamedPickup(_) => picker(),
        }
    }

    /// The shard the key's owner lives in.
    pub(crate) fn shard(&self) -> usize {
        self.0.shard() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated_and_name_the_owner_the_node_hashes() {
        let key = Key::extension("acme", "102").unwrap();
        assert_eq!(key.0.to_string(), "acme/ext/102");
        assert_eq!(key.0.shard(), callgrid_model::shard_of("acme/ext/102"));
        assert_eq!(
            Key::park_lot("acme").unwrap().0.to_string(),
            "acme/park-lot"
        );
        let bad = Key::extension("acme", "1 2").unwrap_err();
        assert!(bad.to_string().contains("extension"), "{bad}");
    }

    #[test]
    fn a_dial_is_keyed_as_the_node_reads_it_with_the_default_codes() {
        let ext = |n| Key::extension("acme", n).ok();
        assert_eq!(Key::dial("acme", Some("101"), "102"), ext("102"));
        assert_eq!(Key::dial("acme", None, "102"), ext("102"));
        assert_eq!(Key::dial("acme", Some("101"), "*97103"), ext("103"));
        assert_eq!(Key::dial("acme", Some("101"), "*98"), ext("101"));
        assert_eq!(Key::dial("acme", Some("101"), "88sales"), ext("101"));
        assert_eq!(
            Key::dial("acme", Some("101"), "*7142"),
            Key::park_lot("acme").ok()
        );
        // Nothing to aim at: any node reads it.
        assert_eq!(Key::dial("acme", None, "*98"), None);
        assert_eq!(Key::dial("acme", Some("101"), "*70"), None);
        assert_eq!(Key::dial("ac me", Some("101"), "102"), None);
    }
}
