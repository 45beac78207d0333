//! The SIP edge with SIPp as the phones (Debian's `sip-tester`, installed
//! by the test where it can be; skipped where not, failed in CI): register with
//! digest, calls, cancels, pickups and their refusals, and a race of
//! pickers, each checked both on the wire and in callgrid's own state.

use std::time::Duration;

use callgrid_tests::prereq;
use callgrid_tests::sipp::{self, Phone};
use callgrid_tests::{Clients, TestNode, api, eventually, next_matching};

const T: &str = "acme";

/// A node with tenant `acme` and extensions 101-106, each with the SIP
/// password `secret-<ext>`; `None` (after saying why) without SIPp.
async fn office() -> Option<(TestNode, Clients)> {
    prereq::needs(prereq::SIPP, sipp::ensure_installed())?;
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

/// The office's usual three phones: 101 calls, 102 (registered) rings,
/// 103 picks up or watches.
fn caller_callee_and_103(node: &TestNode) -> (Phone, Phone, Phone) {
    let callee = phone(node, "102");
    callee.register();
    (phone(node, "101"), callee, phone(node, "103"))
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

/// A pickup's picker got 200 OK, the waiting caller was joined to it (and
/// got its BYE at the end), and the ringing callee was cancelled naming why.
fn picked_up_joined_and_callee_cancelled(
    picker: &sipp::Finished,
    caller: sipp::Run,
    callee: sipp::Run,
) {
    assert!(picker.log.contains("RESULT 200"), "picker: {picker:?}");
    assert!(picker.success, "picker: {picker:?}");
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
    let (p101, p102, p103) = caller_callee_and_103(&node);
    let mut watched = notices(&mut c, "102").await;
    let callee = p102.start("ring_until_cancelled.xml", "102", &[]);
    let caller = p101.start("call_answered_elsewhere.xml", "102", &[]);
    callee.wait_logged("INVITE", Duration::from_secs(10));
    let picker = p103.play("pickup.xml", "*97102");
    picked_up_joined_and_callee_cancelled(&picker, caller, callee);
    assert_eq!(sipp::answered_by(&mut watched).await, "103");
    newest_call(&c, "Ended").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_slow_to_ack_its_200_gets_the_pickers_bye_only_after_its_ack() {
    let Some((node, _c)) = office().await else {
        return;
    };
    let (p101, p102, p103) = caller_callee_and_103(&node);
    let callee = p102.start("ring_until_cancelled.xml", "102", &[]);
    // The caller ACKs its 200 OK 1.2 s after it; the picker hangs up 300 ms
    // after its own. A BYE before that ACK aborts the caller's scenario.
    let caller = p101.start("call_answered_elsewhere.xml", "102", &["-d", "1200"]);
    callee.wait_logged("INVITE", Duration::from_secs(10));
    let picker = p103.play("pickup.xml", "*97102");
    picked_up_joined_and_callee_cancelled(&picker, caller, callee);
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
    let winner = sipp::race(&pickers, "*97102");
    assert!(caller.wait().success);
    assert!(callee.wait().success);
    assert_eq!(sipp::answered_by(&mut watched).await, pickers[winner].user);
    newest_call(&c, "Ended").await;
}

/// The value of `key=` on the first log line holding `marker`.
fn logged(log: &str, marker: &str, key: &str) -> String {
    let line = log
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no {marker:?} in: {log}"));
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blf_subscription_notifies_the_full_state_then_each_lamp_change_with_a_higher_version() {
    let Some((node, c)) = office().await else {
        return;
    };
    let (p101, p102, p103) = caller_callee_and_103(&node);
    let watcher = p103.start("blf_watch.xml", "102", &[]);
    watcher.wait_logged("NOTIFY version=0", Duration::from_secs(10));
    let callee = p102.start("ring_until_cancelled.xml", "102", &[]);
    let caller = p101.start("call_then_cancel.xml", "102", &[]);
    callee.wait_logged("INVITE", Duration::from_secs(10));
    assert!(caller.wait().success);
    assert!(callee.wait().success);
    let watcher = watcher.wait();
    assert!(watcher.success, "watcher: {watcher:?}");
    let log = &watcher.log;
    assert!(log.contains("SUBSCRIBED expires=600"), "{log}");
    // Idle: the full state holds no dialog.
    assert!(
        log.lines()
            .any(|l| l.trim_end() == "NOTIFY version=0 active full dialogs="),
        "{log}"
    );
    // Ringing: an early dialog naming the call, for INVITE + Replaces.
    let call = newest_call(&c, "Ended").await;
    let early = "NOTIFY version=1 early direction=recipient";
    assert_eq!(
        logged(log, early, "call-id"),
        format!("callgrid-{T}-{}", call.call_id)
    );
    assert_eq!(logged(log, early, "local-tag"), "blf-102");
    assert_eq!(
        logged(log, early, "remote-tag"),
        format!("call-{}", call.call_id)
    );
    // Cancelled: idle again, one version later.
    assert!(log.contains("NOTIFY version=2 after= END"), "{log}");
    assert!(
        log.contains("NOTIFY version=3 Subscription-State: terminated"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_blf_phone_gets_the_newest_lamp_state_once_not_a_backlog() {
    let Some((node, mut c)) = office().await else {
        return;
    };
    let (p102, p104) = (phone(&node, "102"), phone(&node, "104"));
    p102.register();
    let watcher = p104.start("blf_slow.xml", "102", &[]);
    watcher.wait_logged("NOTIFY version=0 full", Duration::from_secs(10));
    let first = c.ring(T, "101", "102").await;
    // The phone sits on the ringing NOTIFY; meanwhile the lamp goes idle,
    // rings again and goes idle again.
    watcher.wait_logged("SLOW NOTIFY version=1 state=early", Duration::from_secs(10));
    let calls = c.calls.clone();
    let hang_up = |call: u64| {
        let mut calls = calls.clone();
        async move {
            calls
                .hangup(api::HangupRequest {
                    tenant: T.into(),
                    call_id: call,
                    by: Some(api::Party {
                        kind: Some(api::party::Kind::Extension("101".into())),
                    }),
                })
                .await
                .expect("hang-up")
        }
    };
    hang_up(first).await;
    let second = c.ring(T, "101", "102").await;
    hang_up(second).await;
    let watcher = watcher.wait();
    assert!(
        watcher.success,
        "a NOTIFY was queued behind the slow one: {watcher:?}"
    );
    // One NOTIFY with the newest state (idle), then the terminated one.
    assert!(
        watcher.log.contains("CAUGHT UP version=2 state= END"),
        "{}",
        watcher.log
    );
    assert!(
        watcher
            .log
            .contains("NOTIFY version=3 Subscription-State: terminated"),
        "{}",
        watcher.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blf_refresh_is_capped_and_notified_and_expires_0_ends_with_a_terminated_notify() {
    let Some((node, _c)) = office().await else {
        return;
    };
    let watcher = phone(&node, "103").play("blf_refresh.xml", "102");
    assert!(watcher.success, "watcher: {watcher:?}");
    let log = &watcher.log;
    for line in [
        "SUBSCRIBED expires=600",
        "NOTIFY version=0 Subscription-State: active;expires=600",
        "RESUBSCRIBED expires=3600",
        "NOTIFY version=1 Subscription-State: active;expires=3600",
        "RESUBSCRIBED expires=0",
        "NOTIFY version=2 Subscription-State: terminated",
    ] {
        assert!(log.contains(line), "{line:?} in {log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unauthenticated_subscribe_is_challenged_and_a_wrong_password_gets_403() {
    let Some((node, _c)) = office().await else {
        return;
    };
    let wrong = Phone::new(node.sip.expect("edge"), T, "103", "not-the-password");
    let refused = wrong.play("subscribe_refused.xml", "102");
    assert!(refused.success, "{refused:?}");
    assert!(refused.log.contains("CHALLENGED 401"), "{refused:?}");
    assert!(refused.log.contains("REFUSED 403"), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn invite_with_replaces_from_a_blf_lamp_picks_the_ringing_call_up() {
    let Some((node, mut c)) = office().await else {
        return;
    };
    let (p101, p102, p103) = caller_callee_and_103(&node);
    let mut watched = notices(&mut c, "102").await;
    let watcher = p103.start("blf_watch.xml", "102", &[]);
    watcher.wait_logged("NOTIFY version=0", Duration::from_secs(10));
    let callee = p102.start("ring_until_cancelled.xml", "102", &[]);
    let caller = p101.start("call_answered_elsewhere.xml", "102", &[]);
    callee.wait_logged("INVITE", Duration::from_secs(10));
    watcher.wait_logged(" early ", Duration::from_secs(10));
    let log = watcher.log_so_far();
    let early = "NOTIFY version=1 early";
    let replaces = format!(
        "{};to-tag={};from-tag={}",
        logged(&log, early, "call-id"),
        logged(&log, early, "local-tag"),
        logged(&log, early, "remote-tag"),
    );
    // 103's BLF key, on another of its phones.
    let key = phone(&node, "103");
    let picker = key
        .start("blf_pickup.xml", "102", &["-key", "replaces", &replaces])
        .wait();
    picked_up_joined_and_callee_cancelled(&picker, caller, callee);
    assert_eq!(sipp::answered_by(&mut watched).await, "103");
    let watcher = watcher.wait();
    assert!(watcher.success, "watcher: {watcher:?}");
    newest_call(&c, "Ended").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transfer_to_the_park_code_parks_the_call_and_star_71_retrieves_it() {
    let Some((node, mut c)) = office().await else {
        return;
    };
    c.lobby(T, &["102", "104"]).await;
    let (p101, p102, p104) = (
        phone(&node, "101"),
        phone(&node, "102"),
        phone(&node, "104"),
    );
    p102.register();
    let parker = p102.start("park_by_transfer.xml", "102", &["-key", "park_code", "*70"]);
    let caller = p101.start("call_parked.xml", "102", &[]);
    // The parker was told the code by the transfer's NOTIFY and a MESSAGE,
    // and its leg ended; the caller was held.
    let parker = parker.wait();
    assert!(parker.success, "parker: {parker:?}");
    assert!(parker.log.contains("NOTIFY SIP/2.0 200"), "{}", parker.log);
    assert!(
        parker.log.contains("MESSAGE parked on 10"),
        "{}",
        parker.log
    );
    caller.wait_logged("HELD a=inactive", Duration::from_secs(10));
    let parked = newest_call(&c, "Parked").await;
    assert_eq!((parked.park_code, parked.parked_by.as_str()), (10, "102"));

    let retriever = p104.play("pickup.xml", "*7110");
    assert!(
        retriever.log.contains("RESULT 200"),
        "retriever: {retriever:?}"
    );
    assert!(retriever.success, "retriever: {retriever:?}");
    let caller = caller.wait();
    assert!(caller.success, "caller: {caller:?}");
    assert!(caller.log.contains("RETRIEVED"), "{}", caller.log);
    newest_call(&c, "Ended").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parked_call_nobody_retrieves_rings_the_parker_back_then_ends_with_a_bye() {
    if prereq::needs(prereq::SIPP, sipp::ensure_installed()).is_none() {
        return;
    }
    // Timers at 1%: the 300 s park timeout is 3 s, the ring-back 0.3 s.
    let node = TestNode::start(0.01);
    let mut c = node.clients().await;
    c.tenant_with(T, &[]).await;
    for n in ["101", "102"] {
        c.put_extension(
            T,
            api::Extension {
                number: n.into(),
                sip_password: Some(format!("secret-{n}")),
                ..Default::default()
            },
        )
        .await;
    }
    c.lobby(T, &["101", "102"]).await;
    let (p101, p102) = (phone(&node, "101"), phone(&node, "102"));
    p102.register();
    let parker = p102.start("park_by_transfer.xml", "102", &["-key", "park_code", "*70"]);
    let caller = p101.start("call_parked_unretrieved.xml", "102", &[]);
    let parked = parker.wait();
    assert!(parked.log.contains("MESSAGE parked on 10"), "{parked:?}");
    // The parker's phone rings again when the park times out, unanswered.
    let ring_back = p102.start("ring_until_cancelled.xml", "102", &[]);
    ring_back.wait_logged("INVITE", Duration::from_secs(15));
    let caller = caller.wait();
    assert!(caller.success, "caller: {caller:?}");
    assert!(ring_back.wait().success);
    let call = newest_call(&c, "Ended").await;
    assert_eq!(
        call.end_reason,
        api::EndReason::RingBackUnanswered as i32,
        "{call:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_group_rings_every_members_phone_and_the_first_answer_cancels_the_rest() {
    let Some((node, mut c)) = office().await else {
        return;
    };
    c.directory
        .put_call_group(api::PutCallGroupRequest {
            tenant: T.into(),
            group: Some(api::CallGroup {
                owner: "102".into(),
                members: ["103", "104"]
                    .iter()
                    .map(|m| api::CallGroupMember {
                        extension: (*m).into(),
                        ..Default::default()
                    })
                    .collect(),
                routing: api::CallGroupRouting::Simultaneous as i32,
                ring_secs: 0,
            }),
        })
        .await
        .expect("call group");
    let phones: Vec<Phone> = ["101", "102", "103", "104"]
        .iter()
        .map(|e| phone(&node, e))
        .collect();
    for p in &phones[1..] {
        p.register();
    }
    let owner = phones[1].start("ring_until_cancelled.xml", "102", &[]);
    let member = phones[2].start("ring_until_cancelled.xml", "103", &[]);
    let caller = phones[0].start("call.xml", "102", &[]);
    owner.wait_logged("INVITE", Duration::from_secs(10));
    member.wait_logged("INVITE", Duration::from_secs(10));
    // 104 starts listening late: it answers the INVITE's retransmission.
    let answering = phones[3].start("answer.xml", "104", &[]);
    let caller = caller.wait();
    assert!(caller.success, "caller: {caller:?}");
    assert!(answering.wait().success);
    for ringing in [owner.wait(), member.wait()] {
        assert!(ringing.success, "{ringing:?}");
        assert!(
            ringing.log.contains("Call completed elsewhere"),
            "{}",
            ringing.log
        );
    }
    newest_call(&c, "Ended").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_400_naming_the_header_oversized_ones_513_and_nothing_changes() {
    let Some((node, mut c)) = office().await else {
        return;
    };
    let p102 = phone(&node, "102");
    let refused = p102.play("register_malformed.xml", "102");
    assert!(refused.success, "{refused:?}");
    assert!(
        refused.log.contains("malformed Expires header"),
        "{}",
        refused.log
    );
    assert!(
        bindings(&mut c, "102").await.is_empty(),
        "nothing was stored"
    );
    // Requests whose core headers break their grammar get 400 naming the
    // header and its rule, before any challenge.
    let screened = p102.play("malformed.xml", "102");
    assert!(screened.success, "{screened:?}");
    for (which, warning) in [
        (
            "first 400",
            "399 callgrid \"malformed CSeq header: <sequence number> <method>\"",
        ),
        (
            "second 400",
            "399 callgrid \"malformed Max-Forwards header: a number from 0 to 255\"",
        ),
    ] {
        assert!(
            screened
                .log
                .lines()
                .any(|l| l.starts_with(which) && l.contains(warning)),
            "{which} should carry {warning}:\n{}",
            screened.log
        );
    }
    // A datagram over the edge's limit is refused with 513, not cut short;
    // garbage is dropped unanswered.
    let edge = node.sip.expect("edge");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let port = socket.local_addr().expect("addr").port();
    socket
        .send_to(b"\x00\x01not sip at all\r\n\r\n", edge)
        .expect("send");
    let body = "v=0\r\n".repeat(2_000);
    let oversized = format!(
        "REGISTER sip:{T} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKbig\r\n\
         From: <sip:102@{T}>;tag=big\r\nTo: <sip:102@{T}>\r\nCall-ID: oversized\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:102@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.send_to(oversized.as_bytes(), edge).expect("send");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    let (len, _) = socket
        .recv_from(&mut buf)
        .expect("an answer to the oversized request");
    let answer = String::from_utf8_lossy(&buf[..len]);
    assert!(
        answer.starts_with("SIP/2.0 513 Message Too Large\r\n")
            && answer.contains("Call-ID: oversized"),
        "{answer}"
    );
    assert!(
        bindings(&mut c, "102").await.is_empty(),
        "nothing was stored"
    );
    let metrics = node.scrape_metrics().await;
    for reason in ["malformed", "oversized"] {
        let line = format!("callgrid_sip_requests_refused_total{{reason=\"{reason}\"}} ");
        assert!(metrics.contains(&line), "{line} is counted:\n{metrics}");
    }
    // The edge keeps serving.
    p102.register();
    assert_eq!(bindings(&mut c, "102").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_from_one_address_is_dropped_past_its_rate_and_others_are_still_served() {
    let Some((node, mut c)) = office().await else {
        return;
    };
    let edge = node.sip.expect("edge");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let port = socket.local_addr().expect("addr").port();
    // 1,600 requests over about 2 s: twice the rate past the burst, and
    // paced so the edge, not the kernel's socket buffer, is what drops.
    let sent = 1_600;
    let pace = tokio::time::interval(Duration::from_micros(1_250));
    tokio::pin!(pace);
    for i in 0..sent {
        pace.as_mut().tick().await;
        let options = format!(
            "OPTIONS sip:{T} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKflood{i}\r\n\
             From: <sip:flood@{T}>;tag=f{i}\r\nTo: <sip:{T}>\r\nCall-ID: flood-{i}\r\n\
             CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        socket.send_to(options.as_bytes(), edge).expect("send");
    }
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut answered = 0;
    let mut buf = [0u8; 4096];
    while socket.recv_from(&mut buf).is_ok() {
        answered += 1;
    }
    assert!(answered > 0, "the flood's first requests are served");
    assert!(
        answered < sent,
        "all {sent} requests of a flood were served"
    );
    // Another address is served meanwhile.
    let mut other = phone(&node, "103");
    other.bind_ip = "127.0.0.2".into();
    other.register();
    assert_eq!(bindings(&mut c, "103").await.len(), 1);
    let metrics = node.scrape_metrics().await;
    let dropped: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("callgrid_sip_requests_dropped_total{reason=\"rate\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(
        dropped >= (sent - answered) as f64 / 2.0,
        "the edge's limiter dropped them and counted it: {dropped} of {} unanswered",
        sent - answered
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn group_pickup_and_named_group_pickup_over_sip_take_the_ringing_call() {
    let Some((node, mut c)) = office().await else {
        return;
    };
    // 102 and 103 share legacy pickup group 1; 102's calls are in the named
    // call group "sales", which 104 may pick up.
    for (number, legacy, calls, pickups) in [
        ("102", vec!["1".to_string()], "", ""),
        ("103", vec!["1".to_string()], "", ""),
        ("104", vec![], "", "sales"),
    ] {
        c.put_extension(
            T,
            api::Extension {
                number: number.into(),
                legacy_pickup_groups: legacy,
                call_groups: calls.into(),
                pickup_groups: pickups.into(),
                ..Default::default()
            },
        )
        .await;
    }
    let (p101, p102, p103) = (
        phone(&node, "101"),
        phone(&node, "102"),
        phone(&node, "103"),
    );
    let idle = p103.play("pickup.xml", "*98");
    assert!(
        idle.log
            .contains("RESULT 480 PICKUP_RESULT_NO_ALERTING_CALL"),
        "{idle:?}"
    );
    p102.register();
    let mut watched = notices(&mut c, "102").await;
    let ringing = p102.start("ring_until_cancelled.xml", "102", &[]);
    let caller = p101.start("call_answered_elsewhere.xml", "102", &[]);
    ringing.wait_logged("INVITE", Duration::from_secs(10));
    let picker = p103.play("pickup.xml", "*98");
    assert!(picker.log.contains("RESULT 200"), "*98: {picker:?}");
    assert!(caller.wait().success);
    assert!(ringing.wait().success);
    assert_eq!(sipp::answered_by(&mut watched).await, "103");

    // The same call shape, taken by name.
    c.put_extension(
        T,
        api::Extension {
            number: "102".into(),
            call_groups: "sales".into(),
            ..Default::default()
        },
    )
    .await;
    let p104 = phone(&node, "104");
    let ringing = p102.start("ring_until_cancelled.xml", "102", &[]);
    let caller = p101.start("call_answered_elsewhere.xml", "102", &[]);
    ringing.wait_logged("INVITE", Duration::from_secs(10));
    let picker = p104.play("pickup.xml", "88sales");
    assert!(picker.log.contains("RESULT 200"), "88sales: {picker:?}");
    assert!(caller.wait().success);
    assert!(ringing.wait().success);
    assert_eq!(sipp::answered_by(&mut watched).await, "104");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_phone_whose_200_lost_to_another_gets_ack_then_bye() {
    let Some((node, mut c)) = office().await else {
        return;
    };
    c.directory
        .put_call_group(api::PutCallGroupRequest {
            tenant: T.into(),
            group: Some(api::CallGroup {
                owner: "102".into(),
                members: vec![api::CallGroupMember {
                    extension: "103".into(),
                    ..Default::default()
                }],
                routing: api::CallGroupRouting::Simultaneous as i32,
                ring_secs: 0,
            }),
        })
        .await
        .expect("call group");
    let (p101, p102, p103) = caller_callee_and_103(&node);
    p103.register();
    // Both phones answer at once (200 with no 180 first); the cluster
    // takes one answer, and the other phone's 200 is acknowledged and hung
    // up: INVITE, 200, ACK, BYE either way. A loser whose 200 left after
    // the cluster decided meets the edge's CANCEL crossing it, and its 200
    // must still be acknowledged and hung up (answer_racing.xml).
    let owner = p102.start("answer_racing.xml", "102", &[]);
    let member = p103.start("answer_racing.xml", "103", &[]);
    let caller = p101.play("call.xml", "102");
    assert!(caller.success, "caller: {caller:?}");
    let owner = owner.wait();
    let member = member.wait();
    assert!(owner.success, "the owner's phone: {owner:?}");
    assert!(member.success, "the member's phone: {member:?}");
    let call = newest_call(&c, "Ended").await;
    assert_eq!(call.rang_on.len(), 2, "{call:?}");
}

/// The message SIPp sent last that starts with `start`, from its message
/// trace (`-trace_msg`): blocks of `<transport> message sent (N bytes):`
/// (`[N] bytes:` in newer SIPp), a blank line, then the N bytes as sent.
fn last_sent(trace: &str, start: &str) -> String {
    let mut found = None;
    let mut rest = trace;
    while let Some(at) = rest.find("message sent ") {
        rest = &rest[at + "message sent ".len() + 1..];
        let digits = rest.find(|c: char| !c.is_ascii_digit()).expect("a length");
        let len: usize = rest[..digits].parse().expect("a length");
        let (_, after) = rest.split_once("\n\n").expect("a sent block");
        let message = &after[..len];
        if message.starts_with(start) {
            found = Some(message.to_owned());
        }
        rest = &after[len..];
    }
    found.unwrap_or_else(|| panic!("no {start:?} in the trace: {trace}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_phone_reusing_its_nonce_is_not_challenged_again_but_a_replayed_answer_is() {
    let Some((node, c)) = office().await else {
        return;
    };
    let (p101, p102) = (phone(&node, "101"), phone(&node, "102"));
    p102.register();
    let callee = p102.start("answer.xml", "102", &[]);
    let traces = tempfile::tempdir().expect("tempdir");
    let trace = traces.path().join("101.msg");
    let trace_arg = trace.display().to_string();
    // One challenge (the REGISTER's), then a call and a refresh on its
    // nonce: a second 401 would fail the scenario.
    let caller = p101
        .start(
            "call_reusing_nonce.xml",
            "102",
            &["-trace_msg", "-message_file", &trace_arg],
        )
        .wait();
    assert!(
        caller.success && caller.log.contains("REUSED THE NONCE"),
        "caller: {caller:?}"
    );
    let callee = callee.wait();
    assert!(callee.success, "callee: {callee:?}");
    newest_call(&c, "Ended").await;
    let calls = |c: &Clients| {
        let mut c = c.clone();
        async move {
            c.calls
                .list_calls(api::ListCallsRequest { tenant: T.into() })
                .await
                .expect("list calls")
                .into_inner()
                .calls
                .len()
        }
    };
    let placed = calls(&c).await;

    // Someone who captured the call's INVITE sends it again as a new
    // request (its own branch and Call-ID; the digest answer, nonce and
    // count unchanged), from the phone's address, where the answer goes.
    let invite = last_sent(&std::fs::read_to_string(&trace).expect("trace"), "INVITE ");
    let replay: String = invite
        .split_inclusive("\r\n")
        .map(|line| {
            if line.starts_with("Via:") {
                let (head, _) = line.split_once("branch=").expect("a branch");
                format!("{head}branch=z9hG4bKreplayed\r\n")
            } else if line.starts_with("Call-ID:") {
                "Call-ID: replayed-invite\r\n".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect();
    let socket = std::net::UdpSocket::bind(("127.0.0.1", p101.port)).expect("the phone's port");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    socket
        .send_to(replay.as_bytes(), node.sip.expect("edge"))
        .expect("send");
    let mut buf = vec![0u8; 65_536];
    let challenge = loop {
        let (n, _) = socket.recv_from(&mut buf).expect("an answer to the replay");
        let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !answer.starts_with("SIP/2.0 100") {
            break answer;
        }
    };
    assert!(
        challenge.starts_with("SIP/2.0 401") && challenge.contains("stale=true"),
        "a replayed answer is challenged again: {challenge}"
    );
    assert_eq!(calls(&c).await, placed, "the replay placed no call");
}

/// The value of the unlabelled metric `name` on `page` (Prometheus text).
fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_edge_reaches_its_node_in_process_without_a_grpc_connection() {
    let Some((node, mut c)) = office().await else {
        return;
    };
    let before = node.scrape_metrics().await;
    let open = metric(&before, "callgrid_connections_open").expect("connections gauge");
    // A registration asks the node to authenticate, store the binding and
    // stream the tenant's alerts; then a call is dialled and hung up.
    let (p101, p102) = (phone(&node, "101"), phone(&node, "102"));
    p102.register();
    assert_eq!(bindings(&mut c, "102").await.len(), 1);
    let callee = p102.start("answer.xml", "102", &[]);
    let caller = p101.play("call.xml", "102");
    assert!(caller.success, "caller: {caller:?}");
    assert!(callee.wait().success);
    let after = node.scrape_metrics().await;
    assert_eq!(
        metric(&after, "callgrid_sip_in_process_link"),
        Some(1.0),
        "the edge's clients call the node's services in process"
    );
    assert_eq!(
        metric(&after, "callgrid_connections_open"),
        Some(open),
        "the edge opened no gRPC connection to its own node"
    );
}
