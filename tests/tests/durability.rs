//! Nothing acknowledged is lost: the directory, parked calls and their
//! timers come back after SIGTERM or SIGKILL and a restart on the same data
//! directory (DESIGN §3.2).

use callgrid_tests::{Clients, TestNode, api, member, next_missed_call, next_ring_back};

// `Node::terminate` waits synchronously; the multi-thread runtime keeps the
// test's open connections answering the node's graceful shutdown meanwhile.

const T: &str = "acme";

/// A directory using every kind of record, and a call parked by 101 on 10.
async fn furnish(c: &mut Clients, config: api::TenantConfig, park_timeout_secs: u32) -> u64 {
    c.tenant_with(T, &["101", "102", "103", "109"]).await;
    c.put_tenant(T, config).await;
    let named = api::Extension {
        call_groups: "sales,support".into(),
        pickup_groups: "ops".into(),
        legacy_pickup_groups: vec!["front".into(), "back".into()],
        directed_pickup_allowed: Some(false),
        ..callgrid_tests::extension("104")
    };
    c.put_extension(T, named).await;
    let members = vec![
        member("102", api::AlertMode::Visual),
        member("103", api::AlertMode::Banner),
    ];
    let routing = api::CallGroupRouting::ForwardInOrder as i32;
    c.put_call_group(
        T,
        api::CallGroup {
            owner: "104".into(),
            members,
            routing,
            ring_secs: 15,
        },
    )
    .await;
    let policy = api::ParkPolicy {
        name: "lobby".into(),
        timeout_secs: park_timeout_secs,
        ..Default::default()
    };
    c.park_group(T, policy, &["101", "102"]).await;
    let call = c.answered_call(T, "109", "101").await;
    let park = c.park_call(T, call, "101", None).await;
    assert_eq!(
        (park.result(), park.code),
        (api::ParkResult::Parked, 10),
        "acknowledged"
    );
    call
}

/// Everything a restart must bring back, read through the API.
async fn state(
    c: &mut Clients,
    call: u64,
) -> (
    callgrid_tests::DirectorySnapshot,
    Vec<api::ParkedCall>,
    api::CallInfo,
) {
    (
        c.snapshot(T).await,
        c.list_parked(T).await,
        c.call_info(T, call).await,
    )
}

async fn survives_restart(stop: impl FnOnce(&mut TestNode)) {
    let mut node = TestNode::start(1.0);
    let mut c = node.clients().await;
    let config = api::TenantConfig {
        max_call_group_members: 3,
        ring_timeout_secs: 45,
        ..Default::default()
    };
    let call = furnish(&mut c, config, 600).await;
    let before = state(&mut c, call).await;
    stop(&mut node);
    node.restart();
    let mut c = node.clients().await;
    assert_eq!(
        state(&mut c, call).await,
        before,
        "directory, parked calls and the call are back"
    );
    let out = c.retrieve(T, "102", 10).await;
    assert_eq!(
        (out.result(), out.call_id),
        (api::RetrieveResult::Retrieved, call)
    );
    assert_eq!(c.call_info(T, call).await.answered_by, "102");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_and_parked_call_come_back_after_sigterm_and_restart() {
    survives_restart(|node| {
        let status = node.terminate();
        assert!(status.success(), "SIGTERM is a clean exit: {status:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn park_acknowledged_just_before_sigkill_comes_back_after_restart() {
    survives_restart(|node| node.kill()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn park_ring_back_timer_resumes_after_sigkill_and_restart() {
    // Scaled 0.01: ring-back 300 s after parking is 3 s; it rings 100 s = 1 s.
    let mut node = TestNode::start(0.01);
    let mut c = node.clients().await;
    let call = furnish(
        &mut c,
        api::TenantConfig {
            ring_timeout_secs: 100,
            ..Default::default()
        },
        300,
    )
    .await;
    node.kill();
    node.restart();
    let mut c = node.clients().await;
    let mut parker = c.notifications(T, "101").await;
    assert_eq!(next_ring_back(&mut parker, call).await.code, 10);
    let info = c
        .wait_for_call(T, call, "the ring-back to go unanswered", |i| {
            i.state() == api::CallState::Ended
        })
        .await;
    assert_eq!(info.end_reason(), api::EndReason::RingBackUnanswered);
    assert_eq!(
        c.retrieve(T, "102", 10).await.result(),
        api::RetrieveResult::CallEnded
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ringing_calls_ring_timeout_still_fires_after_sigkill_and_restart() {
    // Scaled 0.01: a 300 s ring timeout is 3 s.
    let mut node = TestNode::start(0.01);
    let mut c = node.clients().await;
    c.tenant_with(T, &["102", "103"]).await;
    c.put_tenant(
        T,
        api::TenantConfig {
            ring_timeout_secs: 300,
            ..Default::default()
        },
    )
    .await;
    let call = c.ring(T, "103", "102").await;
    node.kill();
    node.restart();
    let mut c = node.clients().await;
    let mut callee = c.notifications(T, "102").await;
    let info = c.call_info(T, call).await;
    assert_eq!(
        info.state(),
        api::CallState::Ringing,
        "still ringing after the restart"
    );
    let info = c
        .wait_for_call(T, call, "the ring timeout", |i| {
            i.state() == api::CallState::Ended
        })
        .await;
    assert_eq!(info.end_reason(), api::EndReason::NoAnswer);
    assert_eq!(next_missed_call(&mut callee, call).await.answered_by, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_node_even_while_a_connected_client_is_unresponsive() {
    let mut node = TestNode::start(1.0);
    let endpoint = node.endpoint();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let (thaw, frozen) = std::sync::mpsc::channel::<()>();
    // A client on its own runtime, which then freezes: it keeps its
    // connection open but answers nothing, like a peer behind a partition.
    let client = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let clients = runtime.block_on(async {
            let channel = tonic::transport::Channel::from_shared(endpoint)
                .expect("endpoint")
                .connect()
                .await
                .expect("connects");
            let mut c = Clients::new(channel);
            c.tenant_with(T, &[]).await;
            c
        });
        ready_tx.send(()).expect("test waits");
        let _ = frozen.recv();
        drop(clients);
    });
    ready.recv().expect("the client connected");
    let status = node.terminate();
    drop(thaw);
    client.join().expect("client thread");
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_open_lamp_and_notification_streams_cleanly() {
    let mut node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102"]).await;
    let mut lamps = c
        .try_watch_lamps(T, "", &["101"], &[])
        .await
        .expect("watching starts");
    let first = lamps.message().await.expect("initial state");
    assert!(
        first.is_some(),
        "a lamp stream starts with the current state"
    );
    let mut notices = c.notifications(T, "102").await;

    let status = node.terminate();
    assert!(status.success(), "{status:?}");
    // The node ended both streams itself, with an OK status: a stream that
    // had to be cut at the drain deadline would end with an error instead.
    let bound = std::time::Duration::from_secs(10);
    let lamp_end = tokio::time::timeout(bound, lamps.message())
        .await
        .expect("the lamp stream ends");
    assert!(
        matches!(lamp_end, Ok(None)),
        "lamp stream ends cleanly: {lamp_end:?}"
    );
    let notice_end = tokio::time::timeout(bound, notices.message())
        .await
        .expect("the notification stream ends");
    assert!(
        matches!(notice_end, Ok(None)),
        "notification stream ends cleanly: {notice_end:?}"
    );
}
