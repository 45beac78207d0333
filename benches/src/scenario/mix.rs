//! `mix`: a carrier's day. Each operation is one call's life in a worker's
//! block: an occasional probe that meets a refusal (a pickup with nothing
//! ringing, an unknown park code, a number that does not exist, a read),
//! a dial, then the callee answers or someone takes it — directed, group,
//! named or BLF pickup, by API or by dialled feature code, sometimes
//! several at once — or the caller gives up; answered calls are sometimes
//! parked and retrieved (and a late retriever finds the code gone); then a
//! hang-up. Lamp and notification watchers stream throughout.
//!
//! Every business outcome is counted; any gRPC error is an error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use callgrid_proto::v1::{
    self, calls_client::CallsClient, dial_response::Outcome, park_client::ParkClient,
    pickup_client::PickupClient, presence_client::PresenceClient,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tonic::Status;
use tonic::transport::Channel;

use super::Ctx;
use crate::cli::MixArgs;
use crate::layout::Block;
use crate::outcome::{self, party};
use crate::recorder::Recorder;
use crate::report::{Check, Measured, ScenarioResult};
use crate::runner::{Work, drive};
use crate::stats::Latency;
use crate::target::Pool;

/// Block `b` parks on code `OWN_CODES + b` when it asks for a code.
const OWN_CODES: u32 = 5000;
const RACES: &str = "races";
const RACES_ONE_WINNER: &str = "races_with_one_winner";

/// How someone other than the callee takes a ringing call.
#[derive(Debug, Clone, Copy)]
enum Take {
    DirectedApi,
    DirectedDial,
    GroupApi,
    GroupDial,
    NamedApi,
    NamedDial,
    Blf,
}

async fn timed<T>(
    call: impl std::future::Future<Output = Result<tonic::Response<T>, Status>>,
) -> (Duration, Result<T, Status>) {
    let start = Instant::now();
    let r = call.await;
    (start.elapsed(), r.map(tonic::Response::into_inner))
}

struct Worker {
    block: Block,
    calls: CallsClient<Channel>,
    pickup: PickupClient<Channel>,
    park: ParkClient<Channel>,
    rng: StdRng,
    rec: Recorder,
}

impl Worker {
    fn tenant(&self) -> String {
        self.block.tenant.clone()
    }

    async fn dial(&mut self, op: &str, from: &str, digits: String) -> Option<Outcome> {
        let dial = self.calls.dial(v1::DialRequest {
            tenant: self.tenant(),
            from: party(from),
            digits,
        });
        let outcome = self.rec.rpc(op, dial).await?.outcome;
        if outcome.is_none() {
            self.rec.outcome(op, "EMPTY");
        }
        outcome
    }

    /// Records a pickup's outcome; true if `call_id` is now the picker's.
    fn picked(&mut self, op: &str, r: Option<v1::PickupResponse>, call_id: u64) -> bool {
        let Some(r) = r else { return false };
        self.rec.outcome(op, outcome::pickup(r.result));
        r.result == v1::PickupResult::PickedUp as i32 && r.call_id == call_id
    }

    async fn ring(&mut self, caller: &str, callee: &str) -> Option<u64> {
        match self
            .dial("Calls.Dial (call)", caller, callee.to_owned())
            .await?
        {
            Outcome::Call(c) => {
                self.rec
                    .outcome("Calls.Dial (call)", outcome::call(c.result));
                (c.result == v1::CallResult::Ringing as i32).then_some(c.call_id)
            }
            _ => None,
        }
    }

    async fn answer(&mut self, call_id: u64, by: &str) -> bool {
        let answer = self.calls.answer(v1::AnswerRequest {
            tenant: self.tenant(),
            call_id,
            by: by.to_owned(),
        });
        let Some(a) = self.rec.rpc("Calls.Answer", answer).await else {
            return false;
        };
        self.rec.outcome("Calls.Answer", outcome::answer(a.result));
        a.result == v1::AnswerResult::Answered as i32
    }

