//! The scenarios, and the run that wraps each one: targets, directory
//! setup, baselines, the scenario itself, the report.

mod blf;
mod mix;
mod park;
mod race;
mod sip_race;

use std::time::Duration;

use anyhow::Context;

use crate::cli::{Cli, Peer, Scenario};
use crate::layout::Layout;
use crate::report::{Compared, Measured, Report, ScenarioResult, TargetInfo};
use crate::runner::Budget;
use crate::target::{self, Pool, SpawnedNode};
use crate::{baseline, lag, peer, plot, setup};

/// The default run length when neither --duration nor --ops is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// What every scenario runs with.
pub struct Ctx {
    /// Unary RPCs (with a per-RPC timeout).
    pub pool: Pool,
    pub endpoints: Vec<String>,
    pub layout: Layout,
    pub concurrency: usize,
    pub budget: Budget,
    pub seed: u64,
    /// SIP edges of the nodes this run spawned (learned from their logs).
    pub sip: Vec<String>,
    /// Process ids of the nodes this run spawned (for their CPU time).
    pub node_pids: Vec<u32>,
    /// The shard-aware client of a `race --direct` run.
    pub shard_aware: Option<callgrid_client::Client>,
}

/// Extensions per worker block, and connections per target, a scenario needs.
fn needs(scenario: &Scenario, concurrency: usize, targets: usize) -> (u32, usize) {
    let base = concurrency.clamp(1, 16);
    match scenario {
        // Each racer of a call on its own connection, and few streams per
        // connection: up to 64 connections per target.
        Scenario::Race(a) => {
            let racers = (concurrency * a.racers).div_ceil(targets);
            (
                a.racers as u32 + 2,
                racers.clamp(a.racers.div_ceil(targets), 64),
            )
        }
        Scenario::SipRace(a) => {
            let racers = (concurrency * a.racers).div_ceil(targets);
            (
                a.racers as u32 + 2,
                racers.clamp(a.racers.div_ceil(targets), 64),
            )
        }
        Scenario::Park(_) | Scenario::Blf(_) | Scenario::Mix(_) => (0, base),
    }
}

/// Adds the driver's own lag to the result: a latency measured across a
/// driver pause is the driver's, not the cluster's. Each pause is also
/// told on stderr with when it happened, to line up with slow operations.
fn note_driver_lag(result: &mut ScenarioResult, lag: lag::Lag) {
    for (probe, latency) in [(lag::RUNTIME, &lag.runtime), (lag::THREAD, &lag.thread)] {
        result
            .operations
            .insert(format!("lag of the {probe}"), latency.summary());
    }
    for p in &lag.pauses {
        eprintln!(
            "driver paused: the {} woke {:.0} ms late at {:.3} s",
            p.probe,
            p.late.as_secs_f64() * 1e3,
            p.at.as_secs_f64()
        );
    }
    result.counters.insert(
        format!("driver pauses of {} ms or more", lag::PAUSE.as_millis()),
        lag.pauses.len() as u64,
    );
}

/// Starts or names the nodes to drive.
fn targets(cli: &Cli) -> anyhow::Result<(Vec<String>, Vec<SpawnedNode>, String)> {
    let c = &cli.common;
    if let Some(n) = c.spawn {
        anyhow::ensure!(n >= 1, "--spawn needs at least 1 node");
        let bin = match &c.node_bin {
            Some(p) => p.clone(),
            None => target::default_node_bin()?,
        };
        let mut node_args = Vec::new();
        if let Some(placement) = &c.shard_placement {
            node_args.extend(["--shard-placement".to_owned(), placement.clone()]);
        }
        if let Some(threads) = c.worker_threads {
            node_args.extend(["--worker-threads".to_owned(), threads.to_string()]);
        }
        let first = target::spawn_node(&bin, c.timer_scale, 1, None, &node_args)?;
        let seed = first.endpoint.trim_start_matches("http://").to_owned();
        let mut nodes = vec![first];
        for id in 2..=n as u64 {
            nodes.push(target::spawn_node(
                &bin,
                c.timer_scale,
                id,
                Some(&seed),
                &node_args,
            )?);
        }
        let endpoints: Vec<String> = nodes.iter().map(|n| n.endpoint.clone()).collect();
        let mut note = if n == 1 {
            "single node, spawned".to_owned()
        } else {
            format!("{n}-node cluster, spawned")
        };
        if let Some(cpus) = &c.node_cpus {
            for node in &nodes {
                crate::cpu::pin(node.pid(), cpus)?;
            }
            note.push_str(&format!(", nodes on CPUs {cpus}"));
        }
        return Ok((endpoints, nodes, note));
    }
    anyhow::ensure!(
        !c.targets.is_empty(),
        "give the nodes to drive with --target ADDR (repeatable), or start one with --spawn 1"
    );
    let endpoints: Vec<String> = c.targets.iter().map(|t| target::endpoint_uri(t)).collect();
    let note = format!("{} target node(s)", endpoints.len());
    Ok((endpoints, Vec::new(), note))
}

