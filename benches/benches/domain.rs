//! Micro-benchmarks of the domain hot paths in `callgrid-model`: feature-code
//! parsing, name-list parsing, pickup eligibility (directed and group pickup
//! applied on a switchboard of 1,000 extensions with 100 ringing calls),
//! park-code allocation with many codes taken, the apply of a dial, and
//! the lookup of a request id among a full window of remembered outcomes.
//!
//! Quick run (the defaults below already are this):
//! `cargo bench -p callgrid-bench --bench domain -- --warm-up-time 1 --measurement-time 2`
//!
//! Applies change the switchboard, so each measured apply is followed by an
//! untimed command that puts things back (hang up and redial, retrieve),
//! and the switchboard is rebuilt from a template every so often so that
//! ended calls do not pile up.

use std::hint::black_box;
use std::time::{Duration, Instant};

use callgrid_model::{
    AnswerOutcome, Applied, CallId, CallOutcome, Command, DialOutcome, Extension, ExtensionRecord,
    FeatureCodes, LegacyGroupId, NameList, ParkCode, ParkOutcome, ParkPolicy, Party, PickupKind,
    PickupOutcome, PolicyName, RequestId, RequestOutcomes, Response, Switchboard, TenantConfig,
    TenantId,
};
use criterion::{Criterion, criterion_group, criterion_main};

const NOW: u64 = 1_700_000_000_000;
/// Measured applies between rebuilds of the switchboard from its template.
const REFRESH: u64 = 1_000;
const EXTENSIONS: u32 = 1_000;
const RINGING: u32 = 100;
const PARKED: u32 = 2_000;
/// The picker: in the group, not in any call.
const PICKER: u32 = 1_900;

fn tenant() -> TenantId {
    TenantId::parse("tenant", "acme").expect("valid tenant id")
}

fn ext(n: u32) -> Extension {
    Extension::parse("ext", &n.to_string()).expect("digits are an extension")
}

fn policy() -> PolicyName {
    PolicyName::parse("policy", "lot").expect("valid policy name")
}

fn must(sb: &mut Switchboard, cmd: Command) -> Response {
    sb.apply(&cmd).response
}

/// A tenant with extensions 1000.. (all in legacy pickup group `all`, all
/// holding park policy `lot` with codes 10-9999).
fn directory(extensions: u32) -> Switchboard {
    let mut sb = Switchboard::default();
    must(
        &mut sb,
        Command::PutTenant {
            tenant: tenant(),
            config: TenantConfig::default(),
        },
    );
    let mut lot = ParkPolicy::new(policy());
    lot.code_end = ParkCode::new("code_end", 9999).expect("valid code");
    lot.timeout_secs = 1800;
    must(
        &mut sb,
        Command::PutParkPolicy {
            tenant: tenant(),
            policy: lot,
        },
    );
    for i in 0..extensions {
        let mut record = ExtensionRecord::new(ext(1000 + i));
        record.legacy_pickup_groups = vec![LegacyGroupId::parse("g", "all").expect("valid group")];
        record.park_policy = Some(policy());
        must(
            &mut sb,
            Command::PutExtension {
                tenant: tenant(),
                record,
                keep_sip_secret: false,
            },
        );
    }
    sb
}

fn dial_cmd(from: u32, to: u32, now_ms: u64) -> Command {
    Command::Dial {
        tenant: tenant(),
        from: Party::Extension(ext(from)),
        digits: to.to_string(),
        now_ms,
        random: 0,
    }
}

fn ring(sb: &mut Switchboard, from: u32, to: u32, now_ms: u64) -> CallId {
    match must(sb, dial_cmd(from, to, now_ms)) {
        Response::Dial(DialOutcome::Call(CallOutcome::Ringing { call })) => call,
        other => panic!("{from} -> {to} did not ring: {other:?}"),
    }
}

