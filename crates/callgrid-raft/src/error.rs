//! Errors from opening and reading callgrid's Raft store, and their
//! translation into the [`StorageError`] openraft expects at run time.

use std::path::PathBuf;

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageIOError};

use crate::types::StorageError;

/// Why the Raft store could not be opened or loaded.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (usually another callgrid node started on the same
    /// data directory) holds sled's exclusive lock. Stop it or pick another
    /// directory; two nodes sharing one log would corrupt the cluster.
    #[error("raft data directory {dir} is locked by another process")]
    DataDirLocked { dir: PathBuf },

    /// sled failed to open the directory or one of its trees.
    #[error("cannot open raft store at {dir}")]
    Open {
        dir: PathBuf,
        #[source]
        source: sled::Error,
    },

    /// A sled read or write failed.
    #[error("raft store i/o failed while {context}")]
    Io {
        context: &'static str,
        #[source]
        source: sled::Error,
    },

    /// Stored bytes did not decode: the data directory was written by an
    /// incompatible version, or is damaged. Never guess: refuse to start.
    #[error("raft store holds an undecodable {what}")]
    Corrupt {
        what: &'static str,
        #[source]
        source: postcard::Error,
    },
}

/// Builds an openraft storage error; openraft stops the node on any of
/// these, which is what a node that cannot trust its disk must do.
pub(crate) fn storage_error(
    subject: ErrorSubject<u64>,
    verb: ErrorVerb,
    source: &(impl std::error::Error + 'static),
) -> StorageError {
    StorageIOError::new(subject, verb, AnyError::new(source)).into()
}

impl From<StoreError> for StorageError {
    fn from(e: StoreError) -> Self {
        storage_error(ErrorSubject::Store, ErrorVerb::Read, &e)
    }
}
