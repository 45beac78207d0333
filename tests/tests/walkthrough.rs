//! The README's five-minute walkthrough, run exactly as written: every
//! `cgctl` line of the block is run with `callgridctl` against a fresh node,
//! and every `#  ` line after it must appear in its output.

use std::path::PathBuf;
use std::process::Command;

use callgrid_tests::{Node, NodeOptions, binary};

/// The walkthrough block: (command arguments, expected output lines).
fn walkthrough() -> Vec<(Vec<String>, Vec<String>)> {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let section = readme
        .split("## Five minutes with callgridctl")
        .nth(1)
        .expect("the walkthrough section");
    let block = section
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("its code block");
    let mut steps: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for line in block.lines().map(str::trim) {
        if let Some(expected) = line.strip_prefix("#  ") {
            steps
                .last_mut()
                .expect("output follows a command")
                .1
                .push(expected.to_string());
        } else if let Some(cmd) = line.strip_prefix("cgctl ") {
            let cmd = cmd.split(" # ").next().unwrap_or(cmd);
            let args = cmd
                .split_whitespace()
                .map(|a| a.trim_matches('\'').to_string())
                .collect();
            steps.push((args, Vec::new()));
        }
    }
    steps
}

#[tokio::test]
async fn the_readme_walkthrough_works_as_written() {
    let steps = walkthrough();
    assert!(steps.len() >= 10, "found the walkthrough: {steps:?}");
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), NodeOptions::default());
    for (args, expected) in steps {
        let out = Command::new(binary("callgridctl"))
            .args(["--server", &node.endpoint()])
            .args(&args)
            .env("CALLGRID_TENANT", "acme")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "cgctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in expected {
            // Ages ("0s ago") depend on timing; compare up to them.
            let stable = line.split(" 0s ago").next().unwrap_or(&line);
            assert!(
                stdout.contains(stable),
                "cgctl {args:?}: expected {stable:?} in {stdout:?}"
            );
        }
    }
}
