//! A real 3-node cluster on loopback: membership, routing from any node,
//! exactly one winner across nodes, failover of shards and timers.

use std::time::Duration;

use callgrid_tests::cluster::{TestCluster, assert_one_winner, hang_up, race_round, racing_tenant};
use callgrid_tests::{Clients, api, eventually, next_matching};

const T: &str = "acme";

/// 16 racers spread over the nodes in `on`, each on its own connection.
async fn racers_on(
    cluster: &TestCluster,
    on: &[usize],
    pickers: &[String],
) -> Vec<(Clients, String)> {
    let mut racers = Vec::new();
    for (i, p) in pickers.iter().enumerate() {
        racers.push((cluster.clients(on[i % on.len()]).await, p.clone()));
    }
    racers
}

/// 101 and 102 get the park policy "lobby"; 200 calls 101, who answers and
/// parks the call. Returns the call and its acknowledged park code.
async fn answered_and_parked(c: &mut Clients) -> (u64, u32) {
    let policy = api::ParkPolicy {
        name: "lobby".into(),
        ..Default::default()
    };
    c.directory
        .put_park_policy(api::PutParkPolicyRequest {
            tenant: T.into(),
            policy: Some(policy),
        })
        .await
        .unwrap();
    for n in ["101", "102"] {
        let grant = api::GrantParkPolicyRequest {
            tenant: T.into(),
            number: n.into(),
            policy: "lobby".into(),
        };
        c.directory.grant_park_policy(grant).await.unwrap();
    }
    let call = c.ring(T, "200", "101").await;
    let answer = api::AnswerRequest {
        tenant: T.into(),
        call_id: call,
        by: "101".into(),
    };
    c.calls.answer(answer).await.unwrap();
    let park = api::ParkRequest {
        tenant: T.into(),
        call_id: call,
        by: "101".into(),
        code: None,
    };
    let park = c.park.park(park).await.unwrap().into_inner();
    assert_eq!(park.result, api::ParkResult::Parked as i32);
    (call, park.code)
}

