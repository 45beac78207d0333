//! REGISTER: phones' bindings, stored in the cluster, and the notification
//! stream the edge keeps for each extension registered through it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callgrid_proto::v1::{LookupRequest, NotificationsRequest, RegisterRequest};
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, StatusCode};
use rsipstack::transaction::Transaction;
use tokio::task::JoinHandle;

use crate::dialog::Shared;

/// The longest registration the edge grants, in seconds.
const MAX_EXPIRES: u32 = 3600;

/// Handles a REGISTER: authenticates it, stores each Contact as a binding
/// naming this edge, and answers with the extension's live bindings.
pub async fn register(shared: &Arc<Shared>, mut tx: Transaction) -> anyhow::Result<()> {
    let Some((tenant, extension)) = authenticate(shared, &mut tx).await? else {
        return Ok(());
    };
    let default_expires: u32 = match tx.original.expires_header() {
        None => MAX_EXPIRES,
        Some(e) => match e.value().trim().parse() {
            Ok(seconds) => seconds,
            Err(_) => return bad_request(tx, "Expires").await,
        },
    };
    let source = tx
        .connection
        .as_ref()
        .and_then(|c| {
            let remote = c.get_remote_addr()?;
            Some(format!(
                "{}:{}",
                c.transport().to_string().to_ascii_lowercase(),
                remote.addr
            ))
        })
        .unwrap_or_default();
    let wildcard = tx
        .original
        .headers
        .iter()
        .any(|h| matches!(h, Header::Contact(c) if c.value().trim() == "*"));
    let mut registrar = shared.cluster.registrar.clone();
    let mut bindings = match registrar
        .lookup(LookupRequest {
            tenant: tenant.clone(),
            extension: extension.clone(),
        })
        .await
    {
        Ok(r) => r.into_inner().bindings,
        Err(status) => return refuse(tx, &status).await,
    };
    let mut changes: Vec<(String, u32)> = Vec::new();
    if wildcard {
        changes.extend(bindings.iter().map(|b| (b.contact.clone(), 0)));
    } else {
        let Ok(contacts) = tx.original.typed_contact_headers() else {
            return bad_request(tx, "Contact").await;
        };
        for contact in contacts {
            let expires = contact
                .expires()
                .unwrap_or(default_expires)
                .min(MAX_EXPIRES);
            changes.push((contact.uri.to_string(), expires));
        }
    }
    for (contact, expires_s) in changes {
        let register = RegisterRequest {
            tenant: tenant.clone(),
            extension: extension.clone(),
            contact,
            edge: shared.edge_id.clone(),
            source: source.clone(),
            expires_s,
        };
        // A binding is no owner's: any node proposes it.
        let stored =
            crate::cluster::once(&shared.cluster, None, register, |mut to, r| async move {
                to.registrar.register(r).await
            })
            .await;
        match stored {
            Ok(r) => bindings = r.bindings,
            Err(status) => return refuse(tx, &status).await,
        }
    }
    let now_ms = now_ms();
    let headers: Vec<Header> = bindings
        .iter()
        .map(|b| {
            let left = b.expires_at_ms.saturating_sub(now_ms).div_ceil(1000);
            Header::Contact(format!("<{}>;expires={left}", b.contact).into())
        })
        .collect();
    tx.reply_with(StatusCode::OK, headers, None).await?;
    tracing::debug!(%tenant, %extension, bindings = bindings.len(), "registered");
    Ok(())
}

/// 400, naming the header that does not parse; nothing is stored.
async fn bad_request(mut tx: Transaction, header: &str) -> anyhow::Result<()> {
    let warning = Header::Other(
        "Warning".into(),
        format!("399 callgrid \"malformed {header} header\""),
    );
    Ok(tx
        .reply_with(StatusCode::BadRequest, vec![warning], None)
        .await?)
}

async fn refuse(mut tx: Transaction, status: &tonic::Status) -> anyhow::Result<()> {
    let code = match status.code() {
        tonic::Code::InvalidArgument => StatusCode::BadRequest,
        tonic::Code::NotFound | tonic::Code::FailedPrecondition | tonic::Code::PermissionDenied => {
            StatusCode::Forbidden
        }
        _ => StatusCode::ServiceUnavailable,
    };
    tracing::debug!(%status, "register refused");
    Ok(tx.reply(code).await?)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One notification stream per tenant this edge serves: every alert of the
/// tenant, so the edge holding a call's caller forks it to the phones of
/// every alerted extension, wherever they registered.
#[derive(Default)]
pub struct Watchers {
    running: Mutex<HashMap<String, JoinHandle<()>>>,
}

impl Watchers {
    /// Makes sure the tenant's notifications are followed; returns once the
    /// stream is open (or the cluster refused it), so a call placed right
    /// after already forks.
    pub async fn ensure(&self, shared: &Arc<Shared>, tenant: &str) {
        if self
            .running
            .lock()
            .expect("watchers lock poisoned")
            .get(tenant)
            .is_some_and(|task| !task.is_finished())
        {
            return;
        }
        let request = NotificationsRequest {
            tenant: tenant.to_owned(),
            extension: String::new(),
        };
        let first = shared
            .cluster
            .presence
            .clone()
            .notifications(request.clone())
            .await;
        let shared_for_task = shared.clone();
        let task = tokio::spawn(async move {
            let mut opened = first.map(tonic::Response::into_inner);
            loop {
                match opened {
                    Ok(mut stream) => {
                        // In order: a stopped alert must never overtake its alert.
                        while let Ok(Some(notification)) = stream.message().await {
                            crate::dialog::calls::on_notification(&shared_for_task, notification)
                                .await;
                        }
                    }
                    Err(status) => tracing::debug!(%status, "notifications refused"),
                }
                // The node went away or restarted: follow again.
                tokio::time::sleep(Duration::from_secs(1)).await;
                opened = shared_for_task
                    .cluster
                    .presence
                    .clone()
                    .notifications(request.clone())
                    .await
                    .map(tonic::Response::into_inner);
            }
        });
        if let Some(old) = self
            .running
            .lock()
            .expect("watchers lock poisoned")
            .insert(tenant.to_owned(), task)
        {
            old.abort();
        }
    }

    pub fn stop_all(&self) {
        for (_, task) in self.running.lock().expect("watchers lock poisoned").drain() {
            task.abort();
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
