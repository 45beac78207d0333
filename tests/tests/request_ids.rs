//! Request ids (DESIGN §3.5): a retry with the same `request-id` gets the
//! first outcome and never a second effect; an id reused for another
//! request, or a malformed one, is refused naming `request-id` and changes
//! nothing; the window's size is a metric.

use callgrid_proto::retry::with_request_id;
use callgrid_tests::{Clients, TestNode, api, ext};
use tonic::Code;

const T: &str = "acme";
use api::PickupResult::{AlreadyAnswered, PickedUp};

fn directed(picker: &str, target: &str) -> api::DirectedPickupRequest {
    api::DirectedPickupRequest {
        tenant: T.into(),
        picker: picker.into(),
        target: target.into(),
    }
}

async fn pickup_with_id(
    c: &mut Clients,
    id: &str,
    picker: &str,
    target: &str,
) -> api::PickupResponse {
    c.pickup
        .directed_pickup(with_request_id(directed(picker, target), id))
        .await
        .expect("pickup decided")
        .into_inner()
}

#[tokio::test]
async fn a_pickup_retried_with_its_request_id_gets_its_first_outcome_and_no_second_effect() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103", "104"]).await;
    let call = c.ring(T, "103", "102").await;

    let won = pickup_with_id(&mut c, "win-1", "101", "102").await;
    assert_eq!((won.result(), won.call_id), (PickedUp, call));
    let again = pickup_with_id(&mut c, "win-1", "101", "102").await;
    assert_eq!(
        (again.result(), again.call_id, again.from.as_str()),
        (PickedUp, call, "102"),
        "the winner's retry learns it won"
    );
    // The same picker without an id is a new request, and loses.
    assert_eq!(
        c.directed_pickup(T, "101", "102").await.result(),
        AlreadyAnswered
    );

    // A loser with an id: its loss is remembered too, so its retry cannot
    // take a call that starts ringing later.
    let lost = pickup_with_id(&mut c, "lose-1", "104", "102").await;
    assert_eq!(lost.result(), AlreadyAnswered);
    c.hangup(T, call, ext("103")).await;
    let next = c.ring(T, "103", "102").await;
    let retried = pickup_with_id(&mut c, "lose-1", "104", "102").await;
    assert_eq!(
        retried.result(),
        AlreadyAnswered,
        "the retry changes nothing"
    );
    assert_eq!(
        c.call_info(T, next).await.state(),
        api::CallState::Ringing,
        "the next call still rings"
    );
    let fresh = pickup_with_id(&mut c, "lose-2", "104", "102").await;
    assert_eq!((fresh.result(), fresh.call_id), (PickedUp, next));
}

#[tokio::test]
async fn a_request_id_reused_or_malformed_is_refused_naming_it_and_changes_nothing() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103"]).await;
    let nothing = pickup_with_id(&mut c, "r-1", "101", "102").await;
    assert_eq!(nothing.result(), api::PickupResult::NoAlertingCall);
    let call = c.ring(T, "103", "102").await;

    let reused = c
        .pickup
        .directed_pickup(with_request_id(directed("103", "102"), "r-1"))
        .await
        .expect_err("another request under a used id");
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert!(
        reused.message().starts_with("request-id: "),
        "names the field: {}",
        reused.message()
    );

    let mut bad = tonic::Request::new(directed("101", "102"));
    bad.metadata_mut()
        .insert("request-id", "two words".parse().expect("ascii"));
    let malformed = c
        .pickup
        .directed_pickup(bad)
        .await
        .expect_err("malformed id");
    assert_eq!(malformed.code(), Code::InvalidArgument);
    assert!(
        malformed.message().starts_with("request-id: ")
            && malformed.message().contains("no spaces"),
        "names the field and rule: {}",
        malformed.message()
    );
    let long = "x".repeat(65);
    let too_long = c
        .pickup
        .directed_pickup(with_request_id(directed("101", "102"), &long))
        .await
        .expect_err("a 65-character id");
    assert!(
        too_long.message().contains("at most 64"),
        "{}",
        too_long.message()
    );

    assert_eq!(
        c.call_info(T, call).await.state(),
        api::CallState::Ringing,
        "no refused request took the call"
    );
}

#[tokio::test]
async fn directory_writes_and_calls_retried_with_their_ids_answer_as_the_first_time() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102", "103"]).await;
    let delete = || api::DeleteExtensionRequest {
        tenant: T.into(),
        number: "101".into(),
    };
    for attempt in 0..2 {
        c.directory
            .delete_extension(with_request_id(delete(), "del-101"))
            .await
            .unwrap_or_else(|s| panic!("attempt {attempt} answers as the first: {s}"));
    }
    let without_id = c
        .directory
        .delete_extension(delete())
        .await
        .expect_err("gone");
    assert_eq!(without_id.code(), Code::NotFound);

    let dial = || api::DialRequest {
        tenant: T.into(),
        from: Some(ext("103")),
        digits: "102".into(),
    };
    let first = c
        .calls
        .dial(with_request_id(dial(), "dial-1"))
        .await
        .expect("dial");
    let retry = c
        .calls
        .dial(with_request_id(dial(), "dial-1"))
        .await
        .expect("dial");
    assert_eq!(first.get_ref(), retry.get_ref(), "one call, not two");
    let calls = c
        .calls
        .list_calls(api::ListCallsRequest { tenant: T.into() })
        .await
        .expect("list")
        .into_inner()
        .calls;
    assert_eq!(calls.len(), 1, "{calls:?}");

    let page = node.scrape_metrics().await;
    let remembered = page
        .lines()
        .find_map(|l| l.strip_prefix("callgrid_request_outcomes_remembered "))
        .unwrap_or_else(|| panic!("the window's size is a metric:\n{page}"));
    assert_eq!(remembered.trim(), "2", "two requests with ids remembered");
}
