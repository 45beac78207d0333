//! Identifiers: tenants, extensions, calls, park codes and the like.
//!
//! Each can only be built by its validator, so code that holds one never
//! re-checks it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

macro_rules! ident_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(String);

        impl $name {
            /// Validates `raw` as reported under `field`.
            pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
                if raw.is_empty() {
                    return Err(ValidationError::new(field, concat!($what, " must not be empty")));
                }
                if raw.len() > $max {
                    return Err(ValidationError::new(
                        field,
                        format!(concat!($what, " must be at most {} characters"), $max),
                    ));
                }
                if !raw.chars().all(is_ident_char) {
                    return Err(ValidationError::new(
                        field,
                        concat!($what, " may contain only A-Z a-z 0-9 _ -"),
                    ));
                }
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

ident_type!(
    /// A tenant: the isolation boundary. Nothing crosses tenants.
    TenantId, "tenant id", 64
);
ident_type!(
    /// The name of a park policy; users holding the same policy form a park group.
    PolicyName, "park policy name", 64
);
ident_type!(
    /// A legacy (numbered or named) pickup group.
    LegacyGroupId, "pickup group id", 64
);

/// An extension number: digits only, unique within its tenant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Extension(String);

impl Extension {
    /// Longest number we accept: the E.164 limit.
    pub const MAX_LEN: usize = 15;

    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        if raw.is_empty() {
            return Err(ValidationError::new(field, "extension must not be empty"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(ValidationError::new(
                field,
                format!("extension must be at most {} digits", Self::MAX_LEN),
            ));
        }
        if !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValidationError::new(
                field,
                "extension must be digits 0-9 only",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A number outside the cluster (a PSTN caller): `+` and digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OutsideNumber(String);

impl OutsideNumber {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let digits = raw.strip_prefix('+').unwrap_or(raw);
        if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValidationError::new(
                field,
                "outside number must be an optional + followed by 1-20 digits",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who placed a call: one of the tenant's extensions or an outside number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Party {
    Extension(Extension),
    Outside(OutsideNumber),
}

impl Party {
    pub fn extension(&self) -> Option<&Extension> {
        match self {
            Party::Extension(e) => Some(e),
            Party::Outside(_) => None,
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Party::Extension(e) => write!(f, "{e}"),
            Party::Outside(n) => write!(f, "{}", n.as_str()),
        }
    }
}

/// A call, unique across tenants. Clients see only its [`number`]: its
/// place in its own tenant's sequence (1, 2, 3, ...), which says nothing
/// of other tenants' calls. Inside, the high bits hold the tenant's id
/// space ([`CallId::in_tenant`]), so that numbers of different tenants
/// never meet in one map.
///
/// [`number`]: CallId::number
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CallId(pub u64);

impl CallId {
    /// The largest number a tenant's call gets; after it, numbering starts
    /// again at 1 (numbers of calls the cluster still holds are skipped).
    pub const MAX_NUMBER: u64 = 0xFFFF_FFFF;

    /// The call `number` of `tenant`, as a client names it. A number no
    /// call can have gives an id no call has.
    pub fn in_tenant(tenant: &TenantId, number: u64) -> CallId {
        if number == 0 || number > Self::MAX_NUMBER {
            return CallId(u64::MAX);
        }
        CallId(id_space(tenant) << 32 | number)
    }

    /// The number clients see: the call's place in its tenant's sequence.
    pub fn number(self) -> u64 {
        self.0 & Self::MAX_NUMBER
    }
}

/// A tenant's call-id space: 31 bits of a stable hash of its id. Two
/// tenants may share a space; their calls then skip each other's numbers.
fn id_space(tenant: &TenantId) -> u64 {
    crate::fingerprint(&[tenant.as_str().as_bytes()]) & 0x7FFF_FFFF
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// A park retrieval code, in the range every policy must sit within (10–9999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ParkCode(u16);

impl ParkCode {
    pub const MIN: u16 = 10;
    pub const MAX: u16 = 9999;

    pub fn new(field: &str, raw: u32) -> Result<Self, ValidationError> {
        if (Self::MIN as u32..=Self::MAX as u32).contains(&raw) {
            Ok(Self(raw as u16))
        } else {
            Err(ValidationError::new(
                field,
                format!("park code must be between {} and {}", Self::MIN, Self::MAX),
            ))
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for ParkCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_accepts_digits_only() {
        assert!(Extension::parse("x", "101").is_ok());
        let err = Extension::parse("callee", "10a").unwrap_err();
        assert_eq!(err.field, "callee");
        assert!(err.rule.contains("digits"));
        assert!(Extension::parse("x", "").is_err());
        assert!(Extension::parse("x", "1234567890123456").is_err());
    }

    #[test]
    fn park_code_range_is_10_to_9999() {
        assert!(ParkCode::new("code", 9).is_err());
        assert!(ParkCode::new("code", 10).is_ok());
        assert!(ParkCode::new("code", 9999).is_ok());
        assert!(ParkCode::new("code", 10000).is_err());
    }

    #[test]
    fn tenant_id_rejects_spaces() {
        assert!(TenantId::parse("tenant", "acme corp").is_err());
        assert!(TenantId::parse("tenant", "acme-corp_1").is_ok());
    }
}
