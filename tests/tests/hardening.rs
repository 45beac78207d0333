//! Hardening against a caller who is allowed in but means harm, or an
//! operator who expects "deleted" to mean gone: bounded requests and
//! streams, and tenant deletion that leaves nothing behind (issue 13).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use callgrid_tests::{
    Clients, EVENT_TIMEOUT, Node, NodeOptions, TestNode, api, assert_refused, eventually, ext,
    lamp_extension, next_lamp,
};
use tonic::Code;
use tonic::transport::Channel;

const T: &str = "acme";

#[tokio::test]
async fn a_tenant_created_again_after_deletion_sees_nothing_of_the_old_one() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103"]).await;
    c.lobby(T, &["101", "102"]).await;
    let parked = c.answered_call(T, "103", "101").await;
    c.park_call(T, parked, "101", None).await;
    assert_eq!(c.list_parked(T).await.len(), 1);
    let retrieved = c.retrieve(T, "102", 10).await;
    assert_eq!(retrieved.result(), api::RetrieveResult::Retrieved);
    c.hangup(T, parked, ext("103")).await;
    let unanswered = c.ring(T, "101", "103").await;
    c.hangup(T, unanswered, ext("101")).await;
    let listed = |c: &mut callgrid_tests::Clients| {
        let mut c = c.clone();
        async move {
            c.calls
                .list_calls(api::ListCallsRequest { tenant: T.into() })
                .await
                .expect("calls listed")
                .into_inner()
                .calls
        }
    };
    assert_eq!(
        listed(&mut c).await.len(),
        2,
        "ended calls stay listed a while"
    );

    c.directory
        .delete_tenant(api::DeleteTenantRequest { tenant: T.into() })
        .await
        .expect("tenant deleted");
    c.tenant_with(T, &["101", "102", "103"]).await;
    c.lobby(T, &["101", "102"]).await;

    assert_eq!(listed(&mut c).await, vec![], "ListCalls of the new tenant");
    for old in [parked, unanswered] {
        let got = c
            .calls
            .get_call(api::GetCallRequest {
                tenant: T.into(),
                call_id: old,
            })
            .await;
        assert_refused(got, Code::NotFound, &["call_id"]);
    }
    assert_eq!(
        c.list_parked(T).await,
        vec![],
        "ListParked of the new tenant"
    );
    assert_eq!(
        c.retrieve(T, "102", 10).await.result(),
        api::RetrieveResult::UnknownCode,
        "the old tenant's park code means nothing"
    );
}

/// The node's resident memory, from /proc.
fn rss_kib(node: &TestNode) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", node.pid()))
        .expect("the node's /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

#[tokio::test]
async fn a_watch_naming_one_lamp_300000_times_is_refused_and_memory_stays_flat() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102"]).await;
    let attack: Vec<&str> = vec!["101"; 300_000];
    // The attack (a 1.4 MiB request) is refused from its length,
    // before it is decoded; a list past its limit but small enough to
    // decode is refused naming the field.
    let too_large = |got| {
        assert_refused(got, Code::OutOfRange, &["decoded message length too large"]);
    };
    let refused = |got, field: &str| {
        assert_refused(got, Code::InvalidArgument, &[field, "at most 1000"]);
    };
    refused(
        c.try_watch_lamps(T, "", &vec!["101"; 1_001], &[]).await,
        "extensions",
    );
    refused(
        c.try_watch_lamps(T, "", &["101"], &vec![10; 1_001]).await,
        "park_codes",
    );
    too_large(c.try_watch_lamps(T, "", &attack, &[]).await);
    let before = rss_kib(&node);
    for _ in 0..8 {
        too_large(c.try_watch_lamps(T, "", &attack, &[]).await);
    }
    let grown = rss_kib(&node).saturating_sub(before);
    assert!(
        grown < 4 * 1024,
        "the node grew by {grown} KiB over 8 attempts"
    );

    // Within the limit, a lamp named twice is watched once.
    let mut lamps = c
        .try_watch_lamps(T, "", &["101", "101", "102"], &[])
        .await
        .expect("a watch within the limits");
    let first = [next_lamp(&mut lamps).await, next_lamp(&mut lamps).await];
    let shown: Vec<&str> = first.iter().map(lamp_extension).collect();
    assert_eq!(shown, ["101", "102"]);
}

/// A node with `args`, on a data directory dropped after it.
fn node_with(args: &[&str]) -> (Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let node = Node::start(
        dir.path(),
        NodeOptions {
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        },
    );
    (node, dir)
}

/// Clients whose connection comes from `source`: another client, as a
/// development-mode node tells them apart.
async fn clients_from(node: &Node, source: IpAddr) -> Clients {
    let channel = Channel::from_shared(node.endpoint())
        .expect("valid endpoint")
        .local_address(Some(source))
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connects from the other address");
    Clients::new(channel)
}

