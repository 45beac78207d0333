//! Digest authentication of phones (RFC 3261 §22, RFC 2617 MD5).
//!
//! The edge never sees a password or its hash: it issues the challenge
//! (realm = the tenant, a fresh nonce) and hands the phone's answer to the
//! cluster's `Registrar.Authenticate`, which checks it against the stored
//! HA1. An unknown extension and a wrong password get the same answer
//! (403 after the challenge), so extensions cannot be enumerated.
//!
//! # Reusing a nonce
//! A phone need not be challenged before every request: like a desk phone
//! that keeps its last challenge, it may answer a nonce this edge gave it
//! earlier, which saves the 401 round trip per INVITE. An answer is taken
//! when, besides a right response (checked by the cluster, every time):
//! - this edge issued the nonce less than [`NONCE_LIFETIME`] ago;
//! - with `qop=auth`, its nonce count `nc` is higher than every count
//!   answered with that nonce before (RFC 2617 §3.2.2), so a captured
//!   answer cannot be sent again;
//! - without `qop` (RFC 2069 answers carry no count), the nonce was never
//!   answered before: such a nonce serves one request only.
//!
//! Any other answer is challenged again: a late or replayed answer whose
//! response is right with `stale=true`, so the phone answers the new
//! nonce without asking its user.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use callgrid_proto::v1::AuthenticateRequest;
use rsipstack::sip::headers::auth::{Algorithm, Qop, Scheme};
use rsipstack::sip::typed::tokenizers::AuthTokenizer;
use rsipstack::sip::{Header, Request, typed};

/// How long a nonce may be answered (and reused).
pub const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// The count recorded for a nonce answered without `nc`: higher than any
/// count, so the nonce is spent.
const ANSWERED_WITHOUT_COUNT: u32 = u32::MAX;
/// Nonces remembered at once; older ones are forgotten first.
const MAX_NONCES: usize = 50_000;

/// What a request's `Authorization` header claims, ready for the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The tenant (the digest realm, which is the SIP domain).
    pub tenant: String,
    pub extension: String,
    pub request: AuthenticateRequest,
    /// The nonce was issued by this edge and is still fresh.
    pub fresh: bool,
}

/// The nonces this edge issued: when, and the highest nonce count (`nc`)
/// answered with each, so an answer cannot be replayed.
#[derive(Default)]
pub struct Nonces {
    issued: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Nonces {
    /// A `WWW-Authenticate` challenge for `realm`; `stale` tells a phone
    /// whose answer was right but late to answer again without asking its
    /// user.
    pub fn challenge(&self, realm: &str, stale: bool) -> Header {
        let nonce = rsipstack::transaction::random_text(24);
        {
            let mut issued = self.issued.lock().expect("nonce lock poisoned");
            if issued.len() >= MAX_NONCES {
                issued.retain(|_, (at, _)| at.elapsed() < NONCE_LIFETIME);
            }
            // Still full (a flood of challenges): forget the oldest, not all.
            if issued.len() >= MAX_NONCES
                && let Some(oldest) = issued
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(n, _)| n.clone())
            {
                issued.remove(&oldest);
            }
            issued.insert(nonce.clone(), (Instant::now(), 0));
        }
        typed::WwwAuthenticate {
            scheme: Scheme::Digest,
            realm: realm.to_owned(),
            nonce,
            algorithm: Some(Algorithm::Md5),
            qop: Some(Qop::Auth),
            stale: stale.then(|| "true".to_owned()),
            ..Default::default()
        }
        .into()
    }

    /// True if this edge issued `nonce`, it has not expired, and the answer
    /// was not given before: `nc` (when the answer carries one) is higher
    /// than any answered with this nonce, or, without `nc`, the nonce was
    /// never answered. What was answered is then recorded.
    fn is_fresh(&self, nonce: &str, nc: &str) -> bool {
        let mut issued = self.issued.lock().expect("nonce lock poisoned");
        let Some((at, last)) = issued.get_mut(nonce) else {
            return false;
        };
        if at.elapsed() >= NONCE_LIFETIME {
            return false;
        }
        let count = if nc.is_empty() {
            // No count to order answers by: one use, then spent.
            (*last == 0).then_some(ANSWERED_WITHOUT_COUNT)
        } else {
            u32::from_str_radix(nc, 16)
                .ok()
                .filter(|count| *count > *last)
        };
        match count {
            Some(count) => {
                *last = count;
                true
            }
            None => false,
        }
    }

