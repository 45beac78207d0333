//! Pickup over gRPC: directed (`*97<ext>`), group (`*98`), named
//! (`88<name>`) and BLF, each failure reason, notifications, and tenant
//! isolation (DESIGN §1 Directed pickup, Legacy / named groups; §3.3).

use callgrid_tests::{
    Clients, TestNode, api, as_pickup, extension, member, next_alert, next_alert_stopped,
    next_missed_call,
};

const T: &str = "acme";
use api::PickupResult::{
    AlreadyAnswered, InvalidExtension, NoAlertingCall, NotPermitted, PickedUp,
};

async fn put(c: &mut Clients, number: &str, f: impl FnOnce(&mut api::Extension)) {
    let mut record = extension(number);
    f(&mut record);
    c.put_extension(T, record).await;
}

fn legacy(groups: &[&str]) -> Vec<String> {
    groups.iter().map(|g| g.to_string()).collect()
}

async fn still_rings(c: &mut Clients, call: u64, on: &str) {
    let info = c.call_info(T, call).await;
    assert_eq!(
        info.state(),
        api::CallState::Ringing,
        "call {call} still rings"
    );
    assert!(
        info.alerting.iter().any(|a| a.extension == on),
        "call {call} still alerts {on}"
    );
}

#[tokio::test]
async fn directed_pickup_answers_the_call_ringing_on_the_target() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103"]).await;
    let call = c.ring(T, "103", "102").await;
    let out = c.directed_pickup(T, "101", "102").await;
    assert_eq!(
        (out.result(), out.call_id, out.from.as_str(), out.how()),
        (PickedUp, call, "102", api::AnswerHow::DirectedPickup)
    );
    let info = c.call_info(T, call).await;
    assert_eq!(
        (info.state(), info.answered_by.as_str(), info.how()),
        (
            api::CallState::Answered,
            "101",
            api::AnswerHow::DirectedPickup
        )
    );
}

#[tokio::test]
async fn dialling_star97_and_the_extension_picks_up_its_ringing_call() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103"]).await;
    let call = c.ring(T, "103", "102").await;
    let out = c.dial(T, "101", "*97102").await;
    let out = as_pickup(&out);
    assert_eq!(
        (out.result(), out.call_id, out.how()),
        (PickedUp, call, api::AnswerHow::DirectedPickup)
    );
    assert_eq!(c.call_info(T, call).await.answered_by, "101");
}

#[tokio::test]
async fn group_pickup_takes_the_call_ringing_longest_across_all_the_pickers_groups() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["104", "105"]).await;
    put(&mut c, "101", |r| {
        r.legacy_pickup_groups = legacy(&["1", "2"])
    })
    .await;
    put(&mut c, "102", |r| r.legacy_pickup_groups = legacy(&["2"])).await;
    put(&mut c, "103", |r| r.legacy_pickup_groups = legacy(&["1"])).await;
    let older_in_2 = c.ring(T, "105", "102").await;
    let newer_in_1 = c.ring(T, "104", "103").await;
    let first = c.dial(T, "101", "*98").await;
    let first = as_pickup(&first);
    assert_eq!(
        (
            first.result(),
            first.call_id,
            first.from.as_str(),
            first.how()
        ),
        (PickedUp, older_in_2, "102", api::AnswerHow::GroupPickup),
        "the group-2 call has rung longest, though group 1 is listed first"
    );
    let second = c.group_pickup(T, "101").await;
    assert_eq!(
        (second.result(), second.call_id, second.from.as_str()),
        (PickedUp, newer_in_1, "103")
    );
    assert_eq!(
        c.group_pickup(T, "101").await.result(),
        AlreadyAnswered,
        "both were just taken"
    );
}

#[tokio::test]
async fn group_pickup_takes_the_call_ringing_longest() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["104", "105"]).await;
    for n in ["101", "102", "103"] {
        put(&mut c, n, |r| r.legacy_pickup_groups = legacy(&["desk"])).await;
    }
    let older = c.ring(T, "104", "103").await;
    let newer = c.ring(T, "105", "102").await;
    assert_eq!(c.group_pickup(T, "101").await.call_id, older);
    assert_eq!(c.group_pickup(T, "101").await.call_id, newer);
}

