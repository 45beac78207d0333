//! The dialogs the edge serves: calls and their forks, BLF subscriptions
//! and INVITE-Replaces pickups, parks by REFER, hops of a call between
//! edges, registrations. They are one layer, and call one another (a
//! Replaces INVITE is a call and a BLF pickup, a pickup may hop to the edge
//! that holds the caller): the edge's socket and request loop
//! ([`crate::edge`]) sit above them, the cluster client, digest, SDP and
//! guards below.

pub mod blf;
pub mod calls;
pub mod hop;
pub mod park;
pub mod register;

use std::sync::Arc;

use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{StatusCode, Transport, Uri};
use rsipstack::transaction::Transaction;
use rsipstack::transaction::endpoint::EndpointInnerRef;

use crate::cluster::Cluster;
use crate::digest::Nonces;
use blf::Subscriptions;
use calls::Calls;
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
    pub relays: hop::Relays,
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

/// The tenant and extension that `tx`'s request is authenticated as, or
/// `None` once the challenge or refusal has been sent. Nothing is served to
/// a request without a valid digest answer.
pub async fn authenticate(
    shared: &Arc<Shared>,
    tx: &mut Transaction,
) -> anyhow::Result<Option<(String, String)>> {
    let domain = tx.original.from_header()?.uri()?.host().to_string();
    let Some(credentials) = shared.nonces.credentials(&tx.original) else {
        let challenge = shared.nonces.challenge(&domain, false);
        tx.reply_with(StatusCode::Unauthorized, vec![challenge], None)
            .await?;
        return Ok(None);
    };
    let from_user = tx.original.from_header()?.uri()?.user().map(str::to_owned);
    // The answer is for this request: its digest URI is the Request-URI
    // (RFC 3261 §22.4) or, as some phones and SIPp send it, this edge's own
    // address. Replays are refused by the nonce count (see `digest`).
    let for_this_request = rsipstack::sip::Uri::try_from(credentials.request.uri.as_str())
        .is_ok_and(|uri| {
            uri.to_string() == tx.original.uri.to_string()
                || uri.host_with_port.to_string() == shared.edge_id
        });
    if credentials.tenant != domain
        || from_user.as_deref() != Some(&credentials.extension)
        || !for_this_request
    {
        tx.reply(StatusCode::Forbidden).await?;
        return Ok(None);
    }
    let answer = shared
        .cluster
        .registrar
        .clone()
        .authenticate(credentials.request.clone())
        .await;
    match answer {
        Ok(r) if r.get_ref().ok && credentials.fresh => {
            // From now on this edge follows the tenant's alerts, so calls
            // its phones place or take are forked wherever callgrid rings.
            shared.watchers.ensure(shared, &credentials.tenant).await;
            Ok(Some((credentials.tenant, credentials.extension)))
        }
        Ok(r) if r.get_ref().ok => {
            let challenge = shared.nonces.challenge(&domain, true);
            tx.reply_with(StatusCode::Unauthorized, vec![challenge], None)
                .await?;
            Ok(None)
        }
        Ok(_) => {
            tx.reply(StatusCode::Forbidden).await?;
            Ok(None)
        }
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            tx.reply(StatusCode::Forbidden).await?;
            Ok(None)
        }
        Err(status) => {
            tracing::warn!(%status, "sip: the cluster did not answer an authentication");
            tx.reply(StatusCode::ServiceUnavailable).await?;
            Ok(None)
        }
    }
}