    /// The credentials `request` carries, if it carries a digest answer.
    pub fn credentials(&self, request: &Request) -> Option<Credentials> {
        let header = request.headers.iter().find_map(|h| match h {
            Header::Authorization(a) => Some(a.value().to_owned()),
            _ => None,
        })?;
        let parsed = AuthTokenizer::parse(&header).ok()?;
        if !parsed.scheme.eq_ignore_ascii_case("digest") {
            return None;
        }
        let param = |name: &str| {
            parsed
                .params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| (*v).to_owned())
        };
        if param("algorithm").is_some_and(|a| !a.eq_ignore_ascii_case("MD5")) {
            return None;
        }
        let tenant = param("realm")?;
        let extension = param("username")?;
        let nonce = param("nonce")?;
        let nc = param("nc").unwrap_or_default();
        Some(Credentials {
            fresh: self.is_fresh(&nonce, &nc),
            request: AuthenticateRequest {
                tenant: tenant.clone(),
                extension: extension.clone(),
                method: request.method.to_string(),
                uri: param("uri")?,
                nonce,
                nc,
                cnonce: param("cnonce").unwrap_or_default(),
                qop: param("qop").unwrap_or_default(),
                response: param("response")?,
            },
            tenant,
            extension,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsipstack::sip::SipMessage;

    fn register_with(authorization: &str) -> Request {
        let text = format!(
            "REGISTER sip:acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n\
             From: <sip:101@acme>;tag=1\r\nTo: <sip:101@acme>\r\nCall-ID: c1\r\nCSeq: 2 REGISTER\r\n\
             {authorization}Content-Length: 0\r\n\r\n"
        );
        match SipMessage::try_from(text.as_str()).expect("parses") {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => unreachable!("a request"),
        }
    }

    /// The nonce of a fresh challenge from `nonces`.
    fn issued_nonce(nonces: &Nonces) -> String {
        let challenge = nonces.challenge("acme", false).to_string();
        challenge
            .split("nonce=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("a nonce")
            .to_owned()
    }

    #[test]
    fn an_answer_to_an_issued_nonce_is_fresh_and_carries_every_field() {
        let nonces = Nonces::default();
        let nonce = issued_nonce(&nonces);
        let request = register_with(&format!(
            "Authorization: Digest username=\"101\", realm=\"acme\", nonce=\"{nonce}\", \
             uri=\"sip:acme\", response=\"0123\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"ab\"\r\n"
        ));
        let c = nonces.credentials(&request).expect("credentials");
        assert!(c.fresh);
        assert_eq!((c.tenant.as_str(), c.extension.as_str()), ("acme", "101"));
        assert_eq!(c.request.method, "REGISTER");
        assert_eq!(c.request.uri, "sip:acme");
        assert_eq!(c.request.nc, "00000001");
        assert_eq!(c.request.qop, "auth");
    }

    #[test]
    fn an_answer_replayed_with_the_same_nonce_count_is_not_fresh() {
        let nonces = Nonces::default();
        let nonce = issued_nonce(&nonces);
        let answer = |nc: &str| {
            register_with(&format!(
                "Authorization: Digest username=\"101\", realm=\"acme\", nonce=\"{nonce}\", \
                 uri=\"sip:acme\", response=\"0123\", qop=auth, nc={nc}, cnonce=\"ab\"\r\n"
            ))
        };
        assert!(nonces.credentials(&answer("00000001")).expect("c").fresh);
        assert!(
            !nonces.credentials(&answer("00000001")).expect("c").fresh,
            "a replay"
        );
        assert!(
            nonces.credentials(&answer("0000000a")).expect("c").fresh,
            "the next count"
        );
    }

    #[test]
    fn a_nonce_answered_without_a_count_serves_one_request_only() {
        let nonces = Nonces::default();
        let nonce = issued_nonce(&nonces);
        let answer = |nc: &str| {
            register_with(&format!(
                "Authorization: Digest username=\"101\", realm=\"acme\", nonce=\"{nonce}\", \
                 uri=\"sip:acme\", response=\"0123\"{nc}\r\n"
            ))
        };
        assert!(nonces.credentials(&answer("")).expect("c").fresh);
        assert!(
            !nonces.credentials(&answer("")).expect("c").fresh,
            "no count: a second use is a replay"
        );
        assert!(
            !nonces
                .credentials(&answer(", qop=auth, nc=00000002, cnonce=\"ab\""))
                .expect("c")
                .fresh,
            "and the spent nonce takes no counted answer either"
        );
    }

    #[test]
    fn a_nonce_is_reused_with_rising_counts_until_its_lifetime_ends() {
        let nonces = Nonces::default();
        let nonce = issued_nonce(&nonces);
        for nc in 1..=5u32 {
            assert!(nonces.is_fresh(&nonce, &format!("{nc:08x}")), "nc {nc}");
        }
        assert!(!nonces.is_fresh(&nonce, "00000003"), "a lower count");
        // (A machine up for less than the lifetime cannot date it back.)
        if let Some(long_ago) = Instant::now().checked_sub(NONCE_LIFETIME) {
            nonces
                .issued
                .lock()
                .expect("lock")
                .get_mut(&nonce)
                .expect("issued")
                .0 = long_ago;
            assert!(!nonces.is_fresh(&nonce, "00000006"), "past its lifetime");
        }
    }

    #[test]
    fn a_nonce_this_edge_never_issued_is_not_fresh_and_no_header_is_no_credentials() {
        let nonces = Nonces::default();
        let request = register_with(
            "Authorization: Digest username=\"101\", realm=\"acme\", nonce=\"forged\", \
             uri=\"sip:acme\", response=\"0123\"\r\n",
        );
        assert!(!nonces.credentials(&request).expect("credentials").fresh);
        assert_eq!(nonces.credentials(&register_with("")), None);
    }
}
