//! Behaviour of the switchboard, one DESIGN.md rule per test, plus a
//! property test that random command sequences never break the invariants.

use proptest::prelude::*;

use crate::*;

const T0: u64 = 1_000_000;

fn t(s: &str) -> TenantId {
    TenantId::parse("tenant", s).unwrap()
}
fn e(s: &str) -> Extension {
    Extension::parse("ext", s).unwrap()
}
fn names(s: &str) -> NameList {
    NameList::parse("names", s).unwrap()
}

/// A switchboard with tenant `acme` and extensions 101..=105.
struct Fixture {
    sb: Switchboard,
    events: Vec<Event>,
}

impl Fixture {
    fn new() -> Self {
        let mut f = Self {
            sb: Switchboard::default(),
            events: Vec::new(),
        };
        f.ok(Command::PutTenant {
            tenant: t("acme"),
            config: TenantConfig::default(),
        });
        for n in 101..=105 {
            f.put(ExtensionRecord::new(e(&n.to_string())));
        }
        f
    }

    fn run(&mut self, cmd: Command) -> Response {
        let applied = self.sb.apply(&cmd);
        self.events.extend(applied.events);
        applied.response
    }

    fn ok(&mut self, cmd: Command) {
        assert_eq!(self.run(cmd), Response::Directory(Ok(())));
    }

    fn put(&mut self, record: ExtensionRecord) {
        self.ok(Command::PutExtension {
            tenant: t("acme"),
            record,
            keep_sip_secret: false,
        });
    }

    fn edit(&mut self, n: &str, f: impl FnOnce(&mut ExtensionRecord)) {
        let mut r = self
            .sb
            .tenant(&t("acme"))
            .unwrap()
            .extension(&e(n))
            .unwrap()
            .clone();
        f(&mut r);
        self.put(r);
    }

