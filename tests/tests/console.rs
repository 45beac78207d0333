//! The browser console, in a real browser (headless Chromium through
//! chromedriver): an attendant sees a call ring on a lamp within a second,
//! picks it up with a click, parks and retrieves it, hangs up, takes a
//! named group's call with its button and answers its own ringing lamp, and is told why a refused pickup was
//! refused; the page shows "reconnecting" while its node is away and
//! recovers by itself; the operator view shows a killed
//! member go down; and in secure mode a tenant-scoped token never sees
//! another tenant's lamps, nor gets past the console's forgery checks.
//!
//! Every view is saved as a screenshot under `target/console-screenshots/`.
//! Without Chromium (and no way to install it) each test is skipped, or
//! fails in CI (`callgrid_tests::prereq`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use callgrid_tests::browser::{self, Browser};
use callgrid_tests::cluster::{TestCluster, free_port};
use callgrid_tests::pki::Pki;
use callgrid_tests::prereq;
use callgrid_tests::{Clients, Node, NodeOptions, api, ext, extension};
use fantoccini::Locator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Request;
use tonic::transport::{Channel, ClientTlsConfig};

/// The bound for anything the page must show: generous, because a loaded
/// 2-core runner is slow; how fast a lamp turns is the benches' business.
const PAGE_TIMEOUT: Duration = Duration::from_secs(15);

/// A count-down's `m:ss` in seconds.
fn seconds_left(countdown: &str) -> u64 {
    let (m, s) = countdown
        .trim()
        .split_once(':')
        .unwrap_or_else(|| panic!("a count-down reads m:ss: {countdown:?}"));
    let number = |n: &str| -> u64 {
        n.parse()
            .unwrap_or_else(|_| panic!("a count-down reads m:ss: {countdown:?}"))
    };
    number(m) * 60 + number(s)
}

fn browser_or_skip() -> bool {
    prereq::needs(prereq::BROWSER, browser::ensure_installed()).is_some()
}

