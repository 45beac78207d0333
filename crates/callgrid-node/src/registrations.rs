//! Bindings whose phones stopped refreshing them.
//!
//! A binding lapses at its expiry whether or not anyone writes: readers
//! skip it at once. But whether an extension is online, and its lamp, are
//! replicated state, changed only by a command; so the leader looks every
//! [`SWEEP_EVERY`] for extensions holding a lapsed binding and proposes
//! [`Registration::drop_lapsed`] for each. An extension whose last phone
//! vanished goes offline (its lamp too) within that time of the expiry, not
//! at its next REGISTER.

use std::time::Duration;

use callgrid_actors::Deadline;
use callgrid_model::{Command, Registration};
use tokio::sync::watch;

use crate::consensus::Consensus;
use callgrid_actors::now_ms;

/// How often the leader looks for lapsed bindings.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Extensions swept in one look; the rest wait for the next.
const MAX_PER_SWEEP: usize = 1_000;

/// Runs until `shutdown` turns true.
pub async fn drop_lapsed(consensus: Consensus, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let leads = consensus.raft.metrics().borrow().current_leader == Some(consensus.node_id);
        if !leads {
            continue;
        }
        let now = now_ms();
        let mut lapsed = consensus.read(|sb| sb.lapsed_registrations(now));
        lapsed.truncate(MAX_PER_SWEEP);
        // Proposed together, so the batcher commits them in few entries.
        let proposals = lapsed.into_iter().map(|(tenant, extension)| {
            consensus.propose(
                Command::Register {
                    tenant,
                    extension,
                    registration: Registration::drop_lapsed(),
                    now_ms: now,
                },
                Deadline::after(SWEEP_EVERY * 5),
            )
        });
        for outcome in futures::future::join_all(proposals).await {
            match outcome {
                Ok(_) => metrics::counter!("callgrid_bindings_lapsed_total").increment(1),
                Err(e) => {
                    tracing::debug!(error = %e, "lapsed bindings not dropped; next sweep retries");
                }
            }
        }
    }
}
