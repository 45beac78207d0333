//! Hops between edges, sent: a call whose caller registered through one
//! edge reaches phones that registered through another (`hop` receives
//! them).
//!
//! Each binding names the edge that holds the phone's flow, and only that
//! edge can reach the phone. So:
//!
//! - **fork**: the edge holding a call's caller sends the INVITE for a phone
//!   of another edge *to that edge*, marked with an `X-Callgrid-Hop` header;
//!   that edge relays it to the phone over the phone's flow, and relays the
//!   answers back. The caller's edge still asks the cluster to `Answer`.
//! - **join / retrieve**: a phone that picks up (or retrieves) a call whose
//!   caller is held by another edge is joined through that edge: its edge
//!   sends the picker's INVITE there, marked, and that edge joins it to the
//!   caller exactly as a local picker, after checking the cluster named the
//!   picker the winner.
//!
//! Edges trust each other by address: a hop is served only if it comes
//! from the address of an edge the cluster's bindings name for the party it
//! concerns (the caller for a fork, the picker for a join). Edges must sit
//! on a network where those addresses cannot be forged, as SIP without TLS
//! requires anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use callgrid_proto::v1::{CallInfo, GetCallRequest, party};
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TransactionHandle};
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{Header, Request, StatusCode, Transport, Uri};
use rsipstack::transport::SipAddr;

use crate::dialog::Shared;
use crate::dialog::legs::{
    COMPLETED_ELSEWHERE, CallKey, Fork, bindings, bye, cancel, reject, sdp_headers,
};
use crate::outcomes::Refusal;

/// How long a relayed phone's cancel waits for the stopped alert that
/// names why the call stopped ringing.
const STOPPED_ALERT_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// How far apart a relay looks again for what it waits on.
pub(crate) const APPLY_WAIT_PAUSE: std::time::Duration = std::time::Duration::from_millis(25);

/// How often a request to relay waits for the onward leg to be confirmed
/// (a second in all, `APPLY_WAIT_PAUSE` apart).
const DIALOG_SETTLE_TRIES: u32 = 40;

/// The header that marks a request as a hop, and says what it is for.
pub const HEADER: &str = "X-Callgrid-Hop";

/// What a hop is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopKind {
    /// An INVITE for a phone of the receiving edge.
    Fork,
    /// A picker to be joined to a caller the receiving edge holds.
    Join,
    /// A retriever to be joined to a parked caller the receiving edge holds.
    Retrieve,
}

impl HopKind {
    fn as_str(self) -> &'static str {
        match self {
            HopKind::Fork => "fork",
            HopKind::Join => "join",
            HopKind::Retrieve => "retrieve",
        }
    }
}

/// A hop: `<kind>;tenant=<t>;call=<id>;party=<ext>`, where the party is the
/// alerted extension (fork) or the picker or retriever (join, retrieve).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub kind: HopKind,
    pub tenant: String,
    pub call_id: u64,
    pub party: String,
}

impl Hop {
    pub fn fork(tenant: &str, call_id: u64, extension: &str) -> Hop {
        Hop {
            kind: HopKind::Fork,
            tenant: tenant.to_owned(),
            call_id,
            party: extension.to_owned(),
        }
    }

    pub fn header(&self) -> Header {
        Header::Other(
            HEADER.into(),
            format!(
                "{};tenant={};call={};party={}",
                self.kind.as_str(),
                self.tenant,
                self.call_id,
                self.party
            ),
        )
    }

