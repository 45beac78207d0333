//! The operator view: the cluster as this node sees it (leader, term,
//! commit and applied indexes, members and voters, the shard map), and
//! each member as it answers for itself.
//!
//! `Cluster.Status` has no stream, so the console asks it every
//! [`POLL`] and sends the page a `cluster` event whenever the answer
//! changes. Each member is asked too, at the address the cluster knows it
//! by, with the page's token: one that does not answer within the probe
//! timeout is shown down, which is how a node going away shows within
//! seconds even before the cluster moves its shards.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use callgrid_proto::v1;
use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::Shared;
use crate::guard::Refusal;
use crate::upstream::{Bearer, PROBE_TIMEOUT, Upstream};

/// How often the cluster's state is read.
const POLL: Duration = Duration::from_millis(500);

/// `GET /api/cluster/events`: Server-Sent Events, `cluster` with the whole
/// view on every change. Refused (before any event) for a token that may
/// not read the cluster's status: the node's own rule, cluster admins only.
pub async fn events(
    State(shared): State<Shared>,
    bearer: Bearer,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Refusal> {
    let first = view(&shared.upstream, &bearer).await?;
    let (tx, rx) = mpsc::channel::<Event>(16);
    let _ = tx.try_send(cluster_event(&first));
    let up = shared.upstream.clone();
    let mut stopping = shared.stopping.clone();
    tokio::spawn(async move {
        let mut last = first;
        let mut tick = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = tx.closed() => return,
                _ = stopping.wait_for(|s| *s) => return,
            }
            // A node that cannot answer (it stops, or lost its quorum and
            // times out) ends the stream; the page shows it reconnecting.
            let Ok(now) = view(&up, &bearer).await else {
                return;
            };
            if now != last {
                if tx.try_send(cluster_event(&now)).is_err() {
                    return;
                }
                last = now;
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn cluster_event(view: &Value) -> Event {
    Event::default()
        .event("cluster")
        .json_data(view)
        .expect("the cluster view is plain JSON")
}

/// The node's status, and every member's answer to its own probe.
async fn view(up: &Upstream, bearer: &Bearer) -> Result<Value, Refusal> {
    let status = up
        .cluster()
        .status(bearer.unary(v1::StatusRequest {}))
        .await?
        .into_inner();
    let probes = status.membership.iter().map(|member| {
        let client = up.peer_cluster(&member.addr);
        let mut request = bearer.request(v1::StatusRequest {});
        request.set_timeout(PROBE_TIMEOUT);
        async move {
            let mut client = client.map_err(|e| e.to_string())?;
            tokio::time::timeout(PROBE_TIMEOUT, client.status(request))
                .await
                .map_err(|_| "no answer".to_owned())?
                .map(|r| r.into_inner())
                .map_err(|s| s.message().to_owned())
        }
    });
    let answers = futures::future::join_all(probes).await;
    let members: Vec<Value> = status
        .membership
        .iter()
        .zip(answers)
        .map(|(m, answer)| match answer {
            Ok(own) => json!({
                "node_id": m.node_id,
                "addr": m.addr,
                "voter": m.voter,
                "shards": m.shards,
                "up": true,
                "state": own.state,
                "applied_index": own.applied_index,
            }),
            Err(why) => json!({
                "node_id": m.node_id,
                "addr": m.addr,
                "voter": m.voter,
                "shards": m.shards,
                "up": false,
                "error": why,
            }),
        })
        .collect();
    Ok(json!({
        "node_id": status.node_id,
        "leader_id": status.leader_id,
        "term": status.term,
        "commit_index": status.commit_index,
        "applied_index": status.applied_index,
        "snapshot_index": status.snapshot_index,
        "state": status.state,
        "shard_epoch": status.shard_epoch,
        "shard_owners": status.shard_owners,
        "members": members,
    }))
}
