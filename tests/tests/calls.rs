//! Placing, answering, ending, timing out and forwarding calls, and call
//! groups ringing their members (DESIGN §1 Call, Call group).

use callgrid_tests::{
    TestNode, api, as_call, ext, extension, member, next_alert, next_alert_stopped,
    next_missed_call, outside,
};

const T: &str = "acme";

fn alerted(info: &api::CallInfo) -> Vec<&str> {
    info.alerting.iter().map(|a| a.extension.as_str()).collect()
}

fn forward_to(number: &str) -> Option<api::ForwardTarget> {
    Some(api::ForwardTarget {
        target: Some(api::forward_target::Target::Extension(number.into())),
    })
}

#[tokio::test]
async fn call_from_an_extension_rings_the_callee_who_answers_it_directly() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["102", "103"]).await;
    let call = c.ring(T, "103", "102").await;
    let info = c.call_info(T, call).await;
    assert_eq!(info.state(), api::CallState::Ringing);
    assert_eq!(
        (
            info.caller.clone(),
            info.callee.as_str(),
            info.ringing_for.as_str()
        ),
        (Some(ext("103")), "102", "102")
    );
    assert_eq!(alerted(&info), ["102"]);
    assert_eq!(info.alerting[0].reason(), api::AlertReason::Callee);

    let answer = c.answer(T, call, "102").await;
    assert_eq!(
        (answer.result(), answer.how()),
        (api::AnswerResult::Answered, api::AnswerHow::Direct)
    );
    let info = c.call_info(T, call).await;
    assert_eq!(
        (info.state(), info.answered_by.as_str(), info.how()),
        (api::CallState::Answered, "102", api::AnswerHow::Direct)
    );
    assert_eq!(info.rang_on, ["102"]);
    assert!(info.alerting.is_empty());
}

#[tokio::test]
async fn call_from_an_outside_number_rings_and_the_caller_can_hang_up_after_answer() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["102"]).await;
    let dial = c.try_dial(T, outside("+15551234"), "102").await.unwrap();
    let call = as_call(&dial);
    assert_eq!(call.result(), api::CallResult::Ringing);
    assert_eq!(
        c.call_info(T, call.call_id).await.caller,
        Some(outside("+15551234"))
    );
    assert_eq!(
        c.answer(T, call.call_id, "102").await.result(),
        api::AnswerResult::Answered
    );
    let hangup = c.hangup(T, call.call_id, outside("+15551234")).await;
    assert_eq!(
        (hangup.result(), hangup.reason()),
        (api::HangupResult::Ended, api::EndReason::HungUp)
    );
    let info = c.call_info(T, call.call_id).await;
    assert_eq!(
        (info.state(), info.end_reason()),
        (api::CallState::Ended, api::EndReason::HungUp)
    );
}

#[tokio::test]
async fn caller_hanging_up_a_ringing_call_cancels_it_and_the_callee_misses_it() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["102", "103"]).await;
    let mut callee = c.notifications(T, "102").await;
    let call = c.ring(T, "103", "102").await;
    next_alert(&mut callee, call).await;
    let hangup = c.hangup(T, call, ext("103")).await;
    assert_eq!(
        (hangup.result(), hangup.reason()),
        (api::HangupResult::Ended, api::EndReason::Cancelled)
    );
    assert_eq!(next_alert_stopped(&mut callee, call).await.answered_by, "");
    let missed = next_missed_call(&mut callee, call).await;
    assert_eq!(
        (missed.answered_by.as_str(), missed.how(), missed.caller),
        ("", api::AnswerHow::Unspecified, Some(ext("103")))
    );
    let info = c.call_info(T, call).await;
    assert_eq!(
        (info.state(), info.end_reason()),
        (api::CallState::Ended, api::EndReason::Cancelled)
    );
    assert_eq!(
        c.hangup(T, call, ext("103")).await.result(),
        api::HangupResult::AlreadyEnded
    );
    assert_eq!(
        c.answer(T, call, "102").await.result(),
        api::AnswerResult::CallEnded
    );
}

