//! The edge's view of the cluster: typed clients of the public API, with
//! the edge's bearer token on every request, and [`once`] for the requests
//! that change something.
//!
//! The clients are the generated `callgrid.v1` clients either way; only
//! what carries their HTTP requests differs. A standalone edge reaches the
//! cluster over the network (HTTP/2 over TCP, TLS where the cluster has it)
//! through the shard-aware [`callgrid_client::Client`]: a decision (a dial,
//! an answer, a pickup, a park) goes to the node that owns what it contends
//! for, and everything else to the node the edge was pointed at. The edge a
//! node embeds calls that node's API services directly
//! ([`Cluster::in_process`]): the same gate and handlers a remote client
//! reaches, without a socket, HTTP/2 framing or a second task per request.

use std::future::Future;

use callgrid_client::{Client, Connection, Key};
use callgrid_proto::v1::{
    calls_client::CallsClient, directory_client::DirectoryClient, park_client::ParkClient,
    pickup_client::PickupClient, presence_client::PresenceClient,
    registrar_client::RegistrarClient,
};
use tonic::{Request, Response, Status};
use tower::ServiceExt as _;

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

/// How often a standalone edge looks again at the members and the shard
/// map: until it does, a moved shard costs a hop.
const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Clients of every service the edge uses, sharing one HTTP/2 connection:
/// the node the edge was pointed at (or its own node, embedded). For a
/// decision, [`once`] picks the clients of its owner.
#[derive(Clone)]
pub struct Cluster {
    pub calls: CallsClient<Authed>,
    pub directory: DirectoryClient<Authed>,
    pub park: ParkClient<Authed>,
    pub registrar: RegistrarClient<Authed>,
    pub presence: PresenceClient<Authed>,
    /// BLF pickups (INVITE with Replaces).
    pub pickup: PickupClient<Authed>,
    /// The shard-aware client of a standalone edge; `None` embedded, where
    /// every request is this node's to route.
    sharded: Option<Client>,
}

impl Cluster {
    /// Clients of the cluster at `url` (`http://host:port`, or `https://`
    /// with the cluster's CA), sending `token` on every request. Connects
    /// lazily, so the edge can start before the node serves, and learns the
    /// members and the shard map in the background.
    pub fn connect(url: &str, token: Option<&str>, ca: Option<&[u8]>) -> anyhow::Result<Self> {
        let mut builder = Client::builder();
        if let Some(ca) = ca {
            builder = builder.tls(ca, None);
        }
        if let Some(token) = token {
            builder = builder.token(token);
        }
        let client = builder.connect_lazy(&[url]).map_err(|e| match e {
            callgrid_client::Error::Setting { field, why } => {
                anyhow::anyhow!("--{}: {why}", field.replace('_', "-"))
            }
            e => anyhow::Error::new(e).context(format!("--cluster {url}")),
        })?;
        client.keep_fresh(REFRESH_EVERY);
        let mut cluster = Self::over(Self::carrier(client.any()));
        cluster.sharded = Some(client);
        Ok(cluster)
    }

    /// The clients for attempt `attempt` of a request about `key`: its
    /// owner's for the first, any node's for a retry (see
    /// [`callgrid_client::Route`]). Embedded, this node's own.
    pub fn toward(&self, key: Option<&Key>, attempt: u32) -> Cluster {
        match &self.sharded {
            None => self.clone(),
            Some(client) => {
                let mut cluster = Self::over(Self::carrier(client.route(key).attempt(attempt)));
                cluster.sharded = self.sharded.clone();
                cluster
            }
        }
    }

    fn carrier(connection: Connection) -> ApiService {
        ApiService::new(connection.map_err(|e| LinkError(e.into())))
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
            sharded: None,
        }
    }
}

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(6);

/// Sends `message` about `key` under a fresh request id, and again under
/// the same id while the cluster could not decide it or cannot say whether
/// it took effect ([`callgrid_client::under_one_id`]): a phone's pickup
/// that timed out and was then committed learns it won. `send` gets the
/// clients of the attempt ([`Cluster::toward`]): the key's owner first.
pub async fn once<T, R, Fut>(
    cluster: &Cluster,
    key: Option<Key>,
    message: T,
    mut send: impl FnMut(Cluster, Request<T>) -> Fut,
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
        if sent > 0 {
            metrics::counter!("callgrid_sip_cluster_retries_total").increment(1);
        }
        let attempt = send(cluster.toward(key.as_ref(), sent), request);
        sent += 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(connected: anyhow::Result<Cluster>) -> String {
        match connected {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn a_bad_token_or_ca_is_refused_by_its_flag() {
        let why = refused(Cluster::connect(
            "http://127.0.0.1:1",
            Some("two\nlines"),
            None,
        ));
        assert!(why.starts_with("--token:"), "{why}");
        let why = refused(Cluster::connect(
            "https://127.0.0.1:1",
            None,
            Some(b"not a certificate"),
        ));
        assert!(why.starts_with("--ca:"), "{why}");
    }
}
