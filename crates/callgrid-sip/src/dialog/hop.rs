//! A request marked as a hop, received from another edge (see `relay` for
//! what hops are and how they are sent): a phone of this edge is rung for a
//! caller held by another edge, or a picker or retriever held by another
//! edge is joined to a caller held here.

use std::sync::Arc;

use callgrid_proto::v1::party;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{StatusCode, Transport, Uri};
use rsipstack::transaction::Transaction;

use crate::dialog::Shared;
use crate::dialog::legs::{Fork, bindings, reject, serve_invite, source_addr};
use crate::dialog::relay::{APPLY_WAIT_PAUSE, Hop, HopKind, call_info, no_sip_leg, relay};
use crate::dialog::{calls, park};

/// How often a hop looks for its call on this edge's node before it is
/// refused (500 ms in all, `APPLY_WAIT_PAUSE` apart).
const APPLY_WAIT_TRIES: u32 = 20;

/// True if `source` is an edge the cluster's bindings name for `extension`.
async fn is_edge_of(shared: &Shared, tenant: &str, extension: &str, source: &str) -> bool {
    bindings(shared, tenant, extension)
        .await
        .iter()
        .any(|b| b.edge == source)
}

/// A request marked as a hop, from another edge.
pub async fn receive(shared: Arc<Shared>, mut tx: Transaction, hop: Hop) -> anyhow::Result<()> {
    let source = tx
        .connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .map(|a| a.addr.to_string())
        .unwrap_or_default();
    // A join names its sender's phone: check the sender before any waiting,
    // so a stranger's hop costs one read, not a poll.
    if hop.kind != HopKind::Fork && !is_edge_of(&shared, &hop.tenant, &hop.party, &source).await {
        tracing::warn!(%source, ?hop, "a hop from an address no binding names: refused");
        return Ok(tx.reply(StatusCode::Forbidden).await?);
    }
    // The hop can outrun replication: this edge's node may apply the call
    // (or the pickup that names the picker) a moment after the sending
    // edge's node did.
    let mut call = None;
    for _ in 0..APPLY_WAIT_TRIES {
        call = call_info(&shared, &hop.tenant, hop.call_id)
            .await
            .filter(|c| hop.kind == HopKind::Fork || c.answered_by == hop.party);
        if call.is_some() {
            break;
        }
        tokio::time::sleep(APPLY_WAIT_PAUSE).await;
    }
    let Some(call) = call else {
        return Ok(tx.reply(StatusCode::Forbidden).await?);
    };
    // Whom the hop concerns, and so which party's edge may send it.
    let vouching = match hop.kind {
        HopKind::Fork => match call.caller.and_then(|p| p.kind) {
            Some(party::Kind::Extension(caller)) => caller,
            _ => String::new(),
        },
        HopKind::Join | HopKind::Retrieve if call.answered_by == hop.party => hop.party.clone(),
        HopKind::Join | HopKind::Retrieve => String::new(),
    };
    if vouching.is_empty() || !is_edge_of(&shared, &hop.tenant, &vouching, &source).await {
        tracing::warn!(%source, ?hop, "a hop from an address no binding names: refused");
        return Ok(tx.reply(StatusCode::Forbidden).await?);
    }
    let offer = tx.original.body.clone();
    let caller_uri = tx.original.from_header()?.uri()?;
    let phone_uri = tx.original.uri.to_string();
    let (dialog, states) = serve_invite(&shared, tx)?;
    let key = (hop.tenant.clone(), hop.call_id);
    let joins_a_caller_here = matches!(hop.kind, HopKind::Join | HopKind::Retrieve)
        && shared.calls.get_or_settle(&key).await.is_some();
    match hop.kind {
        HopKind::Join | HopKind::Retrieve if !joins_a_caller_here => {
            reject(&dialog, &no_sip_leg());
        }
        HopKind::Join => {
            calls::join_picker(shared, key, hop.party, dialog, offer, states).await;
        }
        HopKind::Retrieve => {
            park::join_retriever(shared, key, hop.party, dialog, offer, states).await;
        }
        HopKind::Fork => {
            let binding = bindings(&shared, &hop.tenant, &hop.party)
                .await
                .into_iter()
                .find(|b| b.edge == shared.edge_id && b.contact == phone_uri);
            let (Some(binding), Ok(contact)) = (binding, Uri::try_from(phone_uri.as_str())) else {
                reject(&dialog, &no_sip_leg());
                return Ok(());
            };
            let Some(destination) = source_addr(&binding.source) else {
                reject(&dialog, &no_sip_leg());
                return Ok(());
            };
            let option = InviteOption {
                caller: caller_uri,
                callee: contact,
                destination: Some(destination.clone()),
                contact: shared.contact(destination.r#type.unwrap_or(Transport::Udp)),
                content_type: Some("application/sdp".into()),
                offer: (!offer.is_empty()).then_some(offer),
                ..Default::default()
            };
            let (phone_tx, phone_states) = shared.dialogs.new_dialog_state_channel();
            let Ok((phone, _sent)) = shared.dialogs.do_invite_async(option, phone_tx) else {
                reject(&dialog, &no_sip_leg());
                return Ok(());
            };
            let relayed = (key, hop.party.clone());
            shared.relays.add(
                relayed.clone(),
                Fork {
                    extension: hop.party,
                    dialog: phone.clone(),
                    destination,
                },
            );
            relay(&shared, dialog, states, phone, phone_states, Some(relayed)).await;
        }
    }
    Ok(())
}
