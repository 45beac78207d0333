//! The dialogs the edge serves: calls and their forks, BLF subscriptions
//! and INVITE-Replaces pickups, parks by REFER, hops of a call between
//! edges, registrations. The edge's socket and request loop
//! ([`crate::edge`]) sit above them; the cluster client, digest, SDP and
//! guards below. This module holds what they share ([`Shared`]).
//!
//! # Layout
//! Each module calls only those below it, so the layer reads one way
//! (checked by `tests/tests/layering.rs`):
//! - [`invite`]: an INVITE outside a dialog: a BLF pickup, or digits that
//!   callgrid reads as a call, a pickup or a retrieve.
//! - [`hop`]: a hop received from another edge: a phone rung, or a picker
//!   joined, for a call held by another edge.
//! - [`blf`]: lamps watched with SUBSCRIBE `Event: dialog` (RFC 4235), and
//!   INVITE + Replaces as a BLF pickup.
//! - [`register`]: REGISTER, digest authentication of every request, and
//!   the notification stream followed per tenant.
//! - [`calls`]: a ringing call: forks to the alerted phones, an answer
//!   decided by the cluster, a picker joined to the caller.
//! - [`park`]: an answered call: followed to its BYE, parked by a transfer
//!   to the park code, joined to its retriever.
//! - [`relay`]: hops sent to another edge, and the relay of a call across
//!   one.
//! - [`legs`]: a call's legs at this edge and what every handler does with
//!   one (serve an INVITE, cancel a fork, hang up).

pub mod blf;
pub mod calls;
pub mod hop;
pub mod invite;
pub mod legs;
pub mod park;
pub mod register;
pub mod relay;

use std::sync::Arc;

use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::{Transport, Uri};
use rsipstack::transaction::Transaction;
use rsipstack::transaction::endpoint::EndpointInnerRef;

use crate::cluster::Cluster;
use crate::digest::Nonces;
use blf::Subscriptions;
use legs::Calls;
use register::Watchers;

/// What every request handler shares.
pub struct Shared {
    pub endpoint: EndpointInnerRef,
    pub dialogs: Arc<DialogLayer>,
    pub cluster: Cluster,
    pub nonces: Nonces,
    /// This edge's SIP address (`host:port`): bindings name it.
    pub edge_id: String,
    pub calls: Calls,
    pub watchers: Watchers,
    pub subscriptions: Subscriptions,
    pub flood: Arc<crate::guard::Flood>,
    pub relays: relay::Relays,
}

impl Shared {
    /// This edge's Contact for a dialog that `tx` starts (over its transport).
    pub fn contact_for(&self, tx: &Transaction) -> Uri {
        let transport = tx
            .connection
            .as_ref()
            .map(|c| c.transport())
            .unwrap_or(Transport::Udp);
        self.contact(transport)
    }

    /// This edge's Contact for requests over `transport`.
    pub fn contact(&self, transport: Transport) -> Uri {
        let listen = self.endpoint.transport_layer.get_listen_addrs();
        let addr = listen
            .iter()
            .find(|a| a.r#type == Some(transport))
            .or_else(|| listen.first());
        match addr {
            Some(addr) => addr.into(),
            None => Uri::default(),
        }
    }
}
