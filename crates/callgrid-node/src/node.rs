//! Starting, serving and stopping one node.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use callgrid_model::{Command, Event};
use callgrid_proto::{internal, v1};
use callgrid_raft::{AppliedEvents, CallgridRaft};
use futures::StreamExt;
use internal::peer_server::PeerServer;
use openraft::BasicNode;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;

use crate::actors::{Owners, home_of_call};
use crate::api::{Api, StreamBudget, StreamLimits};
use crate::batched::BatchedWrites;
use crate::cluster::{PeerNetwork, PeerService, Peers, Router, hand_off_shards, run_shard_keeper};
use crate::config::{ServeArgs, SipListen};
use crate::consensus::Consensus;
use crate::hub::Hub;

/// How long a new connection has to send its first bytes (a TLS
/// ClientHello or the HTTP/2 preface) before it is closed.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// How long a connection may send nothing at all before it is closed.
const IDLE_DEADLINE: Duration = Duration::from_secs(120);
/// HTTP/2 keepalive: a ping this often, and a client that does not answer
/// within the timeout is gone.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest Presence request decoded: a watch of 1,000 extensions and
/// 1,000 park codes fits many times over, and a request far past the list
/// limits is refused from its length before it is decoded into memory.
const PRESENCE_MESSAGE_LIMIT: usize = 64 << 10;

/// How long a stopping node waits for in-flight requests and connections.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// A started node: what its services share.
#[derive(Clone)]
pub struct Node {
    pub consensus: Consensus,
    pub router: Router,
    pub hub: Hub,
    /// What open presence streams may hold, per client and node-wide.
    pub streams: StreamBudget,
}

