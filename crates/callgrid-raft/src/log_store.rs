//! The Raft log and vote, on sled.
//!
//! Entries live in their own tree keyed by the big-endian log index, so
//! sled's byte order is log order and range scans are index ranges. Vote,
//! committed and last-purged log ids live in a small meta tree. Values are
//! postcard.
//!
//! Durability: an append is reported flushed only after a sled flush that
//! began after the append's write, and a vote is saved only after the same.
//! Those flushes are what lets a node that was SIGKILLed rejoin without
//! contradicting what it acknowledged.
//!
//! Group commit: `append` writes the entries and returns at once, handing
//! openraft's completion callback to one flusher thread (see [`Flusher`]).
//! The leader therefore replicates while its own flush runs, and every
//! append that arrives during a flush shares the next one.

#![allow(
    clippy::result_large_err,
    reason = "openraft's traits fix StorageError as the error type; boxing it in helpers only to unbox it at the trait boundary buys nothing"
)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::mpsc;
use std::time::Instant;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{StoreError, storage_error};
use crate::release::StoreLease;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const LOG_TREE: &str = "raft_log";
const META_TREE: &str = "raft_meta";
const VOTE_KEY: &str = "vote";
const COMMITTED_KEY: &str = "committed";
const LAST_PURGED_KEY: &str = "last_purged";

/// callgrid's Raft log store. Cheap to clone: clones share the same sled
/// trees, which is how openraft's replication tasks get their own reader.
#[derive(Clone)]
pub struct LogStore {
    logs: sled::Tree,
    meta: sled::Tree,
    flusher: Flusher,
    _lease: StoreLease,
}

/// Who waits for a flush.
enum FlushWaiter {
    /// openraft's callback for an append.
    Append(LogFlushed<TypeConfig>),
    /// A caller awaiting the flush inline (vote, truncate).
    Inline(tokio::sync::oneshot::Sender<Result<(), String>>),
}

/// The log's one flusher: a thread that flushes sled whenever someone
/// waits, then completes every waiter that queued before the flush began.
/// A flush covers every write made before it starts, and waiters are
/// completed in the order they queued, so an append is never reported
/// durable before an earlier one.
#[derive(Clone)]
struct Flusher(std::sync::Arc<FlusherThread>);

struct FlusherThread {
    queue: Option<mpsc::Sender<FlushWaiter>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The last handle stops the thread and waits for it (at most the flush
/// in progress), so that the data directory is free once the stores drop.
impl Drop for FlusherThread {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Flusher {
    /// Starts the thread; it ends when the last handle drops.
    fn start(db: sled::Db) -> Result<Self, StoreError> {
        let (queue, waiting) = mpsc::channel::<FlushWaiter>();
        let thread = std::thread::Builder::new()
            .name("callgrid-log-flush".into())
            .spawn(move || {
                while let Ok(first) = waiting.recv() {
                    let mut waiters = vec![first];
                    waiters.extend(waiting.try_iter());
                    let started = Instant::now();
                    let result = db.flush().map(drop).map_err(|e| e.to_string());
                    metrics::histogram!("callgrid_storage_flush_seconds").record(started.elapsed());
                    metrics::histogram!("callgrid_storage_flush_waiters")
                        .record(waiters.len() as f64);
                    for waiter in waiters {
                        match waiter {
                            FlushWaiter::Append(callback) => callback
                                .log_io_completed(result.clone().map_err(std::io::Error::other)),
                            FlushWaiter::Inline(tx) => {
                                let _ = tx.send(result.clone());
                            }
                        }
                    }
                }
                drop(db);
            })
            .map_err(|source| StoreError::Io {
                context: "starting the raft log flusher",
                source: sled::Error::Io(source),
            })?;
        Ok(Self(std::sync::Arc::new(FlusherThread {
            queue: Some(queue),
            thread: Some(thread),
        })))
    }

    fn wait(&self, waiter: FlushWaiter) -> Result<(), FlushWaiter> {
        match &self.0.queue {
            Some(queue) => queue.send(waiter).map_err(|mpsc::SendError(w)| w),
            None => Err(waiter),
        }
    }
}

impl LogStore {
    pub(crate) fn open(db: &sled::Db, lease: StoreLease) -> Result<Self, StoreError> {
        let tree = |name| {
            db.open_tree(name).map_err(|source| StoreError::Io {
                context: "opening the raft log trees",
                source,
            })
        };
        Ok(Self {
            logs: tree(LOG_TREE)?,
            meta: tree(META_TREE)?,
            flusher: Flusher::start(db.clone())?,
            _lease: lease,
        })
    }

    fn read_meta<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError> {
        let subject = || meta_subject(key);
        let Some(bytes) = self
            .meta
            .get(key)
            .map_err(|e| storage_error(subject(), ErrorVerb::Read, &e))?
        else {
            return Ok(None);
        };
        postcard::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| storage_error(subject(), ErrorVerb::Read, &e))
    }

    fn write_meta<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StorageError> {
        let subject = || meta_subject(key);
        let bytes = postcard::to_stdvec(value)
            .map_err(|e| storage_error(subject(), ErrorVerb::Write, &e))?;
        self.meta
            .insert(key, bytes)
            .map_err(|e| storage_error(subject(), ErrorVerb::Write, &e))?;
        Ok(())
    }

    /// Flushes every tree of the Db (sled flushes its whole page cache)
    /// and waits for it.
    async fn flush(&self, subject: ErrorSubject<u64>) -> Result<(), StorageError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let stopped = || std::io::Error::other("the raft log flusher has stopped");
        if self.flusher.wait(FlushWaiter::Inline(tx)).is_err() {
            return Err(storage_error(subject, ErrorVerb::Write, &stopped()));
        }
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(storage_error(
                subject,
                ErrorVerb::Write,
                &std::io::Error::other(why),
            )),
            Err(_) => Err(storage_error(subject, ErrorVerb::Write, &stopped())),
        }
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        let last = self
            .logs
            .last()
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, &e))?;
        last.map(|(_, bytes)| decode_entry(&bytes).map(|entry| entry.log_id))
            .transpose()
    }
}

