//! An INVITE outside a dialog, the top of the dialog layer: a BLF pickup
//! (INVITE + Replaces), or digits dialled, which callgrid reads as a call,
//! a pickup or a retrieve; each goes to the handler that carries it.

use std::sync::{Arc, Mutex};

use callgrid_proto::v1::{
    CallResult, DialRequest, PickupResult, RetrieveResult, dial_response::Outcome,
};
use rsipstack::sip::StatusCode;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::transaction::Transaction;

use crate::dialog::Shared;
use crate::dialog::legs::{CallLegs, extension_party, reject, serve_invite};
use crate::dialog::register::authenticate;
use crate::dialog::{blf, calls, park};
use crate::outcomes::{self, Refusal};

/// An INVITE outside a dialog: a call, or a feature code (pickup,
/// retrieve) dialled as a call.
pub async fn invite(shared: Arc<Shared>, mut tx: Transaction) -> anyhow::Result<()> {
    let Some((tenant, extension)) = authenticate(&shared, &mut tx).await? else {
        return Ok(());
    };
    // A BLF key: INVITE + Replaces naming the early dialog a lamp showed.
    if let Some(replaces) = blf::Replaces::of(&tx.original) {
        return blf::pickup(shared, tx, tenant, extension, replaces).await;
    }
    let digits = tx.original.uri.user().unwrap_or_default().to_owned();
    let offer = tx.original.body.clone();
    let caller_uri = tx.original.from_header()?.uri()?;
    let (dialog, states) = serve_invite(&shared, tx)?;

    let key = callgrid_client::Key::dial(&tenant, Some(extension.as_str()), &digits);
    let dial = DialRequest {
        tenant: tenant.clone(),
        from: Some(extension_party(&extension)),
        digits,
    };
    let dialling = shared.calls.dialling();
    let dialled = crate::cluster::once(&shared.cluster, key, dial, |mut to, r| async move {
        to.calls.dial(r).await
    })
    .await;
    let outcome = match dialled {
        Ok(r) => r.outcome,
        Err(status) => {
            tracing::debug!(%status, "dial refused");
            let refusal = match status.code() {
                tonic::Code::InvalidArgument => Refusal {
                    status: StatusCode::NotFound,
                    outcome: "INVALID_ARGUMENT",
                },
                _ => outcomes::unavailable(),
            };
            reject(&dialog, &refusal);
            return Ok(());
        }
    };
    match outcome {
        Some(Outcome::Call(call)) => {
            let result = CallResult::try_from(call.result).unwrap_or_default();
            if let Some(refusal) = outcomes::dial(result) {
                reject(&dialog, &refusal);
                return Ok(());
            }
            dialog.ringing(None, None)?;
            let legs = Arc::new(CallLegs {
                tenant,
                call_id: call.call_id,
                caller_extension: extension,
                caller: dialog,
                caller_uri,
                offer,
                state: Mutex::default(),
            });
            calls::ring(shared, legs, states, dialling).await;
        }
        Some(Outcome::Pickup(pickup)) => {
            // Not a call of this edge's: a pickup of one may wait for it.
            drop(dialling);
            let result = PickupResult::try_from(pickup.result).unwrap_or_default();
            if let Some(refusal) = outcomes::pickup(result) {
                reject(&dialog, &refusal);
                return Ok(());
            }
            calls::join_picker(
                shared,
                (tenant, pickup.call_id),
                extension,
                dialog,
                offer,
                states,
            )
            .await;
        }
        Some(Outcome::Retrieve(retrieve)) => {
            drop(dialling);
            let result = RetrieveResult::try_from(retrieve.result).unwrap_or_default();
            if let Some(refusal) = outcomes::retrieve(result) {
                reject(&dialog, &refusal);
                return Ok(());
            }
            let key = (tenant, retrieve.call_id);
            park::join_retriever(shared, key, extension, dialog, offer, states).await;
        }
        None => reject(&dialog, &outcomes::unavailable()),
    }
    Ok(())
}
