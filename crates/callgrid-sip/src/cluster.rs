//! The edge's view of the cluster: typed clients of the public API, with
//! the edge's bearer token on every request, and [`once`] for the requests
//! that change something.

use std::future::Future;

use callgrid_proto::v1::{
    calls_client::CallsClient, directory_client::DirectoryClient, park_client::ParkClient,
    pickup_client::PickupClient, presence_client::PresenceClient,
    registrar_client::RegistrarClient,
};
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Response, Status};

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

type Authed = InterceptedService<Channel, BearerToken>;

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
        let auth = BearerToken(token);
        Ok(Self {
            calls: CallsClient::with_interceptor(channel.clone(), auth.clone()),
            directory: DirectoryClient::with_interceptor(channel.clone(), auth.clone()),
            park: ParkClient::with_interceptor(channel.clone(), auth.clone()),
            registrar: RegistrarClient::with_interceptor(channel.clone(), auth.clone()),
            presence: PresenceClient::with_interceptor(channel.clone(), auth.clone()),
            pickup: PickupClient::with_interceptor(channel, auth),
        })
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
        send(request)
    })
    .await
}
