//! The owner actors of callgrid: where racing claims meet, one at a time,
//! and where call timers live.
//!
//! Every extension, call group and tenant park lot has an owner
//! ([`OwnerKey`]), placed on one node by the replicated shard map. The
//! owner's actor on that node serializes the claims on its calls (so the
//! racers for one call queue behind each other and the common race costs
//! one commit) and keeps its calls' timers (ring timeouts and hunts,
//! park ring-backs), rebuilt from replicated state whenever it starts.
//!
//! The actors never decide anything: the state machine
//! (`callgrid_model::Switchboard::apply` on a committed command) does.
//! They only save commits and keep time. They commit through [`Propose`],
//! which the node implements with Raft and forwarding; tests give a fake.
//!
//! # Layout
//! One way down, one way back:
//! - [`place`]: which owner decides a command ([`owner_of`]: the home of
//!   the call or park code it contends for) and which node that owner
//!   lives on ([`place()`], the one placement function);
//! - [`Owners`]: this node's actors, started on first use under a
//!   supervisor, stopped when their shard moves away;
//! - [`owner`]: one owner's actor: gates per contended call or code, and
//!   timers;
//! - [`Propose`] and [`Deadline`]: what an owner needs from the node, and
//!   the one deadline a request carries down the whole path;
//! - [`DecideError`]: why a request got no decided answer.

mod error;
pub mod owner;
mod owners;
pub mod place;
mod propose;

pub use callgrid_model::OwnerKey;
pub use error::DecideError;
pub use owners::Owners;
pub use place::{Placement, home_of_call, is_local, owner_of, place};
pub use propose::{Deadline, Propose};

/// Wall-clock milliseconds since the Unix epoch, as commands carry them.
/// The state machine never reads a clock; the node stamps each command
/// with this when it builds it.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
