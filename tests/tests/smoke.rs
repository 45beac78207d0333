//! The node starts with defaults, answers gRPC, and a directed pickup works end to end.

use callgrid_tests::{Node, NodeOptions, api};

#[tokio::test]
async fn directed_pickup_over_grpc_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), NodeOptions::default());
    let mut c = node.clients().await;
    c.tenant_with("acme", &["101", "102", "103"]).await;
    let call = c.ring("acme", "103", "102").await;
    let out = c
        .pickup
        .directed_pickup(api::DirectedPickupRequest {
            tenant: "acme".into(),
            picker: "101".into(),
            target: "102".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.result, api::PickupResult::PickedUp as i32);
    assert_eq!(out.call_id, call);
    let info = c.call_info("acme", call).await;
    assert_eq!(info.state, api::CallState::Answered as i32);
    assert_eq!(info.answered_by, "101");
}
