//! A ringing call whose caller this edge holds: the INVITEs forked to the
//! phones callgrid alerts (and cancelled when it stops alerting them), the
//! answer a phone's 200 OK attempts, and a picker's INVITE joined to the
//! waiting caller. Once answered, a call is followed by `park`.
//!
//! The edge decides nothing. A phone's 200 OK is only an *attempt* to
//! answer: the cluster's `Answer` says whether it won; a pickup's winner is
//! the cluster's `PICKED_UP`. A leg that lost gets ACK and BYE.

use std::sync::Arc;

use callgrid_client::Key;

use callgrid_proto::v1::{
    AnswerRequest, AnswerResult, CallState, GetCallRequest, Notification, notification::Kind,
};
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver};
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{StatusCode, Transport, Uri};

use crate::dialog::Shared;
use crate::dialog::legs::{
    Answerer, COMPLETED_ELSEWHERE, CallKey, CallLegs, Dialling, Fork, bindings, bye, cancel,
    hang_up, reject, sdp_headers, source_addr,
};
use crate::dialog::park::{follow_answerer, on_refer};
use crate::dialog::relay::{self, Hop, HopKind, edge_addr, join_remote};
use crate::outcomes::Refusal;

/// Rings a call this edge placed: forks it to the phones alerted before
/// the dial returned (later alerts fork as they come), then follows the
/// caller's leg to its end.
pub(crate) async fn ring(
    shared: Arc<Shared>,
    legs: Arc<CallLegs>,
    states: DialogStateReceiver,
    dial: Dialling,
) {
    for alerted in shared.calls.insert(legs.clone(), dial) {
        fork(&shared, &legs, &alerted).await;
    }
    follow_caller(shared, legs, states).await;
}

/// Waits for the caller's leg to end (CANCEL before an answer, BYE after
/// one), then ends the call in the cluster and hangs up every other leg.
async fn follow_caller(shared: Arc<Shared>, legs: Arc<CallLegs>, mut states: DialogStateReceiver) {
    while let Some(state) = states.recv().await {
        if let DialogState::Terminated(id, reason) = state {
            shared.dialogs.remove_dialog(&id);
            tracing::debug!(call = legs.call_id, ?reason, "caller leg ended");
            if legs.end() {
                hang_up(&shared, &legs, &legs.caller_extension).await;
                let answerer = legs.lock().answerer.clone();
                for f in legs.take_forks_except(None) {
                    cancel(&shared, &f, None).await;
                }
                match answerer {
                    Some(Answerer::Phone(f)) => {
                        bye(&f.dialog).await;
                    }
                    Some(Answerer::Picker(dialog)) => {
                        bye(&dialog).await;
                    }
                    None => {}
                }
            }
            shared.calls.remove(&legs.key());
            return;
        }
    }
}

/// What the cluster tells the edge about an extension registered here.
pub async fn on_notification(shared: &Arc<Shared>, notification: Notification) {
    let extension = notification.extension;
    match notification.kind {
        Some(Kind::Alert(alert)) => {
            let key = (notification.tenant, alert.call_id);
            if let Some(legs) = shared.calls.get_or_remember_alert(key, extension.clone()) {
                fork(shared, &legs, &extension).await;
            }
        }
        Some(Kind::AlertStopped(stopped)) => {
            let key = (notification.tenant, stopped.call_id);
            relay::alert_stopped(shared, &key, &extension, &stopped.answered_by).await;
            let Some(legs) = shared.calls.get(&key) else {
                return;
            };
            let gone: Vec<Fork> = {
                let mut state = legs.lock();
                let (gone, kept) = std::mem::take(&mut state.forks)
                    .into_iter()
                    .partition(|f| f.extension == extension);
                state.forks = kept;
                gone
            };
            let reason = (!stopped.answered_by.is_empty()).then_some(COMPLETED_ELSEWHERE);
            for f in gone {
                cancel(shared, &f, reason).await;
            }
            if stopped.answered_by.is_empty() {
                end_if_over(shared, &legs).await;
            }
        }
        _ => {}
    }
}

