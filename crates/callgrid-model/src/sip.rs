//! SIP digest credentials (RFC 7616 and RFC 2617, MD5).
//!
//! A phone proves it knows its extension's password by answering a nonce
//! with `MD5(HA1:nonce[:nc:cnonce:qop]:HA2)`. The cluster keeps only the
//! HA1, `MD5("<extension>:<tenant>:<password>")` with the tenant id as the
//! realm, and checks responses itself, so neither the password nor the HA1
//! ever leaves it: the SIP edge sends what the phone sent and learns yes or
//! no. The HA1 is as good as the password for this realm, so it is never
//! printed (its `Debug` hides it) and never returned by a read.

use std::fmt;
use std::ops::RangeInclusive;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::{Extension, TenantId, ValidationError};

/// Lowercase hex MD5 of `input`, as digest authentication writes hashes.
fn md5_hex(input: &str) -> String {
    Md5::digest(input.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An extension's SIP secret as stored: `MD5("<extension>:<tenant>:<password>")`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SipHa1(String);

impl SipHa1 {
    /// Password lengths accepted, in characters (all printable ASCII).
    pub const PASSWORD_LEN: RangeInclusive<usize> = 8..=128;

    /// The secret of `extension` in `tenant` (the realm), from a password
    /// arriving in request field `field`. The error never echoes the password.
    pub fn from_password(
        field: &str,
        tenant: &TenantId,
        extension: &Extension,
        password: &str,
    ) -> Result<Self, ValidationError> {
        let printable = password.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if !printable || !Self::PASSWORD_LEN.contains(&password.len()) {
            return Err(ValidationError::new(
                field,
                format!(
                    "a SIP password must be {} to {} printable ASCII characters",
                    Self::PASSWORD_LEN.start(),
                    Self::PASSWORD_LEN.end()
                ),
            ));
        }
        Ok(Self::of(extension.as_str(), tenant.as_str(), password))
    }

    fn of(user: &str, realm: &str, password: &str) -> Self {
        Self(md5_hex(&format!("{user}:{realm}:{password}")))
    }

    /// A secret no password has, to spend the time of a check that has
    /// no real secret to check against.
    pub(crate) fn placeholder() -> Self {
        Self("0".repeat(32))
    }

    /// True if `answer` is the response a phone knowing the password gives.
    pub fn verify(&self, answer: &DigestAnswer) -> bool {
        let ha2 = md5_hex(&format!("{}:{}", answer.method, answer.uri));
        let expected = match answer.qop {
            Qop::Auth => md5_hex(&format!(
                "{}:{}:{}:{}:auth:{ha2}",
                self.0, answer.nonce, answer.nc, answer.cnonce
            )),
            Qop::None => md5_hex(&format!("{}:{}:{ha2}", self.0, answer.nonce)),
        };
        let given = answer.response.to_ascii_lowercase();
        // Compared in time independent of how many bytes match. subtle
        // returns false at once for slices of different lengths, which
        // tells only the length: every expected response is 32 hex digits.
        expected.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

/// Never shows the secret.
impl fmt::Debug for SipHa1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SipHa1(<not shown>)")
    }
}

/// The quality of protection a digest answer used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qop {
    /// RFC 2069 style: no `qop`, no `nc`, no `cnonce`.
    None,
    /// `qop=auth`.
    Auth,
}

impl Qop {
    /// `""` or `"auth"`; `auth-int` (a hash of the body) is not offered.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "" => Ok(Qop::None),
            "auth" => Ok(Qop::Auth),
            _ => Err(ValidationError::new(
                field,
                "qop must be \"auth\" or empty (auth-int is not supported)",
            )),
        }
    }
}

/// What a phone sent in its `Authorization` header, with the request's method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestAnswer {
    pub method: String,
    pub uri: String,
    pub nonce: String,
    pub nc: String,
    pub cnonce: String,
    pub qop: Qop,
    /// 32 hex digits.
    pub response: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5.
    fn mufasa() -> DigestAnswer {
        DigestAnswer {
            method: "GET".into(),
            uri: "/dir/index.html".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            nc: "00000001".into(),
            cnonce: "0a4f113b".into(),
            qop: Qop::Auth,
            response: "6629fae49393a05397450978507c4ef1".into(),
        }
    }

    #[test]
    fn the_rfc_2617_example_verifies() {
        let ha1 = SipHa1::of("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(ha1.0, "939e7578ed9e3c518a452acee763bce9");
        assert!(ha1.verify(&mufasa()));
        let upper = DigestAnswer {
            response: mufasa().response.to_ascii_uppercase(),
            ..mufasa()
        };
        assert!(ha1.verify(&upper), "hex digits in either case");
    }

    #[test]
    fn a_wrong_password_nonce_or_uri_does_not_verify() {
        let wrong = SipHa1::of("Mufasa", "testrealm@host.com", "Circle of Life");
        assert!(!wrong.verify(&mufasa()));
        let ha1 = SipHa1::of("Mufasa", "testrealm@host.com", "Circle Of Life");
        for answer in [
            DigestAnswer {
                nonce: "00".into(),
                ..mufasa()
            },
            DigestAnswer {
                uri: "/other".into(),
                ..mufasa()
            },
            DigestAnswer {
                qop: Qop::None,
                ..mufasa()
            },
            DigestAnswer {
                response: String::new(),
                ..mufasa()
            },
        ] {
            assert!(!ha1.verify(&answer), "{answer:?}");
        }
    }

    #[test]
    fn without_qop_the_response_covers_only_the_nonce() {
        let ha1 = SipHa1::of("Mufasa", "testrealm@host.com", "Circle Of Life");
        let ha2 = md5_hex("GET:/dir/index.html");
        let answer = DigestAnswer {
            qop: Qop::None,
            nc: String::new(),
            cnonce: String::new(),
            response: md5_hex(&format!("{}:{}:{ha2}", ha1.0, mufasa().nonce)),
            ..mufasa()
        };
        assert!(ha1.verify(&answer));
    }

    #[test]
    fn the_realm_is_the_tenant_and_the_user_the_extension() {
        let tenant = TenantId::parse("tenant", "acme").unwrap();
        let ext = Extension::parse("number", "101").unwrap();
        let ha1 = SipHa1::from_password("p", &tenant, &ext, "s3cret-pass").unwrap();
        assert_eq!(ha1, SipHa1::of("101", "acme", "s3cret-pass"));
        assert_eq!(format!("{ha1:?}"), "SipHa1(<not shown>)");
    }

    #[test]
    fn passwords_are_8_to_128_printable_ascii_and_errors_do_not_echo_them() {
        let tenant = TenantId::parse("tenant", "acme").unwrap();
        let ext = Extension::parse("number", "101").unwrap();
        let check = |p: &str| SipHa1::from_password("extension.sip_password", &tenant, &ext, p);
        assert!(check("Circle Of Life").is_ok(), "spaces are printable");
        assert!(check(&"x".repeat(128)).is_ok());
        for bad in ["short12", &"x".repeat(129), "tab\there!", "naïve-password"] {
            let err = check(bad).unwrap_err();
            assert_eq!(err.field, "extension.sip_password");
            assert!(err.rule.contains("8 to 128 printable ASCII"), "{err}");
            assert!(!err.to_string().contains(bad), "echoed the password: {err}");
        }
    }

    #[test]
    fn qop_is_auth_or_nothing() {
        assert_eq!(Qop::parse("qop", "").unwrap(), Qop::None);
        assert_eq!(Qop::parse("qop", "auth").unwrap(), Qop::Auth);
        assert_eq!(Qop::parse("qop", "auth-int").unwrap_err().field, "qop");
    }
}
