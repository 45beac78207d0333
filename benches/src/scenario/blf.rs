//! `blf`: N watchers on one extension's lamp (`Presence.WatchLamps`), M
//! lamp changes. Each change is caused by `Directory.SetOnline` (offline,
//! online, offline, ...): the lamp goes OFFLINE, IDLE, OFFLINE, ... A
//! delivery's latency runs from just before the causing RPC is sent to the
//! watcher receiving the event; the next change is sent once every watcher
//! has the current one, so each change's fan-out is measured on its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use callgrid_proto::v1::{
    self, directory_client::DirectoryClient, presence_client::PresenceClient,
};
use tokio::sync::Notify;
use tonic::transport::Channel;

use super::Ctx;
use crate::cli::BlfArgs;
use crate::outcome;
use crate::recorder::Recorder;
use crate::report::{Check, Measured, ScenarioResult};
use crate::runner::{Progress, Work};
use crate::stats::Latency;
use crate::target::Pool;

/// Lamp streams per gRPC connection (HTTP/2 streams share a connection).
const WATCHERS_PER_CONNECTION: usize = 100;
const DELIVERY: &str = "delivery (per watcher)";
const FAN_OUT: &str = "fan-out (last watcher)";
const CHANGE: &str = "set_online (the change)";
/// A change whose fan-out takes this long is told on stderr, with when.
const SLOW_CHANGE: std::time::Duration = std::time::Duration::from_millis(250);

/// What the coordinator and the watchers share. A delivery touches only
/// atomics: ten thousand watchers taking one lock per delivery would
/// measure the driver's lock convoy, not the fan-out.
struct Shared {
    /// The clock the send times below count from.
    start: Instant,
    /// The change in flight (changes go one at a time), and when its RPC
    /// was about to be sent, in nanoseconds after `start`.
    change: AtomicU64,
    sent_ns: AtomicU64,
    /// Watchers that have their initial lamp state, or failed to get it.
    settled: AtomicU64,
    /// Watchers whose stream is still open.
    alive: AtomicU64,
    /// Deliveries of the current change.
    delivered: AtomicU64,
    wake: Notify,
}

impl Shared {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            change: AtomicU64::new(u64::MAX),
            sent_ns: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            alive: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            wake: Notify::new(),
        }
    }

    fn bump(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Marks change `k` as sent now.
    fn sending(&self, k: u64) -> Instant {
        let now = Instant::now();
        self.delivered.store(0, Ordering::SeqCst);
        let ns = now.duration_since(self.start).as_nanos() as u64;
        self.sent_ns.store(ns, Ordering::SeqCst);
        self.change.store(k, Ordering::SeqCst);
        now
    }

    /// When change `k` was sent, if it is the one in flight.
    fn sent(&self, k: u64) -> Option<Instant> {
        (self.change.load(Ordering::SeqCst) == k).then(|| {
            self.start + std::time::Duration::from_nanos(self.sent_ns.load(Ordering::SeqCst))
        })
    }

    /// Waits until `done()` holds, or the deadline passes (false).
    async fn wait_until(&self, deadline: tokio::time::Instant, done: impl Fn() -> bool) -> bool {
        loop {
            let woken = self.wake.notified();
            if done() {
                return true;
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return done();
            }
        }
    }
}

/// The lamp change number `k` shows: even changes go offline, odd ones
/// come back (idle).
fn expected_state(change: u64) -> v1::LampState {
    if change.is_multiple_of(2) {
        v1::LampState::Offline
    } else {
        v1::LampState::Idle
    }
}

/// What one watcher saw: each delivery's change and latency (raw samples,
/// merged into one histogram at the end: ten thousand watchers with a
/// histogram each would cost the driver gigabytes), and its outcomes and
/// errors. Only its own task writes it while it runs.
#[derive(Default)]
struct Seen {
    latency: Vec<(u64, std::time::Duration)>,
    rec: Recorder,
}

