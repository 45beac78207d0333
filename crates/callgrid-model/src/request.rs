//! Request ids: how a client learns what a request it retried did.
//!
//! A mutating request may carry a client-chosen [`RequestId`]. The node
//! wraps its command in [`Command::Once`](crate::Command::Once), and the
//! state machine remembers the response per (tenant, request id) in
//! [`RequestOutcomes`]: a retry with the same id is answered with the first
//! response and has no effect of its own, however many times it is
//! proposed and in whatever order its copies commit.
//!
//! The window is bounded by count, not by time, so every replica forgets
//! the same outcomes at the same log position: each tenant keeps its
//! latest [`PER_TENANT`] outcomes, and the cluster at most [`TOTAL`]
//! (oldest forgotten first). An id reused for a different request within
//! the window is refused, so a retry can never return another request's
//! outcome.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Response, TenantId, ValidationError};

/// Outcomes each tenant keeps: its latest this many requests with ids.
pub const PER_TENANT: usize = 100_000;

/// Outcomes the cluster keeps across all tenants (deleted ones included).
pub const TOTAL: usize = 1_000_000;

/// A client-chosen id for one request and its retries: 1 to 64 printable
/// ASCII characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(String);

impl RequestId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        if raw.is_empty() {
            return Err(ValidationError::new(field, "request id must not be empty"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(ValidationError::new(
                field,
                format!("request id must be at most {} characters", Self::MAX_LEN),
            ));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::new(
                field,
                "request id may contain only printable ASCII characters, no spaces",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a request asked, as a number: FNV-1a (64 bits) over `parts`.
/// Stable across builds and platforms, since it travels in the log.
pub fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(&[0xff]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// One remembered outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Remembered {
    fingerprint: u64,
    response: Response,
}

/// One tenant's remembered outcomes, and their order (oldest first). Every
/// request looks its id up here, among up to [`PER_TENANT`] ids that often
/// share a long prefix: a hash map answers with one comparison where an
/// ordered map makes about twenty. Nothing iterates it (the order is
/// `order`'s), so its iteration order changes no outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct TenantOutcomes {
    by_id: HashMap<RequestId, Remembered>,
    order: VecDeque<(u64, RequestId)>,
}

/// The bounded window of remembered outcomes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestOutcomes {
    tenants: BTreeMap<TenantId, TenantOutcomes>,
    /// Every remembered outcome's tenant, by the sequence number it was
    /// remembered under: which to forget first when the cluster is full.
    order: BTreeMap<u64, TenantId>,
    next: u64,
}

impl RequestOutcomes {
    /// The outcome remembered for `id`, if any: the first response for the
    /// same request, or [`Response::RequestReused`] for a different one.
    pub fn recall(&self, tenant: &TenantId, id: &RequestId, fingerprint: u64) -> Option<Response> {
        let remembered = self.tenants.get(tenant)?.by_id.get(id)?;
        Some(if remembered.fingerprint == fingerprint {
            remembered.response.clone()
        } else {
            Response::RequestReused
        })
    }

    /// Remembers `response` for a request not remembered yet, forgetting
    /// the oldest outcomes beyond the window.
    pub fn remember(
        &mut self,
        tenant: &TenantId,
        id: RequestId,
        fingerprint: u64,
        response: Response,
    ) {
        let seq = self.next;
        self.next += 1;
        let outcomes = self.tenants.entry(tenant.clone()).or_default();
        outcomes.order.push_back((seq, id.clone()));
        outcomes.by_id.insert(
            id,
            Remembered {
                fingerprint,
                response,
            },
        );
        self.order.insert(seq, tenant.clone());
        if outcomes.order.len() > PER_TENANT {
            self.forget_oldest_of(tenant);
        }
        while self.order.len() > TOTAL {
            let Some((_, oldest)) = self.order.first_key_value() else {
                break;
            };
            let oldest = oldest.clone();
            self.forget_oldest_of(&oldest);
        }
    }

    /// Forgets `tenant`'s oldest outcome (which, since sequence numbers
    /// only grow, is also its oldest in the cluster-wide order).
    fn forget_oldest_of(&mut self, tenant: &TenantId) {
        let Some(outcomes) = self.tenants.get_mut(tenant) else {
            return;
        };
        if let Some((seq, id)) = outcomes.order.pop_front() {
            outcomes.by_id.remove(&id);
            self.order.remove(&seq);
        }
        if outcomes.order.is_empty() {
            self.tenants.remove(tenant);
        }
    }

    /// How many outcomes are remembered now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PickupOutcome;

    fn t(s: &str) -> TenantId {
        TenantId::parse("tenant", s).unwrap()
    }
    fn id(s: &str) -> RequestId {
        RequestId::parse("request-id", s).unwrap()
    }
    fn said(n: u64) -> Response {
        Response::Pickup(if n == 0 {
            PickupOutcome::NoAlertingCall
        } else {
            PickupOutcome::AlreadyAnswered
        })
    }

    #[test]
    fn request_ids_are_printable_ascii_of_bounded_length() {
        assert!(RequestId::parse("request-id", "pickup-7f3a:1").is_ok());
        for (bad, rule) in [
            ("", "must not be empty"),
            ("a b", "printable ASCII"),
            ("é", "printable ASCII"),
            (&"x".repeat(65), "at most 64"),
        ] {
            let e = RequestId::parse("request-id", bad).expect_err(bad);
            assert_eq!(e.field, "request-id");
            assert!(e.rule.contains(rule), "{bad:?}: {}", e.rule);
        }
    }

    #[test]
    fn a_recalled_id_answers_its_first_response_and_a_different_request_is_refused() {
        let mut w = RequestOutcomes::default();
        w.remember(&t("acme"), id("r1"), 7, said(1));
        assert_eq!(w.recall(&t("acme"), &id("r1"), 7), Some(said(1)));
        assert_eq!(
            w.recall(&t("acme"), &id("r1"), 8),
            Some(Response::RequestReused)
        );
        // Ids are per tenant: another tenant's same id is another request.
        assert_eq!(w.recall(&t("other"), &id("r1"), 7), None);
    }

    #[test]
    fn a_tenant_keeps_its_latest_outcomes_and_forgets_the_oldest() {
        let mut w = RequestOutcomes::default();
        for n in 0..=PER_TENANT {
            w.remember(&t("busy"), id(&format!("r{n}")), 1, said(0));
        }
        w.remember(&t("quiet"), id("r0"), 1, said(1));
        assert_eq!(w.len(), PER_TENANT + 1);
        assert_eq!(w.recall(&t("busy"), &id("r0"), 1), None, "oldest forgotten");
        assert_eq!(w.recall(&t("busy"), &id("r1"), 1), Some(said(0)));
        assert_eq!(
            w.recall(&t("quiet"), &id("r0"), 1),
            Some(said(1)),
            "a busy tenant does not push out another tenant's outcomes"
        );
    }

    #[test]
    fn the_cluster_forgets_its_oldest_outcome_past_the_total() {
        let mut w = RequestOutcomes::default();
        let tenants = TOTAL / PER_TENANT + 1;
        for n in 0..PER_TENANT {
            for k in 0..tenants {
                w.remember(&t(&format!("t{k}")), id(&format!("r{n}")), 1, said(0));
            }
        }
        assert_eq!(w.len(), TOTAL);
        // The first ones remembered went first, in order, across tenants.
        assert_eq!(w.recall(&t("t0"), &id("r0"), 1), None);
        // 100,000 forgotten: rounds r0..r9089 of 11 tenants, then t0..t9 of r9090.
        assert_eq!(w.recall(&t("t9"), &id("r9090"), 1), None);
        assert!(w.recall(&t("t10"), &id("r9090"), 1).is_some());
        assert!(w.recall(&t("t0"), &id("r9091"), 1).is_some());
    }

    #[test]
    fn fingerprints_differ_by_content_and_by_where_parts_split() {
        assert_eq!(fingerprint(&[b"a", b"bc"]), fingerprint(&[b"a", b"bc"]));
        assert_ne!(fingerprint(&[b"a", b"bc"]), fingerprint(&[b"ab", b"c"]));
        assert_ne!(fingerprint(&[b"a"]), fingerprint(&[b"b"]));
    }
}
