//! The attendant view of one tenant, live: lamps, park lot, groups and
//! notices (the actions on them are in [`actions`](crate::actions)).
//!
//! Everything here is one or more public API requests made with the page's
//! token: a tenant-scoped token asking for another tenant is refused by the
//! node before anything is read, and that refusal is what the page shows.
//! Call ids travel to the page as strings (they are 64-bit; JavaScript
//! numbers are not).

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use callgrid_proto::v1;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tonic::{Code, Streaming};

use crate::Shared;
use crate::guard::Refusal;
use crate::upstream::{Bearer, Upstream};

/// The most lamps one page watches: the API's cap per watch.
const MAX_LAMPS: usize = 1_000;
/// Call groups are read one request per extension: at most this many at once.
const GROUP_READS_IN_FLIGHT: usize = 16;
/// Events buffered for a slow page before its stream is cut (it reconnects
/// and starts over from the current state).
const PAGE_BUFFER: usize = 1_024;

/// `GET /api/tenants`: the tenants the token may list (cluster admin).
pub async fn tenants(
    State(shared): State<Shared>,
    bearer: Bearer,
) -> Result<Json<Vec<String>>, Refusal> {
    let tenants = shared
        .upstream
        .directory()
        .list_tenants(bearer.unary(v1::ListTenantsRequest {}))
        .await?
        .into_inner()
        .tenants;
    Ok(Json(tenants.into_iter().map(|t| t.tenant).collect()))
}

/// Query of the live stream: the extension the page acts as (it sees
/// callers where that extension may pick up); empty: none.
#[derive(Debug, Deserialize)]
pub struct Acting {
    #[serde(default, rename = "as")]
    pub acting: String,
}

