//! Request ids and undecided answers: the part of the API a client needs to
//! retry safely.
//!
//! A mutating request carries its client-chosen id in the `request-id`
//! metadata entry (not in the message, so every request message keeps its
//! shape and any client or interceptor can add one). A request the
//! cluster could not decide answers `UNAVAILABLE` in one of two ways,
//! told apart by a metadata entry and by the message's first words:
//!
//! - `not-decided`: "not decided: ..." — this attempt certainly did not
//!   take effect and never will. Retrying is safe with or without an id.
//! - `outcome-unknown`: "outcome unknown: retry with the same request_id
//!   ..." — this attempt may have taken effect, or may yet. Only a retry
//!   with the same `request-id` learns which, and never adds a second
//!   effect.
//!
//! An error a client met on its own side (its deadline, a dropped
//! connection) has neither entry, and is as unknown as `outcome-unknown`.

use callgrid_model::{RequestId, ValidationError, fingerprint};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Status};

/// The metadata key of a request's id.
pub const REQUEST_ID: &str = "request-id";
/// Set on an `UNAVAILABLE` whose request may or may not have taken effect.
pub const OUTCOME_UNKNOWN: &str = "outcome-unknown";
/// Set on an `UNAVAILABLE` whose request certainly did not take effect.
pub const NOT_DECIDED: &str = "not-decided";
/// How an outcome-unknown message starts.
pub const OUTCOME_UNKNOWN_PREFIX: &str = "outcome unknown: retry with the same request_id";
/// How a not-decided message starts.
pub const NOT_DECIDED_PREFIX: &str = "not decided:";

/// `message`, with `id` in its `request-id` metadata.
pub fn with_request_id<T>(message: T, id: &str) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = MetadataValue::try_from(id) {
        request.metadata_mut().insert(REQUEST_ID, value);
    }
    request
}

/// The request id a request carries, if any; bad ids are refused naming
/// the `request-id` metadata and the rule.
pub fn request_id(metadata: &MetadataMap) -> Result<Option<RequestId>, ValidationError> {
    let Some(value) = metadata.get(REQUEST_ID) else {
        return Ok(None);
    };
    let raw = value.to_str().map_err(|_| {
        ValidationError::new(
            REQUEST_ID,
            "request id may contain only printable ASCII characters, no spaces",
        )
    })?;
    RequestId::parse(REQUEST_ID, raw).map(Some)
}

/// What a request asks, as a number to tell a retry from another request
/// under the same id: the method and the encoded message.
pub fn request_fingerprint(method: &str, message: &impl prost::Message) -> u64 {
    fingerprint(&[method.as_bytes(), &message.encode_to_vec()])
}

/// `UNAVAILABLE`: this attempt certainly did not take effect.
pub fn not_decided(why: &str) -> Status {
    let mut metadata = MetadataMap::new();
    metadata.insert(NOT_DECIDED, MetadataValue::from_static("true"));
    Status::with_metadata(
        Code::Unavailable,
        format!("{NOT_DECIDED_PREFIX} {why}; nothing changed, retry"),
        metadata,
    )
}

/// `UNAVAILABLE`: this attempt may or may not have taken effect.
pub fn outcome_unknown(why: &str) -> Status {
    let mut metadata = MetadataMap::new();
    metadata.insert(OUTCOME_UNKNOWN, MetadataValue::from_static("true"));
    Status::with_metadata(
        Code::Unavailable,
        format!("{OUTCOME_UNKNOWN_PREFIX} ({why})"),
        metadata,
    )
}

/// True when `status` says its request certainly did not take effect.
/// Everything else that is not a decided answer may have.
pub fn is_not_decided(status: &Status) -> bool {
    status.code() == Code::Unavailable && status.metadata().contains_key(NOT_DECIDED)
}

/// True when `status` says its request's outcome is unknown.
pub fn is_outcome_unknown(status: &Status) -> bool {
    status.code() == Code::Unavailable && status.metadata().contains_key(OUTCOME_UNKNOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_id_travels_in_metadata_and_bad_ones_name_the_key() {
        let r = with_request_id((), "pickup-1");
        assert_eq!(
            request_id(r.metadata()).unwrap().unwrap().as_str(),
            "pickup-1"
        );
        assert_eq!(request_id(Request::new(()).metadata()).unwrap(), None);
        let mut r = Request::new(());
        r.metadata_mut()
            .insert(REQUEST_ID, MetadataValue::from_static("two words"));
        let e = request_id(r.metadata()).unwrap_err();
        assert_eq!(e.field, "request-id");
    }

    #[test]
    fn undecided_statuses_say_which_kind_they_are() {
        let unknown = outcome_unknown("timed out");
        assert!(is_outcome_unknown(&unknown) && !is_not_decided(&unknown));
        assert!(unknown.message().starts_with(OUTCOME_UNKNOWN_PREFIX));
        let refused = not_decided("no leader");
        assert!(is_not_decided(&refused) && !is_outcome_unknown(&refused));
        assert!(refused.message().starts_with("not decided: no leader"));
        assert!(!is_not_decided(&Status::unavailable("connection reset")));
    }
}
