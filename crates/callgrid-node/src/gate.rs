//! The public API's front door: every request gets its `request` span
//! (node, method, tenant, acting extension, call id), which every log line
//! of its handling carries, and passes the token check (`auth.rs`); then it
//! goes to [`Api`] unchanged. Implementing each service here, method by
//! method, means a new method does not compile until it is let through
//! the same way.

use std::pin::Pin;

use callgrid_proto::v1;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::api::Api;
use crate::auth::{Authorizer, Client, Needs, Scoped};

/// The public API as served: every request gets a `request` span (node,
/// method, tenant, acting extension, call id) and passes the token check,
/// then goes to [`Api`] unchanged.
#[derive(Clone)]
pub struct Guarded {
    api: Api,
    auth: Authorizer,
    node: u64,
}

impl Guarded {
    pub fn new(api: Api, auth: Authorizer, node: u64) -> Self {
        Self { api, auth, node }
    }

    fn span<T: Scoped>(&self, method: &'static str, request: &Request<T>) -> tracing::Span {
        let r = request.get_ref();
        let needs = r.needs();
        let acting = match needs {
            Needs::ActAs { extension, .. }
            | Needs::OwnsGroup {
                owner: extension, ..
            } => Some(extension),
            _ => None,
        };
        tracing::info_span!(
            "request",
            node = self.node,
            method,
            tenant = needs.tenant(),
            acting,
            call_id = r.call_id()
        )
    }

    /// The token check; `Ok` says which client the request came from.
    fn check<T: Scoped>(
        &self,
        method: &'static str,
        request: &Request<T>,
    ) -> Result<Client, Status> {
        self.auth.authorize(request).inspect_err(|status| {
            metrics::counter!("callgrid_auth_refusals_total", "method" => method, "code" => format!("{:?}", status.code()))
                .increment(1);
            tracing::info!(code = ?status.code(), reason = status.message(), "request refused");
        })
    }
}

/// Logs (at debug) how a request ended, inside its span.
fn finished<T>(result: &Result<T, Status>) {
    match result {
        Ok(_) => tracing::debug!(code = "Ok", "request done"),
        Err(status) => {
            tracing::debug!(code = ?status.code(), reason = status.message(), "request done")
        }
    }
}

/// Implements a service for [`Guarded`]: span, check, delegate.
macro_rules! guard {
    ($service:ident :: $trait:ident { $($method:ident = $name:literal ($request:ident) -> $response:ident;)* }) => {
        #[tonic::async_trait]
        impl v1::$service::$trait for Guarded {
            $(async fn $method(&self, request: Request<v1::$request>) -> Result<Response<v1::$response>, Status> {
                const METHOD: &str = concat!(stringify!($trait), "/", $name);
                let span = self.span(METHOD, &request);
                async {
                    self.check(METHOD, &request)?;
                    let result = <Api as v1::$service::$trait>::$method(&self.api, request).await;
                    finished(&result);
                    result
                }
                .instrument(span)
                .await
            })*
        }
    };
}

guard!(directory_server::Directory {
    put_tenant = "PutTenant" (PutTenantRequest) -> PutTenantResponse;
    get_tenant = "GetTenant" (GetTenantRequest) -> GetTenantResponse;
    list_tenants = "ListTenants" (ListTenantsRequest) -> ListTenantsResponse;
    delete_tenant = "DeleteTenant" (DeleteTenantRequest) -> DeleteTenantResponse;
    put_extension = "PutExtension" (PutExtensionRequest) -> PutExtensionResponse;
    get_extension = "GetExtension" (GetExtensionRequest) -> GetExtensionResponse;
    list_extensions = "ListExtensions" (ListExtensionsRequest) -> ListExtensionsResponse;
    delete_extension = "DeleteExtension" (DeleteExtensionRequest) -> DeleteExtensionResponse;
    set_online = "SetOnline" (SetOnlineRequest) -> SetOnlineResponse;
    put_call_group = "PutCallGroup" (PutCallGroupRequest) -> PutCallGroupResponse;
    get_call_group = "GetCallGroup" (GetCallGroupRequest) -> GetCallGroupResponse;
    delete_call_group = "DeleteCallGroup" (DeleteCallGroupRequest) -> DeleteCallGroupResponse;
    put_park_policy = "PutParkPolicy" (PutParkPolicyRequest) -> PutParkPolicyResponse;
    get_park_policy = "GetParkPolicy" (GetParkPolicyRequest) -> GetParkPolicyResponse;
    list_park_policies = "ListParkPolicies" (ListParkPoliciesRequest) -> ListParkPoliciesResponse;
    delete_park_policy = "DeleteParkPolicy" (DeleteParkPolicyRequest) -> DeleteParkPolicyResponse;
    grant_park_policy = "GrantParkPolicy" (GrantParkPolicyRequest) -> GrantParkPolicyResponse;
});

