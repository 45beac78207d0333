//! The container deployment: build the image from this repository alone,
//! bring up `deploy/compose.yaml` (three nodes), race a pickup across the
//! nodes, kill one container and check the cluster carries on with one
//! winner. Skipped where Docker is not available.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use callgrid_tests::cluster::{assert_one_winner, hang_up, race_round, racing_tenant};
use callgrid_tests::prereq;
use callgrid_tests::{Clients, api, bin_dir, eventually};

const T: &str = "acme";
const PROJECT: &str = "callgridtest";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn docker_ok() -> bool {
    Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("docker-compose")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
}

fn compose(args: &[&str]) -> std::process::Output {
    Command::new("docker-compose")
        .current_dir(repo())
        .args(["-f", "deploy/compose.yaml", "-p", PROJECT])
        .args(args)
        .env("CG_IMAGE", "callgrid:test")
        .env("CG_PORT_BASE", "2770")
        .env("CG_METRICS_BASE", "2970")
        .output()
        .expect("docker-compose runs")
}

/// Tears the compose project down however the test ends.
struct Down;
impl Drop for Down {
    fn drop(&mut self) {
        compose(&["down", "-v", "--remove-orphans"]);
    }
}

async fn clients(i: usize) -> Clients {
    let ch = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:2770{}", i + 1))
        .unwrap()
        .connect_lazy();
    Clients::new(ch)
}

/// Waits until the nodes in `live` (0-based) agree on a leader among them
/// and every shard is on one of them.
async fn converged(live: &[usize]) {
    let ids: Vec<u64> = live.iter().map(|i| *i as u64 + 1).collect();
    eventually(
        Duration::from_secs(90),
        "the containers' cluster to converge",
        || {
            let ids = ids.clone();
            async move {
                let mut leaders = Vec::new();
                for id in &ids {
                    let mut c = clients(*id as usize - 1).await;
                    let s = c
                        .cluster
                        .status(api::StatusRequest {})
                        .await
                        .ok()?
                        .into_inner();
                    let owners_ok = s.shard_owners.len() == 64
                        && s.shard_owners.iter().all(|o| ids.contains(o));
                    if !owners_ok || !ids.contains(&s.leader_id?) {
                        return None;
                    }
                    leaders.push(s.leader_id);
                }
                leaders.windows(2).all(|w| w[0] == w[1]).then_some(())
            }
        },
    )
    .await;
}

/// Five rounds of racing pickups, each with exactly one winner.
async fn race_five_rounds(c: &mut Clients, racers: &[(Clients, String)]) {
    for _ in 0..5 {
        let (call, results) = race_round(c, racers, T).await;
        assert_one_winner(c, T, call, &results, racers).await;
        hang_up(c, T, call).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compose_cluster_survives_a_killed_container_with_one_winner() {
    if !prereq::needs_that(
        prereq::DOCKER,
        docker_ok(),
        "`docker info` or `docker-compose version` failed",
    ) {
        return;
    }
    let build = Command::new("bash")
        .current_dir(repo())
        .arg("deploy/docker/build-image.sh")
        .env("BIN_DIR", bin_dir())
        .env("IMAGE", "callgrid:test")
        .output()
        .expect("build-image.sh runs");
    assert!(
        build.status.success(),
        "image build failed: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    compose(&["down", "-v", "--remove-orphans"]);
    let _down = Down;
    let up = compose(&["up", "-d"]);
    assert!(
        up.status.success(),
        "compose up failed: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    converged(&[0, 1, 2]).await;

    let mut c = clients(0).await;
    let pickers = racing_tenant(&mut c, T, 12).await;
    let mut racers = Vec::new();
    for (i, p) in pickers.iter().enumerate() {
        racers.push((clients(i % 3).await, p.clone()));
    }
    race_five_rounds(&mut c, &racers).await;

    // Kill the container that leads, with no warning.
    let leader = c
        .cluster
        .status(api::StatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .leader_id
        .unwrap() as usize
        - 1;
    let kill = compose(&["kill", "-s", "SIGKILL", &format!("node{}", leader + 1)]);
    assert!(
        kill.status.success(),
        "{}",
        String::from_utf8_lossy(&kill.stderr)
    );
    let live: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    converged(&live).await;

    let mut c = clients(live[0]).await;
    let mut racers = Vec::new();
    for (i, p) in pickers.iter().enumerate() {
        racers.push((clients(live[i % 2]).await, p.clone()));
    }
    race_five_rounds(&mut c, &racers).await;
}
