//! Hardening against a caller who is allowed in but means harm, or an
//! operator who expects "deleted" to mean gone: bounded requests and
//! streams, and tenant deletion that leaves nothing behind (issue 13).

use callgrid_tests::{TestNode, api, assert_refused, ext, lamp_extension, next_lamp};
use tonic::Code;

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
    let codes: Vec<u32> = vec![10; 300_000];
    let refused = |got, field: &str| {
        assert_refused(got, Code::InvalidArgument, &[field, "at most 1000"]);
    };
    // Decoding a 1.4 MiB request still takes transient memory (300,000
    // strings, before the handler sees the list) that the allocator keeps
    // for reuse, per worker thread: warm those up first. What remains is
    // noise of tens of MiB at most, where an accepted watch kept ~54 MiB
    // each (8 took the node past 450 MiB).
    for _ in 0..4 {
        refused(c.try_watch_lamps(T, "", &attack, &[]).await, "extensions");
        refused(
            c.try_watch_lamps(T, "", &["101"], &codes).await,
            "park_codes",
        );
    }
    let before = rss_kib(&node);
    for _ in 0..8 {
        refused(c.try_watch_lamps(T, "", &attack, &[]).await, "extensions");
    }
    let grown = rss_kib(&node).saturating_sub(before);
    assert!(
        grown < 64 * 1024,
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
