//! callgrid's replicated state: the openraft type configuration, a
//! sled-backed Raft log, and the state machine that applies committed
//! [`Command`](callgrid_model::Command)s to the in-memory
//! [`Switchboard`](callgrid_model::Switchboard).
//!
//! A node opens one sled [`Db`](sled::Db) per data directory with
//! [`open_db`], builds its stores with [`open`], and hands them to
//! [`CallgridRaft::new`](openraft::Raft::new) with [`raft_config`] and a
//! network ([`NoNetwork`] until the cluster transport exists).
//!
//! This crate must never decide anything about calls (that is
//! `callgrid-model`'s deterministic `apply`), never talk to peers itself,
//! and never report a write durable before sled has flushed it. It is the
//! only place in callgrid that touches sled.
//!
//! # Layout
//! - `types`: the openraft type configuration and its aliases.
//! - `log_store`: the Raft log and vote, on sled.
//! - `state_machine`: the [`Switchboard`](callgrid_model::Switchboard) in
//!   memory, applied in log order, with snapshots on sled.
//! - `network`: the network of a cluster of one (nodes bring their own).
//! - `release`, `error`: knowing when every store handle is gone; errors.

mod error;
mod log_store;
mod network;
mod release;
mod state_machine;
mod types;

use std::path::Path;

use tokio::sync::mpsc::UnboundedSender;

pub use error::StoreError;
pub use log_store::LogStore;
pub use network::{NoNetwork, NoPeer};
pub use state_machine::{AppliedEvents, SharedState, StateMachineStore};
pub use types::*;

/// Opens (creating if needed) the sled database in `dir`.
///
/// sled takes an exclusive lock on the directory; a second node pointed at
/// the same directory gets [`StoreError::DataDirLocked`] instead of
/// silently sharing a log.
pub fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
    sled::Config::new()
        .path(dir)
        .open()
        .map_err(|source| match &source {
            sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                StoreError::DataDirLocked {
                    dir: dir.to_path_buf(),
                }
            }
            _ => StoreError::Open {
                dir: dir.to_path_buf(),
                source,
            },
        })
}

/// Builds the log store and state machine on `db`, loading the last
/// persisted snapshot into the state machine. Openraft then re-applies the
/// committed log after it when the Raft starts.
///
/// `events` receives what each applied command produced; the returned
/// [`SharedState`] reads the applied switchboard without going through Raft,
/// and tells when the stores have closed after `Raft::shutdown`.
pub fn open(
    db: &sled::Db,
    events: UnboundedSender<AppliedEvents>,
) -> Result<(LogStore, StateMachineStore, SharedState), StoreError> {
    let (stores, lease) = release::new_lease();
    let log_store = LogStore::open(db, lease.clone())?;
    let (state_machine, shared) = StateMachineStore::open(db, events, stores, lease)?;
    Ok((log_store, state_machine, shared))
}

/// Raft timing and compaction for a LAN cluster.
///
/// Heartbeats every 100 ms and elections after 300–600 ms of silence give
/// sub-second failover without flapping on a busy but healthy LAN. A
/// snapshot every 10 000 entries keeps restart replay short; keeping 1 000
/// entries behind it lets a briefly lagging follower catch up from the log
/// instead of downloading a snapshot.
pub fn raft_config() -> openraft::Config {
    raft_config_with(10_000)
}

/// [`raft_config`] with a snapshot every `snapshot_every` applied entries
/// (lower it to exercise snapshot catch-up; raise it to snapshot less).
pub fn raft_config_with(snapshot_every: u64) -> openraft::Config {
    openraft::Config {
        cluster_name: "callgrid".to_string(),
        heartbeat_interval: 100,
        election_timeout_min: 300,
        election_timeout_max: 600,
        install_snapshot_timeout: 1_000,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_every),
        max_in_snapshot_log_to_keep: (snapshot_every / 10).min(1_000),
        purge_batch_size: (snapshot_every / 2).clamp(1, 256),
        ..Default::default()
    }
    .validate()
    .expect("raft_config's constants are valid: min < max election timeout, heartbeat below both")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raft_config_is_valid_for_a_lan() {
        let config = raft_config();
        assert!(config.heartbeat_interval < config.election_timeout_min);
    }

    #[test]
    fn second_open_of_a_data_dir_reports_it_locked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _db = open_db(dir.path()).expect("first open");
        match open_db(dir.path()) {
            Err(StoreError::DataDirLocked { dir: locked }) => assert_eq!(locked, dir.path()),
            other => panic!("expected DataDirLocked, got {other:?}"),
        }
    }
}
