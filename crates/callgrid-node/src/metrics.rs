//! Prometheus metrics: the recorder, the `/metrics` endpoint, and the
//! gauges sampled from Raft and the switchboard.
//!
//! Counters and histograms are recorded where things happen (gRPC
//! handlers, proposals, the log store); this module owns only what is
//! sampled: Raft's term, leader, indexes and lag, and calls by state.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::{Router, routing::get};
use callgrid_model::CallState;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::consensus::Consensus;
use callgrid_actors::Owners;

/// Installs the process-wide recorder. Call once per process.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&[
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.5, 5.0, 10.0,
        ])?
        // A count of entries, not seconds: powers of two up to a large batch.
        .set_buckets_for_metric(
            Matcher::Full("callgrid_raft_append_batch_entries".into()),
            &[
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
            ],
        )?
        .set_buckets_for_metric(
            Matcher::Full("callgrid_storage_flush_waiters".into()),
            &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
        )?
        .install_recorder()?;
    describe();
    Ok(handle)
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "callgrid_grpc_requests_total",
        "gRPC requests by method and status code"
    );
    describe_histogram!(
        "callgrid_grpc_request_duration_seconds",
        Unit::Seconds,
        "gRPC request latency by method"
    );
    describe_counter!("callgrid_pickups_total", "Pickups by kind and outcome");
    describe_counter!("callgrid_answers_total", "Answers by outcome");
    describe_counter!("callgrid_parks_total", "Parks by outcome");
    describe_counter!("callgrid_retrieves_total", "Retrieves by outcome");
    describe_counter!("callgrid_dials_total", "Dials by outcome");
    describe_counter!(
        "callgrid_ring_backs_total",
        "Parked calls rung back to their parker"
    );
    describe_gauge!("callgrid_calls", "Calls by state");
    describe_gauge!("callgrid_parked_calls", "Calls now parked");
    describe_gauge!("callgrid_actors", "Owner actors running, by kind");
    describe_gauge!(
        "callgrid_actor_mailbox_depth",
        "Decisions queued at owner actors and not yet taken up, by kind"
    );
    describe_gauge!("callgrid_raft_term", "Current Raft term");
    describe_gauge!("callgrid_raft_leader", "Current Raft leader id (0: none)");
    describe_gauge!(
        "callgrid_raft_is_leader",
        "1 if this node is the Raft leader"
    );
    describe_gauge!(
        "callgrid_raft_last_log_index",
        "Highest log index in this node's log"
    );
    describe_gauge!(
        "callgrid_raft_applied_index",
        "Highest log index applied here"
    );
    describe_gauge!(
        "callgrid_raft_apply_lag",
        "Logged but not yet applied entries"
    );
    describe_histogram!(
        "callgrid_raft_proposal_duration_seconds",
        Unit::Seconds,
        "Time from proposal to applied, by command"
    );
    describe_histogram!(
        "callgrid_storage_flush_seconds",
        Unit::Seconds,
        "sled flush latency for log appends"
    );
    describe_histogram!(
        "callgrid_raft_append_batch_entries",
        "Entries per log append"
    );
    describe_histogram!(
        "callgrid_peer_rpc_seconds",
        Unit::Seconds,
        "Raft RPCs this node sent to another (append, vote, snapshot), from send to answer"
    );
    describe_histogram!(
        "callgrid_peer_served_seconds",
        Unit::Seconds,
        "Raft RPCs this node answered for another (append, vote, snapshot), from decode to reply"
    );
    describe_counter!(
        "callgrid_raft_commit_notices_total",
        "Commit indexes sent to a follower beside its replication stream, by outcome (sent, carried by a later append, failed, timed_out)"
    );
    describe_histogram!(
        "callgrid_storage_flush_waiters",
        "Appends and votes made durable by one flush (group commit)"
    );
    describe_counter!(
        "callgrid_presence_events_total",
        "Lamp changes and notices published to this node's presence streams"
    );
    describe_counter!(
        "callgrid_stale_timers_total",
        "Call timers that went off after their call was answered, ended or re-timed: no tick proposed"
    );
    describe_histogram!(
        "callgrid_raft_snapshot_build_seconds",
        Unit::Seconds,
        "Building and persisting a snapshot of the applied state"
    );
    describe_histogram!(
        "callgrid_raft_log_purge_seconds",
        Unit::Seconds,
        "Deleting the log entries a snapshot covers"
    );
    describe_histogram!(
        "callgrid_runtime_lag_seconds",
        Unit::Seconds,
        "How late a 10 ms timer task runs: time the async workers were all busy or blocked"
    );
    describe_gauge!(
        "callgrid_shards_owned",
        "Virtual shards this node owns under the applied shard map"
    );
    describe_gauge!("callgrid_shard_map_epoch", "Epoch of the applied shard map");
    describe_gauge!(
        "callgrid_streams_open",
        "Presence streams (WatchLamps and Notifications) open on this node"
    );
    describe_gauge!(
        "callgrid_stream_lamps_watched",
        "Lamps watched across all open WatchLamps streams (capped by --max-watched-lamps)"
    );
    describe_counter!(
        "callgrid_sip_auth_failures_total",
        "SIP digest answers the registrar refused (wrong password, or no such extension or tenant)"
    );
    describe_counter!(
        "callgrid_auth_refusals_total",
        "Requests refused by the token check (or, for Peer, mutual TLS), by method and status code"
    );
    describe_gauge!(
        "callgrid_park_codes_in_use",
        "Park codes in park policies' ranges now taken: summed over every tenant, or by tenant and policy with --metrics-per-tenant"
    );
    describe_gauge!(
        "callgrid_park_codes_capacity",
        "Park codes in park policies' ranges: summed over every tenant, or by tenant and policy with --metrics-per-tenant"
    );
}

