//! The flags of `callgrid serve` (clap types): listen addresses, data
//! directory, identity. Where each value comes from (flag, environment,
//! file, default) is [`crate::settings`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Where the embedded SIP edge listens: an address (UDP and TCP), or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipListen {
    Off,
    At(SocketAddr),
}

impl std::str::FromStr for SipListen {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(SipListen::Off),
            addr => addr
                .parse()
                .map(SipListen::At)
                .map_err(|e| format!("{addr:?}: give host:port (UDP and TCP) or `off`: {e}")),
        }
    }
}

impl std::fmt::Display for SipListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SipListen::Off => f.write_str("off"),
            SipListen::At(addr) => addr.fmt(f),
        }
    }
}

/// Where the browser console listens (HTTP), or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpListen {
    Off,
    At(SocketAddr),
}

impl std::str::FromStr for HttpListen {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(HttpListen::Off),
            addr => addr
                .parse()
                .map(HttpListen::At)
                .map_err(|e| format!("{addr:?}: give host:port (HTTP) or `off`: {e}")),
        }
    }
}

impl std::fmt::Display for HttpListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpListen::Off => f.write_str("off"),
            HttpListen::At(addr) => addr.fmt(f),
        }
    }
}

/// Where the shard keeper puts shard owners.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ShardPlacement {
    /// Spread shards evenly over the live nodes: owner actors, their
    /// timers and their CPU are shared out.
    #[default]
    Spread,
    /// Every shard on the Raft leader: a claim is decided where it is
    /// committed, which saves one node-to-node hop per decision. Shards
    /// follow the leader when it changes.
    Leader,
}

