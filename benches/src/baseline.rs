//! The two baselines every scenario is compared with, measured in the same
//! run, on the same target, at the same concurrency.
//!
//! - `grpc_round_trip`: `grpc.health.v1.Health/Check`, which no Raft or
//!   actor touches: the floor of any request.
//! - `raft_write`: `Cluster.Noop`, which commits `Command::Noop` through
//!   Raft (forwarded to the leader if need be) and answers once it is
//!   applied: a bare Raft write, with no actor and no state change. A
//!   shard-aware run (`race --direct`) sends it to the leader, as it sends
//!   decisions to their owners. Its report says how many writes shared a
//!   log entry (proposals that arrive while an entry commits ride in the
//!   next one), from the applied index before and after.

use std::time::Duration;

use callgrid_client::Connection;
use callgrid_proto::v1::{self, cluster_client::ClusterClient};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::recorder::Recorder;
use crate::report::Measured;
use crate::runner::{Budget, drive};
use crate::target::Pool;

pub const GRPC_ROUND_TRIP: &str = "grpc_round_trip";
pub const RAFT_WRITE: &str = "raft_write";

/// Both baselines, one after the other; the bare write goes to `leader`
/// when given, else over the pool like every other request.
pub async fn run(
    pool: &Pool,
    leader: Option<Connection>,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Vec<Measured>> {
    Ok(vec![
        health(pool, concurrency, duration).await?,
        raft_write(pool, leader, concurrency, duration).await?,
    ])
}

async fn health(pool: &Pool, concurrency: usize, duration: Duration) -> anyhow::Result<Measured> {
    let (rec, elapsed) = drive(
        "health",
        concurrency,
        Budget::For(duration),
        |slot, work| {
            let mut health = HealthClient::new(pool.for_slot(slot));
            async move {
                let mut rec = Recorder::default();
                while work.next().is_some() {
                    rec.rpc(GRPC_ROUND_TRIP, health.check(HealthCheckRequest::default()))
                        .await;
                    work.finished();
                }
                rec
            }
        },
    )
    .await?;
    Ok(Measured::of(
        GRPC_ROUND_TRIP,
        "grpc.health.v1.Health/Check (no Raft, no actor)",
        &rec,
        GRPC_ROUND_TRIP,
        elapsed,
    ))
}

async fn raft_write(
    pool: &Pool,
    leader: Option<Connection>,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Measured> {
    let asked: Connection = leader.clone().unwrap_or_else(|| pool.for_slot(0).into());
    let mut status = ClusterClient::new(asked);
    let before = applied_index(&mut status).await?;
    let (rec, elapsed) = drive(
        "raft write",
        concurrency,
        Budget::For(duration),
        |slot, work| {
            let to = leader.clone().unwrap_or_else(|| pool.for_slot(slot).into());
            let mut cluster = ClusterClient::new(to);
            async move {
                let mut rec = Recorder::default();
                while work.next().is_some() {
                    let write = cluster.noop(v1::NoopRequest {});
                    rec.rpc(RAFT_WRITE, write).await;
                    work.finished();
                }
                rec
            }
        },
    )
    .await?;
    let entries = applied_index(&mut status).await?.saturating_sub(before);
    let writes = rec.latency.get(RAFT_WRITE).map_or(0, |l| l.summary().count);
    let sharing = if entries > 0 {
        format!("{:.1} writes per log entry", writes as f64 / entries as f64)
    } else {
        "no log entry seen".to_owned()
    };
    Ok(Measured::of(
        RAFT_WRITE,
        &format!("Cluster.Noop (a committed Raft entry that changes nothing; {sharing})"),
        &rec,
        RAFT_WRITE,
        elapsed,
    ))
}

/// The applied index of the node `status` asks.
async fn applied_index(status: &mut ClusterClient<Connection>) -> anyhow::Result<u64> {
    Ok(status
        .status(v1::StatusRequest {})
        .await?
        .into_inner()
        .applied_index)
}
