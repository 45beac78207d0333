//! The fault suite: racing pickups, parks and retrieves from clients on
//! every node while faults are injected on a schedule, with every
//! operation's invocation and result recorded and the whole history
//! checked afterwards.
//!
//! The checks are DESIGN.md §3: at most one winner per call (pickups) and
//! per park (retrieves); every acknowledged park is retrieved exactly once
//! (or is still retrievable at the end); nothing is decided on a minority
//! side. Every operation carries a request id. An answer "not decided" is
//! recorded as such (it certainly took no effect); any other gRPC error or
//! timeout is indeterminate, and once the faults are over it is sent
//! again, unchanged, under its id until it is decided: the cluster answers
//! with what the first attempt came to (or decides it now, if it never
//! took effect). The report counts what they resolved to, and the checker
//! counts a resolved winner, park or retrieve like any other.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::Request;

use callgrid_proto::retry::{is_not_decided, with_request_id};

use crate::cluster::TestCluster;
use crate::netns::Netns;
use crate::{Clients, api};

/// The kinds of fault the injector cycles through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    KillLeader,
    KillOwner,
    PauseNode,
    PartitionLeader,
    PartitionFollower,
    FullRestart,
}

const SCHEDULE: [Fault; 6] = [
    Fault::KillLeader,
    Fault::PartitionLeader,
    Fault::KillOwner,
    Fault::PauseNode,
    Fault::PartitionFollower,
    Fault::FullRestart,
];

/// How long a run may go and how much it may do.
#[derive(Debug, Clone)]
pub struct Budget {
    pub racing_ops: usize,
    pub max_time: Duration,
    pub lanes: usize,
    pub racers: usize,
}

/// What an operation was.
#[derive(Debug, Clone)]
pub enum OpKind {
    Dial,
    Pickup,
    Park { call: u64 },
    Retrieve { code: u32 },
    Hangup { call: u64 },
}

/// The request an operation sent, kept so that it can be sent again,
/// unchanged, under its request id.
#[derive(Debug, Clone)]
pub enum Sent {
    Dial(api::DialRequest),
    Pickup(api::DirectedPickupRequest),
    Park(api::ParkRequest),
    Retrieve(api::RetrieveRequest),
    Hangup(api::HangupRequest),
}

impl Sent {
    fn kind(&self) -> OpKind {
        match self {
            Sent::Dial(_) => OpKind::Dial,
            Sent::Pickup(_) => OpKind::Pickup,
            Sent::Park(r) => OpKind::Park { call: r.call_id },
            Sent::Retrieve(r) => OpKind::Retrieve { code: r.code },
            Sent::Hangup(r) => OpKind::Hangup { call: r.call_id },
        }
    }

    /// Sends the request under `id` and classes the answer.
    async fn send(&self, c: &mut Clients, id: &str) -> Outcome {
        fn answered<T>(
            r: Result<tonic::Response<T>, tonic::Status>,
            f: impl FnOnce(T) -> Outcome,
        ) -> Outcome {
            match r {
                Ok(r) => f(r.into_inner()),
                Err(s) if is_not_decided(&s) => Outcome::NotDecided(s.to_string()),
                Err(s) => Outcome::Indeterminate(s.to_string()),
            }
        }
        match self {
            Sent::Dial(r) => answered(c.calls.dial(timed(r.clone(), id)).await, |r| {
                match r.outcome {
                    Some(api::dial_response::Outcome::Call(c)) => Outcome::Decided {
                        result: name_of(api::CallResult::try_from(c.result).ok()),
                        call: Some(c.call_id),
                        code: None,
                    },
                    other => panic!("dialling 100 was not an ordinary call: {other:?}"),
                }
            }),
            Sent::Pickup(r) => {
                answered(c.pickup.directed_pickup(timed(r.clone(), id)).await, |r| {
                    let won = r.result == api::PickupResult::PickedUp as i32;
                    Outcome::Decided {
                        result: name_of(api::PickupResult::try_from(r.result).ok()),
                        call: won.then_some(r.call_id),
                        code: None,
                    }
                })
            }
            Sent::Park(p) => answered(c.park.park(timed(p.clone(), id)).await, |r| {
                let parked = r.result == api::ParkResult::Parked as i32;
                Outcome::Decided {
                    result: name_of(api::ParkResult::try_from(r.result).ok()),
                    call: Some(p.call_id),
                    code: parked.then_some(r.code),
                }
            }),
            Sent::Retrieve(q) => answered(c.park.retrieve(timed(q.clone(), id)).await, |r| {
                let got = r.result == api::RetrieveResult::Retrieved as i32;
                Outcome::Decided {
                    result: name_of(api::RetrieveResult::try_from(r.result).ok()),
                    call: got.then_some(r.call_id),
                    code: Some(q.code),
                }
            }),
            Sent::Hangup(h) => answered(c.calls.hangup(timed(h.clone(), id)).await, |r| {
                Outcome::Decided {
                    result: name_of(api::HangupResult::try_from(r.result).ok()),
                    call: Some(h.call_id),
                    code: None,
                }
            }),
        }
    }
}

