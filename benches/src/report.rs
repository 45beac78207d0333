//! The report: what ran where, the baselines, the scenario's numbers, its
//! ratios to the baselines and its checks; printed as tables and written
//! as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::recorder::{ErrorCount, Recorder};
use crate::setup::SetupReport;
use crate::stats::{Latency, Summary, ms};

/// One measured thing: a baseline, or a scenario's headline.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub name: String,
    pub what: String,
    pub ops: u64,
    pub secs: f64,
    /// Operations per second.
    pub throughput: f64,
    pub latency: Summary,
    pub errors: u64,
}

impl Measured {
    /// `ops` operations over `elapsed`, with their latency distribution.
    pub fn new(name: &str, what: &str, latency: Summary, ops: u64, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64();
        Self {
            name: name.to_owned(),
            what: what.to_owned(),
            ops,
            secs,
            throughput: if secs > 0.0 { ops as f64 / secs } else { 0.0 },
            latency,
            errors: 0,
        }
    }

    /// Operation `op` of a recorder: its count is the number of operations.
    pub fn of(name: &str, what: &str, rec: &Recorder, op: &str, elapsed: Duration) -> Self {
        let latency = rec
            .latency
            .get(op)
            .map(Latency::summary)
            .unwrap_or_default();
        let mut m = Self::new(name, what, latency, latency.count, elapsed);
        m.errors = rec.error_total();
        m
    }
}

/// A scenario's headline divided by a baseline. Latency ratios above 1
/// mean slower than the baseline; a throughput ratio below 1 means fewer
/// operations per second.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ratio {
    pub baseline: String,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub throughput: Option<f64>,
}

fn divide(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

/// `headline / baseline` for p50, p99 and throughput.
pub fn ratio(headline: &Measured, baseline: &Measured) -> Ratio {
    Ratio {
        baseline: baseline.name.clone(),
        p50: divide(
            headline.latency.p50_us as f64,
            baseline.latency.p50_us as f64,
        ),
        p99: divide(
            headline.latency.p99_us as f64,
            baseline.latency.p99_us as f64,
        ),
        throughput: divide(headline.throughput, baseline.throughput),
    }
}

/// Something the run must hold (one winner per call, no gRPC errors).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

impl Check {
    pub fn new(name: &str, passed: bool, detail: String) -> Self {
        Self {
            name: name.to_owned(),
            passed,
            detail,
        }
    }
}

/// What a scenario measured.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// The latency and throughput the ratios compare.
    pub headline: Measured,
    /// Every operation's latency.
    pub operations: BTreeMap<String, Summary>,
    /// Further rates (per second), such as decided calls.
    pub rates: BTreeMap<String, f64>,
    pub outcomes: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, ErrorCount>,
    pub counters: BTreeMap<String, u64>,
    pub checks: Vec<Check>,
    /// This scenario against another measured in the same run (sip-race
    /// against the gRPC race, race against its peer).
    pub compared: Vec<Compared>,
    /// What `compared` compares with.
    pub compared_with: String,
    /// Every operation's percentile curve, (quantile, microseconds).
    pub curves: BTreeMap<String, Vec<(f64, u64)>>,
    /// Operations finished in each second of each phase.
    pub timeline: BTreeMap<String, Vec<u64>>,
    /// The operations `--plot` draws (all when empty).
    pub plotted: Vec<String>,
}

/// One figure of this scenario beside the same figure of another scenario
/// run in the same process, at the same concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct Compared {
    pub what: String,
    pub this: f64,
    pub other: f64,
    /// `this / other`.
    pub ratio: Option<f64>,
}

impl Compared {
    pub fn new(what: &str, this: f64, other: f64) -> Self {
        Self {
            what: what.to_owned(),
            this,
            other,
            ratio: divide(this, other),
        }
    }
}

