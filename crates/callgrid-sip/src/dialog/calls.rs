//! The legs of each call this edge carries: the caller's INVITE, the
//! INVITEs forked to the phones callgrid alerts, and the picker's INVITE
//! joined to a waiting caller.
//!
//! The edge decides nothing. A phone's 200 OK is only an *attempt* to
//! answer: the cluster's `Answer` says whether it won; a pickup's winner is
//! the cluster's `PICKED_UP`. A leg that lost gets ACK and BYE.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callgrid_client::Key;
use callgrid_proto::v1::{
    AnswerRequest, AnswerResult, CallResult, CallState, DialRequest, GetCallRequest, HangupRequest,
    Notification, PickupResult, RetrieveResult, dial_response::Outcome, notification::Kind, party,
};
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver};
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, SipMessage, StatusCode, StatusCodeKind, Transport, Uri};
use rsipstack::transaction::Transaction;
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transport::SipAddr;

use crate::dialog::hop::HopKind;
use crate::dialog::{Shared, authenticate};
use crate::outcomes::{self, Refusal};

/// What a phone shows when another phone took the call (RFC 3326).
pub(crate) const COMPLETED_ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";

/// How long an alert may wait for the dial that caused it to return.
const EARLY_ALERT_WAIT: Duration = Duration::from_secs(5);

/// A call, by tenant and id.
pub(crate) type CallKey = (String, u64);

/// Every call with a caller leg at this edge.
#[derive(Default)]
struct CallsInner {
    legs: HashMap<CallKey, Arc<CallLegs>>,
    /// Alerts that arrived before the dial that caused them returned.
    early_alerts: HashMap<CallKey, Vec<(String, Instant)>>,
}

/// Every call with a caller leg at this edge. One lock covers the legs and
/// the early alerts, so an alert is either found with its call or kept for
/// it, never lost between the two.
#[derive(Default)]
pub struct Calls {
    inner: Mutex<CallsInner>,
}