/// What it got back.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A business outcome, by name, and the call it names (if any).
    Decided {
        result: String,
        call: Option<u64>,
        code: Option<u32>,
    },
    /// `UNAVAILABLE` "not decided": certainly took no effect.
    NotDecided(String),
    /// Any other error: may or may not have taken effect.
    Indeterminate(String),
}

/// One recorded operation.
#[derive(Debug, Clone)]
pub struct Op {
    pub lane: usize,
    pub node: usize,
    pub kind: OpKind,
    /// Its request id (unique in its lane's tenant) and the request.
    pub id: String,
    pub sent: Sent,
    pub invoked: Instant,
    pub completed: Instant,
    pub outcome: Outcome,
    /// For an indeterminate operation: what the retry with its request id,
    /// after the faults, learned it came to.
    pub resolved: Option<Outcome>,
}

impl Op {
    /// What the operation came to: its answer, or what resolving it learned.
    pub fn settled(&self) -> &Outcome {
        self.resolved.as_ref().unwrap_or(&self.outcome)
    }
}

/// A window in which `node` was cut off from the majority.
#[derive(Debug, Clone)]
pub struct MinorityWindow {
    pub node: usize,
    pub from: Instant,
    pub to: Instant,
}

/// The run's numbers.
#[derive(Debug, Default)]
pub struct Report {
    pub operations: usize,
    pub racing_operations: usize,
    /// Answered with an error that may or may not have taken effect.
    pub indeterminate: usize,
    /// Answered "not decided": certainly no effect.
    pub not_decided: usize,
    /// Indeterminate operations by what the retry with their id learned
    /// (`pickup PickedUp`, `dial Ringing`, ...).
    pub resolved: BTreeMap<String, usize>,
    pub faults: BTreeMap<String, usize>,
    pub calls: usize,
    pub parks: usize,
    pub violations: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let faults: usize = self.faults.values().sum();
        writeln!(
            f,
            "fault suite: {} operations checked ({} racing, {} indeterminate, {} not decided)",
            self.operations, self.racing_operations, self.indeterminate, self.not_decided
        )?;
        writeln!(
            f,
            "  indeterminate, resolved by a retry with the same request id: {:?}",
            self.resolved
        )?;
        writeln!(
            f,
            "  calls raced: {}, parks acknowledged: {}",
            self.calls, self.parks
        )?;
        writeln!(f, "  faults injected: {faults} {:?}", self.faults)?;
        write!(f, "  violations found: {}", self.violations.len())?;
        for v in &self.violations {
            write!(f, "\n    {v}")?;
        }
        Ok(())
    }
}

/// Records operations from every lane.
#[derive(Clone, Default)]
struct History(Arc<Mutex<Vec<Op>>>);

impl History {
    fn push(&self, op: Op) {
        self.0.lock().expect("history lock").push(op);
    }
    /// Racing operations (pickups and retrieves) recorded so far.
    fn racing(&self) -> usize {
        self.0
            .lock()
            .expect("history lock")
            .iter()
            .filter(|o| matches!(o.kind, OpKind::Pickup | OpKind::Retrieve { .. }))
            .count()
    }
    fn take(&self) -> Vec<Op> {
        std::mem::take(&mut *self.0.lock().expect("history lock"))
    }
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);

fn timed<T>(msg: T, id: &str) -> Request<T> {
    let mut r = with_request_id(msg, id);
    r.set_timeout(REQUEST_TIMEOUT);
    r
}

fn name_of<E: std::fmt::Debug>(e: Option<E>) -> String {
    e.map_or_else(|| "UNSPECIFIED".into(), |e| format!("{e:?}"))
}

