//! The one error every validator returns: which field, which rule.

use thiserror::Error;

/// Bad input, named by the field it arrived in and the rule it broke.
///
/// Every constructor of a validated type returns this, so that the gRPC edge
/// can answer `INVALID_ARGUMENT` with a message a person can act on, and so
/// that nothing is changed by a request that fails here.
#[derive(Debug, Clone, PartialEq, Eq, Error, serde::Serialize, serde::Deserialize)]
#[error("{field}: {rule}")]
pub struct ValidationError {
    /// The request field, as the API spells it (`pickup_groups`, `code_range.start`).
    pub field: String,
    /// The rule that was broken, in words.
    pub rule: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// The same error, reported under a more specific field path.
    pub fn in_field(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }
}