    /// The hop a request carries, if it carries one.
    pub fn of(request: &Request) -> Option<Hop> {
        let value = request.headers.iter().find_map(|h| match h {
            Header::Other(name, value) if name.eq_ignore_ascii_case(HEADER) => Some(value.clone()),
            _ => None,
        })?;
        let mut parts = value.split(';').map(str::trim);
        let kind = match parts.next()? {
            "fork" => HopKind::Fork,
            "join" => HopKind::Join,
            "retrieve" => HopKind::Retrieve,
            _ => return None,
        };
        let (mut tenant, mut call_id, mut party) = (None, None, None);
        for part in parts {
            match part.split_once('=')? {
                ("tenant", v) => tenant = Some(v.to_owned()),
                ("call", v) => call_id = v.parse().ok(),
                ("party", v) => party = Some(v.to_owned()),
                _ => {}
            }
        }
        Some(Hop {
            kind,
            tenant: tenant?,
            call_id: call_id?,
            party: party?,
        })
    }
}

/// An edge id (`host:port`) as the address to send a hop to (UDP).
pub fn edge_addr(edge: &str) -> Option<SipAddr> {
    let addr: std::net::SocketAddr = edge.parse().ok()?;
    Some(SipAddr::new(Transport::Udp, addr.into()))
}

/// Phones of this edge rung on behalf of a caller held elsewhere, by call
/// and extension: a stopped alert cancels them with its reason.
#[derive(Default)]
pub struct Relays {
    to_phones: Mutex<HashMap<(CallKey, String), Vec<Fork>>>,
    /// Woken whenever phones are taken (to be cancelled).
    taken: tokio::sync::Notify,
}

impl Relays {
    pub(crate) fn add(&self, key: (CallKey, String), fork: Fork) {
        self.to_phones
            .lock()
            .expect("relays lock poisoned")
            .entry(key)
            .or_default()
            .push(fork);
    }

    fn take(&self, key: &(CallKey, String)) -> Vec<Fork> {
        let phones = self
            .to_phones
            .lock()
            .expect("relays lock poisoned")
            .remove(key)
            .unwrap_or_default();
        self.taken.notify_waiters();
        phones
    }

    /// Takes the one phone leg `phone` of `key` (a relay's own), if still there.
    fn take_one(&self, key: &(CallKey, String), phone: &InviteDialog) -> Option<Fork> {
        let mut relays = self.to_phones.lock().expect("relays lock poisoned");
        let phones = relays.get_mut(key)?;
        let at = phones.iter().position(|f| f.dialog.id() == phone.id())?;
        let fork = phones.remove(at);
        if phones.is_empty() {
            relays.remove(key);
        }
        Some(fork)
    }

    fn holds(&self, key: &(CallKey, String), phone: &InviteDialog) -> bool {
        self.to_phones
            .lock()
            .expect("relays lock poisoned")
            .get(key)
            .is_some_and(|phones| phones.iter().any(|f| f.dialog.id() == phone.id()))
    }

    /// Waits (at most `wait`) for the stopped alert to take the phone leg;
    /// true if it did.
    async fn taken_within(
        &self,
        key: &(CallKey, String),
        phone: &InviteDialog,
        wait: std::time::Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let taken = self.taken.notified();
            if !self.holds(key, phone) {
                return true;
            }
            if tokio::time::timeout_at(deadline, taken).await.is_err() {
                return !self.holds(key, phone);
            }
        }
    }
}

/// A stopped alert for a phone this edge rings on another edge's behalf:
/// cancel it here, naming why, before the other edge's plain CANCEL comes.
pub async fn alert_stopped(shared: &Shared, key: &CallKey, extension: &str, answered_by: &str) {
    let relayed = shared.relays.take(&(key.clone(), extension.to_owned()));
    let reason = (!answered_by.is_empty()).then_some(COMPLETED_ELSEWHERE);
    for f in relayed {
        cancel(shared, &f, reason).await;
    }
}

pub(crate) async fn call_info(shared: &Shared, tenant: &str, call_id: u64) -> Option<CallInfo> {
    shared
        .cluster
        .calls
        .clone()
        .get_call(GetCallRequest {
            tenant: tenant.to_owned(),
            call_id,
        })
        .await
        .ok()?
        .into_inner()
        .call
}

