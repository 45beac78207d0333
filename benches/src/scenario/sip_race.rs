//! `sip-race`: the pickup race through the SIP edge, with SIPp (Debian's
//! `sip-tester`) as the phones, beside the gRPC `race` of the same run.
//!
//! Each call slot (worker block) has a caller, a callee and K racers, each
//! given a SIP password over gRPC. The phones are SIPp processes in
//! **banks**: a bank is one caller SIPp (one SIPp user per call slot of the
//! bank, each with its own line of a `USER` injection file), one callee
//! SIPp (server mode; every callee of the bank registered from its
//! address), one SIPp per racer (3PCC slaves; every racer registered from
//! its address) and a dispatcher (a 3PCC slave that speaks no SIP). Each
//! SIPp sends from its own loopback address (`127.77.<bank>.<role>`), as
//! phones do: the edge limits requests per source address.
//!
//! One call: the caller INVITEs its callee (digest challenge, then the
//! authenticated INVITE); the callee's phone rings and never answers; on
//! the caller's 180 the caller SIPp sends the dispatcher one command (the
//! call, the callee, every racer's extension) and the dispatcher tells each
//! racer SIPp its part (`sendCmd`); each racer INVITEs `*97<callee>` at
//! once (challenge, authenticated INVITE). Exactly one must get 200 (the
//! others 410 with `ALREADY_ANSWERED`); it ACKs and hangs up at once, the
//! caller gets the 200 then a BYE, the callee a CANCEL. Each caller user
//! then places its next call (closed loop, like the gRPC workers).
//!
//! Every phone logs (`<log>`, with `gettimeofday`) when it sent its first
//! INVITE and when its final response came; the bench reads the logs and
//! checks that every completed call had exactly one winner among its K
//! racers, and measures setup as the winning racer's first INVITE to its
//! 200 OK.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use callgrid_proto::v1::{self, directory_client::DirectoryClient};
use tokio::process::{Child, Command};

use super::Ctx;
use crate::cli::{RaceArgs, RaceKind, SipRaceArgs};
use crate::cpu::Cpu;
use crate::recorder::Recorder;
use crate::report::{Check, Compared, Measured, ScenarioResult};
use crate::runner::Budget;

/// The SIP password of every bench phone.
const PASSWORD: &str = "bench-sip-secret";
/// Most banks (SIPp groups) a run may use: one /24 of loopback per bank.
const MAX_BANKS: usize = 64;
/// Call slots per bank by default: one SIPp per call slot and role starves
/// two cores (96 processes at concurrency 16, 47 calls/s, SIPp's own
/// overload warnings). A bank's racer phone sends an INVITE and an ACK per
/// call, so a bank stays under the edge's per-address request rate (200/s)
/// up to about 100 calls/s: two slots per bank keep 16 concurrent calls
/// under it to 800 calls/s. (Four per bank did until a node reached 600
/// calls/s on one core: then 40 to 180 calls a run lost a racer's pickup
/// to the rate limit.)
const SLOTS_PER_BANK: usize = 2;
/// How long one SIPp message may be awaited before the call fails.
const RECV_TIMEOUT_MS: &str = "10000";
/// How long the whole SIP phase may overrun its budget before SIPp is killed.
const DRAIN: Duration = Duration::from_secs(30);
/// The scenarios, checked in under `benches/sip/`.
const REGISTER_XML: &str = include_str!("../../sip/register.xml");
const CALLEE_XML: &str = include_str!("../../sip/callee.xml");
const CALLER_XML: &str = include_str!("../../sip/caller.xml");
const RACER_XML: &str = include_str!("../../sip/racer.xml");
const DISPATCHER_XML: &str = include_str!("../../sip/dispatcher.xml");
/// Where the dispatcher's commands to the racers go.
const RACERS_MARKER: &str = "  <!-- RACERS -->\n";
/// Where the racers' extensions go: named in the caller's command, and
/// taken from it by the dispatcher.
const EXTENSIONS_MARKER: &str = "      <!-- RACER EXTENSIONS -->\n";

const FAILED_CALLERS: &str = "sip caller SIPps that reported failed calls";
const ONE_WINNER: &str = "sip calls with one winner";
const NO_WINNER: &str = "sip calls with no winner";
const SEVERAL_WINNERS: &str = "sip calls with several winners";
const MISSING_RACERS: &str = "sip calls missing a racer's final response";
const CUT_RACERS: &str = "sip calls missing a racer cut by the end of the run";
/// How close to the end of the run a call's missing racer counts as cut.
const CUT: Duration = Duration::from_secs(2);
const ORPHANS: &str = "sip racer results of calls that did not complete";