    fn dial(&mut self, from: &str, digits: &str, now: u64) -> DialOutcome {
        match self.run(Command::Dial {
            tenant: t("acme"),
            from: Party::Extension(e(from)),
            digits: digits.into(),
            now_ms: now,
            random: 0,
        }) {
            Response::Dial(d) => d,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn call(&mut self, from: &str, to: &str, now: u64) -> CallId {
        match self.dial(from, to, now) {
            DialOutcome::Call(CallOutcome::Ringing { call }) => call,
            other => panic!("call did not ring: {other:?}"),
        }
    }

    fn pickup(&mut self, picker: &str, kind: PickupKind, now: u64) -> PickupOutcome {
        match self.run(Command::Pickup {
            tenant: t("acme"),
            picker: e(picker),
            kind,
            now_ms: now,
            random: 7,
        }) {
            Response::Pickup(p) => p,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn answer(&mut self, call: CallId, by: &str, now: u64) -> AnswerOutcome {
        match self.run(Command::Answer {
            tenant: t("acme"),
            call,
            by: e(by),
            now_ms: now,
        }) {
            Response::Answer(a) => a,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn park(&mut self, call: CallId, by: &str, code: Option<u32>, now: u64) -> ParkOutcome {
        match self.run(Command::Park {
            tenant: t("acme"),
            call,
            by: e(by),
            code: code.map(|c| ParkCode::new("code", c).unwrap()),
            now_ms: now,
        }) {
            Response::Park(p) => p,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn retrieve(&mut self, by: &str, code: u32, now: u64) -> RetrieveOutcome {
        match self.run(Command::Retrieve {
            tenant: t("acme"),
            by: e(by),
            code: ParkCode::new("code", code).unwrap(),
            now_ms: now,
        }) {
            Response::Retrieve(r) => r,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn tick(&mut self, call: CallId, now: u64) {
        self.run(Command::Tick { call, now_ms: now });
    }

    fn state(&self, call: CallId) -> CallState {
        self.sb.call(call).unwrap().state.clone()
    }

    fn notices_for(&self, n: &str) -> Vec<Notice> {
        self.events
            .iter()
            .filter_map(|ev| match ev {
                Event::Notice {
                    extension, notice, ..
                } if extension == &e(n) => Some(notice.clone()),
                _ => None,
            })
            .collect()
    }

    fn lamp(&self, n: &str) -> LampState {
        self.sb.tenant(&t("acme")).unwrap().lamp(&e(n))
    }

    fn grant_lobby(&mut self, who: &[&str]) {
        self.ok(Command::PutParkPolicy {
            tenant: t("acme"),
            policy: ParkPolicy::new(PolicyName::parse("p", "lobby").unwrap()),
        });
        for w in who {
            self.ok(Command::GrantParkPolicy {
                tenant: t("acme"),
                number: e(w),
                policy: Some(PolicyName::parse("p", "lobby").unwrap()),
            });
        }
    }
}

fn directed(n: &str) -> PickupKind {
    PickupKind::Directed(Some(e(n)))
}

#[test]
fn directed_pickup_answers_the_call_ringing_on_the_target() {
    let mut f = Fixture::new();
    let call = f.call("103", "102", T0);
    assert_eq!(f.lamp("102"), LampState::Ringing);
    let out = f.pickup("101", directed("102"), T0 + 10);
    assert_eq!(
        out,
        PickupOutcome::PickedUp {
            call,
            from: e("102"),
            how: AnswerHow::DirectedPickup
        }
    );
    assert!(
        matches!(f.state(call), CallState::Answered { by, how: AnswerHow::DirectedPickup, .. } if by == e("101"))
    );
    assert_eq!(
        f.lamp("102"),
        LampState::Idle,
        "the ringing extension is free again"
    );
    assert_eq!(f.lamp("101"), LampState::Busy);
}

#[test]
fn directed_pickup_failures_each_have_their_reason() {
    let mut f = Fixture::new();
    assert_eq!(
        f.pickup("101", directed("999"), T0),
        PickupOutcome::InvalidExtension
    );
    assert_eq!(
        f.pickup("101", PickupKind::Directed(None), T0),
        PickupOutcome::InvalidExtension
    );
    assert_eq!(
        f.pickup("101", directed("102"), T0),
        PickupOutcome::NoAlertingCall
    );
    let call = f.call("103", "102", T0);
    f.edit("104", |r| r.directed_pickup_allowed = false);
    assert_eq!(
        f.pickup("104", directed("102"), T0 + 1),
        PickupOutcome::NotPermitted
    );
    assert!(matches!(
        f.pickup("101", directed("102"), T0 + 2),
        PickupOutcome::PickedUp { .. }
    ));
    assert_eq!(
        f.pickup("105", directed("102"), T0 + 3),
        PickupOutcome::AlreadyAnswered
    );
    assert_eq!(
        f.answer(call, "102", T0 + 4),
        AnswerOutcome::AlreadyAnswered
    );
    assert_eq!(
        f.pickup("105", directed("102"), T0 + 3 + RACE_WINDOW_MS_FOR_TESTS),
        PickupOutcome::NoAlertingCall,
        "long after the answer it is simply nothing ringing"
    );
}

const RACE_WINDOW_MS_FOR_TESTS: u64 = super::RACE_WINDOW_MS + 10;

#[test]
fn pickup_never_takes_the_pickers_own_outgoing_call() {
    let mut f = Fixture::new();
    f.call("101", "102", T0);
    assert_eq!(
        f.pickup("101", directed("102"), T0 + 1),
        PickupOutcome::NoAlertingCall
    );
}

#[test]
fn picked_up_call_stops_every_alert_and_tells_the_callee_who_answered() {
    let mut f = Fixture::new();
    f.ok(Command::PutCallGroup {
        tenant: t("acme"),
        group: CallGroup {
            owner: e("102"),
            members: vec![
                CallGroupMember {
                    extension: e("103"),
                    alert: AlertMode::Visual,
                    delay_secs: 0,
                },
                CallGroupMember {
                    extension: e("104"),
                    alert: AlertMode::Banner,
                    delay_secs: 0,
                },
            ],
            routing: CallGroupRouting::Simultaneous,
        },
    });
    let call = f.call("105", "102", T0);
    for n in ["102", "103", "104"] {
        assert_eq!(f.lamp(n), LampState::Ringing, "{n} rings");
    }
    assert!(f.notices_for("103").iter().any(|n| matches!(
        n,
        Notice::Alert {
            mode: AlertMode::Visual,
            reason: AlertReason::CallGroupMember,
            ..
        }
    )));
    assert!(matches!(
        f.pickup("101", directed("103"), T0 + 5),
        PickupOutcome::PickedUp { .. }
    ));
    for n in ["102", "103", "104"] {
        assert_eq!(f.lamp(n), LampState::Idle, "{n} stopped");
        assert!(f.notices_for(n).contains(&Notice::AlertStopped {
            call,
            answered_by: Some(e("101"))
        }));
    }
    assert!(f.notices_for("102").contains(&Notice::MissedCall {
        call,
        caller: Party::Extension(e("105")),
        answered_by: Some(e("101")),
        how: Some(AnswerHow::DirectedPickup),
    }));
}

#[test]
fn group_pickup_takes_the_call_ringing_longest_across_all_the_pickers_groups() {
    let mut f = Fixture::new();
    let g = |s: &str| LegacyGroupId::parse("g", s).unwrap();
    f.edit("101", |r| r.legacy_pickup_groups = vec![g("1"), g("2")]);
    f.edit("102", |r| r.legacy_pickup_groups = vec![g("2")]);
    f.edit("103", |r| r.legacy_pickup_groups = vec![g("1")]);
    let older_in_2 = f.call("105", "102", T0);
    let newer_in_1 = f.call("104", "103", T0 + 100);
    // Group 1 comes first in the picker's list; the group-2 call has rung longer.
    assert!(
        matches!(f.pickup("101", PickupKind::Group, T0 + 200), PickupOutcome::PickedUp { call, how: AnswerHow::GroupPickup, .. } if call == older_in_2)
    );
    assert!(
        matches!(f.pickup("101", PickupKind::Group, T0 + 300), PickupOutcome::PickedUp { call, .. } if call == newer_in_1)
    );
    assert_eq!(
        f.pickup("101", PickupKind::Group, T0 + 400),
        PickupOutcome::AlreadyAnswered,
    );
}

#[test]
fn random_selection_chooses_across_all_the_pickers_groups() {
    let mut f = Fixture::new();
    let config = TenantConfig {
        pickup_selection: PickupSelection::Random,
        ..TenantConfig::default()
    };
    f.ok(Command::PutTenant {
        tenant: t("acme"),
        config,
    });
    let g = |s: &str| LegacyGroupId::parse("g", s).unwrap();
    f.edit("101", |r| r.legacy_pickup_groups = vec![g("1"), g("2")]);
    f.edit("102", |r| r.legacy_pickup_groups = vec![g("1")]);
    f.edit("103", |r| r.legacy_pickup_groups = vec![g("2")]);
    let _in_1 = f.call("104", "102", T0);
    let in_2 = f.call("105", "103", T0 + 1);
    // random = 7 in the fixture: 7 % 2 = 1, the second-oldest of the union,
    // which is in group 2 although group 1 has a ringing call.
    assert!(
        matches!(f.pickup("101", PickupKind::Group, T0 + 2), PickupOutcome::PickedUp { call, .. } if call == in_2)
    );
}

#[test]
fn group_pickup_prefers_the_call_ringing_longest() {
    let mut f = Fixture::new();
    let g = LegacyGroupId::parse("g", "desk").unwrap();
    for n in ["101", "102", "103"] {
        f.edit(n, |r| r.legacy_pickup_groups = vec![g.clone()]);
    }
    let _newer = f.call("104", "103", T0 + 50);
    let older = f.call("105", "102", T0);
    assert!(
        matches!(f.pickup("101", PickupKind::Group, T0 + 60), PickupOutcome::PickedUp { call, .. } if call == older)
    );
}

#[test]
fn named_and_legacy_users_cannot_group_pick_up_each_other() {
    let mut f = Fixture::new();
    let g = LegacyGroupId::parse("g", "desk").unwrap();
    f.edit("101", |r| r.legacy_pickup_groups = vec![g.clone()]);
    f.edit("102", |r| {
        r.legacy_pickup_groups = vec![g.clone()];
        r.call_groups = names("sales");
    });
    f.edit("103", |r| r.pickup_groups = names("sales"));
    f.edit("104", |r| r.legacy_pickup_groups = vec![g.clone()]);
    f.call("105", "104", T0);
    assert_eq!(
        f.pickup("103", PickupKind::Group, T0 + 1),
        PickupOutcome::NoAlertingCall,
        "named picker ignores legacy callee"
    );
    let named = f.call("105", "102", T0 + 2);
    assert!(
        matches!(f.pickup("101", PickupKind::Group, T0 + 3), PickupOutcome::PickedUp { call, .. } if call != named),
        "legacy picker takes the legacy call"
    );
    assert_eq!(
        f.pickup("101", PickupKind::Group, T0 + 4),
        PickupOutcome::NotPermitted,
        "the named call is not the legacy picker's"
    );
    assert!(
        matches!(f.pickup("103", PickupKind::Group, T0 + 5), PickupOutcome::PickedUp { call, .. } if call == named)
    );
}

#[test]
fn named_pickup_needs_the_name_in_the_pickers_pickup_groups() {
    let mut f = Fixture::new();
    f.edit("102", |r| r.call_groups = names("sales,support"));
    f.edit("101", |r| r.pickup_groups = names("support"));
    let call = f.call("105", "102", T0);
    let sales = PickupKind::Named(GroupName::parse("n", "sales").unwrap());
    let support = PickupKind::Named(GroupName::parse("n", "support").unwrap());
    assert_eq!(f.pickup("101", sales, T0 + 1), PickupOutcome::NotPermitted);
    assert!(
        matches!(f.pickup("101", support.clone(), T0 + 2), PickupOutcome::PickedUp { call: c, how: AnswerHow::NamedPickup, .. } if c == call)
    );
    assert_eq!(
        f.pickup("101", support, T0 + 3),
        PickupOutcome::AlreadyAnswered
    );
}

#[test]
fn feature_codes_dial_features_and_other_digits_call() {
    let mut f = Fixture::new();
    let call = f.call("103", "102", T0);
    assert!(
        matches!(f.dial("101", "*97102", T0 + 1), DialOutcome::Pickup(PickupOutcome::PickedUp { call: c, .. }) if c == call)
    );
    assert_eq!(
        f.dial("101", "*98", T0 + 2),
        DialOutcome::Pickup(PickupOutcome::NotPermitted)
    );
    assert_eq!(
        f.dial("101", "*7150", T0 + 3),
        DialOutcome::Retrieve(RetrieveOutcome::NoParkPolicy)
    );
    assert_eq!(
        f.dial("101", "999", T0 + 4),
        DialOutcome::Call(CallOutcome::NoSuchExtension)
    );
}

#[test]
fn park_returns_the_lowest_free_code_and_retrieve_answers_it() {
    let mut f = Fixture::new();
    f.grant_lobby(&["101", "102", "103"]);
    let a = f.call("104", "101", T0);
    f.answer(a, "101", T0 + 1);
    assert_eq!(
        f.park(a, "101", None, T0 + 2),
        ParkOutcome::Parked {
            code: ParkCode::new("c", 10).unwrap()
        }
    );
    let b = f.call("105", "102", T0 + 3);
    f.answer(b, "102", T0 + 4);
    assert_eq!(f.park(b, "102", Some(10), T0 + 5), ParkOutcome::CodeInUse);
    assert_eq!(
        f.park(b, "102", Some(100), T0 + 5),
        ParkOutcome::CodeOutOfRange
    );
    assert_eq!(
        f.park(b, "102", None, T0 + 5),
        ParkOutcome::Parked {
            code: ParkCode::new("c", 11).unwrap()
        }
    );
    assert_eq!(
        f.retrieve("103", 10, T0 + 6),
        RetrieveOutcome::Retrieved { call: a }
    );
    assert!(
        matches!(f.state(a), CallState::Answered { by, how: AnswerHow::Retrieve, .. } if by == e("103"))
    );
    assert_eq!(
        f.retrieve("102", 10, T0 + 7),
        RetrieveOutcome::AlreadyAnswered
    );
    // 10 is free again and is the lowest.
    let c = f.call("104", "101", T0 + 8);
    f.answer(c, "101", T0 + 9);
    assert_eq!(
        f.park(c, "101", None, T0 + 10),
        ParkOutcome::Parked {
            code: ParkCode::new("c", 10).unwrap()
        }
    );
}

#[test]
fn retrieve_failures_each_have_their_reason() {
    let mut f = Fixture::new();
    f.grant_lobby(&["101", "102"]);
    f.ok(Command::PutParkPolicy {
        tenant: t("acme"),
        policy: ParkPolicy::new(PolicyName::parse("p", "dock").unwrap()),
    });
    f.ok(Command::GrantParkPolicy {
        tenant: t("acme"),
        number: e("103"),
        policy: Some(PolicyName::parse("p", "dock").unwrap()),
    });
    assert_eq!(f.retrieve("102", 10, T0), RetrieveOutcome::UnknownCode);
    assert_eq!(f.retrieve("104", 10, T0), RetrieveOutcome::NoParkPolicy);
    let a = f.call("105", "101", T0);
    f.answer(a, "101", T0 + 1);
    f.park(a, "101", None, T0 + 2);
    assert_eq!(
        f.retrieve("103", 10, T0 + 3),
        RetrieveOutcome::OtherParkGroup
    );
    f.run(Command::Hangup {
        tenant: t("acme"),
        call: a,
        by: Party::Extension(e("105")),
        now_ms: T0 + 4,
    });
    assert_eq!(f.retrieve("102", 10, T0 + 5), RetrieveOutcome::CallEnded);
}

#[test]
fn a_tenant_created_again_after_deletion_starts_empty() {
    let mut f = Fixture::new();
    f.grant_lobby(&["101", "102"]);
    let ended = f.call("105", "101", T0);
    f.answer(ended, "101", T0 + 1);
    f.park(ended, "101", None, T0 + 2);
    assert_eq!(
        f.retrieve("102", 10, T0 + 3),
        RetrieveOutcome::Retrieved { call: ended }
    );
    f.run(Command::Hangup {
        tenant: t("acme"),
        call: ended,
        by: Party::Extension(e("105")),
        now_ms: T0 + 4,
    });
    let other = f.call("103", "104", T0 + 5);
    f.run(Command::Hangup {
        tenant: t("acme"),
        call: other,
        by: Party::Extension(e("103")),
        now_ms: T0 + 6,
    });
    assert_eq!(
        f.sb.calls_of(&t("acme")).count(),
        2,
        "ended calls are kept a while"
    );

    f.ok(Command::DeleteTenant { tenant: t("acme") });
    f.ok(Command::PutTenant {
        tenant: t("acme"),
        config: TenantConfig::default(),
    });
    f.grant_lobby(&[]);
    for n in ["101", "102"] {
        let mut record = ExtensionRecord::new(e(n));
        record.park_policy = Some(PolicyName::parse("p", "lobby").unwrap());
        f.put(record);
    }

    assert_eq!(f.sb.calls_of(&t("acme")).count(), 0);
    assert!(f.sb.call(ended).is_none() && f.sb.call(other).is_none());
    assert!(f.sb.ended.is_empty(), "no pruning entry outlives its call");
    let fresh = f.sb.tenant(&t("acme")).unwrap();
    assert!(fresh.parked.is_empty() && fresh.released.is_empty());
    assert_eq!(
        f.retrieve("102", 10, T0 + 7),
        RetrieveOutcome::UnknownCode,
        "the old tenant's retrieve is not remembered"
    );
}

#[test]
fn parking_needs_a_granted_policy_that_allows_it_and_a_full_range_is_an_error() {
    let mut f = Fixture::new();
    let a = f.call("105", "101", T0);
    f.answer(a, "101", T0 + 1);
    assert_eq!(f.park(a, "101", None, T0 + 2), ParkOutcome::NoParkPolicy);
    assert_eq!(f.park(a, "102", None, T0 + 2), ParkOutcome::NotAnswered);
    let mut tiny = ParkPolicy::new(PolicyName::parse("p", "tiny").unwrap());
    tiny.code_end = ParkCode::new("c", 11).unwrap();
    f.ok(Command::PutParkPolicy {
        tenant: t("acme"),
        policy: tiny.clone(),
    });
    for n in ["101", "102", "103"] {
        f.ok(Command::GrantParkPolicy {
            tenant: t("acme"),
            number: e(n),
            policy: Some(tiny.name.clone()),
        });
    }
    let mut parked = 0;
    for (i, n) in ["101", "102", "103"].iter().enumerate() {
        let now = T0 + 10 * (i as u64 + 1);
        let c = if *n == "101" {
            a
        } else {
            f.call("105", n, now)
        };
        f.answer(c, n, now + 1);
        match f.park(c, n, None, now + 2) {
            ParkOutcome::Parked { .. } => parked += 1,
            ParkOutcome::RangeFull => {
                assert!(
                    matches!(f.state(c), CallState::Answered { .. }),
                    "a full range never drops the call"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(parked, 2);
    tiny.allow_parking = false;
    f.ok(Command::PutParkPolicy {
        tenant: t("acme"),
        policy: tiny,
    });
    let d = f.call("104", "101", T0 + 100);
    f.answer(d, "101", T0 + 101);
    assert_eq!(
        f.park(d, "101", None, T0 + 102),
        ParkOutcome::ParkingNotAllowed
    );
}

#[test]
fn unretrieved_park_rings_back_then_ends() {
    let mut f = Fixture::new();
    f.grant_lobby(&["101"]);
    let a = f.call("105", "101", T0);
    f.answer(a, "101", T0 + 1);
    f.park(a, "101", None, T0 + 2);
    let back_at = T0 + 2 + 300_000;
    f.tick(a, back_at - 1);
    assert!(
        matches!(
            f.state(a),
            CallState::Parked {
                ringing_back_until_ms: None,
                ..
            }
        ),
        "an early tick changes nothing"
    );
    f.tick(a, back_at);
    assert!(
        f.notices_for("101")
            .iter()
            .any(|n| matches!(n, Notice::ParkRingBack { call, .. } if *call == a))
    );
    assert_eq!(f.lamp("101"), LampState::Ringing);
    f.tick(a, back_at + 30_000);
    assert!(matches!(
        f.state(a),
        CallState::Ended {
            reason: EndReason::RingBackUnanswered,
            ..
        }
    ));
    assert_eq!(
        f.retrieve("101", 10, back_at + 30_001),
        RetrieveOutcome::CallEnded
    );
}

#[test]
fn ring_back_answered_by_the_parker() {
    let mut f = Fixture::new();
    f.grant_lobby(&["101"]);
    let a = f.call("105", "101", T0);
    f.answer(a, "101", T0 + 1);
    f.park(a, "101", None, T0 + 2);
    f.tick(a, T0 + 2 + 300_000);
    assert_eq!(
        f.answer(a, "101", T0 + 300_010),
        AnswerOutcome::Answered {
            how: AnswerHow::RingBack
        }
    );
    assert_eq!(
        f.retrieve("101", 10, T0 + 300_020),
        RetrieveOutcome::AlreadyAnswered
    );
}

#[test]
fn ring_timeout_ends_or_forwards_on_no_answer() {
    let mut f = Fixture::new();
    let a = f.call("105", "101", T0);
    f.tick(a, T0 + 30_000);
    assert!(matches!(
        f.state(a),
        CallState::Ended {
            reason: EndReason::NoAnswer,
            ..
        }
    ));
    f.edit("102", |r| {
        r.forwarding.on_no_answer = Some((ForwardTarget::Extension(e("103")), 10))
    });
    let b = f.call("105", "102", T0);
    f.tick(b, T0 + 9_999);
    assert_eq!(f.lamp("102"), LampState::Ringing);
    f.tick(b, T0 + 10_000);
    assert_eq!(f.lamp("102"), LampState::Idle);
    assert_eq!(f.lamp("103"), LampState::Ringing);
    assert_eq!(
        f.answer(b, "103", T0 + 10_001),
        AnswerOutcome::Answered {
            how: AnswerHow::Direct
        }
    );
}

#[test]
fn unconditional_and_busy_forwarding() {
    let mut f = Fixture::new();
    f.edit("101", |r| {
        r.forwarding.unconditional = Some(ForwardTarget::Extension(e("102")))
    });
    f.call("105", "101", T0);
    assert_eq!(f.lamp("101"), LampState::Idle);
    assert_eq!(f.lamp("102"), LampState::Ringing);
    f.edit("103", |r| {
        r.forwarding.on_busy = Some(ForwardTarget::Extension(e("104")))
    });
    let c = f.call("105", "103", T0);
    f.answer(c, "103", T0 + 1);
    f.call("102", "103", T0 + 2);
    assert_eq!(
        f.lamp("104"),
        LampState::Ringing,
        "busy 103 forwards to 104"
    );
}

#[test]
fn in_order_call_group_hunts_member_by_member() {
    let mut f = Fixture::new();
    f.ok(Command::PutCallGroup {
        tenant: t("acme"),
        group: CallGroup {
            owner: e("101"),
            members: vec![
                CallGroupMember {
                    extension: e("102"),
                    alert: AlertMode::Ring,
                    delay_secs: 0,
                },
                CallGroupMember {
                    extension: e("103"),
                    alert: AlertMode::Ring,
                    delay_secs: 0,
                },
            ],
            routing: CallGroupRouting::Forward(RingOrder::InOrder { ring_secs: 10 }),
        },
    });
    let c = f.call("105", "101", T0);
    assert_eq!(
        (f.lamp("101"), f.lamp("102"), f.lamp("103")),
        (LampState::Idle, LampState::Ringing, LampState::Idle)
    );
    f.tick(c, T0 + 10_000);
    assert_eq!(
        (f.lamp("102"), f.lamp("103")),
        (LampState::Idle, LampState::Ringing)
    );
    assert_eq!(
        f.answer(c, "103", T0 + 10_500),
        AnswerOutcome::Answered {
            how: AnswerHow::CallGroup
        }
    );
}

#[test]
fn delayed_member_is_alerted_only_after_its_delay() {
    let mut f = Fixture::new();
    f.ok(Command::PutCallGroup {
        tenant: t("acme"),
        group: CallGroup {
            owner: e("101"),
            members: vec![CallGroupMember {
                extension: e("102"),
                alert: AlertMode::Ring,
                delay_secs: 5,
            }],
            routing: CallGroupRouting::Simultaneous,
        },
    });
    let c = f.call("105", "101", T0);
    assert_eq!(f.lamp("102"), LampState::Idle);
    assert_eq!(f.answer(c, "102", T0 + 1), AnswerOutcome::NotAlerting);
    assert_eq!(
        f.sb.pending_deadlines().iter().map(|d| d.2).min(),
        Some(T0 + 5_000)
    );
    f.tick(c, T0 + 5_000);
    assert_eq!(f.lamp("102"), LampState::Ringing);
}

#[test]
fn tenants_are_isolated() {
    let mut f = Fixture::new();
    f.ok(Command::PutTenant {
        tenant: t("other"),
        config: TenantConfig::default(),
    });
    f.ok(Command::PutExtension {
        tenant: t("other"),
        record: ExtensionRecord::new(e("201")),
        keep_sip_secret: false,
    });
    let call = f.call("103", "102", T0);
    let nowhere = CallId(9_999);
    // Another tenant's live call answers exactly as a call that exists
    // nowhere: nothing tells one from the other.
    for id in [call, nowhere] {
        let answer = Command::Answer {
            tenant: t("other"),
            call: id,
            by: e("201"),
            now_ms: T0 + 1,
        };
        assert_eq!(f.run(answer), Response::Answer(AnswerOutcome::UnknownCall));
        let hangup = Command::Hangup {
            tenant: t("other"),
            call: id,
            by: Party::Extension(e("201")),
            now_ms: T0 + 1,
        };
        assert_eq!(f.run(hangup), Response::Hangup(HangupOutcome::UnknownCall));
    }
    let blf = |id| Command::Pickup {
        tenant: t("other"),
        picker: e("201"),
        kind: PickupKind::Blf {
            target: e("102"),
            call: Some(id),
        },
        now_ms: T0 + 2,
        random: 0,
    };
    assert_eq!(f.run(blf(call)), f.run(blf(nowhere)));
    assert!(f.sb.call(call).unwrap().is_ringing(), "nothing changed");
}

#[test]
fn refused_directory_writes_change_nothing() {
    let mut f = Fixture::new();
    let before = f.sb.clone();
    let bad_group = CallGroup {
        owner: e("101"),
        members: vec![CallGroupMember {
            extension: e("999"),
            alert: AlertMode::Ring,
            delay_secs: 0,
        }],
        routing: CallGroupRouting::Simultaneous,
    };
    assert!(matches!(
        f.run(Command::PutCallGroup { tenant: t("acme"), group: bad_group }),
        Response::Directory(Err(DirectoryError::ExtensionNotFound { field, .. })) if field == "members[0].extension"
    ));
    let mut bad_policy = ParkPolicy::new(PolicyName::parse("p", "x").unwrap());
    bad_policy.timeout_secs = 60;
    assert!(matches!(
        f.run(Command::PutParkPolicy { tenant: t("acme"), policy: bad_policy }),
        Response::Directory(Err(DirectoryError::Invalid(ValidationError { field, .. }))) if field == "timeout_secs"
    ));
    let mut quiet = ExtensionRecord::new(e("106"));
    quiet.voice_enabled = false;
    f.put(quiet);
    let after_put = f.sb.clone();
    let group = CallGroup {
        owner: e("101"),
        members: vec![CallGroupMember {
            extension: e("106"),
            alert: AlertMode::Ring,
            delay_secs: 0,
        }],
        routing: CallGroupRouting::Simultaneous,
    };
    assert!(matches!(
        f.run(Command::PutCallGroup {
            tenant: t("acme"),
            group
        }),
        Response::Directory(Err(DirectoryError::NotVoiceEnabled { .. }))
    ));
    assert_eq!(f.sb, after_put);
    assert_ne!(before, after_put);
}

#[test]
fn call_group_limits_are_enforced() {
    let mut f = Fixture::new();
    let config = TenantConfig {
        max_call_groups: 1,
        ..TenantConfig::default()
    };
    f.ok(Command::PutTenant {
        tenant: t("acme"),
        config,
    });
    let group = |owner: &str, member: &str| CallGroup {
        owner: e(owner),
        members: vec![CallGroupMember {
            extension: e(member),
            alert: AlertMode::Ring,
            delay_secs: 0,
        }],
        routing: CallGroupRouting::Simultaneous,
    };
    f.ok(Command::PutCallGroup {
        tenant: t("acme"),
        group: group("101", "102"),
    });
    assert_eq!(
        f.run(Command::PutCallGroup {
            tenant: t("acme"),
            group: group("103", "104")
        }),
        Response::Directory(Err(DirectoryError::CallGroupLimit { limit: 1 }))
    );
}

#[test]
fn offline_extension_shows_offline_and_is_not_alerted() {
    let mut f = Fixture::new();
    f.ok(Command::SetOnline {
        tenant: t("acme"),
        number: e("102"),
        online: false,
    });
    assert_eq!(f.lamp("102"), LampState::Offline);
    assert!(matches!(
        f.dial("101", "102", T0),
        DialOutcome::Call(CallOutcome::Unavailable { .. })
    ));
}

#[test]
fn random_selection_chooses_among_candidates() {
    let mut f = Fixture::new();
    let config = TenantConfig {
        pickup_selection: PickupSelection::Random,
        ..TenantConfig::default()
    };
    f.ok(Command::PutTenant {
        tenant: t("acme"),
        config,
    });
    let g = LegacyGroupId::parse("g", "desk").unwrap();
    for n in ["101", "102", "103"] {
        f.edit(n, |r| r.legacy_pickup_groups = vec![g.clone()]);
    }
    let a = f.call("104", "102", T0);
    let b = f.call("105", "103", T0 + 1);
    // random = 7 in the fixture: 7 % 2 = 1, the second-oldest.
    assert!(
        matches!(f.pickup("101", PickupKind::Group, T0 + 2), PickupOutcome::PickedUp { call, .. } if call == b)
    );
    assert!(
        matches!(f.pickup("101", PickupKind::Group, T0 + 3), PickupOutcome::PickedUp { call, .. } if call == a)
    );
}

/// One step of a random workload over a small tenant.
#[derive(Debug, Clone)]
enum Step {
    Dial(u8, u8),
    Answer(u8, u8),
    Hangup(u8, u8),
    Directed(u8, u8),
    Group(u8),
    Park(u8, u8),
    Retrieve(u8, u16),
    Tick(u8, u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..5, 0u8..5).prop_map(|(a, b)| Step::Dial(a, b)),
        (0u8..8, 0u8..5).prop_map(|(a, b)| Step::Answer(a, b)),
        (0u8..8, 0u8..5).prop_map(|(a, b)| Step::Hangup(a, b)),
        (0u8..5, 0u8..5).prop_map(|(a, b)| Step::Directed(a, b)),
        (0u8..5).prop_map(Step::Group),
        (0u8..8, 0u8..5).prop_map(|(a, b)| Step::Park(a, b)),
        (0u8..5, 10u16..14).prop_map(|(a, b)| Step::Retrieve(a, b)),
        (0u8..8, 0u32..400_000).prop_map(|(a, b)| Step::Tick(a, b)),
    ]
}

impl Step {
    /// The command this step stands for, 100 ms (or a tick's wait) after `now`.
    fn command(self, now: &mut u64) -> Command {
        let ext = |i: u8| e(&(101 + i as u32).to_string());
        *now += 100;
        let now_ms = *now;
        let tenant = t("acme");
        match self {
            Step::Dial(a, b) => Command::Dial {
                tenant,
                from: Party::Extension(ext(a)),
                digits: ext(b).to_string(),
                now_ms,
                random: 0,
            },
            Step::Answer(c, b) => Command::Answer {
                tenant,
                call: CallId(c as u64),
                by: ext(b),
                now_ms,
            },
            Step::Hangup(c, b) => Command::Hangup {
                tenant,
                call: CallId(c as u64),
                by: Party::Extension(ext(b)),
                now_ms,
            },
            Step::Directed(p, target) => Command::Pickup {
                tenant,
                picker: ext(p),
                kind: PickupKind::Directed(Some(ext(target))),
                now_ms,
                random: 0,
            },
            Step::Group(p) => Command::Pickup {
                tenant,
                picker: ext(p),
                kind: PickupKind::Group,
                now_ms,
                random: 3,
            },
            Step::Park(c, b) => Command::Park {
                tenant,
                call: CallId(c as u64),
                by: ext(b),
                code: None,
                now_ms,
            },
            Step::Retrieve(b, code) => Command::Retrieve {
                tenant,
                by: ext(b),
                code: ParkCode::new("c", code as u32).unwrap(),
                now_ms,
            },
            Step::Tick(c, dt) => {
                *now += dt as u64;
                Command::Tick {
                    call: CallId(c as u64),
                    now_ms: *now,
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever happens, a call has at most one answerer per answered episode,
    /// park codes are unique, and every parked code points at a parked call.
    #[test]
    fn random_workloads_keep_the_invariants(steps in proptest::collection::vec(step(), 1..80)) {
        let setup = || {
            let mut f = Fixture::new();
            let g = LegacyGroupId::parse("g", "all").unwrap();
            for n in 101..=105 {
                f.edit(&n.to_string(), |r| r.legacy_pickup_groups = vec![g.clone()]);
            }
            f.grant_lobby(&["101", "102", "103", "104", "105"]);
            f
        };
        let mut f = setup();
        let mut log = Vec::new();
        let mut now = T0;
        for s in steps {
            let cmd = s.command(&mut now);
            let before: Vec<(CallId, CallState)> = f.sb.calls.iter().map(|(id, c)| (*id, c.state.clone())).collect();
            log.push(cmd.clone());
            let r = f.run(cmd.clone());
            // A successful claim moves exactly one call into Answered, from Ringing or Parked.
            let newly_answered: Vec<CallId> = f.sb.calls.iter()
                .filter(|(id, c)| matches!(c.state, CallState::Answered { since_ms, .. } if since_ms == now)
                    && before.iter().any(|(b, s)| b == *id && !matches!(s, CallState::Answered { .. })))
                .map(|(id, _)| *id)
                .collect();
            let claimed = matches!(r,
                Response::Answer(AnswerOutcome::Answered { .. })
                | Response::Pickup(PickupOutcome::PickedUp { .. })
                | Response::Retrieve(RetrieveOutcome::Retrieved { .. }));
            prop_assert_eq!(newly_answered.len(), usize::from(claimed), "{:?} -> {:?}", cmd, r);
            // Parked codes and parked calls agree one to one.
            let tenant = f.sb.tenant(&t("acme")).unwrap();
            for (code, id) in &tenant.parked {
                let parked_here = matches!(&f.sb.calls[id].state, CallState::Parked { code: c, .. } if c == code);
                prop_assert!(parked_here);
            }
            let parked_calls = f.sb.calls.values().filter(|c| matches!(c.state, CallState::Parked { .. })).count();
            prop_assert_eq!(parked_calls, tenant.parked.len());
            // The ringing index is exact.
            for c in f.sb.calls.values() {
                prop_assert_eq!(c.is_ringing(), tenant.ringing.contains(&c.id));
            }
        }
        // Apply is deterministic: replaying the log gives the same state and events.
        let mut replica = setup();
        for cmd in log {
            replica.run(cmd);
        }
        prop_assert_eq!(&replica.sb, &f.sb);
        prop_assert_eq!(&replica.events, &f.events);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whenever `already_answered` answers without a commit, applying the
    /// command gives the same answer and changes nothing.
    #[test]
    fn answering_a_lost_claim_without_commit_agrees_with_apply(steps in proptest::collection::vec(step(), 1..60)) {
        let mut f = Fixture::new();
        let g = LegacyGroupId::parse("g", "all").unwrap();
        for n in 101..=105 {
            f.edit(&n.to_string(), |r| r.legacy_pickup_groups = vec![g.clone()]);
        }
        f.grant_lobby(&["101", "102", "103", "104", "105"]);
        let mut now = T0;
        for s in steps {
            let cmd = s.command(&mut now);
            let shortcut = f.sb.already_answered(&cmd);
            let before = f.sb.clone();
            let applied = f.sb.apply(&cmd);
            if let Some(r) = shortcut {
                prop_assert_eq!(&r, &applied.response, "{:?}", cmd);
                prop_assert_eq!(&before, &f.sb, "a lost claim changes nothing: {:?}", cmd);
            }
        }
    }
}

#[test]
fn a_lost_race_is_recognised_without_applying() {
    let mut f = Fixture::new();
    let call = f.call("103", "102", T0);
    let pickup = |picker: &str| Command::Pickup {
        tenant: t("acme"),
        picker: e(picker),
        kind: directed("102"),
        now_ms: T0 + 10,
        random: 0,
    };
    assert_eq!(
        f.sb.already_answered(&pickup("101")),
        None,
        "a claim that can win is never short-cut"
    );
    f.run(pickup("101"));
    assert_eq!(
        f.sb.already_answered(&pickup("104")),
        Some(Response::Pickup(PickupOutcome::AlreadyAnswered))
    );
    let answer = Command::Answer {
        tenant: t("acme"),
        call,
        by: e("102"),
        now_ms: T0 + 11,
    };
    assert_eq!(
        f.sb.already_answered(&answer),
        Some(Response::Answer(AnswerOutcome::AlreadyAnswered))
    );
    // The same pickup dialled as a feature code, and what applying it says.
    let dialled = Command::Dial {
        tenant: t("acme"),
        from: Party::Extension(e("105")),
        digits: "*97102".into(),
        now_ms: T0 + 12,
        random: 0,
    };
    let shortcut = f.sb.already_answered(&dialled);
    assert_eq!(
        shortcut,
        Some(Response::Dial(DialOutcome::Pickup(
            PickupOutcome::AlreadyAnswered
        )))
    );
    assert_eq!(shortcut, Some(f.run(dialled)));
}

#[test]
fn every_claim_on_one_call_contends_for_that_call() {
    let mut f = Fixture::new();
    let call = f.call("103", "102", T0);
    let claims = [
        Command::Answer {
            tenant: t("acme"),
            call,
            by: e("102"),
            now_ms: T0 + 1,
        },
        Command::Pickup {
            tenant: t("acme"),
            picker: e("101"),
            kind: directed("102"),
            now_ms: T0 + 1,
            random: 0,
        },
        Command::Dial {
            tenant: t("acme"),
            from: Party::Extension(e("104")),
            digits: "*97102".into(),
            now_ms: T0 + 1,
            random: 0,
        },
    ];
    for claim in &claims {
        assert_eq!(
            f.sb.contended(claim),
            Some(Contended::Call(call)),
            "{claim:?}"
        );
    }
    let hangup = Command::Hangup {
        tenant: t("acme"),
        call,
        by: Party::Extension(e("103")),
        now_ms: T0 + 1,
    };
    assert_eq!(f.sb.contended(&hangup), None, "nobody races a hang-up");
    let nothing_rings = Command::Dial {
        tenant: t("acme"),
        from: Party::Extension(e("104")),
        digits: "*97105".into(),
        now_ms: T0 + 1,
        random: 0,
    };
    assert_eq!(f.sb.contended(&nothing_rings), None);
}

#[test]
fn blf_pickup_of_a_stale_lamp_takes_no_other_call() {
    let mut f = Fixture::new();
    let first = f.call("103", "102", T0);
    let blf = |call| PickupKind::Blf {
        target: e("102"),
        call: Some(call),
    };
    assert!(matches!(
        f.pickup("101", blf(first), T0 + 1),
        PickupOutcome::PickedUp { .. }
    ));
    let _second = f.call("104", "102", T0 + 2);
    assert_eq!(
        f.pickup("105", blf(first), T0 + 3),
        PickupOutcome::AlreadyAnswered,
        "the lamp's call was taken"
    );
    assert_eq!(
        f.pickup("105", blf(first), T0 + 3 + RACE_WINDOW_MS_FOR_TESTS),
        PickupOutcome::NoAlertingCall,
        "and never another caller's"
    );
}

#[test]
fn a_batch_applies_like_its_commands_one_by_one() {
    let cmds = |f: &Fixture| {
        let _ = f;
        vec![
            Command::Dial {
                tenant: t("acme"),
                from: Party::Extension(e("103")),
                digits: "102".into(),
                now_ms: T0,
                random: 0,
            },
            Command::Pickup {
                tenant: t("acme"),
                picker: e("101"),
                kind: directed("102"),
                now_ms: T0 + 1,
                random: 0,
            },
            Command::Pickup {
                tenant: t("acme"),
                picker: e("104"),
                kind: directed("102"),
                now_ms: T0 + 2,
                random: 0,
            },
        ]
    };
    let mut one_by_one = Fixture::new();
    let singles: Vec<Response> = cmds(&one_by_one)
        .into_iter()
        .map(|c| one_by_one.run(c))
        .collect();
    let mut batched = Fixture::new();
    let batch = batched.run(Command::Batch(cmds(&batched)));
    assert_eq!(batch, Response::Batch(singles));
    assert_eq!(batched.sb, one_by_one.sb);
    assert_eq!(batched.events, one_by_one.events);
}

fn once(id: &str, fingerprint: u64, cmd: Command) -> Command {
    Command::once(
        RequestId::parse("request-id", id).unwrap(),
        fingerprint,
        cmd,
    )
}

#[test]
fn a_pickup_retried_with_its_request_id_after_it_won_answers_picked_up_again() {
    let mut f = Fixture::new();
    let call = f.call("103", "102", T0);
    let pickup = |picker: &str, now| Command::Pickup {
        tenant: t("acme"),
        picker: e(picker),
        kind: directed("102"),
        now_ms: now,
        random: 0,
    };
    let won = Response::Pickup(PickupOutcome::PickedUp {
        call,
        from: e("102"),
        how: AnswerHow::DirectedPickup,
    });
    assert_eq!(f.run(once("p-1", 9, pickup("101", T0 + 10))), won);
    f.events.clear();
    let before = f.sb.clone();
    // The retry carries its own clock: only the request id and what was asked match.
    assert_eq!(f.run(once("p-1", 9, pickup("101", T0 + 900))), won);
    assert_eq!(f.sb, before, "a retry changes nothing");
    assert!(
        f.events.is_empty(),
        "a retry produces no events: {:?}",
        f.events
    );
    assert_eq!(f.sb.recall(&once("p-1", 9, pickup("101", 0))), Some(won));
    // Without the id, the same picker would be told it lost.
    assert_eq!(
        f.pickup("101", directed("102"), T0 + 901),
        PickupOutcome::AlreadyAnswered
    );
}

#[test]
fn a_request_id_reused_for_another_request_is_refused_and_changes_nothing() {
    let mut f = Fixture::new();
    let nothing = Command::Pickup {
        tenant: t("acme"),
        picker: e("104"),
        kind: directed("105"),
        now_ms: T0,
        random: 0,
    };
    assert_eq!(
        f.run(once("r", 1, nothing)),
        Response::Pickup(PickupOutcome::NoAlertingCall)
    );
    let call = f.call("103", "102", T0 + 1);
    let answer = Command::Answer {
        tenant: t("acme"),
        call,
        by: e("102"),
        now_ms: T0 + 5,
    };
    let before = f.sb.clone();
    assert_eq!(f.run(once("r", 2, answer.clone())), Response::RequestReused);
    assert_eq!(f.sb, before, "the refused request changed nothing");
    assert!(matches!(f.state(call), CallState::Ringing { .. }));
    // The same id in another tenant is another request.
    f.ok(Command::PutTenant {
        tenant: t("other"),
        config: TenantConfig::default(),
    });
    let elsewhere = Command::Pickup {
        tenant: t("other"),
        picker: e("104"),
        kind: directed("105"),
        now_ms: T0,
        random: 0,
    };
    assert_eq!(
        f.run(once("r", 2, elsewhere)),
        Response::Pickup(PickupOutcome::NotPermitted),
        "applied afresh in the other tenant (whose picker does not exist)"
    );
    assert!(matches!(
        f.run(once("r2", 2, answer)),
        Response::Answer(AnswerOutcome::Answered { .. })
    ));
}

#[test]
fn each_tenant_numbers_its_own_calls_whatever_other_tenants_do() {
    let mut f = Fixture::new();
    f.ok(Command::PutTenant {
        tenant: t("other"),
        config: TenantConfig::default(),
    });
    for n in ["201", "202"] {
        f.ok(Command::PutExtension {
            tenant: t("other"),
            record: ExtensionRecord::new(e(n)),
            keep_sip_secret: false,
        });
    }
    let dial_other = |f: &mut Fixture, now| match f.run(Command::Dial {
        tenant: t("other"),
        from: Party::Extension(e("201")),
        digits: "202".into(),
        now_ms: now,
        random: 0,
    }) {
        Response::Dial(DialOutcome::Call(CallOutcome::Ringing { call })) => call,
        other => panic!("{other:?}"),
    };
    let first = dial_other(&mut f, T0);
    for k in 0..5 {
        f.call("103", "102", T0 + k);
    }
    let second = dial_other(&mut f, T0 + 10);
    assert_eq!((first.number(), second.number()), (1, 2));
    assert_eq!(f.call("104", "105", T0 + 11).number(), 6);
    assert_ne!(
        first,
        CallId::in_tenant(&t("acme"), 1),
        "unique across tenants"
    );
    assert_eq!(first, CallId::in_tenant(&t("other"), 1));
    // A number no call can have names no call.
    for n in [0, CallId::MAX_NUMBER + 1, u64::MAX] {
        assert_eq!(f.sb.call(CallId::in_tenant(&t("other"), n)), None, "{n}");
    }
}