    /// `picker` takes the call ringing on `callee` the `way` given.
    async fn take(&mut self, way: Take, picker: &str, callee: &str, call_id: u64) -> bool {
        let (tenant, picker_s) = (self.tenant(), picker.to_owned());
        let group = self.block.group.clone();
        let dialled = |op: &'static str, r: Option<Outcome>| match r {
            Some(Outcome::Pickup(p)) => (op, Some(p)),
            _ => (op, None),
        };
        let (op, response) = match way {
            Take::DirectedApi => {
                let req = v1::DirectedPickupRequest {
                    tenant,
                    picker: picker_s,
                    target: callee.to_owned(),
                };
                let op = "Pickup.DirectedPickup";
                (op, self.rec.rpc(op, self.pickup.directed_pickup(req)).await)
            }
            Take::GroupApi => {
                let req = v1::GroupPickupRequest {
                    tenant,
                    picker: picker_s,
                };
                let op = "Pickup.GroupPickup";
                (op, self.rec.rpc(op, self.pickup.group_pickup(req)).await)
            }
            Take::NamedApi => {
                let req = v1::NamedPickupRequest {
                    tenant,
                    picker: picker_s,
                    group_name: group,
                };
                let op = "Pickup.NamedPickup";
                (op, self.rec.rpc(op, self.pickup.named_pickup(req)).await)
            }
            Take::Blf => {
                let req = v1::BlfPickupRequest {
                    tenant,
                    picker: picker_s,
                    target: callee.to_owned(),
                    call_id: Some(call_id),
                };
                let op = "Pickup.BlfPickup";
                (op, self.rec.rpc(op, self.pickup.blf_pickup(req)).await)
            }
            Take::DirectedDial => {
                let r = self
                    .dial("Dial *97<ext>", picker, format!("*97{callee}"))
                    .await;
                dialled("Dial *97<ext>", r)
            }
            Take::GroupDial => dialled(
                "Dial *98",
                self.dial("Dial *98", picker, "*98".into()).await,
            ),
            Take::NamedDial => {
                let r = self
                    .dial("Dial 88<name>", picker, format!("88{group}"))
                    .await;
                dialled("Dial 88<name>", r)
            }
        };
        self.picked(op, response, call_id)
    }

    /// The callee answers while two others pick up: exactly one may win.
    async fn race(&mut self, call_id: u64, callee: &str, p1: &str, p2: &str) -> Option<String> {
        let tenant = self.tenant();
        let (mut calls, mut pickup_a, mut pickup_b) =
            (self.calls.clone(), self.pickup.clone(), self.pickup.clone());
        let ((ta, a), (tb, b), (tc, c)) = tokio::join!(
            timed(calls.answer(v1::AnswerRequest {
                tenant: tenant.clone(),
                call_id,
                by: callee.to_owned(),
            })),
            timed(pickup_a.directed_pickup(v1::DirectedPickupRequest {
                tenant: tenant.clone(),
                picker: p1.to_owned(),
                target: callee.to_owned(),
            })),
            timed(pickup_b.group_pickup(v1::GroupPickupRequest {
                tenant,
                picker: p2.to_owned(),
            })),
        );
        let mut winners = Vec::new();
        match a {
            Ok(a) => {
                self.rec.latency("Calls.Answer", ta);
                self.rec.outcome("Calls.Answer", outcome::answer(a.result));
                if a.result == v1::AnswerResult::Answered as i32 {
                    winners.push(callee.to_owned());
                }
            }
            Err(s) => self.rec.error("Calls.Answer", &s),
        }
        for (op, elapsed, r, picker) in [
            ("Pickup.DirectedPickup", tb, b, p1),
            ("Pickup.GroupPickup", tc, c, p2),
        ] {
            match r {
                Ok(r) => {
                    self.rec.latency(op, elapsed);
                    if self.picked(op, Some(r), call_id) {
                        winners.push(picker.to_owned());
                    }
                }
                Err(s) => self.rec.error(op, &s),
            }
        }
        self.rec.count(RACES, 1);
        if winners.len() == 1 {
            self.rec.count(RACES_ONE_WINNER, 1);
        }
        (winners.len() == 1).then(|| winners.remove(0))
    }

    /// A request that meets a refusal, or a read.
    async fn probe(&mut self, prober: &str, idle: &str) {
        let tenant = self.tenant();
        match self.rng.random_range(0..5) {
            0 => {
                let req = v1::DirectedPickupRequest {
                    tenant,
                    picker: prober.to_owned(),
                    target: idle.to_owned(),
                };
                let r = self
                    .rec
                    .rpc("Pickup.DirectedPickup", self.pickup.directed_pickup(req))
                    .await;
                self.picked("Pickup.DirectedPickup", r, 0);
            }
            1 => {
                let req = v1::RetrieveRequest {
                    tenant,
                    by: prober.to_owned(),
                    code: 9999,
                };
                if let Some(r) = self.rec.rpc("Park.Retrieve", self.park.retrieve(req)).await {
                    self.rec
                        .outcome("Park.Retrieve", outcome::retrieve(r.result));
                }
            }
            2 => {
                if let Some(Outcome::Call(c)) =
                    self.dial("Calls.Dial (call)", prober, "99".into()).await
                {
                    self.rec
                        .outcome("Calls.Dial (call)", outcome::call(c.result));
                }
            }
            3 => {
                let req = v1::ListParkedRequest { tenant };
                self.rec
                    .rpc("Park.ListParked", self.park.list_parked(req))
                    .await;
            }
            _ => {
                let req = v1::ListCallsRequest { tenant };
                self.rec
                    .rpc("Calls.ListCalls", self.calls.list_calls(req))
                    .await;
            }
        }
    }

    /// Parks the answered call and has `retriever` take it back; returns
    /// who holds it afterwards.
    ///
    /// Half the parks ask for the block's own code, far above the codes the
    /// lowest-free allocation reaches, so that a late retriever of it can
    /// only find it gone and never takes another worker's call.
    async fn park_and_retrieve(
        &mut self,
        call_id: u64,
        holder: String,
        retriever: &str,
        late: &str,
    ) -> String {
        let own_code = self
            .rng
            .random_bool(0.5)
            .then_some(OWN_CODES + self.block.index);
        let req = v1::ParkRequest {
            tenant: self.tenant(),
            call_id,
            by: holder.clone(),
            code: own_code,
        };
        let Some(p) = self.rec.rpc("Park.Park", self.park.park(req)).await else {
            return holder;
        };
        self.rec.outcome("Park.Park", outcome::park(p.result));
        if p.result != v1::ParkResult::Parked as i32 {
            return holder;
        }
        let retrieved = if self.rng.random_bool(0.5) {
            let req = v1::RetrieveRequest {
                tenant: self.tenant(),
                by: retriever.to_owned(),
                code: p.code,
            };
            self.rec.rpc("Park.Retrieve", self.park.retrieve(req)).await
        } else {
            match self
                .dial("Dial *71<code>", retriever, format!("*71{}", p.code))
                .await
            {
                Some(Outcome::Retrieve(r)) => Some(r),
                _ => None,
            }
        };
        let mut now_holder = holder;
        if let Some(r) = retrieved {
            self.rec
                .outcome("Park.Retrieve", outcome::retrieve(r.result));
            if r.result == v1::RetrieveResult::Retrieved as i32 {
                now_holder = retriever.to_owned();
            }
        }
        if own_code.is_some() && self.rng.random_bool(0.4) {
            let req = v1::RetrieveRequest {
                tenant: self.tenant(),
                by: late.to_owned(),
                code: p.code,
            };
            if let Some(r) = self.rec.rpc("Park.Retrieve", self.park.retrieve(req)).await {
                self.rec
                    .outcome("Park.Retrieve (late)", outcome::retrieve(r.result));
            }
        }
        now_holder
    }

    async fn hang_up(&mut self, call_id: u64, by: &str) {
        let req = v1::HangupRequest {
            tenant: self.tenant(),
            call_id,
            by: party(by),
        };
        if let Some(h) = self.rec.rpc("Calls.Hangup", self.calls.hangup(req)).await {
            self.rec.outcome("Calls.Hangup", outcome::hangup(h.result));
        }
    }

    /// One call's life.
    async fn life(&mut self) {
        let mut m = self.block.numbers.clone();
        m.shuffle(&mut self.rng);
        let (caller, callee, p1, p2) = (&m[0], &m[1], &m[2], &m[3]);
        if self.rng.random_bool(0.1) {
            self.probe(&m[7], &m[6]).await;
        }
        let Some(call_id) = self.ring(caller, callee).await else {
            return;
        };
        let named = self.block.named;
        let roll = self.rng.random_range(0..100);
        let answerer = match roll {
            0..30 => self.answer(call_id, callee).await.then(|| callee.clone()),
            30..80 => {
                let way = match roll {
                    30..40 => Take::DirectedApi,
                    40..50 => Take::DirectedDial,
                    50..56 => Take::GroupApi,
                    56..62 => Take::GroupDial,
                    62..66 if named => Take::NamedApi,
                    66..70 if named => Take::NamedDial,
                    62..70 => Take::GroupApi,
                    _ => Take::Blf,
                };
                self.take(way, p1, callee, call_id)
                    .await
                    .then(|| p1.clone())
            }
            80..90 => self.race(call_id, callee, p1, p2).await,
            _ => {
                self.hang_up(call_id, caller).await;
                return;
            }
        };
        let Some(mut holder) = answerer else {
            self.hang_up(call_id, caller).await;
            return;
        };
        if self.rng.random_bool(0.35) {
            holder = self.park_and_retrieve(call_id, holder, &m[4], &m[5]).await;
        }
        let by = if self.rng.random_bool(0.5) {
            caller.clone()
        } else {
            holder
        };
        self.hang_up(call_id, &by).await;
    }

    async fn run(mut self, work: Arc<Work>) -> Recorder {
        while work.next().is_some() {
            self.life().await;
            self.rec.count("call lives", 1);
            work.finished();
        }
        self.rec
    }
}

