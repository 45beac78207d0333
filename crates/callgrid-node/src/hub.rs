//! Fans applied events out to presence streams.
//!
//! Every node applies every command, so every node publishes every lamp
//! change and notice: a client may watch from whichever node it is
//! connected to. Events are published per tenant, in log order, tagged with
//! the log index that produced them so a new stream can join its initial
//! snapshot to the live feed without gaps or repeats.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use callgrid_model::{Event, TenantId};
use tokio::sync::broadcast;

/// How many events a slow stream may fall behind before it is cut off
/// (and must re-subscribe, getting a fresh snapshot).
const STREAM_BUFFER: usize = 8192;

/// One published event and the log index that produced it.
#[derive(Debug, Clone)]
pub struct Published {
    pub index: u64,
    pub event: Event,
}

/// Per-tenant broadcast channels of applied events.
///
/// A stream ends when its channel closes: [`Hub::close`] drops every
/// sender when the node stops. Streams wait on nothing else, so an event
/// costs each stream one wake-up and no other shared lock.
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Mutex<Channels>>,
}

#[derive(Default)]
struct Channels {
    tenants: HashMap<TenantId, broadcast::Sender<Arc<Published>>>,
    closed: bool,
}

impl Hub {
    /// A receiver of the tenant's events from now on; once the hub is
    /// closed, one that is already closed.
    pub fn subscribe(&self, tenant: &TenantId) -> broadcast::Receiver<Arc<Published>> {
        let mut channels = self.inner.lock().expect("hub lock poisoned");
        if channels.closed {
            return broadcast::channel(1).1;
        }
        channels
            .tenants
            .entry(tenant.clone())
            .or_insert_with(|| broadcast::channel(STREAM_BUFFER).0)
            .subscribe()
    }

    /// Ends every stream (after the events already sent to it) and every
    /// later subscription: the node is stopping.
    pub fn close(&self) {
        let mut channels = self.inner.lock().expect("hub lock poisoned");
        channels.closed = true;
        channels.tenants.clear();
    }

    /// Sends a lamp change or notice to its tenant's current subscribers;
    /// nobody listening is fine. Other events are not for streams.
    pub fn publish(&self, index: u64, event: Event) {
        let tenant = match &event {
            Event::Lamp { tenant, .. } | Event::Notice { tenant, .. } => tenant.clone(),
            Event::Deadline { .. } | Event::ShardsMoved { .. } => return,
        };
        metrics::counter!("callgrid_presence_events_total").increment(1);
        let channels = self.inner.lock().expect("hub lock poisoned");
        if let Some(tx) = channels.tenants.get(&tenant)
            && tx.send(Arc::new(Published { index, event })).is_err()
        {
            metrics::counter!("callgrid_presence_unobserved_events_total").increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callgrid_model::{Extension, LampState, LampTarget};

    fn lamp(tenant: &TenantId) -> Event {
        Event::Lamp {
            tenant: tenant.clone(),
            target: LampTarget::Extension(Extension::parse("extension", "100").expect("valid")),
            state: LampState::Idle,
            call: None,
            caller: None,
        }
    }

    #[tokio::test]
    async fn close_ends_streams_after_what_was_sent_and_refuses_new_ones() {
        let hub = Hub::default();
        let tenant = TenantId::parse("tenant", "acme").expect("valid");
        let mut rx = hub.subscribe(&tenant);
        hub.publish(7, lamp(&tenant));
        hub.close();
        let first = rx.recv().await.expect("the event sent before close");
        assert_eq!(first.index, 7);
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Closed)
        ));
        let mut late = hub.subscribe(&tenant);
        assert!(matches!(
            late.recv().await,
            Err(broadcast::error::RecvError::Closed)
        ));
        // Publishing after close reaches nobody and does not panic.
        hub.publish(8, lamp(&tenant));
    }
}
