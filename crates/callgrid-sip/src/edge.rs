//! The SIP endpoint and its request loop.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use rsipstack::EndpointBuilder;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::Transaction;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{TcpListenerConnection, TransportLayer};
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::dialog::Shared;
use crate::dialog::blf::Subscriptions;
use crate::dialog::legs::Calls;
use crate::dialog::register::Watchers;
use crate::digest::Nonces;

/// Where the edge listens and which cluster it serves.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// UDP and TCP, one address (port 0: any free port).
    pub listen: SocketAddr,
    /// A node of the cluster: `http://host:port`.
    pub cluster: String,
    /// A bearer token (tenant admin or cluster admin) when the cluster
    /// authenticates its clients.
    pub token: Option<String>,
    /// The CA (PEM) that signed the cluster's certificates, for `https://`.
    pub ca: Option<Vec<u8>>,
}

/// A bound, not yet running SIP edge.
pub struct Edge {
    endpoint: rsipstack::transaction::Endpoint,
    addr: SocketAddr,
    stop: CancellationToken,
    shared: Arc<Shared>,
}

impl Edge {
    /// Binds UDP and TCP on `config.listen` (the same port for both), for
    /// the cluster at `config.cluster`, reached over the network.
    pub async fn bind(config: EdgeConfig) -> anyhow::Result<Edge> {
        let cluster = Cluster::connect(
            &config.cluster,
            config.token.as_deref(),
            config.ca.as_deref(),
        )?;
        Self::bind_with(config.listen, cluster).await
    }

    /// Binds UDP and TCP on `listen` for the cluster `cluster` reaches: the
    /// embedded edge passes [`Cluster::in_process`] clients of its node.
    pub async fn bind_with(listen: SocketAddr, cluster: Cluster) -> anyhow::Result<Edge> {
        let stop = CancellationToken::new();
        let transports = TransportLayer::new(stop.clone());
        let flood = Arc::new(crate::guard::Flood::default());
        let (udp, addr) = bind_udp_and_tcp_port(listen, &stop, &flood).await?;
        let tcp = TcpListenerConnection::new(addr, None).await?;
        transports.add_transport(udp.into());
        transports.add_transport(tcp.into());
        let endpoint = EndpointBuilder::new()
            .with_user_agent("callgrid")
            .with_cancel_token(stop.clone())
            .with_transport_layer(transports)
            .with_allows(vec![
                Method::Invite,
                Method::Ack,
                Method::Cancel,
                Method::Bye,
                Method::Options,
                Method::Register,
                Method::Subscribe,
                Method::Notify,
                Method::Refer,
                Method::Message,
            ])
            .build();
        let shared = Arc::new(Shared {
            endpoint: endpoint.inner.clone(),
            dialogs: Arc::new(DialogLayer::new(endpoint.inner.clone())),
            cluster,
            nonces: Nonces::default(),
            edge_id: addr.to_string(),
            calls: Calls::default(),
            watchers: Watchers::default(),
            subscriptions: Subscriptions::default(),
            flood,
            relays: crate::dialog::relay::Relays::default(),
        });
        Ok(Edge {
            endpoint,
            addr,
            stop,
            shared,
        })
    }

    /// The address phones register to (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `stop` resolves, then closes the listeners.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let mut incoming = self.endpoint.incoming_transactions()?;
        let endpoint = self.endpoint.inner.clone();
        let serving = tokio::spawn(async move { endpoint.serve().await });
        tracing::info!(sip = %self.addr, "SIP edge serving (UDP and TCP)");
        tokio::pin!(stop);
        loop {
            let tx = tokio::select! {
                () = &mut stop => break,
                tx = incoming.recv() => match tx {
                    Some(tx) => tx,
                    None => break,
                },
            };
            let source = tx
                .connection
                .as_ref()
                .and_then(|c| c.get_remote_addr())
                .and_then(|a| a.addr.host.to_string().parse::<std::net::IpAddr>().ok());
            if let Some(source) = source
                && !self.shared.flood.admit(source)
            {
                metrics::counter!("callgrid_sip_requests_dropped_total", "reason" => "rate")
                    .increment(1);
                continue;
            }
            let shared = self.shared.clone();
            tokio::spawn(async move {
                let method = tx.original.method;
                if let Err(e) = dispatch(shared, tx).await {
                    tracing::debug!(%method, error = %e, "sip request failed");
                }
            });
        }
        self.shared.watchers.stop_all();
        self.shared.subscriptions.stop_all();
        self.stop.cancel();
        let _ = serving.await;
        tracing::info!("SIP edge stopped");
        Ok(())
    }
}