impl Calls {
    fn lock(&self) -> std::sync::MutexGuard<'_, CallsInner> {
        self.inner.lock().expect("calls lock poisoned")
    }

    pub(crate) fn get(&self, key: &CallKey) -> Option<Arc<CallLegs>> {
        self.lock().legs.get(key).cloned()
    }

    /// Adds a ringing call; returns the extensions alerted before it was known.
    fn insert(&self, legs: Arc<CallLegs>) -> Vec<String> {
        let key = legs.key();
        let mut inner = self.lock();
        inner.legs.insert(key.clone(), legs);
        inner
            .early_alerts
            .remove(&key)
            .unwrap_or_default()
            .into_iter()
            .map(|(extension, _)| extension)
            .collect()
    }

    /// The call `key` if this edge holds it; otherwise the alert of
    /// `extension` is kept a while for a dial that has not returned yet.
    fn get_or_remember_alert(&self, key: CallKey, extension: String) -> Option<Arc<CallLegs>> {
        let mut inner = self.lock();
        if let Some(legs) = inner.legs.get(&key) {
            return Some(legs.clone());
        }
        inner.early_alerts.retain(|_, alerts| {
            alerts.retain(|(_, at)| at.elapsed() < EARLY_ALERT_WAIT);
            !alerts.is_empty()
        });
        inner
            .early_alerts
            .entry(key)
            .or_default()
            .push((extension, Instant::now()));
        None
    }

    fn remove(&self, key: &CallKey) {
        self.lock().legs.remove(key);
    }

    /// Calls with a caller leg here.
    pub fn len(&self) -> usize {
        self.lock().legs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An INVITE forked to one registered phone of an alerted extension.
#[derive(Clone)]
pub(crate) struct Fork {
    pub(crate) extension: String,
    pub(crate) dialog: InviteDialog,
    pub(crate) destination: SipAddr,
}

/// Who is in the call with the caller.
#[derive(Clone)]
pub(crate) enum Answerer {
    /// A phone that answered its forked INVITE.
    Phone(Fork),
    /// A phone that picked the call up with its own INVITE.
    Picker(InviteDialog),
}

#[derive(Default)]
pub(crate) struct LegsState {
    forks: Vec<Fork>,
    pub(crate) answerer: Option<Answerer>,
    /// The description the caller was last given (what it sends media to).
    pub(crate) caller_sees: Vec<u8>,
    ended: bool,
}

/// One call's legs at this edge.
pub(crate) struct CallLegs {
    pub(crate) tenant: String,
    pub(crate) call_id: u64,
    caller_extension: String,
    pub(crate) caller: InviteDialog,
    caller_uri: Uri,
    offer: Vec<u8>,
    state: Mutex<LegsState>,
}

impl CallLegs {
    fn key(&self) -> CallKey {
        (self.tenant.clone(), self.call_id)
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, LegsState> {
        self.state.lock().expect("legs lock poisoned")
    }

    /// Marks the call over; true for the first caller only.
    pub(crate) fn end(&self) -> bool {
        !std::mem::replace(&mut self.lock().ended, true)
    }

    /// Takes the forks other than `keep`, so they can be cancelled.
    fn take_forks_except(&self, keep: Option<&InviteDialog>) -> Vec<Fork> {
        let mut state = self.lock();
        let (kept, gone) = std::mem::take(&mut state.forks)
            .into_iter()
            .partition(|f| keep.is_some_and(|k| k.id() == f.dialog.id()));
        state.forks = kept;
        gone
    }
}

pub(crate) fn sdp_headers() -> Option<Vec<Header>> {
    Some(vec![Header::ContentType("application/sdp".into())])
}

pub(crate) fn reject(dialog: &InviteDialog, refusal: &Refusal) {
    let _ = dialog.reject(Some(refusal.status.clone()), Some(refusal.reason()));
}

fn extension_party(extension: &str) -> callgrid_proto::v1::Party {
    callgrid_proto::v1::Party {
        kind: Some(party::Kind::Extension(extension.to_owned())),
    }
}

/// Takes an INVITE as the server side of a dialog, whose state changes
/// come on the returned channel. The dialog drives the INVITE transaction
/// from here on: 100 Trying, our answers, a CANCEL (200, then 487), the
/// ACK.
pub(crate) fn serve_invite(
    shared: &Shared,
    mut tx: Transaction,
) -> anyhow::Result<(InviteDialog, DialogStateReceiver)> {
    let (state_tx, states) = shared.dialogs.new_dialog_state_channel();
    let dialog = shared.dialogs.get_or_create_server_invite(
        &tx,
        state_tx,
        None,
        Some(shared.contact_for(&tx)),
    )?;
    let mut driver = dialog.clone();
    let dialogs = shared.dialogs.clone();
    tokio::spawn(async move {
        let _ = driver.handle(&mut tx).await;
        // A refused INVITE's dialog is over when its transaction is: the
        // dialog layer never forgets one by itself.
        if matches!(driver.state(), DialogState::Terminated(..)) {
            dialogs.remove_dialog(&driver.id());
        }
    });
    Ok((dialog, states))
}

/// An INVITE outside a dialog: a call, or a feature code (pickup,
/// retrieve) dialled as a call.
pub async fn invite(shared: Arc<Shared>, mut tx: Transaction) -> anyhow::Result<()> {
    let Some((tenant, extension)) = authenticate(&shared, &mut tx).await? else {
        return Ok(());
    };
    // A BLF key: INVITE + Replaces naming the early dialog a lamp showed.
    if let Some(replaces) = crate::dialog::blf::Replaces::of(&tx.original) {
        return crate::dialog::blf::pickup(shared, tx, tenant, extension, replaces).await;
    }
    let digits = tx.original.uri.user().unwrap_or_default().to_owned();
    let offer = tx.original.body.clone();
    let caller_uri = tx.original.from_header()?.uri()?;
    let (dialog, states) = serve_invite(&shared, tx)?;

    let key = Key::dial(&tenant, Some(extension.as_str()), &digits);
    let dial = DialRequest {
        tenant: tenant.clone(),
        from: Some(extension_party(&extension)),
        digits,
    };
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
            for alerted in shared.calls.insert(legs.clone()) {
                fork(&shared, &legs, &alerted).await;
            }
            follow_caller(shared, legs, states).await;
        }
        Some(Outcome::Pickup(pickup)) => {
            let result = PickupResult::try_from(pickup.result).unwrap_or_default();
            if let Some(refusal) = outcomes::pickup(result) {
                reject(&dialog, &refusal);
                return Ok(());
            }
            join_picker(
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
            let result = RetrieveResult::try_from(retrieve.result).unwrap_or_default();
            if let Some(refusal) = outcomes::retrieve(result) {
                reject(&dialog, &refusal);
                return Ok(());
            }
            let key = (tenant, retrieve.call_id);
            crate::dialog::park::join_retriever(shared, key, extension, dialog, offer, states)
                .await;
        }
        None => reject(&dialog, &outcomes::unavailable()),
    }
    Ok(())
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
                        let _ = f.dialog.bye().await;
                    }
                    Some(Answerer::Picker(dialog)) => {
                        let _ = dialog.bye().await;
                    }
                    None => {}
                }
            }
            shared.calls.remove(&legs.key());
            return;
        }
    }
}

