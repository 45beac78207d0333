//! BLF over SIP: phones watch lamps with SUBSCRIBE `Event: dialog`
//! (RFC 4235) and pick a ringing call up with INVITE + `Replaces`
//! (RFC 3891).
//!
//! A subscription is a `Presence.WatchLamps` stream with the subscriber as
//! the watcher, so a ringing call's caller is shown only where the watcher
//! may pick it up. Every NOTIFY carries the full state (`state="full"`):
//! version 0 first, then one NOTIFY per lamp change with the next version.
//! The stream is dropped when the subscription ends (unsubscribed, expired,
//! or the phone stopped answering NOTIFYs).
//!
//! # The dialog-info encoding
//! A lamp's call may ring through another edge, so there is no SIP dialog
//! here to describe; the edge names the callgrid call instead, in
//! identifiers it can read back from a `Replaces` header:
//! - `call-id="callgrid-<tenant>-<call id>"` (also the `<dialog id>`);
//! - `local-tag="blf-<extension>"`: the watched extension's side;
//! - `remote-tag="call-<call id>"`: the caller's side.
//!
//! | lamp             | dialog-info                                          |
//! |------------------|------------------------------------------------------|
//! | idle, offline    | no `<dialog>`                                        |
//! | ringing          | `direction="recipient"`, `<state>early</state>`      |
//! | busy             | `<state>confirmed</state>`                           |
//! | parked (a code)  | `<state>confirmed</state>`                           |
//!
//! An INVITE whose `Replaces` names such a call-id is a `Pickup.BlfPickup`
//! of the extension in whichever tag reads `blf-<extension>` (the
//! Request-URI's user when neither does), naming that call. Park-code lamps
//! are watched at `sip:park<code>@<tenant>`: a bare number is an extension.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callgrid_proto::v1::{
    BlfPickupRequest, LampEvent, LampState, PickupResult, WatchLampsRequest, party,
};
use futures::StreamExt;
use rsipstack::dialog::dialog::{Dialog, DialogState};
use rsipstack::dialog::subscription::ServerSubscriptionDialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Request, StatusCode, StatusCodeKind};
use rsipstack::transaction::Transaction;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::dialog::register::authenticate;
use crate::dialog::{Shared, calls, legs};
use crate::outcomes::{self, Refusal};

/// The longest subscription the edge grants, in seconds.
const MAX_EXPIRES: u32 = 3600;

/// What a subscription watches, named by the SUBSCRIBE's Request-URI user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// `sip:102@acme`
    Extension(String),
    /// `sip:park10@acme`
    ParkCode(u32),
}

impl Watched {
    /// `park<code>` or an extension's digits.
    pub fn parse(user: &str) -> Option<Watched> {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match user.strip_prefix("park") {
            Some(code) if digits(code) => code.parse().ok().map(Watched::ParkCode),
            Some(_) => None,
            None if digits(user) => Some(Watched::Extension(user.to_owned())),
            None => None,
        }
    }

    fn entity(&self, tenant: &str) -> String {
        match self {
            Watched::Extension(e) => format!("sip:{e}@{tenant}"),
            Watched::ParkCode(c) => format!("sip:park{c}@{tenant}"),
        }
    }

    fn request(&self, tenant: &str, watcher: &str) -> WatchLampsRequest {
        let (extensions, park_codes) = match self {
            Watched::Extension(e) => (vec![e.clone()], vec![]),
            Watched::ParkCode(c) => (vec![], vec![*c]),
        };
        WatchLampsRequest {
            tenant: tenant.to_owned(),
            watcher: watcher.to_owned(),
            extensions,
            park_codes,
        }
    }
}

/// A lamp as dialog-info shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lamp {
    /// Idle or offline: no dialog.
    Dark,
    /// A pickable call; the caller where the watcher may see it.
    Ringing {
        call_id: u64,
        caller: Option<String>,
    },
    /// In a call, or a call parked on the code.
    Confirmed { call_id: Option<u64> },
}

