//! `race`: a call rings and K racers, each on its own connection (and, with
//! several targets, on different nodes), try to pick it up at once.
//! Exactly one of them must win (invariant 1); the others must hear
//! `ALREADY_ANSWERED`. Every call's winners are counted and checked.

use std::time::{Duration, Instant};

use callgrid_client::Connection;
use callgrid_proto::retry::with_request_id;
use callgrid_proto::v1::{
    self, calls_client::CallsClient, dial_response::Outcome, pickup_client::PickupClient,
};
use tonic::{Code, Status};

use super::Ctx;
use crate::cli::{RaceArgs, RaceKind};
use crate::layout::Block;
use crate::outcome::{self, party};
use crate::recorder::Recorder;
use crate::report::{Check, Measured, ScenarioResult};
use crate::runner::{Work, drive};

const ONE_WINNER: &str = "calls_with_one_winner";
const NO_WINNER: &str = "calls_with_no_winner";
const SEVERAL_WINNERS: &str = "calls_with_several_winners";
const UNDECIDED: &str = "calls_undecided_by_error";
const FOREIGN: &str = "pickups_of_another_call";
const VERIFY_MISMATCH: &str = "calls_read_back_wrong";
const RETRIED: &str = "pickups_retried_with_their_request_id";

/// How many times a racer sends its pickup again, with the same request
/// id, while the answer is undecided (`UNAVAILABLE`, `DEADLINE_EXCEEDED`).
const RETRIES: usize = 4;

/// One racer's attempt, under a request id of its own and retried with it
/// while undecided: how long it took, what it finally heard, and how many
/// retries that took.
async fn race_one(
    mut client: PickupClient<Connection>,
    kind: RaceKind,
    tenant: String,
    picker: String,
    callee: String,
    call_id: u64,
) -> (Duration, Result<v1::PickupResponse, Status>, usize) {
    let id = format!("race-{call_id}-{picker}");
    let start = Instant::now();
    let mut retries = 0;
    let mut backoff = Duration::from_millis(100);
    let result = loop {
        let attempt = match kind {
            RaceKind::Directed => {
                let request = v1::DirectedPickupRequest {
                    tenant: tenant.clone(),
                    picker: picker.clone(),
                    target: callee.clone(),
                };
                client.directed_pickup(with_request_id(request, &id)).await
            }
            RaceKind::Group => {
                let request = v1::GroupPickupRequest {
                    tenant: tenant.clone(),
                    picker: picker.clone(),
                };
                client.group_pickup(with_request_id(request, &id)).await
            }
            RaceKind::Blf => {
                let request = v1::BlfPickupRequest {
                    tenant: tenant.clone(),
                    picker: picker.clone(),
                    target: callee.clone(),
                    call_id: Some(call_id),
                };
                client.blf_pickup(with_request_id(request, &id)).await
            }
        };
        match attempt {
            Err(status)
                if matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded)
                    && retries < RETRIES =>
            {
                retries += 1;
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            answered => break answered,
        }
    };
    (
        start.elapsed(),
        result.map(tonic::Response::into_inner),
        retries,
    )
}

/// Rings the callee; returns the call id when it rings.
async fn ring(
    rec: &mut Recorder,
    calls: &mut CallsClient<Connection>,
    block: &Block,
) -> Option<u64> {
    let dial = calls.dial(v1::DialRequest {
        tenant: block.tenant.clone(),
        from: party(&block.numbers[0]),
        digits: block.numbers[1].clone(),
    });
    match rec.rpc("dial", dial).await?.outcome {
        Some(Outcome::Call(c)) => {
            rec.outcome("dial", outcome::call(c.result));
            (c.result == v1::CallResult::Ringing as i32).then_some(c.call_id)
        }
        _ => {
            rec.outcome("dial", "NOT_A_CALL");
            None
        }
    }
}

/// Every call is hung up before the next is dialled, so every dial must
/// ring. One that does not almost always means the directory does not
/// match the options (`--skip-setup` after a setup for fewer workers or
/// tenants): the run would then measure refusals, not races.
fn dials_rang(rec: &Recorder) -> Check {
    let dials: u64 = rec
        .outcomes
        .iter()
        .filter(|(k, _)| k.starts_with("dial: "))
        .map(|(_, n)| n)
        .sum();
    let rang = rec.outcomes.get("dial: RINGING").copied().unwrap_or(0);
    Check::new(
        "every dial rang",
        rang == dials,
        if rang == dials {
            format!("{dials} dials, each ringing")
        } else {
            format!(
                "{} of {dials} dials did not ring (see outcomes): with --skip-setup, set up the \
                 directory for these --tenants, --extensions and --concurrency first; \
                 UNAVAILABLE means the callee is offline (a blf run that was cut short)",
                dials - rang
            )
        },
    )
}

/// Reads the call back: it must be answered by the one winner.
async fn verify(
    rec: &mut Recorder,
    calls: &mut CallsClient<Connection>,
    tenant: &str,
    call_id: u64,
    winner: &str,
) {
    let get = calls.get_call(v1::GetCallRequest {
        tenant: tenant.to_owned(),
        call_id,
    });
    if let Some(info) = rec.rpc("get_call", get).await.and_then(|r| r.call) {
        let answered = info.state == v1::CallState::Answered as i32;
        if !answered || info.answered_by != winner {
            rec.count(VERIFY_MISMATCH, 1);
        }
    }
}

