//! The legs of each call this edge carries, and what every dialog handler
//! does with one: the caller's INVITE, the INVITEs forked to the phones
//! callgrid alerts, and whoever joined the caller by an INVITE of its own.
//!
//! The bottom of the dialog layer: it knows the cluster's clients and the
//! SIP stack, and none of the handlers above it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callgrid_proto::v1::{Binding, HangupRequest, LookupRequest, party};
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, SipMessage, StatusCodeKind, Transport, Uri};
use rsipstack::transaction::Transaction;
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transport::SipAddr;

use crate::dialog::Shared;
use crate::outcomes::Refusal;

/// What a phone shows when another phone took the call (RFC 3326).
pub(crate) const COMPLETED_ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";

/// How long an alert may wait for the dial that caused it to return.
const EARLY_ALERT_WAIT: Duration = Duration::from_secs(5);

/// How long a pickup of a call not filed here waits for the dials this
/// edge had in flight: a dial's answer comes back within milliseconds
/// unless the cluster is in trouble, and then the pickup goes on without.
const DIAL_FILING_WAIT: Duration = Duration::from_secs(2);

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
    dials: Arc<DialsInFlight>,
}

/// The dials this edge has sent and not filed yet: a call's legs are filed
/// under its id, which only the cluster's answer to the dial tells. The
/// cluster can decide a pickup of a call before that answer is back here
/// (its alert went out first, and a fast picker, or a busy edge, did the
/// rest); such a pickup waits for the dials that were in flight when it
/// looked, and for no later one.
#[derive(Default)]
pub(crate) struct DialsInFlight {
    /// The next dial's number, and the numbers of the dials in flight.
    state: Mutex<(u64, BTreeSet<u64>)>,
    filed: tokio::sync::Notify,
}

/// One dial in flight; dropping it (its call filed, or the dial refused or
/// failed) ends it.
pub(crate) struct Dialling {
    dials: Arc<DialsInFlight>,
    number: u64,
}

impl Drop for Dialling {
    fn drop(&mut self) {
        self.dials.lock().1.remove(&self.number);
        self.dials.filed.notify_waiters();
    }
}

impl DialsInFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, BTreeSet<u64>)> {
        self.state.lock().expect("dials lock poisoned")
    }

    pub(crate) fn begin(self: &Arc<Self>) -> Dialling {
        let mut state = self.lock();
        let number = state.0;
        state.0 += 1;
        state.1.insert(number);
        Dialling {
            dials: self.clone(),
            number,
        }
    }

    /// Resolves once every dial begun before this call (not before the
    /// first poll) has ended, or after `bound`.
    pub(crate) fn settle(
        self: &Arc<Self>,
        bound: Duration,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mark = self.lock().0;
        let dials = self.clone();
        async move {
            let deadline = tokio::time::Instant::now() + bound;
            loop {
                let filed = dials.filed.notified();
                tokio::pin!(filed);
                filed.as_mut().enable();
                if dials.lock().1.first().is_none_or(|first| *first >= mark) {
                    return;
                }
                if tokio::time::timeout_at(deadline, filed).await.is_err() {
                    return;
                }
            }
        }
    }
}

