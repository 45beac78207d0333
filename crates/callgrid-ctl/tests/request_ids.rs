//! callgridctl sends what it changes under a request id, so a run repeated
//! with `--request-id` learns the first outcome instead of causing a
//! second effect (each run of a command otherwise gets an id of its own).

use std::process::{Command, Output};

use callgrid_tests::TestNode;
use serde_json::Value;

fn ctl(node: &TestNode, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callgridctl"))
        .args(["--server", &node.endpoint(), "--tenant", "acme"])
        .args(args)
        .output()
        .expect("callgridctl runs")
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.code().is_some(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn a_pickup_run_again_with_its_request_id_reports_the_first_outcome() {
    let node = TestNode::start(1.0);
    assert!(ctl(&node, &["tenant", "put"]).status.success());
    for n in ["101", "102", "103", "104"] {
        assert!(ctl(&node, &["ext", "put", n]).status.success());
    }
    assert!(ctl(&node, &["dial", "103", "102"]).status.success());

    let args = [
        "--json",
        "--request-id",
        "job-42",
        "pickup",
        "directed",
        "101",
        "102",
    ];
    let first = ctl(&node, &args);
    assert_eq!(json(&first)["result"], "picked_up");
    let again = ctl(&node, &args);
    assert_eq!(
        again.status.code(),
        Some(0),
        "the repeat is the same success"
    );
    assert_eq!(json(&again), json(&first));

    // Without the id, a repeat is a new request, and loses.
    let new = ctl(&node, &["--json", "pickup", "directed", "101", "102"]);
    assert_eq!(new.status.code(), Some(5));
    assert_eq!(json(&new)["result"], "already_answered");

    // The same id for another request is refused, naming it (exit 6).
    let reused = ctl(
        &node,
        &["--request-id", "job-42", "pickup", "directed", "104", "102"],
    );
    assert_eq!(reused.status.code(), Some(6));
    assert!(
        String::from_utf8_lossy(&reused.stderr).contains("request-id"),
        "{}",
        String::from_utf8_lossy(&reused.stderr)
    );
}