async fn click(browser: &Browser, css: &str) {
    browser
        .wait_for(css, PAGE_TIMEOUT)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Waits for the outcome line of the last action and returns its text.
async fn outcome(browser: &Browser, result: &str) -> String {
    let css = format!("#action-result[data-result='{result}']");
    let deadline = Instant::now() + PAGE_TIMEOUT;
    while browser.count(&css).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the page did not say {result}; it says {:?}",
            browser.text("#action-result").await
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    browser.text(&css).await
}

#[tokio::test]
async fn attendant_sees_a_call_ring_picks_it_up_parks_and_retrieves_it() {
    if !browser_or_skip() {
        return;
    }
    // Fixed ports: the page must find its node again after a restart.
    let dir = tempfile::tempdir().expect("tempdir");
    let http = format!("127.0.0.1:{}", free_port());
    let mut node = Node::start(
        dir.path(),
        NodeOptions {
            extra_args: vec![
                "--listen".into(),
                format!("127.0.0.1:{}", free_port()),
                "--http".into(),
                http.clone(),
            ],
            ..Default::default()
        },
    );
    assert_eq!(node.http.map(|a| a.to_string()), Some(http.clone()));
    let mut c = node.clients().await;
    c.tenant_with("acme", &[]).await;
    for (number, name, call_groups, pickup_groups) in [
        ("101", "Reception", "", "sales"),
        ("102", "Alice", "sales", ""),
        ("103", "Bob", "sales", ""),
        ("104", "Carol", "", ""),
    ] {
        c.put_extension(
            "acme",
            api::Extension {
                display_name: name.into(),
                call_groups: call_groups.into(),
                pickup_groups: pickup_groups.into(),
                ..extension(number)
            },
        )
        .await;
    }
    c.put_call_group(
        "acme",
        api::CallGroup {
            owner: "104".into(),
            members: vec![callgrid_tests::member("103", api::AlertMode::Visual)],
            ..Default::default()
        },
    )
    .await;
    c.lobby("acme", &["101", "102"]).await;

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("http://{http}/attendant?tenant=acme&as=101"))
        .await
        .expect("open the attendant view");
    browser
        .wait_for("[data-lamp='102'][data-state='idle']", PAGE_TIMEOUT)
        .await;
    browser
        .wait_for("#link[data-state='live']", PAGE_TIMEOUT)
        .await;
    assert!(
        browser.text("#call-groups").await.contains("104 rings 103"),
        "the call group and who it rings are shown"
    );
    assert!(
        browser
            .text("#named-groups")
            .await
            .contains("sales: 102, 103")
    );

    // A call rings: the lamp turns, naming the caller.
    let call = c.ring("acme", "104", "102").await;
    browser
        .wait_for("[data-lamp='102'][data-state='ringing']", PAGE_TIMEOUT)
        .await;
    assert!(
        browser.text("[data-lamp='102']").await.contains("from 104"),
        "the ringing lamp names the caller"
    );
    browser.screenshot("attendant-ringing").await;

    // Clicking the lamp picks the call up as 101 (BLF pickup).
    click(&browser, "[data-lamp='102'][data-state='ringing']").await;
    let said = outcome(&browser, "picked_up").await;
    assert!(said.contains(&call.to_string()), "{said}");
    let info = c.call_info("acme", call).await;
    assert_eq!(info.state(), api::CallState::Answered);
    assert_eq!(info.answered_by, "101");
    assert_eq!(info.how(), api::AnswerHow::DirectedPickup);
    let missed = browser
        .wait_for("#feed li[data-kind='missed_call']", PAGE_TIMEOUT)
        .await
        .text()
        .await
        .expect("feed text");
    assert!(
        missed.contains("102 missed a call from 104") && missed.contains("answered by 101"),
        "{missed}"
    );

    // A refused pickup shows its reason: `*98` finds the call it could
    // have taken already answered.
    click(&browser, "#group-pickup").await;
    let said = outcome(&browser, "already_answered").await;
    assert!(said.contains("somebody else answered first"), "{said}");

    // Park: the code shows in the park lot, with its count-down.
    click(&browser, "#park-button").await;
    let said = outcome(&browser, "parked").await;
    assert!(said.contains("code 10"), "{said}");
    browser
        .wait_for("#parked tr[data-park-code='10']", PAGE_TIMEOUT)
        .await;
    let row = browser.text("#parked tr[data-park-code='10']").await;
    assert!(row.contains("101") && row.contains("104"), "{row}");
    assert!(
        row.contains("4:5") || row.contains("5:00"),
        "count-down from 5:00: {row}"
    );
    assert_eq!(
        c.call_info("acme", call).await.state(),
        api::CallState::Parked
    );
    // The whole view at work: a parked call counting down, a missed call in
    // the feed, and another call ringing.
    let second = c.ring("acme", "103", "102").await;
    browser
        .wait_for("[data-lamp='102'][data-state='ringing']", PAGE_TIMEOUT)
        .await;
    browser.screenshot("attendant").await;

    // Retrieve it from the park lot.
    click(&browser, "#parked tr[data-park-code='10'] button.retrieve").await;
    outcome(&browser, "retrieved").await;
    let info = c.call_info("acme", call).await;
    assert_eq!(info.state(), api::CallState::Answered);
    assert_eq!(info.how(), api::AnswerHow::Retrieve);
    browser
        .wait_count("#parked tr[data-park-code]", 0, PAGE_TIMEOUT)
        .await;

    // The node goes away: the page says so, and recovers by itself.
    node.terminate();
    browser
        .wait_for("#link[data-state='reconnecting']", PAGE_TIMEOUT)
        .await;
    browser.screenshot("attendant-reconnecting").await;
    node.restart();
    browser
        .wait_for("#link[data-state='live']", Duration::from_secs(30))
        .await;
    browser
        .wait_for("[data-lamp='101'][data-state='busy']", PAGE_TIMEOUT)
        .await;
    let mut c = node.clients().await;

    // Hang up from the page, then take a call of a named group with its button.
    click(&browser, "#hangup-button").await;
    outcome(&browser, "ended").await;
    assert_eq!(
        c.call_info("acme", call).await.state(),
        api::CallState::Ended
    );
    c.hangup("acme", second, ext("103")).await;
    browser
        .wait_for("[data-lamp='102'][data-state='idle']", PAGE_TIMEOUT)
        .await;
    c.ring("acme", "104", "102").await;
    browser
        .wait_for("[data-lamp='102'][data-state='ringing']", PAGE_TIMEOUT)
        .await;
    click(&browser, "button[data-named='sales']").await;
    let said = outcome(&browser, "picked_up").await;
    assert!(said.contains("ringing for 102"), "{said}");
    browser
        .wait_for("[data-lamp='101'][data-state='busy']", PAGE_TIMEOUT)
        .await;

    // A call to the extension the page acts as: its own lamp answers it.
    click(&browser, "#hangup-button").await;
    outcome(&browser, "ended").await;
    let to_me = c.ring("acme", "103", "101").await;
    click(&browser, "[data-lamp='101'][data-state='ringing']").await;
    outcome(&browser, "answered").await;
    let info = c.call_info("acme", to_me).await;
    assert_eq!(info.answered_by, "101");
    assert_eq!(info.how(), api::AnswerHow::Direct);
    browser.close().await;
}

