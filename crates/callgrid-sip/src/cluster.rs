//! The edge's view of the cluster: typed clients of the public API, with
//! the edge's bearer token on every request, and [`once`] for the requests
//! that change something.
//!
//! The clients are the generated `callgrid.v1` clients either way; only
//! what carries their HTTP requests differs. A standalone edge reaches a
//! node over the network (HTTP/2 over TCP, TLS where the cluster has it).
//! The edge a node embeds calls that node's API services directly
//! ([`Cluster::in_process`]): the same gate and handlers a remote client
//! reaches, without a socket, HTTP/2 framing or a second task per request.

use std::future::Future;

use callgrid_proto::v1::{
    calls_client::CallsClient, directory_client::DirectoryClient, park_client::ParkClient,
    pickup_client::PickupClient, presence_client::PresenceClient,
    registrar_client::RegistrarClient,
};
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tonic::{Request, Response, Status};
use tower::ServiceExt as _;

/// Adds `authorization: Bearer <token>` when the edge has a token.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        Ok(request)
    }
}

/// Any carrier of the API's HTTP requests: a network channel (with the
/// edge's token) or a node's own services in this process.
pub type ApiService = tower::util::BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    LinkError,
>;

/// The carrier of a request failed (the connection, not the API: the
/// API's refusals are statuses). A concrete type, not a boxed error, so
/// the clients' futures stay `Send` for every lifetime; its source is the
/// carrier's own error, which tonic reads to tell an unreachable node
/// (`UNAVAILABLE`) from others.
#[derive(Debug)]
pub struct LinkError(tower::BoxError);

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the link to the cluster failed: {}", self.0)
    }
}

impl std::error::Error for LinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

type Authed = ApiService;

/// Clients of every service the edge uses, sharing one HTTP/2 connection.
#[derive(Clone)]
pub struct Cluster {
    pub calls: CallsClient<Authed>,
    pub directory: DirectoryClient<Authed>,
    pub park: ParkClient<Authed>,
    pub registrar: RegistrarClient<Authed>,
    pub presence: PresenceClient<Authed>,
    /// BLF pickups (INVITE with Replaces).
    pub pickup: PickupClient<Authed>,
}

impl Cluster {
    /// Clients of the node at `url` (`http://host:port`, or `https://` with
    /// the cluster's CA); connects lazily, so the edge can start before the
    /// node serves.
    pub fn connect(url: &str, token: Option<&str>, ca: Option<&[u8]>) -> anyhow::Result<Self> {
        let mut endpoint = Endpoint::from_shared(url.to_owned())?.tcp_nodelay(true);
        if let Some(ca) = ca {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)))?;
        }
        let channel = endpoint.connect_lazy();
        let token = token
            .map(|t| format!("Bearer {t}").parse())
            .transpose()
            .map_err(|_| anyhow::anyhow!("--token: not a valid header value"))?;
        let authed = InterceptedService::new(channel, BearerToken(token));
        Ok(Self::over(ApiService::new(
            authed
                .map_err(|e| LinkError(e.into()))
                .map_response(|response| response.map(tonic::body::Body::new)),
        )))
    }

    /// Clients that call `api`, a node's own `callgrid.v1` services in
    /// this process (the node's gate included), as the embedded edge does.
    /// Nothing else changes for the edge: the requests and answers are the
    /// public API's, encoded and decoded as over the network.
    pub fn in_process<S>(api: S) -> Self
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
            > + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<tower::BoxError>,
    {
        metrics::gauge!("callgrid_sip_in_process_link").set(1.0);
        Self::over(ApiService::new(api.map_err(|e| LinkError(e.into()))))
    }

    fn over(service: ApiService) -> Self {
        Self {
            calls: CallsClient::new(service.clone()),
            directory: DirectoryClient::new(service.clone()),
            park: ParkClient::new(service.clone()),
            registrar: RegistrarClient::new(service.clone()),
            presence: PresenceClient::new(service.clone()),
            pickup: PickupClient::new(service),
        }
    }
}

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(6);

/// Sends `message` under a fresh request id, and again under the same id
/// while the cluster could not decide it or cannot say whether it took
/// effect ([`callgrid_client::under_one_id`]): a phone's pickup that timed
/// out and was then committed learns it won.
pub async fn once<T, R, Fut>(
    message: T,
    mut send: impl FnMut(Request<T>) -> Fut,
) -> Result<R, Status>
where
    T: Clone,
    Fut: Future<Output = Result<Response<R>, Status>>,
{
    let id = format!("sip-{:032x}", rand::random::<u128>());
    let mut sent = 0;
    callgrid_client::under_one_id(message, &id, |mut request| {
        // Four attempts end well inside a phone's 32 s transaction timer.
        request.set_timeout(ATTEMPT_TIMEOUT);
        sent += 1;
        if sent > 1 {
            metrics::counter!("callgrid_sip_cluster_retries_total").increment(1);
        }
        let attempt = send(request);
        // A network channel ends an attempt at its deadline; an in-process
        // call has no transport to do that, so the deadline is kept here.
        async move {
            tokio::time::timeout(ATTEMPT_TIMEOUT, attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(Status::deadline_exceeded(
                        "the cluster did not answer in time",
                    ))
                })
        }
    })
    .await
}