/// Sends one operation from `node` and records it.
async fn operate(
    history: &History,
    lane: usize,
    node: usize,
    c: &mut Clients,
    id: String,
    sent: Sent,
) -> Outcome {
    let invoked = Instant::now();
    let outcome = sent.send(c, &id).await;
    history.push(Op {
        lane,
        node,
        kind: sent.kind(),
        id,
        sent,
        invoked,
        completed: Instant::now(),
        outcome: outcome.clone(),
        resolved: None,
    });
    outcome
}

/// One lane: its own tenant, racing in rounds until told to stop.
async fn lane(
    lane: usize,
    clients: Vec<Clients>,
    racers: usize,
    history: History,
    stop: Arc<AtomicBool>,
    parks: Arc<Mutex<Vec<(usize, u64, u32)>>>,
) {
    let tenant = format!("lane{lane}");
    let n = clients.len();
    // Seeded per lane: a run's choices can be replayed.
    let mut rng = StdRng::seed_from_u64(0xCA11_0000 + lane as u64);
    // Request ids are unique within the lane's tenant: `<round>-<what>`.
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        // Dial.
        let node = rng.random_range(0..n);
        let dial = Sent::Dial(api::DialRequest {
            tenant: tenant.clone(),
            from: Some(crate::ext("200")),
            digits: "100".into(),
        });
        let call = match operate(
            &history,
            lane,
            node,
            &mut clients[node].clone(),
            format!("{round}-dial"),
            dial,
        )
        .await
        {
            Outcome::Decided { call, .. } => call,
            _ => None,
        };
        // Racing pickups (of whatever rings on 100: leftovers of failed rounds too).
        let tasks = (0..racers).map(|r| {
            let node = (r + lane) % n;
            let mut c = clients[node].clone();
            let history = history.clone();
            let picker = (101 + r).to_string();
            let sent = Sent::Pickup(api::DirectedPickupRequest {
                tenant: tenant.clone(),
                picker: picker.clone(),
                target: "100".into(),
            });
            let id = format!("{round}-pickup-{picker}");
            tokio::spawn(async move {
                let outcome = operate(&history, lane, node, &mut c, id, sent).await;
                (node, picker, outcome)
            })
        });
        let mut winner: Option<(String, u64, usize)> = None;
        for joined in futures::future::join_all(tasks).await {
            let (node, picker, outcome) = joined.expect("racer task");
            if let Outcome::Decided {
                call: Some(won), ..
            } = outcome
            {
                winner = Some((picker, won, node));
            }
        }
        // Sometimes the winner parks, and racers retrieve.
        if let Some((picker, won, node)) = winner.clone()
            && rng.random_bool(0.5)
        {
            let park = Sent::Park(api::ParkRequest {
                tenant: tenant.clone(),
                call_id: won,
                by: picker.clone(),
                code: None,
            });
            let parked = operate(
                &history,
                lane,
                node,
                &mut clients[node].clone(),
                format!("{round}-park"),
                park,
            )
            .await;
            if let Outcome::Decided {
                code: Some(code), ..
            } = parked
            {
                parks.lock().expect("parks lock").push((lane, won, code));
                let tasks = (0..racers).map(|r2| {
                    let node = (r2 + lane + 1) % n;
                    let mut c = clients[node].clone();
                    let history = history.clone();
                    let by = (101 + r2).to_string();
                    let id = format!("{round}-retrieve-{by}");
                    let sent = Sent::Retrieve(api::RetrieveRequest {
                        tenant: tenant.clone(),
                        by,
                        code,
                    });
                    tokio::spawn(async move {
                        operate(&history, lane, node, &mut c, id, sent).await;
                    })
                });
                for joined in futures::future::join_all(tasks).await {
                    joined.expect("retriever task");
                }
            }
        }
        // The caller hangs up whatever it placed (a parked call nobody
        // retrieved is left for the final check).
        if let Some(call) = call.or(winner.map(|w| w.1)) {
            let still_parked = parks
                .lock()
                .expect("parks lock")
                .iter()
                .any(|(l, c, _)| *l == lane && *c == call);
            let node = rng.random_range(0..n);
            if !still_parked {
                let hangup = Sent::Hangup(api::HangupRequest {
                    tenant: tenant.clone(),
                    call_id: call,
                    by: Some(crate::ext("200")),
                });
                operate(
                    &history,
                    lane,
                    node,
                    &mut clients[node].clone(),
                    format!("{round}-hangup"),
                    hangup,
                )
                .await;
            }
        }
    }
}