/// Follows a block's lamps until told to stop; counts events and checks
/// that sequence numbers have no gaps.
async fn lamp_watcher(channel: Channel, block: Block, mut stop: watch::Receiver<bool>) -> Recorder {
    let mut rec = Recorder::default();
    let req = v1::WatchLampsRequest {
        tenant: block.tenant.clone(),
        watcher: block.numbers[block.numbers.len() - 1].clone(),
        extensions: block.numbers.clone(),
        park_codes: vec![],
    };
    let mut stream = match PresenceClient::new(channel).watch_lamps(req).await {
        Ok(s) => s.into_inner(),
        Err(s) => {
            rec.error("Presence.WatchLamps", &s);
            return rec;
        }
    };
    let mut last = 0;
    loop {
        let m = tokio::select! { _ = stop.changed() => break, m = stream.message() => m };
        match m {
            Ok(Some(ev)) => {
                if ev.sequence != last + 1 {
                    let gap = format!("after {last} came {}", ev.sequence);
                    rec.error_text("Presence.WatchLamps", "sequence gap", &gap);
                }
                last = ev.sequence;
                rec.count("lamp events", 1);
            }
            Ok(None) => {
                rec.error_text("Presence.WatchLamps", "stream ended", "");
                break;
            }
            Err(s) => {
                rec.error("Presence.WatchLamps", &s);
                break;
            }
        }
    }
    rec
}

