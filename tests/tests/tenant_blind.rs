//! Tenant isolation (DESIGN §3.3): another tenant's call, park code or
//! extension is, to every RPC, indistinguishable from one that exists
//! nowhere; and call ids are numbered per tenant, so they say nothing of
//! other tenants' activity.

use callgrid_tests::{Clients, TestNode, api, ext};
use tonic::Code;

const A: &str = "acme";
const B: &str = "globex";

/// What an answer looked like, with the probed value blanked out of it, so
/// that answers for two different probes can be compared.
fn shape<T: std::fmt::Debug>(probe: &str, answer: Result<T, tonic::Status>) -> String {
    match answer {
        Ok(r) => format!("ok {r:?}").replace(probe, "<probe>"),
        Err(s) => format!("{:?} {}", s.code(), s.message().replace(probe, "<probe>")),
    }
}

/// Every call-id RPC from B, about call `id`.
async fn call_answers(c: &mut Clients, id: u64) -> Vec<String> {
    let p = id.to_string();
    let mut seen = Vec::new();
    let answer = c
        .calls
        .answer(api::AnswerRequest {
            tenant: B.into(),
            call_id: id,
            by: "201".into(),
        })
        .await
        .map(tonic::Response::into_inner);
    seen.push(shape(&p, answer));
    let hangup = c
        .calls
        .hangup(api::HangupRequest {
            tenant: B.into(),
            call_id: id,
            by: Some(ext("201")),
        })
        .await
        .map(tonic::Response::into_inner);
    seen.push(shape(&p, hangup));
    let park = c
        .park
        .park(api::ParkRequest {
            tenant: B.into(),
            call_id: id,
            by: "201".into(),
            code: None,
        })
        .await
        .map(tonic::Response::into_inner);
    seen.push(shape(&p, park));
    let blf = c
        .pickup
        .blf_pickup(api::BlfPickupRequest {
            tenant: B.into(),
            picker: "201".into(),
            target: "202".into(),
            call_id: Some(id),
        })
        .await
        .map(tonic::Response::into_inner);
    seen.push(shape(&p, blf));
    let get = c
        .calls
        .get_call(api::GetCallRequest {
            tenant: B.into(),
            call_id: id,
        })
        .await
        .map(tonic::Response::into_inner);
    seen.push(shape(&p, get));
    seen
}

/// Every park-code RPC from B, about `code`.
async fn code_answers(c: &mut Clients, code: u32) -> Vec<String> {
    let p = code.to_string();
    let retrieve = c
        .park
        .retrieve(api::RetrieveRequest {
            tenant: B.into(),
            by: "201".into(),
            code,
        })
        .await
        .map(tonic::Response::into_inner);
    let dialled = c.try_dial(B, ext("201"), &format!("*71{code}")).await;
    let park_on = c
        .park
        .park(api::ParkRequest {
            tenant: B.into(),
            call_id: 1,
            by: "201".into(),
            code: Some(code),
        })
        .await
        .map(tonic::Response::into_inner);
    let watch = c.try_watch_lamps(B, "201", &[], &[code]).await.map(|_| ());
    vec![
        shape(&p, retrieve),
        shape(&p, dialled),
        shape(&p, park_on),
        shape(&p, watch),
    ]
}