/// `sipp` on the PATH, installing `sip-tester` with apt-get where it is
/// missing (as the end-to-end tests do); `Err` says why it cannot.
fn ensure_sipp(bin: &str) -> anyhow::Result<PathBuf> {
    let found = |bin: &str| -> Option<PathBuf> {
        let p = Path::new(bin);
        if p.components().count() > 1 {
            return p.is_file().then(|| p.to_path_buf());
        }
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(bin))
                .find(|p| p.is_file())
        })
    };
    if let Some(p) = found(bin) {
        return Ok(p);
    }
    eprintln!("{bin} is missing: installing sip-tester with apt-get");
    crate::install::debian_package("sip-tester")?;
    found(bin).context("sip-tester installed no sipp")
}

/// The caller scenario with the racers' extensions in its one command to
/// the dispatcher: each caller places calls until `stop_at` (seconds since
/// the epoch) or until it has placed `max_calls`.
fn caller_scenario(racers: usize, stop_at: f64, max_calls: u64) -> String {
    let mut extensions = String::new();
    for k in 1..=racers {
        let _ = writeln!(extensions, "      X-Racer{k}: [field{}]", k + 1);
    }
    CALLER_XML
        .replace(EXTENSIONS_MARKER, &format!("{extensions}\n"))
        .replace("\"STOP_AT\"", &format!("\"{stop_at:.3}\""))
        .replace("\"MAX_CALLS\"", &format!("\"{max_calls}\""))
}

/// The dispatcher scenario: one `sendCmd` per racer, each with the racer
/// extension the caller's command named for it.
fn dispatcher_scenario(racers: usize) -> String {
    let (mut takes, mut cmds) = (String::new(), String::new());
    for k in 1..=racers {
        let _ = writeln!(
            takes,
            "      <ereg regexp=\"[0-9]+\" search_in=\"hdr\" header=\"X-Racer{k}:\" \
             assign_to=\"r{k}\"/>"
        );
        let _ = write!(
            cmds,
            "  <sendCmd dest=\"s{k}\">\n    <![CDATA[\n      Call-ID: [call_id]-r{k}\n      \
             From: d\n      X-Call: [$call]\n      X-Callee: [$callee]\n      X-Racer: [$r{k}]\n\n    \
             ]]>\n  </sendCmd>\n"
        );
    }
    DISPATCHER_XML
        .replace(EXTENSIONS_MARKER, &takes)
        .replace(RACERS_MARKER, &cmds)
}

/// Starts `name`, the 3PCC slave `peer` of `bank`, with scenario
/// `scenario` (in `dir`) and its own copy of the bank's twin addresses.
fn start_slave(
    sipp: &Path,
    dir: &Path,
    bank: &Bank,
    twins: &str,
    (name, peer): (&str, &str),
    scenario: &str,
    addr: (&str, u16),
) -> anyhow::Result<Sipp> {
    let cfg = dir.join(format!("{name}.cfg"));
    std::fs::write(&cfg, twins)?;
    let extra = [
        "-slave".to_owned(),
        peer.to_owned(),
        "-slave_cfg".to_owned(),
        cfg.display().to_string(),
    ];
    Sipp::start(sipp, dir, name, bank, &dir.join(scenario), addr, &extra)
}

/// The loopback address of role `role` of bank `bank`: 0 the caller, 1 the
/// callee, 2..=K+1 the racers, K+2 the dispatcher.
fn bank_ip(bank: usize, role: usize) -> String {
    format!("127.77.{bank}.{}", role + 1)
}

fn free_udp(ip: &str) -> anyhow::Result<u16> {
    Ok(UdpSocket::bind((ip, 0))
        .with_context(|| format!("binding {ip}"))?
        .local_addr()?
        .port())
}

fn free_tcp(ip: &str) -> anyhow::Result<u16> {
    Ok(TcpListener::bind((ip, 0))
        .with_context(|| format!("binding {ip}"))?
        .local_addr()?
        .port())
}

/// One SIPp process of a bank, with its own log and error files.
struct Sipp {
    name: String,
    child: Child,
    log: PathBuf,
    errors: PathBuf,
}

