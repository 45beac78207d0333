//! How callgridctl ends: one exit status per class of outcome, so that a
//! script can tell a success from a refusal, and one refusal from another
//! (a lost race is worth retrying differently from a missing permission).
//!
//! Every business result of `callgrid.v1` and every gRPC status the node
//! sends is classed here and nowhere else; [`TABLE`] is the same table in
//! words, printed by `--help` and copied in the README.

use callgrid_proto::v1;
use tonic::Code;

/// callgridctl's exit status. Clap's own status for a command line that
/// does not parse, 2, is never produced here and no class uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The request was done.
    Done = 0,
    /// No outcome to act on: callgridctl could not connect or was set up
    /// wrong, or the node failed or answered something this build does not know.
    Error = 1,
    /// The extension (or the token) may not do this.
    NotPermitted = 3,
    /// What the request names is not there, or no longer: no such call,
    /// code or extension, or nothing rings for it.
    NotThere = 4,
    /// Somebody else answered, picked up or retrieved the call first.
    LostRace = 5,
    /// A value was refused (by the node, or by callgridctl before sending);
    /// nothing changed.
    InvalidArgument = 6,
    /// The cluster could not decide, even after retries with the same
    /// request id; the request may or may not have taken effect. Run it
    /// again with its `--request-id` to learn which.
    Unavailable = 7,
    /// The state does not allow it now: the call is not answered by the
    /// parker, a code is taken, a range or limit is full, a record is in use.
    Conflict = 8,
}

/// The table `--help` prints (and the README copies): keep it in step with
/// the classes above and the mappings below.
pub const TABLE: &str = "\
Exit status (results as --json prints them; gRPC statuses as the node sends them):
  0  done
  1  error: cannot connect, bad --server/--ca/--token, the node failed
     (INTERNAL, ...), or an answer this build does not know
  2  the command line does not parse
  3  not permitted: not_permitted, no_park_policy, parking_not_allowed,
     other_park_group, not_in_call; PERMISSION_DENIED, UNAUTHENTICATED
  4  not there: invalid_extension, no_alerting_call, not_alerting,
     unknown_call, unknown_code, call_ended, already_ended,
     no_such_extension, unknown_caller, unavailable (dial: nobody could be
     alerted); NOT_FOUND
  5  lost a race: already_answered (another answer, pickup or retrieve won)
  6  invalid argument: code_out_of_range; INVALID_ARGUMENT; or a value
     callgridctl itself refuses. Nothing changed
  7  unavailable: UNAVAILABLE, DEADLINE_EXCEEDED, still so after --retries
     tries with the same request id. Unless every try said 'not decided',
     the request may or may not have taken effect: run it again with the
     --request-id that stderr names to learn which
  8  conflict: not_answered, code_in_use, range_full; FAILED_PRECONDITION,
     RESOURCE_EXHAUSTED
A refused result (3-8) is still printed on stdout, as text or --json; a
gRPC status is printed on stderr.";

impl Exit {
    /// `Ok` when done; otherwise the [`Refused`] error that makes
    /// callgridctl exit with this status once the outcome is printed.
    pub fn into_result(self) -> anyhow::Result<()> {
        match self {
            Exit::Done => Ok(()),
            refused => Err(Refused(refused).into()),
        }
    }

    /// The status for an error that ended a command.
    pub fn of_error(err: &anyhow::Error) -> Exit {
        if let Some(Refused(exit)) = err.downcast_ref::<Refused>() {
            *exit
        } else if err.is::<InvalidArgument>() {
            Exit::InvalidArgument
        } else if let Some(status) = err.downcast_ref::<tonic::Status>() {
            Exit::of_status(status.code())
        } else {
            Exit::Error
        }
    }

    /// The status for a gRPC status the node (or the channel) answered with.
    pub fn of_status(code: Code) -> Exit {
        match code {
            Code::Ok => Exit::Done,
            Code::PermissionDenied | Code::Unauthenticated => Exit::NotPermitted,
            Code::NotFound => Exit::NotThere,
            Code::InvalidArgument => Exit::InvalidArgument,
            Code::Unavailable | Code::DeadlineExceeded => Exit::Unavailable,
            Code::FailedPrecondition | Code::ResourceExhausted => Exit::Conflict,
            _ => Exit::Error,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// A business refusal whose outcome has already been printed: main exits
/// with its status and prints nothing more.
#[derive(Debug)]
pub struct Refused(pub Exit);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused ({:?}, exit {})", self.0, self.0 as u8)
    }
}

impl std::error::Error for Refused {}

/// A value callgridctl refuses before sending anything: it exits like the
/// node's INVALID_ARGUMENT, with the message naming the flag and the rule.
#[derive(Debug)]
pub struct InvalidArgument(pub String);

impl std::fmt::Display for InvalidArgument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidArgument {}

/// Returns early with an [`InvalidArgument`] error, like `anyhow::bail!`.
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err($crate::exit::InvalidArgument(format!($($arg)*)).into())
    };
}
pub(crate) use invalid;