#[tokio::test]
async fn random_selection_picks_one_of_the_candidates_not_always_the_oldest() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    let config = api::TenantConfig {
        pickup_selection: api::PickupSelection::Random as i32,
        ..Default::default()
    };
    c.tenant_with(T, &[]).await;
    c.put_tenant(T, config).await;
    c.put_extension(T, extension("109")).await;
    for n in ["101", "102", "103"] {
        put(&mut c, n, |r| r.legacy_pickup_groups = legacy(&["desk"])).await;
    }
    // Each pick is uniform over two candidates: 2^-20 to see only the oldest.
    let mut took_newer = false;
    for _ in 0..20 {
        let older = c.ring(T, "109", "102").await;
        let newer = c.ring(T, "109", "103").await;
        let out = c.group_pickup(T, "101").await;
        assert_eq!(out.result(), PickedUp);
        assert!(
            [older, newer].contains(&out.call_id),
            "picked {} of {older}, {newer}",
            out.call_id
        );
        took_newer |= out.call_id == newer;
        for call in [older, newer] {
            c.hangup(T, call, callgrid_tests::ext("109")).await;
        }
        if took_newer {
            break;
        }
    }
    assert!(took_newer, "RANDOM always took the oldest call");
}

#[tokio::test]
async fn named_pickup_by_88name_and_by_api_takes_a_call_of_the_named_group() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["105"]).await;
    put(&mut c, "102", |r| r.call_groups = "sales,support".into()).await;
    put(&mut c, "101", |r| r.pickup_groups = "support".into()).await;
    let first = c.ring(T, "105", "102").await;
    let out = c.dial(T, "101", "88support").await;
    let out = as_pickup(&out);
    assert_eq!(
        (out.result(), out.call_id, out.how()),
        (PickedUp, first, api::AnswerHow::NamedPickup)
    );
    let second = c.ring(T, "105", "102").await;
    let out = c.named_pickup(T, "101", "support").await;
    assert_eq!(
        (out.result(), out.call_id, out.how()),
        (PickedUp, second, api::AnswerHow::NamedPickup)
    );
    assert_eq!(c.call_info(T, second).await.answered_by, "101");
}

#[tokio::test]
async fn named_mode_group_pickup_takes_calls_whose_call_groups_meet_the_pickers() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["105"]).await;
    put(&mut c, "102", |r| r.call_groups = "billing".into()).await;
    put(&mut c, "103", |r| r.call_groups = "support".into()).await;
    put(&mut c, "101", |r| r.pickup_groups = "sales,support".into()).await;
    let _billing = c.ring(T, "105", "102").await;
    let support = c.ring(T, "105", "103").await;
    let out = c.group_pickup(T, "101").await;
    assert_eq!(
        (out.result(), out.call_id, out.how()),
        (PickedUp, support, api::AnswerHow::GroupPickup)
    );
    assert_eq!(
        c.group_pickup(T, "101").await.result(),
        AlreadyAnswered,
        "billing is not its group"
    );
}

#[tokio::test]
async fn blf_pickup_takes_the_watched_call_with_or_without_its_id() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103", "104"]).await;
    let first = c.ring(T, "103", "102").await;
    let out = c.blf_pickup(T, "101", "102", None).await;
    assert_eq!(
        (out.result(), out.call_id, out.how()),
        (PickedUp, first, api::AnswerHow::DirectedPickup)
    );
    let second = c.ring(T, "103", "104").await;
    let out = c.blf_pickup(T, "101", "104", Some(second)).await;
    assert_eq!((out.result(), out.call_id), (PickedUp, second));
    assert_eq!(
        c.blf_pickup(T, "101", "104", Some(second)).await.result(),
        AlreadyAnswered
    );
}

#[tokio::test]
async fn blf_pickup_with_a_stale_call_id_takes_no_other_call() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103", "104"]).await;
    let shown = c.ring(T, "103", "102").await;
    assert_eq!(c.directed_pickup(T, "104", "102").await.result(), PickedUp);
    let other = c.ring(T, "103", "102").await;
    let out = c.blf_pickup(T, "101", "102", Some(shown)).await;
    assert_eq!(
        out.result(),
        AlreadyAnswered,
        "the lamp's call was taken: {out:?}"
    );
    still_rings(&mut c, other, "102").await;
}

#[tokio::test]
async fn pickup_of_something_that_is_no_extension_of_the_tenant_is_invalid_extension() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103"]).await;
    c.tenant_with("other", &["555"]).await;
    let call = c.ring(T, "103", "102").await;
    assert_eq!(
        c.directed_pickup(T, "101", "999").await.result(),
        InvalidExtension
    );
    assert_eq!(
        c.directed_pickup(T, "101", "555").await.result(),
        InvalidExtension,
        "555 is another tenant's"
    );
    assert_eq!(
        c.directed_pickup(T, "101", "abc").await.result(),
        InvalidExtension
    );
    assert_eq!(
        as_pickup(&c.dial(T, "101", "*97abc").await).result(),
        InvalidExtension
    );
    assert_eq!(
        as_pickup(&c.dial(T, "101", "*97").await).result(),
        InvalidExtension
    );
    assert_eq!(
        c.blf_pickup(T, "101", "999", None).await.result(),
        InvalidExtension
    );
    still_rings(&mut c, call, "102").await;
}

