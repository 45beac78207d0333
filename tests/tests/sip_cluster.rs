//! The SIP edge on a 3-node cluster, an edge on every node: a phone is
//! reached through the edge it registered at, whichever edge the call came
//! in at; pickers registered at different edges race for one call with
//! exactly one 200 OK; a phone parks a call held by another edge, and a
//! third edge's phone retrieves it (SIPp plays the phones; without it
//! the test is skipped, or fails in CI).

use std::time::Duration;

use callgrid_tests::cluster::TestCluster;
use callgrid_tests::prereq;
use callgrid_tests::sipp::{self, Phone};
use callgrid_tests::{Clients, api};

const T: &str = "acme";

fn phone_at(cluster: &TestCluster, node: usize, extension: &str) -> Phone {
    Phone::new(
        cluster.nodes[node].sip.expect("every node runs an edge"),
        T,
        extension,
        &format!("secret-{extension}"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_pickup_races_and_park_cross_the_edges_of_a_cluster() {
    if prereq::needs(prereq::SIPP, sipp::ensure_installed()).is_none() {
        return;
    }
    let cluster = TestCluster::start(3, 1.0).await;
    let mut c: Clients = cluster.clients(0).await;
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

    // 101 calls in at node 1's edge; 102 registered at node 2's: the INVITE
    // reaches 102 through its own edge, and 102 answers.
    let p101 = phone_at(&cluster, 0, "101");
    let p102 = phone_at(&cluster, 1, "102");
    // Phones register at the edge they call through: that binding is what
    // vouches for the edge a hop comes from.
    p101.register();
    p102.register();
    let callee = p102.start("answer.xml", "102", &[]);
    let caller = p101.play("call.xml", "102");
    assert!(caller.success, "caller: {caller:?}");
    let callee = callee.wait();
    assert!(callee.success, "callee: {callee:?}");

    // Four pickers, registered at the three edges, race for 101's next call
    // to 102: exactly one 200 OK, joined to the caller through the caller's
    // edge; 102's phone is cancelled naming why.
    let mut watched = c
        .presence
        .notifications(api::NotificationsRequest {
            tenant: T.into(),
            extension: "102".into(),
        })
        .await
        .expect("notifications")
        .into_inner();
    let pickers = [
        phone_at(&cluster, 0, "103"),
        phone_at(&cluster, 1, "104"),
        phone_at(&cluster, 2, "105"),
        phone_at(&cluster, 2, "106"),
    ];
    for p in &pickers {
        p.register();
    }
    let ringing = p102.start("ring_until_cancelled.xml", "102", &[]);
    let caller = p101.start("call_answered_elsewhere.xml", "102", &[]);
    ringing.wait_logged("INVITE", Duration::from_secs(10));
    let winner = sipp::race(&pickers, "*97102");
    let caller = caller.wait();
    assert!(caller.success, "caller: {caller:?}");
    let ringing = ringing.wait();
    assert!(ringing.success, "callee: {ringing:?}");
    assert!(
        ringing.log.contains("Call completed elsewhere"),
        "{}",
        ringing.log
    );
    assert_eq!(sipp::answered_by(&mut watched).await, pickers[winner].user);

    // 102 (node 2's edge) parks 101's call (node 1's edge) by a transfer
    // to the park code, relayed to the caller's edge; 105 retrieves it
    // through node 3's edge.
    c.lobby(T, &["102", "105"]).await;
    let parker = p102.start("park_by_transfer.xml", "102", &["-key", "park_code", "*70"]);
    let caller = p101.start("call_parked.xml", "102", &[]);
    let parked = parker.wait();
    assert!(parked.success, "parker: {parked:?}");
    assert!(
        parked.log.contains("MESSAGE parked on 10"),
        "{}",
        parked.log
    );
    caller.wait_logged("HELD a=inactive", Duration::from_secs(10));
    let retriever = pickers[2].play("pickup.xml", "*7110");
    assert!(retriever.log.contains("RESULT 200"), "{retriever:?}");
    let caller = caller.wait();
    assert!(caller.success, "caller: {caller:?}");
}