impl Sipp {
    /// Starts SIPp against `edge` from `ip:port` with scenario file `sf`.
    fn start(
        bin: &Path,
        dir: &Path,
        name: &str,
        bank: &Bank,
        sf: &Path,
        (ip, port): (&str, u16),
        extra: &[String],
    ) -> anyhow::Result<Sipp> {
        let log = dir.join(format!("{name}.log"));
        let errors = dir.join(format!("{name}.err"));
        let child = Command::new(bin)
            .arg(&bank.edge)
            .arg("-sf")
            .arg(sf)
            .args(["-i", ip, "-p", &port.to_string()])
            .args(["-key", "domain", &bank.tenant, "-ap", PASSWORD])
            .args(["-nostdin", "-aa", "-recv_timeout", RECV_TIMEOUT_MS])
            .arg("-trace_logs")
            .arg("-log_file")
            .arg(&log)
            .arg("-trace_err")
            .arg("-error_file")
            .arg(&errors)
            .args(extra)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Sipp {
            name: name.to_owned(),
            child,
            log,
            errors,
        })
    }

    /// Waits for the process to end (killing it past `deadline`); true if
    /// SIPp reported success (every call completed).
    async fn wait(&mut self, deadline: Instant) -> bool {
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill().await;
                    return false;
                }
                Ok(None) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(_) => return false,
            }
        }
    }

    /// Asks SIPp to place no new call and exit once its calls are over.
    fn soft_stop(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-USR1", &pid.to_string()])
                .status();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIPp's own account of failures, without its header and its notes
    /// about twin instances ending (how the racers learn the run is over).
    fn errors(&self) -> Vec<String> {
        std::fs::read_to_string(&self.errors)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                !l.trim().is_empty()
                    && !l.starts_with("The following events occurred")
                    && !l.contains("twin instances has ended")
                    && !l.contains("remote control socket")
            })
            .map(|l| l.chars().take(300).collect())
            .collect()
    }
}

/// Seconds and microseconds logged as `%lf` pairs, as one instant.
fn instant(s: &str, us: &str) -> Option<f64> {
    Some(s.parse::<f64>().ok()? + us.parse::<f64>().ok()? / 1e6)
}

fn since(from: f64, to: f64) -> Duration {
    Duration::from_secs_f64((to - from).max(0.0))
}

/// A racer's final response, from its log line
/// `RESULT <call-id>-r<k> <code> <outcome> <racer> t0s t0us t1s t1us`.
struct RacerResult {
    call: String,
    code: String,
    outcome: String,
    took: Duration,
}

fn parse_racer(line: &str) -> Option<RacerResult> {
    let w: Vec<&str> = line.split_whitespace().collect();
    if w.len() != 9 || w[0] != "RESULT" {
        return None;
    }
    let (call, _) = w[1].rsplit_once("-r")?;
    Some(RacerResult {
        call: call.to_owned(),
        code: w[2].to_owned(),
        outcome: w[3]
            .strip_prefix("PICKUP_RESULT_")
            .unwrap_or(w[3])
            .to_owned(),
        took: since(instant(w[5], w[6])?, instant(w[7], w[8])?),
    })
}

/// A completed call, from the caller's log line
/// `CALL <call-id> <callee> t0s t0us t1s t1us t2s t2us` (INVITE, 180, 200).
struct CallerCall {
    call: String,
    /// When the 200 came, in seconds since the epoch.
    answered_at: f64,
    ringing: Duration,
    answered: Duration,
}

fn parse_caller(line: &str) -> Option<CallerCall> {
    let w: Vec<&str> = line.split_whitespace().collect();
    if w.len() != 9 || w[0] != "CALL" {
        return None;
    }
    let t0 = instant(w[3], w[4])?;
    Some(CallerCall {
        call: w[1].to_owned(),
        answered_at: instant(w[7], w[8])?,
        ringing: since(t0, instant(w[5], w[6])?),
        answered: since(t0, instant(w[7], w[8])?),
    })
}