#[tokio::test]
async fn pickup_when_nothing_rings_reports_no_alerting_call() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["102"]).await;
    put(&mut c, "101", |r| {
        r.legacy_pickup_groups = legacy(&["desk"])
    })
    .await;
    put(&mut c, "103", |r| r.pickup_groups = "sales".into()).await;
    assert_eq!(
        c.directed_pickup(T, "101", "102").await.result(),
        NoAlertingCall
    );
    assert_eq!(
        c.blf_pickup(T, "101", "102", None).await.result(),
        NoAlertingCall
    );
    assert_eq!(c.group_pickup(T, "101").await.result(), NoAlertingCall);
    assert_eq!(
        c.named_pickup(T, "103", "sales").await.result(),
        NoAlertingCall
    );
    c.ring(T, "101", "102").await;
    assert_eq!(
        c.directed_pickup(T, "101", "102").await.result(),
        NoAlertingCall,
        "never the picker's own outgoing call"
    );
}

#[tokio::test]
async fn second_pickup_after_a_winner_reports_already_answered() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103", "104"]).await;
    let call = c.ring(T, "103", "102").await;
    assert_eq!(c.directed_pickup(T, "101", "102").await.result(), PickedUp);
    assert_eq!(
        c.directed_pickup(T, "104", "102").await.result(),
        AlreadyAnswered
    );
    assert_eq!(
        as_pickup(&c.dial(T, "104", "*97102").await).result(),
        AlreadyAnswered
    );
    assert_eq!(
        c.answer(T, call, "102").await.result(),
        api::AnswerResult::AlreadyAnswered
    );
    assert_eq!(
        c.call_info(T, call).await.answered_by,
        "101",
        "the winner keeps the call"
    );
}

#[tokio::test]
async fn pickup_without_the_pickers_permission_is_not_permitted() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["105"]).await;
    put(&mut c, "102", |r| {
        r.legacy_pickup_groups = legacy(&["desk"]);
    })
    .await;
    put(&mut c, "103", |r| r.call_groups = "sales".into()).await;
    put(&mut c, "101", |r| {
        r.directed_pickup_allowed = Some(false);
        r.legacy_pickup_groups = legacy(&["desk"]);
    })
    .await;
    put(&mut c, "104", |r| {
        r.group_pickup_allowed = Some(false);
        r.legacy_pickup_groups = legacy(&["desk"]);
    })
    .await;
    put(&mut c, "106", |r| {
        r.group_pickup_allowed = Some(false);
        r.pickup_groups = "sales".into();
    })
    .await;
    let legacy_call = c.ring(T, "105", "102").await;
    let named_call = c.ring(T, "105", "103").await;
    assert_eq!(
        c.directed_pickup(T, "101", "102").await.result(),
        NotPermitted
    );
    assert_eq!(
        c.blf_pickup(T, "101", "102", Some(legacy_call))
            .await
            .result(),
        NotPermitted
    );
    assert_eq!(
        as_pickup(&c.dial(T, "101", "*97102").await).result(),
        NotPermitted
    );
    assert_eq!(c.group_pickup(T, "104").await.result(), NotPermitted);
    assert_eq!(
        as_pickup(&c.dial(T, "104", "*98").await).result(),
        NotPermitted
    );
    assert_eq!(
        c.named_pickup(T, "106", "sales").await.result(),
        NotPermitted
    );
    assert_eq!(
        as_pickup(&c.dial(T, "106", "88sales").await).result(),
        NotPermitted
    );
    still_rings(&mut c, legacy_call, "102").await;
    still_rings(&mut c, named_call, "103").await;
}

#[tokio::test]
async fn named_pickup_of_a_name_outside_the_pickers_pickup_groups_is_not_permitted() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["105"]).await;
    put(&mut c, "102", |r| r.call_groups = "sales,support".into()).await;
    put(&mut c, "101", |r| r.pickup_groups = "support".into()).await;
    put(&mut c, "104", |r| {
        r.legacy_pickup_groups = legacy(&["sales"])
    })
    .await;
    let call = c.ring(T, "105", "102").await;
    assert_eq!(
        c.named_pickup(T, "101", "sales").await.result(),
        NotPermitted
    );
    assert_eq!(
        c.named_pickup(T, "101", "Support").await.result(),
        NotPermitted,
        "names are case-sensitive"
    );
    assert_eq!(
        c.named_pickup(T, "104", "sales").await.result(),
        NotPermitted,
        "a legacy group is no pickup group"
    );
    still_rings(&mut c, call, "102").await;
}