/// How often, and how far apart, an in-dialog request looks for its
/// dialog before it is answered 481 (250 ms in all).
const DIALOG_SETTLE_TRIES: u32 = 10;
const DIALOG_SETTLE_PAUSE: std::time::Duration = std::time::Duration::from_millis(25);

/// Binds UDP on `listen` (behind the screen, see [`crate::screen`]) and checks that TCP can have the same port (the
/// TCP listener itself binds when the endpoint serves, and only logs a
/// failure there). Asked for any port, it tries again when the port UDP got
/// is taken for TCP.
async fn bind_udp_and_tcp_port(
    listen: SocketAddr,
    stop: &CancellationToken,
    flood: &Arc<crate::guard::Flood>,
) -> anyhow::Result<(UdpConnection, SocketAddr)> {
    let attempts = if listen.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let socket = tokio::net::UdpSocket::bind(listen)
            .await
            .with_context(|| format!("sip {listen}: cannot bind UDP"))?;
        let screened = crate::screen::ScreenedUdp::new(socket, flood.clone());
        let udp = UdpConnection::from_socket(Arc::new(screened), None, Some(stop.child_token()))
            .await
            .with_context(|| format!("sip {listen}: cannot serve UDP"))?;
        let port = udp
            .get_addr()
            .addr
            .port
            .map(|p| p.value())
            .context("sip: the UDP socket has no port")?;
        let addr = SocketAddr::new(listen.ip(), port);
        match std::net::TcpListener::bind(addr) {
            Ok(tcp) => {
                drop(tcp);
                return Ok((udp, addr));
            }
            Err(e) => {
                last = Some(anyhow::Error::new(e).context(format!("sip {addr}: cannot bind TCP")))
            }
        }
    }
    Err(last.expect("at least one attempt"))
}

/// Hands a request to its dialog, or to the handler of its method.
async fn dispatch(shared: Arc<Shared>, mut tx: Transaction) -> anyhow::Result<()> {
    let method = tx.original.method;
    let in_dialog = tx
        .original
        .to_header()
        .ok()
        .and_then(|to| to.tag().ok().flatten())
        .is_some();
    if in_dialog && method == Method::Subscribe {
        return crate::dialog::blf::resubscribe(&shared, tx).await;
    }
    if in_dialog && method != Method::Ack {
        // A phone may send its first request in a dialog (a transfer, say)
        // right behind the ACK of its 200 OK, while the dialog layer is still
        // filing the dialog under its final tags: look again for a moment
        // before answering that there is no such dialog.
        for _ in 0..DIALOG_SETTLE_TRIES {
            if let Some(mut dialog) = shared.dialogs.match_dialog(&tx) {
                return Ok(dialog.handle(&mut tx).await?);
            }
            tokio::time::sleep(DIALOG_SETTLE_PAUSE).await;
        }
        return Ok(tx.reply(StatusCode::CallTransactionDoesNotExist).await?);
    }
    if method == Method::Invite
        && let Some(hop) = crate::dialog::relay::Hop::of(&tx.original)
    {
        return crate::dialog::hop::receive(shared, tx, hop).await;
    }
    match method {
        Method::Register => crate::dialog::register::register(&shared, tx).await,
        Method::Invite => crate::dialog::invite::invite(shared, tx).await,
        Method::Subscribe => crate::dialog::blf::subscribe(shared, tx).await,
        Method::Options => Ok(tx
            .reply_with(
                StatusCode::OK,
                vec![
                    Header::Allow(
                        "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY".into(),
                    ),
                    Header::Accept("application/sdp".into()),
                ],
                None,
            )
            .await?),
        // A stray ACK (its transaction already ended) needs no answer.
        Method::Ack => Ok(()),
        Method::Cancel => Ok(tx.reply(StatusCode::CallTransactionDoesNotExist).await?),
        _ => Ok(tx.reply(StatusCode::NotImplemented).await?),
    }
}
