//! Short names for the API's result enums, for outcome counts
//! (`PICKUP_RESULT_ALREADY_ANSWERED` is counted as `ALREADY_ANSWERED`).

use callgrid_proto::v1;

macro_rules! short_name {
    ($fn:ident, $ty:ty, $prefix:literal) => {
        pub fn $fn(value: i32) -> &'static str {
            <$ty>::try_from(value)
                .map(|e| {
                    let name = e.as_str_name();
                    name.strip_prefix($prefix).unwrap_or(name)
                })
                .unwrap_or("UNRECOGNISED")
        }
    };
}

short_name!(call, v1::CallResult, "CALL_RESULT_");
short_name!(pickup, v1::PickupResult, "PICKUP_RESULT_");
short_name!(answer, v1::AnswerResult, "ANSWER_RESULT_");
short_name!(hangup, v1::HangupResult, "HANGUP_RESULT_");
short_name!(park, v1::ParkResult, "PARK_RESULT_");
short_name!(retrieve, v1::RetrieveResult, "RETRIEVE_RESULT_");
short_name!(call_state, v1::CallState, "CALL_STATE_");
short_name!(lamp, v1::LampState, "LAMP_STATE_");

/// An extension as a calling or hanging-up party.
pub fn party(extension: &str) -> Option<v1::Party> {
    Some(v1::Party {
        kind: Some(v1::party::Kind::Extension(extension.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_enum_prefix() {
        assert_eq!(
            pickup(v1::PickupResult::AlreadyAnswered as i32),
            "ALREADY_ANSWERED"
        );
        assert_eq!(retrieve(v1::RetrieveResult::Retrieved as i32), "RETRIEVED");
        assert_eq!(pickup(999), "UNRECOGNISED");
    }
}
