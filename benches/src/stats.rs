//! Latency histograms (HdrHistogram, microseconds) and their summaries.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency recorded exactly; anything slower is clamped to it.
const MAX_MICROS: u64 = 120_000_000;

/// A latency distribution in microseconds, 3 significant figures.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self(
            Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .expect("1 us to 120 s at 3 significant figures is a valid histogram"),
        )
    }
}

impl Latency {
    pub fn record(&mut self, elapsed: Duration) {
        let micros = (elapsed.as_micros() as u64).clamp(1, MAX_MICROS);
        self.0.saturating_record(micros);
    }

    pub fn merge(&mut self, other: &Latency) {
        self.0
            .add(&other.0)
            .expect("histograms with the same bounds always merge");
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The percentile curve: (quantile, microseconds) from the median to
    /// the maximum, at the quantiles an HdrHistogram plot shows.
    pub fn curve(&self) -> Vec<(f64, u64)> {
        if self.0.is_empty() {
            return Vec::new();
        }
        CURVE_QUANTILES
            .iter()
            .map(|&q| (q, self.0.value_at_quantile(q)))
            .collect()
    }

    pub fn summary(&self) -> Summary {
        let h = &self.0;
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

/// Where a percentile curve is sampled: 50%, 75%, 90%, 99%, 99.9%, ... up
/// to the maximum.
const CURVE_QUANTILES: [f64; 10] = [
    0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0,
];

/// What a report shows of one distribution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

/// Microseconds as milliseconds with three decimals, for tables.
pub fn ms(micros: u64) -> String {
    format!("{:.3}", micros as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut l = Latency::default();
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us));
        }
        let s = l.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.p50_us, 500);
        assert_eq!(s.p90_us, 900);
        assert_eq!(s.p99_us, 990);
        assert_eq!(s.p999_us, 999);
        assert_eq!(s.max_us, 1000);
    }

    #[test]
    fn merging_adds_counts_and_an_empty_summary_is_zero() {
        let mut a = Latency::default();
        let mut b = Latency::default();
        a.record(Duration::from_millis(1));
        b.record(Duration::from_millis(3));
        a.merge(&b);
        assert_eq!(a.summary().count, 2);
        assert_eq!(Latency::default().summary(), Summary::default());
    }
}
