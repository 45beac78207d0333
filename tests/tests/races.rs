//! Exactly one winner (DESIGN §3.1): 16 racers, each a tokio task on its
//! own gRPC connection, released together by a barrier, race for one call
//! per round. Every round must have exactly one winner, every loser must
//! hear ALREADY_ANSWERED, and the call's answerer must be the winner.

use std::sync::Arc;

use callgrid_tests::{Clients, TestNode, api, as_call, member, outside};
use tokio::sync::{Barrier, mpsc};

const T: &str = "acme";
const ROUNDS: usize = 30;
const CALLER: &str = "+15550001";

/// What one racer asks for, every round.
#[derive(Debug, Clone, Copy)]
enum Attempt {
    /// An alerted extension answers.
    Answer(&'static str),
    /// `picker` picks up what rings on `target`.
    Directed {
        picker: &'static str,
        target: &'static str,
    },
    /// `picker` dials `*98`.
    Group(&'static str),
    /// `by` retrieves `code`.
    Retrieve { by: &'static str, code: u32 },
}

impl Attempt {
    /// The extension that has the call if this attempt wins.
    fn who(self) -> &'static str {
        match self {
            Attempt::Answer(by) | Attempt::Group(by) => by,
            Attempt::Directed { picker, .. } => picker,
            Attempt::Retrieve { by, .. } => by,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Won,
    AlreadyAnswered,
    Other(String),
}

async fn attempt(c: &mut Clients, a: Attempt, call: u64) -> Outcome {
    let pickup = |p: api::PickupResponse| match p.result() {
        api::PickupResult::PickedUp if p.call_id == call => Outcome::Won,
        api::PickupResult::AlreadyAnswered => Outcome::AlreadyAnswered,
        _ => Outcome::Other(format!("{p:?}")),
    };
    match a {
        Attempt::Answer(by) => match c.answer(T, call, by).await {
            r if r.result() == api::AnswerResult::Answered => Outcome::Won,
            r if r.result() == api::AnswerResult::AlreadyAnswered => Outcome::AlreadyAnswered,
            r => Outcome::Other(format!("{r:?}")),
        },
        Attempt::Directed { picker, target } => pickup(c.directed_pickup(T, picker, target).await),
        Attempt::Group(picker) => pickup(c.group_pickup(T, picker).await),
        Attempt::Retrieve { by, code } => match c.retrieve(T, by, code).await {
            r if r.result() == api::RetrieveResult::Retrieved && r.call_id == call => Outcome::Won,
            r if r.result() == api::RetrieveResult::AlreadyAnswered => Outcome::AlreadyAnswered,
            r => Outcome::Other(format!("{r:?}")),
        },
    }
}

/// The racers: one task and one connection each, fed a call per round.
struct Racers {
    rounds: Vec<mpsc::Sender<u64>>,
    results: mpsc::Receiver<(Attempt, Outcome)>,
}

impl Racers {
    async fn spawn(node: &TestNode, attempts: &[Attempt]) -> Self {
        assert!(attempts.len() >= 16, "at least 16 racers");
        let barrier = Arc::new(Barrier::new(attempts.len()));
        let (results_tx, results) = mpsc::channel(attempts.len());
        let mut rounds = Vec::new();
        for &a in attempts {
            let mut c = Clients::new(node.channel().await);
            let (tx, mut calls) = mpsc::channel::<u64>(1);
            let (barrier, results_tx) = (barrier.clone(), results_tx.clone());
            tokio::spawn(async move {
                while let Some(call) = calls.recv().await {
                    barrier.wait().await;
                    let outcome = attempt(&mut c, a, call).await;
                    if results_tx.send((a, outcome)).await.is_err() {
                        return;
                    }
                }
            });
            rounds.push(tx);
        }
        Racers { rounds, results }
    }

    /// Releases every racer at `call` and checks the round's invariant.
    async fn race(&mut self, c: &mut Clients, round: usize, call: u64) {
        for tx in &self.rounds {
            tx.send(call).await.expect("racer alive");
        }
        let mut outcomes = Vec::new();
        for _ in 0..self.rounds.len() {
            outcomes.push(self.results.recv().await.expect("racer reports"));
        }
        let winners: Vec<&str> = outcomes
            .iter()
            .filter(|(_, o)| *o == Outcome::Won)
            .map(|(a, _)| a.who())
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one winner, got {outcomes:?}"
        );
        let odd: Vec<_> = outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Other(_)))
            .collect();
        assert!(
            odd.is_empty(),
            "round {round}: every loser hears ALREADY_ANSWERED, got {odd:?}"
        );
        let info = c.call_info(T, call).await;
        assert_eq!(info.state(), api::CallState::Answered, "round {round}");
        assert_eq!(
            info.answered_by, winners[0],
            "round {round}: the winner has the call"
        );
        c.hangup(T, call, outside(CALLER)).await;
    }
}

async fn ring_from_outside(c: &mut Clients, to: &str) -> u64 {
    let dial = c.try_dial(T, outside(CALLER), to).await.expect("dialled");
    let call = as_call(&dial);
    assert_eq!(call.result(), api::CallResult::Ringing);
    call.call_id
}

const PICKERS: [&str; 16] = [
    "201", "202", "203", "204", "205", "206", "207", "208", "209", "210", "211", "212", "213",
    "214", "215", "216",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_directed_pickups_of_one_call_have_exactly_one_winner() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &[&PICKERS[..], &["102"]].concat()).await;
    let attempts: Vec<Attempt> = PICKERS
        .iter()
        .map(|&picker| Attempt::Directed {
            picker,
            target: "102",
        })
        .collect();
    let mut racers = Racers::spawn(&node, &attempts).await;
    for round in 0..ROUNDS {
        let call = ring_from_outside(&mut c, "102").await;
        racers.race(&mut c, round, call).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_answers_directed_and_group_pickups_of_one_call_have_exactly_one_winner() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    let group = ["100", "101", "102", "103", "104", "105"];
    let (directed, grouped) = (&PICKERS[..5], &PICKERS[5..10]);
    c.tenant_with(T, directed).await;
    for n in group.iter().chain(grouped) {
        let record = api::Extension {
            legacy_pickup_groups: vec!["desk".into()],
            ..callgrid_tests::extension(n)
        };
        c.put_extension(T, record).await;
    }
    let members = group[1..]
        .iter()
        .map(|m| member(m, api::AlertMode::Ring))
        .collect();
    c.put_call_group(
        T,
        api::CallGroup {
            owner: "100".into(),
            members,
            ..Default::default()
        },
    )
    .await;
    let mut attempts: Vec<Attempt> = group.iter().map(|&m| Attempt::Answer(m)).collect();
    attempts.extend(
        directed
            .iter()
            .zip(group)
            .map(|(&picker, target)| Attempt::Directed { picker, target }),
    );
    attempts.extend(grouped.iter().map(|&picker| Attempt::Group(picker)));
    let mut racers = Racers::spawn(&node, &attempts).await;
    for round in 0..ROUNDS {
        let call = ring_from_outside(&mut c, "100").await;
        racers.race(&mut c, round, call).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retrieves_of_one_parked_code_have_exactly_one_winner() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    let holders = [&PICKERS[..], &["101"]].concat();
    c.tenant_with(T, &holders).await;
    c.lobby(T, &holders).await;
    let attempts: Vec<Attempt> = PICKERS
        .iter()
        .map(|&by| Attempt::Retrieve { by, code: 10 })
        .collect();
    let mut racers = Racers::spawn(&node, &attempts).await;
    for round in 0..ROUNDS {
        let call = ring_from_outside(&mut c, "101").await;
        assert_eq!(
            c.answer(T, call, "101").await.result(),
            api::AnswerResult::Answered
        );
        let park = c.park_call(T, call, "101", None).await;
        assert_eq!(
            (park.result(), park.code),
            (api::ParkResult::Parked, 10),
            "round {round}"
        );
        racers.race(&mut c, round, call).await;
    }
}
