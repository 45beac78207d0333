//! Connections to the other nodes, by address.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callgrid_proto::internal::peer_client::PeerClient;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// Lazily connected channels to peers, shared by every user on this node.
#[derive(Clone, Default)]
pub struct Peers {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    /// TLS (and this node's client certificate) for every peer; `None`: plaintext.
    tls: Option<ClientTlsConfig>,
}

impl Peers {
    /// Peers reached over TLS when `tls` is set (see `crate::tls`).
    pub fn with_tls(tls: Option<ClientTlsConfig>) -> Self {
        Self {
            channels: Arc::default(),
            tls,
        }
    }

    /// A client for the node at `addr` (`host:port`). Connecting happens on
    /// first use and again after failures; an unreachable peer fails fast.
    pub fn client(&self, addr: &str) -> Result<PeerClient<Channel>, tonic::Status> {
        self.channel(addr).map(PeerClient::new)
    }

    /// The channel to the node at `addr`, for any of its services.
    pub fn channel(&self, addr: &str) -> Result<Channel, tonic::Status> {
        let mut channels = self.channels.lock().expect("peers lock poisoned");
        if let Some(ch) = channels.get(addr) {
            return Ok(ch.clone());
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
            .map_err(|e| tonic::Status::invalid_argument(format!("peer address {addr}: {e}")))?;
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|e| tonic::Status::internal(format!("peer {addr}: tls: {e}")))?;
        }
        let endpoint = endpoint
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(2));
        let channel = endpoint.connect_lazy();
        channels.insert(addr.to_owned(), channel.clone());
        Ok(channel)
    }
}
