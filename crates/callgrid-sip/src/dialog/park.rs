//! An answered call, and park and retrieve over SIP.
//!
//! The leg of whoever joined the caller by an INVITE of its own (a picker
//! or a retriever) is followed to its BYE, which ends the call unless the
//! call was parked meanwhile.
//!
//! A phone in a call parks it with a blind transfer (REFER) to the
//! tenant's park code (`*70` by default): the edge asks the cluster to
//! `Park` the call, tells the parker the code (a `message/sipfrag` NOTIFY
//! for the transfer, then a MESSAGE "parked on 10"), ends the parker's leg
//! and holds the parked party (a re-INVITE marking its media inactive).
//! `*71<code>` retrieves it: the edge re-INVITEs the parked party with the
//! retriever's offer, and answers the retriever with the parked party's
//! answer. A ring-back is an ordinary alert of the parker (see `calls`).
//!
//! Only the side that answered a call can park it here (the caller is the
//! party held): that is how a receptionist parks the calls it takes.

use std::sync::Arc;

use callgrid_proto::v1::{GetTenantRequest, ParkRequest, ParkResult};
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TransactionHandle};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, Request, StatusCode, StatusCodeKind, Uri};

use crate::dialog::Shared;
use crate::dialog::legs::{Answerer, CallKey, CallLegs, bye, hang_up, reject, sdp_headers};
use crate::dialog::relay::{HopKind, join_remote};
use crate::outcomes::{self, Refusal};

/// The user part of a REFER's `Refer-To` URI: the transfer target.
fn refer_target(request: &Request) -> Option<String> {
    let value = request.headers.iter().find_map(|h| match h {
        Header::ReferTo(r) => Some(r.value().to_owned()),
        Header::Other(name, value) if name.eq_ignore_ascii_case("refer-to") => Some(value.clone()),
        _ => None,
    })?;
    let uri = value.trim().trim_start_matches('<');
    let uri = uri.split('>').next().unwrap_or(uri);
    Uri::try_from(uri).ok()?.user().map(str::to_owned)
}

async fn park_code(shared: &Shared, tenant: &str) -> Option<String> {
    let tenant = shared
        .cluster
        .directory
        .clone()
        .get_tenant(GetTenantRequest {
            tenant: tenant.to_owned(),
        })
        .await
        .ok()?;
    tenant
        .into_inner()
        .config
        .and_then(|c| c.feature_codes)
        .map(|codes| codes.park)
}

/// A REFER from the answering side of a call: a transfer to the park code
/// parks the call; any other transfer is not something the edge does.
pub(crate) async fn on_refer(
    shared: &Arc<Shared>,
    legs: &Arc<CallLegs>,
    parker: &str,
    leg: &InviteDialog,
    request: Request,
    handle: TransactionHandle,
) {
    let target = refer_target(&request);
    let code = park_code(shared, &legs.tenant).await;
    if target.is_none() || target != code {
        let _ = handle.reply(StatusCode::NotImplemented).await;
        return;
    }
    let _ = handle.reply(StatusCode::Accepted).await;
    let park = ParkRequest {
        tenant: legs.tenant.clone(),
        call_id: legs.call_id,
        by: parker.to_owned(),
        code: None,
    };
    let lot = callgrid_client::Key::park_lot(&legs.tenant).ok();
    let parked = crate::cluster::once(&shared.cluster, lot, park, |mut to, r| async move {
        to.park.park(r).await
    })
    .await;
    let text_plain = || Some(vec![Header::ContentType("text/plain".into())]);
    let response = match parked {
        Ok(r) => r,
        Err(status) => {
            tracing::debug!(%status, "park not decided");
            let _ = leg
                .notify_refer(
                    StatusCode::ServiceUnavailable,
                    "terminated;reason=noresource",
                )
                .await;
            return;
        }
    };
    let result = ParkResult::try_from(response.result).unwrap_or_default();
    if let Some(refusal) = outcomes::park(result) {
        let _ = leg
            .notify_refer(refusal.status.clone(), "terminated;reason=noresource")
            .await;
        let _ = leg
            .message(
                text_plain(),
                Some(format!("not parked: {}", refusal.outcome).into_bytes()),
            )
            .await;
        return;
    }
    let held = {
        let mut state = legs.lock();
        state.answerer = None;
        let held =
            crate::sdp::with_direction(&String::from_utf8_lossy(&state.caller_sees), "inactive");
        state.caller_sees = held.clone().into_bytes();
        held
    };
    let _ = leg
        .notify_refer(StatusCode::OK, "terminated;reason=noresource")
        .await;
    let _ = leg
        .message(
            text_plain(),
            Some(format!("parked on {}", response.code).into_bytes()),
        )
        .await;
    bye(leg).await;
    let _ = legs
        .caller
        .reinvite(sdp_headers(), Some(held.into_bytes()))
        .await;
    tracing::debug!(call = legs.call_id, code = response.code, "parked");
}

