//! Every callgrid outcome a phone can be refused with, and the one SIP final
//! response it gets for it.
//!
//! The status code is what any phone understands; the `Reason` header
//! (RFC 3326) names the callgrid outcome exactly, so a phone, a trace or a
//! test can tell `ALREADY_ANSWERED` from `NO_ALERTING_CALL`. The table is
//! written once here and copied into the README.

use callgrid_proto::v1::{CallResult, ParkResult, PickupResult, RetrieveResult};
use rsipstack::sip::StatusCode;

/// A refusal: the final response and the outcome's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub outcome: &'static str,
}

impl Refusal {
    fn new(status: StatusCode, outcome: &'static str) -> Self {
        Self { status, outcome }
    }

    /// `SIP;cause=<code>;text="<OUTCOME>"`: the `Reason` header's value.
    pub fn reason(&self) -> String {
        format!("SIP;cause={};text=\"{}\"", self.status.code(), self.outcome)
    }
}

/// The response to a dial that did not ring (`None`: it rang).
pub fn dial(result: CallResult) -> Option<Refusal> {
    let name = result.as_str_name();
    Some(match result {
        CallResult::Ringing => return None,
        CallResult::NoSuchExtension => Refusal::new(StatusCode::NotFound, name),
        CallResult::Unavailable => Refusal::new(StatusCode::TemporarilyUnavailable, name),
        CallResult::UnknownCaller => Refusal::new(StatusCode::Forbidden, name),
        CallResult::Unspecified => Refusal::new(StatusCode::ServerInternalError, name),
    })
}

/// The response to a pickup that did not pick up (`None`: it did).
pub fn pickup(result: PickupResult) -> Option<Refusal> {
    let name = result.as_str_name();
    Some(match result {
        PickupResult::PickedUp => return None,
        PickupResult::InvalidExtension => Refusal::new(StatusCode::NotFound, name),
        PickupResult::NoAlertingCall => Refusal::new(StatusCode::TemporarilyUnavailable, name),
        PickupResult::AlreadyAnswered => Refusal::new(StatusCode::Gone, name),
        PickupResult::NotPermitted => Refusal::new(StatusCode::Forbidden, name),
        PickupResult::Unspecified => Refusal::new(StatusCode::ServerInternalError, name),
    })
}

/// The response to a retrieve that did not retrieve (`None`: it did).
pub fn retrieve(result: RetrieveResult) -> Option<Refusal> {
    let name = result.as_str_name();
    Some(match result {
        RetrieveResult::Retrieved => return None,
        RetrieveResult::UnknownCode => Refusal::new(StatusCode::NotFound, name),
        RetrieveResult::AlreadyAnswered | RetrieveResult::CallEnded => {
            Refusal::new(StatusCode::Gone, name)
        }
        RetrieveResult::NoParkPolicy | RetrieveResult::OtherParkGroup => {
            Refusal::new(StatusCode::Forbidden, name)
        }
        RetrieveResult::Unspecified => Refusal::new(StatusCode::ServerInternalError, name),
    })
}

/// A `Replaces` naming no call callgrid showed (RFC 3891: 481).
pub fn unknown_dialog() -> Refusal {
    Refusal::new(StatusCode::CallTransactionDoesNotExist, "NO_SUCH_DIALOG")
}

/// The final status of a transfer to the park code that did not park
/// (`None`: it parked), as its `message/sipfrag` NOTIFY reports it.
pub fn park(result: ParkResult) -> Option<Refusal> {
    let name = result.as_str_name();
    Some(match result {
        ParkResult::Parked => return None,
        ParkResult::NoParkPolicy | ParkResult::ParkingNotAllowed | ParkResult::NotPermitted => {
            Refusal::new(StatusCode::Forbidden, name)
        }
        ParkResult::RangeFull | ParkResult::CodeInUse => Refusal::new(StatusCode::BusyHere, name),
        ParkResult::CodeOutOfRange => Refusal::new(StatusCode::NotFound, name),
        ParkResult::NotAnswered | ParkResult::UnknownCall => {
            Refusal::new(StatusCode::CallTransactionDoesNotExist, name)
        }
        ParkResult::Unspecified => Refusal::new(StatusCode::ServerInternalError, name),
    })
}

/// The cluster could not be asked or did not decide: the phone may retry.
pub fn unavailable() -> Refusal {
    Refusal::new(StatusCode::ServiceUnavailable, "UNAVAILABLE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_names_its_outcome_in_the_reason_header() {
        let r = pickup(PickupResult::AlreadyAnswered).expect("a refusal");
        assert_eq!(r.status, StatusCode::Gone);
        assert_eq!(
            r.reason(),
            "SIP;cause=410;text=\"PICKUP_RESULT_ALREADY_ANSWERED\""
        );
        assert_eq!(pickup(PickupResult::PickedUp), None);
        assert_eq!(dial(CallResult::Ringing), None);
        assert_eq!(retrieve(RetrieveResult::Retrieved), None);
    }
}
