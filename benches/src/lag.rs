//! The driver's own pauses. A latency the driver measures is the cluster's
//! only if the driver was not itself paused while it waited: a stalled
//! driver stamps every reply late, from every node at once, and looks
//! exactly like a stalled cluster.
//!
//! Two probes tick while a scenario runs and record how late each tick
//! woke: a task on the driver's async runtime (late when every worker is
//! busy or blocked) and a plain OS thread (late only when the whole
//! process, or the machine, was not running it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::stats::Latency;

/// How often each probe ticks.
const TICK: Duration = Duration::from_millis(5);
/// A tick this late is listed as a pause, with when it happened.
pub const PAUSE: Duration = Duration::from_millis(50);

/// The clock pauses and slow operations are placed on, so the two can be
/// lined up: time since its first use (the probes' start, which comes
/// before any scenario's first operation).
pub fn since_start() -> Duration {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    START.elapsed()
}

/// One late tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    /// Which probe: [`RUNTIME`] or [`THREAD`].
    pub probe: &'static str,
    /// When the tick was due, on [`since_start`]'s clock.
    pub at: Duration,
    /// How late it woke.
    pub late: Duration,
}

#[derive(Default)]
struct Seen {
    lag: Latency,
    pauses: Vec<Pause>,
}

impl Seen {
    fn of(seen: &Mutex<Seen>) -> MutexGuard<'_, Seen> {
        seen.lock()
            .expect("a probe never panics while holding its lock")
    }

    fn tick(&mut self, probe: &'static str, due: Duration, late: Duration) {
        self.lag.record(late);
        if late >= PAUSE {
            self.pauses.push(Pause {
                probe,
                at: due,
                late,
            });
        }
    }
}

/// What the probes saw over a run.
pub struct Lag {
    /// How late each tick of the async-runtime probe woke.
    pub runtime: Latency,
    /// How late each tick of the OS-thread probe woke.
    pub thread: Latency,
    /// Every tick at least [`PAUSE`] late, in time order.
    pub pauses: Vec<Pause>,
}

/// Sets the stop flag when dropped, so the probes stop even when a
/// scenario fails and [`Probes::finish`] is never called.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The two running probes; [`Probes::finish`] stops them and says what
/// they saw (dropping them stops them too).
pub struct Probes {
    stop: StopOnDrop,
    runtime: (tokio::task::JoinHandle<()>, Arc<Mutex<Seen>>),
    thread: (std::thread::JoinHandle<()>, Arc<Mutex<Seen>>),
}

/// The probe that is a task on the driver's async runtime: late when every
/// worker is busy or blocked.
pub const RUNTIME: &str = "driver async runtime";
/// The probe that is a plain thread: late only when the process or the
/// machine was not running it.
pub const THREAD: &str = "driver OS thread";

impl Probes {
    /// Starts both probes; call from within the driver's runtime.
    pub fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let runtime_seen = Arc::new(Mutex::new(Seen::default()));
        let runtime = {
            let (stop, seen) = (stop.clone(), runtime_seen.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let due = since_start() + TICK;
                    tokio::time::sleep(TICK).await;
                    let late = since_start().saturating_sub(due);
                    Seen::of(&seen).tick(RUNTIME, due, late);
                }
            })
        };
        let thread_seen = Arc::new(Mutex::new(Seen::default()));
        let thread = {
            let (stop, seen) = (stop.clone(), thread_seen.clone());
            std::thread::Builder::new()
                .name("lag-probe".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let due = since_start() + TICK;
                        std::thread::sleep(TICK);
                        let late = since_start().saturating_sub(due);
                        Seen::of(&seen).tick(THREAD, due, late);
                    }
                })
                .expect("a thread for the lag probe")
        };
        Self {
            stop: StopOnDrop(stop),
            runtime: (runtime, runtime_seen),
            thread: (thread, thread_seen),
        }
    }

    /// Stops both probes and returns what they saw.
    pub async fn finish(self) -> Lag {
        self.stop.0.store(true, Ordering::Relaxed);
        let _ = self.runtime.0.await;
        let _ = tokio::task::spawn_blocking(move || self.thread.0.join()).await;
        let take = |seen: &Mutex<Seen>| std::mem::take(&mut *Seen::of(seen));
        let (runtime, thread) = (take(&self.runtime.1), take(&self.thread.1));
        let mut pauses = runtime.pauses;
        pauses.extend(thread.pauses);
        pauses.sort_by_key(|p| p.at);
        Lag {
            runtime: runtime.lag,
            thread: thread.lag,
            pauses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_blocked_async_worker_shows_as_a_pause_of_the_runtime_probe() {
        let probes = Probes::start();
        let ticked = || {
            Seen::of(&probes.runtime.1).lag.count() > 0
                && Seen::of(&probes.thread.1).lag.count() > 0
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ticked() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(ticked(), "both probes tick within 10 s");
        // Block the runtime's only worker, as a task that never yields does.
        tokio::spawn(async { std::thread::sleep(PAUSE * 3) })
            .await
            .expect("the blocking task ends");
        let lag = probes.finish().await;
        let runtime_paused = lag.pauses.iter().any(|p| p.probe == RUNTIME);
        assert!(runtime_paused, "pauses: {:?}", lag.pauses);
        assert!(lag.runtime.summary().max_us >= PAUSE.as_micros() as u64);
        assert!(lag.thread.count() > 0);
    }
}