/// A call stopped alerting with nobody answering: if callgrid ended it (no
/// answer, or a ring-back nobody took), the caller is told: a final
/// response before an answer, BYE after one (a parked call).
async fn end_if_over(shared: &Arc<Shared>, legs: &Arc<CallLegs>) {
    let call = shared
        .cluster
        .calls
        .clone()
        .get_call(GetCallRequest {
            tenant: legs.tenant.clone(),
            call_id: legs.call_id,
        })
        .await;
    let ended = call.is_ok_and(|c| {
        c.into_inner()
            .call
            .is_some_and(|c| c.state == CallState::Ended as i32)
    });
    if ended && legs.end() {
        if matches!(legs.caller.state(), DialogState::Confirmed(..)) {
            bye(&legs.caller).await;
        } else {
            reject(
                &legs.caller,
                &Refusal {
                    status: StatusCode::TemporarilyUnavailable,
                    outcome: "NO_ANSWER",
                },
            );
        }
    }
}

/// INVITEs every phone of `extension`: directly where the phone registered
/// through this edge, through the phone's own edge (a hop, see `relay`)
/// where it registered through another.
async fn fork(shared: &Arc<Shared>, legs: &Arc<CallLegs>, extension: &str) {
    for binding in bindings(shared, &legs.tenant, extension).await {
        let Ok(contact) = Uri::try_from(binding.contact.as_str()) else {
            continue;
        };
        let here = binding.edge == shared.edge_id;
        let destination = if here {
            source_addr(&binding.source)
        } else {
            edge_addr(&binding.edge)
        };
        let Some(destination) = destination else {
            continue;
        };
        let transport = destination.r#type.unwrap_or(Transport::Udp);
        let (state_tx, states) = shared.dialogs.new_dialog_state_channel();
        let hop = (!here).then(|| vec![Hop::fork(&legs.tenant, legs.call_id, extension).header()]);
        let option = InviteOption {
            caller: legs.caller_uri.clone(),
            callee: contact,
            destination: Some(destination.clone()),
            contact: shared.contact(transport),
            content_type: Some("application/sdp".into()),
            offer: (!legs.offer.is_empty()).then(|| legs.offer.clone()),
            headers: hop,
            ..Default::default()
        };
        let Ok((dialog, _sent)) = shared.dialogs.do_invite_async(option, state_tx) else {
            continue;
        };
        let f = Fork {
            extension: extension.to_owned(),
            dialog,
            destination,
        };
        let open = {
            let mut state = legs.lock();
            let open = !state.ended && state.answerer.is_none();
            if open {
                state.forks.push(f.clone());
            }
            open
        };
        if !open {
            cancel(shared, &f, Some(COMPLETED_ELSEWHERE)).await;
        }
        tokio::spawn(follow_fork(shared.clone(), legs.clone(), f, states));
    }
}