pub(crate) fn no_sip_leg() -> Refusal {
    Refusal {
        status: StatusCode::TemporarilyUnavailable,
        outcome: "NO_SIP_LEG",
    }
}

/// Joins a picker (or retriever) of this edge to a caller held by another
/// edge: its INVITE goes there as a hop, and the answers are relayed.
pub async fn join_remote(
    shared: Arc<Shared>,
    key: CallKey,
    party: String,
    dialog: InviteDialog,
    offer: Vec<u8>,
    states: DialogStateReceiver,
    kind: HopKind,
) {
    let caller = match call_info(&shared, &key.0, key.1)
        .await
        .and_then(|c| c.caller)
        .and_then(|p| p.kind)
    {
        Some(party::Kind::Extension(caller)) => caller,
        _ => String::new(),
    };
    let edge = bindings(&shared, &key.0, &caller)
        .await
        .into_iter()
        .map(|b| b.edge)
        .find(|edge| *edge != shared.edge_id);
    let (Some(edge), Ok(uri)) = (
        edge.clone(),
        Uri::try_from(format!("sip:{}@{}", kind.as_str(), edge.unwrap_or_default()).as_str()),
    ) else {
        reject(&dialog, &no_sip_leg());
        return;
    };
    let Some(destination) = edge_addr(&edge) else {
        reject(&dialog, &no_sip_leg());
        return;
    };
    let hop = Hop {
        kind,
        tenant: key.0.clone(),
        call_id: key.1,
        party: party.clone(),
    };
    let caller_uri = Uri::try_from(format!("sip:{party}@{}", key.0).as_str()).unwrap_or_default();
    let option = InviteOption {
        caller: caller_uri,
        callee: uri,
        destination: Some(destination),
        contact: shared.contact(Transport::Udp),
        content_type: Some("application/sdp".into()),
        offer: (!offer.is_empty()).then_some(offer),
        headers: Some(vec![hop.header()]),
        ..Default::default()
    };
    let (hop_tx, hop_states) = shared.dialogs.new_dialog_state_channel();
    let Ok((onward, _sent)) = shared.dialogs.do_invite_async(option, hop_tx) else {
        reject(&dialog, &no_sip_leg());
        return;
    };
    relay(&shared, dialog, states, onward, hop_states, None).await;
}

/// Carries one call across a hop: what the far leg answers is answered on
/// the near one; whichever side ends, the other is ended. `ringing` names a
/// phone this edge rings for another edge: if the other edge cancels first,
/// the phone's CANCEL still says why (the hop's own Reason does not survive
/// the dialog layer), and a stopped alert that comes later finds it gone.
pub(crate) async fn relay(
    shared: &Shared,
    near: InviteDialog,
    mut near_states: DialogStateReceiver,
    far: InviteDialog,
    mut far_states: DialogStateReceiver,
    ringing: Option<(CallKey, String)>,
) {
    loop {
        tokio::select! {
            Some(state) = far_states.recv() => match state {
                DialogState::Early(..) => {
                    let _ = near.ringing(None, None);
                }
                DialogState::Confirmed(_, response) => {
                    let _ = near.accept(sdp_headers(), Some(response.body.clone()));
                }
                // A transfer (to park) is decided by the edge holding the
                // caller: it goes there, and its progress comes back.
                DialogState::Refer(_, request, handle)
                | DialogState::Notify(_, request, handle)
                | DialogState::Message(_, request, handle) => forward(&request, &near, handle).await,
                DialogState::Terminated(id, _) => {
                    shared.dialogs.remove_dialog(&id);
                    // The phone's leg is over: nothing is left to cancel.
                    if let Some(relayed) = &ringing {
                        shared.relays.take_one(relayed, &far);
                    }
                    match near.state() {
                        DialogState::Confirmed(..) | DialogState::WaitAck(..) => {
                            bye(&near).await;
                        }
                        _ => reject(&near, &no_sip_leg()),
                    }
                    shared.dialogs.remove_dialog(&near.id());
                    return;
                }
                _ => {}
            },
            Some(state) = near_states.recv() => match state {
                DialogState::Refer(_, request, handle)
                | DialogState::Notify(_, request, handle)
                | DialogState::Message(_, request, handle) => forward(&request, &far, handle).await,
                DialogState::Terminated(id, _) => {
                    shared.dialogs.remove_dialog(&id);
                    let answered = matches!(
                        far.state(),
                        DialogState::Confirmed(..) | DialogState::WaitAck(..)
                    );
                    match &ringing {
                        // An answered phone has nothing to wait for: hang up.
                        Some(relayed) if answered => {
                            shared.relays.take_one(relayed, &far);
                            bye(&far).await;
                        }
                        // The other edge cancelled: the stopped alert that says
                        // why is on its way here too; give it a moment.
                        Some(relayed)
                            if shared
                                .relays
                                .taken_within(relayed, &far, STOPPED_ALERT_WAIT)
                                .await => {}
                        Some(relayed) => {
                            if let Some(phone) = shared.relays.take_one(relayed, &far) {
                                let answered = call_info(shared, &relayed.0.0, relayed.0.1)
                                    .await
                                    .is_some_and(|c| {
                                        !c.answered_by.is_empty() && c.answered_by != relayed.1
                                    });
                                let reason = answered.then_some(COMPLETED_ELSEWHERE);
                                cancel(shared, &phone, reason).await;
                            }
                        }
                        None => {
                            let _ = far.hangup().await;
                        }
                    }
                    shared.dialogs.remove_dialog(&far.id());
                    return;
                }
                _ => {}
            },
            else => return,
        }
    }
}