/// Runs the whole benchmark the command line asks for and prints its report.
pub async fn run(cli: Cli) -> anyhow::Result<Report> {
    let c = cli.common.clone();
    anyhow::ensure!(c.concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(
        c.peer.is_none() || matches!(cli.scenario, Scenario::Race(_)),
        "--peer races beside the race scenario only"
    );
    let (endpoints, spawned, mut note) = targets(&cli)?;
    // After the nodes start, so that they do not inherit the driver's CPUs.
    if let Some(cpus) = &c.driver_cpus {
        crate::cpu::pin(std::process::id(), cpus)?;
        note.push_str(&format!(", driver on CPUs {cpus}"));
    }
    if spawned.len() > 1 {
        let on_leader = c.shard_placement.as_deref() == Some("leader");
        target::wait_cluster(
            &endpoints[0],
            spawned.len(),
            on_leader,
            Duration::from_secs(60),
        )
        .await?;
    }
    let (block, default_conns) = needs(&cli.scenario, c.concurrency, endpoints.len());
    let pool = Pool::connect(&endpoints, c.connections.unwrap_or(default_conns), false).await?;
    setup::wait_healthy(&pool, Duration::from_secs(30)).await?;
    let layout = Layout::new(c.tenants, c.extensions, c.concurrency, block)?;

    let setup_report = if c.skip_setup {
        None
    } else {
        let s = setup::run(&pool, layout, c.concurrency).await?;
        eprintln!(
            "setup: {} writes in {:.2} s ({:.0}/s)",
            s.writes, s.secs, s.writes_per_sec
        );
        Some(s)
    };
    // A shard-aware run (`race --direct`) learns the shard map once: its
    // bare write goes to the leader, its decisions to their owners.
    let shard_aware = match &cli.scenario {
        Scenario::Race(a) if a.direct => {
            let seeds: Vec<&str> = endpoints.iter().map(String::as_str).collect();
            Some(callgrid_client::Client::connect(&seeds).await?)
        }
        _ => None,
    };
    let baselines = if c.no_baselines {
        Vec::new()
    } else {
        let leader = shard_aware.as_ref().map(callgrid_client::Client::leader);
        baseline::run(&pool, leader, c.concurrency, c.baseline_duration).await?
    };
    let budget = match (c.ops, c.duration) {
        (Some(n), _) => Budget::Ops(n),
        (None, Some(d)) => Budget::For(d),
        (None, None) => Budget::For(DEFAULT_DURATION),
    };
    let ctx = Ctx {
        pool,
        endpoints: endpoints.clone(),
        layout,
        concurrency: c.concurrency,
        budget,
        seed: c.seed,
        sip: spawned.iter().filter_map(|n| n.sip.clone()).collect(),
        node_pids: spawned.iter().map(|n| n.pid()).collect(),
        shard_aware,
    };
    let probes = lag::Probes::start();
    let cpu_before = crate::cpu::Cpu::now(&ctx.node_pids);
    let mut result: ScenarioResult = match &cli.scenario {
        Scenario::Race(a) => race::run(&ctx, a).await?,
        Scenario::Park(a) => park::run(&ctx, a).await?,
        Scenario::Blf(a) => blf::run(&ctx, a).await?,
        Scenario::Mix(a) => mix::run(&ctx, a).await?,
        Scenario::SipRace(a) => sip_race::run(&ctx, a).await?,
    };
    let cpu = crate::cpu::Cpu::now(&ctx.node_pids).since(&cpu_before);
    if let Scenario::Race(_) = &cli.scenario {
        result.plotted.push("pickup".into());
    }
    if let (Some(Peer::Etcd), Scenario::Race(a)) = (c.peer, &cli.scenario) {
        let (members, spawned_members) = peer::members(&c.etcd).await?;
        let member_pids = spawned_members
            .as_ref()
            .map(peer::EtcdCluster::pids)
            .unwrap_or_default();
        let etcd = peer::race(
            &members,
            &member_pids,
            c.concurrency,
            a.racers,
            budget,
            c.baseline_duration,
        )
        .await?;
        let servers_spawned = !ctx.node_pids.is_empty() && !member_pids.is_empty();
        beside_etcd(&mut result, &baselines, etcd, cpu, servers_spawned);
    }
    note_driver_lag(&mut result, probes.finish().await);
    let options = serde_json::json!({ "common": c, "scenario": cli.scenario });
    let target = TargetInfo {
        endpoints,
        spawned_nodes: spawned.len(),
        note,
    };
    let report = Report::new(
        cli.scenario.name(),
        target,
        options,
        setup_report,
        baselines,
        result,
    );
    println!("{}", report.render());
    if let Some(path) = &c.plot {
        let title = format!(
            "callgrid-bench {} ({})",
            report.scenario, report.target.note
        );
        plot::draw(path, &title, &report.result)?;
        eprintln!("plot drawn to {}", path.display());
    }
    if let Some(path) = &c.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(report)
}

/// Puts etcd's figures of the same run beside callgrid's race: decided
/// calls, racer latency, and the bare write (`Cluster.Noop` against an
/// etcd `Put`).
///
/// CPU per decided call (the servers' when this run spawned both sides',
/// and this driver's) tells who spent the shared cores: on a machine where
/// the servers and the driver share few cores, the side that spends less
/// per call decides more calls a second.
fn beside_etcd(
    result: &mut ScenarioResult,
    baselines: &[Measured],
    etcd: peer::PeerRace,
    cpu: crate::cpu::Cpu,
    servers_spawned: bool,
) {
    let ms = |us: u64| us as f64 / 1000.0;
    let ours = |op: &str| result.operations.get(op).copied().unwrap_or_default();
    let (racer, winner) = (ours("pickup"), ours("pickup (winner)"));
    let decided = result.rates.get("calls decided").copied().unwrap_or(0.0);
    let mut compared = vec![
        Compared::new("calls decided /s", decided, etcd.decided_per_sec),
        Compared::new(
            "racer p50 (ms)",
            ms(racer.p50_us),
            ms(etcd.racer.latency.p50_us),
        ),
        Compared::new(
            "racer p99 (ms)",
            ms(racer.p99_us),
            ms(etcd.racer.latency.p99_us),
        ),
        Compared::new(
            "winner p99 (ms)",
            ms(winner.p99_us),
            ms(etcd.winner.latency.p99_us),
        ),
    ];
    if let Some(write) = baselines.iter().find(|b| b.name == baseline::RAFT_WRITE) {
        compared.push(Compared::new(
            "bare write /s",
            write.throughput,
            etcd.put.throughput,
        ));
        compared.push(Compared::new(
            "bare write p50 (ms)",
            ms(write.latency.p50_us),
            ms(etcd.put.latency.p50_us),
        ));
    }
    let per_call = |ms: f64, rate: f64, elapsed: f64| ms / (rate * elapsed).max(1.0);
    let (ours_secs, theirs_secs) = (result.headline.secs, etcd.racer.secs);
    if servers_spawned {
        compared.push(Compared::new(
            "server CPU per decided call (ms)",
            per_call(cpu.nodes_ms, decided, ours_secs),
            per_call(etcd.cpu.nodes_ms, etcd.decided_per_sec, theirs_secs),
        ));
    }
    compared.push(Compared::new(
        "driver CPU per decided call (ms)",
        per_call(cpu.driver_ms, decided, ours_secs),
        per_call(etcd.cpu.driver_ms, etcd.decided_per_sec, theirs_secs),
    ));
    eprintln!(
        "peer: {decided:.0} calls/s decided by callgrid against {:.0} by etcd: ratio {:.2}",
        etcd.decided_per_sec,
        if etcd.decided_per_sec > 0.0 {
            decided / etcd.decided_per_sec
        } else {
            0.0
        }
    );
    result.compared = compared;
    result.compared_with = "etcd".to_owned();
    result.plotted.push("etcd: txn".into());
    result.timeline.extend(etcd.rec.timeline.clone());
    for (op, l) in &etcd.rec.latency {
        result.curves.insert(op.clone(), l.curve());
    }
    result.checks.push(etcd.check);
    for (op, l) in &etcd.rec.latency {
        result.operations.insert(op.clone(), l.summary());
    }
    result
        .operations
        .insert("etcd: put (bare write)".into(), etcd.put.latency);
    for (k, e) in etcd.rec.errors {
        result.errors.insert(k, e);
    }
    result
        .rates
        .insert("etcd calls decided".into(), etcd.decided_per_sec);
}