/// A response whose result says whether the request was done.
pub trait Outcome {
    fn exit(&self) -> Exit;
}

impl Outcome for v1::CallResponse {
    fn exit(&self) -> Exit {
        use v1::CallResult as R;
        match R::try_from(self.result) {
            Ok(R::Ringing) => Exit::Done,
            Ok(R::Unavailable | R::NoSuchExtension | R::UnknownCaller) => Exit::NotThere,
            Ok(R::Unspecified) | Err(_) => Exit::Error,
        }
    }
}

impl Outcome for v1::PickupResponse {
    fn exit(&self) -> Exit {
        use v1::PickupResult as R;
        match R::try_from(self.result) {
            Ok(R::PickedUp) => Exit::Done,
            Ok(R::NotPermitted) => Exit::NotPermitted,
            Ok(R::InvalidExtension | R::NoAlertingCall) => Exit::NotThere,
            Ok(R::AlreadyAnswered) => Exit::LostRace,
            Ok(R::Unspecified) | Err(_) => Exit::Error,
        }
    }
}

impl Outcome for v1::RetrieveResponse {
    fn exit(&self) -> Exit {
        use v1::RetrieveResult as R;
        match R::try_from(self.result) {
            Ok(R::Retrieved) => Exit::Done,
            Ok(R::NoParkPolicy | R::OtherParkGroup) => Exit::NotPermitted,
            Ok(R::UnknownCode | R::CallEnded) => Exit::NotThere,
            Ok(R::AlreadyAnswered) => Exit::LostRace,
            Ok(R::Unspecified) | Err(_) => Exit::Error,
        }
    }
}

impl Outcome for v1::DialResponse {
    fn exit(&self) -> Exit {
        use v1::dial_response::Outcome as O;
        match &self.outcome {
            Some(O::Call(c)) => c.exit(),
            Some(O::Pickup(p)) => p.exit(),
            Some(O::Retrieve(r)) => r.exit(),
            None => Exit::Error,
        }
    }
}

impl Outcome for v1::AnswerResponse {
    fn exit(&self) -> Exit {
        use v1::AnswerResult as R;
        match R::try_from(self.result) {
            Ok(R::Answered) => Exit::Done,
            Ok(R::NotPermitted) => Exit::NotPermitted,
            Ok(R::NotAlerting | R::CallEnded | R::UnknownCall) => Exit::NotThere,
            Ok(R::AlreadyAnswered) => Exit::LostRace,
            Ok(R::Unspecified) | Err(_) => Exit::Error,
        }
    }
}

impl Outcome for v1::HangupResponse {
    fn exit(&self) -> Exit {
        use v1::HangupResult as R;
        match R::try_from(self.result) {
            Ok(R::Ended) => Exit::Done,
            Ok(R::NotPermitted | R::NotInCall) => Exit::NotPermitted,
            Ok(R::AlreadyEnded | R::UnknownCall) => Exit::NotThere,
            Ok(R::Unspecified) | Err(_) => Exit::Error,
        }
    }
}

impl Outcome for v1::ParkResponse {
    fn exit(&self) -> Exit {
        use v1::ParkResult as R;
        match R::try_from(self.result) {
            Ok(R::Parked) => Exit::Done,
            Ok(R::NotPermitted | R::NoParkPolicy | R::ParkingNotAllowed) => Exit::NotPermitted,
            Ok(R::UnknownCall) => Exit::NotThere,
            Ok(R::CodeOutOfRange) => Exit::InvalidArgument,
            Ok(R::NotAnswered | R::CodeInUse | R::RangeFull) => Exit::Conflict,
            Ok(R::Unspecified) | Err(_) => Exit::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_status_once() {
        for exit in [
            Exit::Done,
            Exit::Error,
            Exit::NotPermitted,
            Exit::NotThere,
            Exit::LostRace,
            Exit::InvalidArgument,
            Exit::Unavailable,
            Exit::Conflict,
        ] {
            let row = format!("\n  {}  ", exit as u8);
            assert_eq!(TABLE.matches(&row).count(), 1, "row for {exit:?}");
        }
    }

    #[test]
    fn a_refusal_exits_with_its_class_and_a_status_by_its_code() {
        let lost = v1::PickupResponse {
            result: v1::PickupResult::AlreadyAnswered as i32,
            ..Default::default()
        };
        let err = lost.exit().into_result().unwrap_err();
        assert_eq!(Exit::of_error(&err), Exit::LostRace);
        let status = anyhow::Error::from(tonic::Status::invalid_argument("x"));
        assert_eq!(Exit::of_error(&status), Exit::InvalidArgument);
        let unknown = anyhow::Error::from(tonic::Status::unavailable("outcome unknown"))
            .context("while picking up");
        assert_eq!(Exit::of_error(&unknown), Exit::Unavailable);
        assert_eq!(
            Exit::of_error(&anyhow::anyhow!("cannot connect")),
            Exit::Error
        );
        let future = v1::ParkResponse {
            result: 99,
            code: 0,
        };
        assert_eq!(future.exit(), Exit::Error);
    }
}