/// Waits (bounded) for `call`'s ring timeout to end it unanswered.
async fn ends_unanswered(c: &Clients, call: u64) {
    let ended = eventually(Duration::from_secs(20), "the ring timeout", || {
        let mut c = c.clone();
        async move {
            let info = c.call_info(T, call).await;
            (info.state == api::CallState::Ended as i32).then_some(info)
        }
    })
    .await;
    assert_eq!(ended.end_reason, api::EndReason::NoAnswer as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_join_share_the_shards_and_agree_on_a_leader() {
    let cluster = TestCluster::start(3, 1.0).await;
    for i in 0..3 {
        let s = cluster.status(i).await.unwrap();
        assert_eq!(s.membership.len(), 3);
        assert!(
            s.membership.iter().all(|m| m.voter),
            "three nodes, three voters"
        );
        let shards: Vec<u32> = s.membership.iter().map(|m| m.shards).collect();
        assert_eq!(shards.iter().sum::<u32>(), 64);
        assert!(
            shards.iter().all(|n| (21..=22).contains(n)),
            "even shares: {shards:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn any_node_accepts_any_request_and_streams_presence() {
    let cluster = TestCluster::start(3, 1.0).await;
    let mut n1 = cluster.clients(0).await;
    let mut n2 = cluster.clients(1).await;
    let mut n3 = cluster.clients(2).await;
    n2.tenant_with(T, &["101", "102", "103"]).await;
    let mut lamps = eventually(Duration::from_secs(10), "the tenant on node 1", || {
        let mut n1 = n1.clone();
        async move {
            let req = api::WatchLampsRequest {
                tenant: T.into(),
                watcher: "101".into(),
                extensions: vec!["102".into()],
                park_codes: vec![],
            };
            n1.presence
                .watch_lamps(req)
                .await
                .ok()
                .map(|r| r.into_inner())
        }
    })
    .await;
    next_matching(&mut lamps, Duration::from_secs(10), |e: &api::LampEvent| {
        e.state == api::LampState::Idle as i32
    })
    .await;
    let call = n3.ring(T, "103", "102").await;
    let ringing = next_matching(&mut lamps, Duration::from_secs(10), |e: &api::LampEvent| {
        e.state == api::LampState::Ringing as i32
    })
    .await;
    assert_eq!(ringing.call_id, Some(call));
    let out = n1
        .pickup
        .directed_pickup(api::DirectedPickupRequest {
            tenant: T.into(),
            picker: "101".into(),
            target: "102".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.result, api::PickupResult::PickedUp as i32);
    next_matching(&mut lamps, Duration::from_secs(10), |e: &api::LampEvent| {
        e.state == api::LampState::Idle as i32
    })
    .await;
    // Node 1 answered after applying the pickup; node 2 applies it within a
    // heartbeat (reads are served from each node's applied state).
    let seen = eventually(
        Duration::from_secs(10),
        "node 2 to apply the pickup",
        || {
            let mut n2 = n2.clone();
            async move {
                let info = n2.call_info(T, call).await;
                (!info.answered_by.is_empty()).then_some(info)
            }
        },
    )
    .await;
    assert_eq!(seen.answered_by, "101");
    assert_eq!(
        n1.call_info(T, call).await.answered_by,
        "101",
        "read your writes on the node written through"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racers_on_different_nodes_get_exactly_one_winner() {
    let cluster = TestCluster::start(3, 1.0).await;
    let mut c = cluster.clients(0).await;
    let pickers = racing_tenant(&mut c, T, 16).await;
    let racers = racers_on(&cluster, &[0, 1, 2], &pickers).await;
    for round in 0..20 {
        let mut dialer = cluster.clients(round % 3).await;
        let (call, results) = race_round(&mut dialer, &racers, T).await;
        assert!(
            results.iter().all(Result::is_ok),
            "no errors in a healthy cluster: {results:?}"
        );
        assert_one_winner(&mut c, T, call, &results, &racers).await;
        hang_up(&mut dialer, T, call).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_crash_keeps_one_winner_and_acknowledged_parks() {
    let mut cluster = TestCluster::start(3, 1.0).await;
    let leader = cluster.leader(0).await;
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let mut c = cluster.clients(survivors[0]).await;
    let pickers = racing_tenant(&mut c, T, 16).await;
    let (parked, code) = answered_and_parked(&mut c).await;

    cluster.nodes[leader].kill();
    cluster
        .wait_converged(&survivors, Duration::from_secs(30))
        .await;

    let racers = racers_on(&cluster, &survivors, &pickers[2..]).await;
    for _ in 0..10 {
        let (call, results) = race_round(&mut c, &racers, T).await;
        assert_one_winner(&mut c, T, call, &results, &racers).await;
        hang_up(&mut c, T, call).await;
    }
    let mut other = cluster.clients(survivors[1]).await;
    let got = other
        .park
        .retrieve(api::RetrieveRequest {
            tenant: T.into(),
            by: "102".into(),
            code,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        got.result,
        api::RetrieveResult::Retrieved as i32,
        "the acknowledged park survived the leader"
    );
    assert_eq!(got.call_id, parked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn owner_crash_moves_its_shards_and_ringing_timers_still_fire() {
    // 0.1 scale: the 30 s ring timeout becomes 3 s.
    let mut cluster = TestCluster::start(3, 0.1).await;
    let owner = cluster.owner_of(0, &format!("{T}/ext/100")).await;
    let other = (owner + 1) % 3;
    let mut c = cluster.clients(other).await;
    racing_tenant(&mut c, T, 2).await;
    let call = c.ring(T, "200", "100").await;
    cluster.nodes[owner].kill();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != owner).collect();
    cluster
        .wait_converged(&survivors, Duration::from_secs(30))
        .await;
    assert_ne!(
        cluster.owner_of(other, &format!("{T}/ext/100")).await,
        owner,
        "the shard moved"
    );
    ends_unanswered(&c, call).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_owner_loses_its_shards_and_one_winner_still_holds_after_it_resumes() {
    let cluster = TestCluster::start(3, 1.0).await;
    let owner = cluster.owner_of(0, &format!("{T}/ext/100")).await;
    let survivors: Vec<usize> = (0..3).filter(|i| *i != owner).collect();
    let mut c = cluster.clients(survivors[0]).await;
    let pickers = racing_tenant(&mut c, T, 16).await;
    cluster.nodes[owner].signal("STOP");
    let observer = survivors[0];
    eventually(
        Duration::from_secs(30),
        "the paused owner's shards to move",
        || {
            let cluster = &cluster;
            async move {
                (cluster.owner_of(observer, &format!("{T}/ext/100")).await != owner).then_some(())
            }
        },
    )
    .await;
    let racers = racers_on(&cluster, &survivors, &pickers).await;
    for _ in 0..5 {
        let (call, results) = race_round(&mut c, &racers, T).await;
        assert_one_winner(&mut c, T, call, &results, &racers).await;
        hang_up(&mut c, T, call).await;
    }
    cluster.nodes[owner].signal("CONT");
    cluster
        .wait_converged(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let racers = racers_on(&cluster, &[0, 1, 2], &pickers).await;
    for _ in 0..5 {
        let (call, results) = race_round(&mut c, &racers, T).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_one_winner(&mut c, T, call, &results, &racers).await;
        hang_up(&mut c, T, call).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_cluster_restart_keeps_the_directory_and_parked_calls() {
    let mut cluster = TestCluster::start(3, 1.0).await;
    let mut c = cluster.clients(1).await;
    racing_tenant(&mut c, T, 2).await;
    let (call, code) = answered_and_parked(&mut c).await;
    for node in cluster.nodes.iter_mut() {
        node.kill();
    }
    for node in cluster.nodes.iter_mut() {
        node.restart();
    }
    cluster
        .wait_converged(&[0, 1, 2], Duration::from_secs(60))
        .await;
    let mut c = cluster.clients(2).await;
    let ext = c
        .directory
        .get_extension(api::GetExtensionRequest {
            tenant: T.into(),
            number: "102".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ext.extension.is_some());
    let got = c
        .park
        .retrieve(api::RetrieveRequest {
            tenant: T.into(),
            by: "102".into(),
            code,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.result, api::RetrieveResult::Retrieved as i32);
    assert_eq!(got.call_id, call, "the parked call itself came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removing_a_node_hands_off_its_shards_first() {
    let cluster = TestCluster::start(3, 1.0).await;
    let mut c = cluster.clients(0).await;
    let victim = (cluster.leader(0).await + 1) % 3;
    c.cluster
        .remove_node(api::RemoveNodeRequest {
            node_id: victim as u64 + 1,
        })
        .await
        .unwrap();
    let rest: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
    let s = cluster.wait_converged(&rest, Duration::from_secs(30)).await;
    assert_eq!(s.membership.len(), 2);
    assert!(s.shard_owners.iter().all(|o| *o != victim as u64 + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_hands_a_nodes_shards_off_before_it_exits() {
    let mut cluster = TestCluster::start(3, 0.1).await;
    let owner = cluster.owner_of(0, &format!("{T}/ext/100")).await;
    let other = (owner + 1) % 3;
    let mut c = cluster.clients(other).await;
    racing_tenant(&mut c, T, 2).await;
    let call = c.ring(T, "200", "100").await;
    let status = cluster.nodes[owner].terminate();
    assert!(status.success(), "a clean exit");
    assert!(
        cluster.nodes[owner].log().contains("shards handed off"),
        "{}",
        cluster.nodes[owner].log()
    );
    // Handed off before the exit: the leaving node saw the new map applied
    // (its log line). A survivor that follows learns the commit with the
    // next heartbeat (100 ms), so it holds every shard within a second of
    // the exit, sooner than a node's shards are taken when it is seen down
    // (2 s without its pings): the hand-off did it, not a failover.
    eventually(
        Duration::from_secs(1),
        "the survivors to hold every shard",
        || async {
            let s = cluster.status(other).await?;
            s.shard_owners
                .iter()
                .all(|o| *o != owner as u64 + 1)
                .then_some(())
        },
    )
    .await;
    // And the moved call's ring timeout (3 s here) still fires on its new owner.
    ends_unanswered(&c, call).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn owners_placed_on_the_leader_follow_it_and_keep_one_winner_and_timers() {
    // 0.1 scale: the 30 s ring timeout becomes 3 s.
    let mut cluster = TestCluster::start_with(3, 0.1, &["--shard-placement", "leader"]).await;
    let leader = cluster.leader(0).await;
    assert_eq!(
        cluster.owner_of(0, &format!("{T}/ext/100")).await,
        leader,
        "the leader owns every shard"
    );
    let mut c = cluster.clients((leader + 1) % 3).await;
    let pickers = racing_tenant(&mut c, T, 16).await;
    let racers = racers_on(&cluster, &[0, 1, 2], &pickers[..8]).await;
    for _ in 0..5 {
        let (call, results) = race_round(&mut c, &racers, T).await;
        assert_one_winner(&mut c, T, call, &results, &racers).await;
        hang_up(&mut c, T, call).await;
    }

    // A call rings; its owner, the leader, dies. The new leader gathers the
    // shards, rebuilds the call's ring timer, and decides the next races.
    let ringing = c.ring(T, "200", "100").await;
    cluster.nodes[leader].kill();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let status = cluster
        .wait_converged(&survivors, Duration::from_secs(30))
        .await;
    let new_leader = status.leader_id.expect("a leader") as usize - 1;
    assert_ne!(new_leader, leader);
    assert_eq!(
        cluster
            .owner_of(survivors[0], &format!("{T}/ext/100"))
            .await,
        new_leader,
        "the shards followed the new leader"
    );
    ends_unanswered(&c, ringing).await;
    let racers = racers_on(&cluster, &survivors, &pickers[8..]).await;
    for _ in 0..5 {
        let (call, results) = race_round(&mut c, &racers, T).await;
        assert_one_winner(&mut c, T, call, &results, &racers).await;
        hang_up(&mut c, T, call).await;
    }
}
