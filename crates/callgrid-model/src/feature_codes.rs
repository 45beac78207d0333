//! Feature access codes and the dial-string parser.
//!
//! Whatever a phone dials comes through [`FeatureCodes::parse`]: it is either
//! a feature (directed pickup, group pickup, named pickup, retrieve) or an
//! ordinary call. The parser is unambiguous because no code may be a prefix
//! of another and group names may not be all digits.

use serde::{Deserialize, Serialize};

use crate::{Extension, GroupName, ValidationError};

/// A tenant's feature access codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureCodes {
    /// Followed by an extension: directed pickup (`*97<ext>`).
    pub directed_pickup: String,
    /// Dialled alone: group pickup (`*98`).
    pub group_pickup: String,
    /// Followed by a group name: named-group pickup (`88<name>`).
    pub named_pickup: String,
    /// Followed by a park code: retrieve (`*71<code>`).
    pub retrieve: String,
    /// Where a phone transfers a call to park it (`*70`). Never dialled
    /// alone: a call is parked by the transfer.
    pub park: String,
}

impl Default for FeatureCodes {
    fn default() -> Self {
        Self {
            directed_pickup: "*97".into(),
            group_pickup: "*98".into(),
            named_pickup: "88".into(),
            retrieve: "*71".into(),
            park: "*70".into(),
        }
    }
}

/// What a dial string means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialed {
    /// An ordinary call to an extension.
    Call(Extension),
    /// Directed pickup of whatever rings on the target. `None` when the
    /// digits after the code are not an extension number.
    DirectedPickup(Option<Extension>),
    GroupPickup,
    NamedPickup(GroupName),
    /// Retrieve by park code; the digits as dialled (they may name no code).
    Retrieve(String),
}

impl FeatureCodes {
    fn codes(&self) -> [(&'static str, &str); 5] {
        [
            ("feature_codes.directed_pickup", &self.directed_pickup),
            ("feature_codes.group_pickup", &self.group_pickup),
            ("feature_codes.named_pickup", &self.named_pickup),
            ("feature_codes.retrieve", &self.retrieve),
            ("feature_codes.park", &self.park),
        ]
    }

    /// Checks each code (1–8 of `0-9 * #`) and that none is a prefix of another.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let codes = self.codes();
        for (field, code) in codes {
            if code.is_empty() || code.len() > 8 {
                return Err(ValidationError::new(
                    field,
                    "a feature code must be 1-8 characters",
                ));
            }
            if !code
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
            {
                return Err(ValidationError::new(
                    field,
                    "a feature code may contain only 0-9 * #",
                ));
            }
        }
        for (i, (field, a)) in codes.iter().enumerate() {
            for (j, (other, b)) in codes.iter().enumerate() {
                if i != j && b.starts_with(*a) {
                    return Err(ValidationError::new(
                        *field,
                        format!("a feature code must not be a prefix of another ({other})"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Reads a dial string. `Err` only for digits that are neither a feature
    /// nor an extension number.
    pub fn parse(&self, digits: &str) -> Result<Dialed, ValidationError> {
        if digits == self.group_pickup {
            return Ok(Dialed::GroupPickup);
        }
        if digits == self.park {
            return Err(ValidationError::new(
                "digits",
                "the park code parks the call transferred to it; it is not dialled",
            ));
        }
        if let Some(rest) = digits.strip_prefix(self.directed_pickup.as_str()) {
            return Ok(Dialed::DirectedPickup(
                Extension::parse("digits", rest).ok(),
            ));
        }
        if let Some(rest) = digits.strip_prefix(self.retrieve.as_str()) {
            return Ok(Dialed::Retrieve(rest.to_owned()));
        }
        if let Some(rest) = digits.strip_prefix(self.named_pickup.as_str()) {
            // All digits after the prefix is an ordinary number that happens to
            // start like the code: names may never be all digits for this reason.
            if !rest.is_empty() && !rest.bytes().all(|b| b.is_ascii_digit()) {
                return GroupName::parse("digits", rest).map(Dialed::NamedPickup);
            }
        }
        Extension::parse("digits", digits)
            .map(Dialed::Call)
            .map_err(|_| {
                ValidationError::new(
                    "digits",
                    "matches no feature code and is not an extension number",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ext(s: &str) -> Extension {
        Extension::parse("t", s).unwrap()
    }

    #[test]
    fn default_codes_parse_each_feature() {
        let fc = FeatureCodes::default();
        assert_eq!(
            fc.parse("*97102").unwrap(),
            Dialed::DirectedPickup(Some(ext("102")))
        );
        assert_eq!(fc.parse("*97").unwrap(), Dialed::DirectedPickup(None));
        assert_eq!(fc.parse("*98").unwrap(), Dialed::GroupPickup);
        assert_eq!(
            fc.parse("88sales").unwrap(),
            Dialed::NamedPickup(GroupName::parse("n", "sales").unwrap())
        );
        assert_eq!(fc.parse("*7142").unwrap(), Dialed::Retrieve("42".into()));
        assert_eq!(fc.parse("102").unwrap(), Dialed::Call(ext("102")));
    }

    #[test]
    fn all_digit_suffix_of_named_code_is_an_ordinary_call() {
        let fc = FeatureCodes::default();
        assert_eq!(fc.parse("88123").unwrap(), Dialed::Call(ext("88123")));
        assert_eq!(fc.parse("88").unwrap(), Dialed::Call(ext("88")));
    }

    #[test]
    fn the_park_code_is_a_transfer_target_not_a_number_to_dial() {
        let err = FeatureCodes::default().parse("*70").unwrap_err();
        assert_eq!(err.field, "digits");
        assert!(err.rule.contains("park"));
        let clash = FeatureCodes {
            park: "*7".into(),
            ..FeatureCodes::default()
        };
        assert_eq!(clash.validate().unwrap_err().field, "feature_codes.park");
    }

    #[test]
    fn unknown_star_code_is_an_error_naming_digits() {
        let err = FeatureCodes::default().parse("*55").unwrap_err();
        assert_eq!(err.field, "digits");
    }

    #[test]
    fn named_pickup_with_a_reserved_name_is_rejected() {
        let err = FeatureCodes::default().parse("88cg_x").unwrap_err();
        assert!(err.rule.contains("cg_"));
    }

    #[test]
    fn prefix_codes_are_rejected() {
        let fc = FeatureCodes {
            group_pickup: "*9".into(),
            ..FeatureCodes::default()
        };
        let err = fc.validate().unwrap_err();
        assert_eq!(err.field, "feature_codes.group_pickup");
        assert!(err.rule.contains("prefix"));
        assert!(FeatureCodes::default().validate().is_ok());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "[0-9*#A-Za-z_-]{0,24}") {
            let _ = FeatureCodes::default().parse(&s);
        }

        #[test]
        fn any_digit_string_is_a_call_or_a_feature(s in "[0-9]{1,15}") {
            let d = FeatureCodes::default().parse(&s).unwrap();
            prop_assert!(matches!(d, Dialed::Call(_)));
        }

        #[test]
        fn directed_pickup_round_trips(e in "[0-9]{1,15}") {
            let d = FeatureCodes::default().parse(&format!("*97{e}")).unwrap();
            prop_assert_eq!(d, Dialed::DirectedPickup(Some(ext(&e))));
        }
    }
}
