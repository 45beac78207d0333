//! Whether requests reach their owners: the nodes' count of forwarded
//! requests, and a call rung and picked up through one connection.

use callgrid_client::Connection;
use callgrid_proto::v1::{self as api, calls_client::CallsClient, pickup_client::PickupClient};

use crate::Node;

/// `callgrid_forwarded_requests_total` summed over `nodes`: requests a
/// node got for an owner elsewhere and passed on.
pub async fn forwarded(nodes: &[Node]) -> f64 {
    summed(nodes, "callgrid_forwarded_requests_total").await
}

/// `callgrid_forwarded_proposals_total` summed over `nodes`: proposals a
/// follower passed on to the leader.
pub async fn forwarded_proposals(nodes: &[Node]) -> f64 {
    summed(nodes, "callgrid_forwarded_proposals_total").await
}

/// Every series of the counter `name`, summed over `nodes`.
async fn summed(nodes: &[Node], name: &str) -> f64 {
    let mut total = 0.0;
    for node in nodes {
        total += node
            .scrape_metrics()
            .await
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    total
}

/// Rings `target` from `caller` and picks the call up from `picker` with a
/// directed pickup, both sent over `through`.
pub async fn ring_and_pick_up(
    through: Connection,
    tenant: &str,
    caller: &str,
    picker: &str,
    target: &str,
) {
    let dialled = CallsClient::new(through.clone())
        .dial(api::DialRequest {
            tenant: tenant.into(),
            from: Some(api::Party {
                kind: Some(api::party::Kind::Extension(caller.into())),
            }),
            digits: target.into(),
        })
        .await
        .expect("dial answered")
        .into_inner();
    assert!(
        matches!(
            &dialled.outcome,
            Some(api::dial_response::Outcome::Call(c)) if c.result == api::CallResult::Ringing as i32
        ),
        "{target} did not ring: {dialled:?}"
    );
    let picked = PickupClient::new(through)
        .directed_pickup(api::DirectedPickupRequest {
            tenant: tenant.into(),
            picker: picker.into(),
            target: target.into(),
        })
        .await
        .expect("pickup answered")
        .into_inner();
    assert_eq!(
        picked.result(),
        api::PickupResult::PickedUp,
        "{target}: {picked:?}"
    );
}