/// The value of an unlabelled gauge on a `/metrics` page.
fn gauge(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Waits (bounded) until the node's stream gauges read `streams` and `lamps`.
async fn streams_gauged(node: &Node, streams: f64, lamps: f64) {
    eventually(
        EVENT_TIMEOUT,
        &format!("{streams} streams open watching {lamps} lamps"),
        || async {
            let page = node.scrape_metrics().await;
            (gauge(&page, "callgrid_streams_open") == Some(streams)
                && gauge(&page, "callgrid_stream_lamps_watched") == Some(lamps))
            .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_client_past_its_stream_cap_is_refused_while_another_client_is_served() {
    let (node, _dir) = node_with(&["--max-streams-per-client", "3"]);
    let mut a = node.clients().await;
    a.tenant_with(T, &["101", "102", "103"]).await;
    streams_gauged(&node, 0.0, 0.0).await;

    // Three streams of both kinds, from 127.0.0.1: the cap.
    let mut first = a
        .try_watch_lamps(T, "", &["101", "102"], &[])
        .await
        .expect("first watch");
    next_lamp(&mut first).await;
    let second = a
        .try_watch_lamps(T, "", &["103"], &[10])
        .await
        .expect("second watch");
    let third = a.try_notifications(T, "101").await.expect("notifications");
    streams_gauged(&node, 3.0, 4.0).await;

    let cap = [
        "3 open streams",
        "--max-streams-per-client",
        "max_streams_per_client",
    ];
    assert_refused(
        a.try_watch_lamps(T, "", &["101"], &[]).await,
        Code::ResourceExhausted,
        &cap,
    );
    assert_refused(
        a.try_notifications(T, "102").await,
        Code::ResourceExhausted,
        &cap,
    );
    streams_gauged(&node, 3.0, 4.0).await;

    // Another client (127.0.0.2) is still served, and sees lamps change.
    let mut b = clients_from(&node, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))).await;
    let mut other = b
        .try_watch_lamps(T, "", &["102"], &[])
        .await
        .expect("another client's watch");
    assert_eq!(lamp_extension(&next_lamp(&mut other).await), "102");
    streams_gauged(&node, 4.0, 5.0).await;
    b.directory
        .set_online(api::SetOnlineRequest {
            tenant: T.into(),
            number: "102".into(),
            online: false,
        })
        .await
        .expect("102 goes offline");
    assert_eq!(lamp_extension(&next_lamp(&mut other).await), "102");

    // Streams give their share back when they close.
    drop((first, second, third));
    streams_gauged(&node, 1.0, 1.0).await;
    let mut again = a
        .try_watch_lamps(T, "", &["101"], &[])
        .await
        .expect("a client under its cap again is served");
    next_lamp(&mut again).await;
    drop((other, again));
    streams_gauged(&node, 0.0, 0.0).await;
}

#[tokio::test]
async fn watches_past_the_node_wide_lamp_budget_are_refused_until_one_closes() {
    let (node, _dir) = node_with(&["--max-watched-lamps", "5"]);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103", "104"]).await;
    // A lamp named twice counts once.
    let three = c
        .try_watch_lamps(T, "", &["101", "102", "101"], &[10])
        .await
        .expect("three lamps of five");
    streams_gauged(&node, 1.0, 3.0).await;
    assert_refused(
        c.try_watch_lamps(T, "", &["103", "104"], &[11]).await,
        Code::ResourceExhausted,
        &["--max-watched-lamps", "max_watched_lamps (5)", "3 lamps"],
    );
    let two = c
        .try_watch_lamps(T, "", &["103", "104"], &[])
        .await
        .expect("exactly the budget");
    let _notices = c
        .try_notifications(T, "101")
        .await
        .expect("notifications watch no lamps");
    streams_gauged(&node, 3.0, 5.0).await;
    drop(three);
    streams_gauged(&node, 2.0, 2.0).await;
    c.try_watch_lamps(T, "", &["101", "102", "103"], &[])
        .await
        .expect("the closed watch's lamps are free again");
    drop(two);
}

#[tokio::test]
async fn an_extension_in_too_many_legacy_pickup_groups_is_refused_and_nothing_changes() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101"]).await;
    let groups = |n: usize| api::Extension {
        number: "101".into(),
        legacy_pickup_groups: (1..=n).map(|i| i.to_string()).collect(),
        ..Default::default()
    };
    c.put_extension(T, groups(64)).await;
    let before = c.get_extension(T, "101").await;
    assert_eq!(before.legacy_pickup_groups.len(), 64);
    for n in [65, 300_000] {
        assert_refused(
            c.try_put_extension(T, groups(n)).await,
            Code::InvalidArgument,
            &["extension.legacy_pickup_groups", "at most 64"],
        );
    }
    assert_eq!(c.get_extension(T, "101").await, before, "nothing changed");
}