/// Runs a node until `stop` resolves (SIGTERM or Ctrl-C in the binary),
/// then shuts down in order: hand its shards to the other nodes, stop
/// accepting, drain in-flight requests, end streams, stop Raft, flush.
pub async fn run(
    args: ServeArgs,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let timer_scale_ppm = args.timer_scale_ppm().map_err(anyhow::Error::msg)?;
    let grpc = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen {}: cannot bind", args.listen))?;
    let metrics_listener = TcpListener::bind(args.metrics)
        .await
        .with_context(|| format!("--metrics {}: cannot bind", args.metrics))?;
    let grpc_addr = grpc.local_addr()?;
    let metrics_addr = metrics_listener.local_addr()?;
    let advertise = args
        .advertise
        .clone()
        .unwrap_or_else(|| grpc_addr.to_string());
    let prometheus = crate::metrics::install_recorder()?;

    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("--data-dir {}: cannot create", args.data_dir.display()))?;
    let db = callgrid_raft::open_db(&args.data_dir)?;
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (log_store, state_machine, state) = callgrid_raft::open(&db, events_tx)?;
    let security = crate::tls::Security::from_args(&args)?;
    let peers = Peers::with_tls(security.peer.clone());
    let raft = CallgridRaft::new(
        args.node_id,
        Arc::new(callgrid_raft::raft_config_with(args.snapshot_every)),
        PeerNetwork {
            peers: peers.clone(),
        },
        log_store,
        state_machine,
    )
    .await?;

    let console = crate::console::bind(&args, &security, grpc_addr, &advertise).await?;
    let http_addr = console.as_ref().map(|console| console.local_addr());

    let (shutdown_tx, shutdown) = watch::channel(false);
    let consensus = Consensus::new(raft.clone(), state.clone(), args.node_id, peers.clone());
    let owners = Owners::new(consensus.clone());
    let router = Router {
        consensus: consensus.clone(),
        owners: owners.clone(),
        peers: peers.clone(),
        draining: Arc::default(),
    };
    let hub = Hub::default();
    let node = Node {
        consensus: consensus.clone(),
        router: router.clone(),
        hub: hub.clone(),
        streams: StreamBudget::new(StreamLimits {
            per_client: args.max_streams_per_client as usize,
            watched_lamps: usize::try_from(args.max_watched_lamps).unwrap_or(usize::MAX),
        }),
    };
    let sip = bind_sip(&args, &security, &node).await?;
    let sip_addr = sip.as_ref().map(|edge| edge.local_addr());
    let dispatcher = tokio::spawn(dispatch(
        events_rx,
        owners.clone(),
        hub.clone(),
        consensus.clone(),
    ));

    // Serve before joining: the leader replicates to us while adding us.
    let limits = crate::connections::Limits {
        max_total: args.max_connections as usize,
        max_per_source: args.max_connections_per_source as usize,
        handshake: HANDSHAKE_DEADLINE,
        idle: IDLE_DEADLINE,
    };
    let server = tokio::spawn(serve_grpc(
        node,
        crate::connections::incoming(grpc, limits),
        security.clone(),
        shutdown.clone(),
    ));
    bootstrap(&raft, &peers, &args, &advertise).await?;

    if consensus.read(|sb| sb.timer_scale_ppm()) != timer_scale_ppm {
        consensus
            .propose(Command::SetTimerScale {
                parts_per_million: timer_scale_ppm,
            })
            .await?;
    }
    resume_timers(&consensus, &owners).await;

    let keeper = tokio::spawn(run_shard_keeper(
        router.clone(),
        args.shard_placement,
        shutdown.clone(),
    ));
    let metrics_task = tokio::spawn(crate::metrics::serve(
        metrics_listener,
        prometheus.clone(),
        shutdown.clone(),
    ));
    let lag_probe = tokio::spawn(crate::metrics::probe_runtime_lag(shutdown.clone()));
    let sweeper = tokio::spawn(crate::registrations::drop_lapsed(
        consensus.clone(),
        shutdown.clone(),
    ));
    let sip_task = sip.map(|edge| {
        let mut stop = shutdown.clone();
        tokio::spawn(edge.run(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }))
    });
    let console_task = console.map(|console| {
        let mut stop = shutdown.clone();
        tokio::spawn(console.run(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }))
    });
    let sampler = tokio::spawn(crate::metrics::sample(
        consensus.clone(),
        owners.clone(),
        prometheus,
        args.metrics_per_tenant,
        shutdown.clone(),
    ));

    tracing::info!(
        node = args.node_id,
        grpc = %grpc_addr,
        metrics = %metrics_addr,
        sip = %sip_addr.map_or("off".to_owned(), |a| a.to_string()),
        http = %http_addr.map_or("off".to_owned(), |a| a.to_string()),
        advertise = %advertise,
        data_dir = %args.data_dir.display(),
        timer_scale = args.timer_scale,
        "callgrid serving ({})",
        security.mode()
    );

    let mut server = server;
    tokio::select! {
        result = &mut server => result??,
        () = stop => {
            tracing::info!("stopping: handing shards off");
            hand_off_shards(&router, Duration::from_secs(5)).await;
            tracing::info!("stopping: no new requests; draining in-flight decisions; ending streams");
            let _ = shutdown_tx.send(true);
            hub.close();
            // In-flight requests finish; a client that never answers the
            // HTTP/2 goodbye does not hold the node up past the deadline.
            match tokio::time::timeout(DRAIN_DEADLINE, &mut server).await {
                Ok(result) => result??,
                Err(_) => {
                    tracing::warn!(deadline = ?DRAIN_DEADLINE, "connections still open after the drain deadline; closing them");
                    server.abort();
                }
            }
        }
    }
    let _ = shutdown_tx.send(true);
    hub.close();
    raft.shutdown().await.context("raft shutdown")?;
    state.stores_closed().await;
    dispatcher.abort();
    let _ = keeper.await;
    let _ = metrics_task.await;
    let _ = sampler.await;
    let _ = lag_probe.await;
    let _ = sweeper.await;
    if let Some(task) = sip_task {
        let _ = task.await;
    }
    if let Some(task) = console_task {
        let _ = task.await;
    }
    db.flush_async().await.context("final flush")?;
    drop(db);
    tracing::info!("stopped");
    Ok(())
}

/// Binds the embedded SIP edge (`--sip`), a client of this node's own
/// public API called in this process (see [`in_process_api`]). It runs in
/// development mode only: a secure cluster is fronted by `callgrid sip`
/// with its own token and CA.
async fn bind_sip(
    args: &ServeArgs,
    security: &crate::tls::Security,
    node: &Node,
) -> anyhow::Result<Option<callgrid_sip::Edge>> {
    let SipListen::At(listen) = args.sip else {
        return Ok(None);
    };
    if security.server.is_some() || !security.auth.is_dev_mode() {
        tracing::warn!(
            "the embedded SIP edge serves development mode only (no TLS, no tokens): \
             run `callgrid sip --cluster <url> --token <tenant admin token>` in front of this node"
        );
        return Ok(None);
    }
    let cluster = callgrid_sip::cluster::Cluster::in_process(in_process_api(node, security));
    let edge = callgrid_sip::Edge::bind_with(listen, cluster)
        .await
        .with_context(|| format!("--sip {listen}"))?;
    Ok(Some(edge))
}