impl Lamp {
    pub fn of(event: &LampEvent) -> Lamp {
        let state = LampState::try_from(event.state).unwrap_or_default();
        match (state, event.call_id) {
            (LampState::Ringing, Some(call_id)) => Lamp::Ringing {
                call_id,
                caller: event.caller.as_ref().and_then(|p| match &p.kind {
                    Some(party::Kind::Extension(e)) => Some(e.clone()),
                    Some(party::Kind::Outside(n)) => Some(n.clone()),
                    None => None,
                }),
            },
            (LampState::Busy | LampState::Parked | LampState::Ringing, call_id) => {
                Lamp::Confirmed { call_id }
            }
            _ => Lamp::Dark,
        }
    }
}

/// The dialog-info call-id naming callgrid call `call_id` of `tenant`.
pub fn dialog_call_id(tenant: &str, call_id: u64) -> String {
    format!("callgrid-{tenant}-{call_id}")
}

/// The tenant and call named by a [`dialog_call_id`].
pub fn parse_dialog_call_id(call_id: &str) -> Option<(&str, u64)> {
    let (tenant, id) = call_id.strip_prefix("callgrid-")?.rsplit_once('-')?;
    Some((tenant, id.parse().ok()?)).filter(|(t, _)| !t.is_empty())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The full-state `application/dialog-info+xml` document for `lamp`.
pub fn dialog_info(tenant: &str, watched: &Watched, version: u32, lamp: &Lamp) -> String {
    let entity = xml_escape(&watched.entity(tenant));
    let mut doc = format!(
        "<?xml version=\"1.0\"?>\n<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" \
         version=\"{version}\" state=\"full\" entity=\"{entity}\">\n"
    );
    let local_tag = match watched {
        Watched::Extension(e) => format!("blf-{e}"),
        Watched::ParkCode(c) => format!("park-{c}"),
    };
    let ids = |call_id: u64| {
        let id = xml_escape(&dialog_call_id(tenant, call_id));
        format!(
            "id=\"{id}\" call-id=\"{id}\" local-tag=\"{local_tag}\" remote-tag=\"call-{call_id}\""
        )
    };
    match lamp {
        Lamp::Dark => {}
        Lamp::Ringing { call_id, caller } => {
            doc += &format!(
                "  <dialog {} direction=\"recipient\">\n    <state>early</state>\n",
                ids(*call_id)
            );
            if let Some(caller) = caller {
                let caller = xml_escape(&format!("sip:{caller}@{tenant}"));
                doc += &format!(
                    "    <remote><identity>{caller}</identity><target uri=\"{caller}\"/></remote>\n"
                );
            }
            doc += &format!(
                "    <local><identity>{entity}</identity><target uri=\"{entity}\"/></local>\n  </dialog>\n"
            );
        }
        Lamp::Confirmed {
            call_id: Some(call_id),
        } => {
            doc += &format!(
                "  <dialog {}>\n    <state>confirmed</state>\n  </dialog>\n",
                ids(*call_id)
            );
        }
        Lamp::Confirmed { call_id: None } => {
            doc += "  <dialog id=\"callgrid\">\n    <state>confirmed</state>\n  </dialog>\n";
        }
    }
    doc + "</dialog-info>\n"
}

/// The subscriptions this edge serves, by dialog id; each holds the sender
/// its refreshes arrive on (dropping it ends the subscription).
#[derive(Default)]
pub struct Subscriptions {
    running: Mutex<HashMap<String, mpsc::UnboundedSender<u32>>>,
    /// Subscriptions held per phone (tenant, extension).
    per_phone: Arc<Mutex<HashMap<(String, String), usize>>>,
}

/// The most subscriptions one phone (one extension) holds at this edge:
/// an attendant console's keys fit, and no phone can spend the edge's
/// stream budget on the node alone.
pub const MAX_SUBSCRIPTIONS_PER_PHONE: usize = 200;

/// One phone's place among its subscriptions, given back when it ends.
pub struct PhoneSlot {
    per_phone: Arc<Mutex<HashMap<(String, String), usize>>>,
    phone: (String, String),
}

impl Drop for PhoneSlot {
    fn drop(&mut self) {
        let mut per_phone = self.per_phone.lock().expect("subscriptions lock poisoned");
        if let Some(n) = per_phone.get_mut(&self.phone) {
            *n -= 1;
            if *n == 0 {
                per_phone.remove(&self.phone);
            }
        }
    }
}

impl Subscriptions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<u32>>> {
        self.running.lock().expect("subscriptions lock poisoned")
    }

    /// Subscriptions being served.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends every subscription (the edge is stopping).
    pub fn stop_all(&self) {
        self.lock().clear();
    }

    /// A place for one more subscription of `extension`, if it has fewer
    /// than [`MAX_SUBSCRIPTIONS_PER_PHONE`].
    pub fn slot(&self, tenant: &str, extension: &str) -> Option<PhoneSlot> {
        let phone = (tenant.to_owned(), extension.to_owned());
        let mut per_phone = self.per_phone.lock().expect("subscriptions lock poisoned");
        let held = per_phone.entry(phone.clone()).or_default();
        if *held >= MAX_SUBSCRIPTIONS_PER_PHONE {
            return None;
        }
        *held += 1;
        Some(PhoneSlot {
            per_phone: self.per_phone.clone(),
            phone,
        })
    }
}

