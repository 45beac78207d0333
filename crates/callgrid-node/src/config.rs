//! How a node is started: listen addresses, data directory, identity.

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

    /// Log format.
    #[arg(long, env = "CALLGRID_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
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
