//! What a suite needs from its host, and what happens when the host lacks it.
//!
//! Suites drive real software (SIPp, baresip, Chromium, Prometheus, etcd,
//! network namespaces, Docker). When one is missing:
//!
//! - **in CI** (`CI=true`, as `.ci/run` is run) the test fails, naming the
//!   prerequisite and how to install it: a green CI means every suite ran;
//! - **elsewhere** the test is skipped, and says so where a person sees it:
//!   at once on the terminal (written past the test harness's output
//!   capture, which takes only `print!`/`eprint!`), and once per suite at
//!   the end of `tests/run`, which reads the records this module leaves
//!   under `target/test-skips/`.
//!
//! Every skip goes through [`needs`]; no suite decides on its own.

use std::io::Write;
use std::path::PathBuf;

/// A prerequisite a suite needs: what it is and how to get it.
#[derive(Debug, Clone, Copy)]
pub struct Prerequisite {
    /// What is needed, as a person would look for it (`sipp`, `docker`).
    pub name: &'static str,
    /// How to install it on a Debian host.
    pub install: &'static str,
}

pub const SIPP: Prerequisite = Prerequisite {
    name: "sipp (Debian sip-tester)",
    install: "bash deploy/sip/install-test-phones.sh",
};
pub const BARESIP: Prerequisite = Prerequisite {
    name: "baresip (Debian baresip-core)",
    install: "bash deploy/sip/install-test-phones.sh",
};
pub const BROWSER: Prerequisite = Prerequisite {
    name: "chromium and chromedriver (Debian chromium, chromium-driver)",
    install: "bash deploy/console/install-test-browser.sh",
};
pub const PROMETHEUS: Prerequisite = Prerequisite {
    name: "prometheus and promtool (Debian prometheus)",
    install: "bash deploy/prometheus/install.sh",
};
pub const NETNS: Prerequisite = Prerequisite {
    name: "network namespaces (root, iproute2, iptables)",
    install: "run as root; apt-get install iproute2 iptables",
};
pub const DOCKER: Prerequisite = Prerequisite {
    name: "Docker Engine and docker-compose",
    install: "apt-get install docker.io docker-compose, and start the daemon",
};
pub const PYTHON_VENV: Prerequisite = Prerequisite {
    name: "python3 with venv and pip, and PyPI's grpcio-reflection",
    install: "apt-get install python3-venv (the test installs grpcio-reflection from PyPI)",
};
pub const KUBECTL: Prerequisite = Prerequisite {
    name: "kubectl (Debian kubernetes-client)",
    install: "apt-get install kubernetes-client",
};
pub const SYSTEMD_ANALYZE: Prerequisite = Prerequisite {
    name: "systemd-analyze (Debian systemd)",
    install: "apt-get install systemd",
};
pub const ETCD: Prerequisite = Prerequisite {
    name: "etcd (Debian etcd-server)",
    install: "apt-get install etcd-server",
};

/// Whether this run is CI's: there, nothing may skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `found`'s value, or `None` when the host lacks `what` and the test is
/// to be skipped; in CI a missing prerequisite panics, naming it.
///
/// ```ignore
/// let Some(sipp) = prereq::needs(prereq::SIPP, sipp::ensure_installed()) else { return };
/// ```
pub fn needs<T, E: std::fmt::Display>(what: Prerequisite, found: Result<T, E>) -> Option<T> {
    let why = match found {
        Ok(value) => return Some(value),
        Err(why) => why.to_string(),
    };
    let why = why.trim();
    if in_ci() {
        panic!(
            "prerequisite missing in CI (CI=true, where nothing skips): {}: {why}; install it with: {}",
            what.name, what.install
        );
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed test)")
        .to_string();
    let suite = suite_name();
    let needs = format!(
        "needs {} ({why}); install it with: {}",
        what.name, what.install
    );
    // Straight to the terminal: the harness captures only print!/eprint!.
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {suite}::{test}: {needs}");
    record(&suite, &what, &needs);
    None
}

/// `needs` for a probe that answers yes or no.
pub fn needs_that(what: Prerequisite, present: bool, why: &str) -> bool {
    needs(what, if present { Ok(()) } else { Err(why) }).is_some()
}

/// The test binary's name without cargo's hash: `sip` for `sip-1a2b3c`.
fn suite_name() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
        _ => stem,
    }
}

/// One file per suite and prerequisite (`<suite>.<prerequisite>`), holding
/// a line per skipped test, for `tests/run` to summarize.
fn record(suite: &str, what: &Prerequisite, needs: &str) {
    let dir = skips_dir();
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let slug: String = what
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = dir.join(format!("{suite}.{slug}"));
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{needs}");
    }
}

/// `target/test-skips/`, beside the build.
fn skips_dir() -> PathBuf {
    crate::bin_dir()
        .parent()
        .map(|target| target.join("test-skips"))
        .unwrap_or_else(|| PathBuf::from("target/test-skips"))
}
