//! Starting, serving and stopping one node.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use callgrid_actors::{Deadline, Owners};
use callgrid_model::Command;
use callgrid_raft::CallgridRaft;
use openraft::BasicNode;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::api::{Shared, StreamBudget, StreamLimits};
use crate::args::{ServeArgs, SipListen};
use crate::cluster::{PeerNetwork, hand_off_shards, run_shard_keeper};
use crate::consensus::Consensus;
use crate::hub::Hub;
use crate::peers::Peers;
use crate::route::Router;

/// How long a new connection has to send its first bytes (a TLS
/// ClientHello or the HTTP/2 preface) before it is closed.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// How long a connection may send nothing at all before it is closed.
const IDLE_DEADLINE: Duration = Duration::from_secs(120);
/// How long a stopping node waits for in-flight requests and connections.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

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
    let owners = Owners::start(consensus.clone()).await?;
    let router = Router {
        consensus: consensus.clone(),
        owners: owners.clone(),
        peers: peers.clone(),
        draining: Arc::default(),
    };
    let hub = Hub::default();
    let shared = Shared {
        consensus: consensus.clone(),
        router: router.clone(),
        hub: hub.clone(),
        streams: StreamBudget::new(StreamLimits {
            per_client: args.max_streams_per_client as usize,
            watched_lamps: usize::try_from(args.max_watched_lamps).unwrap_or(usize::MAX),
        }),
    };
    let sip = bind_sip(&args, &security, &shared).await?;
    let sip_addr = sip.as_ref().map(|edge| edge.local_addr());
    let dispatcher = tokio::spawn(crate::applied::dispatch(
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
    let server = tokio::spawn(crate::serve::serve_grpc(
        shared,
        crate::connections::incoming(grpc, limits),
        security.clone(),
        shutdown.clone(),
    ));
    bootstrap(&raft, &peers, &args, &advertise).await?;

    if consensus.read(|sb| sb.timer_scale_ppm()) != timer_scale_ppm {
        consensus
            .propose(
                Command::SetTimerScale {
                    parts_per_million: timer_scale_ppm,
                },
                Deadline::after(Duration::from_secs(30)),
            )
            .await?;
    }
    owners.resume_timers(None).await;

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
    owners.stop_all();
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
/// public API called in this process ([`crate::serve::public_api`]). It runs in
/// development mode only: a secure cluster is fronted by `callgrid sip`
/// with its own token and CA.
async fn bind_sip(
    args: &ServeArgs,
    security: &crate::tls::Security,
    shared: &Shared,
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
    let cluster = callgrid_sip::cluster::Cluster::in_process(crate::serve::public_api(
        shared.clone(),
        security,
    ));
    let edge = callgrid_sip::Edge::bind_with(listen, cluster)
        .await
        .with_context(|| format!("--sip {listen}"))?;
    Ok(Some(edge))
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
