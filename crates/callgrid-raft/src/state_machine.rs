//! The replicated state machine: the [`Switchboard`] in memory, applied in
//! log order, with snapshots persisted in sled.
//!
//! Applying does not touch disk. What survives a crash is the log (flushed
//! on append) plus the last snapshot (flushed before it is reported built);
//! on open the snapshot is loaded here and openraft re-applies the
//! committed log entries after it. Openraft purges the log only up to a
//! snapshot it was told is built, so the two always overlap.

#![allow(
    clippy::result_large_err,
    reason = "openraft's traits fix StorageError as the error type; boxing it in helpers only to unbox it at the trait boundary buys nothing"
)]

use std::io::Cursor;
use std::sync::{Arc, PoisonError, RwLock, RwLockWriteGuard};

use callgrid_model::{Event, Response, Switchboard};
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::{StoreError, storage_error};
use crate::release::{LeaseWatch, StoreLease};
use crate::types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

const SNAPSHOT_TREE: &str = "raft_snapshot";
const SNAPSHOT_META_KEY: &str = "meta";
const SNAPSHOT_DATA_KEY: &str = "data";

/// The events one committed command produced, tagged with its log index.
///
/// After a restart, entries after the last snapshot are applied again and
/// their events are sent again; consumers that must act once remember the
/// last index they handled.
#[derive(Debug, Clone)]
pub struct AppliedEvents {
    pub index: u64,
    pub events: Vec<Event>,
}

/// Everything a snapshot holds.
#[derive(Debug, Default)]
struct AppliedState {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    switchboard: Switchboard,
}

/// A cheap, cloneable read handle on the applied state, for queries that
/// do not need to go through Raft (they see this node's applied prefix).
#[derive(Debug, Clone)]
pub struct SharedState {
    inner: Arc<RwLock<AppliedState>>,
    stores: Arc<LeaseWatch>,
}

impl SharedState {
    /// Runs `f` against the switchboard as applied so far. Keep `f` short
    /// and synchronous: apply waits while it runs.
    pub fn read<R>(&self, f: impl FnOnce(&Switchboard) -> R) -> R {
        f(&self.read_state().switchboard)
    }

    /// Like [`read`](Self::read), with the index of the last applied entry
    /// (0 before any) seen under the same lock: what a stream needs to join
    /// a snapshot of the state to the events that follow it.
    pub fn read_indexed<R>(&self, f: impl FnOnce(&Switchboard, u64) -> R) -> R {
        let state = self.read_state();
        f(
            &state.switchboard,
            state.last_applied.map_or(0, |id| id.index),
        )
    }

    /// Index of the last log entry applied here, if any.
    pub fn last_applied(&self) -> Option<u64> {
        self.read_state().last_applied.map(|id| id.index)
    }

    /// Cluster membership as of the last applied membership entry.
    pub fn last_membership(&self) -> StoredMembership {
        self.read_state().last_membership.clone()
    }

    /// Completes once every store handle from the same [`open`](crate::open)
    /// has dropped, including those openraft's tasks keep after
    /// `Raft::shutdown` returns. Once it has, and the caller's own
    /// `sled::Db` is dropped, the data directory can be opened again.
    pub async fn stores_closed(&self) {
        self.stores.released().await;
    }

    // A poisoned lock means `Switchboard::apply` panicked; apply then
    // reports a storage error and Raft stops, so readers may as well see
    // the last state rather than panic too.
    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, AppliedState> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_state(&self) -> Result<RwLockWriteGuard<'_, AppliedState>, StorageError> {
        self.inner.write().map_err(|_| {
            let e = std::io::Error::other("switchboard lock poisoned by a panic during apply");
            storage_error(ErrorSubject::StateMachine, ErrorVerb::Write, &e)
        })
    }
}

/// callgrid's openraft state machine. Clones share the state and the
/// snapshot tree, so a clone serves as the snapshot builder.
#[derive(Clone)]
pub struct StateMachineStore {
    state: SharedState,
    db: sled::Db,
    snapshots: sled::Tree,
    events: UnboundedSender<AppliedEvents>,
    _lease: StoreLease,
}

impl StateMachineStore {
    /// Opens the snapshot tree and, if a snapshot was persisted, loads it.
    pub(crate) fn open(
        db: &sled::Db,
        events: UnboundedSender<AppliedEvents>,
        stores: LeaseWatch,
        lease: StoreLease,
    ) -> Result<(Self, SharedState), StoreError> {
        let snapshots = db
            .open_tree(SNAPSHOT_TREE)
            .map_err(|source| StoreError::Io {
                context: "opening the raft snapshot tree",
                source,
            })?;
        let state = SharedState {
            inner: Arc::default(),
            stores: Arc::new(stores),
        };
        let store = Self {
            state,
            db: db.clone(),
            snapshots,
            events,
            _lease: lease,
        };
        if let Some((meta, data)) = store.load_snapshot()? {
            let switchboard = decode_switchboard(&data)?;
            tracing::info!(snapshot = %meta, "loaded raft snapshot");
            store.replace_state(&meta, switchboard);
        }
        let shared = store.state.clone();
        Ok((store, shared))
    }

