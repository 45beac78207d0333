//! The installed command line: every API area has a subcommand.
//! (Also makes `cargo test --workspace` build `callgridctl` for the
//! end-to-end suites, which drive it like a person would.)

use std::process::Command;

#[test]
fn help_lists_every_api_area() {
    let out = Command::new(env!("CARGO_BIN_EXE_callgridctl"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for area in [
        "tenant",
        "ext",
        "callgroup",
        "policy",
        "dial",
        "answer",
        "hangup",
        "call",
        "pickup",
        "park",
        "retrieve",
        "parked",
        "watch",
        "notifications",
        "cluster",
    ] {
        assert!(help.contains(area), "--help lists {area}");
    }
}

#[test]
fn an_unreachable_server_is_a_clear_error_and_a_failure_exit() {
    let out = Command::new(env!("CARGO_BIN_EXE_callgridctl"))
        .args(["--server", "http://127.0.0.1:1", "cluster", "status"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:1"));
}