/// `Expires` of a SUBSCRIBE, capped; RFC 6665's default when absent.
fn requested_expires(request: &Request) -> u32 {
    request
        .expires_header()
        .and_then(|e| e.value().trim().parse().ok())
        .unwrap_or(MAX_EXPIRES)
        .min(MAX_EXPIRES)
}

fn is_dialog_event(request: &Request) -> bool {
    request.headers.iter().any(|h| {
        matches!(h, Header::Event(e)
            if e.value().split(';').next().is_some_and(|v| v.trim().eq_ignore_ascii_case("dialog")))
    })
}

/// A SUBSCRIBE outside a dialog: authenticated, then 200 and the lamp's
/// full state, then one NOTIFY per change until it ends.
pub async fn subscribe(shared: Arc<Shared>, mut tx: Transaction) -> anyhow::Result<()> {
    let Some((tenant, watcher)) = authenticate(&shared, &mut tx).await? else {
        return Ok(());
    };
    if !is_dialog_event(&tx.original) {
        return Ok(tx.reply(StatusCode::BadEvent).await?);
    }
    let Some(_slot) = shared.subscriptions.slot(&tenant, &watcher) else {
        let warning = Header::Other(
            "Warning".into(),
            format!(
                "399 callgrid \"at most {MAX_SUBSCRIPTIONS_PER_PHONE} subscriptions per phone\""
            ),
        );
        return Ok(tx
            .reply_with(StatusCode::Forbidden, vec![warning], None)
            .await?);
    };
    let Some(watched) = tx.original.uri.user().and_then(Watched::parse) else {
        return Ok(tx.reply(StatusCode::NotFound).await?);
    };
    let expires = requested_expires(&tx.original);
    let opened = shared
        .cluster
        .presence
        .clone()
        .watch_lamps(watched.request(&tenant, &watcher))
        .await;
    let mut lamps = match opened {
        Ok(r) => r.into_inner(),
        Err(status) => {
            tracing::debug!(%status, "watch lamps refused");
            let code = match status.code() {
                tonic::Code::InvalidArgument | tonic::Code::NotFound => StatusCode::NotFound,
                tonic::Code::PermissionDenied => StatusCode::Forbidden,
                _ => StatusCode::ServiceUnavailable,
            };
            return Ok(tx.reply(code).await?);
        }
    };
    // The stream opens with the lamp's current state: NOTIFY version 0.
    let Some(Ok(first)) = lamps.next().await else {
        return Ok(tx.reply(StatusCode::ServiceUnavailable).await?);
    };
    let (state_tx, states) = shared.dialogs.new_dialog_state_channel();
    let dialog = shared.dialogs.get_or_create_server_subscription(
        &tx,
        state_tx,
        None,
        Some(shared.contact_for(&tx)),
    )?;
    let dialog_id = dialog.id();
    let id = dialog_id.to_string();
    let (refresh_tx, refreshes) = mpsc::unbounded_channel();
    // Known before the 200 goes out, so an immediate refresh finds it.
    shared.subscriptions.lock().insert(id.clone(), refresh_tx);
    // `accept` only queues the 200; receiving sends it, then ends with the
    // (non-INVITE) transaction, so the first NOTIFY follows the 200.
    dialog.accept(Some(vec![Header::Expires(expires.into())]), None)?;
    while tx.receive().await.is_some() {}
    tracing::debug!(%tenant, %watcher, ?watched, expires, "subscribed");
    let subscription = Subscription {
        tenant,
        watched,
        dialog,
        version: 0,
        lamp: Lamp::of(&first),
        expires_at: Instant::now() + Duration::from_secs(expires.into()),
    };
    subscription.serve(lamps, refreshes, states).await;
    shared.subscriptions.lock().remove(&id);
    shared.dialogs.remove_dialog(&dialog_id);
    Ok(())
}