guard!(calls_server::Calls {
    dial = "Dial" (DialRequest) -> DialResponse;
    answer = "Answer" (AnswerRequest) -> AnswerResponse;
    hangup = "Hangup" (HangupRequest) -> HangupResponse;
    get_call = "GetCall" (GetCallRequest) -> GetCallResponse;
    list_calls = "ListCalls" (ListCallsRequest) -> ListCallsResponse;
});

guard!(pickup_server::Pickup {
    directed_pickup = "DirectedPickup" (DirectedPickupRequest) -> PickupResponse;
    group_pickup = "GroupPickup" (GroupPickupRequest) -> PickupResponse;
    named_pickup = "NamedPickup" (NamedPickupRequest) -> PickupResponse;
    blf_pickup = "BlfPickup" (BlfPickupRequest) -> PickupResponse;
});

guard!(park_server::Park {
    park = "Park" (ParkRequest) -> ParkResponse;
    retrieve = "Retrieve" (RetrieveRequest) -> RetrieveResponse;
    list_parked = "ListParked" (ListParkedRequest) -> ListParkedResponse;
});

guard!(registrar_server::Registrar {
    authenticate = "Authenticate" (AuthenticateRequest) -> AuthenticateResponse;
    register = "Register" (RegisterRequest) -> RegisterResponse;
    lookup = "Lookup" (LookupRequest) -> LookupResponse;
});

guard!(cluster_server::Cluster {
    status = "Status" (StatusRequest) -> StatusResponse;
    add_node = "AddNode" (AddNodeRequest) -> AddNodeResponse;
    remove_node = "RemoveNode" (RemoveNodeRequest) -> RemoveNodeResponse;
    noop = "Noop" (NoopRequest) -> NoopResponse;
});

type Stream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl v1::presence_server::Presence for Guarded {
    type WatchLampsStream = Stream<v1::LampEvent>;
    type NotificationsStream = Stream<v1::Notification>;

    async fn watch_lamps(
        &self,
        mut request: Request<v1::WatchLampsRequest>,
    ) -> Result<Response<Self::WatchLampsStream>, Status> {
        const METHOD: &str = "Presence/WatchLamps";
        let span = self.span(METHOD, &request);
        async {
            let client = self.check(METHOD, &request)?;
            // Streams are counted per client (see `api::presence`).
            request.extensions_mut().insert(client);
            let result =
                <Api as v1::presence_server::Presence>::watch_lamps(&self.api, request).await;
            finished(&result);
            Ok(result?.map(|s| Box::pin(s) as Self::WatchLampsStream))
        }
        .instrument(span)
        .await
    }

    async fn notifications(
        &self,
        mut request: Request<v1::NotificationsRequest>,
    ) -> Result<Response<Self::NotificationsStream>, Status> {
        const METHOD: &str = "Presence/Notifications";
        let span = self.span(METHOD, &request);
        async {
            let client = self.check(METHOD, &request)?;
            // Streams are counted per client (see `api::presence`).
            request.extensions_mut().insert(client);
            let result =
                <Api as v1::presence_server::Presence>::notifications(&self.api, request).await;
            finished(&result);
            Ok(result?.map(|s| Box::pin(s) as Self::NotificationsStream))
        }
        .instrument(span)
        .await
    }
}