impl Calls {
    fn lock(&self) -> std::sync::MutexGuard<'_, CallsInner> {
        self.inner.lock().expect("calls lock poisoned")
    }

    pub(crate) fn get(&self, key: &CallKey) -> Option<Arc<CallLegs>> {
        self.lock().legs.get(key).cloned()
    }

    /// A dial this edge is about to send: see [`DialsInFlight`].
    pub(crate) fn dialling(&self) -> Dialling {
        self.dials.begin()
    }

    /// Files a ringing call, ending the dial that placed it; returns the
    /// extensions alerted before it was known.
    pub(crate) fn insert(&self, legs: Arc<CallLegs>, dial: Dialling) -> Vec<String> {
        let key = legs.key();
        let alerted = {
            let mut inner = self.lock();
            inner.legs.insert(key.clone(), legs);
            inner
                .early_alerts
                .remove(&key)
                .unwrap_or_default()
                .into_iter()
                .map(|(extension, _)| extension)
                .collect()
        };
        drop(dial);
        alerted
    }

    /// The call `key` if this edge holds it, waiting (a while) for the
    /// dials in flight here to be filed when it is not there yet.
    pub(crate) async fn get_or_settle(&self, key: &CallKey) -> Option<Arc<CallLegs>> {
        if let Some(legs) = self.get(key) {
            return Some(legs);
        }
        self.dials.settle(DIAL_FILING_WAIT).await;
        self.get(key)
    }

    /// The call `key` if this edge holds it; otherwise the alert of
    /// `extension` is kept a while for a dial that has not returned yet.
    pub(crate) fn get_or_remember_alert(
        &self,
        key: CallKey,
        extension: String,
    ) -> Option<Arc<CallLegs>> {
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

    pub(crate) fn remove(&self, key: &CallKey) {
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
    pub(crate) forks: Vec<Fork>,
    pub(crate) answerer: Option<Answerer>,
    /// The description the caller was last given (what it sends media to).
    pub(crate) caller_sees: Vec<u8>,
    pub(crate) ended: bool,
}

/// One call's legs at this edge.
pub(crate) struct CallLegs {
    pub(crate) tenant: String,
    pub(crate) call_id: u64,
    pub(crate) caller_extension: String,
    pub(crate) caller: InviteDialog,
    pub(crate) caller_uri: Uri,
    pub(crate) offer: Vec<u8>,
    pub(crate) state: Mutex<LegsState>,
}

impl CallLegs {
    pub(crate) fn key(&self) -> CallKey {
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
    pub(crate) fn take_forks_except(&self, keep: Option<&InviteDialog>) -> Vec<Fork> {
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

pub(crate) fn extension_party(extension: &str) -> callgrid_proto::v1::Party {
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

/// How long a BYE on a leg this edge answered waits for that answer's ACK:
/// the server transaction's own lifetime (64 × T1, RFC 3261 §17.2.1).
const ACK_WAIT: Duration = Duration::from_secs(32);

/// Hangs up `dialog` with BYE. On a leg this edge answered with 200 OK,
/// only once the phone's ACK has come (or the server transaction would
/// have timed out): RFC 3261 §15 forbids a BYE before it, and a phone can
/// only match a BYE to a dialog its 200 OK has set up. The 200 OK leaves
/// through the INVITE's own transaction task, so on a busy edge a BYE
/// decided at once (the picker hung up straight away) could otherwise
/// overtake it.
pub(crate) async fn bye(dialog: &InviteDialog) {
    let deadline = Instant::now() + ACK_WAIT;
    let mut pause = Duration::from_millis(1);
    while matches!(dialog.state(), DialogState::WaitAck(..)) && Instant::now() < deadline {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
    let _ = dialog.bye().await;
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
        (DialogState::Confirmed(..) | DialogState::WaitAck(..), _) => bye(&f.dialog).await,
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

/// The live bindings of `extension`, at every edge.
pub(crate) async fn bindings(shared: &Shared, tenant: &str, extension: &str) -> Vec<Binding> {
    let found = shared
        .cluster
        .registrar
        .clone()
        .lookup(LookupRequest {
            tenant: tenant.to_owned(),
            extension: extension.to_owned(),
        })
        .await;
    match found {
        Ok(r) => r.into_inner().bindings,
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::{DialsInFlight, source_addr};

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn a_pickup_waits_for_the_dials_in_flight_when_it_looked_and_no_later_one() {
        let dials = Arc::new(DialsInFlight::default());
        // Nothing in flight: at once.
        tokio::time::timeout(Duration::from_secs(5), dials.settle(LONG))
            .await
            .expect("nothing to wait for");

        let earlier = dials.begin();
        let mut settled = tokio::spawn(dials.settle(LONG));
        let later = dials.begin();
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut settled)
                .await
                .is_err(),
            "settled while a dial begun before it was in flight"
        );
        drop(earlier);
        tokio::time::timeout(Duration::from_secs(5), settled)
            .await
            .expect("settles once the earlier dial ended, a later one still in flight")
            .expect("the task ran");
        drop(later);
    }

    #[tokio::test]
    async fn a_dial_that_never_ends_holds_a_pickup_no_longer_than_its_bound() {
        let dials = Arc::new(DialsInFlight::default());
        let _stuck = dials.begin();
        tokio::time::timeout(
            Duration::from_secs(5),
            dials.settle(Duration::from_millis(50)),
        )
        .await
        .expect("the bound ends the wait");
    }

    #[test]
    fn binding_sources_name_transport_and_address() {
        let udp = source_addr("udp:192.0.2.7:5062").expect("udp");
        assert_eq!(udp.to_string(), "UDP 192.0.2.7:5062");
        assert!(source_addr("tcp:[2001:db8::1]:5060").is_some());
        assert!(source_addr("sctp:192.0.2.7:5062").is_none());
        assert!(source_addr("udp:nowhere").is_none());
    }
}
