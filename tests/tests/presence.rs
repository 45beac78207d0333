//! BLF lamps and notifications over gRPC: initial states first, then every
//! change in order; callers shown only to who may pick up; park-code
//! lamps; tenant isolation (DESIGN §1 Notifications, §3.3).

use callgrid_tests::{
    Clients, TestNode, api, assert_refused, ext, extension, lamp_extension, lamp_park_code,
    next_alert, next_alert_stopped, next_lamp, next_missed_call,
};
use tonic::{Code, Streaming};

const T: &str = "acme";
use api::LampState::{Busy, Idle, Offline, Parked, Ringing};

async fn watch(
    c: &mut Clients,
    watcher: &str,
    extensions: &[&str],
    codes: &[u32],
) -> Streaming<api::LampEvent> {
    c.try_watch_lamps(T, watcher, extensions, codes)
        .await
        .expect("watching starts")
}

/// The next lamp event, as (extension, state, call id, sequence).
async fn next(
    stream: &mut Streaming<api::LampEvent>,
) -> (String, api::LampState, Option<u64>, u64) {
    let e = next_lamp(stream).await;
    (
        lamp_extension(&e).to_string(),
        e.state(),
        e.call_id,
        e.sequence,
    )
}

#[tokio::test]
async fn watch_lamps_sends_every_current_state_first() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103", "104", "105"]).await;
    c.directory
        .set_online(api::SetOnlineRequest {
            tenant: T.into(),
            number: "102".into(),
            online: false,
        })
        .await
        .unwrap();
    let ringing = c.ring(T, "104", "103").await;
    let busy = c.answered_call(T, "104", "105").await;
    let mut lamps = watch(&mut c, "101", &["101", "102", "103", "105"], &[]).await;
    assert_eq!(next(&mut lamps).await, ("101".into(), Idle, None, 1));
    assert_eq!(next(&mut lamps).await, ("102".into(), Offline, None, 2));
    assert_eq!(
        next(&mut lamps).await,
        ("103".into(), Ringing, Some(ringing), 3)
    );
    assert_eq!(next(&mut lamps).await, ("105".into(), Busy, Some(busy), 4));
}

#[tokio::test]
async fn lamp_changes_arrive_in_order_with_consecutive_sequence_numbers() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102"]).await;
    let mut lamps = watch(&mut c, "101", &["102"], &[]).await;
    assert_eq!(next(&mut lamps).await, ("102".into(), Idle, None, 1));
    let call = c.ring(T, "101", "102").await;
    c.answer(T, call, "102").await;
    c.hangup(T, call, ext("102")).await;
    assert_eq!(
        next(&mut lamps).await,
        ("102".into(), Ringing, Some(call), 2)
    );
    assert_eq!(next(&mut lamps).await, ("102".into(), Busy, Some(call), 3));
    assert_eq!(next(&mut lamps).await, ("102".into(), Idle, None, 4));
}

#[tokio::test]
async fn caller_is_shown_only_to_a_watcher_allowed_directed_pickup() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103"]).await;
    c.put_extension(
        T,
        api::Extension {
            directed_pickup_allowed: Some(false),
            ..extension("104")
        },
    )
    .await;
    let mut allowed = watch(&mut c, "101", &["102"], &[]).await;
    let mut barred = watch(&mut c, "104", &["102"], &[]).await;
    let mut anonymous = watch(&mut c, "", &["102"], &[]).await;
    c.ring(T, "103", "102").await;
    for stream in [&mut allowed, &mut barred, &mut anonymous] {
        assert_eq!(next_lamp(stream).await.state(), Idle);
    }
    let shown = next_lamp(&mut allowed).await;
    assert_eq!((shown.state(), shown.caller), (Ringing, Some(ext("103"))));
    for stream in [&mut barred, &mut anonymous] {
        let hidden = next_lamp(stream).await;
        assert_eq!((hidden.state(), hidden.caller), (Ringing, None));
    }
    // Also in a stream's first, current-state event.
    let mut late = watch(&mut c, "104", &["102"], &[]).await;
    let first = next_lamp(&mut late).await;
    assert_eq!((first.state(), first.caller), (Ringing, None));
    let mut late = watch(&mut c, "101", &["102"], &[]).await;
    assert_eq!(next_lamp(&mut late).await.caller, Some(ext("103")));
}

#[tokio::test]
async fn park_code_lamps_show_parked_then_idle_when_retrieved() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "109"]).await;
    c.lobby(T, &["101", "102"]).await;
    let mut lamps = watch(&mut c, "101", &[], &[10]).await;
    let first = next_lamp(&mut lamps).await;
    assert_eq!(
        (lamp_park_code(&first), first.state(), first.sequence),
        (10, Idle, 1)
    );
    let call = c.answered_call(T, "109", "101").await;
    assert_eq!(c.park_call(T, call, "101", None).await.code, 10);
    let parked = next_lamp(&mut lamps).await;
    assert_eq!(
        (
            lamp_park_code(&parked),
            parked.state(),
            parked.call_id,
            parked.sequence
        ),
        (10, Parked, Some(call), 2)
    );
    assert_eq!(
        c.retrieve(T, "102", 10).await.result(),
        api::RetrieveResult::Retrieved
    );
    let freed = next_lamp(&mut lamps).await;
    assert_eq!(
        (
            lamp_park_code(&freed),
            freed.state(),
            freed.call_id,
            freed.sequence
        ),
        (10, Idle, None, 3)
    );
}