#[tokio::test]
async fn named_and_legacy_mode_users_cannot_group_pick_up_each_other() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["105"]).await;
    // 101: legacy picker in desk. 102: in desk but named mode (has a call group).
    put(&mut c, "101", |r| {
        r.legacy_pickup_groups = legacy(&["desk"])
    })
    .await;
    put(&mut c, "102", |r| {
        r.legacy_pickup_groups = legacy(&["desk"]);
        r.call_groups = "sales".into();
    })
    .await;
    // 103: named picker (also listed in desk, ignored in named mode). 104: legacy callee in desk.
    put(&mut c, "103", |r| {
        r.legacy_pickup_groups = legacy(&["desk"]);
        r.pickup_groups = "sales".into();
    })
    .await;
    put(&mut c, "104", |r| {
        r.legacy_pickup_groups = legacy(&["desk"])
    })
    .await;
    let named_call = c.ring(T, "105", "102").await;
    assert_eq!(
        c.group_pickup(T, "101").await.result(),
        NotPermitted,
        "legacy picker vs named-mode callee"
    );
    still_rings(&mut c, named_call, "102").await;
    c.hangup(T, named_call, callgrid_tests::ext("105")).await;
    let legacy_call = c.ring(T, "105", "104").await;
    assert_eq!(
        c.group_pickup(T, "103").await.result(),
        NotPermitted,
        "named picker vs legacy callee"
    );
    still_rings(&mut c, legacy_call, "104").await;
}

#[tokio::test]
async fn picked_up_call_stops_alerting_everywhere_and_tells_the_callee_who_answered() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103", "104", "105"]).await;
    let members = vec![
        member("103", api::AlertMode::Visual),
        member("104", api::AlertMode::Banner),
    ];
    c.put_call_group(
        T,
        api::CallGroup {
            owner: "102".into(),
            members,
            ..Default::default()
        },
    )
    .await;
    let mut streams = Vec::new();
    for n in ["102", "103", "104"] {
        streams.push((n, c.notifications(T, n).await));
    }
    let mut callee_missed = c.notifications(T, "102").await;
    let call = c.ring(T, "105", "102").await;
    for (_, s) in streams.iter_mut() {
        next_alert(s, call).await;
    }
    assert_eq!(c.directed_pickup(T, "101", "103").await.result(), PickedUp);
    for (n, s) in streams.iter_mut() {
        assert_eq!(
            next_alert_stopped(s, call).await.answered_by,
            "101",
            "{n} stopped, naming the answerer"
        );
    }
    let missed = next_missed_call(&mut callee_missed, call).await;
    assert_eq!(missed.answered_by, "101");
    assert_eq!(missed.how(), api::AnswerHow::DirectedPickup);
    assert_eq!(missed.caller, Some(callgrid_tests::ext("105")));
    let info = c.call_info(T, call).await;
    assert_eq!(info.rang_on, ["102", "103", "104"]);
}

#[tokio::test]
async fn another_tenants_call_answers_every_rpc_as_a_call_that_does_not_exist() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["102", "103"]).await;
    c.tenant_with("other", &["201", "102"]).await;
    let call = c.ring(T, "103", "102").await;
    let nowhere = call + 1_000_000;
    // Each request with T's live call gets exactly the answer it gets with
    // an id that exists nowhere: the other tenant learns nothing.
    for id in [call, nowhere] {
        assert_eq!(
            c.blf_pickup("other", "201", "102", Some(id)).await.result(),
            NoAlertingCall,
            "blf pickup of {id}"
        );
        for by in ["102", "201"] {
            assert_eq!(
                c.answer("other", id, by).await.result(),
                api::AnswerResult::UnknownCall,
                "answer of {id} by {by}"
            );
        }
        assert_eq!(
            c.hangup("other", id, callgrid_tests::ext("103"))
                .await
                .result(),
            api::HangupResult::UnknownCall,
            "hangup of {id}"
        );
        let park = c.park_call("other", id, "102", None).await;
        assert_eq!(park.result(), api::ParkResult::UnknownCall, "park of {id}");
    }
    assert_eq!(
        c.directed_pickup("other", "201", "102").await.result(),
        NoAlertingCall,
        "other's 102 rings nothing"
    );
    let get = c
        .calls
        .get_call(api::GetCallRequest {
            tenant: "other".into(),
            call_id: call,
        })
        .await;
    callgrid_tests::assert_refused(get, tonic::Code::NotFound, &["call_id"]);
    still_rings(&mut c, call, "102").await;
    assert_eq!(
        c.directed_pickup(T, "103", "102").await.result(),
        NoAlertingCall,
        "the caller's own call"
    );
}