/// Follows one extension's notifications until told to stop.
async fn notification_watcher(
    channel: Channel,
    block: Block,
    mut stop: watch::Receiver<bool>,
) -> Recorder {
    let mut rec = Recorder::default();
    let req = v1::NotificationsRequest {
        tenant: block.tenant.clone(),
        extension: block.numbers[0].clone(),
    };
    let mut stream = match PresenceClient::new(channel).notifications(req).await {
        Ok(s) => s.into_inner(),
        Err(s) => {
            rec.error("Presence.Notifications", &s);
            return rec;
        }
    };
    loop {
        let m = tokio::select! { _ = stop.changed() => break, m = stream.message() => m };
        match m {
            Ok(Some(n)) => {
                use v1::notification::Kind;
                let kind = match n.kind {
                    Some(Kind::Alert(_)) => "alert",
                    Some(Kind::AlertStopped(_)) => "alert_stopped",
                    Some(Kind::MissedCall(_)) => "missed_call",
                    Some(Kind::ParkRingBack(_)) => "park_ring_back",
                    None => "empty",
                };
                rec.outcome("Presence.Notifications", kind);
            }
            Ok(None) => {
                rec.error_text("Presence.Notifications", "stream ended", "");
                break;
            }
            Err(s) => {
                rec.error("Presence.Notifications", &s);
                break;
            }
        }
    }
    rec
}

pub async fn run(ctx: &Ctx, args: &MixArgs) -> anyhow::Result<ScenarioResult> {
    let streams = Pool::connect(&ctx.endpoints, 1, true).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut watchers = Vec::new();
    for w in 0..args.watchers {
        let block = ctx.layout.block_of(w % ctx.concurrency);
        let channel = streams.channel(w, 0);
        watchers.push(tokio::spawn(lamp_watcher(
            channel.clone(),
            block.clone(),
            stop_rx.clone(),
        )));
        if w % 2 == 1 {
            watchers.push(tokio::spawn(notification_watcher(
                channel,
                block,
                stop_rx.clone(),
            )));
        }
    }
    let seed = ctx.seed;
    let (mut rec, elapsed) = drive("mix", ctx.concurrency, ctx.budget, |slot, work| {
        let channel = ctx.pool.for_slot(slot);
        let w = Worker {
            block: ctx.layout.block_of(slot),
            calls: CallsClient::new(channel.clone()),
            pickup: PickupClient::new(channel.clone()),
            park: ParkClient::new(channel),
            rng: StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(slot as u64)),
            rec: Recorder::default(),
        };
        w.run(work)
    })
    .await?;
    let mut all = Latency::default();
    for l in rec.latency.values() {
        all.merge(l);
    }
    let _ = stop_tx.send(true);
    for w in watchers {
        rec.merge(w.await?);
    }
    let summary = all.summary();
    let headline = Measured::new(
        "mix (all RPCs)",
        "latency and throughput: every unary RPC of the mix",
        summary,
        summary.count,
        elapsed,
    );
    let (races, one) = (rec.counter(RACES), rec.counter(RACES_ONE_WINNER));
    let check = Check::new(
        "exactly one winner per race",
        races == one,
        format!("{races} answer-vs-pickup races, {one} with exactly one winner"),
    );
    let secs = elapsed.as_secs_f64().max(1e-9);
    let lives = rec.counter("call lives") as f64 / secs;
    let mut result = ScenarioResult::new(headline, rec, vec![check]);
    result.rates.insert("call lives".into(), lives);
    Ok(result)
}