/// Follows one lamp stream until the stream ends or fails, or the
/// coordinator aborts the task (the end of the run).
async fn watcher(
    channel: Channel,
    request: v1::WatchLampsRequest,
    shared: Arc<Shared>,
    seen: Arc<Mutex<Seen>>,
) {
    let log = |f: &mut dyn FnMut(&mut Seen)| f(&mut seen.lock().expect("seen lock"));
    let mut stream = match PresenceClient::new(channel).watch_lamps(request).await {
        Ok(s) => s.into_inner(),
        Err(status) => {
            log(&mut |s| s.rec.error("watch_lamps", &status));
            shared.bump(&shared.settled);
            return;
        }
    };
    let started = match stream.message().await {
        Ok(Some(first)) if first.sequence == 1 => {
            log(&mut |s| s.rec.outcome("initial lamp", outcome::lamp(first.state)));
            true
        }
        Ok(other) => {
            let got = format!("{other:?}");
            log(&mut |s| s.rec.error_text("watch_lamps", "no initial state", &got));
            false
        }
        Err(status) => {
            log(&mut |s| s.rec.error("watch_lamps", &status));
            false
        }
    };
    if !started {
        shared.bump(&shared.settled);
        return;
    }
    shared.alive.fetch_add(1, Ordering::SeqCst);
    shared.bump(&shared.settled);
    loop {
        let event = match stream.message().await {
            Ok(Some(event)) => event,
            Ok(None) => {
                log(&mut |s| {
                    s.rec
                        .error_text("watch_lamps", "stream ended", "the node closed the stream")
                });
                break;
            }
            Err(status) => {
                log(&mut |s| s.rec.error("watch_lamps", &status));
                break;
            }
        };
        let received = Instant::now();
        let change = event.sequence.saturating_sub(2);
        let Some(sent) = shared.sent(change) else {
            let got = format!("{event:?}");
            log(&mut |s| s.rec.error_text("lamp", "event for no change", &got));
            continue;
        };
        let wrong = event.state != expected_state(change) as i32;
        log(&mut |s| {
            s.latency.push((change, received.duration_since(sent)));
            if wrong {
                s.rec.error_text(
                    "lamp",
                    "unexpected state",
                    &format!("change {change}: {event:?}"),
                );
            }
        });
        // Only the last delivery of a change wakes the coordinator.
        let delivered = shared.delivered.fetch_add(1, Ordering::SeqCst) + 1;
        if delivered >= shared.alive.load(Ordering::SeqCst) {
            shared.wake.notify_one();
        }
    }
    shared.alive.fetch_sub(1, Ordering::SeqCst);
    shared.wake.notify_one();
}

async fn set_online(
    rec: &mut Recorder,
    dir: &mut DirectoryClient<Channel>,
    tenant: &str,
    number: &str,
    online: bool,
    op: &str,
) -> bool {
    let write = dir.set_online(v1::SetOnlineRequest {
        tenant: tenant.to_owned(),
        number: number.to_owned(),
        online,
    });
    rec.rpc(op, write).await.is_some()
}

