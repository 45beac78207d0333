//! Enum values as words: `PICKUP_RESULT_ALREADY_ANSWERED` prints as
//! `already_answered` in JSON and `already answered` in text.

use callgrid_proto::v1;

/// A generated enum with a common prefix on every value's name.
pub trait Label: TryFrom<i32> {
    const PREFIX: &'static str;
    fn full_name(&self) -> &'static str;
}

macro_rules! labels {
    ($($ty:ident => $prefix:literal),* $(,)?) => {
        $(impl Label for v1::$ty {
            const PREFIX: &'static str = $prefix;
            fn full_name(&self) -> &'static str {
                self.as_str_name()
            }
        })*
    };
}

labels! {
    AlertMode => "ALERT_MODE_",
    AlertReason => "ALERT_REASON_",
    AnswerHow => "ANSWER_HOW_",
    EndReason => "END_REASON_",
    LampState => "LAMP_STATE_",
    PickupResult => "PICKUP_RESULT_",
    RetrieveResult => "RETRIEVE_RESULT_",
    PickupSelection => "PICKUP_SELECTION_",
    CallGroupRouting => "CALL_GROUP_ROUTING_",
    CallResult => "CALL_RESULT_",
    AnswerResult => "ANSWER_RESULT_",
    HangupResult => "HANGUP_RESULT_",
    CallState => "CALL_STATE_",
    ParkResult => "PARK_RESULT_",
}

/// The value's name for JSON: `already_answered`; `unknown_42` for a value
/// this build does not know (a newer server).
pub fn label<E: Label>(raw: i32) -> String {
    match E::try_from(raw) {
        Ok(e) => {
            let full = e.full_name();
            full.strip_prefix(E::PREFIX)
                .unwrap_or(full)
                .to_ascii_lowercase()
        }
        Err(_) => format!("unknown_{raw}"),
    }
}

/// The value's name for text: `already answered`.
pub fn words<E: Label>(raw: i32) -> String {
    label::<E>(raw).replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_drop_the_prefix_and_lower_the_case() {
        assert_eq!(
            label::<v1::PickupResult>(v1::PickupResult::AlreadyAnswered as i32),
            "already_answered"
        );
        assert_eq!(
            words::<v1::AnswerHow>(v1::AnswerHow::DirectedPickup as i32),
            "directed pickup"
        );
        assert_eq!(label::<v1::LampState>(99), "unknown_99");
    }
}
