//! openraft's own storage contract tests, run against the sled stores.

use callgrid_raft::{LogStore, StateMachineStore, StorageError, TypeConfig, open, open_db};
use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;

/// Builds a fresh store in its own temporary directory; the `TempDir`
/// guard deletes it when the suite case is done.
struct SledStoreBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for SledStoreBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open_db(dir.path())?;
        // No consumer: the suite only applies blank and membership entries.
        let (events, _) = tokio::sync::mpsc::unbounded_channel();
        let (log_store, state_machine, _) = open(&db, events)?;
        Ok((dir, log_store, state_machine))
    }
}

#[test]
fn sled_stores_pass_openraft_storage_suite() {
    Suite::test_all(SledStoreBuilder).expect("openraft storage suite");
}
