//! The actors that own extensions, call groups and park lots.
//!
//! Each owner is one [`OwnerActor`]: it serializes the decisions about its
//! calls (so racers for one call queue behind each other and the common
//! case costs one commit) and keeps its calls' timers — ring timeouts and
//! hunts for an extension or call group, ring-backs for a park lot. Timers
//! are rebuilt from replicated state at start-up, so a restarted node picks
//! up where the cluster left off.

mod owner;
mod registry;
mod routing;

pub use owner::{OwnerActor, OwnerMsg};
pub use registry::Owners;
pub use routing::{OwnerKey, home_of_call, is_local, owner_of};