fn hang_up(sb: &mut Switchboard, call: CallId, by: &Party, now_ms: u64) {
    must(
        sb,
        Command::Hangup {
            tenant: tenant(),
            call,
            by: by.clone(),
            now_ms,
        },
    );
}

/// 1,000 extensions; 1000..1099 ring 1100..1199, oldest first.
fn ringing() -> Switchboard {
    let mut sb = directory(EXTENSIONS);
    for i in 0..RINGING {
        ring(&mut sb, 1000 + i, 1000 + RINGING + i, NOW + u64::from(i));
    }
    sb
}

/// Times `command(now)` applied to a copy of `template`, running the
/// untimed `restore` after each.
fn apply_loop(
    c: &mut Criterion,
    name: &str,
    template: &Switchboard,
    command: impl Fn(u64) -> Command,
    restore: impl Fn(&mut Switchboard, &Applied, u64),
) {
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut sb = template.clone();
            let mut total = Duration::ZERO;
            // Time only moves forward between rebuilds.
            let mut since_rebuild = 0;
            for _ in 0..iters {
                if since_rebuild == REFRESH {
                    sb = template.clone();
                    since_rebuild = 0;
                }
                let now = NOW + 10_000 + since_rebuild;
                since_rebuild += 1;
                let cmd = command(now);
                let start = Instant::now();
                let applied = sb.apply(black_box(&cmd));
                total += start.elapsed();
                restore(&mut sb, &applied, now);
            }
            total
        })
    });
}

/// After a pickup: the caller hangs up and dials the same callee again,
/// so the same number of calls ring.
fn hang_up_and_redial(sb: &mut Switchboard, applied: &Applied, now: u64) {
    let Response::Pickup(PickupOutcome::PickedUp { call, from, .. }) = &applied.response else {
        panic!("the pickup did not pick up: {:?}", applied.response);
    };
    let caller = sb
        .call(*call)
        .expect("the picked call exists")
        .caller
        .clone();
    hang_up(sb, *call, &caller, now);
    let redial = Command::Dial {
        tenant: tenant(),
        from: caller,
        digits: from.to_string(),
        now_ms: now,
        random: 0,
    };
    let again = must(sb, redial);
    assert!(
        matches!(
            again,
            Response::Dial(DialOutcome::Call(CallOutcome::Ringing { .. }))
        ),
        "the redial did not ring: {again:?}"
    );
}

fn feature_codes(c: &mut Criterion) {
    let codes = FeatureCodes::default();
    for digits in ["*971150", "*98", "88sales", "*7142", "1150"] {
        c.bench_function(&format!("feature_codes/parse {digits}"), |b| {
            b.iter(|| codes.parse(black_box(digits)))
        });
    }
}

fn name_lists(c: &mut Criterion) {
    let short = "sales,support,billing";
    let long: String = (0..100)
        .map(|i| format!("team-{i:03}"))
        .collect::<Vec<_>>()
        .join(",");
    assert!(long.len() <= NameList::MAX_CHARS);
    c.bench_function("name_list/parse 3 names", |b| {
        b.iter(|| NameList::parse("pickup_groups", black_box(short)))
    });
    c.bench_function("name_list/parse 100 names (1,000 chars)", |b| {
        b.iter(|| NameList::parse("pickup_groups", black_box(&long)))
    });
}

fn pickups(c: &mut Criterion) {
    let template = ringing();
    let target = 1000 + RINGING + RINGING / 2;
    apply_loop(
        c,
        "pickup/directed apply (1,000 ext, 100 ringing)",
        &template,
        |now| Command::Pickup {
            tenant: tenant(),
            picker: ext(PICKER),
            kind: PickupKind::Directed(Some(ext(target))),
            now_ms: now,
            random: 0,
        },
        hang_up_and_redial,
    );
    apply_loop(
        c,
        "pickup/group apply (1,000 ext, 100 ringing)",
        &template,
        |now| Command::Pickup {
            tenant: tenant(),
            picker: ext(PICKER),
            kind: PickupKind::Group,
            now_ms: now,
            random: 0,
        },
        hang_up_and_redial,
    );
}

