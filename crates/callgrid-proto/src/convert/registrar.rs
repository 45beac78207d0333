//! `callgrid.v1.Registrar` and the extension's SIP password.
//!
//! A password is turned into its digest HA1 here, as the request enters,
//! so the plain password is never proposed, logged or replicated. Checking
//! digest answers is the model's ([`callgrid_model::SipHa1::verify`]).

use callgrid_model::{
    Binding, Command, DigestAnswer, Extension, Qop, Registration, SipHa1, TenantId, ValidationError,
};

use super::{extension, tenant};
use crate::v1;

/// `Extension.sip_password` of a PutExtension request: absent is `None`
/// (keep the stored secret, which the caller must say in its command), ""
/// is `None` (clear it), anything else its HA1 or the rule it breaks.
pub fn sip_secret(
    tenant: &TenantId,
    number: &Extension,
    password: Option<&str>,
) -> Result<Option<SipHa1>, ValidationError> {
    match password {
        None | Some("") => Ok(None),
        Some(p) => SipHa1::from_password("extension.sip_password", tenant, number, p).map(Some),
    }
}

/// `Registrar.Authenticate`: who is answering, and the answer.
pub fn digest_answer(
    r: &v1::AuthenticateRequest,
) -> Result<(TenantId, Extension, DigestAnswer), ValidationError> {
    let answer = DigestAnswer {
        method: r.method.clone(),
        uri: r.uri.clone(),
        nonce: r.nonce.clone(),
        nc: r.nc.clone(),
        cnonce: r.cnonce.clone(),
        qop: Qop::parse("qop", &r.qop)?,
        response: r.response.clone(),
    };
    Ok((
        tenant(&r.tenant)?,
        extension("extension", &r.extension)?,
        answer,
    ))
}

/// `Registrar.Register`, stamped with the proposer's clock.
pub fn register(r: &v1::RegisterRequest, now_ms: u64) -> Result<Command, ValidationError> {
    Ok(Command::Register {
        tenant: tenant(&r.tenant)?,
        extension: extension("extension", &r.extension)?,
        registration: Registration::new(&r.contact, &r.edge, &r.source, r.expires_s)?,
        now_ms,
    })
}

impl From<&Binding> for v1::Binding {
    fn from(b: &Binding) -> Self {
        v1::Binding {
            contact: b.contact.to_string(),
            edge: b.edge.clone(),
            source: b.source.clone(),
            expires_at_ms: b.expires_at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> v1::RegisterRequest {
        v1::RegisterRequest {
            tenant: "acme".into(),
            extension: "101".into(),
            contact: "sip:101@192.0.2.7:5062".into(),
            edge: "192.0.2.1:5060".into(),
            source: "udp:192.0.2.7:5062".into(),
            expires_s: 7200,
        }
    }

    #[test]
    fn register_caps_the_expiry_and_names_each_bad_field() {
        let Command::Register { registration, .. } = register(&request(), 5).unwrap() else {
            panic!("not a Register");
        };
        assert_eq!(registration.expires_s, 3600);
        let bad = [
            (
                v1::RegisterRequest {
                    contact: "101@192.0.2.7".into(),
                    ..request()
                },
                "contact",
            ),
            (
                v1::RegisterRequest {
                    edge: String::new(),
                    ..request()
                },
                "edge",
            ),
            (
                v1::RegisterRequest {
                    source: "x".repeat(65),
                    ..request()
                },
                "source",
            ),
            (
                v1::RegisterRequest {
                    extension: "alice".into(),
                    ..request()
                },
                "extension",
            ),
        ];
        for (r, field) in bad {
            assert_eq!(register(&r, 5).unwrap_err().field, field);
        }
    }

    #[test]
    fn a_password_becomes_its_ha1_and_empty_clears() {
        let t = TenantId::parse("tenant", "acme").unwrap();
        let n = Extension::parse("number", "101").unwrap();
        assert_eq!(sip_secret(&t, &n, None).unwrap(), None);
        assert_eq!(sip_secret(&t, &n, Some("")).unwrap(), None);
        let ha1 = sip_secret(&t, &n, Some("s3cret-pass")).unwrap();
        assert_eq!(
            ha1,
            Some(SipHa1::from_password("x", &t, &n, "s3cret-pass").unwrap())
        );
        let err = sip_secret(&t, &n, Some("short")).unwrap_err();
        assert_eq!(err.field, "extension.sip_password");
    }

    #[test]
    fn put_extension_keeps_clears_or_sets_the_secret_and_reads_never_show_it() {
        let put = |password: Option<&str>| {
            super::super::put_extension(&v1::PutExtensionRequest {
                tenant: "acme".into(),
                extension: Some(v1::Extension {
                    number: "101".into(),
                    sip_password: password.map(str::to_owned),
                    ..Default::default()
                }),
            })
        };
        let parts = |cmd: Command| match cmd {
            Command::PutExtension {
                record,
                keep_sip_secret,
                ..
            } => (record, keep_sip_secret),
            other => panic!("{other:?}"),
        };
        let (record, keep) = parts(put(None).unwrap());
        assert!(keep && record.sip_ha1.is_none(), "absent keeps");
        let (record, keep) = parts(put(Some("")).unwrap());
        assert!(!keep && record.sip_ha1.is_none(), "empty clears");
        let (record, keep) = parts(put(Some("s3cret-pass")).unwrap());
        assert!(!keep && record.sip_ha1.is_some(), "a password sets");
        assert_eq!(v1::Extension::from(&record).sip_password, None);
        let err = put(Some("bad\npassword")).unwrap_err();
        assert_eq!(err.field, "extension.sip_password");
    }

    #[test]
    fn only_auth_or_no_qop_is_accepted() {
        let r = v1::AuthenticateRequest {
            tenant: "acme".into(),
            extension: "101".into(),
            qop: "auth-int".into(),
            ..Default::default()
        };
        assert_eq!(digest_answer(&r).unwrap_err().field, "qop");
    }
}
