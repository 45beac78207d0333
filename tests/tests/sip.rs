//! The SIP edge with SIPp as the phones (Debian's `sip-tester`, installed
//! by the test where it can be; `SKIPPED: <why>` where not): register with
//! digest, calls, cancels, pickups and their refusals, and a race of
//! pickers, each checked both on the wire and in callgrid's own state.

use std::time::Duration;

use callgrid_tests::sipp::{self, Phone};
use callgrid_tests::{Clients, TestNode, api, eventually, next_matching};

const T: &str = "acme";

/// A node with tenant `acme` and extensions 101-106, each with the SIP
/// password `secret-<ext>`; `None` (after saying why) without SIPp.
async fn office() -> Option<(TestNode, Clients)> {
    if let Err(why) = sipp::ensure_installed() {
        eprintln!("SKIPPED: {why}");
        return None;
    }
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &[]).await;
    for n in 101..=106 {
        c.put_extension(
            T,
            api::Extension {
                number: n.to_string(),
                sip_password: Some(format!("secret-{n}")),
                ..Default::default()
            },
        )
        .await;
    }
    Some((node, c))
}

fn phone(node: &TestNode, extension: &str) -> Phone {
    Phone::new(
        node.sip.expect("the node runs a SIP edge"),
        T,
        extension,
        &format!("secret-{extension}"),
    )
}

async fn bindings(c: &mut Clients, extension: &str) -> Vec<api::Binding> {
    c.registrar
        .lookup(api::LookupRequest {
            tenant: T.into(),
            extension: extension.into(),
        })
        .await
        .expect("lookup")
        .into_inner()
        .bindings
}

/// The tenant's newest call, once its debug form shows `state`.
async fn newest_call(c: &Clients, state: &str) -> api::CallInfo {
    eventually(Duration::from_secs(10), state, || {
        let mut c = c.clone();
        async move {
            let calls = c
                .calls
                .list_calls(api::ListCallsRequest { tenant: T.into() })
                .await
                .ok()?
                .into_inner()
                .calls;
            let newest = calls.into_iter().max_by_key(|call| call.call_id)?;
            format!("{newest:?}").contains(state).then_some(newest)
        }
    })
    .await
}

/// `extension`'s notifications, from now on.
async fn notices(c: &mut Clients, extension: &str) -> tonic::Streaming<api::Notification> {
    c.presence
        .notifications(api::NotificationsRequest {
            tenant: T.into(),
            extension: extension.into(),
        })
        .await
        .expect("notifications")
        .into_inner()
}

