//! The owner actors with a fake proposer: queueing of racing claims,
//! deadlines, supervision and hand-over when a shard moves.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callgrid_model::{
    AlertMode, AnswerOutcome, CallGroup, CallGroupMember, CallGroupRouting, CallId, CallOutcome,
    Command, DialOutcome, Extension, ExtensionRecord, OwnerKey, Party, PickupKind, PickupOutcome,
    Response, ShardMap, Switchboard, TenantConfig, TenantId,
};
use tokio::sync::Semaphore;

use crate::{Deadline, DecideError, Owners, Propose, owner_of};

const ME: u64 = 1;

/// Applies commands to an in-memory switchboard, counting commits; holds
/// each commit until the test releases it when `held`.
#[derive(Clone)]
struct Fake {
    sb: Arc<Mutex<Switchboard>>,
    commits: Arc<AtomicUsize>,
    proposed: Arc<AtomicUsize>,
    held: Arc<AtomicBool>,
    release: Arc<Semaphore>,
    /// The next held commit fails instead of applying.
    fail_next: Arc<AtomicBool>,
    /// When set to n, the n-th read from then panics (to fail an actor).
    poison: Arc<AtomicUsize>,
}

impl Propose for Fake {
    async fn propose(&self, cmd: Command, _deadline: Deadline) -> Result<Response, DecideError> {
        self.proposed.fetch_add(1, Ordering::SeqCst);
        if self.held.load(Ordering::SeqCst) {
            self.release.acquire().await.expect("open").forget();
            if self.fail_next.swap(false, Ordering::SeqCst) {
                return Err(DecideError::NoLeader { leader: None });
            }
        }
        self.commits.fetch_add(1, Ordering::SeqCst);
        Ok(self.sb.lock().unwrap().apply(&cmd).response)
    }

    fn read<R>(&self, f: impl FnOnce(&Switchboard) -> R) -> R {
        let armed = self
            .poison
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if armed == Ok(1) {
            panic!("a read the test made fail");
        }
        f(&self.sb.lock().unwrap())
    }

    fn node_id(&self) -> u64 {
        ME
    }
}

fn t() -> TenantId {
    TenantId::parse("tenant", "acme").unwrap()
}
fn e(n: &str) -> Extension {
    Extension::parse("ext", n).unwrap()
}

impl Default for Fake {
    fn default() -> Self {
        Self {
            sb: Arc::default(),
            commits: Arc::default(),
            proposed: Arc::default(),
            held: Arc::default(),
            release: Arc::new(Semaphore::new(0)),
            fail_next: Arc::default(),
            poison: Arc::default(),
        }
    }
}

impl Fake {
    /// Tenant `acme` with extensions 101..=106 and call group 600 (102, 103).
    fn new() -> Self {
        let fake = Fake::default();
        fake.apply(Command::PutTenant {
            tenant: t(),
            config: TenantConfig::default(),
        });
        for n in ["101", "102", "103", "104", "105", "106", "600"] {
            let mut record = ExtensionRecord::new(e(n));
            record.directed_pickup_allowed = true;
            fake.apply(Command::PutExtension {
                tenant: t(),
                record,
                keep_sip_secret: false,
            });
        }
        let member = |n: &str| CallGroupMember {
            extension: e(n),
            alert: AlertMode::Ring,
            delay_secs: 0,
        };
        fake.apply(Command::PutCallGroup {
            tenant: t(),
            group: CallGroup {
                owner: e("600"),
                members: vec![member("102"), member("103")],
                routing: CallGroupRouting::Simultaneous,
            },
        });
        fake
    }

    fn apply(&self, cmd: Command) -> Response {
        self.sb.lock().unwrap().apply(&cmd).response
    }

    fn call(&self, from: &str, to: &str) -> CallId {
        match self.apply(dial(from, to)) {
            Response::Dial(DialOutcome::Call(CallOutcome::Ringing { call })) => call,
            other => panic!("the call did not ring: {other:?}"),
        }
    }

