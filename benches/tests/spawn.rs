//! `--spawn 3` starts a real 3-node cluster and races across it.

use std::process::Command;

/// Runs the bench with `args`: whether it succeeded, its stdout, its stderr.
fn bench(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_callgrid-bench"))
        .args(args)
        .output()
        .expect("callgrid-bench runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn spawn_three_starts_a_cluster_and_races_across_it() {
    let (ok, stdout, stderr) = bench(&[
        "--spawn",
        "3",
        "--ops",
        "5",
        "--concurrency",
        "2",
        "--no-baselines",
        "race",
        "--racers",
        "3",
    ]);
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("3-node cluster, spawned"), "{stdout}");
    assert!(stdout.contains("exactly one winner per call"), "{stdout}");
}

/// `--peer etcd` spawns a 3-member etcd cluster beside the node and runs
/// the same race there: both sides are checked for one winner per call and
/// reported side by side.
#[test]
fn the_etcd_peer_races_beside_callgrid_with_one_winner_per_call() {
    let (ok, stdout, stderr) = bench(&[
        "--spawn",
        "1",
        "--ops",
        "5",
        "--concurrency",
        "2",
        "--baseline-duration",
        "300ms",
        "--peer",
        "etcd",
        "race",
        "--racers",
        "3",
    ]);
    if !ok && stderr.contains("etcd-server") {
        eprintln!("SKIPPED: etcd cannot be installed here: {stderr}");
        return;
    }
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("[ok  ] etcd: exactly one winner per call"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[ok  ] exactly one winner per call"),
        "{stdout}"
    );
    let beside = stdout
        .lines()
        .find(|l| l.contains("same run, same concurrency"))
        .unwrap_or_default();
    assert!(beside.contains("etcd"), "{stdout}");
    for row in ["calls decided /s", "racer p99 (ms)", "bare write /s"] {
        assert!(stdout.contains(row), "{row} missing:\n{stdout}");
    }
}
