//! `--plot FILE.svg`: the run as a picture for load testers. Left, each
//! plotted operation's latency percentile curve (HdrHistogram style: the
//! x axis stretches the tail, 50% to 99.99% and the maximum; the y axis is
//! logarithmic); right, operations finished per second over each phase.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use crate::report::ScenarioResult;

/// The x of quantile `q` on the percentile chart: the "nines" of
/// 1 / (1 - q) (50% is 0.3, 99% is 2, 99.99% is 4), the maximum at 5.
fn nines(q: f64) -> f64 {
    if q >= 1.0 {
        5.0
    } else {
        (1.0 / (1.0 - q)).log10()
    }
}

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws `result` to `path` (SVG).
pub fn draw(path: &Path, title: &str, result: &ScenarioResult) -> anyhow::Result<()> {
    let curves: Vec<(&String, &Vec<(f64, u64)>)> = result
        .curves
        .iter()
        .filter(|(op, c)| {
            !c.is_empty() && (result.plotted.is_empty() || result.plotted.contains(op))
        })
        .take(COLOURS.len())
        .collect();
    let root = SVGBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    let (left, right) = root.split_horizontally(600);

    let slowest = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|(_, us)| *us))
        .max()
        .unwrap_or(1_000) as f64
        / 1000.0;
    let fastest = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|(_, us)| *us))
        .min()
        .unwrap_or(1) as f64
        / 1000.0;
    let mut latency = ChartBuilder::on(&left)
        .caption("latency by percentile", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(
            0.0..5.0f64,
            (fastest.max(0.001) * 0.8..slowest.max(fastest).max(0.001) * 1.25).log_scale(),
        )?;
    latency
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("ms")
        .x_labels(6)
        .x_label_formatter(&|x| match *x as i64 {
            0 => "0%".into(),
            1 => "90%".into(),
            2 => "99%".into(),
            3 => "99.9%".into(),
            4 => "99.99%".into(),
            _ => "max".into(),
        })
        .draw()?;
    for (i, (op, curve)) in curves.iter().enumerate() {
        let colour = COLOURS[i];
        latency
            .draw_series(LineSeries::new(
                curve.iter().map(|(q, us)| (nines(*q), *us as f64 / 1000.0)),
                colour.stroke_width(2),
            ))?
            .label(op.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    latency
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;

    let phases: Vec<(&String, &Vec<u64>)> = result
        .timeline
        .iter()
        .filter(|(_, t)| !t.is_empty())
        .collect();
    let longest = phases.iter().map(|(_, t)| t.len()).max().unwrap_or(1) as f64;
    let busiest = phases
        .iter()
        .flat_map(|(_, t)| t.iter().copied())
        .max()
        .unwrap_or(1) as f64;
    let mut rate = ChartBuilder::on(&right)
        .caption("operations finished per second", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..longest, 0.0..busiest * 1.15)?;
    rate.configure_mesh()
        .x_desc("seconds into the phase")
        .y_desc("ops/s")
        .draw()?;
    for (i, (phase, per_second)) in phases.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        rate.draw_series(LineSeries::new(
            per_second
                .iter()
                .enumerate()
                .map(|(s, n)| (s as f64 + 0.5, *n as f64)),
            colour.stroke_width(2),
        ))?
        .label(phase.as_str())
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    rate.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::Recorder;
    use crate::report::{Measured, ScenarioResult};
    use std::time::Duration;

    #[test]
    fn the_tail_is_stretched_and_the_maximum_sits_at_the_right_edge() {
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        assert!((nines(0.999) - 3.0).abs() < 1e-9);
        assert_eq!(nines(1.0), 5.0);
    }

    #[test]
    fn a_run_draws_to_an_svg_naming_each_curve_and_phase() {
        let mut rec = Recorder::default();
        for ms in 1..200 {
            rec.latency("pickup", Duration::from_micros(ms * 137));
            rec.latency("etcd: txn", Duration::from_micros(ms * 91));
        }
        rec.timeline.insert("race".into(), vec![900, 950, 940]);
        rec.timeline.insert("etcd race".into(), vec![300, 320]);
        let headline = Measured::new("race", "", Default::default(), 0, Duration::from_secs(1));
        let result = ScenarioResult::new(headline, rec, Vec::new());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.svg");
        draw(&path, "race against etcd", &result).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        for name in ["pickup", "etcd: txn", "etcd race", "race against etcd"] {
            assert!(svg.contains(name), "{name} is drawn");
        }
    }
}
