//! Call park and retrieve over gRPC: codes, every refusal, `*71<code>`,
//! ring-back to the parker and its end (DESIGN §1 Call park).

use callgrid_tests::{
    Clients, TestNode, api, as_retrieve, ext, next_alert, next_alert_stopped, next_ring_back,
};

const T: &str = "acme";
use api::ParkResult::{
    CodeInUse, CodeOutOfRange, NoParkPolicy, NotAnswered, Parked, ParkingNotAllowed, RangeFull,
};
use api::RetrieveResult::{AlreadyAnswered, CallEnded, OtherParkGroup, Retrieved, UnknownCode};

/// Tenant `acme` with `config`: 101-104 hold the default `lobby` policy
/// (codes 10-99), 105 holds none, 106 holds `dock`; 109 is the caller.
async fn park_tenant(node: &TestNode, config: api::TenantConfig) -> Clients {
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103", "104", "105", "106", "109"])
        .await;
    c.put_tenant(T, config).await;
    c.lobby(T, &["101", "102", "103", "104"]).await;
    let dock = api::ParkPolicy {
        name: "dock".into(),
        code_start: 100,
        code_end: 199,
        ..Default::default()
    };
    c.park_group(T, dock, &["106"]).await;
    c
}

/// A call from 109, answered by `by` and parked by it; returns (call, code).
async fn parked(c: &mut Clients, by: &str, code: Option<u32>) -> (u64, u32) {
    let call = c.answered_call(T, "109", by).await;
    let out = c.park_call(T, call, by, code).await;
    assert_eq!(out.result(), Parked, "{by} parks call {call}");
    (call, out.code)
}

#[tokio::test]
async fn parking_takes_the_lowest_free_code_and_reuses_it_after_retrieve() {
    let node = TestNode::start(1.0);
    let mut c = park_tenant(&node, Default::default()).await;
    let (a, code_a) = parked(&mut c, "101", None).await;
    let (_, code_b) = parked(&mut c, "102", None).await;
    assert_eq!((code_a, code_b), (10, 11));
    let info = c.call_info(T, a).await;
    let parked_as = (
        info.state(),
        info.park_code,
        info.parked_by.as_str(),
        info.park_policy.as_str(),
    );
    assert_eq!(parked_as, (api::CallState::Parked, 10, "101", "lobby"));
    assert_eq!(
        info.ring_back_at_ms,
        info.state_since_ms + 300_000,
        "rings back after the policy's 300 s"
    );

    let out = c.retrieve(T, "103", 10).await;
    assert_eq!((out.result(), out.call_id), (Retrieved, a));
    let info = c.call_info(T, a).await;
    let answered = (info.state(), info.answered_by.as_str(), info.how());
    assert_eq!(
        answered,
        (api::CallState::Answered, "103", api::AnswerHow::Retrieve)
    );
    let (_, code_c) = parked(&mut c, "104", None).await;
    assert_eq!(code_c, 10, "10 is free again and the lowest");
}

#[tokio::test]
async fn parking_on_a_requested_free_code_uses_that_code() {
    let node = TestNode::start(1.0);
    let mut c = park_tenant(&node, Default::default()).await;
    let (call, code) = parked(&mut c, "101", Some(42)).await;
    assert_eq!((code, c.call_info(T, call).await.park_code), (42, 42));
    assert_eq!(
        parked(&mut c, "102", None).await.1,
        10,
        "the lowest free code is still 10"
    );
}

#[tokio::test]
async fn requested_code_in_use_or_out_of_range_is_refused_and_the_call_stays_answered() {
    let node = TestNode::start(1.0);
    let mut c = park_tenant(&node, Default::default()).await;
    parked(&mut c, "101", Some(42)).await;
    let call = c.answered_call(T, "109", "102").await;
    assert_eq!(
        c.park_call(T, call, "102", Some(42)).await.result(),
        CodeInUse
    );
    assert_eq!(
        c.park_call(T, call, "102", Some(100)).await.result(),
        CodeOutOfRange
    );
    let info = c.call_info(T, call).await;
    assert_eq!(
        (info.state(), info.answered_by.as_str()),
        (api::CallState::Answered, "102")
    );
}