/// The public API services the SIP edge uses, behind the same gate as on
/// the gRPC port, as one service to call in this process: the embedded
/// edge's requests skip the socket and HTTP/2, not the API.
fn in_process_api(node: &Node, security: &crate::tls::Security) -> tonic::service::Routes {
    let api = crate::gate::Guarded::new(
        Api::new(node.clone()),
        security.auth.clone(),
        node.consensus.node_id,
    );
    tonic::service::Routes::new(v1::directory_server::DirectoryServer::new(api.clone()))
        .add_service(v1::calls_server::CallsServer::new(api.clone()))
        .add_service(v1::pickup_server::PickupServer::new(api.clone()))
        .add_service(v1::park_server::ParkServer::new(api.clone()))
        .add_service(
            v1::presence_server::PresenceServer::new(api.clone())
                .max_decoding_message_size(PRESENCE_MESSAGE_LIMIT),
        )
        .add_service(v1::registrar_server::RegistrarServer::new(api))
}

/// The first time a data directory is used: start a one-voter cluster, or
/// join the one at `--join`. Then wait until some node leads.
async fn bootstrap(
    raft: &CallgridRaft,
    peers: &Peers,
    args: &ServeArgs,
    advertise: &str,
) -> anyhow::Result<()> {
    if !raft.is_initialized().await? {
        match &args.join {
            None => {
                let members = BTreeMap::from([(
                    args.node_id,
                    BasicNode {
                        addr: advertise.to_owned(),
                    },
                )]);
                raft.initialize(members).await?;
                tracing::info!(node = args.node_id, "initialized a new single-node cluster");
            }
            Some(seed) => {
                crate::cluster::join(
                    peers,
                    seed,
                    args.node_id,
                    advertise,
                    Duration::from_secs(120),
                )
                .await?;
            }
        }
    }
    let mut metrics = raft.metrics();
    tokio::time::timeout(
        Duration::from_secs(60),
        metrics.wait_for(|m| m.current_leader.is_some()),
    )
    .await
    .context("no leader within 60 s")?
    .context("raft stopped while waiting for a leader")?;
    Ok(())
}

/// Re-arms every pending call timer this node owns, from replicated state.
async fn resume_timers(consensus: &Consensus, owners: &Owners) {
    let pending = consensus.read(|sb| {
        sb.pending_deadlines()
            .into_iter()
            .filter_map(|(_, call, at)| home_of_call(sb, call).map(|key| (key, call, at)))
            .collect::<Vec<_>>()
    });
    if !pending.is_empty() {
        tracing::debug!(timers = pending.len(), "arming call timers");
    }
    for (key, call, at) in pending {
        owners.arm(&key, call, at).await;
    }
}

/// Routes what the state machine applied: timers to their owners, lamps
/// and notices to presence streams; a moved shard map re-arms timers.
async fn dispatch(
    mut applied: mpsc::UnboundedReceiver<AppliedEvents>,
    owners: Owners,
    hub: Hub,
    consensus: Consensus,
) {
    while let Some(AppliedEvents { index, events }) = applied.recv().await {
        for event in events {
            match event {
                Event::Deadline { call, at_ms, .. } => {
                    if let Some(key) = consensus.read(|sb| home_of_call(sb, call)) {
                        owners.arm(&key, call, at_ms).await;
                    }
                }
                Event::ShardsMoved { epoch } => {
                    tracing::info!(
                        epoch,
                        owned = consensus.read(|sb| sb.shard_map().owned_by(consensus.node_id)),
                        "shard map applied"
                    );
                    resume_timers(&consensus, &owners).await;
                }
                Event::Notice { .. } | Event::Lamp { .. } => {
                    if matches!(
                        event,
                        Event::Notice {
                            notice: callgrid_model::Notice::ParkRingBack { .. },
                            ..
                        }
                    ) {
                        metrics::counter!("callgrid_ring_backs_total").increment(1);
                    }
                    hub.publish(index, event);
                }
            }
        }
    }
}

async fn serve_grpc(
    node: Node,
    connections: impl futures::Stream<Item = std::io::Result<crate::connections::Bounded>>
    + Send
    + 'static,
    security: crate::tls::Security,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    let peer = PeerService {
        router: node.router.clone(),
    };
    let node_id = node.consensus.node_id;
    let api = crate::gate::Guarded::new(Api::new(node), security.auth.clone(), node_id);
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
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(InterceptedService::new(peer, security.peer_check()))
        .add_service(v1::directory_server::DirectoryServer::new(api.clone()))
        .add_service(v1::calls_server::CallsServer::new(api.clone()))
        .add_service(v1::pickup_server::PickupServer::new(api.clone()))
        .add_service(v1::park_server::ParkServer::new(api.clone()))
        .add_service(
            v1::presence_server::PresenceServer::new(api.clone())
                .max_decoding_message_size(PRESENCE_MESSAGE_LIMIT),
        )
        .add_service(v1::registrar_server::RegistrarServer::new(api.clone()))
        .add_service(v1::cluster_server::ClusterServer::new(api))
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await?;
    Ok(())
}