/// Serves `/metrics` on `listener` until `shutdown` flips.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await?;
    Ok(())
}

/// Samples Raft and switchboard gauges every second. Tenant and policy
/// names label series only with `per_tenant` (`--metrics-per-tenant`):
/// `/metrics` is unauthenticated, and those names are customers' data.
pub async fn sample(
    consensus: Consensus,
    owners: Owners<Consensus>,
    handle: PrometheusHandle,
    per_tenant: bool,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    let mut park_series = BTreeSet::new();
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        handle.run_upkeep();
        let m = consensus.raft.metrics().borrow().clone();
        let committed = m.last_log_index.unwrap_or(0);
        let applied = m.last_applied.map(|l| l.index).unwrap_or(0);
        metrics::gauge!("callgrid_raft_term").set(m.current_term as f64);
        metrics::gauge!("callgrid_raft_leader").set(m.current_leader.unwrap_or(0) as f64);
        metrics::gauge!("callgrid_raft_is_leader").set(
            if m.current_leader == Some(consensus.node_id) {
                1.0
            } else {
                0.0
            },
        );
        metrics::gauge!("callgrid_raft_last_log_index").set(committed as f64);
        metrics::gauge!("callgrid_raft_applied_index").set(applied as f64);
        metrics::gauge!("callgrid_raft_apply_lag").set(committed.saturating_sub(applied) as f64);
        metrics::gauge!("callgrid_owner_actors_registered").set(owners.len() as f64);
        let (shards, epoch) = consensus.read(|sb| {
            (
                sb.shard_map().owned_by(consensus.node_id),
                sb.shard_map().epoch,
            )
        });
        metrics::gauge!("callgrid_shards_owned").set(shards as f64);
        metrics::gauge!("callgrid_shard_map_epoch").set(epoch as f64);
        let (ringing, answered, parked, ended) = consensus.read(|sb| {
            let mut counts = (0u64, 0u64, 0u64, 0u64);
            for (_, tenant) in sb.tenants() {
                counts.2 += tenant.parked.len() as u64;
            }
            for c in sb.calls() {
                match c.state {
                    CallState::Ringing { .. } => counts.0 += 1,
                    CallState::Answered { .. } => counts.1 += 1,
                    CallState::Parked { .. } => {}
                    CallState::Ended { .. } => counts.3 += 1,
                }
            }
            counts
        });
        metrics::gauge!("callgrid_calls", "state" => "ringing").set(ringing as f64);
        metrics::gauge!("callgrid_calls", "state" => "answered").set(answered as f64);
        metrics::gauge!("callgrid_calls", "state" => "parked").set(parked as f64);
        metrics::gauge!("callgrid_calls", "state" => "ended").set(ended as f64);
        metrics::gauge!("callgrid_parked_calls").set(parked as f64);
        park_series = sample_park_codes(&consensus, per_tenant, park_series);
    }
}