/// After the faults: sends every indeterminate operation again, unchanged,
/// under its request id, until it is decided (bounded), and records what
/// it came to. Lanes resolve in parallel, each in order.
async fn resolve(ops: &mut [Op], clients: &[Clients]) {
    const WITHIN: Duration = Duration::from_secs(60);
    let mut by_lane: BTreeMap<usize, Vec<&mut Op>> = BTreeMap::new();
    for op in ops.iter_mut() {
        if matches!(op.outcome, Outcome::Indeterminate(_)) {
            by_lane.entry(op.lane).or_default().push(op);
        }
    }
    let lanes = by_lane.into_values().enumerate().map(|(i, lane_ops)| {
        let mut c = clients[i % clients.len()].clone();
        async move {
            for op in lane_ops {
                let deadline = Instant::now() + WITHIN;
                loop {
                    match op.sent.send(&mut c, &op.id).await {
                        decided @ Outcome::Decided { .. } => {
                            op.resolved = Some(decided);
                            break;
                        }
                        _ if Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        undecided => {
                            op.resolved = Some(undecided);
                            break;
                        }
                    }
                }
            }
        }
    });
    futures::future::join_all(lanes).await;
}

/// Sets up each lane's tenant: callee 100, caller 200, pickers 101.., all
/// granted the park policy "lot" (codes 10–9999).
async fn setup(c: &mut Clients, lanes: usize, racers: usize) {
    for lane in 0..lanes {
        let tenant = format!("lane{lane}");
        crate::cluster::racing_tenant(c, &tenant, racers).await;
        c.directory
            .put_park_policy(api::PutParkPolicyRequest {
                tenant: tenant.clone(),
                policy: Some(api::ParkPolicy {
                    name: "lot".into(),
                    code_start: 10,
                    code_end: 9999,
                    // The longest timeout: within a run, a park nobody
                    // retrieved is still parked at the final check.
                    timeout_secs: 1800,
                    ..Default::default()
                }),
            })
            .await
            .expect("policy");
        for r in 0..racers {
            c.directory
                .grant_park_policy(api::GrantParkPolicyRequest {
                    tenant: tenant.clone(),
                    number: (101 + r).to_string(),
                    policy: "lot".into(),
                })
                .await
                .expect("grant");
        }
    }
}

/// Runs the suite: a 3-node cluster in network namespaces (tag picks the
/// private subnet), `budget` of racing operations, faults on a schedule.
pub async fn run(tag: u8, budget: Budget) -> Report {
    let net = Netns::create(tag, 3);
    let mut cluster = TestCluster::start_in(Some(&net), 3, 1.0, &[]).await;
    let mut admin = cluster.clients(0).await;
    setup(&mut admin, budget.lanes, budget.racers).await;

    let history = History::default();
    let parks = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let give_up_at = Instant::now() + budget.max_time;
    let mut per_node = Vec::new();
    for i in 0..3 {
        per_node.push(Clients::new(
            tonic::transport::Channel::from_shared(cluster.nodes[i].endpoint())
                .expect("endpoint")
                .connect_lazy(),
        ));
    }
    let lanes: Vec<_> = (0..budget.lanes)
        .map(|l| {
            tokio::spawn(lane(
                l,
                per_node.clone(),
                budget.racers,
                history.clone(),
                stop.clone(),
                parks.clone(),
            ))
        })
        .collect();

    // Inject faults, every kind at least once, until the racing budget is
    // spent (or the time bound is hit); then stop the lanes.
    let mut report = Report::default();
    let mut windows: Vec<MinorityWindow> = Vec::new();
    let mut step = 0;
    loop {
        let racing = history.racing();
        let done = step >= SCHEDULE.len() && racing >= budget.racing_ops;
        if done || Instant::now() >= give_up_at {
            break;
        }
        let fault = SCHEDULE[step % SCHEDULE.len()];
        step += 1;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        *report.faults.entry(format!("{fault:?}")).or_default() += 1;
        inject(&mut cluster, &net, fault, &mut windows).await;
        cluster.assert_alive();
        cluster
            .wait_converged(&[0, 1, 2], Duration::from_secs(60))
            .await;
    }
    stop.store(true, Ordering::Relaxed);
    for l in lanes {
        l.await.expect("lane task");
    }
    let mut ops = history.take();
    cluster
        .wait_converged(&[0, 1, 2], Duration::from_secs(60))
        .await;
    resolve(&mut ops, &per_node).await;
    let parked = parks.lock().expect("parks lock").clone();
    check(&ops, &parked, &windows, &per_node, &mut report).await;
    report
}