#[tokio::test]
async fn answerer_hanging_up_ends_the_call_hung_up_and_strangers_are_not_in_it() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["102", "103", "104"]).await;
    let call = c.answered_call(T, "103", "102").await;
    assert_eq!(
        c.hangup(T, call, ext("104")).await.result(),
        api::HangupResult::NotInCall
    );
    assert_eq!(
        c.call_info(T, call).await.state(),
        api::CallState::Answered,
        "a stranger's hangup changes nothing"
    );
    let hangup = c.hangup(T, call, ext("102")).await;
    assert_eq!(
        (hangup.result(), hangup.reason()),
        (api::HangupResult::Ended, api::EndReason::HungUp)
    );
    assert_eq!(
        c.hangup(T, 9_999, ext("102")).await.result(),
        api::HangupResult::UnknownCall
    );
}

#[tokio::test]
async fn dialling_an_unknown_extension_reports_no_such_extension() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["102"]).await;
    assert_eq!(
        as_call(&c.dial(T, "102", "999").await).result(),
        api::CallResult::NoSuchExtension
    );
    assert_eq!(
        as_call(&c.dial(T, "555", "102").await).result(),
        api::CallResult::UnknownCaller
    );
    let calls = c
        .calls
        .list_calls(api::ListCallsRequest { tenant: T.into() })
        .await
        .unwrap()
        .into_inner();
    assert!(calls.calls.is_empty(), "no call was created");
}

#[tokio::test]
async fn answer_by_an_extension_the_call_does_not_alert_reports_not_alerting() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103"]).await;
    let call = c.ring(T, "103", "102").await;
    assert_eq!(
        c.answer(T, call, "101").await.result(),
        api::AnswerResult::NotAlerting
    );
    assert_eq!(
        c.answer(T, call, "103").await.result(),
        api::AnswerResult::NotAlerting,
        "the caller is not alerted"
    );
    assert_eq!(
        c.answer(T, 9_999, "102").await.result(),
        api::AnswerResult::UnknownCall
    );
    assert_eq!(c.call_info(T, call).await.state(), api::CallState::Ringing);
    assert_eq!(
        c.answer(T, call, "102").await.result(),
        api::AnswerResult::Answered
    );
    assert_eq!(
        c.answer(T, call, "102").await.result(),
        api::AnswerResult::AlreadyAnswered
    );
}

#[tokio::test]
async fn unanswered_call_ends_with_no_answer_after_the_ring_timeout() {
    let node = TestNode::start(0.01);
    let mut c = node.clients().await;
    c.tenant_with(T, &["102", "103"]).await;
    let mut callee = c.notifications(T, "102").await;
    let call = c.ring(T, "103", "102").await;
    let info = c
        .wait_for_call(T, call, "the ring timeout", |i| {
            i.state() == api::CallState::Ended
        })
        .await;
    assert_eq!(info.end_reason(), api::EndReason::NoAnswer);
    next_alert(&mut callee, call).await;
    assert_eq!(next_alert_stopped(&mut callee, call).await.answered_by, "");
    assert_eq!(next_missed_call(&mut callee, call).await.answered_by, "");
}

#[tokio::test]
async fn forward_on_no_answer_alerts_the_target_after_the_delay_and_it_can_answer() {
    let node = TestNode::start(0.01);
    let mut c = node.clients().await;
    // 600 s scaled to 6 s: the target rings long enough to answer.
    c.tenant_with(T, &["101", "103"]).await;
    c.put_tenant(
        T,
        api::TenantConfig {
            ring_timeout_secs: 600,
            ..Default::default()
        },
    )
    .await;
    let forwarding = api::Forwarding {
        on_no_answer: forward_to("103"),
        on_no_answer_after_secs: 5,
        ..Default::default()
    };
    c.put_extension(
        T,
        api::Extension {
            forwarding: Some(forwarding),
            ..extension("102")
        },
    )
    .await;
    let (mut first, mut target) = (
        c.notifications(T, "102").await,
        c.notifications(T, "103").await,
    );
    let call = c.ring(T, "101", "102").await;
    next_alert(&mut first, call).await;
    assert_eq!(
        next_alert_stopped(&mut first, call).await.answered_by,
        "",
        "102 stops when the call moves on"
    );
    let alert = next_alert(&mut target, call).await;
    assert_eq!(
        (alert.callee.as_str(), alert.reason()),
        ("102", api::AlertReason::Callee)
    );
    let info = c.call_info(T, call).await;
    assert_eq!(
        (alerted(&info), info.ringing_for.as_str()),
        (vec!["103"], "103")
    );
    assert_eq!(
        c.answer(T, call, "102").await.result(),
        api::AnswerResult::NotAlerting
    );
    let answer = c.answer(T, call, "103").await;
    assert_eq!(
        (answer.result(), answer.how()),
        (api::AnswerResult::Answered, api::AnswerHow::Direct)
    );
}