/// Removes every entry of `logs` whose index lies in `range`, as one
/// atomic batch.
fn remove_range(
    logs: &sled::Tree,
    range: (Bound<[u8; 8]>, Bound<[u8; 8]>),
) -> Result<(), StorageError> {
    let mut batch = sled::Batch::default();
    for key in logs.range(range).keys() {
        let key = key.map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, &e))?;
        batch.remove(key);
    }
    logs.apply_batch(batch)
        .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, &e))
}

fn meta_subject(key: &str) -> ErrorSubject<u64> {
    if key == VOTE_KEY {
        ErrorSubject::Vote
    } else {
        ErrorSubject::Store
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn key_bounds(range: &impl RangeBounds<u64>) -> (Bound<[u8; 8]>, Bound<[u8; 8]>) {
    let map = |b: Bound<&u64>| match b {
        Bound::Included(i) => Bound::Included(index_key(*i)),
        Bound::Excluded(i) => Bound::Excluded(index_key(*i)),
        Bound::Unbounded => Bound::Unbounded,
    };
    (map(range.start_bound()), map(range.end_bound()))
}

fn decode_entry(bytes: &[u8]) -> Result<Entry, StorageError> {
    postcard::from_bytes(bytes).map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, &e))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.logs
            .range(key_bounds(&range))
            .values()
            .map(|bytes| {
                let bytes =
                    bytes.map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, &e))?;
                decode_entry(&bytes)
            })
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.read_meta(LAST_PURGED_KEY)?;
        // After a purge of everything, or a crash between recording the
        // purge and deleting entries, the purged id is the newest we know.
        let last_log_id = self.last_entry_id()?.max(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.write_meta(VOTE_KEY, vote)?;
        // A vote forgotten after a crash could let this node vote twice in a term.
        self.flush(ErrorSubject::Vote).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.read_meta(VOTE_KEY)
    }

    /// Recorded so that a restarted node re-applies committed entries on
    /// top of its last snapshot before serving reads. Not flushed on its
    /// own: the next append or vote flush carries it, and a stale value
    /// only means fewer entries are re-applied until the leader re-commits.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.write_meta(COMMITTED_KEY, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_meta::<Option<LogId>>(COMMITTED_KEY)?.flatten())
    }

    #[tracing::instrument(level = "trace", skip_all)]
    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        let mut count: u32 = 0;
        for entry in entries {
            let bytes = postcard::to_stdvec(&entry).map_err(|e| {
                storage_error(ErrorSubject::Log(entry.log_id), ErrorVerb::Write, &e)
            })?;
            batch.insert(&index_key(entry.log_id.index), bytes);
            count += 1;
        }
        metrics::histogram!("callgrid_raft_append_batch_entries").record(count);
        self.logs
            .apply_batch(batch)
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Write, &e))?;

        // The durability promise: openraft counts this node towards a quorum
        // for these entries once the callback fires, so the flusher fires it
        // only after a flush that began after the write above.
        if let Err(FlushWaiter::Append(callback)) = self.flusher.wait(FlushWaiter::Append(callback))
        {
            let gone = std::io::Error::other("the raft log flusher has stopped");
            let e = storage_error(ErrorSubject::Logs, ErrorVerb::Write, &gone);
            callback.log_io_completed(Err(gone));
            return Err(e);
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "truncating conflicting raft log suffix");
        remove_range(&self.logs, key_bounds(&(log_id.index..)))?;
        // Conflicting entries must not come back after a crash and be
        // mistaken for entries this node accepted from the new leader.
        self.flush(ErrorSubject::Logs).await
    }

    /// Openraft only purges up to a snapshot that the state machine has
    /// already persisted (see `state_machine`), so nothing purged here is
    /// needed to rebuild state after a restart.
    ///
    /// The purge is recorded here; the deletes (thousands of entries after
    /// a snapshot, 100 ms and more of sled work) run on a blocking thread,
    /// so that neither Raft's log I/O nor the node's async threads (which
    /// serve every request and lamp stream) wait for them. Openraft never
    /// reads at or below the recorded purge, so entries still there are
    /// never seen; the handle the deletes hold keeps the stores open
    /// until they finish.
    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "purging raft log prefix");
        // Record the purge first: a crash before the deletes leaves only
        // harmless leftovers, which the next purge removes.
        self.write_meta(LAST_PURGED_KEY, &log_id)?;
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            match remove_range(&store.logs, key_bounds(&(..=log_id.index))) {
                Ok(()) => {
                    metrics::histogram!("callgrid_raft_log_purge_seconds").record(started.elapsed())
                }
                Err(e) => {
                    tracing::warn!(%log_id, error = %e, "purged entries not deleted; the next purge retries")
                }
            }
        });
        Ok(())
    }
}
