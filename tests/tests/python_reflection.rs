//! A tool nobody here wrote explores a node: Python's gRPC reflection
//! client, which speaks only the older `grpc.reflection.v1alpha` protocol,
//! lists the public services (and not the node-to-node one).
//!
//! Python's gRPC reflection client is not in Debian's packages: the test
//! installs `grpcio` and `grpcio-reflection` from PyPI into a virtual
//! environment under `target/`, once, and skips (saying why) where that
//! cannot be done.

use std::path::PathBuf;
use std::process::Command;

use callgrid_tests::TestNode;
use callgrid_tests::prereq;
use callgrid_tests::prometheus::workspace_root;

/// A virtual environment with Python's gRPC reflection client, made once.
fn reflection_python() -> Result<PathBuf, String> {
    let venv = workspace_root().join("target/python-reflection");
    let python = venv.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", "import grpc_reflection.v1alpha.reflection_pb2_grpc"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready() {
        return Ok(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .map_err(|e| format!("python3 -m venv: {e}"))?;
    if !made.status.success() {
        return Err(format!(
            "python3 -m venv failed: {}",
            String::from_utf8_lossy(&made.stderr)
        ));
    }
    let installed = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "grpcio>=1.60",
            "grpcio-reflection>=1.60",
        ])
        .output()
        .map_err(|e| format!("pip: {e}"))?;
    if !installed.status.success() || !ready() {
        return Err(format!(
            "pip could not install grpcio-reflection: {}",
            String::from_utf8_lossy(&installed.stderr)
        ));
    }
    Ok(python)
}

#[test]
fn pythons_v1alpha_reflection_client_lists_the_public_services() {
    let Some(python) = prereq::needs(prereq::PYTHON_VENV, reflection_python()) else {
        return;
    };
    let node = TestNode::start(1.0);
    let script = workspace_root().join("tests/python/list_services.py");
    let out = Command::new(python)
        .arg(script)
        .arg(node.node.grpc.to_string())
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the reflection client failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let services: Vec<&str> = stdout.lines().collect();
    for service in [
        "callgrid.v1.Directory",
        "callgrid.v1.Calls",
        "callgrid.v1.Pickup",
        "callgrid.v1.Park",
        "callgrid.v1.Presence",
        "callgrid.v1.Cluster",
        "grpc.health.v1.Health",
    ] {
        assert!(services.contains(&service), "{service} in {services:?}");
    }
    assert!(
        !services.iter().any(|s| s.starts_with("callgrid.internal")),
        "the node-to-node service is listed: {services:?}"
    );
}