#[tokio::test]
async fn unconditional_forwarding_rings_the_target_instead_of_the_extension() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["102", "103"]).await;
    let forwarding = api::Forwarding {
        unconditional: forward_to("102"),
        ..Default::default()
    };
    c.put_extension(
        T,
        api::Extension {
            forwarding: Some(forwarding),
            ..extension("101")
        },
    )
    .await;
    let call = c.ring(T, "103", "101").await;
    let info = c.call_info(T, call).await;
    assert_eq!(
        (
            info.callee.as_str(),
            alerted(&info),
            info.ringing_for.as_str()
        ),
        ("101", vec!["102"], "102")
    );
    assert_eq!(
        c.answer(T, call, "101").await.result(),
        api::AnswerResult::NotAlerting
    );
    assert_eq!(
        c.answer(T, call, "102").await.result(),
        api::AnswerResult::Answered
    );
}

#[tokio::test]
async fn busy_forwarding_rings_the_target_only_while_the_extension_is_in_a_call() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["102", "104", "105"]).await;
    let forwarding = api::Forwarding {
        on_busy: forward_to("104"),
        ..Default::default()
    };
    c.put_extension(
        T,
        api::Extension {
            forwarding: Some(forwarding),
            ..extension("103")
        },
    )
    .await;
    let first = c.ring(T, "105", "103").await;
    assert_eq!(
        alerted(&c.call_info(T, first).await),
        ["103"],
        "idle: rings itself"
    );
    assert_eq!(
        c.answer(T, first, "103").await.result(),
        api::AnswerResult::Answered
    );
    let second = c.ring(T, "102", "103").await;
    assert_eq!(
        alerted(&c.call_info(T, second).await),
        ["104"],
        "busy: forwards"
    );
    assert_eq!(
        c.answer(T, second, "104").await.result(),
        api::AnswerResult::Answered
    );
}

#[tokio::test]
async fn simultaneous_call_group_rings_owner_and_members_each_in_their_alert_mode() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["100", "101", "102", "103", "105"]).await;
    use api::AlertMode::{Banner, Ring, Unspecified, Visual};
    let members = vec![
        member("101", Visual),
        member("102", Banner),
        member("103", Unspecified),
    ];
    c.put_call_group(
        T,
        api::CallGroup {
            owner: "100".into(),
            members,
            ..Default::default()
        },
    )
    .await;
    let mut streams = Vec::new();
    for n in ["100", "101", "102", "103"] {
        streams.push((n, c.notifications(T, n).await));
    }
    let mut owner_missed = c.notifications(T, "100").await;
    let call = c.ring(T, "105", "100").await;
    let expected = [
        ("100", Ring, api::AlertReason::Callee),
        ("101", Visual, api::AlertReason::CallGroupMember),
        ("102", Banner, api::AlertReason::CallGroupMember),
        ("103", Ring, api::AlertReason::CallGroupMember),
    ];
    for ((n, stream), (_, mode, reason)) in streams.iter_mut().zip(expected) {
        let alert = next_alert(stream, call).await;
        assert_eq!(
            (alert.mode(), alert.reason(), alert.callee.as_str()),
            (mode, reason, "100"),
            "alert of {n}"
        );
    }
    let answer = c.answer(T, call, "102").await;
    assert_eq!(
        (answer.result(), answer.how()),
        (api::AnswerResult::Answered, api::AnswerHow::CallGroup)
    );
    for n in ["100", "101", "103"] {
        assert_eq!(
            c.answer(T, call, n).await.result(),
            api::AnswerResult::AlreadyAnswered,
            "{n} lost"
        );
    }
    for (n, stream) in streams.iter_mut().filter(|(n, _)| *n != "102") {
        assert_eq!(
            next_alert_stopped(stream, call).await.answered_by,
            "102",
            "{n} stopped"
        );
    }
    let missed = next_missed_call(&mut owner_missed, call).await;
    assert_eq!(
        (missed.answered_by.as_str(), missed.how()),
        ("102", api::AnswerHow::CallGroup)
    );
    assert_eq!(c.call_info(T, call).await.answered_by, "102");
}

