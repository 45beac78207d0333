//! `callgrid.v1.Presence`: BLF lamps and per-extension notifications.
//!
//! A lamp stream starts with the current state of every watched lamp, read
//! together with the log index it reflects; it then forwards only events
//! from later entries. Subscribing before reading means nothing falls in
//! between, and the index filter means nothing is shown twice.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use callgrid_model::{Event, Extension, LampTarget, ParkCode, TenantId};
use callgrid_proto::convert;
use callgrid_proto::v1::{self, presence_server::Presence};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast;
use tonic::{Request, Response, Status};

use super::streams::OpenStream;
use super::{Api, handle, invalid};
use crate::auth::Client;
use crate::hub::Published;

/// The most extensions one `WatchLamps` may name (an attendant console's
/// worth): a watch holds each lamp's state for the life of the stream.
pub const MAX_WATCHED_EXTENSIONS: usize = 1_000;
/// The most park codes one `WatchLamps` may name.
pub const MAX_WATCHED_PARK_CODES: usize = 1_000;

/// Refuses a request list longer than `max`, before anything is parsed or
/// allocated per entry.
fn at_most(field: &str, len: usize, max: usize) -> Result<(), Status> {
    if len > max {
        return Err(Status::invalid_argument(format!(
            "{field}: at most {max} entries per request, got {len}"
        )));
    }
    Ok(())
}

type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// A stream holding its share of the node's stream budget: the share is
/// given back when the stream is dropped, which is when it ends or its
/// client goes away.
struct Budgeted<T> {
    stream: EventStream<T>,
    _share: OpenStream,
}

impl<T> Stream for Budgeted<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.as_mut().poll_next(cx)
    }
}

/// Takes a stream's share of the budget: one of its client's streams and
/// `lamps` of the node's watched lamps. The client is the one the gate
/// found (its token, or its address in development mode).
fn open_stream<T>(api: &Api, request: &Request<T>, lamps: usize) -> Result<OpenStream, Status> {
    let client = request
        .extensions()
        .get::<Client>()
        .copied()
        .unwrap_or_else(|| Client::of_address(request.remote_addr()));
    api.shared.streams.open(client, lamps).map_err(|refused| {
        tracing::info!(%client, reason = %refused, "stream refused");
        Status::from(refused)
    })
}

