//! callgridctl's exit status against a real node: 0 when the request was
//! done, and each class of refusal its documented status (`--help`, the
//! README), with the refused outcome still printed for scripts.
//!
//! The node is the workspace's `callgrid` binary, which `cargo test
//! --workspace` builds (alone: `cargo build --bin callgrid`).

use std::process::{Command, Output};

use callgrid_tests::TestNode;
use serde_json::Value;

/// Runs callgridctl against `node` in tenant `acme`.
fn ctl(node: &TestNode, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callgridctl"))
        .args(["--server", &node.endpoint(), "--tenant", "acme"])
        .args(args)
        .output()
        .expect("callgridctl runs")
}

/// The exit status, with the output shown if it is not `want`.
fn exits(out: &Output, want: i32) {
    assert_eq!(
        out.status.code(),
        Some(want),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The one JSON object a `--json` command printed.
fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("--json prints one JSON object")
}

/// A node with tenant `acme` and extensions 101..=104.
fn acme() -> TestNode {
    let node = TestNode::start(1.0);
    exits(&ctl(&node, &["tenant", "put"]), 0);
    for n in ["101", "102", "103", "104"] {
        exits(&ctl(&node, &["ext", "put", n]), 0);
    }
    node
}

#[test]
fn a_done_request_exits_0() {
    let node = acme();
    let dial = ctl(&node, &["dial", "103", "102"]);
    exits(&dial, 0);
    assert!(String::from_utf8_lossy(&dial.stdout).contains("ringing"));
    let pickup = ctl(&node, &["--json", "pickup", "directed", "101", "102"]);
    exits(&pickup, 0);
    assert_eq!(json(&pickup)["result"], "picked_up");
}

#[test]
fn a_pickup_of_an_answered_call_exits_5_and_still_prints_its_json() {
    let node = acme();
    exits(&ctl(&node, &["dial", "103", "102"]), 0);
    exits(&ctl(&node, &["pickup", "directed", "101", "102"]), 0);
    let late = ctl(&node, &["--json", "pickup", "directed", "104", "102"]);
    exits(&late, 5);
    assert_eq!(json(&late)["result"], "already_answered");
    assert!(late.stderr.is_empty(), "a refused result says nothing more");
    let text = ctl(&node, &["pickup", "directed", "104", "102"]);
    exits(&text, 5);
    assert!(String::from_utf8_lossy(&text.stdout).contains("already answered"));
}

#[test]
fn a_pickup_with_nothing_ringing_exits_4() {
    let node = acme();
    let out = ctl(&node, &["--json", "pickup", "directed", "101", "102"]);
    exits(&out, 4);
    assert_eq!(json(&out)["result"], "no_alerting_call");
    let dialled = ctl(&node, &["--json", "dial", "101", "*97103"]);
    exits(&dialled, 4);
    assert_eq!(json(&dialled)["result"], "no_alerting_call");
}

#[test]
fn a_retrieve_of_an_unknown_park_code_exits_4() {
    let node = acme();
    exits(&ctl(&node, &["policy", "put", "lobby"]), 0);
    exits(&ctl(&node, &["policy", "grant", "101", "lobby"]), 0);
    let out = ctl(&node, &["--json", "retrieve", "101", "42"]);
    exits(&out, 4);
    assert_eq!(json(&out)["result"], "unknown_code");
}

#[test]
fn an_invalid_argument_exits_6_and_a_command_line_that_does_not_parse_exits_2() {
    let node = acme();
    let by_node = ctl(&node, &["ext", "put", "105", "--pickup-groups", "1234"]);
    exits(&by_node, 6);
    let stderr = String::from_utf8_lossy(&by_node.stderr);
    assert!(
        stderr.contains("InvalidArgument") && stderr.contains("only digits"),
        "{stderr}"
    );
    assert!(by_node.stdout.is_empty());
    exits(&ctl(&node, &["ext", "get", "105"]), 4);
    let by_ctl = ctl(&node, &["dial", "101"]);
    exits(&by_ctl, 6);
    assert!(String::from_utf8_lossy(&by_ctl.stderr).contains("DIGITS"));
    exits(&ctl(&node, &["pickup", "directed", "101"]), 2);
}

#[test]
fn the_readme_table_agrees_with_help() {
    let help = Command::new(env!("CARGO_BIN_EXE_callgridctl"))
        .arg("--help")
        .output()
        .expect("callgridctl runs");
    let help = String::from_utf8_lossy(&help.stdout);
    // --help's rows: "  N  ..." and the lines indented under it.
    let mut help_rows: Vec<(String, String)> = Vec::new();
    for line in help.split("Exit status").nth(1).expect("the table").lines() {
        let status = line.get(2..3).filter(|_| line.get(..2) == Some("  "));
        match status {
            Some(n) if n.chars().all(|c| c.is_ascii_digit()) => {
                help_rows.push((n.to_owned(), line.to_owned()))
            }
            _ if line.starts_with("     ") => {
                if let Some(row) = help_rows.last_mut() {
                    row.1.push_str(line);
                }
            }
            _ => {}
        }
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("the README");
    let section = readme
        .split("### Exit status")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README's exit status section");
    let readme_rows: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| ") && l[2..].starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert_eq!(readme_rows.len(), 9, "the README has a row per status 0-8");
    assert_eq!(help_rows.len(), 9, "--help has a row per status 0-8");
    for row in readme_rows {
        let n = &row[2..3];
        if n == "0" {
            continue; // the README lists the successes, --help just says done
        }
        let (_, listed) = help_rows
            .iter()
            .find(|(status, _)| status == n)
            .unwrap_or_else(|| panic!("--help has a row for {n}"));
        for name in row.split('`').skip(1).step_by(2) {
            assert!(
                listed.contains(name.trim_start_matches("--")),
                "status {n}: the README lists {name}, --help does not: {listed}"
            );
        }
    }
}