/// Injects one fault and undoes it, recording minority windows.
async fn inject(
    cluster: &mut TestCluster,
    net: &Netns,
    fault: Fault,
    windows: &mut Vec<MinorityWindow>,
) {
    let leader = cluster.leader(0).await;
    match fault {
        Fault::KillLeader => {
            cluster.nodes[leader].kill();
            tokio::time::sleep(Duration::from_secs(2)).await;
            cluster.nodes[leader].restart();
        }
        Fault::KillOwner => {
            let owner = cluster.owner_of(0, "lane0/ext/100").await;
            cluster.nodes[owner].kill();
            tokio::time::sleep(Duration::from_secs(3)).await;
            cluster.nodes[owner].restart();
        }
        Fault::PauseNode => {
            let victim = cluster.owner_of(0, "lane1/ext/100").await;
            cluster.nodes[victim].signal("STOP");
            tokio::time::sleep(Duration::from_secs(4)).await;
            cluster.nodes[victim].signal("CONT");
        }
        Fault::PartitionLeader | Fault::PartitionFollower => {
            let victim = if fault == Fault::PartitionLeader {
                leader
            } else {
                (leader + 1) % 3
            };
            net.isolate(victim);
            // The victim is a minority from the moment it is cut off; count
            // its decisions from a little later (requests already in flight
            // when the cut happened may legitimately complete).
            let from = Instant::now() + Duration::from_millis(1500);
            tokio::time::sleep(Duration::from_secs(5)).await;
            let to = Instant::now();
            net.heal(victim);
            windows.push(MinorityWindow {
                node: victim,
                from,
                to,
            });
        }
        Fault::FullRestart => {
            for node in cluster.nodes.iter_mut() {
                node.kill();
            }
            for node in cluster.nodes.iter_mut() {
                node.restart();
            }
        }
    }
}

/// When the park of `call` in `lane` was sent (for reports).
fn park_at(ops: &[Op], lane: usize, call: u64) -> Instant {
    ops.iter()
        .find(|o| o.lane == lane && matches!(o.kind, OpKind::Park { call: c } if c == call))
        .map_or_else(Instant::now, |o| o.invoked)
}