#[tokio::test]
async fn full_range_reports_range_full_and_never_drops_the_call() {
    let node = TestNode::start(1.0);
    let mut c = park_tenant(&node, Default::default()).await;
    let tiny = api::ParkPolicy {
        name: "tiny".into(),
        code_start: 10,
        code_end: 11,
        ..Default::default()
    };
    c.park_group(T, tiny, &["101", "102", "103"]).await;
    assert_eq!(parked(&mut c, "101", None).await.1, 10);
    assert_eq!(parked(&mut c, "102", None).await.1, 11);
    let call = c.answered_call(T, "109", "103").await;
    assert_eq!(c.park_call(T, call, "103", None).await.result(), RangeFull);
    let info = c.call_info(T, call).await;
    assert_eq!(
        (info.state(), info.answered_by.as_str()),
        (api::CallState::Answered, "103"),
        "still answered"
    );
    assert_eq!(c.list_parked(T).await.len(), 2);
}

#[tokio::test]
async fn parking_needs_an_answered_call_its_answerer_and_a_policy_that_allows_it() {
    let node = TestNode::start(1.0);
    let mut c = park_tenant(&node, Default::default()).await;
    let call = c.answered_call(T, "109", "105").await;
    assert_eq!(
        c.park_call(T, call, "105", None).await.result(),
        NoParkPolicy
    );
    let call = c.answered_call(T, "109", "101").await;
    assert_eq!(
        c.park_call(T, call, "102", None).await.result(),
        NotAnswered,
        "only the answerer parks"
    );
    let ringing = c.ring(T, "109", "102").await;
    assert_eq!(
        c.park_call(T, ringing, "102", None).await.result(),
        NotAnswered
    );
    assert_eq!(
        c.park_call(T, 9_999, "101", None).await.result(),
        api::ParkResult::UnknownCall
    );

    let closed = api::ParkPolicy {
        name: "lobby".into(),
        allow_parking: Some(false),
        ..Default::default()
    };
    c.try_put_park_policy(T, closed).await.unwrap();
    assert_eq!(
        c.park_call(T, call, "101", None).await.result(),
        ParkingNotAllowed
    );
    assert_eq!(c.call_info(T, call).await.state(), api::CallState::Answered);
    assert!(c.list_parked(T).await.is_empty());
}

#[tokio::test]
async fn dialling_star71_and_the_code_retrieves_the_parked_call() {
    let node = TestNode::start(1.0);
    let mut c = park_tenant(&node, Default::default()).await;
    let (call, code) = parked(&mut c, "101", None).await;
    let out = c.dial(T, "102", &format!("*71{code}")).await;
    let out = as_retrieve(&out);
    assert_eq!((out.result(), out.call_id), (Retrieved, call));
    assert_eq!(c.call_info(T, call).await.answered_by, "102");
    assert!(c.list_parked(T).await.is_empty());
}

#[tokio::test]
async fn retrieve_failures_each_have_their_own_reason() {
    let node = TestNode::start(1.0);
    let mut c = park_tenant(&node, Default::default()).await;
    assert_eq!(c.retrieve(T, "102", 50).await.result(), UnknownCode);
    assert_eq!(
        as_retrieve(&c.dial(T, "102", "*7150").await).result(),
        UnknownCode
    );

    let (twice, code) = parked(&mut c, "101", None).await;
    assert_eq!(
        c.retrieve(T, "105", code).await.result(),
        api::RetrieveResult::NoParkPolicy
    );
    assert_eq!(c.retrieve(T, "106", code).await.result(), OtherParkGroup);
    assert_eq!(
        c.call_info(T, twice).await.state(),
        api::CallState::Parked,
        "refusals change nothing"
    );
    assert_eq!(c.retrieve(T, "102", code).await.result(), Retrieved);
    assert_eq!(c.retrieve(T, "103", code).await.result(), AlreadyAnswered);
    assert_eq!(c.call_info(T, twice).await.answered_by, "102");

    let (ended, code) = parked(&mut c, "103", Some(20)).await;
    let hangup = c.hangup(T, ended, ext("109")).await;
    assert_eq!(
        (hangup.result(), hangup.reason()),
        (api::HangupResult::Ended, api::EndReason::HungUp)
    );
    assert_eq!(c.retrieve(T, "104", code).await.result(), CallEnded);
}