#[tokio::test]
async fn a_parked_call_counts_down_on_the_page_and_its_ring_back_is_announced() {
    if !browser_or_skip() {
        return;
    }
    // Timers at 1/20: the default 300 s park timeout rings back after 15 s.
    let node = callgrid_tests::TestNode::start(0.05);
    let http = node.http.expect("the node serves its console");
    let mut c = node.clients().await;
    c.tenant_with("acme", &["101", "102"]).await;
    c.lobby("acme", &["101"]).await;
    let call = c.answered_call("acme", "102", "101").await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("http://{http}/attendant?tenant=acme&as=101"))
        .await
        .expect("open the attendant view");
    browser
        .wait_for("[data-lamp='101'][data-state='busy']", PAGE_TIMEOUT)
        .await;
    let parked = c.park_call("acme", call, "101", None).await;
    assert_eq!(parked.result(), api::ParkResult::Parked);

    let countdown = "#parked tr[data-park-code='10'] .countdown";
    browser.wait_for(countdown, PAGE_TIMEOUT).await;
    let first = browser.text(countdown).await;
    let left = seconds_left(&first);
    assert!(
        (1..=15).contains(&left),
        "at most 15 s to ring-back, and some left: {first}"
    );
    let deadline = Instant::now() + PAGE_TIMEOUT;
    while seconds_left(&browser.text(countdown).await) == left {
        assert!(Instant::now() < deadline, "the count-down stays at {first}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ring_back = browser
        .wait_for(
            "#feed li[data-kind='park_ring_back']",
            Duration::from_secs(30),
        )
        .await
        .text()
        .await
        .expect("feed text");
    assert!(
        ring_back.contains("parked on 10 rings back 101"),
        "{ring_back}"
    );
    browser.close().await;
}

#[tokio::test]
async fn operator_view_shows_three_members_then_two_after_one_is_killed() {
    if !browser_or_skip() {
        return;
    }
    let mut cluster = TestCluster::start(3, 1.0).await;
    let http = cluster.nodes[0].http.expect("node 1 serves its console");
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("http://{http}/operator"))
        .await
        .expect("open the operator view");
    browser
        .wait_count("#members tr[data-up='true']", 3, PAGE_TIMEOUT)
        .await;
    browser.wait_count("#shards .shard", 64, PAGE_TIMEOUT).await;
    let summary = browser.text("#summary").await;
    assert!(summary.contains("3 up of 3 (3 voters)"), "{summary}");
    browser.screenshot("operator").await;

    let killed = Instant::now();
    cluster.nodes[2].kill();
    browser
        .wait_count("#members tr[data-up='true']", 2, Duration::from_secs(5))
        .await;
    eprintln!("member shown down {:?} after the kill", killed.elapsed());
    browser
        .wait_for(
            "#members tr[data-member='3'][data-up='false']",
            PAGE_TIMEOUT,
        )
        .await;
    assert!(browser.text("#summary").await.contains("2 up of 3"));
    browser.screenshot("operator-member-down").await;
    browser.close().await;
}

// ---- secure mode --------------------------------------------------------

const ADMIN: &str = "console-cluster-admin-secret";
const ACME_ADMIN: &str = "console-acme-admin-secret-1";
const ACME_101: &str = "console-acme-101-user-secret";
const GLOBEX_ADMIN: &str = "console-globex-admin-secret";

fn path(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

/// A node with TLS, mutual TLS between nodes and bearer tokens.
fn secure_node(pki: &Pki, dir: &Path) -> Node {
    let (cert, key) = pki.issue("node1");
    let config = dir.join("callgrid.toml");
    std::fs::write(
        &config,
        format!(
            "[[tokens]]\ntoken = \"{ADMIN}\"\nrole = \"cluster_admin\"\n\n\
             [[tokens]]\ntoken = \"{ACME_ADMIN}\"\nrole = \"tenant_admin\"\ntenant = \"acme\"\n\n\
             [[tokens]]\ntoken = \"{GLOBEX_ADMIN}\"\nrole = \"tenant_admin\"\ntenant = \"globex\"\n\n\
             [[tokens]]\ntoken = \"{ACME_101}\"\nrole = \"extension_user\"\ntenant = \"acme\"\nextension = \"101\"\n"
        ),
    )
    .expect("write config");
    Node::start(
        &dir.join("data"),
        NodeOptions {
            extra_args: vec![
                "--tls-cert".into(),
                path(&cert),
                "--tls-key".into(),
                path(&key),
                "--tls-client-ca".into(),
                path(&pki.ca_path()),
                "--config".into(),
                path(&config),
            ],
            ..Default::default()
        },
    )
}

fn admin<T>(msg: T) -> Request<T> {
    let mut request = Request::new(msg);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {ADMIN}").parse().expect("ascii token"),
    );
    request
}

