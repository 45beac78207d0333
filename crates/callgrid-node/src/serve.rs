//! The gRPC server of a node: the public `callgrid.v1` services behind
//! their gate, the internal `Peer` service behind its client-certificate
//! check, health and reflection, on bounded connections.

use std::time::Duration;

use anyhow::Context;
use callgrid_proto::{internal, v1};
use futures::StreamExt;
use internal::peer_server::PeerServer;
use tokio::sync::watch;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;

use crate::api::{Api, Shared};
use crate::batched::BatchedWrites;
use crate::cluster::PeerService;

/// HTTP/2 keepalive: a ping this often, and a client that does not answer
/// within the timeout is gone.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest Presence request decoded: a watch of 1,000 extensions and
/// 1,000 park codes fits many times over, and a request far past the list
/// limits is refused from its length before it is decoded into memory.
const PRESENCE_MESSAGE_LIMIT: usize = 64 << 10;

/// The public `callgrid.v1` services, each behind the gate (request span
/// and token check): served on the gRPC port, and called in this process
/// by the embedded SIP edge, whose requests skip the socket and HTTP/2 but
/// not the API.
pub fn public_api(shared: Shared, security: &crate::tls::Security) -> Routes {
    let node_id = shared.consensus.node_id;
    let api = crate::gate::Guarded::new(Api::new(shared), security.auth.clone(), node_id);
    Routes::new(v1::directory_server::DirectoryServer::new(api.clone()))
        .add_service(v1::calls_server::CallsServer::new(api.clone()))
        .add_service(v1::pickup_server::PickupServer::new(api.clone()))
        .add_service(v1::park_server::ParkServer::new(api.clone()))
        .add_service(
            v1::presence_server::PresenceServer::new(api.clone())
                .max_decoding_message_size(PRESENCE_MESSAGE_LIMIT),
        )
        .add_service(v1::registrar_server::RegistrarServer::new(api.clone()))
        .add_service(v1::cluster_server::ClusterServer::new(api))
}

pub async fn serve_grpc(
    shared: Shared,
    connections: impl futures::Stream<Item = std::io::Result<crate::connections::Bounded>>
    + Send
    + 'static,
    security: crate::tls::Security,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    let peer = PeerService {
        router: shared.router.clone(),
    };
    let api = public_api(shared, &security);
    health
        .set_serving::<v1::directory_server::DirectoryServer<Api>>()
        .await;
    health
        .set_serving::<v1::calls_server::CallsServer<Api>>()
        .await;
    health
        .set_serving::<v1::pickup_server::PickupServer<Api>>()
        .await;
    health
        .set_serving::<v1::park_server::ParkServer<Api>>()
        .await;
    health
        .set_serving::<v1::presence_server::PresenceServer<Api>>()
        .await;
    health
        .set_serving::<v1::cluster_server::ClusterServer<Api>>()
        .await;
    health
        .set_serving::<v1::registrar_server::RegistrarServer<Api>>()
        .await;
    // Reflection in both protocol versions: several tools (Python's
    // reflection client among them) speak only v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(callgrid_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let reflection = reflection().build_v1()?;
    // Connections come bounded (caps, handshake and idle deadlines, see
    // `connections`) with TCP_NODELAY: without it a small reply can wait
    // ~40 ms for the client's delayed ACK.
    // A connection's writes in a burst wait one scheduler turn, so a lamp
    // change fanned out to thousands of streams leaves in few writes (see
    // `batched`).
    let incoming = connections.map(|conn| conn.map(BatchedWrites::new));
    // Keepalive pings make a live but quiet client send something, so the
    // idle deadline only ever closes a stalled one.
    let mut server = Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT));
    if let Some(tls) = security.server.clone() {
        server = server
            .tls_config(tls)
            .context("tls: cannot use the certificate and key")?;
    }
    let peer = PeerServer::new(peer).max_decoding_message_size(256 << 20);
    server
        .add_routes(api)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(InterceptedService::new(peer, security.peer_check()))
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await?;
    Ok(())
}
