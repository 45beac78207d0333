//! The fault suite (see `callgrid_tests::faults`): real nodes in network
//! namespaces, racing clients on every node, faults on a schedule, and the
//! whole history checked.
//!
//! The short form runs with the other tests. The long form:
//!
//!     cargo test -p callgrid-tests --test faults -- --ignored --nocapture
//!
//! (`CALLGRID_FAULT_OPS` and `CALLGRID_FAULT_SECS` resize it; by default
//! 100,000 racing operations within 30 minutes.) Both print operations
//! checked, how many were indeterminate and what retrying them with their
//! request ids resolved them to, faults injected and violations found.

use std::time::Duration;

use callgrid_tests::faults::{Budget, run};
use callgrid_tests::netns::{self, Netns};
use callgrid_tests::prereq;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn tag(offset: u8) -> u8 {
    (std::process::id() % 40) as u8 * 5 + offset
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_fault_run_finds_no_violations() {
    if !prereq::needs_that(prereq::NETNS, Netns::available(), netns::UNAVAILABLE) {
        return;
    }
    let budget = Budget {
        racing_ops: 1_000,
        max_time: Duration::from_secs(40),
        lanes: 2,
        racers: 4,
    };
    let report = run(tag(1), budget).await;
    println!("{report}");
    assert!(
        report.faults.len() >= 3,
        "several kinds of fault were injected: {:?}",
        report.faults
    );
    assert!(report.violations.is_empty(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "long form: run with --ignored"]
async fn long_fault_run_finds_no_violations() {
    assert!(
        Netns::available(),
        "the long form needs root and iproute2/iptables"
    );
    let budget = Budget {
        racing_ops: env_or("CALLGRID_FAULT_OPS", 100_000) as usize,
        max_time: Duration::from_secs(env_or("CALLGRID_FAULT_SECS", 1_800)),
        lanes: 4,
        racers: 6,
    };
    let report = run(tag(2), budget).await;
    println!("{report}");
    assert_eq!(
        report.faults.len(),
        6,
        "every kind of fault was injected: {:?}",
        report.faults
    );
    assert!(report.racing_operations >= 100_000, "{report}");
    assert!(report.violations.is_empty(), "{report}");
}