/// One HTTP/1.1 request to the console; its status and body.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("console port");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        request += h;
        request += "\r\n";
    }
    request += "\r\n";
    request += body;
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    tokio::time::timeout(PAGE_TIMEOUT, stream.read_to_string(&mut response))
        .await
        .expect("the console answers in time")
        .expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn a_tenant_scoped_token_never_sees_another_tenants_lamps() {
    if !browser_or_skip() {
        return;
    }
    let pki = Pki::new("console");
    let dir = tempfile::tempdir().expect("tempdir");
    let node = secure_node(&pki, dir.path());
    let console = node.http.expect("the console serves in secure mode");
    let channel = Channel::from_shared(format!("https://{}", node.grpc))
        .expect("endpoint")
        .tls_config(ClientTlsConfig::new().ca_certificate(pki.ca_certificate()))
        .expect("tls")
        .connect()
        .await
        .expect("TLS connects");
    let mut c = Clients::new(channel);
    for (tenant, numbers) in [("acme", ["101", "102"]), ("globex", ["201", "202"])] {
        c.directory
            .put_tenant(admin(api::PutTenantRequest {
                tenant: tenant.into(),
                config: None,
            }))
            .await
            .expect("tenant");
        for n in numbers {
            c.directory
                .put_extension(admin(api::PutExtensionRequest {
                    tenant: tenant.into(),
                    extension: Some(extension(n)),
                }))
                .await
                .expect("extension");
        }
    }
    // Something worth hiding: globex's 202 rings.
    c.calls
        .dial(admin(api::DialRequest {
            tenant: "globex".into(),
            from: Some(ext("201")),
            digits: "202".into(),
        }))
        .await
        .expect("globex call");

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("http://{console}/attendant"))
        .await
        .expect("open the console");
    // A node with tokens asks for one before showing anything.
    browser.sign_in(ACME_ADMIN).await;
    browser
        .wait_for("[data-lamp='102'][data-state='idle']", PAGE_TIMEOUT)
        .await;
    assert_eq!(
        browser.count("[data-lamp]").await,
        2,
        "acme's two lamps only"
    );
    assert_eq!(browser.count("[data-lamp^='20']").await, 0);
    assert!(browser.text("#who").await.contains("tenant admin of acme"));
    let operator_link = browser
        .client
        .find(Locator::Css("#nav-operator"))
        .await
        .expect("nav link");
    assert!(!operator_link.is_displayed().await.expect("displayed?"));
    browser.screenshot("attendant-secure").await;

    // Asking for the other tenant: the node refuses, and nothing of it shows.
    browser
        .client
        .goto(&format!("http://{console}/attendant?tenant=globex"))
        .await
        .expect("navigate");
    browser
        .wait_for("#link[data-state='refused']", PAGE_TIMEOUT)
        .await;
    let refusal = browser.text("#refused").await;
    assert!(refusal.contains("tenant"), "{refusal}");
    assert_eq!(browser.count("[data-lamp]").await, 0);
    // The operator view is the cluster admin's.
    browser
        .client
        .goto(&format!("http://{console}/operator"))
        .await
        .expect("navigate");
    browser
        .wait_for("#link[data-state='refused']", PAGE_TIMEOUT)
        .await;
    assert_eq!(browser.count("#members tr").await, 0);
    // An extension user's page acts as that extension only.
    browser
        .client
        .goto(&format!("http://{console}/attendant"))
        .await
        .expect("navigate");
    click(&browser, "#sign-out").await;
    browser.sign_in(ACME_101).await;
    browser.wait_for("#acting[disabled]", PAGE_TIMEOUT).await;
    browser.wait_for("[data-lamp='101'].me", PAGE_TIMEOUT).await;
    assert!(browser.text("#who").await.contains("extension 101 of acme"));
    assert_eq!(browser.count("[data-lamp]").await, 2);
    browser.close().await;

    // Below the page: the same refusals, and the forgery checks.
    let acme = format!("Authorization: Bearer {ACME_ADMIN}");
    let (status, body) = http(console, "GET", "/api/tenants/globex/events", &[&acme], "").await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("202"), "{body}");
    let (status, _) = http(console, "GET", "/api/tenants/acme/events", &[], "").await;
    assert_eq!(status, 401, "no token, no lamps");
    let (status, _) = http(console, "GET", "/api/cluster/events", &[&acme], "").await;
    assert_eq!(status, 403);
    let pickup = r#"{"kind":"directed","picker":"101","target":"102"}"#;
    let json = "Content-Type: application/json";
    let (status, body) = http(
        console,
        "POST",
        "/api/tenants/acme/pickup",
        &[&acme, json],
        pickup,
    )
    .await;
    assert_eq!(status, 403, "no console header: {body}");
    let (status, body) = http(
        console,
        "POST",
        "/api/tenants/acme/pickup",
        &[
            &acme,
            json,
            "X-Callgrid-Console: 1",
            "Origin: http://evil.example",
        ],
        pickup,
    )
    .await;
    assert_eq!(status, 403, "another origin: {body}");
    let (status, body) = http(
        console,
        "POST",
        "/api/tenants/acme/pickup",
        &[&acme, "Content-Type: text/plain", "X-Callgrid-Console: 1"],
        pickup,
    )
    .await;
    assert_eq!(status, 415, "a form-like body: {body}");
    let (status, body) = http(
        console,
        "POST",
        "/api/tenants/acme/pickup",
        &[&acme, json, "X-Callgrid-Console: 1"],
        pickup,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("no_alerting_call"), "{body}");
    // An action carries the page's request id: asked again, the cluster
    // answers with the first outcome instead of acting twice.
    c.calls
        .dial(admin(api::DialRequest {
            tenant: "acme".into(),
            from: Some(callgrid_tests::outside("+15551234")),
            digits: "102".into(),
        }))
        .await
        .expect("acme call");
    let same_click = [
        &acme as &str,
        json,
        "X-Callgrid-Console: 1",
        "Request-Id: page-click-1",
    ];
    let (status, first) = http(
        console,
        "POST",
        "/api/tenants/acme/pickup",
        &same_click,
        pickup,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert!(first.contains(r#""result":"picked_up""#), "{first}");
    let (status, again) = http(
        console,
        "POST",
        "/api/tenants/acme/pickup",
        &same_click,
        pickup,
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first, "the same click, the same outcome");

    // An extension user acts only as itself, whatever the page asks.
    let user = format!("Authorization: Bearer {ACME_101}");
    let as_102 = r#"{"kind":"group","picker":"102"}"#;
    let (status, body) = http(
        console,
        "POST",
        "/api/tenants/acme/pickup",
        &[&user, json, "X-Callgrid-Console: 1"],
        as_102,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("acts only as extension 101"), "{body}");
    let (status, body) = http(console, "GET", "/api/session", &[&user], "").await;
    assert_eq!(status, 200);
    assert!(
        body.contains(r#""role":"extension_user""#) && body.contains(r#""extension":"101""#),
        "{body}"
    );
}

/// SREs see what the console serves: each request counted by the route it
/// matched (its pattern, never a tenant's name), method and status, and
/// timed. No browser needed.
#[tokio::test]
async fn the_console_counts_its_requests_by_route_and_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), NodeOptions::default());
    let console = node.http.expect("the console serves by default");
    assert_eq!(http(console, "GET", "/api/session", &[], "").await.0, 200);
    let (refused, _) = http(console, "POST", "/api/tenants/acme/pickup", &[], "{").await;
    assert!(
        (400..500).contains(&refused),
        "a malformed pickup is refused: {refused}"
    );
    assert_eq!(http(console, "GET", "/no/such/page", &[], "").await.0, 404);

    let page = node.scrape_metrics().await;
    let series: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("callgrid_console_"))
        .collect();
    let count = |route: &str, method: &str, status: u16| -> f64 {
        series
            .iter()
            .filter(|l| l.starts_with("callgrid_console_requests_total{"))
            .filter(|l| {
                l.contains(&format!("route=\"{route}\""))
                    && l.contains(&format!("method=\"{method}\""))
                    && l.contains(&format!("status=\"{status}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(count("/api/session", "GET", 200), 1.0, "{series:#?}");
    assert_eq!(
        count("/api/tenants/{tenant}/pickup", "POST", refused),
        1.0,
        "{series:#?}"
    );
    assert_eq!(count("unmatched", "GET", 404), 1.0, "{series:#?}");
    assert!(
        series.iter().any(
            |l| l.starts_with("callgrid_console_request_duration_seconds")
                && l.contains("route=\"/api/session\"")
        ),
        "the session request is timed: {series:#?}"
    );
    assert!(
        !series.iter().any(|l| l.contains("acme")),
        "no tenant's name in a label: {series:#?}"
    );
}
