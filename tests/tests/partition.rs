//! Real partitions (network namespaces): the minority side decides nothing
//! and answers with a retryable error; the majority goes on with one winner.

use std::time::Duration;

use callgrid_tests::cluster::{TestCluster, assert_one_winner, race_round, racing_tenant};
use callgrid_tests::netns::{self, Netns};
use callgrid_tests::prereq;
use callgrid_tests::{api, ext};

const T: &str = "acme";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_isolated_leader_decides_nothing_and_the_majority_carries_on() {
    if !prereq::needs_that(prereq::NETNS, Netns::available(), netns::UNAVAILABLE) {
        return;
    }
    let net = Netns::create((std::process::id() % 40) as u8 * 5 + 3, 3);
    let cluster = TestCluster::start_in(Some(&net), 3, 1.0, &[]).await;
    let leader = cluster.leader(0).await;
    let majority: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let mut minority = cluster.clients(leader).await;
    let mut c = cluster.clients(majority[0]).await;
    let pickers = racing_tenant(&mut c, T, 8).await;
    let ringing = c.ring(T, "200", "100").await;

    net.isolate(leader);
    cluster
        .wait_converged(&majority, Duration::from_secs(30))
        .await;

    // The cut-off node answers a retryable error and decides nothing.
    let mut req = tonic::Request::new(api::DirectedPickupRequest {
        tenant: T.into(),
        picker: "101".into(),
        target: "100".into(),
    });
    req.set_timeout(Duration::from_secs(20));
    let status = minority
        .pickup
        .directed_pickup(req)
        .await
        .expect_err("the minority decides nothing");
    assert!(
        matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
        ),
        "retryable: {status}"
    );
    let info = c.call_info(T, ringing).await;
    assert_eq!(
        info.state,
        api::CallState::Ringing as i32,
        "the call still rings"
    );
    // The caller gives up on it: it ends unanswered.
    let bye = c
        .calls
        .hangup(api::HangupRequest {
            tenant: T.into(),
            call_id: ringing,
            by: Some(ext("200")),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        bye.reason,
        api::EndReason::Cancelled as i32,
        "never answered: {bye:?}"
    );

    // The majority decides, with one winner.
    let mut racers = Vec::new();
    for (i, p) in pickers.iter().enumerate() {
        racers.push((cluster.clients(majority[i % 2]).await, p.clone()));
    }
    let (call, results) = race_round(&mut c, &racers, T).await;
    assert_one_winner(&mut c, T, call, &results, &racers).await;

    net.heal(leader);
    cluster
        .wait_converged(&[0, 1, 2], Duration::from_secs(30))
        .await;
    // After healing, what the minority was asked did not happen.
    let info = c.call_info(T, ringing).await;
    assert_eq!(info.end_reason, api::EndReason::Cancelled as i32);
    assert!(
        info.answered_by.is_empty(),
        "the minority's pickup never took effect: {info:?}"
    );
    c.calls
        .hangup(api::HangupRequest {
            tenant: T.into(),
            call_id: call,
            by: Some(ext("200")),
        })
        .await
        .unwrap();
}