fn park_codes(c: &mut Criterion) {
    let mut sb = directory(2 * PARKED + 2);
    let answer = |sb: &mut Switchboard, call: CallId, by: u32| {
        let r = must(
            sb,
            Command::Answer {
                tenant: tenant(),
                call,
                by: ext(by),
                now_ms: NOW,
            },
        );
        assert!(
            matches!(r, Response::Answer(AnswerOutcome::Answered { .. })),
            "{r:?}"
        );
    };
    for i in 0..PARKED {
        let (caller, callee) = (1000 + i, 1000 + PARKED + i);
        let call = ring(&mut sb, caller, callee, NOW);
        answer(&mut sb, call, callee);
        let r = must(
            &mut sb,
            Command::Park {
                tenant: tenant(),
                call,
                by: ext(callee),
                code: None,
                now_ms: NOW,
            },
        );
        assert!(
            matches!(r, Response::Park(ParkOutcome::Parked { .. })),
            "{r:?}"
        );
    }
    let (caller, holder) = (1000 + 2 * PARKED, 1000 + 2 * PARKED + 1);
    let call = ring(&mut sb, caller, holder, NOW);
    answer(&mut sb, call, holder);
    apply_loop(
        c,
        "park/allocate lowest free code (2,000 of 9,990 taken)",
        &sb,
        |now| Command::Park {
            tenant: tenant(),
            call,
            by: ext(holder),
            code: None,
            now_ms: now,
        },
        |sb, applied, now| {
            let Response::Park(ParkOutcome::Parked { code }) = applied.response else {
                panic!("the park failed: {:?}", applied.response);
            };
            must(
                sb,
                Command::Retrieve {
                    tenant: tenant(),
                    by: ext(holder),
                    code,
                    now_ms: now,
                },
            );
        },
    );
}

fn dial(c: &mut Criterion) {
    let template = ringing();
    let (caller, callee) = (1000 + 3 * RINGING, 1000 + 4 * RINGING);
    apply_loop(
        c,
        "dial/apply (1,000 ext, 100 ringing)",
        &template,
        |now| dial_cmd(caller, callee, now),
        |sb, applied, now| {
            let Response::Dial(DialOutcome::Call(CallOutcome::Ringing { call })) = applied.response
            else {
                panic!("the dial did not ring: {:?}", applied.response);
            };
            hang_up(sb, call, &Party::Extension(ext(caller)), now);
        },
    );
}

/// Every mutating request looks its id up among its tenant's remembered
/// outcomes (a full window: `PER_TENANT`), ids shaped like the SIP edge's
/// (a shared prefix, then 32 hex digits).
fn request_ids(c: &mut Criterion) {
    let t = tenant();
    let id = |n: u64| {
        RequestId::parse(
            "request_id",
            &format!("sip-{:032x}", u128::from(n) * 0x9e37_79b9),
        )
        .expect("a valid id")
    };
    let mut outcomes = RequestOutcomes::default();
    let window = callgrid_model::request::PER_TENANT as u64;
    for n in 0..window {
        outcomes.remember(&t, id(n), n, Response::Directory(Ok(())));
    }
    let (known, unknown) = (id(window / 2), id(window + 1));
    c.bench_function(
        "request_ids/recall a remembered id (100,000 remembered)",
        |b| b.iter(|| black_box(outcomes.recall(&t, black_box(&known), window / 2))),
    );
    c.bench_function("request_ids/recall a new id (100,000 remembered)", |b| {
        b.iter(|| black_box(outcomes.recall(&t, black_box(&unknown), 0)))
    });
}

criterion_group! {
    name = domain;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = feature_codes, name_lists, pickups, park_codes, dial, request_ids
}
criterion_main!(domain);
