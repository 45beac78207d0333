//! A leader left alone (DESIGN §3.1, §3.5): with both followers SIGKILLed,
//! a pickup through it is answered either "outcome unknown" (it was
//! appended and may commit later) or "not decided" (it certainly was not
//! proposed), never a message claiming both; once it knows it is alone,
//! "not decided". (How soon it answers is measured in benches/, not
//! bounded here.) Once the followers are back, a retry with the
//! same request id learns the real outcome, and a request that was "not
//! decided" indeed changed nothing.

use std::time::{Duration, Instant};

use callgrid_proto::retry::{
    NOT_DECIDED_PREFIX, OUTCOME_UNKNOWN_PREFIX, is_not_decided, is_outcome_unknown, with_request_id,
};
use callgrid_tests::api;
use callgrid_tests::cluster::TestCluster;

const T: &str = "acme";

/// Retries a pickup with the same id while the answer is undecided, as a
/// client would, for at most `within`.
async fn pickup_until_decided(
    c: &mut callgrid_tests::Clients,
    picker: &str,
    id: &str,
    within: Duration,
) -> api::PickupResponse {
    let deadline = Instant::now() + within;
    loop {
        match c
            .pickup
            .directed_pickup(with_request_id(directed(picker), id))
            .await
        {
            Ok(r) => return r.into_inner(),
            Err(s)
                if (is_not_decided(&s) || is_outcome_unknown(&s)) && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(s) => panic!("{id}: not decided within {within:?}: {s:?}"),
        }
    }
}

/// `rpc`'s answer, failing the test if there is none within a minute: a
/// lone leader must answer, not hang.
async fn answered<T>(
    rpc: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<tonic::Response<T>, tonic::Status> {
    tokio::time::timeout(Duration::from_secs(60), rpc)
        .await
        .expect("a lone leader answers")
}

fn directed(picker: &str) -> api::DirectedPickupRequest {
    api::DirectedPickupRequest {
        tenant: T.into(),
        picker: picker.into(),
        target: "102".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_leader_answers_undecided_and_a_retry_with_the_same_id_learns_the_real_outcome() {
    // Timers ten times slower: the call rings for 300 s, far longer than
    // the followers take to come back.
    let mut cluster = TestCluster::start_with(3, 10.0, &["--shard-placement", "leader"]).await;
    let leader = cluster.leader(0).await;
    let mut c = cluster.clients(leader).await;
    c.tenant_with(T, &["101", "102", "103", "104"]).await;
    let call = c.ring(T, "103", "102").await;

    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for &f in &followers {
        cluster.nodes[f].kill();
    }

    // Sent at once: the leader does not know yet that it is alone. It
    // answers (bounded here only so that a hang fails the test; how soon
    // it answers is the benches' business).
    let first = answered(
        c.pickup
            .directed_pickup(with_request_id(directed("101"), "lone-1")),
    )
    .await
    .expect_err("nothing can be decided without a majority");
    assert!(
        is_outcome_unknown(&first) || is_not_decided(&first),
        "an undecided status that says which kind it is: {first:?}"
    );
    if is_outcome_unknown(&first) {
        assert!(
            first.message().starts_with(OUTCOME_UNKNOWN_PREFIX),
            "{}",
            first.message()
        );
    }

    // Now it knows: a new request is refused at once, certainly undecided.
    let second = answered(
        c.pickup
            .directed_pickup(with_request_id(directed("104"), "lone-2")),
    )
    .await
    .expect_err("still no majority");
    assert!(is_not_decided(&second), "{second:?}");
    assert!(
        second.message().starts_with(NOT_DECIDED_PREFIX),
        "{}",
        second.message()
    );

    for &f in &followers {
        cluster.nodes[f].restart();
    }
    cluster
        .wait_converged(&[0, 1, 2], Duration::from_secs(60))
        .await;
    let leader = cluster.leader(0).await;
    let mut c = cluster.clients(leader).await;

    // The retry learns what became of the first attempt: it won (whether
    // its entry committed when the followers came back, or was dropped
    // and the retry took the still-ringing call).
    let retried = pickup_until_decided(&mut c, "101", "lone-1", Duration::from_secs(30)).await;
    assert_eq!(
        (retried.result(), retried.call_id),
        (api::PickupResult::PickedUp, call),
        "{retried:?}"
    );
    let again = c
        .pickup
        .directed_pickup(with_request_id(directed("101"), "lone-1"))
        .await
        .expect("decided")
        .into_inner();
    assert_eq!(again, retried, "every retry hears the same outcome");
    let info = c.call_info(T, call).await;
    assert_eq!(
        (info.state(), info.answered_by.as_str()),
        (api::CallState::Answered, "101")
    );

    // The refused request took no effect: retried now, it is decided for
    // the first time, and loses to 101.
    let late = pickup_until_decided(&mut c, "104", "lone-2", Duration::from_secs(10)).await;
    assert_eq!(late.result(), api::PickupResult::AlreadyAnswered);
}