/// Every extension RPC from B, about extension `number`.
async fn extension_answers(c: &mut Clients, number: &str) -> Vec<String> {
    let mut seen = Vec::new();
    seen.push(shape(number, c.try_dial(B, ext("201"), number).await));
    seen.push(shape(
        number,
        c.try_dial(B, ext("201"), &format!("*97{number}")).await,
    ));
    seen.push(shape(number, c.try_dial(B, ext(number), "202").await));
    let directed = c
        .pickup
        .directed_pickup(api::DirectedPickupRequest {
            tenant: B.into(),
            picker: "201".into(),
            target: number.into(),
        })
        .await
        .map(tonic::Response::into_inner);
    seen.push(shape(number, directed));
    let as_picker = c
        .pickup
        .directed_pickup(api::DirectedPickupRequest {
            tenant: B.into(),
            picker: number.into(),
            target: "202".into(),
        })
        .await
        .map(tonic::Response::into_inner);
    seen.push(shape(number, as_picker));
    let blf = c
        .pickup
        .blf_pickup(api::BlfPickupRequest {
            tenant: B.into(),
            picker: "201".into(),
            target: number.into(),
            call_id: None,
        })
        .await
        .map(tonic::Response::into_inner);
    seen.push(shape(number, blf));
    let get = c
        .directory
        .get_extension(api::GetExtensionRequest {
            tenant: B.into(),
            number: number.into(),
        })
        .await
        .map(tonic::Response::into_inner);
    seen.push(shape(number, get));
    let watch = c
        .try_watch_lamps(B, "201", &[number], &[])
        .await
        .map(|_| ());
    seen.push(shape(number, watch));
    let notes = c.try_notifications(B, number).await.map(|_| ());
    seen.push(shape(number, notes));
    let online = c
        .directory
        .set_online(api::SetOnlineRequest {
            tenant: B.into(),
            number: number.into(),
            online: true,
        })
        .await
        .map(tonic::Response::into_inner);
    seen.push(shape(number, online));
    let group = c
        .directory
        .get_call_group(api::GetCallGroupRequest {
            tenant: B.into(),
            owner: number.into(),
        })
        .await
        .map(tonic::Response::into_inner);
    seen.push(shape(number, group));
    seen
}

#[tokio::test]
async fn another_tenants_calls_codes_and_extensions_answer_every_rpc_as_if_they_did_not_exist() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(A, &["101", "102", "103", "104", "105"]).await;
    c.lobby(A, &["101", "104"]).await;
    c.tenant_with(B, &["201", "202"]).await;
    c.lobby(B, &["201"]).await;

    // A: one call ringing on 102, one parked on code 10 (and 105 busy in it).
    let ringing = c.ring(A, "103", "102").await;
    let parked = c.answered_call(A, "105", "101").await;
    let park = c.park_call(A, parked, "101", None).await;
    assert_eq!(park.result(), api::ParkResult::Parked);
    // B: calls of its own, so that ids in B exist too.
    c.ring(B, "202", "201").await;

    // Calls: A's ids mean nothing in B; compare with ids no tenant has.
    let nowhere = 1_000_000;
    let of_nowhere = call_answers(&mut c, nowhere).await;
    for id in [ringing, parked] {
        if id == 1 {
            continue; // B's own call 1 exists: not a probe of A's ids.
        }
        assert_eq!(call_answers(&mut c, id).await, of_nowhere, "call {id}");
    }
    // Park codes: A's code 10 against a code nobody parked on.
    assert_eq!(
        code_answers(&mut c, park.code).await,
        code_answers(&mut c, 77).await,
        "park code {}",
        park.code
    );
    assert!(c.list_parked(B).await.is_empty());
    // Extensions: A's busy 105, ringing 102, idle 104, against 109.
    let of_nobody = extension_answers(&mut c, "109").await;
    assert!(
        of_nobody
            .iter()
            .any(|a| a.starts_with(&format!("{:?}", Code::NotFound))),
        "the probes reach the extension checks: {of_nobody:#?}"
    );
    for number in ["102", "104", "105"] {
        assert_eq!(
            extension_answers(&mut c, number).await,
            of_nobody,
            "extension {number}"
        );
    }

    // Nothing of A changed.
    assert_eq!(
        c.call_info(A, ringing).await.state(),
        api::CallState::Ringing
    );
    assert_eq!(c.list_parked(A).await.len(), 1);
}

#[tokio::test]
async fn call_ids_are_numbered_per_tenant_and_reveal_nothing_of_other_tenants() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(A, &["101", "102", "103"]).await;
    c.tenant_with(B, &["201", "202"]).await;
    let first = c.ring(B, "202", "201").await;
    for _ in 0..7 {
        let call = c.ring(A, "103", "102").await;
        c.hangup(A, call, ext("103")).await;
    }
    let second = c.ring(B, "202", "201").await;
    assert_eq!(
        (first, second),
        (1, 2),
        "B's ids count B's calls, whatever A did"
    );
    let a_next = c.ring(A, "101", "102").await;
    assert_eq!(a_next, 8, "A counts its own");
    // The same number names each tenant's own call.
    assert_eq!(c.call_info(A, 1).await.callee, "102");
    assert_eq!(c.call_info(B, 1).await.callee, "201");
}
