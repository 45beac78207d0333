//! `callgrid.v1.Presence`: BLF lamps and per-extension notifications.
//!
//! A lamp stream starts with the current state of every watched lamp, read
//! together with the log index it reflects; it then forwards only events
//! from later entries. Subscribing before reading means nothing falls in
//! between, and the index filter means nothing is shown twice.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;

use callgrid_model::{Event, Extension, LampTarget, ParkCode, TenantId};
use callgrid_proto::convert;
use callgrid_proto::v1::{self, presence_server::Presence};
use futures::Stream;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{Api, handle, invalid};
use crate::hub::Published;

type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Buffered messages per stream before the sender waits on the client.
const STREAM_QUEUE: usize = 1024;

/// Forwards hub events to one client until it goes away, falls too far
/// behind, or the node shuts down.
async fn pump<T: Send + 'static>(
    mut events: broadcast::Receiver<Arc<Published>>,
    tx: mpsc::Sender<Result<T, Status>>,
    mut shutdown: watch::Receiver<bool>,
    mut render: impl FnMut(&Published) -> Option<T> + Send + 'static,
) {
    loop {
        let published = tokio::select! {
            received = events.recv() => received,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        match published {
            Ok(p) => {
                if let Some(msg) = render(&p)
                    && tx.send(Ok(msg)).await.is_err()
                {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                let _ = tx
                    .send(Err(Status::data_loss(format!(
                        "stream fell {missed} events behind; subscribe again for a fresh state"
                    ))))
                    .await;
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

impl Api {
    fn extension_in(&self, tenant: &TenantId, field: &str, raw: &str) -> Result<Extension, Status> {
        let ext = convert::extension(field, raw).map_err(invalid)?;
        let known = self.node.consensus.read(|sb| {
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
            let r = request.into_inner();
            let tenant = self.existing_tenant(&r.tenant)?;
            let mut targets: Vec<LampTarget> = Vec::new();
            for (i, raw) in r.extensions.iter().enumerate() {
                targets.push(LampTarget::Extension(self.extension_in(
                    &tenant,
                    &format!("extensions[{i}]"),
                    raw,
                )?));
            }
            for (i, raw) in r.park_codes.iter().enumerate() {
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

            let events = self.node.hub.subscribe(&tenant);
            let (from_index, shows_caller, initial) =
                self.node.consensus.state.read_indexed(|sb, index| {
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

            let (tx, rx) = mpsc::channel(STREAM_QUEUE);
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
            for event in &initial {
                if let Some(lamp) = render(event) {
                    let _ = tx.try_send(Ok(lamp));
                }
            }
            let watched: HashSet<LampTarget> = targets.into_iter().collect();
            let live = move |p: &Published| match &p.event {
                Event::Lamp { target, .. } if p.index > from_index && watched.contains(target) => {
                    render(&p.event)
                }
                _ => None,
            };
            tokio::spawn(pump(events, tx, self.node.shutdown.clone(), live));
            Ok(Box::pin(ReceiverStream::new(rx)) as Self::WatchLampsStream)
        })
    }

    async fn notifications(
        &self,
        request: Request<v1::NotificationsRequest>,
    ) -> Result<Response<Self::NotificationsStream>, Status> {
        handle!("Presence/Notifications", {
            let r = request.into_inner();
            let tenant = self.existing_tenant(&r.tenant)?;
            let me = self.extension_in(&tenant, "extension", &r.extension)?;
            let events = self.node.hub.subscribe(&tenant);
            let (tx, rx) = mpsc::channel(STREAM_QUEUE);
            let render = move |p: &Published| match &p.event {
                Event::Notice { extension, .. } if *extension == me => {
                    convert::notification_of(&p.event)
                }
                _ => None,
            };
            tokio::spawn(pump(events, tx, self.node.shutdown.clone(), render));
            Ok(Box::pin(ReceiverStream::new(rx)) as Self::NotificationsStream)
        })
    }
}
