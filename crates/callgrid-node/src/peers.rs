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

/// True when `status` is a failure to reach the peer at all (refused or
/// timed-out connection): the request was never sent, so it certainly
/// took no effect there. Any other failure may have come after the peer
/// took the request.
pub fn never_sent(status: &tonic::Status) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        if e.to_string().contains("connect error") {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod never_sent_tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_known_never_sent() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let peers = Peers::default();
        let mut client = peers.client(&format!("127.0.0.1:{port}")).expect("client");
        let status = client
            .ping(callgrid_proto::internal::PingRequest {})
            .await
            .expect_err("nothing listens there");
        assert!(never_sent(&status), "{status:?}");
        assert!(!never_sent(&tonic::Status::unavailable("connection reset")));
    }
}