/// Who answered the call that alerted the watched extension, as its
/// stopped alert says.
async fn answered_by(notices: &mut tonic::Streaming<api::Notification>) -> String {
    let stopped = next_matching(notices, Duration::from_secs(10), |n: &api::Notification| {
        matches!(&n.kind, Some(api::notification::Kind::AlertStopped(s)) if !s.answered_by.is_empty())
    })
    .await;
    match stopped.kind {
        Some(api::notification::Kind::AlertStopped(s)) => s.answered_by,
        _ => unreachable!("matched an answered alert"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_phone_registers_with_digest_and_a_wrong_password_or_an_unknown_user_gets_403_alike() {
    let Some((node, mut c)) = office().await else {
        return;
    };
    let p102 = phone(&node, "102");
    p102.register();
    let found = bindings(&mut c, "102").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].contact, format!("sip:102@127.0.0.1:{}", p102.port));
    assert_eq!(found[0].edge, node.sip.expect("edge").to_string());

    let wrong = Phone::new(node.sip.expect("edge"), T, "103", "not-the-password");
    let refused = wrong.play("register_refused.xml", "103");
    assert!(refused.success, "a wrong password: {refused:?}");
    let stranger = Phone::new(node.sip.expect("edge"), T, "999", "not-the-password");
    let refused = stranger.play("register_refused.xml", "999");
    assert!(refused.success, "an unknown user: {refused:?}");
    assert!(
        bindings(&mut c, "103").await.is_empty(),
        "nothing was stored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_rings_the_registered_phone_which_answers_and_the_caller_hangs_up() {
    let Some((node, mut c)) = office().await else {
        return;
    };
    let (p101, p102) = (phone(&node, "101"), phone(&node, "102"));
    p102.register();
    let mut lamps = c
        .presence
        .watch_lamps(api::WatchLampsRequest {
            tenant: T.into(),
            watcher: String::new(),
            extensions: vec!["102".into()],
            park_codes: vec![],
        })
        .await
        .expect("watch lamps")
        .into_inner();
    let callee = p102.start("answer.xml", "102", &[]);
    let caller = p101.play("call.xml", "102");
    assert!(caller.success, "caller: {caller:?}");
    let callee = callee.wait();
    assert!(callee.success, "callee: {callee:?}");
    // 102 was in the call (its lamp went busy), and the call ended.
    next_matching(&mut lamps, Duration::from_secs(10), |l: &api::LampEvent| {
        l.state == api::LampState::Busy as i32
    })
    .await;
    newest_call(&c, "Ended").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_that_gives_up_cancels_the_ringing_phone_and_ends_the_call() {
    let Some((node, c)) = office().await else {
        return;
    };
    let (p101, p102) = (phone(&node, "101"), phone(&node, "102"));
    p102.register();
    let callee = p102.start("ring_until_cancelled.xml", "102", &[]);
    let caller = p101.start("call_then_cancel.xml", "102", &[]);
    callee.wait_logged("INVITE", Duration::from_secs(10));
    let caller = caller.wait();
    assert!(caller.success, "caller: {caller:?}");
    let callee = callee.wait();
    assert!(callee.success, "callee: {callee:?}");
    assert!(
        !callee.log.contains("completed elsewhere"),
        "a caller's cancel is no answer elsewhere: {}",
        callee.log
    );
    let call = newest_call(&c, "Ended").await;
    assert!(call.answered_by.is_empty(), "{call:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn directed_pickup_joins_the_picker_to_the_caller_and_cancels_the_callee_with_a_reason() {
    let Some((node, mut c)) = office().await else {
        return;
    };
    let (p101, p102, p103) = (
        phone(&node, "101"),
        phone(&node, "102"),
        phone(&node, "103"),
    );
    p102.register();
    let mut watched = notices(&mut c, "102").await;
    let callee = p102.start("ring_until_cancelled.xml", "102", &[]);
    let caller = p101.start("call_answered_elsewhere.xml", "102", &[]);
    callee.wait_logged("INVITE", Duration::from_secs(10));
    let picker = p103.play("pickup.xml", "*97102");
    assert!(picker.log.contains("RESULT 200"), "picker: {picker:?}");
    assert!(picker.success, "picker: {picker:?}");
    // The caller was answered with the picker's media and got its BYE.
    let caller = caller.wait();
    assert!(caller.success, "caller: {caller:?}");
    let callee = callee.wait();
    assert!(callee.success, "callee: {callee:?}");
    assert!(
        callee
            .log
            .contains("SIP;cause=200;text=\"Call completed elsewhere\""),
        "the callee's CANCEL names why: {}",
        callee.log
    );
    assert_eq!(answered_by(&mut watched).await, "103");
    newest_call(&c, "Ended").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_pickup_refusal_is_its_own_final_response_naming_the_outcome() {
    let Some((node, mut c)) = office().await else {
        return;
    };
    c.put_extension(
        T,
        api::Extension {
            number: "106".into(),
            directed_pickup_allowed: Some(false),
            ..Default::default()
        },
    )
    .await;
    let (p101, p102, p103, p106) = (
        phone(&node, "101"),
        phone(&node, "102"),
        phone(&node, "103"),
        phone(&node, "106"),
    );
    // Nothing rings yet.
    let idle = p103.play("pickup.xml", "*97102");
    assert!(
        idle.log
            .contains("RESULT 480 PICKUP_RESULT_NO_ALERTING_CALL"),
        "{idle:?}"
    );
    let nobody = p103.play("pickup.xml", "*97999");
    assert!(
        nobody
            .log
            .contains("RESULT 404 PICKUP_RESULT_INVALID_EXTENSION"),
        "{nobody:?}"
    );
    // A call rings 102; 106 may not use directed pickup.
    p102.register();
    let callee = p102.start("ring_until_cancelled.xml", "102", &[]);
    let caller = p101.start("call_then_cancel.xml", "102", &[]);
    callee.wait_logged("INVITE", Duration::from_secs(10));
    let barred = p106.play("pickup.xml", "*97102");
    assert!(
        barred
            .log
            .contains("RESULT 403 PICKUP_RESULT_NOT_PERMITTED"),
        "{barred:?}"
    );
    assert!(caller.wait().success);
    assert!(callee.wait().success);
}

#[tokio::test(flavor = "multi_thread")]
async fn four_pickers_racing_for_one_ringing_call_get_exactly_one_200() {
    let Some((node, mut c)) = office().await else {
        return;
    };
    let (p101, p102) = (phone(&node, "101"), phone(&node, "102"));
    p102.register();
    let mut watched = notices(&mut c, "102").await;
    let callee = p102.start("ring_until_cancelled.xml", "102", &[]);
    let caller = p101.start("call_answered_elsewhere.xml", "102", &[]);
    callee.wait_logged("INVITE", Duration::from_secs(10));
    let pickers: Vec<Phone> = ["103", "104", "105", "106"]
        .iter()
        .map(|e| phone(&node, e))
        .collect();
    let runs: Vec<_> = pickers
        .iter()
        .map(|p| p.start("pickup.xml", "*97102", &[]))
        .collect();
    let results: Vec<_> = runs.into_iter().map(|r| r.wait()).collect();
    let winners: Vec<usize> = (0..results.len())
        .filter(|i| results[*i].log.contains("RESULT 200"))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one 200 OK: {results:#?}");
    for (i, r) in results.iter().enumerate() {
        assert!(r.success, "picker {i}: {r:?}");
        if i != winners[0] {
            assert!(
                r.log.contains("RESULT 410 PICKUP_RESULT_ALREADY_ANSWERED"),
                "{r:?}"
            );
        }
    }
    assert!(caller.wait().success);
    assert!(callee.wait().success);
    assert_eq!(answered_by(&mut watched).await, pickers[winners[0]].user);
    newest_call(&c, "Ended").await;
}