/// Tallies the calls: each completed call must have exactly one 200 among
/// its `racers` racers, and a final response from each. A racer SIPp ends
/// with its caller SIPp, so a loser still waiting for its 410 when the run
/// ends is cut: calls answered within [`CUT`] of `ended` (seconds since the
/// epoch) that miss a racer are counted apart.
fn tally(
    rec: &mut Recorder,
    calls: &[CallerCall],
    results: &[RacerResult],
    racers: usize,
    ended: f64,
) {
    let mut by_call: HashMap<&str, Vec<&RacerResult>> = HashMap::new();
    for r in results {
        rec.outcome(&format!("racer {}", r.code), &r.outcome);
        by_call.entry(r.call.as_str()).or_default().push(r);
    }
    for c in calls {
        rec.latency("caller INVITE to 180", c.ringing);
        rec.latency("caller INVITE to 200", c.answered);
        let rs = by_call.remove(c.call.as_str()).unwrap_or_default();
        let winners = rs.iter().filter(|r| r.code == "200").count();
        for r in &rs {
            if r.code == "200" {
                rec.latency("setup: winner INVITE to 200", r.took);
            } else {
                rec.latency("loser INVITE to final response", r.took);
            }
        }
        match winners {
            1 => rec.count(ONE_WINNER, 1),
            0 => rec.count(NO_WINNER, 1),
            _ => rec.count(SEVERAL_WINNERS, 1),
        }
        if rs.len() != racers {
            if ended - c.answered_at < CUT.as_secs_f64() {
                rec.count(CUT_RACERS, 1);
            } else {
                rec.count(MISSING_RACERS, 1);
            }
        }
    }
    rec.count(ORPHANS, by_call.values().map(|v| v.len() as u64).sum());
}

/// One bank's phones: which slots, and its processes once started.
struct Bank {
    index: usize,
    edge: String,
    tenant: String,
    slots: Vec<usize>,
}

/// Gives every extension of the call slots a SIP password, over gRPC.
async fn provision(ctx: &Ctx, racers: usize) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let mut writes = 0;
    let mut dir = DirectoryClient::new(ctx.pool.for_slot(0));
    let layout = ctx.layout;
    for slot in 0..ctx.concurrency {
        let block = layout.block_of(slot);
        for n in block.numbers.iter().take(racers + 2) {
            let index = n.parse::<u64>()? - crate::layout::number(0).parse::<u64>()?;
            let mut ext = layout.extension(index as u32);
            ext.sip_password = Some(PASSWORD.to_owned());
            dir.put_extension(v1::PutExtensionRequest {
                tenant: block.tenant.clone(),
                extension: Some(ext),
            })
            .await
            .with_context(|| format!("giving {n} a SIP password"))?;
            writes += 1;
        }
    }
    Ok((writes, started.elapsed()))
}

/// Registers `numbers` from `ip:port` (one SIPp run, one REGISTER each).
async fn register(
    bin: &Path,
    dir: &Path,
    name: &str,
    bank: &Bank,
    at: (&str, u16),
    numbers: &[String],
) -> anyhow::Result<()> {
    let inf = dir.join(format!("{name}.csv"));
    std::fs::write(&inf, format!("SEQUENTIAL\n{}\n", numbers.join("\n")))?;
    let extra = [
        "-inf".to_owned(),
        inf.display().to_string(),
        "-m".to_owned(),
        numbers.len().to_string(),
        "-l".to_owned(),
        "8".to_owned(),
    ];
    let sf = dir.join("register.xml");
    let mut run = Sipp::start(bin, dir, name, bank, &sf, at, &extra)?;
    let ok = run.wait(Instant::now() + Duration::from_secs(30)).await;
    let registered = run.log().matches("REGISTERED").count();
    anyhow::ensure!(
        ok && registered == numbers.len(),
        "{name}: {registered} of {} phones registered through {}: {:?}",
        numbers.len(),
        bank.edge,
        run.errors()
    );
    Ok(())
}

