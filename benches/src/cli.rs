//! The command line: one subcommand per scenario, options shared by all.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

/// Load driver for callgrid: race, park, blf and mix scenarios, each
/// measured against a bare gRPC round trip and a bare Raft write taken in
/// the same run.
#[derive(Debug, Parser)]
#[command(name = "callgrid-bench", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// Options every scenario takes.
#[derive(Debug, Clone, Args, Serialize)]
pub struct Common {
    /// gRPC address of a running node (`127.0.0.1:7700` or
    /// `http://127.0.0.1:7700`). Repeat for the nodes of a cluster; racers
    /// and workers are spread over them.
    #[arg(long = "target", global = true, value_name = "ADDR")]
    pub targets: Vec<String>,

    /// Start N local nodes instead (on 127.0.0.1, free ports, a temporary
    /// data directory each), using the `callgrid` binary next to this one:
    /// node 1 starts the cluster, the others join it, and the run begins
    /// once every node owns shards.
    #[arg(long, global = true, value_name = "N", conflicts_with = "targets")]
    pub spawn: Option<usize>,

    /// The `callgrid` binary for `--spawn` (default: next to this binary).
    #[arg(long, global = true, value_name = "PATH")]
    pub node_bin: Option<PathBuf>,

    /// `--timer-scale` passed to spawned nodes (0.01 makes a 300 s park
    /// timeout 3 s). Keep it at 1 for race: it also shortens ring timeouts.
    #[arg(long, global = true, default_value_t = 1.0)]
    pub timer_scale: f64,

    /// `--shard-placement` of spawned nodes: `spread` (the nodes' default)
    /// or `leader` (every owner on the Raft leader: a claim is decided
    /// where it is committed). With `leader`, the run begins once the
    /// leader owns the shards.
    #[arg(long, global = true, value_name = "spread|leader")]
    pub shard_placement: Option<String>,

    /// `--worker-threads` of spawned nodes (default: the nodes' own, one
    /// per core). Several nodes on one small machine hand fewer wake-ups
    /// between cores with 1.
    #[arg(long, global = true, value_name = "N")]
    pub worker_threads: Option<u16>,

    /// Pin the spawned nodes (every thread) to these CPUs (`taskset`
    /// syntax: `0`, `0-1`, `0,2`). With `--driver-cpus` on the others, the
    /// nodes and the load generator no longer share cores, so a node's
    /// rate is what the node can do, not what is left beside the driver
    /// (and, for `sip-race`, beside SIPp, which inherits the driver's CPUs).
    #[arg(long, global = true, value_name = "LIST", requires = "spawn")]
    pub node_cpus: Option<String>,

    /// Pin this driver (every thread) and what it starts later (SIPp, the
    /// etcd peer; not the nodes of `--spawn`, which start first) to these
    /// CPUs (`taskset` syntax).
    #[arg(long, global = true, value_name = "LIST")]
    pub driver_cpus: Option<String>,

    /// Tenants to create (`bench-0`, `bench-1`, ...); workers are spread
    /// over them.
    #[arg(long, global = true, default_value_t = 1)]
    pub tenants: u32,

    /// Extensions per tenant. Default: just enough for the concurrency.
    #[arg(long, global = true)]
    pub extensions: Option<u32>,

    /// Concurrent workers (for race: concurrent calls, each with its racers).
    #[arg(long, global = true, default_value_t = 16)]
    pub concurrency: usize,

    /// How long to run the scenario (`10s`, `500ms`, `2m`, or seconds).
    /// Default 10 s unless --ops is given.
    #[arg(long, global = true, value_parser = parse_duration, conflicts_with = "ops")]
    #[serde(serialize_with = "secs")]
    pub duration: Option<Duration>,

    /// How many operations to run instead (race: calls; park: park–retrieve
    /// cycles; blf: lamp changes; mix: call lives).
    #[arg(long, global = true)]
    pub ops: Option<u64>,

    /// How long to run each baseline.
    #[arg(long, global = true, value_parser = parse_duration, default_value = "3s")]
    #[serde(serialize_with = "secs_req")]
    pub baseline_duration: Duration,

    /// Skip the baselines (no ratios in the report).
    #[arg(long, global = true)]
    pub no_baselines: bool,

    /// Skip the directory setup (the tenants and extensions already exist).
    #[arg(long, global = true)]
    pub skip_setup: bool,

    /// gRPC connections per target (default: depends on the scenario).
    #[arg(long, global = true)]
    pub connections: Option<usize>,

    /// Seed for the mix scenario's choices.
    #[arg(long, global = true, default_value_t = 1)]
    pub seed: u64,

    /// Race a peer too, in the same run, at the same concurrency and
    /// racers: `etcd` decides each call with one compare-and-swap Txn per
    /// racer (race only; see benches/README.md).
    #[arg(long, global = true, value_enum)]
    pub peer: Option<Peer>,

    /// etcd members for `--peer etcd` (`127.0.0.1:2379`, repeatable).
    /// Default: a local 3-member cluster started for the run.
    #[arg(long = "etcd", global = true, value_name = "ADDR")]
    pub etcd: Vec<String>,