async fn worker(
    block: Block,
    mut calls: CallsClient<Connection>,
    racers: Vec<PickupClient<Connection>>,
    args: RaceArgs,
    work: std::sync::Arc<Work>,
) -> Recorder {
    let mut rec = Recorder::default();
    let pickers = &block.numbers[2..2 + racers.len()];
    while work.next().is_some() {
        let Some(call_id) = ring(&mut rec, &mut calls, &block).await else {
            work.finished();
            continue;
        };
        let started = Instant::now();
        let attempts = racers.iter().zip(pickers).map(|(client, picker)| {
            race_one(
                client.clone(),
                args.kind,
                block.tenant.clone(),
                picker.clone(),
                block.numbers[1].clone(),
                call_id,
            )
        });
        let results = futures::future::join_all(attempts).await;
        rec.latency("decision (all racers answered)", started.elapsed());
        let mut winners = Vec::new();
        let mut errored = false;
        for ((elapsed, result, retries), picker) in results.into_iter().zip(pickers) {
            if retries > 0 {
                rec.count(RETRIED, retries as u64);
            }
            match result {
                Ok(r) => {
                    rec.latency("pickup", elapsed);
                    rec.outcome("pickup", outcome::pickup(r.result));
                    if r.result == v1::PickupResult::PickedUp as i32 {
                        if r.call_id == call_id {
                            rec.latency("pickup (winner)", elapsed);
                            winners.push(picker.clone());
                        } else {
                            rec.count(FOREIGN, 1);
                        }
                    }
                }
                Err(status) => {
                    rec.error("pickup", &status);
                    errored = true;
                }
            }
        }
        match winners.len() {
            1 => rec.count(ONE_WINNER, 1),
            0 if errored => rec.count(UNDECIDED, 1),
            0 => rec.count(NO_WINNER, 1),
            _ => rec.count(SEVERAL_WINNERS, 1),
        }
        if args.verify && winners.len() == 1 {
            verify(&mut rec, &mut calls, &block.tenant, call_id, &winners[0]).await;
        }
        let hangup = calls.hangup(v1::HangupRequest {
            tenant: block.tenant.clone(),
            call_id,
            by: party(&block.numbers[0]),
        });
        if let Some(h) = rec.rpc("hangup", hangup).await {
            rec.outcome("hangup", outcome::hangup(h.result));
        }
        work.finished();
    }
    rec
}

pub async fn run(ctx: &Ctx, args: &RaceArgs) -> anyhow::Result<ScenarioResult> {
    anyhow::ensure!(args.racers >= 1, "--racers must be at least 1");
    let targets = ctx.pool.targets();
    let direct = ctx.shard_aware.as_ref().filter(|_| args.direct);
    anyhow::ensure!(
        direct.is_some() == args.direct,
        "race --direct needs the run's shard-aware client"
    );
    let (rec, elapsed) = drive("race", ctx.concurrency, ctx.budget, |slot, work| {
        let block = ctx.layout.block_of(slot);
        // Direct: every request of the slot's calls goes to the callee's
        // owner. Else racer r goes to target (slot + r) mod T; racers that
        // share a target get consecutive (so different) connections to it.
        let owner = direct.map(|client| {
            let key = callgrid_client::Key::extension(&block.tenant, &block.numbers[1])
                .expect("the layout's numbers are valid");
            client.channel(&key)
        });
        let racers = (0..args.racers)
            .map(|r| {
                let conn = (slot * args.racers + r) / targets;
                PickupClient::new(
                    owner
                        .clone()
                        .unwrap_or_else(|| ctx.pool.channel(slot + r, conn).into()),
                )
            })
            .collect();
        let calls = owner
            .clone()
            .unwrap_or_else(|| ctx.pool.for_slot(slot).into());
        worker(block, CallsClient::new(calls), racers, args.clone(), work)
    })
    .await?;
    let pickup = rec
        .latency
        .get("pickup")
        .map(|l| l.summary())
        .unwrap_or_default();
    let decided = rec.counter(ONE_WINNER);
    let headline = Measured::new(
        "race pickup",
        &format!(
            "latency: each racer's {:?} pickup RPC ({} racers per call); throughput: calls decided \
             with exactly one winner per second",
            args.kind, args.racers
        ),
        pickup,
        decided,
        elapsed,
    );
    let (none, several, undecided) = (
        rec.counter(NO_WINNER),
        rec.counter(SEVERAL_WINNERS),
        rec.counter(UNDECIDED),
    );
    let (foreign, mismatched) = (rec.counter(FOREIGN), rec.counter(VERIFY_MISMATCH));
    let raced = decided + none + several + undecided;
    let check = Check::new(
        "exactly one winner per call",
        none == 0 && several == 0 && undecided == 0 && foreign == 0 && mismatched == 0,
        format!(
            "{raced} calls raced: {decided} with one winner, {none} with none, {several} with \
             several, {undecided} undecided (gRPC error), {foreign} pickups of another call{}",
            if args.verify {
                format!(", {mismatched} read back wrong")
            } else {
                String::new()
            }
        ),
    );
    let rang = dials_rang(&rec);
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut result = ScenarioResult::new(headline, rec, vec![check, rang]);
    result
        .rates
        .insert("calls decided".into(), decided as f64 / secs);
    result
        .rates
        .insert("pickups".into(), pickup.count as f64 / secs);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dial_that_does_not_ring_fails_the_run() {
        let mut rec = Recorder::default();
        for _ in 0..3 {
            rec.outcome("dial", "RINGING");
        }
        assert!(dials_rang(&rec).passed);
        rec.outcome("dial", "UNKNOWN_CALLER");
        let check = dials_rang(&rec);
        assert!(!check.passed);
        assert!(check.detail.contains("1 of 4 dials"), "{}", check.detail);
    }
}
