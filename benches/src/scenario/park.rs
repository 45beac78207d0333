//! `park`: park–retrieve churn. Each worker answers a call, then parks it
//! and has another extension of the same park policy retrieve it, back and
//! forth; after `--cycles-per-call` cycles it hangs up and dials again.
//! Codes are tenant-wide, so concurrent workers of one tenant contend for
//! the lowest free code.

use std::sync::Arc;

use callgrid_proto::v1::{
    self, calls_client::CallsClient, dial_response::Outcome, park_client::ParkClient,
};
use tonic::transport::Channel;

use super::Ctx;
use crate::cli::ParkArgs;
use crate::layout::Block;
use crate::outcome::{self, party};
use crate::recorder::Recorder;
use crate::report::{Check, Measured, ScenarioResult};
use crate::runner::{Work, drive};
use crate::stats::Latency;

/// An answered call and who holds it.
struct Held {
    call_id: u64,
    holder: String,
    spare: String,
    cycles: u32,
}

struct Worker {
    block: Block,
    calls: CallsClient<Channel>,
    park: ParkClient<Channel>,
    rec: Recorder,
}

impl Worker {
    /// Dials the callee and has it answer.
    async fn answered_call(&mut self) -> Option<Held> {
        let (caller, callee) = (&self.block.numbers[0], &self.block.numbers[1]);
        let dial = self.calls.dial(v1::DialRequest {
            tenant: self.block.tenant.clone(),
            from: party(caller),
            digits: callee.clone(),
        });
        let call_id = match self.rec.rpc("dial", dial).await?.outcome {
            Some(Outcome::Call(c)) => {
                self.rec.outcome("dial", outcome::call(c.result));
                (c.result == v1::CallResult::Ringing as i32).then_some(c.call_id)?
            }
            _ => return None,
        };
        let answer = self.calls.answer(v1::AnswerRequest {
            tenant: self.block.tenant.clone(),
            call_id,
            by: callee.clone(),
        });
        let a = self.rec.rpc("answer", answer).await?;
        self.rec.outcome("answer", outcome::answer(a.result));
        if a.result != v1::AnswerResult::Answered as i32 {
            self.hang_up(call_id).await;
            return None;
        }
        Some(Held {
            call_id,
            holder: callee.clone(),
            spare: self.block.numbers[2].clone(),
            cycles: 0,
        })
    }

    async fn hang_up(&mut self, call_id: u64) {
        let hangup = self.calls.hangup(v1::HangupRequest {
            tenant: self.block.tenant.clone(),
            call_id,
            by: party(&self.block.numbers[0]),
        });
        if let Some(h) = self.rec.rpc("hangup", hangup).await {
            self.rec.outcome("hangup", outcome::hangup(h.result));
        }
    }

    /// Parks the call and has the spare retrieve it; true if both worked.
    async fn cycle(&mut self, held: &mut Held) -> bool {
        let park = self.park.park(v1::ParkRequest {
            tenant: self.block.tenant.clone(),
            call_id: held.call_id,
            by: held.holder.clone(),
            code: None,
        });
        let Some(p) = self.rec.rpc("park", park).await else {
            return false;
        };
        self.rec.outcome("park", outcome::park(p.result));
        if p.result != v1::ParkResult::Parked as i32 {
            return false;
        }
        let retrieve = self.park.retrieve(v1::RetrieveRequest {
            tenant: self.block.tenant.clone(),
            by: held.spare.clone(),
            code: p.code,
        });
        let Some(r) = self.rec.rpc("retrieve", retrieve).await else {
            return false;
        };
        self.rec.outcome("retrieve", outcome::retrieve(r.result));
        if r.result != v1::RetrieveResult::Retrieved as i32 || r.call_id != held.call_id {
            return false;
        }
        std::mem::swap(&mut held.holder, &mut held.spare);
        held.cycles += 1;
        true
    }

    async fn run(mut self, args: ParkArgs, work: Arc<Work>) -> Recorder {
        let mut held: Option<Held> = None;
        while work.next().is_some() {
            if held.is_none() {
                held = self.answered_call().await;
            }
            if let Some(mut h) = held.take() {
                let ok = self.cycle(&mut h).await;
                self.rec
                    .count(if ok { "cycles" } else { "failed_cycles" }, 1);
                // A failed cycle leaves the call in an unknown state: start afresh.
                if !ok || h.cycles >= args.cycles_per_call {
                    self.hang_up(h.call_id).await;
                } else {
                    held = Some(h);
                }
            }
            work.finished();
        }
        if let Some(h) = held {
            self.hang_up(h.call_id).await;
        }
        self.rec
    }
}

pub async fn run(ctx: &Ctx, args: &ParkArgs) -> anyhow::Result<ScenarioResult> {
    anyhow::ensure!(
        args.cycles_per_call >= 1,
        "--cycles-per-call must be at least 1"
    );
    let (rec, elapsed) = drive("park", ctx.concurrency, ctx.budget, |slot, work| {
        let channel = ctx.pool.for_slot(slot);
        let w = Worker {
            block: ctx.layout.block_of(slot),
            calls: CallsClient::new(channel.clone()),
            park: ParkClient::new(channel),
            rec: Recorder::default(),
        };
        w.run(args.clone(), work)
    })
    .await?;
    let mut both = Latency::default();
    for op in ["park", "retrieve"] {
        if let Some(l) = rec.latency.get(op) {
            both.merge(l);
        }
    }
    let summary = both.summary();
    let headline = Measured::new(
        "park+retrieve",
        "latency and throughput: every Park.Park and Park.Retrieve RPC",
        summary,
        summary.count,
        elapsed,
    );
    let (cycles, failed) = (rec.counter("cycles"), rec.counter("failed_cycles"));
    let check = Check::new(
        "every park is retrieved",
        failed == 0 && cycles > 0,
        format!("{cycles} park-retrieve cycles, {failed} failed"),
    );
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut result = ScenarioResult::new(headline, rec, vec![check]);
    result.rates.insert("cycles".into(), cycles as f64 / secs);
    Ok(result)
}