    fn ringing(&self, call: CallId) -> bool {
        self.read(|sb| sb.call(call).is_some_and(|c| c.is_ringing()))
    }
}

fn now() -> u64 {
    crate::now_ms()
}

fn dial(from: &str, digits: &str) -> Command {
    Command::Dial {
        tenant: t(),
        from: Party::Extension(e(from)),
        digits: digits.into(),
        now_ms: now(),
        random: 0,
    }
}

fn answer(call: CallId, by: &str) -> Command {
    Command::Answer {
        tenant: t(),
        call,
        by: e(by),
        now_ms: now(),
    }
}

fn directed(picker: &str, target: &str) -> Command {
    Command::Pickup {
        tenant: t(),
        picker: e(picker),
        kind: PickupKind::Directed(Some(e(target))),
        now_ms: now(),
        random: 0,
    }
}

fn soon() -> Deadline {
    Deadline::after(Duration::from_secs(5))
}

/// Waits (bounded) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Deadline::after(Duration::from_secs(5));
    while !done() {
        assert!(!deadline.passed(), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn won(r: &Response) -> bool {
    matches!(
        r,
        Response::Answer(AnswerOutcome::Answered { .. })
            | Response::Pickup(PickupOutcome::PickedUp { .. })
            | Response::Dial(DialOutcome::Pickup(PickupOutcome::PickedUp { .. }))
    )
}

/// A call from 101 ringing 102 (no shard map applied), 102's owner key,
/// and the owners (no actor started yet).
async fn ringing() -> (Fake, CallId, OwnerKey, Owners<Fake>) {
    ringing_on(Fake::new()).await
}

/// [`ringing`], with every shard on this node.
async fn ringing_here() -> (Fake, CallId, OwnerKey, Owners<Fake>) {
    let fake = Fake::new();
    fake.apply(Command::SetShardMap {
        map: ShardMap::default().all_on(ME).unwrap(),
    });
    ringing_on(fake).await
}

async fn ringing_on(fake: Fake) -> (Fake, CallId, OwnerKey, Owners<Fake>) {
    let call = fake.call("101", "102");
    let key = OwnerKey::Extension(t(), e("102"));
    let owners = Owners::start(fake.clone()).await.unwrap();
    (fake, call, key, owners)
}

/// Waits (bounded) until `value` answers `want` or more.
async fn until_at_least<F, Fut>(what: &str, want: u64, mut value: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let deadline = Deadline::after(Duration::from_secs(5));
    while value().await < want {
        assert!(!deadline.passed(), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The racers' outcomes, in order, once each is decided; exactly one won.
async fn one_winner(
    tasks: Vec<tokio::task::JoinHandle<Result<Response, DecideError>>>,
) -> Vec<Response> {
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().expect("decided"));
    }
    assert_eq!(
        outcomes.iter().filter(|r| won(r)).count(),
        1,
        "{outcomes:?}"
    );
    outcomes
}

#[tokio::test]
async fn every_racer_for_a_call_group_call_meets_in_its_owner_and_one_commit_decides() {
    let fake = Fake::new();
    let call = fake.call("101", "600");
    // An answer on a member's phone, directed pickups of either member, a
    // dialled directed pickup: before, these went to three owners.
    let racers = vec![
        answer(call, "102"),
        directed("104", "103"),
        directed("105", "102"),
        dial("106", "*97103"),
    ];
    let keys: Vec<OwnerKey> = racers
        .iter()
        .map(|cmd| fake.read(|sb| owner_of(cmd, sb)).expect("an owner"))
        .collect();
    assert!(
        keys.iter()
            .all(|k| *k == OwnerKey::CallGroup(t(), e("600"))),
        "all racers go to the call's home: {keys:?}"
    );
    let owners = Owners::start(fake.clone()).await.unwrap();
    fake.held.store(true, Ordering::SeqCst);
    let tasks: Vec<_> = racers
        .into_iter()
        .zip(keys)
        .map(|(cmd, key)| {
            let owners = owners.clone();
            tokio::spawn(async move { owners.decide(&key, cmd, soon()).await })
        })
        .collect();
    // The first racer holds the gate; the others queue behind it.
    until("the first claim to be proposed", || {
        fake.proposed.load(Ordering::SeqCst) == 1
    })
    .await;
    fake.release.add_permits(1);
    let outcomes = one_winner(tasks).await;
    assert_eq!(
        fake.commits.load(Ordering::SeqCst),
        1,
        "the losers are answered from the applied state: {outcomes:?}"
    );
    assert!(!fake.ringing(call));
}

#[tokio::test]
async fn racers_with_request_ids_are_proposed_at_once_not_held_behind_the_winner() {
    let fake = Fake::new();
    let call = fake.call("101", "102");
    let once = |n: usize, cmd: Command| {
        let request = callgrid_model::RequestId::parse("request_id", &format!("racer-{n}"))
            .expect("a valid id");
        Command::once(request, n as u64, cmd)
    };
    let racers: Vec<Command> = ["103", "104", "105", "106"]
        .iter()
        .enumerate()
        .map(|(n, picker)| once(n, directed(picker, "102")))
        .collect();
    let key = fake.read(|sb| owner_of(&racers[0], sb)).expect("an owner");
    let owners = Owners::start(fake.clone()).await.unwrap();
    fake.held.store(true, Ordering::SeqCst);
    let mut tasks = Vec::new();
    for cmd in racers.iter().cloned() {
        let (owners, key) = (owners.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            owners.decide(&key, cmd, soon()).await
        }));
        // In order, so the first holds the gate.
        if tasks.len() == 1 {
            until("the first claim to be proposed", || {
                fake.proposed.load(Ordering::SeqCst) == 1
            })
            .await;
        }
    }
    // With the first claim's commit still held, every other racer is
    // proposed too: none waits behind the gate for the winner's commit.
    until("every racer to be proposed", || {
        fake.proposed.load(Ordering::SeqCst) == racers.len()
    })
    .await;
    assert_eq!(owners.queued(&key).await.unwrap_or(0), 0);
    fake.release.add_permits(racers.len());
    let outcomes = one_winner(tasks).await;
    assert!(
        won(&outcomes[0]),
        "the first claim proposed won: {outcomes:?}"
    );
    assert_eq!(
        fake.commits.load(Ordering::SeqCst),
        racers.len(),
        "each outcome is committed, for its retries: {outcomes:?}"
    );
    // Each loss is remembered: a retry is answered from memory, no commit.
    for (n, cmd) in racers.iter().enumerate().skip(1) {
        let again = owners
            .decide(&key, cmd.clone(), soon())
            .await
            .expect("decided");
        assert_eq!(
            again, outcomes[n],
            "racer {n}'s retry hears its first answer"
        );
    }
    assert_eq!(fake.commits.load(Ordering::SeqCst), racers.len());
    assert!(!fake.ringing(call));
}

#[tokio::test]
async fn a_claim_still_waiting_when_its_deadline_passes_is_never_proposed() {
    let (fake, call, key, owners) = ringing().await;
    fake.held.store(true, Ordering::SeqCst);
    fake.fail_next.store(true, Ordering::SeqCst);
    let first = {
        let owners = owners.clone();
        let key = key.clone();
        tokio::spawn(async move { owners.decide(&key, answer(call, "102"), soon()).await })
    };
    until("the first claim to be proposed", || {
        fake.proposed.load(Ordering::SeqCst) == 1
    })
    .await;
    // Queued behind the first, with little time.
    let late = owners
        .decide(
            &key,
            directed("104", "102"),
            Deadline::after(Duration::from_millis(30)),
        )
        .await;
    assert_eq!(late, Err(DecideError::DeadlineInFlight));
    // The first fails without a decision: the gate reopens with the call
    // still ringing, and the late claim, which would have won, is dropped.
    fake.release.add_permits(1);
    assert_eq!(
        first.await.unwrap(),
        Err(DecideError::NoLeader { leader: None })
    );
    // The next claim is proposed once the gate reopens; the late one,
    // queued before it, is dropped on the way.
    let next = {
        let owners = owners.clone();
        tokio::spawn(async move { owners.decide(&key, directed("105", "102"), soon()).await })
    };
    until("the next claim to be proposed", || {
        fake.proposed.load(Ordering::SeqCst) == 2
    })
    .await;
    fake.release.add_permits(1);
    let next = next.await.unwrap().expect("decided");
    assert!(won(&next), "{next:?}");
    assert_eq!(
        fake.proposed.load(Ordering::SeqCst),
        2,
        "the first claim and the next, never the late one"
    );
}

#[tokio::test]
async fn actors_of_shards_that_move_away_stop_and_arm_no_timers_here() {
    let (fake, call, key, owners) = ringing_here().await;
    owners.resume_timers(None).await;
    assert!(
        owners.runs(&key),
        "the ringing call's owner arms its timer here"
    );

    let moved = fake.read(|sb| sb.shard_map().all_on(2)).unwrap();
    fake.apply(Command::SetShardMap { map: moved });
    assert_eq!(owners.release_moved(), 1);
    until("the moved owner to stop", || !owners.runs(&key)).await;
    owners.resume_timers(None).await;
    assert!(
        !owners.runs(&key),
        "the new owner keeps the timer, not this node"
    );
    assert!(fake.ringing(call));
}

#[tokio::test]
async fn a_failed_actor_is_replaced_and_its_timers_armed_again() {
    let (fake, _call, key, owners) = ringing().await;
    owners.resume_timers(None).await;
    let first = owners.live(&key).expect("started").get_id();
    // The actor's read panics (the requester's own read comes first): the
    // actor fails while taking up a request.
    fake.poison.store(2, Ordering::SeqCst);
    let lost = owners.decide(&key, directed("104", "102"), soon()).await;
    assert!(
        matches!(&lost, Err(e) if !e.is_certain()),
        "a request in hand of a failed actor has an unknown outcome: {lost:?}"
    );
    until("a new actor with the timers", || {
        owners.live(&key).is_some_and(|a| a.get_id() != first)
    })
    .await;
    let won = owners
        .decide(&key, directed("104", "102"), soon())
        .await
        .expect("decided");
    assert!(
        matches!(won, Response::Pickup(PickupOutcome::PickedUp { .. })),
        "{won:?}"
    );
    owners.stop_all();
    until("every actor to stop", || owners.is_empty()).await;
}

#[tokio::test]
async fn an_idle_actor_stops_and_the_next_claim_starts_another() {
    let (fake, _call, key, owners) = ringing().await;
    let picked = owners
        .decide(&key, directed("104", "102"), soon())
        .await
        .expect("decided");
    assert!(won(&picked), "{picked:?}");
    assert!(owners.runs(&key), "a claim starts its owner's actor");
    until("the idle actor to stop", || !owners.runs(&key)).await;
    assert!(owners.is_empty(), "a stopped actor is forgotten");
    fake.call("105", "102");
    let picked = owners
        .decide(&key, directed("106", "102"), soon())
        .await
        .expect("decided by a new actor");
    assert!(won(&picked), "{picked:?}");
    assert!(owners.runs(&key), "the next claim starts another actor");
}

#[tokio::test]
async fn an_actor_with_a_timer_armed_does_not_stop_when_idle() {
    let (_fake, call, key, owners) = ringing_here().await;
    owners.arm(&key, call, now() + 3_600_000).await;
    until_at_least("four idle checks", 4, || async {
        owners.idle_checks(&key).await.unwrap_or(0)
    })
    .await;
    assert!(owners.runs(&key), "the actor keeps the call's timer");
}
