//! The gRPC port bounds its connections (issue 13, point 2): stalled
//! connections from one address past its cap are closed at once, and
//! another address is still served at once.

use std::time::{Duration, Instant};

use callgrid_tests::{Clients, Node, NodeOptions, api};
use tonic::transport::Endpoint;

#[tokio::test(flavor = "multi_thread")]
async fn stalled_connections_past_the_cap_are_closed_and_another_client_is_served_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(
        dir.path(),
        NodeOptions {
            extra_args: vec![
                "--max-connections-per-source".into(),
                "50".into(),
                "--max-connections".into(),
                "100".into(),
            ],
            ..Default::default()
        },
    );
    // 300 connections from 127.0.0.1 that never send a byte (the attack of
    // a slowloris or a half-open flood): the first 50 are held...
    let mut stalled = Vec::new();
    for _ in 0..300 {
        stalled.push(
            tokio::net::TcpStream::connect(node.grpc)
                .await
                .expect("the kernel accepts the connection"),
        );
    }
    // ...and the rest are closed by the node at once (a read sees the end).
    let mut closed = 0;
    for conn in &stalled[50..] {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), conn.readable()).await;
        if read.is_ok() && matches!(conn.try_read(&mut byte), Ok(0) | Err(_)) {
            closed += 1;
        }
    }
    assert_eq!(
        closed, 250,
        "connections over the per-source cap are closed"
    );

    // Another address is served within a second.
    let started = Instant::now();
    let channel = Endpoint::from_shared(format!("http://{}", node.grpc))
        .expect("endpoint")
        .local_address(Some("127.0.0.2".parse().expect("ip")))
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(1))
        .connect()
        .await
        .expect("another address connects");
    Clients::new(channel)
        .directory
        .put_tenant(api::PutTenantRequest {
            tenant: "globex".into(),
            config: None,
        })
        .await
        .expect("another client is served");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "served in {:?}",
        started.elapsed()
    );
    let metrics = node.scrape_metrics().await;
    assert!(
        metrics.contains("callgrid_connections_refused_total{reason=\"cap\"} 250"),
        "refusals are counted:\n{}",
        metrics
            .lines()
            .filter(|l| l.contains("connections"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(stalled);
}
