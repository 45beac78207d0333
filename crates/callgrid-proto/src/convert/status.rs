//! Refusals as gRPC statuses: bad input and directory errors.
//!
//! Business outcomes never come here; they are result enums in responses.

use callgrid_model::{DirectoryError, ValidationError};
use tonic::Status;

/// `INVALID_ARGUMENT`, with a message naming the field and the rule
/// (`extension.pickup_groups: "1234": a group name must not be only digits`).
pub fn invalid_argument(err: &ValidationError) -> Status {
    Status::invalid_argument(err.to_string())
}

/// The status a refused directory write (or read of something missing)
/// answers with: `INVALID_ARGUMENT` for bad input, `NOT_FOUND` for a missing
/// tenant, extension, policy or call group, `FAILED_PRECONDITION` for a
/// record that is not voice-enabled or still in use (or an extension
/// without a SIP password asked to register), `RESOURCE_EXHAUSTED`
/// for a tenant limit.
pub fn directory_status(err: &DirectoryError) -> Status {
    let message = err.to_string();
    match err {
        DirectoryError::Invalid(e) => invalid_argument(e),
        DirectoryError::TenantNotFound(_)
        | DirectoryError::ExtensionNotFound { .. }
        | DirectoryError::PolicyNotFound { .. }
        | DirectoryError::CallGroupNotFound(_) => Status::not_found(message),
        DirectoryError::NotVoiceEnabled { .. }
        | DirectoryError::InUse(_)
        | DirectoryError::NoSipSecret { .. } => Status::failed_precondition(message),
        DirectoryError::CallGroupLimit { .. } => Status::resource_exhausted(message),
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn validation_errors_are_invalid_argument_naming_the_field() {
        let s = invalid_argument(&ValidationError::new("policy.code_start", "too low"));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "policy.code_start: too low");
    }

    #[test]
    fn directory_errors_map_to_codes_a_client_can_act_on() {
        let cases = [
            (
                DirectoryError::TenantNotFound("acme".into()),
                Code::NotFound,
            ),
            (
                DirectoryError::CallGroupLimit { limit: 3 },
                Code::ResourceExhausted,
            ),
            (
                DirectoryError::NotVoiceEnabled {
                    field: "group.members[0]".into(),
                    number: "101".into(),
                },
                Code::FailedPrecondition,
            ),
            (
                DirectoryError::InUse("held by 101".into()),
                Code::FailedPrecondition,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(directory_status(&err).code(), code, "{err}");
        }
    }
}