impl ScenarioResult {
    pub fn new(headline: Measured, rec: Recorder, checks: Vec<Check>) -> Self {
        let mut checks = checks;
        let errors = rec.error_total();
        checks.push(Check::new(
            "no gRPC errors",
            errors == 0,
            if errors == 0 {
                "every RPC answered with a business outcome".to_owned()
            } else {
                format!("{errors} error(s): see errors")
            },
        ));
        Self {
            headline,
            operations: rec
                .latency
                .iter()
                .map(|(k, l)| (k.clone(), l.summary()))
                .collect(),
            curves: rec
                .latency
                .iter()
                .map(|(k, l)| (k.clone(), l.curve()))
                .collect(),
            timeline: rec.timeline,
            plotted: Vec::new(),
            rates: BTreeMap::new(),
            outcomes: rec.outcomes,
            errors: rec.errors,
            counters: rec.counters,
            checks,
            compared: Vec::new(),
            compared_with: "gRPC race".to_owned(),
        }
    }
}

/// The machine a run was on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
}

impl Machine {
    pub fn this() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        Self {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
        }
    }
}

/// Where the run sent its traffic.
#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    pub endpoints: Vec<String>,
    pub spawned_nodes: usize,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub machine: Machine,
    pub target: TargetInfo,
    pub options: serde_json::Value,
    pub setup: Option<SetupReport>,
    pub baselines: Vec<Measured>,
    pub result: ScenarioResult,
    pub ratios: Vec<Ratio>,
    pub passed: bool,
}

impl Report {
    pub fn new(
        scenario: &str,
        target: TargetInfo,
        options: serde_json::Value,
        setup: Option<SetupReport>,
        baselines: Vec<Measured>,
        result: ScenarioResult,
    ) -> Self {
        let ratios = baselines
            .iter()
            .map(|b| ratio(&result.headline, b))
            .collect();
        let mut result = result;
        for b in baselines.iter().filter(|b| b.errors > 0 || b.ops == 0) {
            result.checks.push(Check::new(
                &format!("baseline {} answered", b.name),
                false,
                format!("{} ok, {} gRPC error(s)", b.ops, b.errors),
            ));
        }
        let passed = result.checks.iter().all(|c| c.passed);
        Self {
            scenario: scenario.to_owned(),
            machine: Machine::this(),
            target,
            options,
            setup,
            baselines,
            result,
            ratios,
            passed,
        }
    }

