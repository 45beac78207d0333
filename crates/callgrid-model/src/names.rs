//! Named call groups and pickup groups: the names and the lists that carry them.
//!
//! The rules are the ones an administrator sees: only `A-Z a-z 0-9 _ -`,
//! case-sensitive, never only digits (so that `88<name>` stays unambiguous
//! against ordinary dialling), never starting with `cg_` (reserved), lists
//! comma-separated and at most 1,024 characters as a string.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// One call-group or pickup-group name. Only [`GroupName::parse`] builds one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupName(String);

/// Which rule a group name broke; the message is what the API reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    Empty,
    Characters,
    OnlyDigits,
    ReservedPrefix,
}

impl NameRule {
    pub fn message(self) -> &'static str {
        match self {
            NameRule::Empty => "a group name must not be empty",
            NameRule::Characters => "a group name may contain only A-Z a-z 0-9 _ -",
            NameRule::OnlyDigits => "a group name must not be only digits",
            NameRule::ReservedPrefix => "a group name must not start with cg_",
        }
    }
}

impl GroupName {
    /// Checks one name against every rule, returning the first it breaks.
    pub fn check(raw: &str) -> Result<(), NameRule> {
        if raw.is_empty() {
            return Err(NameRule::Empty);
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(NameRule::Characters);
        }
        if raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NameRule::OnlyDigits);
        }
        if raw.starts_with("cg_") {
            return Err(NameRule::ReservedPrefix);
        }
        Ok(())
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        Self::check(raw)
            .map(|()| Self(raw.to_owned()))
            .map_err(|rule| ValidationError::new(field, format!("{:?}: {}", raw, rule.message())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A comma-separated list of group names, as stored on an extension.
///
/// Order is kept as given; duplicates are folded (a name listed twice means
/// the same thing as once).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameList(Vec<GroupName>);

impl NameList {
    /// The longest list string an administrator may store.
    pub const MAX_CHARS: usize = 1024;

    /// Parses `a,b,c`. Spaces around names are not allowed, like any other
    /// character outside the name alphabet; an empty string is the empty list.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::new(
                field,
                format!("a name list must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if raw.is_empty() {
            return Ok(Self::default());
        }
        let mut names: Vec<GroupName> = Vec::new();
        for part in raw.split(',') {
            let name = GroupName::parse(field, part)?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Ok(Self(names))
    }

    /// Builds a list from already separate names, applying the same rules
    /// (including the length of the joined string).
    pub fn from_names<S: AsRef<str>>(field: &str, names: &[S]) -> Result<Self, ValidationError> {
        let joined = names
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(",");
        if names.iter().any(|n| n.as_ref().contains(',')) {
            return Err(ValidationError::new(
                field,
                NameRule::Characters.message().to_string(),
            ));
        }
        Self::parse(field, &joined)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, name: &GroupName) -> bool {
        self.0.contains(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &GroupName> {
        self.0.iter()
    }

    /// True when the two lists share at least one name.
    pub fn meets(&self, other: &NameList) -> bool {
        self.0.iter().any(|n| other.contains(n))
    }
}

impl fmt::Display for NameList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = self.0.iter().map(GroupName::as_str).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rule_of(raw: &str) -> String {
        NameList::parse("pickup_groups", raw).unwrap_err().rule
    }

    #[test]
    fn each_rule_is_named_in_the_error() {
        assert!(rule_of("sales team").contains("only A-Z a-z 0-9 _ -"));
        assert!(rule_of("1234").contains("only digits"));
        assert!(rule_of("cg_sales").contains("cg_"));
        assert!(rule_of("sales,,support").contains("must not be empty"));
        assert!(rule_of(&"a".repeat(1025)).contains("1024"));
    }

    #[test]
    fn names_are_case_sensitive_and_deduplicated() {
        let list = NameList::parse("call_groups", "Sales,sales,Sales").unwrap();
        assert_eq!(list.to_string(), "Sales,sales");
    }

    #[test]
    fn a_1024_character_list_is_accepted() {
        let name = "a".repeat(1024);
        assert!(NameList::parse("call_groups", &name).is_ok());
    }

    #[test]
    fn meets_means_a_shared_name() {
        let a = NameList::parse("a", "sales,support").unwrap();
        let b = NameList::parse("b", "billing,support").unwrap();
        let c = NameList::parse("c", "billing").unwrap();
        assert!(a.meets(&b));
        assert!(!a.meets(&c));
    }

    proptest! {
        #[test]
        fn parse_accepts_exactly_the_rules(raw in "[A-Za-z0-9_,\\- .*#]{0,40}") {
            let expected_ok = raw.is_empty() || raw.split(',').all(|p| GroupName::check(p).is_ok());
            prop_assert_eq!(NameList::parse("f", &raw).is_ok(), expected_ok);
        }

        #[test]
        fn a_parsed_list_round_trips(names in proptest::collection::vec("[a-bd-z][A-Za-z0-9_-]{0,10}", 0..8)) {
            let raw = names.join(",");
            let list = NameList::parse("f", &raw).unwrap();
            let again = NameList::parse("f", &list.to_string()).unwrap();
            prop_assert_eq!(list, again);
        }
    }
}