pub(crate) async fn hang_up(shared: &Shared, legs: &CallLegs, by: &str) {
    let hangup = HangupRequest {
        tenant: legs.tenant.clone(),
        call_id: legs.call_id,
        by: Some(extension_party(by)),
    };
    // Either side may hang up: any node is as near the call's home.
    let ended = crate::cluster::once(&shared.cluster, None, hangup, |mut to, r| async move {
        to.calls.hangup(r).await
    })
    .await;
    if let Err(status) = ended {
        tracing::warn!(call = legs.call_id, %status, "hangup not recorded");
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
            crate::dialog::hop::alert_stopped(shared, &key, &extension, &stopped.answered_by).await;
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
            let _ = legs.caller.bye().await;
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
/// through this edge, through the phone's own edge (a hop, see `hop`)
/// where it registered through another.
async fn fork(shared: &Arc<Shared>, legs: &Arc<CallLegs>, extension: &str) {
    for binding in crate::dialog::register::bindings(shared, &legs.tenant, extension).await {
        let Ok(contact) = Uri::try_from(binding.contact.as_str()) else {
            continue;
        };
        let here = binding.edge == shared.edge_id;
        let destination = if here {
            source_addr(&binding.source)
        } else {
            crate::dialog::hop::edge_addr(&binding.edge)
        };
        let Some(destination) = destination else {
            continue;
        };
        let transport = destination.r#type.unwrap_or(Transport::Udp);
        let (state_tx, states) = shared.dialogs.new_dialog_state_channel();
        let hop = (!here).then(|| {
            vec![crate::dialog::hop::Hop::fork(&legs.tenant, legs.call_id, extension).header()]
        });
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

/// `udp:192.0.2.7:5062` as the address to send to.
pub(crate) fn source_addr(source: &str) -> Option<SipAddr> {
    let (transport, addr) = source.split_once(':')?;
    let transport = match transport {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        _ => return None,
    };
    let addr: std::net::SocketAddr = addr.parse().ok()?;
    Some(SipAddr::new(transport, addr.into()))
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
                    let _ = f.dialog.bye().await;
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
                    let _ = f.dialog.bye().await;
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
                crate::dialog::park::on_refer(
                    &shared,
                    &legs,
                    &f.extension,
                    &f.dialog,
                    request,
                    handle,
                )
                .await;
            }
            DialogState::Terminated(id, _) => {
                shared.dialogs.remove_dialog(&id);
                let answered_here = matches!(
                    &legs.lock().answerer,
                    Some(Answerer::Phone(a)) if a.dialog.id() == f.dialog.id()
                );
                if answered_here && legs.end() {
                    hang_up(&shared, &legs, &f.extension).await;
                    let _ = legs.caller.bye().await;
                }
                return;
            }
            _ => {}
        }
    }
}

/// Ends an unanswered fork: CANCEL (with `reason`, when given) once it has
/// had a provisional response, a deferred CANCEL before that, BYE if it
/// was answered meanwhile.
pub(crate) async fn cancel(shared: &Shared, f: &Fork, reason: Option<&str>) {
    match (f.dialog.state(), reason) {
        (DialogState::Early(..) | DialogState::Trying(..), Some(reason)) => {
            if let Err(e) = cancel_with_reason(shared, f, reason).await {
                tracing::debug!(error = %e, "cancel with reason failed; plain cancel");
                let _ = f.dialog.cancel().await;
            }
        }
        (DialogState::Confirmed(..) | DialogState::WaitAck(..), _) => {
            let _ = f.dialog.bye().await;
        }
        _ => {
            let _ = f.dialog.cancel().await;
        }
    }
}

/// A CANCEL of `f`'s INVITE carrying a `Reason` header, which the dialog
/// layer's own CANCEL cannot carry.
async fn cancel_with_reason(shared: &Shared, f: &Fork, reason: &str) -> anyhow::Result<()> {
    let mut cancel = f.dialog.initial_request();
    cancel.method = Method::Cancel;
    cancel.cseq_header_mut()?.mut_method(Method::Cancel)?;
    cancel
        .headers
        .retain(|h| !matches!(h, Header::ContentLength(_) | Header::ContentType(_)));
    cancel.headers.push(Header::Reason(reason.into()));
    cancel.body.clear();
    let key = TransactionKey::from_request(&cancel, TransactionRole::Client)?;
    let mut tx = Transaction::new_client(key, cancel, shared.endpoint.clone(), None);
    tx.destination = Some(f.destination.clone());
    tx.send().await?;
    while let Some(message) = tx.receive().await {
        if let SipMessage::Response(r) = message
            && r.status_code.kind() != StatusCodeKind::Provisional
        {
            break;
        }
    }
    Ok(())
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
    let Some(legs) = shared.calls.get(&key) else {
        // The caller's leg is at another edge: join through it.
        crate::dialog::hop::join_remote(
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
                let _ = legs.caller.bye().await;
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
                crate::dialog::park::on_refer(&shared, &legs, &extension, &dialog, request, handle)
                    .await;
            }
            DialogState::Terminated(id, _) => {
                shared.dialogs.remove_dialog(&id);
                let still_answerer = matches!(
                    &legs.lock().answerer,
                    Some(Answerer::Picker(a)) if a.id() == dialog.id()
                );
                if still_answerer && legs.end() {
                    hang_up(&shared, &legs, &extension).await;
                    let _ = legs.caller.bye().await;
                }
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::source_addr;

    #[test]
    fn binding_sources_name_transport_and_address() {
        let udp = source_addr("udp:192.0.2.7:5062").expect("udp");
        assert_eq!(udp.to_string(), "UDP 192.0.2.7:5062");
        assert!(source_addr("tcp:[2001:db8::1]:5060").is_some());
        assert!(source_addr("sctp:192.0.2.7:5062").is_none());
        assert!(source_addr("udp:nowhere").is_none());
    }
}