    /// The report as text tables.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let r = &self.result;
        let _ = writeln!(
            out,
            "callgrid-bench {} | {} x {} | {}",
            self.scenario, self.machine.nproc, self.machine.cpu, self.target.note
        );
        let _ = writeln!(out, "target: {}", self.target.endpoints.join(", "));
        if let Some(s) = &self.setup {
            let _ = writeln!(
                out,
                "setup: {} tenant(s) x {} extensions: {} writes in {:.2} s ({:.0} writes/s, p50 {} ms, p99 {} ms)",
                s.tenants,
                s.extensions_per_tenant,
                s.writes,
                s.secs,
                s.writes_per_sec,
                ms(s.latency.p50_us),
                ms(s.latency.p99_us)
            );
        }
        let _ = writeln!(
            out,
            "\n{:<34} {:>9} {:>10} {:>8} {:>8} {:>8} {:>9} {:>8}",
            "latency (ms)", "ops", "ops/s", "p50", "p90", "p99", "p99.9", "max"
        );
        let row = |out: &mut String, name: &str, s: &Summary, rate: Option<f64>| {
            let rate = rate.map_or_else(|| "-".to_owned(), |r| format!("{r:.0}"));
            let _ = writeln!(
                out,
                "{:<34} {:>9} {:>10} {:>8} {:>8} {:>8} {:>9} {:>8}",
                name,
                s.count,
                rate,
                ms(s.p50_us),
                ms(s.p90_us),
                ms(s.p99_us),
                ms(s.p999_us),
                ms(s.max_us)
            );
        };
        for b in &self.baselines {
            row(
                &mut out,
                &format!("baseline {}", b.name),
                &b.latency,
                Some(b.throughput),
            );
        }
        let h = &r.headline;
        row(
            &mut out,
            &format!("{} (headline)", h.name),
            &h.latency,
            Some(h.throughput),
        );
        for (op, s) in &r.operations {
            row(&mut out, &format!("  {op}"), s, None);
        }
        let _ = writeln!(out, "headline: {}", h.what);
        if !r.rates.is_empty() {
            let rates: Vec<String> = r
                .rates
                .iter()
                .map(|(k, v)| format!("{k} {v:.0}/s"))
                .collect();
            let _ = writeln!(out, "rates: {}", rates.join(", "));
        }
        if !self.ratios.is_empty() {
            let _ = writeln!(out, "\nratio to baseline       p50      p99  throughput");
            let f = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"));
            for q in &self.ratios {
                let _ = writeln!(
                    out,
                    "  {:<18} {:>7} {:>8} {:>11}",
                    q.baseline,
                    f(q.p50),
                    f(q.p99),
                    f(q.throughput)
                );
            }
        }
        if !r.compared.is_empty() {
            let _ = writeln!(
                out,
                "\nsame run, same concurrency    {:>12} {:>12} {:>8}",
                "this", r.compared_with, "ratio"
            );
            for c in &r.compared {
                let ratio = c
                    .ratio
                    .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"));
                let _ = writeln!(
                    out,
                    "  {:<28} {:>12.3} {:>12.3} {:>8}",
                    c.what, c.this, c.other, ratio
                );
            }
        }
        let _ = writeln!(out, "\noutcomes:");
        for (k, n) in &r.outcomes {
            let _ = writeln!(out, "  {k:<44} {n:>9}");
        }
        for (k, n) in &r.counters {
            let _ = writeln!(out, "  {k:<44} {n:>9}");
        }
        if !r.errors.is_empty() {
            let _ = writeln!(out, "errors:");
            for (k, e) in &r.errors {
                let _ = writeln!(out, "  {k:<44} {:>9}  e.g. {}", e.count, e.example);
            }
        }
        let _ = writeln!(out, "checks:");
        for c in &r.checks {
            let mark = if c.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "  [{mark}] {}: {}", c.name, c.detail);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(p50: u64, p99: u64, ops: u64, secs: u64) -> Measured {
        let latency = Summary {
            count: ops,
            p50_us: p50,
            p99_us: p99,
            ..Summary::default()
        };
        Measured::new("m", "", latency, ops, Duration::from_secs(secs))
    }

    #[test]
    fn throughput_is_ops_over_seconds() {
        assert_eq!(measured(1, 1, 5000, 2).throughput, 2500.0);
        assert_eq!(measured(1, 1, 10, 0).throughput, 0.0);
    }

    #[test]
    fn ratios_divide_the_headline_by_the_baseline() {
        let scenario = measured(1250, 8000, 6000, 1);
        let baseline = measured(1000, 4000, 12000, 1);
        let q = ratio(&scenario, &baseline);
        assert_eq!(q.p50, Some(1.25));
        assert_eq!(q.p99, Some(2.0));
        assert_eq!(q.throughput, Some(0.5));
    }

    #[test]
    fn a_zero_baseline_gives_no_ratio() {
        let q = ratio(&measured(1, 1, 1, 1), &measured(0, 0, 0, 1));
        assert_eq!((q.p50, q.p99, q.throughput), (None, None, None));
    }

    #[test]
    fn a_failed_check_or_an_error_fails_the_report() {
        let mut rec = Recorder::default();
        rec.error_text("dial", "Unavailable", "no quorum");
        let result = ScenarioResult::new(measured(1, 1, 1, 1), rec, vec![]);
        let target = TargetInfo {
            endpoints: vec![],
            spawned_nodes: 0,
            note: String::new(),
        };
        let report = Report::new(
            "race",
            target,
            serde_json::Value::Null,
            None,
            vec![],
            result,
        );
        assert!(!report.passed);
        assert!(report.render().contains("[FAIL] no gRPC errors"));
    }
}
