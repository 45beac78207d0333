//! Wall-clock time in milliseconds, as commands carry it.
//!
//! The state machine never reads a clock; the node stamps each command with
//! this when it proposes it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