/// A client's live feed: hub events rendered for it, until it goes away,
/// falls too far behind (it is told, and must subscribe again), or the
/// node shuts down (the hub closes its channels). The HTTP/2 stream's own
/// task polls it: no task or queue per watcher sits between the hub and
/// the connection, and an event wakes the stream through its channel
/// alone. (Waiting on a shutdown signal beside it would register and
/// drop a waiter on one node-wide lock per event per stream: with
/// thousands of streams, a convoy.)
fn live<T: Send + 'static>(
    events: broadcast::Receiver<Arc<Published>>,
    render: impl FnMut(&Published) -> Option<T> + Send + 'static,
) -> impl Stream<Item = Result<T, Status>> + Send + 'static {
    futures::stream::unfold(Some((events, render)), |state| async move {
        let (mut events, mut render) = state?;
        loop {
            match events.recv().await {
                Ok(p) => {
                    if let Some(msg) = render(&p) {
                        return Some((Ok(msg), Some((events, render))));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let lost = Status::data_loss(format!(
                        "stream fell {missed} events behind; subscribe again for a fresh state"
                    ));
                    return Some((Err(lost), None));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

impl Api {
    fn extension_in(&self, tenant: &TenantId, field: &str, raw: &str) -> Result<Extension, Status> {
        let ext = convert::extension(field, raw).map_err(invalid)?;
        let known = self.shared.consensus.read(|sb| {
            sb.tenant(tenant)
                .is_some_and(|t| t.extension(&ext).is_some())
        });
        if known {
            Ok(ext)
        } else {
            Err(Status::not_found(format!(
                "{field}: no extension {ext} in tenant {tenant}"
            )))
        }
    }
}

#[tonic::async_trait]
impl Presence for Api {
    type WatchLampsStream = EventStream<v1::LampEvent>;
    type NotificationsStream = EventStream<v1::Notification>;

    async fn watch_lamps(
        &self,
        request: Request<v1::WatchLampsRequest>,
    ) -> Result<Response<Self::WatchLampsStream>, Status> {
        handle!("Presence/WatchLamps", {
            let r = request.get_ref();
            at_most("extensions", r.extensions.len(), MAX_WATCHED_EXTENSIONS)?;
            at_most("park_codes", r.park_codes.len(), MAX_WATCHED_PARK_CODES)?;
            let tenant = self.existing_tenant(&r.tenant)?;
            // A lamp named twice is watched once: fold duplicates before
            // anything per lamp is looked up or kept.
            let mut targets: Vec<LampTarget> = Vec::new();
            let mut named: HashSet<&str> = HashSet::new();
            for (i, raw) in r.extensions.iter().enumerate() {
                if !named.insert(raw.as_str()) {
                    continue;
                }
                targets.push(LampTarget::Extension(self.extension_in(
                    &tenant,
                    &format!("extensions[{i}]"),
                    raw,
                )?));
            }
            let mut codes: HashSet<u32> = HashSet::new();
            for (i, raw) in r.park_codes.iter().enumerate() {
                if !codes.insert(*raw) {
                    continue;
                }
                let code = ParkCode::new(&format!("park_codes[{i}]"), *raw).map_err(invalid)?;
                targets.push(LampTarget::ParkCode(code));
            }
            if targets.is_empty() {
                return Err(Status::invalid_argument(
                    "extensions: watch at least one extension or park code",
                ));
            }
            let watcher = if r.watcher.is_empty() {
                None
            } else {
                Some(self.extension_in(&tenant, "watcher", &r.watcher)?)
            };

            // Checked before anything is subscribed or read: a refused
            // watch holds nothing.
            let share = open_stream(self, &request, targets.len())?;
            let events = self.shared.hub.subscribe(&tenant);
            let (from_index, shows_caller, initial) =
                self.shared.consensus.state.read_indexed(|sb, index| {
                    let t = sb.tenant(&tenant);
                    // The caller is shown to a watcher who may pick the call up.
                    let shows_caller = watcher
                        .as_ref()
                        .and_then(|w| t.and_then(|t| t.extension(w)))
                        .is_some_and(|w| w.directed_pickup_allowed);
                    let initial: Vec<Event> = targets
                        .iter()
                        .map(|target| {
                            let (state, call, caller) = match target {
                                LampTarget::Extension(e) => sb.lamp_view(&tenant, e),
                                LampTarget::ParkCode(c) => {
                                    let (state, call) = t
                                        .map(|t| t.park_lamp(*c))
                                        .unwrap_or((callgrid_model::LampState::Idle, None));
                                    (
                                        state,
                                        call,
                                        call.and_then(|c| sb.call(c)).map(|c| c.caller.clone()),
                                    )
                                }
                            };
                            Event::Lamp {
                                tenant: tenant.clone(),
                                target: target.clone(),
                                state,
                                call,
                                caller,
                            }
                        })
                        .collect();
                    (index, shows_caller, initial)
                });

            let mut sequence = 0u64;
            let mut render = move |event: &Event| {
                let mut lamp = convert::lamp_event_of(event, 0)?;
                sequence += 1;
                lamp.sequence = sequence;
                if !shows_caller {
                    lamp.caller = None;
                }
                Some(lamp)
            };
            let first: Vec<Result<v1::LampEvent, Status>> =
                initial.iter().filter_map(&mut render).map(Ok).collect();
            let watched: HashSet<LampTarget> = targets.into_iter().collect();
            let live_events = move |p: &Published| match &p.event {
                Event::Lamp { target, .. } if p.index > from_index && watched.contains(target) => {
                    render(&p.event)
                }
                _ => None,
            };
            let feed = live(events, live_events);
            Ok(Box::pin(Budgeted {
                stream: Box::pin(futures::stream::iter(first).chain(feed)),
                _share: share,
            }) as Self::WatchLampsStream)
        })
    }

    async fn notifications(
        &self,
        request: Request<v1::NotificationsRequest>,
    ) -> Result<Response<Self::NotificationsStream>, Status> {
        handle!("Presence/Notifications", {
            let r = request.get_ref();
            let tenant = self.existing_tenant(&r.tenant)?;
            // No extension: every extension's (the gate let only an admin in).
            let me = match r.extension.as_str() {
                "" => None,
                raw => Some(self.extension_in(&tenant, "extension", raw)?),
            };
            let share = open_stream(self, &request, 0)?;
            let events = self.shared.hub.subscribe(&tenant);
            let render = move |p: &Published| match &p.event {
                Event::Notice { extension, .. } if me.as_ref().is_none_or(|me| me == extension) => {
                    convert::notification_of(&p.event)
                }
                _ => None,
            };
            let feed = live(events, render);
            Ok(Box::pin(Budgeted {
                stream: Box::pin(feed),
                _share: share,
            }) as Self::NotificationsStream)
        })
    }
}
