//! The API's own surface: gRPC health and reflection, and malformed input
//! refused with INVALID_ARGUMENT naming the field and rule, changing
//! nothing (DESIGN §3.4).

use callgrid_tests::{Clients, TestNode, api, assert_refused, ext, extension, outside};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

const T: &str = "acme";

#[tokio::test]
async fn health_check_reports_serving() {
    let node = TestNode::start(1.0);
    let mut health = HealthClient::new(node.channel().await);
    for service in [
        "",
        "callgrid.v1.Calls",
        "callgrid.v1.Directory",
        "callgrid.v1.Presence",
        "callgrid.v1.Registrar",
    ] {
        let reply = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health answers");
        assert_eq!(
            reply.into_inner().status(),
            ServingStatus::Serving,
            "{service:?}"
        );
    }
}

#[tokio::test]
async fn reflection_lists_the_seven_public_services_and_not_the_node_to_node_one() {
    let node = TestNode::start(1.0);
    let mut reflection = ServerReflectionClient::new(node.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection answers")
        .into_inner();
    let reply = replies
        .message()
        .await
        .expect("a reply")
        .expect("not empty");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("expected a service list, got {reply:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in [
        "Directory",
        "Calls",
        "Pickup",
        "Park",
        "Presence",
        "Cluster",
        "Registrar",
    ] {
        let full = format!("callgrid.v1.{service}");
        assert!(names.contains(&full.as_str()), "{full} in {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("callgrid.internal")),
        "the node-to-node service is listed: {names:?}"
    );
}

#[tokio::test]
async fn cluster_status_shows_this_single_node_leading() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    let status = c
        .cluster
        .status(api::StatusRequest {})
        .await
        .expect("status answers")
        .into_inner();
    assert_eq!(
        (status.node_id, status.leader_id, status.state.as_str()),
        (1, Some(1), "Leader")
    );
    assert!(
        status.membership.iter().any(|m| m.node_id == 1 && m.voter),
        "{status:?}"
    );
}

/// A tenant with 101-103, a lobby policy, and an answered call from 103 to 101.
async fn furnished(node: &TestNode) -> (Clients, u64) {
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103"]).await;
    c.lobby(T, &["101", "102"]).await;
    let call = c.answered_call(T, "103", "101").await;
    (c, call)
}

async fn calls(c: &mut Clients) -> Vec<api::CallInfo> {
    c.calls
        .list_calls(api::ListCallsRequest { tenant: T.into() })
        .await
        .unwrap()
        .into_inner()
        .calls
}

#[tokio::test]
async fn malformed_tenant_ids_are_invalid_argument_naming_tenant_and_change_nothing() {
    let node = TestNode::start(1.0);
    let (mut c, _) = furnished(&node).await;
    let (before, calls_before) = (c.snapshot(T).await, calls(&mut c).await);
    for (id, rule) in [
        ("acme corp", "A-Z a-z 0-9 _ -"),
        ("", "must not be empty"),
        (&"t".repeat(65), "at most 64"),
    ] {
        let put = c
            .directory
            .put_tenant(api::PutTenantRequest {
                tenant: id.into(),
                config: None,
            })
            .await;
        assert_refused(put, Code::InvalidArgument, &["tenant", rule]);
        let get = c
            .directory
            .get_tenant(api::GetTenantRequest { tenant: id.into() })
            .await;
        assert_refused(get, Code::InvalidArgument, &["tenant", rule]);
        assert_refused(
            c.try_dial(id, ext("103"), "101").await,
            Code::InvalidArgument,
            &["tenant", rule],
        );
        assert_refused(
            c.try_notifications(id, "101").await,
            Code::InvalidArgument,
            &["tenant", rule],
        );
    }
    assert_eq!(
        (c.snapshot(T).await, calls(&mut c).await),
        (before, calls_before)
    );
}

#[tokio::test]
async fn extensions_with_letters_are_invalid_argument_naming_the_field_and_change_nothing() {
    let node = TestNode::start(1.0);
    let (mut c, call) = furnished(&node).await;
    let (before, calls_before) = (c.snapshot(T).await, calls(&mut c).await);
    let digits = "digits 0-9 only";
    assert_refused(
        c.try_put_extension(T, extension("10a")).await,
        Code::InvalidArgument,
        &["extension.number", digits],
    );
    let long = c.try_put_extension(T, extension("1234567890123456")).await;
    assert_refused(
        long,
        Code::InvalidArgument,
        &["extension.number", "at most 15"],
    );
    let get = c
        .directory
        .get_extension(api::GetExtensionRequest {
            tenant: T.into(),
            number: "10a".into(),
        })
        .await;
    assert_refused(get, Code::InvalidArgument, &["number", digits]);
    let online = c
        .directory
        .set_online(api::SetOnlineRequest {
            tenant: T.into(),
            number: "x1".into(),
            online: false,
        })
        .await;
    assert_refused(online, Code::InvalidArgument, &["number", digits]);
    assert_refused(
        c.try_dial(T, ext("10a"), "102").await,
        Code::InvalidArgument,
        &["from.extension", digits],
    );
    assert_refused(
        c.try_dial(T, outside("555-1234"), "102").await,
        Code::InvalidArgument,
        &["from.outside"],
    );
    assert_refused(
        c.try_dial(T, ext("103"), "").await,
        Code::InvalidArgument,
        &["digits"],
    );
    let answer = c
        .calls
        .answer(api::AnswerRequest {
            tenant: T.into(),
            call_id: call,
            by: "1x".into(),
        })
        .await;
    assert_refused(answer, Code::InvalidArgument, &["by", digits]);
    let hangup = c
        .calls
        .hangup(api::HangupRequest {
            tenant: T.into(),
            call_id: call,
            by: None,
        })
        .await;
    assert_refused(hangup, Code::InvalidArgument, &["by", "party is required"]);
    let pickup = api::DirectedPickupRequest {
        tenant: T.into(),
        picker: "1x".into(),
        target: "101".into(),
    };
    assert_refused(
        c.pickup.directed_pickup(pickup).await,
        Code::InvalidArgument,
        &["picker", digits],
    );
    let blf = api::BlfPickupRequest {
        tenant: T.into(),
        picker: "102".into(),
        target: "abc".into(),
        call_id: None,
    };
    assert_refused(
        c.pickup.blf_pickup(blf).await,
        Code::InvalidArgument,
        &["target", digits],
    );
    let named = api::NamedPickupRequest {
        tenant: T.into(),
        picker: "102".into(),
        group_name: "123".into(),
    };
    assert_refused(
        c.pickup.named_pickup(named).await,
        Code::InvalidArgument,
        &["group_name", "only digits"],
    );
    assert_eq!(
        (c.snapshot(T).await, calls(&mut c).await),
        (before, calls_before)
    );
}

#[tokio::test]
async fn park_code_outside_10_to_9999_is_invalid_argument_naming_code_and_changes_nothing() {
    let node = TestNode::start(1.0);
    let (mut c, call) = furnished(&node).await;
    let calls_before = calls(&mut c).await;
    for code in [5, 9, 10_000] {
        let park = c
            .park
            .park(api::ParkRequest {
                tenant: T.into(),
                call_id: call,
                by: "101".into(),
                code: Some(code),
            })
            .await;
        assert_refused(
            park,
            Code::InvalidArgument,
            &["code", "between 10 and 9999"],
        );
        let retrieve = c
            .park
            .retrieve(api::RetrieveRequest {
                tenant: T.into(),
                by: "102".into(),
                code,
            })
            .await;
        assert_refused(
            retrieve,
            Code::InvalidArgument,
            &["code", "between 10 and 9999"],
        );
    }
    assert_eq!(
        calls(&mut c).await,
        calls_before,
        "the call is still answered, unparked"
    );
    assert!(c.list_parked(T).await.is_empty());
}

#[tokio::test]
async fn dialled_digits_that_are_neither_a_number_nor_a_feature_are_invalid_argument() {
    let node = TestNode::start(1.0);
    let (mut c, _) = furnished(&node).await;
    let calls_before = calls(&mut c).await;
    for (digits, rule) in [
        ("10a", "matches no feature code"),
        ("*55", "matches no feature code"),
        ("88cg_x", "cg_"),
        ("88sales team", "only A-Z"),
    ] {
        assert_refused(
            c.try_dial(T, ext("102"), digits).await,
            Code::InvalidArgument,
            &["digits", rule],
        );
    }
    assert_eq!(calls(&mut c).await, calls_before);
}