    fn load_snapshot(&self) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StoreError> {
        let read = |key| {
            self.snapshots.get(key).map_err(|source| StoreError::Io {
                context: "reading the raft snapshot",
                source,
            })
        };
        let (Some(meta), Some(data)) = (read(SNAPSHOT_META_KEY)?, read(SNAPSHOT_DATA_KEY)?) else {
            return Ok(None);
        };
        let meta = postcard::from_bytes(&meta).map_err(|source| StoreError::Corrupt {
            what: "snapshot meta",
            source,
        })?;
        Ok(Some((meta, data.to_vec())))
    }

    /// Writes meta and data in one atomic batch and flushes: openraft may
    /// purge the log behind a snapshot as soon as we return.
    async fn persist_snapshot(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), StorageError> {
        let subject = || ErrorSubject::Snapshot(Some(meta.signature()));
        let meta_bytes = postcard::to_stdvec(meta)
            .map_err(|e| storage_error(subject(), ErrorVerb::Write, &e))?;
        let mut batch = sled::Batch::default();
        batch.insert(SNAPSHOT_META_KEY, meta_bytes);
        batch.insert(SNAPSHOT_DATA_KEY, data);
        self.snapshots
            .apply_batch(batch)
            .map_err(|e| storage_error(subject(), ErrorVerb::Write, &e))?;
        self.db
            .flush_async()
            .await
            .map_err(|e| storage_error(subject(), ErrorVerb::Write, &e))?;
        Ok(())
    }

    fn replace_state(&self, meta: &SnapshotMeta, switchboard: Switchboard) {
        let mut state = self
            .state
            .inner
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        remembered_gauge(&switchboard);
        *state = AppliedState {
            last_applied: meta.last_log_id,
            last_membership: meta.last_membership.clone(),
            switchboard,
        };
    }
}

/// How many request outcomes the state machine remembers for retries
/// (bounded: see `callgrid_model::request`).
fn remembered_gauge(switchboard: &Switchboard) {
    metrics::gauge!("callgrid_request_outcomes_remembered")
        .set(switchboard.remembered_requests() as f64);
}

/// Snapshot bytes are postcard of `(last_applied, last_membership,
/// switchboard)`, so the data alone is a complete, self-describing image.
fn encode_state(state: &AppliedState) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(&(
        &state.last_applied,
        &state.last_membership,
        &state.switchboard,
    ))
}

fn decode_switchboard(data: &[u8]) -> Result<Switchboard, StoreError> {
    let (_, _, switchboard): (Option<LogId>, StoredMembership, Switchboard) =
        postcard::from_bytes(data).map_err(|source| StoreError::Corrupt {
            what: "snapshot data",
            source,
        })?;
    Ok(switchboard)
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let started = std::time::Instant::now();
        // Serialise under the read lock (no await while held) so the image
        // and its meta describe exactly the same applied prefix.
        let (meta, data) = {
            let state = self.state.read_state();
            let data = encode_state(&state)
                .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Write, &e))?;
            let last = state.last_applied;
            let unique = self
                .db
                .generate_id()
                .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Write, &e))?;
            let snapshot_id = match last {
                Some(id) => format!("{}-{}-{unique}", id.leader_id, id.index),
                None => format!("--{unique}"),
            };
            let meta = SnapshotMeta {
                last_log_id: last,
                last_membership: state.last_membership.clone(),
                snapshot_id,
            };
            (meta, data)
        };
        let encoded = started.elapsed();
        self.persist_snapshot(&meta, &data).await?;
        metrics::histogram!("callgrid_raft_snapshot_build_seconds").record(started.elapsed());
        tracing::info!(snapshot = %meta, bytes = data.len(), ?encoded, took = ?started.elapsed(), "built raft snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let state = self.state.read_state();
        Ok((state.last_applied, state.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut responses = Vec::new();
        let mut produced = Vec::new();
        {
            let mut state = self.state.write_state()?;
            for entry in entries {
                state.last_applied = Some(entry.log_id);
                let response = match entry.payload {
                    EntryPayload::Blank => Response::Done,
                    EntryPayload::Normal(cmd) => {
                        let applied = state.switchboard.apply(&cmd);
                        metrics::counter!("callgrid_raft_applied_commands_total", "command" => cmd.kind())
                            .increment(1);
                        if !applied.events.is_empty() {
                            produced.push(AppliedEvents {
                                index: entry.log_id.index,
                                events: applied.events,
                            });
                        }
                        applied.response
                    }
                    EntryPayload::Membership(membership) => {
                        state.last_membership =
                            StoredMembership::new(Some(entry.log_id), membership);
                        Response::Done
                    }
                };
                responses.push(response);
            }
            remembered_gauge(&state.switchboard);
        }
        // Sent after the lock is released, so a consumer reacting to an
        // event already reads the state that produced it. A closed sink
        // (node shutting down, or no consumer in tests) is not an error.
        for applied in produced {
            let _ = self.events.send(applied);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(snapshot = %meta))]
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let switchboard = decode_switchboard(&data).map_err(|e| {
            storage_error(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Read,
                &e,
            )
        })?;
        // Persist before replacing memory: if the write fails, the node
        // stops with its old, consistent state rather than a state its disk
        // cannot reproduce.
        self.persist_snapshot(meta, &data).await?;
        self.replace_state(meta, switchboard);
        tracing::info!("installed raft snapshot from leader");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let stored = self.load_snapshot()?;
        Ok(stored.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
