//! Hardening against a caller who is allowed in but means harm, or an
//! operator who expects "deleted" to mean gone: bounded requests and
//! streams, and tenant deletion that leaves nothing behind (issue 13).

use callgrid_tests::{TestNode, api, assert_refused, ext};
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