/// Sends an in-dialog request on to the other leg of a relay and answers
/// it with what that leg answered.
async fn forward(request: &Request, onward: &InviteDialog, handle: TransactionHandle) {
    let headers: Vec<Header> = request
        .headers
        .iter()
        .filter(|h| {
            matches!(
                h,
                Header::Event(_)
                    | Header::SubscriptionState(_)
                    | Header::ContentType(_)
                    | Header::ReferTo(_)
                    | Header::ReferredBy(_)
            )
        })
        .cloned()
        .collect();
    let body = (!request.body.is_empty()).then(|| request.body.clone());
    // A phone may transfer right behind its ACK, before the other leg has
    // its own ACK: requests go only on a confirmed dialog.
    for _ in 0..DIALOG_SETTLE_TRIES {
        if matches!(onward.state(), DialogState::Confirmed(..)) {
            break;
        }
        tokio::time::sleep(APPLY_WAIT_PAUSE).await;
    }
    let answered = onward.request(request.method, Some(headers), body).await;
    let status = match answered {
        Ok(Some(response)) => response.status_code,
        _ => StatusCode::ServerInternalError,
    };
    let _ = handle.reply(status).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hop_header_reads_back() {
        let hop = Hop {
            kind: HopKind::Join,
            tenant: "acme".into(),
            call_id: 42,
            party: "103".into(),
        };
        let Header::Other(name, value) = hop.header() else {
            panic!("an extension header");
        };
        assert_eq!(name, HEADER);
        assert_eq!(value, "join;tenant=acme;call=42;party=103");
        let text = format!(
            "INVITE sip:join@127.0.0.1:5061 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n\
             From: <sip:103@acme>;tag=1\r\nTo: <sip:join@acme>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
             {name}: {value}\r\nContent-Length: 0\r\n\r\n"
        );
        let rsipstack::sip::SipMessage::Request(request) =
            rsipstack::sip::SipMessage::try_from(text.as_str()).expect("parses")
        else {
            panic!("a request");
        };
        assert_eq!(Hop::of(&request), Some(hop));
        assert_eq!(
            edge_addr("127.0.0.1:5061").expect("addr").to_string(),
            "UDP 127.0.0.1:5061"
        );
        assert!(edge_addr("nowhere").is_none());
    }
}
