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
#[derive(Clone, Default)]
pub struct Hub {
    tenants: Arc<Mutex<HashMap<TenantId, broadcast::Sender<Arc<Published>>>>>,
}

impl Hub {
    pub fn subscribe(&self, tenant: &TenantId) -> broadcast::Receiver<Arc<Published>> {
        let mut tenants = self.tenants.lock().expect("hub lock poisoned");
        tenants
            .entry(tenant.clone())
            .or_insert_with(|| broadcast::channel(STREAM_BUFFER).0)
            .subscribe()
    }

    /// Sends a lamp change or notice to its tenant's current subscribers;
    /// nobody listening is fine. Other events are not for streams.
    pub fn publish(&self, index: u64, event: Event) {
        let tenant = match &event {
            Event::Lamp { tenant, .. } | Event::Notice { tenant, .. } => tenant.clone(),
            Event::Deadline { .. } | Event::ShardsMoved { .. } => return,
        };
        metrics::counter!("callgrid_presence_events_total").increment(1);
        let tenants = self.tenants.lock().expect("hub lock poisoned");
        if let Some(tx) = tenants.get(&tenant)
            && tx.send(Arc::new(Published { index, event })).is_err()
        {
            metrics::counter!("callgrid_presence_unobserved_events_total").increment(1);
        }
    }
}
