//! Expectations: refusals that name their field and rule, and the next
//! notification or lamp of a kind on a stream (bounded, never a sleep).

use std::fmt::Debug;

use tonic::{Code, Status, Streaming};

use crate::api::notification::Kind;
use crate::{EVENT_TIMEOUT, api, next_matching};

/// Asserts that `result` was refused with `code` and a message containing
/// every one of `fragments` (the field and the rule); returns the status.
pub fn assert_refused<T: Debug>(
    result: Result<T, Status>,
    code: Code,
    fragments: &[&str],
) -> Status {
    let status = match result {
        Ok(v) => panic!("expected {code:?} naming {fragments:?}, but it succeeded: {v:?}"),
        Err(s) => s,
    };
    assert_eq!(
        status.code(),
        code,
        "wrong code for {fragments:?}: {status}"
    );
    for f in fragments {
        assert!(
            status.message().contains(f),
            "message {:?} should name {f:?}",
            status.message()
        );
    }
    status
}

/// Waits for the next notification `pick` accepts, skipping others.
pub async fn next_notice<T>(
    stream: &mut Streaming<api::Notification>,
    pick: impl Fn(&Kind) -> Option<T>,
) -> T {
    let n = next_matching(stream, EVENT_TIMEOUT, |n: &api::Notification| {
        n.kind.as_ref().and_then(&pick).is_some()
    })
    .await;
    pick(n.kind.as_ref().expect("matched a kind")).expect("matched")
}

/// The next `Alert` about `call`.
pub async fn next_alert(stream: &mut Streaming<api::Notification>, call: u64) -> api::Alert {
    next_notice(stream, |k| match k {
        Kind::Alert(a) if a.call_id == call => Some(a.clone()),
        _ => None,
    })
    .await
}

/// The next `AlertStopped` about `call`.
pub async fn next_alert_stopped(
    stream: &mut Streaming<api::Notification>,
    call: u64,
) -> api::AlertStopped {
    next_notice(stream, |k| match k {
        Kind::AlertStopped(s) if s.call_id == call => Some(s.clone()),
        _ => None,
    })
    .await
}

/// The next `MissedCall` about `call`.
pub async fn next_missed_call(
    stream: &mut Streaming<api::Notification>,
    call: u64,
) -> api::MissedCall {
    next_notice(stream, |k| match k {
        Kind::MissedCall(m) if m.call_id == call => Some(m.clone()),
        _ => None,
    })
    .await
}

/// The next `ParkRingBack` about `call`.
pub async fn next_ring_back(
    stream: &mut Streaming<api::Notification>,
    call: u64,
) -> api::ParkRingBack {
    next_notice(stream, |k| match k {
        Kind::ParkRingBack(r) if r.call_id == call => Some(*r),
        _ => None,
    })
    .await
}

/// The very next lamp event, whatever it is.
pub async fn next_lamp(stream: &mut Streaming<api::LampEvent>) -> api::LampEvent {
    next_matching(stream, EVENT_TIMEOUT, |_: &api::LampEvent| true).await
}

/// The extension a lamp event is about, or "" for a park code.
pub fn lamp_extension(event: &api::LampEvent) -> &str {
    match &event.target {
        Some(api::lamp_event::Target::Extension(e)) => e,
        _ => "",
    }
}

/// The park code a lamp event is about, or 0 for an extension.
pub fn lamp_park_code(event: &api::LampEvent) -> u32 {
    match &event.target {
        Some(api::lamp_event::Target::ParkCode(c)) => *c,
        _ => 0,
    }
}
