//! What the state machine applied, routed on: timers to their owners,
//! lamps and notices to presence streams.

use callgrid_actors::{Owners, home_of_call};
use callgrid_model::Event;
use callgrid_raft::AppliedEvents;
use tokio::sync::mpsc;

use crate::consensus::Consensus;
use crate::hub::Hub;

/// Routes what the state machine applied: timers to their owners, lamps
/// and notices to presence streams; a moved shard map stops the actors of
/// owners that left and re-arms the timers of those that came.
pub async fn dispatch(
    mut applied: mpsc::UnboundedReceiver<AppliedEvents>,
    owners: Owners<Consensus>,
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
                    let released = owners.release_moved();
                    if released > 0 {
                        tracing::debug!(released, "stopped the actors of owners that moved away");
                    }
                    owners.resume_timers(None).await;
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
