//! The deploy/ observability artifacts are valid and match what nodes
//! export: promtool accepts the scrape config and alert rules (and the
//! rules' unit tests pass), the dashboard and alerts query only metrics the
//! code records, and a real Prometheus server scraping a real three-node
//! cluster sees their series arrive and move, and evaluates every dashboard query
//! and alert rule without error.
//!
//! Prometheus and promtool come from Debian's package, installed by
//! `deploy/prometheus/install.sh` (which `.ci/run` calls). If they cannot
//! be installed the Prometheus tests say so and skip.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use callgrid_tests::cluster::TestCluster;
use callgrid_tests::prereq;
use callgrid_tests::prometheus::{self, Prometheus, workspace_root};
use callgrid_tests::{Clients, api, eventually};

const SCRAPE_WAIT: Duration = Duration::from_secs(30);

fn deploy(path: &str) -> PathBuf {
    workspace_root().join("deploy").join(path)
}

/// Runs promtool with `args`, failing the test with its output on error.
fn promtool(args: &[&str]) {
    let tool = prometheus::which("promtool").expect("promtool is installed");
    let out = Command::new(tool)
        .args(args)
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Installs Prometheus if needed; `false` (after saying why) means skip.
fn prometheus_available() -> bool {
    prereq::needs(prereq::PROMETHEUS, prometheus::ensure_installed()).is_some()
}

#[test]
fn promtool_accepts_the_scrape_config_and_alert_rules_and_their_unit_tests_pass() {
    if !prometheus_available() {
        return;
    }
    let alerts = deploy("prometheus/alerts.yml");
    let config = deploy("prometheus/prometheus.yml");
    let alerts_test = deploy("prometheus/alerts_test.yml");
    promtool(&["check", "rules", alerts.to_str().expect("utf-8 path")]);
    promtool(&["check", "config", config.to_str().expect("utf-8 path")]);
    promtool(&["test", "rules", alerts_test.to_str().expect("utf-8 path")]);
}

/// Every `callgrid_*` metric name in `text`, with the histogram series
/// suffixes taken off (`_bucket`, `_sum`, `_count`).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("callgrid_") {
        let start = i + at;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'_')
        {
            end += 1;
        }
        if boundary {
            let name = &text[start..end];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            names.insert(base.to_string());
        }
        i = end;
    }
    names
}

/// Every string literal `"callgrid_..."` in the Rust sources under `dir`.
fn recorded_metrics(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir)
        .expect("readable source dir")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            recorded_metrics(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).expect("readable source");
            for piece in source.split("\"callgrid_").skip(1) {
                if let Some((name, _)) = piece.split_once('"') {
                    found.insert(format!("callgrid_{name}"));
                }
            }
        }
    }
}

/// The dashboard's queries, with its template variables filled in.
fn dashboard_queries() -> Vec<(String, String)> {
    let raw = std::fs::read_to_string(deploy("grafana/callgrid-dashboard.json"))
        .expect("dashboard exists");
    let dashboard: serde_json::Value = serde_json::from_str(&raw).expect("dashboard is JSON");
    let mut queries = Vec::new();
    for panel in dashboard["panels"]
        .as_array()
        .expect("dashboard has panels")
    {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("every target has an expr");
            let expr = expr
                .replace("$job", "callgrid")
                .replace("$instance", ".*")
                .replace("$__rate_interval", "1m");
            queries.push((panel["title"].as_str().unwrap_or("?").to_string(), expr));
        }
    }
    queries
}

#[test]
fn dashboard_and_alerts_query_only_metrics_the_code_records() {
    let raw = std::fs::read_to_string(deploy("grafana/callgrid-dashboard.json"))
        .expect("dashboard exists");
    let dashboard: serde_json::Value = serde_json::from_str(&raw).expect("dashboard is JSON");
    assert_eq!(dashboard["uid"], "callgrid-overview");
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"]
        .as_array()
        .expect("dashboard has panels")
    {
        assert!(
            ids.insert(panel["id"].as_u64().expect("panel id")),
            "duplicate panel id in {panel}"
        );
        assert!(
            panel["gridPos"]["w"].as_u64().is_some(),
            "panel without a grid position: {panel}"
        );
    }
    let alerts = std::fs::read_to_string(deploy("prometheus/alerts.yml")).expect("alerts exist");

    let mut recorded = BTreeSet::new();
    recorded_metrics(&workspace_root().join("crates"), &mut recorded);
    let mut queried = metric_names(&raw);
    queried.extend(metric_names(&alerts));
    assert!(
        queried.len() > 15,
        "the dashboard queries callgrid metrics: {queried:?}"
    );
    let unknown: Vec<_> = queried.difference(&recorded).collect();
    assert!(
        unknown.is_empty(),
        "queried but never recorded by the code: {unknown:?}"
    );
}