/// Joins a retriever to the parked caller of the call it retrieved.
pub(crate) async fn join_retriever(
    shared: Arc<Shared>,
    key: CallKey,
    retriever: String,
    dialog: InviteDialog,
    offer: Vec<u8>,
    states: DialogStateReceiver,
) {
    let Some(legs) = shared.calls.get(&key) else {
        // The parked caller's leg is at another edge: retrieve through it.
        join_remote(
            shared,
            key,
            retriever,
            dialog,
            offer,
            states,
            HopKind::Retrieve,
        )
        .await;
        return;
    };
    let answer = legs
        .caller
        .reinvite(sdp_headers(), Some(offer.clone()))
        .await;
    match answer {
        Ok(Some(response)) if response.status_code.kind() == StatusCodeKind::Successful => {
            {
                let mut state = legs.lock();
                state.answerer = Some(Answerer::Picker(dialog.clone()));
                state.caller_sees = offer;
            }
            let _ = dialog.accept(sdp_headers(), Some(response.body.clone()));
            follow_answerer(shared, legs, retriever, dialog, states).await;
        }
        _ => {
            reject(
                &dialog,
                &Refusal {
                    status: StatusCode::TemporarilyUnavailable,
                    outcome: "PARKED_PARTY_UNREACHABLE",
                },
            );
        }
    }
}
/// Follows the leg of whoever joined the caller by its own INVITE (a
/// picker or a retriever): a transfer to the park code parks the call; its
/// BYE ends it, unless the call was parked meanwhile.
pub(crate) async fn follow_answerer(
    shared: Arc<Shared>,
    legs: Arc<CallLegs>,
    extension: String,
    dialog: InviteDialog,
    mut states: DialogStateReceiver,
) {
    while let Some(state) = states.recv().await {
        match state {
            DialogState::Refer(_, request, handle) => {
                on_refer(&shared, &legs, &extension, &dialog, request, handle).await;
            }
            DialogState::Terminated(id, _) => {
                shared.dialogs.remove_dialog(&id);
                let still_answerer = matches!(
                    &legs.lock().answerer,
                    Some(Answerer::Picker(a)) if a.id() == dialog.id()
                );
                if still_answerer && legs.end() {
                    hang_up(&shared, &legs, &extension).await;
                    bye(&legs.caller).await;
                }
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::refer_target;
    use rsipstack::sip::SipMessage;

    #[test]
    fn the_transfer_target_is_the_refer_to_user() {
        let text = "REFER sip:edge@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n\
             From: <sip:102@acme>;tag=1\r\nTo: <sip:101@acme>;tag=2\r\nCall-ID: c1\r\nCSeq: 3 REFER\r\n\
             Refer-To: <sip:*70@acme>\r\nContent-Length: 0\r\n\r\n";
        let SipMessage::Request(request) = SipMessage::try_from(text).expect("parses") else {
            panic!("a request");
        };
        assert_eq!(refer_target(&request).as_deref(), Some("*70"));
    }
}