    /// Draw the run to this SVG file: latency percentile curves and
    /// operations per second over time.
    #[arg(long, global = true, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Write the full report as JSON to this file.
    #[arg(long, global = true, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

/// A replicated store that decides the same race.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    Etcd,
}

/// The scenarios.
#[derive(Debug, Clone, Subcommand, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// A call rings; K racers on different connections (and nodes) pick it
    /// up at once. Exactly one winner per call is checked.
    Race(RaceArgs),
    /// Park–retrieve churn: an answered call is parked and retrieved by
    /// another extension of the same park policy, over and over.
    Park(ParkArgs),
    /// N watchers on one extension's lamp; each change's delivery latency is
    /// measured from just before the causing RPC is sent.
    Blf(BlfArgs),
    /// A carrier's day: dials, answers, pickups of every kind, parks,
    /// retrieves, hang-ups, with lamp and notification watchers.
    Mix(MixArgs),
    /// The race through the SIP edge, with SIPp as the phones: a caller
    /// INVITEs a ringing callee, K racers INVITE `*97<callee>` at once;
    /// exactly one 200 OK per call is checked. The gRPC `race` runs first
    /// in the same process at the same concurrency and racers, and the
    /// report compares the two.
    SipRace(SipRaceArgs),
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Race(_) => "race",
            Scenario::Park(_) => "park",
            Scenario::Blf(_) => "blf",
            Scenario::Mix(_) => "mix",
            Scenario::SipRace(_) => "sip-race",
        }
    }
}

/// How racers try to take the call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RaceKind {
    /// `Pickup.DirectedPickup` of the callee.
    #[default]
    Directed,
    /// `Pickup.GroupPickup` (racers share the callee's pickup group).
    Group,
    /// `Pickup.BlfPickup` naming the call.
    Blf,
}

#[derive(Debug, Clone, Args, Serialize)]
pub struct RaceArgs {
    /// Racers per call.
    #[arg(long, default_value_t = 4)]
    pub racers: usize,
    /// Which pickup the racers use.
    #[arg(long, value_enum, default_value_t = RaceKind::Directed)]
    pub kind: RaceKind,
    /// Also read each decided call back (GetCall) and check it is answered
    /// by the one winner. Adds a read per call.
    #[arg(long)]
    pub verify: bool,
    /// Send each call's dial and pickups straight to the node that owns the
    /// callee (callgrid-client, shard-aware) instead of spreading them over
    /// the targets, which forward to the owner; and the bare write
    /// (`Cluster.Noop`, which no owner decides) straight to the leader.
    #[arg(long)]
    pub direct: bool,
}

#[derive(Debug, Clone, Args, Serialize)]
pub struct SipRaceArgs {
    /// Racers per call (SIPp processes per bank, each a phone per call slot).
    #[arg(long, default_value_t = 4)]
    pub racers: usize,
    /// SIP address (UDP) of each target's edge, in --target order. Default:
    /// the edges of the nodes --spawn started.
    #[arg(long = "sip", value_name = "ADDR")]
    pub sip: Vec<String>,
    /// Banks of phones: each bank is one caller SIPp (a user per call slot),
    /// one callee SIPp and one SIPp per racer, all on their own loopback
    /// address (127.77.<bank>.<role>). The edge limits requests per source
    /// address, as it would a phone. Default: one bank per 2 call slots
    /// (16 concurrent calls: 8 banks of 6 SIPp processes with 4 racers);
    /// at most 64, and at most one per call slot.
    #[arg(long)]
    pub banks: Option<usize>,
    /// The SIPp binary (installed with apt-get as `sip-tester` if missing).
    #[arg(long, default_value = "sipp")]
    pub sipp: String,
    /// Skip the gRPC race of the same run (no comparison).
    #[arg(long)]
    pub no_grpc_race: bool,
    /// Keep SIPp's scenario, injection and log files in this directory.
    #[arg(long, value_name = "DIR")]
    pub keep_logs: Option<PathBuf>,
}

#[derive(Debug, Clone, Args, Serialize)]
pub struct ParkArgs {
    /// Park–retrieve cycles per call before it is hung up and redialled.
    #[arg(long, default_value_t = 20)]
    pub cycles_per_call: u32,
}

#[derive(Debug, Clone, Args, Serialize)]
pub struct BlfArgs {
    /// Watchers (WatchLamps streams) on the one extension.
    #[arg(long, default_value_t = 100)]
    pub watchers: usize,
    /// How long one change may take to reach every watcher before the run
    /// stops and reports the missing deliveries.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    #[serde(serialize_with = "secs_req")]
    pub change_timeout: Duration,
}

#[derive(Debug, Clone, Args, Serialize)]
pub struct MixArgs {
    /// WatchLamps streams (each on one worker block's extensions); every
    /// other one also follows an extension's notifications.
    #[arg(long, default_value_t = 8)]
    pub watchers: usize,
}

/// Parses `10s`, `500ms`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{raw:?}: expected a duration like 10s, 500ms or 2m"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("{raw:?}: unknown unit {other:?} (ms, s, m, h)")),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("{raw:?}: a duration must be above zero"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    d.map(|d| d.as_secs_f64()).serialize(s)
}

fn secs_req<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    d.as_secs_f64().serialize(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_or_as_seconds() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
