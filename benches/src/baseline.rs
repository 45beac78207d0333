//! The two baselines every scenario is compared with, measured in the same
//! run, on the same target, at the same concurrency.
//!
//! - `grpc_round_trip`: `grpc.health.v1.Health/Check`, which no Raft or
//!   actor touches: the floor of any request.
//! - `raft_write`: the cheapest committed write the public API has,
//!   `Directory.SetOnline` of an extension to the value it already holds.
//!   It goes through the owner actor and one Raft commit and changes
//!   nothing. A bare no-op command (the state machine has `Command::Noop`)
//!   is not exposed over gRPC; when it is, it should replace this.

use std::time::Duration;

use callgrid_proto::v1::{self, directory_client::DirectoryClient};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::layout::Layout;
use crate::recorder::Recorder;
use crate::report::Measured;
use crate::runner::{Budget, drive};
use crate::target::Pool;

pub const GRPC_ROUND_TRIP: &str = "grpc_round_trip";
pub const RAFT_WRITE: &str = "raft_write";

/// Both baselines, one after the other.
pub async fn run(
    pool: &Pool,
    layout: Layout,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Vec<Measured>> {
    Ok(vec![
        health(pool, concurrency, duration).await?,
        raft_write(pool, layout, concurrency, duration).await?,
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
    layout: Layout,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Measured> {
    let (rec, elapsed) = drive(
        "raft write",
        concurrency,
        Budget::For(duration),
        |slot, work| {
            let mut dir = DirectoryClient::new(pool.for_slot(slot));
            let block = layout.block_of(slot);
            async move {
                let mut rec = Recorder::default();
                while work.next().is_some() {
                    let write = dir.set_online(v1::SetOnlineRequest {
                        tenant: block.tenant.clone(),
                        number: block.numbers[0].clone(),
                        online: true,
                    });
                    rec.rpc(RAFT_WRITE, write).await;
                    work.finished();
                }
                rec
            }
        },
    )
    .await?;
    Ok(Measured::of(
        RAFT_WRITE,
        "Directory.SetOnline to the current value (one committed Raft write that changes nothing; \
         stands in for a no-op command the API does not expose)",
        &rec,
        RAFT_WRITE,
        elapsed,
    ))
}
