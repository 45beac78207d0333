//! A one-voter cluster end to end: write, stop, reopen the same data
//! directory, and find the state again.

mod support;

use openraft::storage::RaftLogStorage;
use support::{TestNode, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reapplies_committed_log_before_any_election() {
    let dir = tempfile::tempdir().expect("tempdir");

    let node = TestNode::start(dir.path()).await;
    let last = node.write_noops(5).await;
    assert!(
        node.shared.last_applied() >= Some(last.index),
        "client_write returns after apply"
    );
    node.stop().await;

    // Raft::new re-applies up to the persisted committed id itself, so the
    // state is back before this node has even tried to elect itself.
    let node = TestNode::boot(dir.path()).await;
    assert!(
        node.shared.last_applied() >= Some(last.index),
        "restart re-applied to {:?}, want at least {}",
        node.shared.last_applied(),
        last.index
    );

    node.raft
        .wait(Some(WAIT))
        .current_leader(support::NODE_ID, "leads again after restart")
        .await
        .expect("leader after restart");
    let next = node.write_noops(1).await;
    assert!(
        next.index > last.index,
        "new writes append after the old log"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_snapshot_and_purge_loads_the_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");

    let node = TestNode::start(dir.path()).await;
    let last = node.write_noops(5).await;
    node.raft
        .trigger()
        .snapshot()
        .await
        .expect("trigger snapshot");
    node.raft
        .wait(Some(WAIT))
        .snapshot(last, "snapshot covers every write")
        .await
        .expect("snapshot built");
    // Purge everything the snapshot covers, so a restart can only get the
    // state back from the snapshot.
    node.raft
        .trigger()
        .purge_log(last.index)
        .await
        .expect("trigger purge");
    node.raft
        .wait(Some(WAIT))
        .purged(Some(last), "log purged up to the snapshot")
        .await
        .expect("log purged");
    let before = node.shared.read(Clone::clone);
    node.stop().await;

    // Opening the stores alone (no Raft yet) must load the snapshot.
    {
        let db = support::open_again(dir.path()).await;
        let (events, _) = tokio::sync::mpsc::unbounded_channel();
        let (mut log_store, _, shared) = callgrid_raft::open(&db, events).expect("reopen stores");
        assert_eq!(
            shared.last_applied(),
            Some(last.index),
            "snapshot loaded on open"
        );
        assert_eq!(
            shared.read(Clone::clone),
            before,
            "switchboard round-trips through the snapshot"
        );
        let log_state = log_store.get_log_state().await.expect("log state");
        assert_eq!(
            log_state.last_purged_log_id,
            Some(last),
            "purge is persisted"
        );
    }

    let node = TestNode::start(dir.path()).await;
    assert!(node.shared.last_applied() >= Some(last.index));
    let current = node
        .raft
        .get_snapshot()
        .await
        .expect("raft running")
        .expect("snapshot present");
    assert_eq!(
        current.meta.last_log_id,
        Some(last),
        "persisted snapshot is the current one"
    );
    let next = node.write_noops(2).await;
    assert!(node.shared.last_applied() >= Some(next.index));
    node.stop().await;
}
