//! Starting and stopping a single-node Raft on a data directory, shared by
//! the integration tests.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use callgrid_model::Command;
use callgrid_raft::{
    AppliedEvents, CallgridRaft, LogId, NoNetwork, SharedState, open, open_db, raft_config,
};
use openraft::BasicNode;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// Upper bound for anything a test waits on; generous for a loaded CI box.
pub const WAIT: Duration = Duration::from_secs(20);

pub const NODE_ID: u64 = 1;

pub struct TestNode {
    pub raft: CallgridRaft,
    pub shared: SharedState,
    pub events: UnboundedReceiver<AppliedEvents>,
}

/// Opens `dir`, waiting (bounded) for a stopped node's sled to give up the
/// directory lock: its last handle drops on sled's own background thread,
/// a moment after the stores report closed.
pub async fn open_again(dir: &Path) -> sled::Db {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match open_db(dir) {
            Ok(db) => return db,
            Err(callgrid_raft::StoreError::DataDirLocked { .. })
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(e) => panic!("open sled db: {e}"),
        }
    }
}

impl TestNode {
    /// Opens the stores in `dir` and starts Raft, without waiting for a
    /// leader: on return, openraft has loaded the snapshot and re-applied
    /// the committed log.
    pub async fn boot(dir: &Path) -> TestNode {
        let db = open_again(dir).await;
        let (tx, events) = unbounded_channel();
        let (log_store, state_machine, shared) = open(&db, tx).expect("open raft stores");
        // The stores hold their own handles; the Db closes when they drop.
        drop(db);
        let raft = CallgridRaft::new(
            NODE_ID,
            Arc::new(raft_config()),
            NoNetwork,
            log_store,
            state_machine,
        )
        .await
        .expect("start raft");
        TestNode {
            raft,
            shared,
            events,
        }
    }

    /// Boots, forms the one-voter cluster on first start, and waits until
    /// this node leads.
    pub async fn start(dir: &Path) -> TestNode {
        let node = Self::boot(dir).await;
        if !node.raft.is_initialized().await.expect("raft running") {
            let members = BTreeMap::from([(NODE_ID, BasicNode::new("127.0.0.1:0"))]);
            node.raft
                .initialize(members)
                .await
                .expect("initialize single voter");
        }
        node.raft
            .wait(Some(WAIT))
            .current_leader(NODE_ID, "single node elects itself")
            .await
            .expect("leader elected");
        node
    }

    /// Commits `n` no-ops and returns the log id of the last one.
    pub async fn write_noops(&self, n: usize) -> LogId {
        let mut last = None;
        for _ in 0..n {
            let written = self
                .raft
                .client_write(Command::Noop)
                .await
                .expect("client_write");
            last = Some(written.log_id);
        }
        last.expect("n > 0")
    }

    /// Shuts Raft down and waits until openraft's tasks have dropped every
    /// store handle, so sled's directory lock is free for the next start.
    pub async fn stop(self) {
        self.raft.shutdown().await.expect("raft shutdown");
        drop(self.raft);
        tokio::time::timeout(WAIT, self.shared.stores_closed())
            .await
            .expect("stores closed after shutdown");
    }
}
