//! Real softphones through the SIP edge, with media: three baresip phones
//! (Debian's `baresip-core`, installed by the test where it can be;
//! skipped where not, failed in CI), A (101), B (102) and C (103), each in its
//! own network namespace on a private bridge (10.213.<tag>.0/24, never
//! routed anywhere) whose host side, .254, is where the node serves its
//! edge. A pickup and a park retrieval must leave A and C in one call with
//! RTP flowing phone to phone: the edge joins their offers, the phones
//! count the packets and name the address they arrive from.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use callgrid_tests::baresip::{self, PhoneSpec, RtpCounts, Softphone};
use callgrid_tests::netns::{self, Netns};
use callgrid_tests::prereq;
use callgrid_tests::{Clients, Node, NodeOptions, api, eventually};

const T: &str = "acme";
/// A second of audio at 20 ms per packet is 50 packets: two seconds each way.
const PACKETS: u64 = 100;
/// Phones send an RTCP report about every five seconds.
const RTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Three registered phones, the node whose edge they registered through,
/// and their namespaces; dropped phones first, namespaces last.
struct Office {
    phones: Vec<Softphone>,
    c: Clients,
    _node: Node,
    _dir: tempfile::TempDir,
    _net: Netns,
}

/// Builds the office on its own subnet (`offset` keeps this file's tests
/// apart from each other, and the range from the partition suites').
async fn office(offset: u8) -> Option<Office> {
    // One probe per process: two tests probing at once trip over each
    // other's probe namespace.
    static NAMESPACES: OnceLock<bool> = OnceLock::new();
    if !prereq::needs_that(
        prereq::NETNS,
        *NAMESPACES.get_or_init(Netns::available),
        netns::UNAVAILABLE,
    ) {
        return None;
    }
    prereq::needs(prereq::BARESIP, baresip::ensure_installed())?;
    let tag = 200 + (std::process::id() % 25) as u8 * 2 + offset;
    let net = Netns::create(tag, 3);
    let bridge = net
        .ip(0)
        .rsplit_once('.')
        .map(|(subnet, _)| format!("{subnet}.254"))
        .expect("an IPv4 address");
    let edge: SocketAddr = format!("{bridge}:5060").parse().expect("edge address");
    let dir = tempfile::tempdir().expect("a data directory");
    let node = Node::start(
        dir.path(),
        NodeOptions {
            extra_args: vec!["--sip".into(), edge.to_string()],
            ..Default::default()
        },
    );
    assert_eq!(node.sip, Some(edge), "the edge serves on the bridge");
    let mut c = node.clients().await;
    c.tenant_with(T, &[]).await;
    for n in ["101", "102", "103"] {
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
    let mut phones = Vec::new();
    for (i, extension) in ["101", "102", "103"].iter().enumerate() {
        phones.push(
            Softphone::start(PhoneSpec {
                netns: &net.name(i),
                address: &net.ip(i),
                tenant: T,
                extension,
                password: &format!("secret-{extension}"),
                edge,
            })
            .await,
        );
    }
    Some(Office {
        phones,
        c,
        _node: node,
        _dir: dir,
        _net: net,
    })
}

/// The tenant's newest call, once `done` accepts it.
async fn newest_call(
    c: &Clients,
    what: &str,
    done: impl Fn(&api::CallInfo) -> bool,
) -> api::CallInfo {
    eventually(Duration::from_secs(10), what, || {
        let mut c = c.clone();
        let found = async move {
            let calls = c
                .calls
                .list_calls(api::ListCallsRequest { tenant: T.into() })
                .await
                .ok()?
                .into_inner()
                .calls;
            calls.into_iter().max_by_key(|call| call.call_id)
        };
        let done = &done;
        async move { found.await.filter(|call| done(call)) }
    })
    .await
}

/// One call's state, once `done` accepts it.
async fn call_becomes(
    c: &Clients,
    call_id: u64,
    what: &str,
    done: impl Fn(&api::CallInfo) -> bool,
) -> api::CallInfo {
    eventually(Duration::from_secs(10), what, || {
        let mut c = c.clone();
        let done = &done;
        async move {
            let call = c
                .calls
                .get_call(api::GetCallRequest {
                    tenant: T.into(),
                    call_id,
                })
                .await
                .ok()?
                .into_inner()
                .call?;
            done(&call).then_some(call)
        }
    })
    .await
}

/// Asserts that `phone`'s RTP comes from `peer`'s address, as its own log
/// says ("receiving from <addr>:<port>", or an SSRC change "from <addr>:").
fn assert_rtp_from(phone: &Softphone, peer: &Softphone) {
    let from = format!(" from {}:", peer.address);
    let log = phone.log();
    assert!(
        log.lines().any(
            |l| (l.contains("incoming rtp") || l.contains("SSRC changed")) && l.contains(&from)
        ),
        "{}'s RTP does not come from {} ({}):\n{}",
        phone.extension,
        peer.extension,
        peer.address,
        phone.story()
    );
}

fn report(label: &str, phone: &Softphone, counts: RtpCounts) {
    eprintln!(
        "{label}: {} sent {} and received {} RTP packets ({} lost), its status line last showed audio={:?} bit/s (tx, rx)",
        phone.extension,
        counts.sent,
        counts.received,
        counts.lost,
        phone.bitrates(),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_directed_pickup_over_sip_carries_rtp_between_caller_and_picker() {
    let Some(mut office) = office(0).await else {
        return;
    };
    let [a, b, c] = &mut office.phones[..] else {
        unreachable!("three phones")
    };
    a.dial(&format!("sip:102@{T}")).await;
    b.wait_event("CALL_INCOMING").await;
    a.wait_event("CALL_RINGING").await;
    let ringing = newest_call(&office.c, "a ringing call", |call| {
        call.state == api::CallState::Ringing as i32
    })
    .await;
    assert_eq!(ringing.callee, "102", "{ringing:?}");

    c.dial(&format!("sip:*97102@{T}")).await;
    c.wait_event("CALL_ESTABLISHED").await;
    a.wait_event("CALL_ESTABLISHED").await;
    // B stopped ringing: its call was cancelled, never answered.
    b.wait_event("CALL_CLOSED").await;
    assert!(!b.saw("CALL_ESTABLISHED"), "{}", b.story());

    let answered = call_becomes(&office.c, ringing.call_id, "answered by 103", |call| {
        call.state == api::CallState::Answered as i32
    })
    .await;
    assert_eq!(answered.answered_by, "103", "{answered:?}");
    assert_eq!(
        answered.how,
        api::AnswerHow::DirectedPickup as i32,
        "{answered:?}"
    );

    // RTP flows phone to phone, both ways.
    let at_a = a.wait_rtp(PACKETS, RTP_TIMEOUT).await;
    let at_c = c.wait_rtp(PACKETS, RTP_TIMEOUT).await;
    assert_rtp_from(a, c);
    assert_rtp_from(c, a);
    report("pickup", a, at_a);
    report("pickup", c, at_c);

    a.hangup().await;
    a.wait_event("CALL_CLOSED").await;
    c.wait_event("CALL_CLOSED").await;
    let ended = call_becomes(&office.c, ringing.call_id, "ended", |call| {
        call.state == api::CallState::Ended as i32
    })
    .await;
    assert_eq!(ended.end_reason, api::EndReason::HungUp as i32, "{ended:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parked_call_is_retrieved_and_rtp_flows_to_the_retriever() {
    let Some(mut office) = office(1).await else {
        return;
    };
    office
        .c
        .directory
        .put_park_policy(api::PutParkPolicyRequest {
            tenant: T.into(),
            policy: Some(api::ParkPolicy {
                name: "lobby".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("park policy");
    for number in ["102", "103"] {
        office
            .c
            .directory
            .grant_park_policy(api::GrantParkPolicyRequest {
                tenant: T.into(),
                number: number.into(),
                policy: "lobby".into(),
            })
            .await
            .expect("grant");
    }
    let [a, b, c] = &mut office.phones[..] else {
        unreachable!("three phones")
    };
    a.dial(&format!("sip:102@{T}")).await;
    b.wait_event("CALL_INCOMING").await;
    b.accept().await;
    b.wait_event("CALL_ESTABLISHED").await;
    a.wait_event("CALL_ESTABLISHED").await;
    let call = newest_call(&office.c, "a call answered by 102", |call| {
        call.state == api::CallState::Answered as i32
    })
    .await;

    // B parks it: a blind transfer to the park code ends B's leg and holds A
    // (a re-INVITE offering A the held description).
    b.transfer(&format!("sip:*70@{T}")).await;
    b.wait_event("CALL_CLOSED").await;
    let parked = call_becomes(&office.c, call.call_id, "parked", |call| {
        call.state == api::CallState::Parked as i32
    })
    .await;
    assert_eq!(parked.parked_by, "102", "{parked:?}");
    a.wait_event_for("the hold re-INVITE", Duration::from_secs(10), |e| {
        e["type"] == "CALL_REMOTE_SDP" && e["param"] == "offer"
    })
    .await;

    // C retrieves it: A is re-INVITEd with C's offer.
    c.dial(&format!("sip:*71{}@{T}", parked.park_code)).await;
    c.wait_event("CALL_ESTABLISHED").await;
    a.wait_event_for("the retrieving re-INVITE", Duration::from_secs(10), |e| {
        e["type"] == "CALL_REMOTE_SDP" && e["param"] == "offer"
    })
    .await;
    let retrieved = call_becomes(&office.c, call.call_id, "retrieved by 103", |call| {
        call.state == api::CallState::Answered as i32
    })
    .await;
    assert_eq!(retrieved.answered_by, "103", "{retrieved:?}");
    assert_eq!(
        retrieved.how,
        api::AnswerHow::Retrieve as i32,
        "{retrieved:?}"
    );

    let at_a = a.wait_rtp(PACKETS, RTP_TIMEOUT).await;
    let at_c = c.wait_rtp(PACKETS, RTP_TIMEOUT).await;
    assert_rtp_from(a, c);
    assert_rtp_from(c, a);
    report("retrieve", a, at_a);
    report("retrieve", c, at_c);

    c.hangup().await;
    c.wait_event("CALL_CLOSED").await;
    a.wait_event("CALL_CLOSED").await;
    let ended = call_becomes(&office.c, call.call_id, "ended", |call| {
        call.state == api::CallState::Ended as i32
    })
    .await;
    assert_eq!(ended.end_reason, api::EndReason::HungUp as i32, "{ended:?}");
}
