//! The node's command line. (Also makes `cargo test --workspace` build the
//! `callgrid` binary that the end-to-end suites in `tests/` start.)

use std::process::Command;

#[test]
fn serve_documents_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_callgrid"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--metrics",
        "--data-dir",
        "--node-id",
        "--join",
        "--advertise",
        "--timer-scale",
    ] {
        assert!(help.contains(flag), "serve --help documents {flag}");
    }
}

#[test]
fn an_out_of_range_timer_scale_is_refused_naming_the_flag() {
    let dir = std::env::temp_dir().join(format!("callgrid-cli-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_callgrid"))
        .args([
            "serve",
            "--timer-scale",
            "0",
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--timer-scale"));
    assert!(!dir.exists(), "a refused start creates no data directory");
}