#[tokio::test]
async fn set_online_false_shows_offline_and_true_shows_idle_again() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102"]).await;
    let mut lamps = watch(&mut c, "101", &["102"], &[]).await;
    assert_eq!(next(&mut lamps).await.1, Idle);
    for online in [false, true] {
        c.directory
            .set_online(api::SetOnlineRequest {
                tenant: T.into(),
                number: "102".into(),
                online,
            })
            .await
            .unwrap();
    }
    assert_eq!(next(&mut lamps).await, ("102".into(), Offline, None, 2));
    assert_eq!(next(&mut lamps).await, ("102".into(), Idle, None, 3));
    assert_eq!(c.get_extension(T, "102").await.online, Some(true));
}

#[tokio::test]
async fn watching_another_tenants_extension_is_not_found() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101"]).await;
    c.tenant_with("other", &["201"]).await;
    assert_refused(
        c.try_watch_lamps(T, "101", &["201"], &[]).await,
        Code::NotFound,
        &["extensions[0]", "201"],
    );
    assert_refused(
        c.try_watch_lamps(T, "201", &["101"], &[]).await,
        Code::NotFound,
        &["watcher", "201"],
    );
    assert_refused(
        c.try_watch_lamps("other", "201", &["101"], &[]).await,
        Code::NotFound,
        &["extensions[0]"],
    );
    assert_refused(
        c.try_notifications(T, "201").await,
        Code::NotFound,
        &["extension", "201"],
    );
}

#[tokio::test]
async fn watching_nothing_or_a_bad_code_is_invalid_argument() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101"]).await;
    assert_refused(
        c.try_watch_lamps(T, "101", &[], &[]).await,
        Code::InvalidArgument,
        &["extensions", "at least one"],
    );
    assert_refused(
        c.try_watch_lamps(T, "101", &[], &[5]).await,
        Code::InvalidArgument,
        &["park_codes[0]", "between 10 and 9999"],
    );
    assert_refused(
        c.try_watch_lamps(T, "101", &["10a"], &[]).await,
        Code::InvalidArgument,
        &["extensions[0]", "digits"],
    );
}

#[tokio::test]
async fn lamps_and_notifications_never_show_another_tenants_calls() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["102", "103"]).await;
    c.tenant_with("other", &["102", "201"]).await;
    let mut lamps = c
        .try_watch_lamps("other", "201", &["102"], &[])
        .await
        .unwrap();
    let mut notices = c.notifications("other", "102").await;
    assert_eq!(next_lamp(&mut lamps).await.state(), Idle);
    c.ring(T, "103", "102").await;
    let own = c.ring("other", "201", "102").await;
    let lamp = next_lamp(&mut lamps).await;
    assert_eq!(
        (
            lamp.tenant.as_str(),
            lamp.state(),
            lamp.call_id,
            lamp.sequence
        ),
        ("other", Ringing, Some(own), 2)
    );
    let first = next_matching_any(&mut notices).await;
    assert_eq!(first.tenant, "other");
    assert!(
        matches!(first.kind, Some(api::notification::Kind::Alert(a)) if a.call_id == own),
        "acme's call never shows"
    );
}

async fn next_matching_any(stream: &mut Streaming<api::Notification>) -> api::Notification {
    callgrid_tests::next_matching(
        stream,
        callgrid_tests::EVENT_TIMEOUT,
        |_: &api::Notification| true,
    )
    .await
}

#[tokio::test]
async fn notifications_report_alert_then_its_end_and_the_missed_call() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["102", "103"]).await;
    let mut notices = c.notifications(T, "102").await;
    let mut missed = c.notifications(T, "102").await;
    let call = c.ring(T, "103", "102").await;
    let alert = next_alert(&mut notices, call).await;
    assert_eq!(
        (alert.caller.clone(), alert.callee.as_str()),
        (Some(ext("103")), "102")
    );
    assert_eq!(
        (alert.mode(), alert.reason()),
        (api::AlertMode::Ring, api::AlertReason::Callee)
    );
    c.hangup(T, call, ext("103")).await;
    assert_eq!(next_alert_stopped(&mut notices, call).await.answered_by, "");
    let m = next_missed_call(&mut missed, call).await;
    assert_eq!(
        (m.caller.clone(), m.answered_by.as_str(), m.how()),
        (Some(ext("103")), "", api::AnswerHow::Unspecified)
    );
}