/// Runs the SIP phase; returns what it recorded and how long it took.
async fn sip_phase(
    ctx: &Ctx,
    args: &SipRaceArgs,
    sipp: &Path,
    dir: &Path,
) -> anyhow::Result<(Recorder, Duration)> {
    let k = args.racers;
    let edges = if args.sip.is_empty() {
        ctx.sip.clone()
    } else {
        args.sip.clone()
    };
    anyhow::ensure!(
        !edges.is_empty(),
        "no SIP edge to drive: give --sip ADDR (the edge of each --target), or use --spawn"
    );
    let banks = args
        .banks
        .unwrap_or(ctx.concurrency.div_ceil(SLOTS_PER_BANK))
        .clamp(1, ctx.concurrency.min(MAX_BANKS));
    for (name, text) in [
        ("register.xml", REGISTER_XML.to_owned()),
        ("callee.xml", CALLEE_XML.to_owned()),
        ("racer.xml", RACER_XML.to_owned()),
        ("dispatcher.xml", dispatcher_scenario(k)),
    ] {
        std::fs::write(dir.join(name), text)?;
    }
    // Bank b holds slots b, b + banks, ...; all of a bank's slots are in
    // one tenant when the slots of a bank go round the tenants evenly.
    let mut by_tenant: Vec<Bank> = Vec::new();
    for b in 0..banks {
        let slots: Vec<usize> = (b..ctx.concurrency).step_by(banks).collect();
        let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
        for s in slots {
            groups
                .entry(ctx.layout.block_of(s).tenant)
                .or_default()
                .push(s);
        }
        let mut groups: Vec<_> = groups.into_iter().collect();
        groups.sort();
        for (tenant, slots) in groups {
            let index = by_tenant.len();
            anyhow::ensure!(
                index < 250,
                "too many banks x tenants (at most 250): lower --banks or --tenants"
            );
            by_tenant.push(Bank {
                index,
                edge: edges[index % edges.len()].clone(),
                tenant,
                slots,
            });
        }
    }
    let banks = by_tenant;

    // Register the callees and racers, each bank's role from the address
    // and port it then listens on; then start the callees and the racers.
    let mut waiting: Vec<Sipp> = Vec::new();
    let mut racers: Vec<(String, u16)> = Vec::new();
    let registered = Instant::now();
    for bank in &banks {
        let blocks: Vec<_> = bank.slots.iter().map(|s| ctx.layout.block_of(*s)).collect();
        let mut twins = String::new();
        for role in 1..k + 2 {
            let ip = bank_ip(bank.index, role);
            let port = free_udp(&ip)?;
            let numbers: Vec<String> = blocks.iter().map(|b| b.numbers[role].clone()).collect();
            let name = format!(
                "b{}-{}",
                bank.index,
                if role == 1 {
                    "callee".to_owned()
                } else {
                    format!("racer{}", role - 1)
                }
            );
            register(
                sipp,
                dir,
                &format!("{name}-register"),
                bank,
                (&ip, port),
                &numbers,
            )
            .await?;
            if role == 1 {
                let sf = dir.join("callee.xml");
                waiting.push(Sipp::start(sipp, dir, &name, bank, &sf, (&ip, port), &[])?);
            } else {
                let twin = free_tcp(&ip)?;
                let _ = writeln!(twins, "s{};{ip}:{twin}", role - 1);
                racers.push((ip, port));
            }
        }
        let master_ip = bank_ip(bank.index, 0);
        let master_twin = free_tcp(&master_ip)?;
        let _ = writeln!(twins, "m;{master_ip}:{master_twin}");
        let dispatcher_ip = bank_ip(bank.index, k + 2);
        let dispatcher_twin = free_tcp(&dispatcher_ip)?;
        let _ = writeln!(twins, "d;{dispatcher_ip}:{dispatcher_twin}");
        let slave = |name: String, peer: String, scenario: &str, (ip, port): (&str, u16)| {
            start_slave(
                sipp,
                dir,
                bank,
                &twins,
                (&name, &peer),
                scenario,
                (ip, port),
            )
        };
        for (r, (ip, port)) in racers.drain(..).enumerate() {
            let name = format!("b{}-racer{}", bank.index, r + 1);
            waiting.push(slave(
                name,
                format!("s{}", r + 1),
                "racer.xml",
                (&ip, port),
            )?);
        }
        let port = free_udp(&dispatcher_ip)?;
        let name = format!("b{}-dispatcher", bank.index);
        waiting.push(slave(
            name,
            "d".into(),
            "dispatcher.xml",
            (&dispatcher_ip, port),
        )?);
        std::fs::write(dir.join(format!("b{}-caller.cfg", bank.index)), &twins)?;
        let lines: Vec<String> = blocks
            .iter()
            .map(|b| b.numbers[..k + 2].join(";"))
            .collect();
        std::fs::write(
            dir.join(format!("b{}-caller.csv", bank.index)),
            format!("USER\n{}\n", lines.join("\n")),
        )?;
    }
    eprintln!(
        "sip: {} bank(s) of phones registered in {:.2} s",
        banks.len(),
        registered.elapsed().as_secs_f64()
    );
    // The racers listen for their master before it starts.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Each caller places calls in a loop (keeping its digest challenge)
    // until the run's end or its share of the calls.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let (stop_at, max_calls) = match ctx.budget {
        Budget::For(d) => (now + d.as_secs_f64(), u64::MAX >> 12),
        Budget::Ops(n) => (
            f64::from(u32::MAX),
            n.div_ceil(ctx.concurrency as u64).max(1),
        ),
    };
    std::fs::write(
        dir.join("caller.xml"),
        caller_scenario(k, stop_at, max_calls),
    )?;
    let started = Instant::now();
    let mut masters = Vec::new();
    for bank in &banks {
        let ip = bank_ip(bank.index, 0);
        let port = free_udp(&ip)?;
        let extra = vec![
            "-inf".to_owned(),
            dir.join(format!("b{}-caller.csv", bank.index))
                .display()
                .to_string(),
            "-master".to_owned(),
            "m".to_owned(),
            "-slave_cfg".to_owned(),
            dir.join(format!("b{}-caller.cfg", bank.index))
                .display()
                .to_string(),
            "-users".to_owned(),
            bank.slots.len().to_string(),
            "-r".to_owned(),
            "100000".to_owned(),
            // One SIPp call per caller phone: it loops over its calls.
            "-m".to_owned(),
            bank.slots.len().to_string(),
        ];
        let sf = dir.join("caller.xml");
        let name = format!("b{}-caller", bank.index);
        masters.push(Sipp::start(
            sipp,
            dir,
            &name,
            bank,
            &sf,
            (&ip, port),
            &extra,
        )?);
    }
    let deadline = match ctx.budget {
        Budget::For(d) => {
            tokio::time::sleep(d).await;
            for m in &masters {
                m.soft_stop();
            }
            Instant::now() + DRAIN
        }
        Budget::Ops(_) => Instant::now() + Duration::from_secs(600),
    };
    let mut rec = Recorder::default();
    for m in &mut masters {
        if !m.wait(deadline).await {
            rec.count(FAILED_CALLERS, 1);
        }
    }
    let elapsed = started.elapsed();
    let ended = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    // The racers end with their master; the callees are asked to.
    for w in &waiting {
        w.soft_stop();
    }
    let end = Instant::now() + Duration::from_secs(10);
    for w in &mut waiting {
        w.wait(end).await;
    }

    let calls: Vec<CallerCall> = masters
        .iter()
        .flat_map(|m| m.log().lines().filter_map(parse_caller).collect::<Vec<_>>())
        .collect();
    let results: Vec<RacerResult> = waiting
        .iter()
        .flat_map(|w| w.log().lines().filter_map(parse_racer).collect::<Vec<_>>())
        .collect();
    let cancelled = waiting
        .iter()
        .map(|w| w.log().matches("CANCELLED").count() as u64)
        .sum();
    rec.count("sip callee INVITEs cancelled", cancelled);
    tally(&mut rec, &calls, &results, k, ended);
    // SIPp's own events (overload warnings, aborted calls) are counted and
    // their first lines told on stderr; the checks above judge the calls.
    for p in masters.iter().chain(&waiting) {
        let errors = p.errors();
        let overload = errors
            .iter()
            .filter(|e| e.contains("Overload warning"))
            .count();
        rec.count(
            "sipp overload warnings (SIPp itself starved)",
            overload as u64,
        );
        let other = errors.len() - overload;
        if other > 0 {
            rec.count("sipp other error events", other as u64);
            eprintln!(
                "sipp {}: {}",
                p.name,
                errors
                    .iter()
                    .find(|e| !e.contains("Overload warning"))
                    .map_or("", String::as_str)
            );
        }
    }
    Ok((rec, elapsed))
}

