//! CPU time spent, read from `/proc`: the nodes this run spawned, this
//! driver, and the child processes it has waited for (the SIPp phones).
//! On a shared machine the rate a scenario reaches says little about who
//! spent the cores; CPU time per decided call says it for each side.

use std::sync::OnceLock;

/// CPU time so far, in milliseconds (Linux; zeros elsewhere).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    /// The spawned nodes, all threads.
    pub nodes_ms: f64,
    /// This process.
    pub driver_ms: f64,
    /// Children of this process that have exited and been waited for.
    pub reaped_ms: f64,
}

impl Cpu {
    pub fn now(node_pids: &[u32]) -> Cpu {
        let nodes_ms = node_pids
            .iter()
            .filter_map(|pid| ticks(&format!("/proc/{pid}/stat")))
            .map(|(own, _)| own)
            .sum::<f64>();
        let (driver_ms, reaped_ms) = ticks("/proc/self/stat").unwrap_or_default();
        Cpu {
            nodes_ms,
            driver_ms,
            reaped_ms,
        }
    }

    /// What was spent from `earlier` to `self`.
    pub fn since(&self, earlier: &Cpu) -> Cpu {
        Cpu {
            nodes_ms: self.nodes_ms - earlier.nodes_ms,
            driver_ms: self.driver_ms - earlier.driver_ms,
            reaped_ms: self.reaped_ms - earlier.reaped_ms,
        }
    }
}

/// (utime + stime, cutime + cstime) of a `/proc/<pid>/stat`, in ms.
fn ticks(path: &str) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may hold spaces: count the
    // fields after its closing one (field 3, state, comes first).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let ms = 1000.0 / clock_ticks_per_second();
    // utime, stime, cutime, cstime are fields 14-17: 11-14 after state.
    let own = (fields.get(11)? + fields.get(12)?) * ms;
    let reaped = (fields.get(13)? + fields.get(14)?) * ms;
    Some((own, reaped))
}

/// `getconf CLK_TCK`, asked once (100 on every Linux this runs on).
fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Pins process `pid`, every thread it has and every one it starts later,
/// to `cpus` (`taskset` syntax: `0`, `0-1`, `0,2`), with util-linux's
/// `taskset`.
pub fn pin(pid: u32, cpus: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("taskset")
        .args(["--all-tasks", "--cpu-list", "--pid", cpus, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| anyhow::anyhow!("--node-cpus/--driver-cpus: cannot run taskset: {e}"))?;
    anyhow::ensure!(
        status.success(),
        "--node-cpus/--driver-cpus: taskset could not pin process {pid} to CPUs {cpus:?} \
         (a CPU list such as 0, 0-1 or 0,2, of CPUs this machine has)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_spent_some_cpu_and_time_only_grows() {
        let before = Cpu::now(&[std::process::id()]);
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let spent = Cpu::now(&[std::process::id()]).since(&before);
        assert!(spent.driver_ms > 0.0, "{spent:?}");
        assert!(
            spent.nodes_ms > 0.0,
            "this process, read as a node: {spent:?}"
        );
        assert!(spent.reaped_ms >= 0.0);
    }

    fn allowed_cpus() -> String {
        std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list"))
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn a_cpu_list_that_is_not_one_is_refused_by_name_and_pins_nothing() {
        let before = allowed_cpus();
        let err = pin(std::process::id(), "not-a-cpu-list")
            .expect_err("not a CPU list")
            .to_string();
        assert!(err.contains("--node-cpus/--driver-cpus"), "{err}");
        assert_eq!(allowed_cpus(), before, "the process is pinned as before");
    }
}