/// A refresh or an unsubscribe (`Expires: 0`) of a subscription: its 200
/// goes out here, before the NOTIFY the subscription then sends.
pub async fn resubscribe(shared: &Shared, mut tx: Transaction) -> anyhow::Result<()> {
    let refresh = match shared.dialogs.match_dialog(&tx) {
        Some(Dialog::ServerSubscription(d)) => shared
            .subscriptions
            .lock()
            .get(&d.id().to_string())
            .cloned(),
        _ => None,
    };
    let Some(refresh) = refresh else {
        return Ok(tx.reply(StatusCode::CallTransactionDoesNotExist).await?);
    };
    let expires = requested_expires(&tx.original);
    tx.reply_with(StatusCode::OK, vec![Header::Expires(expires.into())], None)
        .await?;
    let _ = refresh.send(expires);
    Ok(())
}

/// One subscription being served.
struct Subscription {
    tenant: String,
    watched: Watched,
    dialog: ServerSubscriptionDialog,
    /// The version of the next NOTIFY.
    version: u32,
    lamp: Lamp,
    expires_at: Instant,
}

/// A NOTIFY on its way: true once the phone took it.
type Notifying = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>;

impl Subscription {
    /// One NOTIFY at a time per subscription (a phone answers them in
    /// order), but never a queue of them: lamp changes while one is out
    /// only update the state, and the newest state goes next, so a slow
    /// phone skips the states it was too slow for instead of falling
    /// behind.
    async fn serve(
        mut self,
        mut lamps: tonic::Streaming<LampEvent>,
        mut refreshes: mpsc::UnboundedReceiver<u32>,
        mut states: rsipstack::dialog::dialog::DialogStateReceiver,
    ) {
        if self.expires_at <= Instant::now() {
            // A fetch (`Expires: 0`): one NOTIFY, and done.
            self.send("terminated;reason=timeout").await;
            return;
        }
        let mut out: Option<Notifying> = Some(self.send_active());
        let mut behind = false;
        let mut dialog_open = true;
        loop {
            tokio::select! {
                taken = async { out.as_mut().expect("guarded").await }, if out.is_some() => {
                    out = None;
                    if !taken {
                        return;
                    }
                    if std::mem::take(&mut behind) {
                        out = Some(self.send_active());
                    }
                }
                event = lamps.next() => match event {
                    Some(Ok(event)) => {
                        self.lamp = Lamp::of(&event);
                        if out.is_none() {
                            out = Some(self.send_active());
                        } else {
                            behind = true;
                        }
                    }
                    // The node went away: the phone should subscribe again.
                    _ => {
                        self.finish(out, "terminated;reason=deactivated").await;
                        return;
                    }
                },
                refresh = refreshes.recv() => match refresh {
                    Some(0) => {
                        self.finish(out, "terminated").await;
                        return;
                    }
                    Some(expires) => {
                        self.expires_at = Instant::now() + Duration::from_secs(expires.into());
                        if out.is_none() {
                            out = Some(self.send_active());
                        } else {
                            behind = true;
                        }
                    }
                    // The edge is stopping.
                    None => return,
                },
                () = tokio::time::sleep_until(self.expires_at) => {
                    self.finish(out, "terminated;reason=timeout").await;
                    return;
                }
                state = states.recv(), if dialog_open => match state {
                    Some(DialogState::Terminated(..)) => return,
                    Some(_) => {}
                    None => dialog_open = false,
                },
            }
        }
    }

    /// Waits for the NOTIFY that is out, if any, then sends the last one.
    async fn finish(&mut self, out: Option<Notifying>, subscription_state: &str) {
        if let Some(out) = out
            && !out.await
        {
            return;
        }
        self.send(subscription_state).await;
    }