/// `callgrid serve`: every flag has a default, so the bare command runs a
/// usable single node on an embedded store in `./callgrid-data`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// gRPC listen address (API and, later, node-to-node traffic).
    #[arg(long, env = "CALLGRID_LISTEN", default_value = "127.0.0.1:7700")]
    pub listen: SocketAddr,

    /// Prometheus metrics listen address (`/metrics`).
    #[arg(long, env = "CALLGRID_METRICS", default_value = "127.0.0.1:9700")]
    pub metrics: SocketAddr,

    /// Where the node keeps its Raft log and snapshots (sled).
    #[arg(long, env = "CALLGRID_DATA_DIR", default_value = "callgrid-data")]
    pub data_dir: PathBuf,

    /// This node's Raft id; fixed for the life of its data directory.
    #[arg(long, env = "CALLGRID_NODE_ID", default_value_t = 1)]
    pub node_id: u64,

    /// Join the cluster of the node at this address (host:port) instead of
    /// starting a new one. Ignored once this data directory is a member.
    #[arg(long, env = "CALLGRID_JOIN")]
    pub join: Option<String>,

    /// The address other nodes reach this one on (default: the listen address).
    #[arg(long, env = "CALLGRID_ADVERTISE")]
    pub advertise: Option<String>,

    /// Multiplies every call timer (ring, hunt, park ring-back): 0.01 makes a
    /// 300 s park timeout ring back after 3 s. For tests and demos; the
    /// validation ranges stay as specified.
    #[arg(long, env = "CALLGRID_TIMER_SCALE", default_value_t = 1.0)]
    pub timer_scale: f64,

    /// Take a Raft snapshot (and compact the log) every this many entries.
    #[arg(long, env = "CALLGRID_SNAPSHOT_EVERY", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(10..))]
    pub snapshot_every: u64,

    /// Threads running the node's async work (default: one per core).
    /// Lower it when several nodes share one machine: each thread it saves
    /// is fewer wake-ups handed between cores.
    #[arg(long, env = "CALLGRID_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,

    /// Where shard owners live: `spread` over the live nodes, or all on the
    /// Raft `leader` (one hop less per claim; owners move on every leader
    /// change). The leader's own setting is the one that counts.
    #[arg(long, env = "CALLGRID_SHARD_PLACEMENT", value_enum, default_value_t = ShardPlacement::Spread)]
    pub shard_placement: ShardPlacement,

    /// The most streams (`WatchLamps` and `Notifications` together) one
    /// client may hold open on this node: one bearer token, or in
    /// development mode (no tokens) one source IP address. More is
    /// RESOURCE_EXHAUSTED until one closes.
    #[arg(long, env = "CALLGRID_MAX_STREAMS_PER_CLIENT", default_value_t = 1_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams_per_client: u32,

    /// The most lamps this node watches across all open `WatchLamps`
    /// streams: each is state the node holds and fans events out to for the
    /// life of its stream. A watch that would pass it is RESOURCE_EXHAUSTED.
    #[arg(long, env = "CALLGRID_MAX_WATCHED_LAMPS", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_watched_lamps: u64,

    /// The embedded SIP edge (UDP and TCP): phones register to this
    /// address; `off` disables it. It serves this node's cluster in
    /// development mode (no TLS, no tokens); in front of a secure cluster run
    /// `callgrid sip` instead.
    #[arg(long, env = "CALLGRID_SIP", default_value = "127.0.0.1:5060")]
    pub sip: SipListen,

    /// The browser console (HTTP): attendant lamps and the operator's view
    /// of the cluster, at `/attendant` and `/operator`; `off` disables it.
    /// Every page request is a gRPC request to this node with the page's
    /// bearer token. It speaks plain HTTP: expose it beyond loopback only
    /// behind a TLS-terminating proxy.
    #[arg(long, env = "CALLGRID_HTTP", default_value = "127.0.0.1:7780")]
    pub http: HttpListen,

    /// Label the park-code gauges of `/metrics` by tenant and park policy.
    /// Off by default: `/metrics` is unauthenticated, and tenant and policy
    /// names are customers' data, so the gauges are summed over every tenant.
    #[arg(long, env = "CALLGRID_METRICS_PER_TENANT", default_value_t = false,
          num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub metrics_per_tenant: bool,

    /// Open gRPC connections this node accepts in all; more are closed at
    /// once (each costs a file descriptor: keep it under the process's limit).
    #[arg(long, env = "CALLGRID_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Open gRPC connections this node accepts from one IP address.
    #[arg(long, env = "CALLGRID_MAX_CONNECTIONS_PER_SOURCE", default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_source: u32,

    /// Log format.
    #[arg(long, env = "CALLGRID_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// A TOML file holding any of these settings, plus `[[tokens]]`
    /// (see deploy/callgrid.example.toml). Precedence, highest first:
    /// flag, environment variable, this file, built-in default.
    #[arg(long, env = "CALLGRID_CONFIG")]
    pub config: Option<PathBuf>,

    /// Validate the configuration, print the effective settings (and where
    /// each came from) and exit: 0 if valid, 1 naming the bad key if not.
    #[arg(long)]
    pub check_config: bool,

    /// TLS: this node's certificate chain (PEM). With `--tls-key`, the gRPC
    /// port speaks only TLS. Without both: plaintext development mode.
    #[arg(long, env = "CALLGRID_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// TLS: the private key (PEM) of `--tls-cert`.
    #[arg(long, env = "CALLGRID_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// Mutual TLS between nodes: the cluster CA (PEM) that signs every
    /// node's certificate. The node-to-node service then accepts only
    /// callers presenting a certificate it signed, and this node presents
    /// its own certificate to, and verifies, the nodes it calls.
    #[arg(long, env = "CALLGRID_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,

    /// Bearer tokens, from the config file's `[[tokens]]` only (secrets
    /// stay off command lines). None: development mode, no authentication.
    #[arg(skip)]
    pub tokens: Vec<crate::auth::TokenConfig>,
}

impl ServeArgs {
    /// The timer scale as the state machine stores it.
    pub fn timer_scale_ppm(&self) -> Result<u32, String> {
        if !(self.timer_scale > 0.0 && self.timer_scale <= 1000.0) {
            return Err("--timer-scale must be above 0 and at most 1000".into());
        }
        Ok((self.timer_scale * 1_000_000.0).round().max(1.0) as u32)
    }
}
