//! Runs workers until the budget (a duration or an operation count) is
//! spent, with a progress bar, and merges what they recorded.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::recorder::Recorder;

/// How much work a phase does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Ops(u64),
    For(Duration),
}

/// The shared work counter: workers claim operations from it.
pub struct Work {
    budget: Budget,
    started: Instant,
    claimed: AtomicU64,
    done: AtomicU64,
    /// Operations finished in each second of the phase.
    per_second: Mutex<Vec<u64>>,
}

/// Seconds of a phase the timeline keeps (an hour).
const TIMELINE_SECS: usize = 3600;

impl Work {
    pub fn new(budget: Budget) -> Self {
        Self {
            budget,
            started: Instant::now(),
            claimed: AtomicU64::new(0),
            done: AtomicU64::new(0),
            per_second: Mutex::new(Vec::new()),
        }
    }

    /// Claims the next operation; `None` once the budget is spent.
    pub fn next(&self) -> Option<u64> {
        match self.budget {
            Budget::Ops(total) => {
                let i = self.claimed.fetch_add(1, Ordering::Relaxed);
                (i < total).then_some(i)
            }
            Budget::For(d) => {
                (self.started.elapsed() < d).then(|| self.claimed.fetch_add(1, Ordering::Relaxed))
            }
        }
    }

    /// Marks one claimed operation finished (for the progress bar).
    pub fn finished(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
        let second = self.started.elapsed().as_secs() as usize;
        if second < TIMELINE_SECS {
            let mut per_second = self.per_second.lock().expect("timeline lock");
            if per_second.len() <= second {
                per_second.resize(second + 1, 0);
            }
            per_second[second] += 1;
        }
    }

    /// Operations finished in each second so far.
    pub fn per_second(&self) -> Vec<u64> {
        self.per_second.lock().expect("timeline lock").clone()
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Time since the work started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// A progress bar kept in step with a [`Work`]: operations out of the
/// total, or time out of the duration. Hidden when stderr is not a terminal.
pub struct Progress {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    pub fn start(label: &str, work: Arc<Work>) -> Self {
        let (len, template) = match work.budget {
            Budget::Ops(n) => (
                n,
                "{spinner} {prefix:>10} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
            ),
            Budget::For(d) => (
                d.as_millis() as u64,
                "{spinner} {prefix:>10} [{elapsed_precise}] {wide_bar} {msg}",
            ),
        };
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("the progress template is valid")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_owned());
        let ticker = {
            let bar = bar.clone();
            tokio::spawn(async move {
                while !bar.is_finished() {
                    let done = work.done();
                    let elapsed = work.started.elapsed();
                    match work.budget {
                        Budget::Ops(_) => bar.set_position(done),
                        Budget::For(_) => bar.set_position(elapsed.as_millis() as u64),
                    }
                    let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
                    bar.set_message(format!("{done} ops, {rate:.0}/s"));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        Self { bar, ticker }
    }

    pub async fn finish(self) {
        self.bar.finish_and_clear();
        let _ = self.ticker.await;
    }
}

/// Runs `concurrency` workers (`worker(slot, work)`) until the budget is
/// spent; returns what they recorded and how long the phase took.
pub async fn drive<F, Fut>(
    label: &str,
    concurrency: usize,
    budget: Budget,
    worker: F,
) -> anyhow::Result<(Recorder, Duration)>
where
    F: Fn(usize, Arc<Work>) -> Fut,
    Fut: Future<Output = Recorder> + Send + 'static,
{
    let work = Arc::new(Work::new(budget));
    let progress = Progress::start(label, work.clone());
    let handles: Vec<_> = (0..concurrency.max(1))
        .map(|slot| tokio::spawn(worker(slot, work.clone())))
        .collect();
    let mut merged = Recorder::default();
    for handle in handles {
        merged.merge(handle.await?);
    }
    let elapsed = work.elapsed();
    progress.finish().await;
    // The last second is only partly run: leave it out unless it is all
    // there is, and keep seconds in which nothing finished.
    let whole = (elapsed.as_secs() as usize).clamp(1, TIMELINE_SECS);
    let mut per_second = work.per_second();
    per_second.resize(whole, 0);
    merged.timeline.insert(label.to_owned(), per_second);
    Ok((merged, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ops_budget_hands_out_exactly_that_many() {
        let w = Work::new(Budget::Ops(3));
        let claimed: Vec<_> = std::iter::from_fn(|| w.next()).collect();
        assert_eq!(claimed, vec![0, 1, 2]);
        assert_eq!(w.next(), None);
    }

    #[test]
    fn finished_operations_are_counted_in_the_second_they_finish() {
        let w = Work::new(Budget::Ops(5));
        while w.next().is_some() {
            w.finished();
        }
        assert_eq!(w.per_second(), vec![5]);
    }

    #[test]
    fn a_spent_duration_hands_out_nothing() {
        let w = Work::new(Budget::For(Duration::from_nanos(1)));
        std::thread::sleep(Duration::from_millis(1));
        assert_eq!(w.next(), None);
    }
}