/// How often the lag probe wakes.
const LAG_PROBE_EVERY: Duration = Duration::from_millis(10);
/// Lag above this is logged, not only counted.
const LAG_WORTH_LOGGING: Duration = Duration::from_millis(100);

/// Measures how late the runtime runs a task that asks to wake every
/// 10 ms. A late wake-up means every async worker was busy or blocked for
/// that long: a node-wide pause, which delays every request and stream
/// alike. Long pauses are logged with their length so they can be lined
/// up with whatever else the node logged.
pub async fn probe_runtime_lag(mut shutdown: watch::Receiver<bool>) {
    let mut next = tokio::time::Instant::now() + LAG_PROBE_EVERY;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let lag = tokio::time::Instant::now().saturating_duration_since(next);
        metrics::histogram!("callgrid_runtime_lag_seconds").record(lag.as_secs_f64());
        if lag >= LAG_WORTH_LOGGING {
            tracing::warn!(lag_ms = lag.as_millis() as u64, "async workers paused");
        }
        next = tokio::time::Instant::now() + LAG_PROBE_EVERY;
    }
}

/// Sets the park-code gauges of every tenant's park policies, so an alert
/// can fire before a range is full (a full range refuses every park).
/// Codes are unique tenant-wide, so a policy's range is used up by any
/// parked call whose code falls in it, whatever policy parked it.
/// Without `per_tenant` the series carry no labels: in use and capacity
/// summed over every policy of every tenant. With it, one series per
/// tenant and policy; returns the series set now, and those of deleted
/// policies (in `before` but gone) are zeroed, since the exporter cannot
/// remove a series.
fn sample_park_codes(
    consensus: &Consensus,
    per_tenant: bool,
    before: BTreeSet<(String, String)>,
) -> BTreeSet<(String, String)> {
    let ranges = consensus.read(|sb| {
        let mut ranges = Vec::new();
        for (tenant, t) in sb.tenants() {
            for (name, policy) in &t.park_policies {
                // The directory keeps start below end; an empty range here
                // would only mean a policy nobody can park with.
                if policy.code_start > policy.code_end {
                    continue;
                }
                let in_use = t.parked.range(policy.code_start..=policy.code_end).count();
                let capacity = usize::from(policy.code_end.get() - policy.code_start.get()) + 1;
                ranges.push((tenant.to_string(), name.to_string(), in_use, capacity));
            }
        }
        ranges
    });
    if !per_tenant {
        let (in_use, capacity) = ranges
            .iter()
            .fold((0, 0), |(u, c), (_, _, in_use, capacity)| {
                (u + in_use, c + capacity)
            });
        metrics::gauge!("callgrid_park_codes_in_use").set(in_use as f64);
        metrics::gauge!("callgrid_park_codes_capacity").set(capacity as f64);
        return before;
    }
    let mut now = BTreeSet::new();
    for (tenant, policy, in_use, capacity) in ranges {
        let labels = [("tenant", tenant.clone()), ("policy", policy.clone())];
        metrics::gauge!("callgrid_park_codes_in_use", &labels).set(in_use as f64);
        metrics::gauge!("callgrid_park_codes_capacity", &labels).set(capacity as f64);
        now.insert((tenant, policy));
    }
    for (tenant, policy) in before.difference(&now) {
        let labels = [("tenant", tenant.clone()), ("policy", policy.clone())];
        metrics::gauge!("callgrid_park_codes_in_use", &labels).set(0.0);
        metrics::gauge!("callgrid_park_codes_capacity", &labels).set(0.0);
    }
    now
}
