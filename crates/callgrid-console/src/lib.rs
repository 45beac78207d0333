//! callgrid-console: the browser console every node serves. Attendants see
//! a tenant's lamps update live, pick up a ringing call with a click, park
//! and retrieve, and follow missed calls; operators see members, leader,
//! log progress and the shard map.
//!
//! The console is a **client of the public `callgrid.v1` API** and nothing
//! else, like the SIP edge: every page request becomes gRPC requests to its
//! own node carrying the page's bearer token, so the node's one access-rule
//! table (`auth.rs` in the node) decides what a page may see and do. It must
//! never hold a token of its own, reach into Raft or the actors, or answer
//! from anything but what the API returned for the page's token.
//!
//! Live updates are Server-Sent Events fed by `Presence.WatchLamps`,
//! `Presence.Notifications` and `Cluster.Status`. The page (HTML, CSS and
//! JavaScript) is embedded in the binary: nothing is fetched from anywhere
//! else at run time.
//!
//! # Layout
//! - [`guard`]: what every HTTP request passes before a handler: the
//!   bearer token, cross-origin forgery checks, security headers.
//! - [`listener`]: the HTTP port, with a bound on open connections.
//! - [`metered`]: every request counted and timed for the node's metrics.
//! - [`upstream`]: the gRPC clients of the node (and, for the operator
//!   view, of its peers), with the page's token on each request.
//! - [`attendant`]: one tenant's lamps, park lot, groups and notices.
//! - [`actions`]: pickup, park, retrieve and hang-up, each under a request
//!   id asked again while the cluster cannot decide.
//! - [`operator`]: the cluster's members, leader, indexes and shard owners.
//! - [`page`]: the embedded page.

pub mod actions;
pub mod attendant;
pub mod guard;
pub mod listener;
pub mod metered;
pub mod operator;
pub mod page;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::ClientTlsConfig;

pub use guard::{Identify, Identity};
use upstream::Upstream;

/// How long a stopping console waits for its pages' requests to finish.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// Where the console listens and how it reaches its node.
pub struct ConsoleConfig {
    /// The HTTP listen address (`--http`).
    pub listen: SocketAddr,
    /// The node's gRPC address, dialled for every page request.
    pub node: SocketAddr,
    /// TLS for calls to the node and its peers (the cluster CA, and the
    /// node's certificate where peers must present one); `None`: plaintext.
    pub tls: Option<ClientTlsConfig>,
    /// The name the node's certificate gives it (its advertised host),
    /// checked when dialling `node` over TLS.
    pub tls_domain: Option<String>,
    /// Who a page's token is, so the page shows only the views its role
    /// has (what it may do is still decided by the node, per request).
    pub identify: Identify,
}

/// What every handler shares.
#[derive(Clone)]
pub struct Shared {
    pub upstream: Upstream,
    pub identify: Identify,
    /// No tokens: the node lets every request through, so the console
    /// only answers pages that reach it by an IP address or `localhost`
    /// (a page of another site cannot rebind its own name to it).
    pub open: bool,
    /// Turns true when the console stops: live streams end.
    pub stopping: watch::Receiver<bool>,
}

/// A bound console, ready to [`run`](Console::run).
pub struct Console {
    listener: TcpListener,
    shared: Shared,
    stop: watch::Sender<bool>,
}

impl Console {
    /// Binds the HTTP listener; the node is dialled lazily, per request.
    pub async fn bind(config: ConsoleConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("--http {}: cannot bind", config.listen))?;
        let upstream = Upstream::new(config.node, config.tls, config.tls_domain)?;
        let open = matches!((config.identify)(None), Identity::Development);
        let (stop, stopping) = watch::channel(false);
        Ok(Self {
            listener,
            shared: Shared {
                upstream,
                identify: config.identify,
                open,
                stopping,
            },
            stop,
        })
    }

    /// The address the console serves on (the port chosen, for `:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener knows its address")
    }

    /// Serves pages until `stop` resolves; live streams then end, and
    /// requests in flight get a few seconds to finish.
    pub async fn run(self, stop: impl std::future::Future<Output = ()> + Send + 'static) {
        let Console {
            listener,
            shared,
            stop: stop_tx,
        } = self;
        let app = router(shared);
        let (drained_tx, drained) = tokio::sync::oneshot::channel::<()>();
        let listener = crate::listener::Bounded::new(listener);
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            stop.await;
            let _ = stop_tx.send(true);
            let _ = drained_tx.send(());
        });
        let server = server.into_future();
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "console stopped");
                }
                return;
            }
            _ = drained => {}
        }
        if tokio::time::timeout(DRAIN_DEADLINE, server).await.is_err() {
            tracing::warn!(deadline = ?DRAIN_DEADLINE, "console requests still open after the drain deadline; closing them");
        }
    }
}

/// Every route of the console.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/attendant", get(page::index))
        .route("/operator", get(page::index))
        .route("/console.js", get(page::script))
        .route("/console.css", get(page::style))
        .route("/api/session", get(guard::session))
        .route("/api/tenants", get(attendant::tenants))
        .route("/api/tenants/{tenant}/events", get(attendant::events))
        .route("/api/tenants/{tenant}/pickup", post(actions::pickup))
        .route("/api/tenants/{tenant}/park", post(actions::park))
        .route("/api/tenants/{tenant}/retrieve", post(actions::retrieve))
        .route("/api/tenants/{tenant}/answer", post(actions::answer))
        .route("/api/tenants/{tenant}/hangup", post(actions::hangup))
        .route("/api/cluster/events", get(operator::events))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            guard::screen,
        ))
        // Outermost, so that what the guard refuses is counted too.
        .layer(axum::middleware::from_fn(metered::measure))
        .with_state(shared)
}

/// `identify` for a node without tokens.
pub fn development() -> Identify {
    Arc::new(|_| Identity::Development)
}