pub async fn run(ctx: &Ctx, args: &SipRaceArgs) -> anyhow::Result<ScenarioResult> {
    anyhow::ensure!(args.racers >= 1, "--racers must be at least 1");
    let sipp = ensure_sipp(&args.sipp)?;

    // The gRPC race first, same process, same concurrency and racers.
    let cpu_before_grpc = Cpu::now(&ctx.node_pids);
    let grpc = if args.no_grpc_race {
        None
    } else {
        let race = RaceArgs {
            racers: args.racers,
            kind: RaceKind::Directed,
            verify: false,
            direct: false,
        };
        eprintln!("sip-race: the gRPC race first ({} racers)", args.racers);
        Some(super::race::run(ctx, &race).await?)
    };

    let grpc_cpu = Cpu::now(&ctx.node_pids).since(&cpu_before_grpc);
    let (writes, took) = provision(ctx, args.racers).await?;
    eprintln!(
        "sip-race: {writes} SIP passwords set over gRPC in {:.2} s",
        took.as_secs_f64()
    );
    let tmp;
    let dir = match &args.keep_logs {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("callgrid-sip-race-")
                .tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let cpu_before_sip = Cpu::now(&ctx.node_pids);
    let (rec, elapsed) = sip_phase(ctx, args, &sipp, &dir).await?;
    let sip_cpu = Cpu::now(&ctx.node_pids).since(&cpu_before_sip);
    if rec.counter(ONE_WINNER) == 0 && rec.error_total() > 0 {
        bail!(
            "no SIP call completed: {:?}",
            rec.errors
                .iter()
                .next()
                .map(|(k, e)| format!("{k}: {}", e.example))
        );
    }

    let setup = rec
        .latency
        .get("setup: winner INVITE to 200")
        .map(|l| l.summary())
        .unwrap_or_default();
    let decided = rec.counter(ONE_WINNER);
    let headline = Measured::new(
        "sip race setup",
        &format!(
            "latency: the winning racer's first INVITE (*97<callee>, digest-challenged) to its \
             200 OK ({} racers per call, SIPp phones); throughput: SIP calls with exactly one \
             200 OK per second",
            args.racers
        ),
        setup,
        decided,
        elapsed,
    );
    let (none, several, missing, orphans) = (
        rec.counter(NO_WINNER),
        rec.counter(SEVERAL_WINNERS),
        rec.counter(MISSING_RACERS),
        rec.counter(ORPHANS),
    );
    let calls = decided + none + several;
    let check = Check::new(
        "exactly one 200 OK per SIP call",
        calls > 0 && none == 0 && several == 0 && missing == 0,
        format!(
            "{calls} calls completed (caller got 200 then BYE): {decided} with one 200 among the \
             racers, {none} with none, {several} with several, {missing} missing a racer's final \
             response; {orphans} racer results of calls the caller did not complete (cut by the \
             end of the run or failed)"
        ),
    );
    let failed = rec.counter(FAILED_CALLERS);
    let mut checks = vec![
        check,
        Check::new(
            "every caller SIPp ended with no failed call",
            failed == 0,
            format!(
                "{failed} caller SIPp(s) exited reporting failed calls (see their .err files with --keep-logs)"
            ),
        ),
    ];
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = decided as f64 / secs;
    let mut compared = Vec::new();
    let mut grpc_ops = Vec::new();
    let mut grpc_rates = Vec::new();
    if let Some(g) = &grpc {
        for c in &g.checks {
            checks.push(Check::new(
                &format!("gRPC race: {}", c.name),
                c.passed,
                c.detail.clone(),
            ));
        }
        let g_rate = g.rates.get("calls decided").copied().unwrap_or(0.0);
        let g_win = g
            .operations
            .get("pickup (winner)")
            .copied()
            .unwrap_or_default();
        let ms = |us: u64| us as f64 / 1000.0;
        compared.push(Compared::new("calls decided /s", rate, g_rate));
        compared.push(Compared::new(
            "winner setup p50 (ms)",
            ms(setup.p50_us),
            ms(g_win.p50_us),
        ));
        compared.push(Compared::new(
            "winner setup p99 (ms)",
            ms(setup.p99_us),
            ms(g_win.p99_us),
        ));
        // Who spent the cores, per call decided: the node (edge included
        // on the SIP side) and the load generator (SIPp phones against the
        // in-process gRPC driver).
        let (sip_calls, g_calls) = (decided as f64, g.headline.ops as f64);
        if !ctx.node_pids.is_empty() && decided > 0 && g_calls > 0.0 {
            compared.push(Compared::new(
                "node CPU per call (ms)",
                sip_cpu.nodes_ms / sip_calls,
                grpc_cpu.nodes_ms / g_calls,
            ));
            compared.push(Compared::new(
                "load generator CPU per call (ms)",
                (sip_cpu.reaped_ms + sip_cpu.driver_ms) / sip_calls,
                grpc_cpu.driver_ms / g_calls,
            ));
            eprintln!(
                "sip-race: node CPU per call {:.2} ms (SIP, edge included) against {:.2} ms (gRPC); \
                 load generator {:.2} ms (SIPp and driver) against {:.2} ms (driver)",
                sip_cpu.nodes_ms / sip_calls,
                grpc_cpu.nodes_ms / g_calls,
                (sip_cpu.reaped_ms + sip_cpu.driver_ms) / sip_calls,
                grpc_cpu.driver_ms / g_calls,
            );
        }
        for (op, s) in &g.operations {
            grpc_ops.push((format!("gRPC race: {op}"), *s));
        }
        for (k, v) in &g.rates {
            grpc_rates.push((format!("gRPC race {k}"), *v));
        }
        let ratio = divide_or_zero(rate, g_rate);
        eprintln!(
            "sip-race: {rate:.0} SIP calls/s against {g_rate:.0} gRPC race calls/s: ratio {ratio:.2} \
             (target >= 0.80: {})",
            if ratio >= 0.8 { "met" } else { "not met" }
        );
    }
    let mut result = ScenarioResult::new(headline, rec, checks);
    result.compared = compared;
    result.operations.extend(grpc_ops);
    result.rates.insert("sip calls decided".into(), rate);
    result.rates.extend(grpc_rates);
    Ok(result)
}

fn divide_or_zero(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caller_sends_one_command_naming_every_racer_and_keeps_its_bounds() {
        let xml = caller_scenario(3, 1_800_000_000.5, 42);
        assert!(!xml.contains("RACER EXTENSIONS"));
        assert_eq!(xml.matches("<sendCmd").count(), 1);
        assert!(xml.contains("<sendCmd dest=\"d\">"));
        assert!(xml.contains("X-Racer3: [field4]"));
        assert!(!xml.contains("X-Racer4:"));
        assert!(xml.contains("X-Call: [$n]"));
        assert!(xml.contains("value=\"1800000000.500\""));
        assert!(xml.contains("value=\"42\""));
        assert!(!xml.contains("STOP_AT") && !xml.contains("MAX_CALLS"));
    }

    #[test]
    fn the_dispatcher_tells_each_racer_its_own_extension() {
        let xml = dispatcher_scenario(3);
        assert!(!xml.contains("<!-- RACERS -->") && !xml.contains("RACER EXTENSIONS"));
        assert_eq!(xml.matches("<sendCmd").count(), 3);
        assert_eq!(xml.matches("<ereg").count(), 2 + 3);
        assert!(xml.contains("header=\"X-Racer3:\" assign_to=\"r3\""));
        assert!(xml.contains("<sendCmd dest=\"s3\">"));
        assert!(xml.contains("Call-ID: [call_id]-r3"));
        assert!(xml.contains("X-Racer: [$r3]"));
    }

    #[test]
    fn logs_parse_into_calls_and_one_winner_is_checked() {
        let call = parse_caller(
            "CALL 2.000000-1-9@127.77.0.1 1000001 10.000000 0.000000 10.000000 5000.000000 10.000000 \
             20000.000000",
        )
        .expect("a call line");
        assert_eq!(call.answered, Duration::from_millis(20));
        let won = parse_racer(
            "RESULT 2.000000-1-9@127.77.0.1-r1 200 WON 1000002 10.000000 5000.000000 10.000000 \
             19000.000000",
        )
        .expect("a winner");
        let lost = parse_racer(
            "RESULT 2.000000-1-9@127.77.0.1-r2 410 PICKUP_RESULT_ALREADY_ANSWERED 1000003 10.000000 \
             5000.000000 10.000000 21000.000000",
        )
        .expect("a loser");
        assert_eq!(won.call, "2.000000-1-9@127.77.0.1");
        assert_eq!(lost.outcome, "ALREADY_ANSWERED");
        let mut rec = Recorder::default();
        tally(&mut rec, &[call], &[won, lost], 2, 100.0);
        assert_eq!(rec.counter(ONE_WINNER), 1);
        assert_eq!(rec.counter(MISSING_RACERS), 0);
        let s = rec.latency["setup: winner INVITE to 200"].summary();
        assert_eq!(s.p50_us / 1000, 14);
    }
}