pub async fn run(ctx: &Ctx, args: &BlfArgs) -> anyhow::Result<ScenarioResult> {
    anyhow::ensure!(args.watchers >= 1, "--watchers must be at least 1");
    let block = ctx.layout.block_of(0);
    let (tenant, watched) = (block.tenant.clone(), block.numbers[1].clone());
    let mut rec = Recorder::default();
    let mut dir = DirectoryClient::new(ctx.pool.for_slot(0));
    // Start from a known lamp: online, so idle.
    anyhow::ensure!(
        set_online(
            &mut rec,
            &mut dir,
            &tenant,
            &watched,
            true,
            "set_online (reset)"
        )
        .await,
        "could not bring {watched} online: {:?}",
        rec.errors
    );

    let targets = ctx.endpoints.len().max(1);
    let per_target = args
        .watchers
        .div_ceil(WATCHERS_PER_CONNECTION)
        .div_ceil(targets);
    let streams = Pool::connect(&ctx.endpoints, per_target, true).await?;
    let shared = Arc::new(Shared::new());
    let request = v1::WatchLampsRequest {
        tenant: tenant.clone(),
        watcher: String::new(),
        extensions: vec![watched.clone()],
        park_codes: vec![],
    };
    let handles: Vec<_> = (0..args.watchers)
        .map(|i| {
            let channel = streams.channel(i % targets, i / targets / WATCHERS_PER_CONNECTION);
            let seen = Arc::new(Mutex::new(Seen::default()));
            let task = tokio::spawn(watcher(
                channel,
                request.clone(),
                shared.clone(),
                seen.clone(),
            ));
            (i % targets, task, seen)
        })
        .collect();
    let all = args.watchers as u64;
    let connect_by = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    shared
        .wait_until(connect_by, || shared.settled.load(Ordering::SeqCst) >= all)
        .await;
    let watching = shared.alive.load(Ordering::SeqCst);
    eprintln!("blf: {watching} of {all} watchers streaming");

    let work = Arc::new(Work::new(ctx.budget));
    let progress = Progress::start("blf", work.clone());
    let mut changes = 0u64;
    let mut stalled = None;
    while let Some(k) = work.next().filter(|_| watching > 0) {
        let sent = shared.sending(k);
        let online = expected_state(k) == v1::LampState::Idle;
        if !set_online(&mut rec, &mut dir, &tenant, &watched, online, CHANGE).await {
            break;
        }
        let deadline = tokio::time::Instant::now() + args.change_timeout;
        let all_have_it =
            || shared.delivered.load(Ordering::SeqCst) >= shared.alive.load(Ordering::SeqCst);
        if !shared.wait_until(deadline, all_have_it).await {
            stalled = Some((k, shared.delivered.load(Ordering::SeqCst)));
            break;
        }
        let fan_out = sent.elapsed();
        if fan_out >= SLOW_CHANGE {
            // On the driver's pause clock, to line up with its lag probes.
            let at = crate::lag::since_start().saturating_sub(fan_out);
            eprintln!(
                "blf: change {k} took {:.0} ms to reach every watcher (sent at {:.3} s)",
                fan_out.as_secs_f64() * 1e3,
                at.as_secs_f64()
            );
        }
        rec.latency(FAN_OUT, fan_out);
        changes += 1;
        work.finished();
    }
    let elapsed = work.elapsed();
    progress.finish().await;
    // Leave the extension online, as later runs expect.
    set_online(
        &mut rec,
        &mut dir,
        &tenant,
        &watched,
        true,
        "set_online (reset)",
    )
    .await;
    for (_, task, _) in &handles {
        task.abort();
    }
    let mut deliveries = Latency::default();
    // The same deliveries by the node that served them, and the slowest
    // delivery of each change by node: which node a slow fan-out waited on.
    let mut by_node = vec![Latency::default(); targets];
    let mut slowest = vec![vec![std::time::Duration::ZERO; targets]; changes as usize];
    for (node, task, seen) in handles {
        if let Err(e) = task.await
            && !e.is_cancelled()
        {
            return Err(e.into());
        }
        let Seen {
            latency,
            rec: watcher_rec,
        } = std::mem::take(&mut *seen.lock().expect("seen lock"));
        for (change, sample) in latency {
            deliveries.record(sample);
            by_node[node].record(sample);
            if let Some(worst) = slowest.get_mut(change as usize) {
                worst[node] = worst[node].max(sample);
            }
        }
        rec.merge(watcher_rec);
    }
    for (node, latency) in by_node.into_iter().enumerate() {
        rec.latency
            .insert(format!("delivery via {}", ctx.endpoints[node]), latency);
    }
    let mut last_by_node = vec![Latency::default(); targets];
    for worst in &slowest {
        for (node, sample) in worst.iter().enumerate() {
            last_by_node[node].record(*sample);
        }
    }
    for (node, latency) in last_by_node.into_iter().enumerate() {
        rec.latency
            .insert(format!("fan-out via {}", ctx.endpoints[node]), latency);
    }
    if let Some((k, got)) = stalled {
        rec.error_text(
            "delivery",
            "timed out",
            &format!(
                "change {k} reached {got} watchers within {:?}",
                args.change_timeout
            ),
        );
    }
    rec.latency.insert(DELIVERY.to_owned(), deliveries.clone());
    let summary = deliveries.summary();
    let headline = Measured::new(
        "blf delivery",
        &format!(
            "latency: from just before the SetOnline that changes the lamp to each of {watching} \
             watchers receiving it; throughput: lamp changes delivered to every watcher per second"
        ),
        summary,
        changes,
        elapsed,
    );
    let expected = changes * watching;
    let check = Check::new(
        "every watcher sees every change",
        watching == all && summary.count == expected && stalled.is_none(),
        format!(
            "{watching} of {all} watchers streaming; {} deliveries of {changes} changes ({expected} expected)",
            summary.count
        ),
    );
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut result = ScenarioResult::new(headline, rec, vec![check]);
    result
        .rates
        .insert("deliveries".into(), summary.count as f64 / secs);
    Ok(result)
}