/// One forked INVITE: its 200 OK is an attempt to answer, decided by the
/// cluster; a BYE from it after it won ends the call.
async fn follow_fork(
    shared: Arc<Shared>,
    legs: Arc<CallLegs>,
    f: Fork,
    mut states: DialogStateReceiver,
) {
    while let Some(state) = states.recv().await {
        match state {
            DialogState::Confirmed(_, response) => {
                if !legs
                    .lock()
                    .forks
                    .iter()
                    .any(|g| g.dialog.id() == f.dialog.id())
                {
                    // Cancelled while its 200 was on the way.
                    bye(&f.dialog).await;
                    continue;
                }
                // The answering phone's extension is the call's home unless
                // a call group's member answers (then its owner forwards).
                let key = Key::extension(&legs.tenant, &f.extension).ok();
                let answer = AnswerRequest {
                    tenant: legs.tenant.clone(),
                    call_id: legs.call_id,
                    by: f.extension.clone(),
                };
                let answer =
                    crate::cluster::once(&shared.cluster, key, answer, |mut to, r| async move {
                        to.calls.answer(r).await
                    })
                    .await;
                let won = answer
                    .map(|r| r.result == AnswerResult::Answered as i32)
                    .unwrap_or(false);
                if !won {
                    bye(&f.dialog).await;
                    continue;
                }
                {
                    let mut state = legs.lock();
                    state.answerer = Some(Answerer::Phone(f.clone()));
                    state.caller_sees = response.body.clone();
                }
                for other in legs.take_forks_except(Some(&f.dialog)) {
                    cancel(&shared, &other, Some(COMPLETED_ELSEWHERE)).await;
                }
                if matches!(legs.caller.state(), DialogState::Confirmed(..)) {
                    // A parked call rang back and its parker answered: the
                    // caller's session moves to the parker's phone.
                    let _ = legs
                        .caller
                        .reinvite(sdp_headers(), Some(response.body.clone()))
                        .await;
                } else {
                    let _ = legs
                        .caller
                        .accept(sdp_headers(), Some(response.body.clone()));
                }
            }
            DialogState::Refer(_, request, handle) => {
                on_refer(&shared, &legs, &f.extension, &f.dialog, request, handle).await;
            }
            DialogState::Terminated(id, _) => {
                shared.dialogs.remove_dialog(&id);
                let answered_here = matches!(
                    &legs.lock().answerer,
                    Some(Answerer::Phone(a)) if a.dialog.id() == f.dialog.id()
                );
                if answered_here && legs.end() {
                    hang_up(&shared, &legs, &f.extension).await;
                    bye(&legs.caller).await;
                }
                return;
            }
            _ => {}
        }
    }
}

/// Joins a picker to the waiting caller of the call it picked up: each is
/// answered from the other's offer, and every forked leg is cancelled.
pub(crate) async fn join_picker(
    shared: Arc<Shared>,
    key: CallKey,
    picker: String,
    dialog: InviteDialog,
    picker_offer: Vec<u8>,
    states: DialogStateReceiver,
) {
    let Some(legs) = shared.calls.get_or_settle(&key).await else {
        // The caller's leg is at another edge: join through it.
        join_remote(
            shared,
            key,
            picker,
            dialog,
            picker_offer,
            states,
            HopKind::Join,
        )
        .await;
        return;
    };
    let caller_offer = String::from_utf8_lossy(&legs.offer).into_owned();
    let picker_text = String::from_utf8_lossy(&picker_offer).into_owned();
    let answers =
        crate::sdp::answer_from(&caller_offer, &picker_text, legs.call_id).and_then(|to_caller| {
            crate::sdp::answer_from(&picker_text, &caller_offer, legs.call_id)
                .map(|to_picker| (to_caller, to_picker))
        });
    let (to_caller, to_picker) = match answers {
        Ok(answers) => answers,
        Err(e) => {
            tracing::debug!(error = %e, "pickup: the offers cannot be joined");
            reject(
                &dialog,
                &Refusal {
                    status: StatusCode::NotAcceptableHere,
                    outcome: "NO_COMMON_MEDIA",
                },
            );
            if legs.end() {
                hang_up(&shared, &legs, &picker).await;
                bye(&legs.caller).await;
            }
            return;
        }
    };
    {
        let mut state = legs.lock();
        state.answerer = Some(Answerer::Picker(dialog.clone()));
        state.caller_sees = to_caller.clone().into_bytes();
    }
    for f in legs.take_forks_except(None) {
        cancel(&shared, &f, Some(COMPLETED_ELSEWHERE)).await;
    }
    let _ = legs
        .caller
        .accept(sdp_headers(), Some(to_caller.into_bytes()));
    let _ = dialog.accept(sdp_headers(), Some(to_picker.into_bytes()));
    follow_answerer(shared, legs, picker, dialog, states).await;
}