/// One tenant on a node with a park policy granted to 101 and 102.
async fn provision(c: &mut Clients) {
    c.tenant_with("acme", &["101", "102", "103"]).await;
    c.directory
        .put_park_policy(api::PutParkPolicyRequest {
            tenant: "acme".into(),
            policy: Some(api::ParkPolicy {
                name: "lobby".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("park policy stored");
    for number in ["101", "102"] {
        c.directory
            .grant_park_policy(api::GrantParkPolicyRequest {
                tenant: "acme".into(),
                number: number.into(),
                policy: "lobby".into(),
            })
            .await
            .expect("park policy granted");
    }
}

/// 103 calls 102, 101 picks it up, parks it, 102 retrieves it, and a
/// pickup with nothing ringing fails.
async fn call_traffic(c: &mut Clients) {
    let call = c.ring("acme", "103", "102").await;
    let picked = c
        .pickup
        .directed_pickup(api::DirectedPickupRequest {
            tenant: "acme".into(),
            picker: "101".into(),
            target: "102".into(),
        })
        .await
        .expect("pickup answered")
        .into_inner();
    assert_eq!(picked.result, api::PickupResult::PickedUp as i32);
    let parked = c
        .park
        .park(api::ParkRequest {
            tenant: "acme".into(),
            call_id: call,
            by: "101".into(),
            code: None,
        })
        .await
        .expect("park answered")
        .into_inner();
    assert_eq!(parked.result, api::ParkResult::Parked as i32);
    let retrieved = c
        .park
        .retrieve(api::RetrieveRequest {
            tenant: "acme".into(),
            by: "102".into(),
            code: parked.code,
        })
        .await
        .expect("retrieve answered")
        .into_inner();
    assert_eq!(retrieved.result, api::RetrieveResult::Retrieved as i32);
    c.calls
        .hangup(api::HangupRequest {
            tenant: "acme".into(),
            call_id: call,
            by: Some(api::Party {
                kind: Some(api::party::Kind::Extension("102".into())),
            }),
        })
        .await
        .expect("hangup answered");
    let nothing = c
        .pickup
        .group_pickup(api::GroupPickupRequest {
            tenant: "acme".into(),
            picker: "101".into(),
        })
        .await
        .expect("group pickup answered")
        .into_inner();
    assert_ne!(nothing.result, api::PickupResult::PickedUp as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_a_three_node_cluster_and_sees_its_series_arrive_and_move() {
    if !prometheus_available() {
        return;
    }
    // A real 3-node cluster; every node serves its own /metrics.
    // Per-tenant park-code series, for the queries below that name one.
    let cluster = TestCluster::start_with(3, 1.0, &["--metrics-per-tenant"]).await;
    let nodes = &cluster.nodes;
    let mut admin = cluster.clients(0).await;
    provision(&mut admin).await;
    let mut clients = Vec::new();
    for i in 0..nodes.len() {
        let mut c = cluster.clients(i).await;
        call_traffic(&mut c).await;
        clients.push(c);
    }

    let targets: Vec<_> = nodes.iter().map(|n| n.metrics).collect();
    let prom = Prometheus::start(
        &targets,
        Duration::from_secs(1),
        &[deploy("prometheus/alerts.yml")],
    );

    // Every node is scraped.
    eventually(SCRAPE_WAIT, "up == 1 for all three nodes", || async {
        let up = prom.query("up{job=\"callgrid\"} == 1").await;
        (up.len() == 3).then_some(())
    })
    .await;
    // Series arrive from each node.
    for (metric, want) in [
        ("callgrid_pickups_total{outcome=\"picked_up\"}", 3usize),
        ("callgrid_parks_total{outcome=\"parked\"}", 3),
        ("callgrid_retrieves_total{outcome=\"retrieved\"}", 3),
        ("callgrid_raft_term > 0", 3),
        ("count(callgrid_raft_is_leader == 1) == 1", 1),
        (
            "count(count by (instance) (callgrid_raft_leader > 0)) == 3",
            1,
        ),
        (
            "callgrid_grpc_request_duration_seconds_count{method=\"Pickup/DirectedPickup\"}",
            3,
        ),
        ("callgrid_storage_flush_seconds_count", 3),
        ("callgrid_runtime_lag_seconds_count > 0", 3),
        (
            "callgrid_park_codes_capacity{tenant=\"acme\", policy=\"lobby\"} == 90",
            3,
        ),
    ] {
        eventually(SCRAPE_WAIT, metric, || async {
            let series = prom.query(metric).await;
            (series.len() == want).then_some(())
        })
        .await;
    }

    // The shard gauges add up to the whole shard map.
    let shards = format!(
        "sum(callgrid_shards_owned) == {}",
        callgrid_model::SHARD_COUNT
    );
    eventually(
        SCRAPE_WAIT,
        "the nodes' shards to add up to the map",
        || async { (prom.query(&shards).await.len() == 1).then_some(()) },
    )
    .await;

    // Series move: more pickups on node 2 raise its counter in Prometheus.
    let node2 = format!("instance=\"{}\"", nodes[1].metrics);
    let picked = format!("sum(callgrid_pickups_total{{{node2}, outcome=\"picked_up\"}})");
    let before = prom
        .scalar(&picked)
        .await
        .expect("node 2's pickups are scraped");
    for _ in 0..3 {
        call_traffic(&mut clients[1]).await;
    }
    let after = eventually(SCRAPE_WAIT, "node 2's pickup counter to rise", || async {
        prom.scalar(&picked).await.filter(|v| *v >= before + 3.0)
    })
    .await;
    assert_eq!(
        after,
        before + 3.0,
        "exactly the three new pickups are counted"
    );
    // A gauge follows the state: a parked call shows in `callgrid_parked_calls`.
    let call = clients[1].ring("acme", "103", "102").await;
    clients[1]
        .calls
        .answer(api::AnswerRequest {
            tenant: "acme".into(),
            call_id: call,
            by: "102".into(),
        })
        .await
        .expect("answered");
    clients[1]
        .park
        .park(api::ParkRequest {
            tenant: "acme".into(),
            call_id: call,
            by: "102".into(),
            code: None,
        })
        .await
        .expect("parked");
    eventually(
        SCRAPE_WAIT,
        "the park-code gauge of node 2 to show one code in use",
        || async {
            let q = format!(
                "callgrid_park_codes_in_use{{{node2}, tenant=\"acme\", policy=\"lobby\"}} == 1"
            );
            (prom.query(&q).await.len() == 1).then_some(())
        },
    )
    .await;

    // Every dashboard query is valid PromQL over these series.
    for (panel, expr) in dashboard_queries() {
        let body = prom
            .get(&format!(
                "/api/v1/query?query={}",
                prometheus::percent_encode(&expr)
            ))
            .await;
        assert_eq!(
            body["status"], "success",
            "dashboard panel {panel:?}: query {expr:?} failed: {body}"
        );
    }
    // The alert rules load and evaluate cleanly against live data.
    eventually(
        SCRAPE_WAIT,
        "every alert rule evaluated with health ok",
        || async {
            let rules = prom.get("/api/v1/rules").await;
            let groups = rules["data"]["groups"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let health: Vec<String> = groups
                .iter()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .map(|r| r["health"].as_str().unwrap_or("").to_string())
                .collect();
            (groups.len() == 2 && !health.is_empty() && health.iter().all(|h| h == "ok"))
                .then_some(())
        },
    )
    .await;
    // None fires on a healthy cluster.
    let alerts = prom.get("/api/v1/alerts").await;
    let firing: Vec<_> = alerts["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["state"] == "firing" || a["state"] == "pending")
        .collect();
    assert!(firing.is_empty(), "alerts on a healthy cluster: {firing:?}");
    drop(prom);
}

/// One scrape of a node's `/metrics` page.
async fn scrape(node: &callgrid_tests::Node) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut http = tokio::net::TcpStream::connect(node.metrics)
        .await
        .expect("metrics port answers");
    http.write_all(b"GET /metrics HTTP/1.0\r\nHost: callgrid\r\n\r\n")
        .await
        .expect("request sent");
    let mut page = String::new();
    http.read_to_string(&mut page).await.expect("page read");
    page
}

/// A node with a tenant and a park policy whose names are easy to spot,
/// scraped once its park-code gauges are sampled.
async fn scraped_with_a_tenant(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let node = callgrid_tests::Node::start(
        dir.path(),
        callgrid_tests::NodeOptions {
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
    );
    let mut c = node.clients().await;
    c.tenant_with("zanzibar-hotels", &["101"]).await;
    c.park_group(
        "zanzibar-hotels",
        api::ParkPolicy {
            name: "concierge-desk".into(),
            ..Default::default()
        },
        &["101"],
    )
    .await;
    eventually(SCRAPE_WAIT, "park-code gauges sampled", || async {
        let page = scrape(&node).await;
        page.lines()
            .any(|l| l.starts_with("callgrid_park_codes_capacity") && !l.ends_with(" 0"))
            .then_some(page)
    })
    .await
}

#[tokio::test]
async fn metrics_name_no_tenant_by_default_and_do_with_metrics_per_tenant() {
    let page = scraped_with_a_tenant(&[]).await;
    for name in ["zanzibar", "concierge"] {
        assert!(
            !page.contains(name),
            "{name} on /metrics by default:\n{page}"
        );
    }
    assert!(
        page.lines().any(|l| l == "callgrid_park_codes_capacity 90"),
        "the gauges are summed over tenants:\n{page}"
    );

    let page = scraped_with_a_tenant(&["--metrics-per-tenant"]).await;
    assert!(
        page.lines()
            .any(|l| l.starts_with("callgrid_park_codes_capacity{")
                && l.contains("tenant=\"zanzibar-hotels\"")
                && l.contains("policy=\"concierge-desk\"")),
        "no per-tenant series with --metrics-per-tenant:\n{page}"
    );
}