#[tokio::test]
async fn forward_all_at_once_call_group_rings_every_member_but_not_the_owner() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["100", "101", "102", "105"]).await;
    let members = vec![
        member("101", api::AlertMode::Ring),
        member("102", api::AlertMode::Ring),
    ];
    let routing = api::CallGroupRouting::ForwardAllAtOnce as i32;
    c.put_call_group(
        T,
        api::CallGroup {
            owner: "100".into(),
            members,
            routing,
            ring_secs: 0,
        },
    )
    .await;
    let call = c.ring(T, "105", "100").await;
    assert_eq!(alerted(&c.call_info(T, call).await), ["101", "102"]);
    assert_eq!(
        c.answer(T, call, "100").await.result(),
        api::AnswerResult::NotAlerting
    );
    assert_eq!(
        c.answer(T, call, "101").await.how(),
        api::AnswerHow::CallGroup
    );
}

#[tokio::test]
async fn forward_in_order_call_group_rings_member_one_then_member_two() {
    // 100 s per member, scaled to 2 s.
    let node = TestNode::start(0.02);
    let mut c = node.clients().await;
    c.tenant_with(T, &["100", "101", "102", "105"]).await;
    let members = vec![
        member("101", api::AlertMode::Ring),
        member("102", api::AlertMode::Visual),
    ];
    let routing = api::CallGroupRouting::ForwardInOrder as i32;
    c.put_call_group(
        T,
        api::CallGroup {
            owner: "100".into(),
            members,
            routing,
            ring_secs: 100,
        },
    )
    .await;
    let (mut one, mut two) = (
        c.notifications(T, "101").await,
        c.notifications(T, "102").await,
    );
    let call = c.ring(T, "105", "100").await;
    assert_eq!(
        next_alert(&mut one, call).await.reason(),
        api::AlertReason::CallGroupMember
    );
    assert_eq!(
        alerted(&c.call_info(T, call).await),
        ["101"],
        "member one rings first, alone"
    );
    assert_eq!(
        c.answer(T, call, "102").await.result(),
        api::AnswerResult::NotAlerting
    );
    assert_eq!(
        next_alert(&mut two, call).await.mode(),
        api::AlertMode::Visual
    );
    assert_eq!(next_alert_stopped(&mut one, call).await.answered_by, "");
    assert_eq!(alerted(&c.call_info(T, call).await), ["102"]);
    let answer = c.answer(T, call, "102").await;
    assert_eq!(
        (answer.result(), answer.how()),
        (api::AnswerResult::Answered, api::AnswerHow::CallGroup)
    );
}

#[tokio::test]
async fn delayed_member_cannot_answer_before_its_alert_starts() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["100", "101", "105"]).await;
    let members = vec![api::CallGroupMember {
        extension: "101".into(),
        alert: 0,
        delay_secs: 60,
    }];
    c.put_call_group(
        T,
        api::CallGroup {
            owner: "100".into(),
            members,
            ..Default::default()
        },
    )
    .await;
    let call = c.ring(T, "105", "100").await;
    let info = c.call_info(T, call).await;
    let delayed = info
        .alerting
        .iter()
        .find(|a| a.extension == "101")
        .expect("101 is listed");
    assert!(
        delayed.from_ms >= info.state_since_ms + 60_000,
        "alert starts 60 s in: {info:?}"
    );
    assert_eq!(
        c.answer(T, call, "101").await.result(),
        api::AnswerResult::NotAlerting
    );
    assert_eq!(
        c.answer(T, call, "100").await.result(),
        api::AnswerResult::Answered
    );
}