/// Checks the history; adds every violation to the report.
async fn check(
    ops: &[Op],
    parks: &[(usize, u64, u32)],
    windows: &[MinorityWindow],
    clients: &[Clients],
    report: &mut Report,
) {
    report.operations = ops.len();
    report.racing_operations = ops
        .iter()
        .filter(|o| matches!(o.kind, OpKind::Pickup | OpKind::Retrieve { .. }))
        .count();
    report.indeterminate = ops
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Indeterminate(_)))
        .count();
    report.not_decided = ops
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::NotDecided(_)))
        .count();
    // 0. Every indeterminate operation was resolved by its retry.
    for op in ops {
        match &op.resolved {
            Some(Outcome::Decided { result, .. }) => {
                let kind = match op.kind {
                    OpKind::Dial => "dial",
                    OpKind::Pickup => "pickup",
                    OpKind::Park { .. } => "park",
                    OpKind::Retrieve { .. } => "retrieve",
                    OpKind::Hangup { .. } => "hangup",
                };
                *report
                    .resolved
                    .entry(format!("{kind} {result}"))
                    .or_default() += 1;
            }
            Some(undecided) => report.violations.push(format!(
                "lane {} {}: still undecided when retried with its request id: {undecided:?}",
                op.lane, op.id
            )),
            None => {}
        }
    }
    // Parks acknowledged at once, and those a retry learned were made.
    let mut parks: Vec<(usize, u64, u32, bool)> =
        parks.iter().map(|(l, c, p)| (*l, *c, *p, false)).collect();
    for op in ops {
        if let (
            OpKind::Park { call },
            Some(Outcome::Decided {
                code: Some(code), ..
            }),
        ) = (&op.kind, &op.resolved)
        {
            parks.push((op.lane, *call, *code, true));
        }
    }
    report.parks = parks.len();

    // 1. At most one pickup winner per call.
    let mut pickup_wins: BTreeMap<(usize, u64), usize> = BTreeMap::new();
    let mut retrieve_wins: BTreeMap<(usize, u64), usize> = BTreeMap::new();
    for op in ops {
        if let Outcome::Decided {
            call: Some(call), ..
        } = op.settled()
        {
            match op.kind {
                OpKind::Pickup => *pickup_wins.entry((op.lane, *call)).or_default() += 1,
                OpKind::Retrieve { .. } => *retrieve_wins.entry((op.lane, *call)).or_default() += 1,
                _ => {}
            }
        }
    }
    report.calls = pickup_wins.len();
    for ((lane, call), wins) in &pickup_wins {
        if *wins > 1 {
            report
                .violations
                .push(format!("lane {lane} call {call}: {wins} pickup winners"));
        }
    }
    for ((lane, call), wins) in &retrieve_wins {
        if *wins > 1 {
            report
                .violations
                .push(format!("lane {lane} call {call}: {wins} retrieve winners"));
        }
    }
    // 2. Every acknowledged park was retrieved once, or still is retrievable
    //    (an indeterminate retrieve may have taken it: then the call says so).
    //    A park only its retry acknowledged was never raced for: the caller
    //    hung up (ending it), or it is still parked.
    for (lane, call, code, late) in &parks {
        let ended_by_caller = ops.iter().any(|o| {
            o.lane == *lane
                && matches!(o.kind, OpKind::Hangup { call: c } if c == *call)
                && matches!(o.settled(), Outcome::Decided { result, .. } if result == "Ended")
        });
        let lost = !late && ops.iter().any(|o| {
            o.lane == *lane
                && matches!(o.kind, OpKind::Retrieve { code: c } if c == *code)
                && matches!(o.settled(), Outcome::Decided { result, .. } if result == "UnknownCode")
        });
        if lost {
            report.violations.push(format!(
                "lane {lane} call {call}: acknowledged park {code} answered UNKNOWN_CODE"
            ));
        }
        if retrieve_wins.get(&(*lane, *call)).copied().unwrap_or(0) == 0 {
            let mut c = clients[0].clone();
            let tenant = format!("lane{lane}");
            let info = c
                .calls
                .get_call(api::GetCallRequest {
                    tenant: tenant.clone(),
                    call_id: *call,
                })
                .await;
            let mut seen = String::from("forgotten (ended over a minute ago)");
            let ok = match info {
                Ok(i) => {
                    let i = i.into_inner().call.expect("call");
                    seen = format!(
                        "{:?}, how {:?}, end reason {:?}",
                        i.state(),
                        i.how(),
                        i.end_reason()
                    );
                    let retrieved = i.how == api::AnswerHow::Retrieve as i32;
                    let still_parked = i.state == api::CallState::Parked as i32;
                    // Kept until its timeout, rung back, and not answered:
                    // the park was honoured (a run longer than the timeout).
                    let rang_back = i.end_reason == api::EndReason::RingBackUnanswered as i32;
                    if still_parked {
                        let r = c
                            .park
                            .retrieve(api::RetrieveRequest {
                                tenant,
                                by: "101".into(),
                                code: *code,
                            })
                            .await;
                        matches!(r, Ok(r) if r.get_ref().result == api::RetrieveResult::Retrieved as i32)
                    } else {
                        retrieved || rang_back || (*late && ended_by_caller)
                    }
                }
                // Ended calls are forgotten after a while.
                Err(_) => *late && ended_by_caller,
            };
            if !ok {
                let retrieves: Vec<String> = ops
                    .iter()
                    .filter(|o| {
                        o.lane == *lane
                            && matches!(o.kind, OpKind::Retrieve { code: c } if c == *code)
                    })
                    .filter(|o| o.invoked >= park_at(ops, *lane, *call))
                    .take(8)
                    .map(|o| format!("{}: {:?} / {:?}", o.id, o.outcome, o.resolved))
                    .collect();
                report.violations.push(format!(
                    "lane {lane} call {call}: acknowledged park {code} neither retrieved nor \
                     retrievable (now {seen}; retrieves after it: {retrieves:?})"
                ));
            }
        }
    }
    // 3. Nothing decided on a minority side.
    for op in ops {
        let on_minority = windows
            .iter()
            .any(|w| w.node == op.node && op.invoked >= w.from && op.completed <= w.to);
        if on_minority && let Outcome::Decided { result, .. } = &op.outcome {
            report.violations.push(format!(
                "node {} decided {:?} ({result}) while cut off from the majority",
                op.node + 1,
                op.kind
            ));
        }
    }
}
