//! `--spawn 3` starts a real 3-node cluster and races across it.

use std::process::Command;

#[test]
fn spawn_three_starts_a_cluster_and_races_across_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_callgrid-bench"))
        .args([
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
        ])
        .output()
        .expect("callgrid-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("3-node cluster, spawned"), "{stdout}");
    assert!(stdout.contains("exactly one winner per call"), "{stdout}");
}