    fn send_active(&mut self) -> Notifying {
        let left = self
            .expires_at
            .saturating_duration_since(Instant::now())
            .as_millis()
            .div_ceil(1000);
        self.send(&format!("active;expires={left}"))
    }

    /// Sends the lamp's full state with the next version; the future is
    /// false once the phone no longer takes NOTIFYs for this subscription
    /// (481, no answer).
    fn send(&mut self, subscription_state: &str) -> Notifying {
        let body = dialog_info(&self.tenant, &self.watched, self.version, &self.lamp);
        self.version += 1;
        let headers = vec![
            Header::Event("dialog".into()),
            Header::SubscriptionState(subscription_state.into()),
            Header::ContentType("application/dialog-info+xml".into()),
        ];
        let dialog = self.dialog.clone();
        Box::pin(async move {
            match dialog.notify(Some(headers), Some(body.into_bytes())).await {
                Ok(Some(r)) if r.status_code.kind() == StatusCodeKind::Successful => true,
                Ok(r) => {
                    tracing::debug!(status = ?r.map(|r| r.status_code), "NOTIFY refused");
                    false
                }
                Err(e) => {
                    tracing::debug!(error = %e, "NOTIFY failed");
                    false
                }
            }
        })
    }
}

/// A `Replaces` header (RFC 3891) naming a callgrid call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    pub call_id: String,
    pub tags: Vec<String>,
}

impl Replaces {
    /// The INVITE's `Replaces`, if it has one.
    pub fn of(request: &Request) -> Option<Replaces> {
        Self::parse(request.replaces_header()?.value())
    }

    /// `<call-id>;to-tag=<tag>;from-tag=<tag>[;early-only]`
    fn parse(value: &str) -> Option<Replaces> {
        let mut parts = value.split(';');
        let call_id = parts.next()?.trim().to_owned();
        if call_id.is_empty() {
            return None;
        }
        let tags = parts
            .filter_map(|p| p.split_once('='))
            .filter(|(k, _)| {
                let k = k.trim();
                k.eq_ignore_ascii_case("to-tag") || k.eq_ignore_ascii_case("from-tag")
            })
            .map(|(_, v)| v.trim().to_owned())
            .collect();
        Some(Replaces { call_id, tags })
    }

    /// The watched extension a tag names (`blf-<extension>`).
    fn extension(&self) -> Option<&str> {
        self.tags.iter().find_map(|t| t.strip_prefix("blf-"))
    }
}