/// `GET /api/tenants/{tenant}/events?as=<ext>`: Server-Sent Events, in
/// order: `directory` (extensions, groups, park policies), `parked` (the
/// park lot), then `lamp` for every lamp's current state and every change,
/// `notice` for notifications, and `parked` again whenever a park lamp
/// changes or a parked call rings back. The stream ends (and the page
/// reconnects) when the node's streams end. A refused request is an HTTP
/// error before any event.
pub async fn events(
    State(shared): State<Shared>,
    Path(tenant): Path<String>,
    Query(Acting { acting }): Query<Acting>,
    bearer: Bearer,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Refusal> {
    let up = &shared.upstream;
    let directory = read_directory(up, &bearer, &tenant).await?;
    let lamps = up
        .presence()
        .watch_lamps(bearer.request(v1::WatchLampsRequest {
            tenant: tenant.clone(),
            watcher: acting.clone(),
            extensions: directory.numbers.clone(),
            park_codes: directory.park_codes.clone(),
        }))
        .await?
        .into_inner();
    let notices = notices(up, &bearer, &tenant, &acting).await?;
    let parked = read_parked(up, &bearer, &tenant).await?;

    let (tx, rx) = mpsc::channel::<Option<Event>>(PAGE_BUFFER);
    let _ = tx.try_send(Some(event("directory", &directory.page)));
    let _ = tx.try_send(Some(event("parked", &parked)));
    let lot = ParkLot {
        up: up.clone(),
        bearer: bearer.clone(),
        tenant: tenant.clone(),
    };
    tokio::spawn(pump_lamps(
        lamps,
        tx.clone(),
        lot.clone(),
        shared.stopping.clone(),
    ));
    if let Some(notices) = notices {
        tokio::spawn(pump_notices(notices, tx, lot, shared.stopping.clone()));
    }
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
        .take_while(|e| std::future::ready(e.is_some()))
        .filter_map(|e| std::future::ready(e.map(Ok)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn event(name: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .expect("console events are plain JSON values")
}

/// What the directory event shows, and what the lamp watch names.
struct Directory {
    page: Value,
    numbers: Vec<String>,
    park_codes: Vec<u32>,
}

async fn read_directory(
    up: &Upstream,
    bearer: &Bearer,
    tenant: &str,
) -> Result<Directory, Refusal> {
    let mut directory = up.directory();
    let extensions = directory
        .list_extensions(bearer.unary(v1::ListExtensionsRequest {
            tenant: tenant.to_owned(),
        }))
        .await?
        .into_inner()
        .extensions;
    let policies = directory
        .list_park_policies(bearer.unary(v1::ListParkPoliciesRequest {
            tenant: tenant.to_owned(),
        }))
        .await?
        .into_inner()
        .policies;
    let numbers: Vec<String> = extensions
        .iter()
        .take(MAX_LAMPS)
        .map(|e| e.number.clone())
        .collect();
    let call_groups: Vec<v1::CallGroup> = futures::stream::iter(numbers.clone())
        .map(|owner| {
            let mut directory = up.directory();
            let request = bearer.unary(v1::GetCallGroupRequest {
                tenant: tenant.to_owned(),
                owner,
            });
            async move { directory.get_call_group(request).await }
        })
        .buffered(GROUP_READS_IN_FLIGHT)
        .filter_map(|r| std::future::ready(r.ok().and_then(|r| r.into_inner().group)))
        .collect()
        .await;

    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect()
    };
    // Named groups: which extensions' calls belong to each.
    let mut named: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &extensions {
        for name in list(&e.call_groups) {
            named.entry(name).or_default().push(e.number.clone());
        }
    }
    let park_codes: BTreeSet<u32> = policies
        .iter()
        .flat_map(|p| {
            let start = if p.code_start == 0 { 10 } else { p.code_start };
            let end = if p.code_end == 0 { 99 } else { p.code_end };
            start..=end
        })
        .take(MAX_LAMPS)
        .collect();
    let page = json!({
        "tenant": tenant,
        "extensions": extensions.iter().take(MAX_LAMPS).map(|e| json!({
            "number": e.number,
            "name": e.display_name,
            "online": e.online.unwrap_or(true),
            "call_groups": list(&e.call_groups),
            "pickup_groups": list(&e.pickup_groups),
            "legacy_pickup_groups": e.legacy_pickup_groups,
            "park_policy": e.park_policy,
        })).collect::<Vec<_>>(),
        "call_groups": call_groups.iter().map(|g| json!({
            "owner": g.owner,
            "routing": name_of(v1::CallGroupRouting::try_from(g.routing).ok().map(|r| r.as_str_name()), "CALL_GROUP_ROUTING_"),
            "ring_secs": g.ring_secs,
            "members": g.members.iter().map(|m| json!({
                "extension": m.extension,
                "alert": name_of(v1::AlertMode::try_from(m.alert).ok().map(|a| a.as_str_name()), "ALERT_MODE_"),
                "delay_secs": m.delay_secs,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "named_groups": named,
        "park_policies": policies.iter().map(|p| json!({
            "name": p.name,
            "allow_parking": p.allow_parking.unwrap_or(true),
        })).collect::<Vec<_>>(),
    });
    Ok(Directory {
        page,
        numbers,
        park_codes: park_codes.into_iter().collect(),
    })
}

/// `LAMP_STATE_RINGING` with prefix `LAMP_STATE_` is `ringing`.
pub(crate) fn name_of(name: Option<&str>, prefix: &str) -> String {
    name.map(|n| n.strip_prefix(prefix).unwrap_or(n).to_ascii_lowercase())
        .unwrap_or_default()
}

fn party(p: &Option<v1::Party>) -> Value {
    match p.as_ref().and_then(|p| p.kind.as_ref()) {
        Some(v1::party::Kind::Extension(e)) => json!(e),
        Some(v1::party::Kind::Outside(n)) => json!(n),
        None => Value::Null,
    }
}

/// The tenant's notifications where the token may read them all (tenant
/// admins), else the acting extension's, else none.
async fn notices(
    up: &Upstream,
    bearer: &Bearer,
    tenant: &str,
    acting: &str,
) -> Result<Option<Streaming<v1::Notification>>, Refusal> {
    let open = |extension: &str| {
        let mut presence = up.presence();
        let request = bearer.request(v1::NotificationsRequest {
            tenant: tenant.to_owned(),
            extension: extension.to_owned(),
        });
        async move { presence.notifications(request).await }
    };
    match open("").await {
        Ok(stream) => Ok(Some(stream.into_inner())),
        Err(status) if status.code() == Code::PermissionDenied && !acting.is_empty() => {
            Ok(Some(open(acting).await?.into_inner()))
        }
        Err(status) if status.code() == Code::PermissionDenied => Ok(None),
        Err(status) => Err(status.into()),
    }
}

async fn read_parked(up: &Upstream, bearer: &Bearer, tenant: &str) -> Result<Value, Refusal> {
    let parked = up
        .park()
        .list_parked(bearer.unary(v1::ListParkedRequest {
            tenant: tenant.to_owned(),
        }))
        .await?
        .into_inner()
        .parked;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Ok(json!({
        "now_ms": now_ms,
        "parked": parked.iter().map(|p| json!({
            "code": p.code,
            "call_id": p.call_id.to_string(),
            "policy": p.policy,
            "parked_by": p.parked_by,
            "since_ms": p.since_ms,
            "ring_back_at_ms": p.ring_back_at_ms,
            "ringing_back": p.ringing_back,
            "caller": party(&p.caller),
        })).collect::<Vec<_>>(),
    }))
}

/// Sends `item` unless the page has gone, is too far behind, or the
/// console stops; `false` means stop pumping.
fn forward(
    tx: &mpsc::Sender<Option<Event>>,
    stopping: &tokio::sync::watch::Receiver<bool>,
    item: Event,
) -> bool {
    !*stopping.borrow() && tx.try_send(Some(item)).is_ok()
}

/// Waits for the next item of `stream`, or for the page to go or the
/// console to stop (`None`).
async fn next_or_gone<T>(
    stream: &mut Streaming<T>,
    tx: &mpsc::Sender<Option<Event>>,
    stopping: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<T> {
    tokio::select! {
        item = stream.next() => match item {
            Some(Ok(item)) => Some(item),
            Some(Err(status)) => {
                tracing::debug!(code = ?status.code(), reason = status.message(), "console stream from the node ended");
                None
            }
            None => None,
        },
        () = tx.closed() => None,
        _ = stopping.wait_for(|s| *s) => None,
    }
}

/// A page's park lot: listed again whenever it may have changed (a park
/// code's lamp changed, or a parked call started ringing back).
#[derive(Clone)]
struct ParkLot {
    up: Upstream,
    bearer: Bearer,
    tenant: String,
}

impl ParkLot {
    /// Sends the page the lot as it is now; `false` means stop pumping.
    async fn send(
        &self,
        tx: &mpsc::Sender<Option<Event>>,
        stopping: &tokio::sync::watch::Receiver<bool>,
    ) -> bool {
        match read_parked(&self.up, &self.bearer, &self.tenant).await {
            Ok(parked) => forward(tx, stopping, event("parked", &parked)),
            Err(refusal) => {
                tracing::debug!(reason = %refusal.message, "console could not list parked calls");
                false
            }
        }
    }
}

async fn pump_lamps(
    mut lamps: Streaming<v1::LampEvent>,
    tx: mpsc::Sender<Option<Event>>,
    lot: ParkLot,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    while let Some(lamp) = next_or_gone(&mut lamps, &tx, &mut stopping).await {
        let state = name_of(
            v1::LampState::try_from(lamp.state)
                .ok()
                .map(|s| s.as_str_name()),
            "LAMP_STATE_",
        );
        let (extension, park_code) = match lamp.target {
            Some(v1::lamp_event::Target::Extension(e)) => (Some(e), None),
            Some(v1::lamp_event::Target::ParkCode(c)) => (None, Some(c)),
            None => (None, None),
        };
        let data = json!({
            "extension": extension,
            "park_code": park_code,
            "state": state,
            "call_id": lamp.call_id.map(|c| c.to_string()),
            "caller": party(&lamp.caller),
            "sequence": lamp.sequence,
        });
        if !forward(&tx, &stopping, event("lamp", &data)) {
            break;
        }
        if park_code.is_some() && !lot.send(&tx, &stopping).await {
            break;
        }
    }
    // The stream is over: the page reconnects and starts from the current state.
    let _ = tx.try_send(None);
}

async fn pump_notices(
    mut notices: Streaming<v1::Notification>,
    tx: mpsc::Sender<Option<Event>>,
    lot: ParkLot,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    use v1::notification::Kind;
    while let Some(n) = next_or_gone(&mut notices, &tx, &mut stopping).await {
        let (kind, detail) = match &n.kind {
            Some(Kind::Alert(a)) => (
                "alert",
                json!({
                    "call_id": a.call_id.to_string(),
                    "caller": party(&a.caller),
                    "callee": a.callee,
                    "mode": name_of(v1::AlertMode::try_from(a.mode).ok().map(|m| m.as_str_name()), "ALERT_MODE_"),
                    "reason": name_of(v1::AlertReason::try_from(a.reason).ok().map(|r| r.as_str_name()), "ALERT_REASON_"),
                }),
            ),
            Some(Kind::AlertStopped(s)) => (
                "alert_stopped",
                json!({ "call_id": s.call_id.to_string(), "answered_by": s.answered_by }),
            ),
            Some(Kind::MissedCall(m)) => (
                "missed_call",
                json!({
                    "call_id": m.call_id.to_string(),
                    "caller": party(&m.caller),
                    "answered_by": m.answered_by,
                    "how": name_of(v1::AnswerHow::try_from(m.how).ok().map(|h| h.as_str_name()), "ANSWER_HOW_"),
                }),
            ),
            Some(Kind::ParkRingBack(r)) => (
                "park_ring_back",
                json!({ "call_id": r.call_id.to_string(), "code": r.code }),
            ),
            None => continue,
        };
        let data = json!({ "extension": n.extension, "kind": kind, "detail": detail });
        if !forward(&tx, &stopping, event("notice", &data)) {
            break;
        }
        if kind == "park_ring_back" && !lot.send(&tx, &stopping).await {
            break;
        }
    }
    let _ = tx.try_send(None);
}
