//! The durability promise under SIGKILL: a write acknowledged by
//! `client_write` is back after the process is killed and restarted.
//!
//! The parent test re-runs this test binary as a child that writes and
//! reports each acknowledged index on stdout, kills it mid-stream, then
//! reopens the same data directory.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use support::{TestNode, WAIT};

const CRASH_DIR_ENV: &str = "CALLGRID_RAFT_CRASH_DIR";
const CHILD_TEST: &str = "child_acknowledges_writes_until_killed";
/// Kill after this many acknowledgements, while the child is still writing.
const KILL_AFTER_ACKS: usize = 30;

#[test]
#[ignore = "run by acknowledged_writes_survive_sigkill as a child process"]
fn child_acknowledges_writes_until_killed() {
    let Some(dir) = std::env::var_os(CRASH_DIR_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async move {
        let node = TestNode::start(dir.as_ref()).await;
        loop {
            let acked = node.write_noops(1).await;
            println!("ACKED {}", acked.index);
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            CHILD_TEST,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child node");

    // Kill from the reading thread the moment the last ack arrives, and
    // hold the child's stdout open until it is dead: a closed pipe would
    // make its next println panic, and a panicking child unwinds and flushes
    // sled on drop, which is exactly the clean exit this test must avoid.
    let stdout = child.stdout.take().expect("piped stdout");
    let (last_acked, child_output) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut acks = 0;
        let last_acked = loop {
            let Some(Ok(line)) = lines.next() else {
                break None;
            };
            if let Some(index) = line.strip_prefix("ACKED ") {
                acks += 1;
                if acks == KILL_AFTER_ACKS {
                    break Some(index.parse::<u64>().expect("acked index"));
                }
            }
        };
        child.kill().expect("SIGKILL child");
        child.wait().expect("reap child");
        (last_acked, lines)
    })
    .await
    .expect("read child output");
    drop(child_output);
    let last_acked = last_acked.expect("child acknowledged writes before dying");

    let node = TestNode::start(dir.path()).await;
    node.raft
        .wait(Some(WAIT))
        .applied_index_at_least(Some(last_acked), "acknowledged writes re-applied")
        .await
        .expect("every acknowledged write is back after SIGKILL");
    assert!(node.shared.last_applied() >= Some(last_acked));
    node.stop().await;
}
