//! What one worker saw: latencies per operation, business outcomes, gRPC
//! errors and plain counters. Each worker owns one; they are merged at the
//! end, so recording never takes a lock.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;
use tonic::Status;

use crate::stats::Latency;

/// How many times one kind of gRPC error happened, and one example.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ErrorCount {
    pub count: u64,
    pub example: String,
}

#[derive(Debug, Default)]
pub struct Recorder {
    /// Latency per operation (`dial`, `pickup`, `park`, ...).
    pub latency: BTreeMap<String, Latency>,
    /// Business outcomes: `pickup: ALREADY_ANSWERED` and the like.
    pub outcomes: BTreeMap<String, u64>,
    /// gRPC errors by operation and code: `dial: Unavailable`.
    pub errors: BTreeMap<String, ErrorCount>,
    /// Anything else worth counting (`calls_decided`, `winners_zero`, ...).
    pub counters: BTreeMap<String, u64>,
    /// Operations finished in each second, per phase (`race`, ...).
    pub timeline: BTreeMap<String, Vec<u64>>,
}

impl Recorder {
    pub fn latency(&mut self, op: &str, elapsed: Duration) {
        self.latency
            .entry(op.to_owned())
            .or_default()
            .record(elapsed);
    }

    pub fn outcome(&mut self, op: &str, outcome: &str) {
        *self.outcomes.entry(format!("{op}: {outcome}")).or_default() += 1;
    }

    pub fn error(&mut self, op: &str, status: &Status) {
        self.error_text(op, &format!("{:?}", status.code()), status.message());
    }

    /// An error that is not a gRPC status (a stream gap, a lost delivery).
    pub fn error_text(&mut self, op: &str, kind: &str, example: &str) {
        let e = self.errors.entry(format!("{op}: {kind}")).or_default();
        e.count += 1;
        if e.example.is_empty() {
            e.example = example.chars().take(200).collect();
        }
    }

    pub fn count(&mut self, counter: &str, by: u64) {
        *self.counters.entry(counter.to_owned()).or_default() += by;
    }

    pub fn counter(&self, counter: &str) -> u64 {
        self.counters.get(counter).copied().unwrap_or(0)
    }

    pub fn error_total(&self) -> u64 {
        self.errors.values().map(|e| e.count).sum()
    }

    /// Awaits one unary RPC, recording its latency under `op` when it
    /// answers and its status when it fails.
    pub async fn rpc<T>(
        &mut self,
        op: &str,
        call: impl Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> Option<T> {
        let start = Instant::now();
        match call.await {
            Ok(response) => {
                self.latency(op, start.elapsed());
                Some(response.into_inner())
            }
            Err(status) => {
                self.error(op, &status);
                None
            }
        }
    }

    pub fn merge(&mut self, other: Recorder) {
        for (op, l) in other.latency {
            self.latency.entry(op).or_default().merge(&l);
        }
        for (k, n) in other.outcomes {
            *self.outcomes.entry(k).or_default() += n;
        }
        for (k, e) in other.errors {
            let mine = self.errors.entry(k).or_default();
            mine.count += e.count;
            if mine.example.is_empty() {
                mine.example = e.example;
            }
        }
        for (k, n) in other.counters {
            *self.counters.entry(k).or_default() += n;
        }
        self.timeline.extend(other.timeline);
    }
}
