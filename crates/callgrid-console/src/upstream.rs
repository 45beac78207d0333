//! The console's side of the public API: gRPC clients of its node, and of
//! the node's peers for the operator view, each request carrying the
//! bearer token of the page that asked.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callgrid_proto::v1::{
    calls_client::CallsClient, cluster_client::ClusterClient, directory_client::DirectoryClient,
    park_client::ParkClient, pickup_client::PickupClient, presence_client::PresenceClient,
};
use tonic::Request;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// How long one unary request may take before the page is told the node
/// did not answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a peer has to answer the operator view's probe before it is
/// shown as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// A page's credentials: the `authorization` value it sent, passed on to
/// gRPC unchanged (the node checks it); `None` in development mode.
#[derive(Clone, Default)]
pub struct Bearer(pub Option<MetadataValue<Ascii>>);

impl Bearer {
    /// `message` as a request carrying this page's token.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        self.authorize(&mut request);
        request
    }

    /// Puts this page's token on `request`.
    pub fn authorize<T>(&self, request: &mut Request<T>) {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
    }

    /// Like [`request`](Self::request), bounded by [`REQUEST_TIMEOUT`].
    pub fn unary<T>(&self, message: T) -> Request<T> {
        let mut request = self.request(message);
        request.set_timeout(REQUEST_TIMEOUT);
        request
    }
}

/// The node and its peers, as the console dials them.
#[derive(Clone)]
pub struct Upstream {
    node: Channel,
    tls: Option<ClientTlsConfig>,
    /// Peers by advertised address, dialled lazily and kept.
    peers: Arc<Mutex<HashMap<String, Channel>>>,
}

impl Upstream {
    /// Clients of the node at `node` (a wildcard address is dialled on
    /// loopback); connects lazily, so the console can bind before the node
    /// serves.
    pub fn new(
        node: SocketAddr,
        tls: Option<ClientTlsConfig>,
        tls_domain: Option<String>,
    ) -> anyhow::Result<Self> {
        let node = if node.ip().is_unspecified() {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), node.port())
        } else {
            node
        };
        let endpoint = match &tls {
            None => Endpoint::from_shared(format!("http://{node}"))?,
            Some(tls) => {
                let mut tls = tls.clone();
                if let Some(domain) = tls_domain {
                    tls = tls.domain_name(domain);
                }
                Endpoint::from_shared(format!("https://{node}"))?.tls_config(tls)?
            }
        };
        Ok(Self {
            node: endpoint
                .tcp_nodelay(true)
                .connect_timeout(REQUEST_TIMEOUT)
                .connect_lazy(),
            tls,
            peers: Arc::default(),
        })
    }

    pub fn directory(&self) -> DirectoryClient<Channel> {
        DirectoryClient::new(self.node.clone())
    }

    pub fn calls(&self) -> CallsClient<Channel> {
        CallsClient::new(self.node.clone())
    }

    pub fn pickup(&self) -> PickupClient<Channel> {
        PickupClient::new(self.node.clone())
    }

    pub fn park(&self) -> ParkClient<Channel> {
        ParkClient::new(self.node.clone())
    }

    pub fn presence(&self) -> PresenceClient<Channel> {
        PresenceClient::new(self.node.clone())
    }

    pub fn cluster(&self) -> ClusterClient<Channel> {
        ClusterClient::new(self.node.clone())
    }

    /// The Cluster service of the member advertised at `addr`, as the
    /// other members dial it (same TLS, same name check).
    pub fn peer_cluster(&self, addr: &str) -> anyhow::Result<ClusterClient<Channel>> {
        let mut peers = self.peers.lock().expect("peer table lock");
        if let Some(channel) = peers.get(addr) {
            return Ok(ClusterClient::new(channel.clone()));
        }
        let endpoint = match &self.tls {
            None => Endpoint::from_shared(format!("http://{addr}"))?,
            Some(tls) => {
                Endpoint::from_shared(format!("https://{addr}"))?.tls_config(tls.clone())?
            }
        };
        let channel = endpoint
            .tcp_nodelay(true)
            .connect_timeout(PROBE_TIMEOUT)
            .connect_lazy();
        peers.insert(addr.to_owned(), channel.clone());
        Ok(ClusterClient::new(channel))
    }
}