/// An INVITE with `Replaces`: a BLF pickup of the call the early dialog
/// named. On `PICKED_UP` the picker is joined to the waiting caller as by
/// any pickup; each refusal is the outcomes table's response.
pub async fn pickup(
    shared: Arc<Shared>,
    tx: Transaction,
    tenant: String,
    picker: String,
    replaces: Replaces,
) -> anyhow::Result<()> {
    let offer = tx.original.body.clone();
    let uri_user = tx.original.uri.user().unwrap_or_default().to_owned();
    let (dialog, states) = legs::serve_invite(&shared, tx)?;
    let reject = |refusal: Refusal| legs::reject(&dialog, &refusal);
    // Another tenant's call is no dialog at all.
    let call_id = match parse_dialog_call_id(&replaces.call_id) {
        Some((t, call_id)) if t == tenant => call_id,
        _ => {
            reject(outcomes::unknown_dialog());
            return Ok(());
        }
    };
    let target = replaces.extension().unwrap_or(&uri_user).to_owned();
    let key = callgrid_client::Key::extension(&tenant, &target).ok();
    let pickup = BlfPickupRequest {
        tenant: tenant.clone(),
        picker: picker.clone(),
        target,
        call_id: Some(call_id),
    };
    let picked = crate::cluster::once(&shared.cluster, key, pickup, |mut to, r| async move {
        to.pickup.blf_pickup(r).await
    })
    .await;
    let response = match picked {
        Ok(r) => r,
        Err(status) => {
            tracing::debug!(%status, "blf pickup refused");
            reject(match status.code() {
                tonic::Code::InvalidArgument => outcomes::pickup(PickupResult::InvalidExtension)
                    .unwrap_or_else(outcomes::unavailable),
                _ => outcomes::unavailable(),
            });
            return Ok(());
        }
    };
    let result = PickupResult::try_from(response.result).unwrap_or_default();
    if let Some(refusal) = outcomes::pickup(result) {
        reject(refusal);
        return Ok(());
    }
    calls::join_picker(
        shared,
        (tenant, response.call_id),
        picker,
        dialog,
        offer,
        states,
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod slot_tests {
    use super::*;

    #[test]
    fn a_phone_holds_at_most_its_cap_and_gets_a_place_back_when_one_ends() {
        let subs = Subscriptions::default();
        let held: Vec<PhoneSlot> = (0..MAX_SUBSCRIPTIONS_PER_PHONE)
            .map(|_| subs.slot("acme", "101").expect("within the cap"))
            .collect();
        assert!(subs.slot("acme", "101").is_none(), "past the cap");
        assert!(
            subs.slot("acme", "102").is_some(),
            "another phone is not limited"
        );
        drop(held);
        assert!(subs.slot("acme", "101").is_some(), "places come back");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callgrid_proto::v1::{Party, lamp_event};

    #[test]
    fn watched_lamps_are_extensions_or_park_codes() {
        assert_eq!(
            Watched::parse("102"),
            Some(Watched::Extension("102".into()))
        );
        assert_eq!(Watched::parse("park10"), Some(Watched::ParkCode(10)));
        assert_eq!(Watched::parse("park"), None);
        assert_eq!(Watched::parse("parkx"), None);
        assert_eq!(Watched::parse("*97102"), None);
    }

    #[test]
    fn dialog_call_ids_name_tenant_and_call_and_read_back() {
        let id = dialog_call_id("acme-east", 42);
        assert_eq!(id, "callgrid-acme-east-42");
        assert_eq!(parse_dialog_call_id(&id), Some(("acme-east", 42)));
        assert_eq!(parse_dialog_call_id("callgrid--42"), None);
        assert_eq!(parse_dialog_call_id("1234@phone"), None);
    }

    #[test]
    fn a_ringing_lamp_is_an_early_dialog_naming_the_call() {
        let event = LampEvent {
            tenant: "acme".into(),
            target: Some(lamp_event::Target::Extension("102".into())),
            state: LampState::Ringing as i32,
            call_id: Some(7),
            caller: Some(Party {
                kind: Some(party::Kind::Extension("101".into())),
            }),
            sequence: 2,
        };
        let doc = dialog_info(
            "acme",
            &Watched::Extension("102".into()),
            3,
            &Lamp::of(&event),
        );
        assert!(
            doc.contains("version=\"3\" state=\"full\" entity=\"sip:102@acme\""),
            "{doc}"
        );
        assert!(
            doc.contains(
                "call-id=\"callgrid-acme-7\" local-tag=\"blf-102\" remote-tag=\"call-7\" \
                 direction=\"recipient\""
            ),
            "{doc}"
        );
        assert!(doc.contains("<state>early</state>"), "{doc}");
        assert!(doc.contains("<identity>sip:101@acme</identity>"), "{doc}");
    }

    #[test]
    fn idle_is_no_dialog_and_busy_or_parked_is_confirmed() {
        let idle = dialog_info("acme", &Watched::Extension("102".into()), 0, &Lamp::Dark);
        assert!(!idle.contains("<dialog "), "{idle}");
        let parked = LampEvent {
            state: LampState::Parked as i32,
            call_id: Some(9),
            ..Default::default()
        };
        let doc = dialog_info("acme", &Watched::ParkCode(10), 1, &Lamp::of(&parked));
        assert!(doc.contains("entity=\"sip:park10@acme\""), "{doc}");
        assert!(doc.contains("<state>confirmed</state>"), "{doc}");
    }

    #[test]
    fn replaces_tags_name_the_watched_extension_in_either_order() {
        let r = Replaces::parse("callgrid-acme-7;to-tag=call-7;from-tag=blf-102;early-only")
            .expect("a Replaces");
        assert_eq!(r.call_id, "callgrid-acme-7");
        assert_eq!(r.extension(), Some("102"));
        let r = Replaces::parse("callgrid-acme-7;to-tag=blf-103;from-tag=call-7").expect("one");
        assert_eq!(r.extension(), Some("103"));
        assert_eq!(Replaces::parse(""), None);
    }
}