#[tokio::test]
async fn list_parked_shows_every_parked_call_with_its_code_policy_and_parker() {
    let node = TestNode::start(1.0);
    let mut c = park_tenant(&node, Default::default()).await;
    let (high, _) = parked(&mut c, "101", Some(42)).await;
    let (low, _) = parked(&mut c, "102", None).await;
    let (dock, _) = parked(&mut c, "106", None).await;
    let mut list = c.list_parked(T).await;
    list.sort_by_key(|p| p.code);
    let rows: Vec<_> = list
        .iter()
        .map(|p| {
            (
                p.code,
                p.call_id,
                p.policy.as_str(),
                p.parked_by.as_str(),
                p.ringing_back,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (10, low, "lobby", "102", false),
            (42, high, "lobby", "101", false),
            (100, dock, "dock", "106", false)
        ]
    );
    assert!(
        list.iter()
            .all(|p| p.caller == Some(ext("109")) && p.ring_back_at_ms == p.since_ms + 300_000)
    );
}

#[tokio::test]
async fn list_parked_is_in_code_order() {
    let node = TestNode::start(1.0);
    let mut c = park_tenant(&node, Default::default()).await;
    parked(&mut c, "101", Some(42)).await;
    parked(&mut c, "102", None).await;
    let codes: Vec<u32> = c.list_parked(T).await.iter().map(|p| p.code).collect();
    assert_eq!(codes, [10, 42]);
}

#[tokio::test]
async fn unretrieved_park_rings_back_the_parker_who_can_answer_it() {
    // Scaled 0.01: the 120 s park timeout is 1.2 s; a 600 s ring is 6 s.
    let node = TestNode::start(0.01);
    let mut c = park_tenant(
        &node,
        api::TenantConfig {
            ring_timeout_secs: 600,
            ..Default::default()
        },
    )
    .await;
    let policy = api::ParkPolicy {
        name: "lobby".into(),
        timeout_secs: 120,
        ..Default::default()
    };
    c.try_put_park_policy(T, policy).await.unwrap();
    let mut parker = c.notifications(T, "101").await;
    let (call, code) = parked(&mut c, "101", None).await;
    assert_eq!(next_ring_back(&mut parker, call).await.code, code);
    assert_eq!(
        next_alert(&mut parker, call).await.reason(),
        api::AlertReason::RingBack
    );
    let info = c.call_info(T, call).await;
    assert_eq!(info.state(), api::CallState::Parked);
    assert_eq!(
        info.alerting
            .iter()
            .map(|a| (a.extension.as_str(), a.reason()))
            .collect::<Vec<_>>(),
        [("101", api::AlertReason::RingBack)]
    );
    assert!(c.list_parked(T).await[0].ringing_back);

    assert_eq!(
        c.answer(T, call, "102").await.result(),
        api::AnswerResult::NotAlerting
    );
    let answer = c.answer(T, call, "101").await;
    assert_eq!(
        (answer.result(), answer.how()),
        (api::AnswerResult::Answered, api::AnswerHow::RingBack)
    );
    let info = c.call_info(T, call).await;
    assert_eq!(
        (info.state(), info.answered_by.as_str()),
        (api::CallState::Answered, "101")
    );
    assert_eq!(c.retrieve(T, "102", code).await.result(), AlreadyAnswered);
}

#[tokio::test]
async fn unanswered_ring_back_ends_the_call() {
    // Scaled 0.01: park timeout 1.2 s, then the default 30 s ring is 0.3 s.
    let node = TestNode::start(0.01);
    let mut c = park_tenant(&node, Default::default()).await;
    let policy = api::ParkPolicy {
        name: "lobby".into(),
        timeout_secs: 120,
        ..Default::default()
    };
    c.try_put_park_policy(T, policy).await.unwrap();
    let mut parker = c.notifications(T, "101").await;
    let (call, code) = parked(&mut c, "101", None).await;
    next_ring_back(&mut parker, call).await;
    let info = c
        .wait_for_call(T, call, "the ring-back to end", |i| {
            i.state() == api::CallState::Ended
        })
        .await;
    assert_eq!(info.end_reason(), api::EndReason::RingBackUnanswered);
    assert_eq!(next_alert_stopped(&mut parker, call).await.answered_by, "");
    assert_eq!(c.retrieve(T, "102", code).await.result(), CallEnded);
    assert!(c.list_parked(T).await.is_empty());
}
