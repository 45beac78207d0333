//! SIP registration: binding an extension's phones, and checking their
//! digest answers against the extension's secret.
//!
//! An extension is online while it has a live binding: registering marks
//! it online (its lamp goes from offline to idle) and a write that leaves
//! it none marks it offline, as `SetOnline` would.

use crate::{
    Binding, DigestAnswer, DirectoryError, Event, Extension, Registration, SipHa1, TenantId,
};

use super::Switchboard;

impl Switchboard {
    /// Applies one registration; answers the extension's live bindings.
    /// Checked before the first change: a refusal changes nothing.
    pub(super) fn register(
        &mut self,
        tenant_id: &TenantId,
        extension: &Extension,
        registration: &Registration,
        now_ms: u64,
        events: &mut Vec<Event>,
    ) -> Result<Vec<Binding>, DirectoryError> {
        let tenant = self
            .tenants
            .get_mut(tenant_id)
            .ok_or_else(|| DirectoryError::TenantNotFound(tenant_id.to_string()))?;
        let record = tenant.extensions.get_mut(extension).ok_or_else(|| {
            DirectoryError::ExtensionNotFound {
                field: "extension".into(),
                number: extension.to_string(),
            }
        })?;
        if record.sip_ha1.is_none() && !registration.is_drop_lapsed() {
            return Err(DirectoryError::NoSipSecret {
                field: "extension".into(),
                number: extension.to_string(),
            });
        }
        let bindings = tenant.registrations.entry(extension.clone()).or_default();
        bindings.apply(registration, now_ms);
        let live: Vec<Binding> = bindings.live(now_ms).cloned().collect();
        if bindings.is_empty() {
            tenant.registrations.remove(extension);
        }
        record.online = !live.is_empty();
        self.refresh_lamp(tenant_id, extension, now_ms, events);
        Ok(live)
    }

    /// Every extension that holds a binding lapsed at `now_ms`: what a
    /// [`Registration::drop_lapsed`] should be proposed for.
    pub fn lapsed_registrations(&self, now_ms: u64) -> Vec<(TenantId, Extension)> {
        self.tenants
            .iter()
            .flat_map(|(id, t)| {
                t.registrations
                    .iter()
                    .filter(move |(_, b)| b.any_lapsed(now_ms))
                    .map(move |(n, _)| (id.clone(), n.clone()))
            })
            .collect()
    }

    /// The live bindings of an extension at `now_ms`, in contact order;
    /// `None` if the tenant has no such extension.
    pub fn bindings(
        &self,
        tenant: &TenantId,
        extension: &Extension,
        now_ms: u64,
    ) -> Option<Vec<Binding>> {
        let t = self.tenant(tenant)?;
        t.extension(extension)?;
        Some(
            t.registrations
                .get(extension)
                .map(|b| b.live(now_ms).cloned().collect())
                .unwrap_or_default(),
        )
    }

    /// True if `answer` proves knowledge of the extension's SIP password.
    /// An unknown tenant or extension, one without a secret, and a wrong
    /// answer are all plain `false`: the caller cannot tell them apart.
    pub fn authenticate(
        &self,
        tenant: &TenantId,
        extension: &Extension,
        answer: &DigestAnswer,
    ) -> bool {
        let secret = self
            .tenant(tenant)
            .and_then(|t| t.extension(extension))
            .and_then(|r| r.sip_ha1.as_ref());
        match secret {
            Some(ha1) => ha1.verify(answer),
            // Hash all the same, so the time taken does not tell either.
            None => {
                std::hint::black_box(SipHa1::placeholder().verify(answer));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use md5::Digest;
    use proptest::prelude::*;

    use crate::*;

    const T0: u64 = 1_000_000;

    fn t(s: &str) -> TenantId {
        TenantId::parse("tenant", s).unwrap()
    }
    fn e(s: &str) -> Extension {
        Extension::parse("ext", s).unwrap()
    }

    /// Tenant `acme`: 101 with SIP password `s3cret-pass`, 102 without one.
    fn switchboard() -> Switchboard {
        let mut sb = Switchboard::default();
        let ok = Response::Directory(Ok(()));
        let put_tenant = Command::PutTenant {
            tenant: t("acme"),
            config: TenantConfig::default(),
        };
        assert_eq!(sb.apply(&put_tenant).response, ok);
        for (n, password) in [("101", Some("s3cret-pass")), ("102", None)] {
            let mut record = ExtensionRecord::new(e(n));
            record.online = false;
            record.sip_ha1 =
                password.map(|p| SipHa1::from_password("p", &t("acme"), &e(n), p).unwrap());
            let put = Command::PutExtension {
                tenant: t("acme"),
                record,
                keep_sip_secret: false,
            };
            assert_eq!(sb.apply(&put).response, ok);
        }
        sb
    }

    fn register(n: &str, contact: &str, expires_s: u32, now_ms: u64) -> Command {
        Command::Register {
            tenant: t("acme"),
            extension: e(n),
            registration: Registration::new(contact, "edge1:5060", "udp:192.0.2.7:5062", expires_s)
                .unwrap(),
            now_ms,
        }
    }

    fn lamp_events(applied: &Applied) -> Vec<LampState> {
        applied
            .events
            .iter()
            .filter_map(|ev| match ev {
                Event::Lamp { state, .. } => Some(*state),
                _ => None,
            })
            .collect()
    }

    fn online(sb: &Switchboard, n: &str) -> bool {
        sb.tenant(&t("acme"))
            .unwrap()
            .extension(&e(n))
            .unwrap()
            .online
    }

    #[test]
    fn registering_binds_the_contact_and_lights_the_lamp_idle_until_it_is_removed() {
        let mut sb = switchboard();
        assert_eq!(
            sb.tenant(&t("acme")).unwrap().lamp(&e("101")),
            LampState::Offline
        );
        let applied = sb.apply(&register("101", "sip:101@192.0.2.7:5062", 60, T0));
        let Response::Register(Ok(bindings)) = &applied.response else {
            panic!("{:?}", applied.response)
        };
        assert_eq!(bindings.len(), 1);
        assert_eq!(bindings[0].expires_at_ms, T0 + 60_000);
        assert_eq!(lamp_events(&applied), [LampState::Idle]);
        assert!(online(&sb, "101"));
        assert_eq!(
            sb.bindings(&t("acme"), &e("101"), T0 + 1).unwrap(),
            *bindings
        );

        let refreshed = sb.apply(&register("101", "sip:101@192.0.2.7:5062", 60, T0 + 30_000));
        assert!(
            lamp_events(&refreshed).is_empty(),
            "a refresh changes no lamp"
        );

        let removed = sb.apply(&register("101", "sip:101@192.0.2.7:5062", 0, T0 + 40_000));
        assert_eq!(removed.response, Response::Register(Ok(vec![])));
        assert_eq!(lamp_events(&removed), [LampState::Offline]);
        assert!(!online(&sb, "101"));
    }

    #[test]
    fn dropping_lapsed_bindings_takes_the_extension_offline_and_keeps_live_ones() {
        let mut sb = switchboard();
        sb.apply(&register("101", "sip:a@h", 10, T0));
        sb.apply(&register("101", "sip:b@h", 60, T0));
        let drop_lapsed = |now_ms| Command::Register {
            tenant: t("acme"),
            extension: e("101"),
            registration: Registration::drop_lapsed(),
            now_ms,
        };
        assert!(sb.lapsed_registrations(T0 + 9_999).is_empty());
        assert_eq!(
            sb.lapsed_registrations(T0 + 10_000),
            [(t("acme"), e("101"))]
        );
        let swept = sb.apply(&drop_lapsed(T0 + 10_000));
        assert!(
            matches!(&swept.response, Response::Register(Ok(live)) if live.len() == 1),
            "the live binding stays: {:?}",
            swept.response
        );
        assert!(lamp_events(&swept).is_empty(), "still online");
        assert!(sb.lapsed_registrations(T0 + 10_000).is_empty());

        let swept = sb.apply(&drop_lapsed(T0 + 60_000));
        assert_eq!(swept.response, Response::Register(Ok(vec![])));
        assert_eq!(lamp_events(&swept), [LampState::Offline]);
        assert!(!online(&sb, "101"));
        assert!(sb.lapsed_registrations(T0 + 60_000).is_empty());
    }

    #[test]
    fn the_sweep_contact_cannot_be_registered() {
        let err =
            Registration::new("sip:lapsed@callgrid.invalid", "edge1:5060", "", 60).unwrap_err();
        assert!(err.to_string().contains("contact"), "{err}");
        assert!(err.to_string().contains("reserved"), "{err}");
    }

    #[test]
    fn lookup_skips_lapsed_bindings() {
        let mut sb = switchboard();
        sb.apply(&register("101", "sip:a@h", 10, T0));
        assert_eq!(
            sb.bindings(&t("acme"), &e("101"), T0 + 9_999)
                .unwrap()
                .len(),
            1
        );
        assert!(
            sb.bindings(&t("acme"), &e("101"), T0 + 10_000)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            sb.bindings(&t("acme"), &e("999"), T0),
            None,
            "no such extension"
        );
        assert_eq!(
            sb.bindings(&t("other"), &e("101"), T0),
            None,
            "no such tenant"
        );
    }

    #[test]
    fn only_an_existing_extension_with_a_secret_registers_and_a_refusal_changes_nothing() {
        let mut sb = switchboard();
        let before = sb.clone();
        let refusals = [
            (register("102", "sip:102@h", 60, T0), "has no SIP password"),
            (register("999", "sip:999@h", 60, T0), "does not exist"),
            (
                Command::Register {
                    tenant: t("other"),
                    extension: e("101"),
                    registration: Registration::new("sip:101@h", "edge1:5060", "", 60).unwrap(),
                    now_ms: T0,
                },
                "tenant other does not exist",
            ),
        ];
        for (cmd, why) in refusals {
            let applied = sb.apply(&cmd);
            let Response::Register(Err(err)) = &applied.response else {
                panic!("{cmd:?} was not refused: {:?}", applied.response)
            };
            assert!(err.to_string().contains(why), "{err}");
            assert!(applied.events.is_empty());
        }
        assert_eq!(sb, before);
    }

    #[test]
    fn put_extension_keeps_changes_or_clears_the_secret() {
        let mut sb = switchboard();
        let secret = |sb: &Switchboard| {
            sb.tenant(&t("acme"))
                .unwrap()
                .extension(&e("101"))
                .unwrap()
                .sip_ha1
                .clone()
        };
        let original = secret(&sb);
        assert!(original.is_some());
        let edit = |keep: bool, ha1: Option<SipHa1>| {
            let mut record = ExtensionRecord::new(e("101"));
            record.display_name = "Front desk".into();
            record.sip_ha1 = ha1;
            Command::PutExtension {
                tenant: t("acme"),
                record,
                keep_sip_secret: keep,
            }
        };
        sb.apply(&edit(true, None));
        assert_eq!(secret(&sb), original, "an edit without a password keeps it");
        let other = SipHa1::from_password("p", &t("acme"), &e("101"), "another-pass").unwrap();
        sb.apply(&edit(false, Some(other.clone())));
        assert_eq!(secret(&sb), Some(other));
        sb.apply(&edit(false, None));
        assert_eq!(secret(&sb), None, "cleared");
    }

    #[test]
    fn deleting_an_extension_or_its_tenant_drops_its_bindings() {
        let mut sb = switchboard();
        sb.apply(&register("101", "sip:101@h", 60, T0));
        let delete = Command::DeleteExtension {
            tenant: t("acme"),
            number: e("101"),
        };
        assert_eq!(sb.apply(&delete).response, Response::Directory(Ok(())));
        let again = Command::PutExtension {
            tenant: t("acme"),
            record: ExtensionRecord::new(e("101")),
            keep_sip_secret: true,
        };
        sb.apply(&again);
        assert_eq!(sb.bindings(&t("acme"), &e("101"), T0), Some(vec![]));
        assert_eq!(
            sb.tenant(&t("acme"))
                .unwrap()
                .extension(&e("101"))
                .unwrap()
                .sip_ha1,
            None,
            "a new extension of the same number starts without a secret"
        );

        let mut sb = switchboard();
        sb.apply(&register("101", "sip:101@h", 60, T0));
        let gone = Command::DeleteTenant { tenant: t("acme") };
        assert_eq!(sb.apply(&gone).response, Response::Directory(Ok(())));
        let fresh = switchboard();
        let mut rebuilt = sb;
        for cmd in [
            Command::PutTenant {
                tenant: t("acme"),
                config: TenantConfig::default(),
            },
            Command::PutExtension {
                tenant: t("acme"),
                record: fresh
                    .tenant(&t("acme"))
                    .unwrap()
                    .extension(&e("101"))
                    .unwrap()
                    .clone(),
                keep_sip_secret: false,
            },
        ] {
            rebuilt.apply(&cmd);
        }
        assert_eq!(rebuilt.bindings(&t("acme"), &e("101"), T0), Some(vec![]));
    }

    #[test]
    fn authenticate_checks_the_digest_and_cannot_tell_unknown_from_wrong() {
        let sb = switchboard();
        let answer = |password: &str| {
            let ha1 = |s: &str| {
                md5::Md5::digest(s.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            };
            let h1 = ha1(&format!("101:acme:{password}"));
            let h2 = ha1("REGISTER:sip:acme.example");
            DigestAnswer {
                method: "REGISTER".into(),
                uri: "sip:acme.example".into(),
                nonce: "n1".into(),
                nc: "00000001".into(),
                cnonce: "c1".into(),
                qop: Qop::Auth,
                response: ha1(&format!("{h1}:n1:00000001:c1:auth:{h2}")),
            }
        };
        assert!(sb.authenticate(&t("acme"), &e("101"), &answer("s3cret-pass")));
        assert!(!sb.authenticate(&t("acme"), &e("101"), &answer("wrong-pass")));
        assert!(
            !sb.authenticate(&t("acme"), &e("102"), &answer("s3cret-pass")),
            "no secret"
        );
        assert!(!sb.authenticate(&t("acme"), &e("999"), &answer("s3cret-pass")));
        assert!(!sb.authenticate(&t("other"), &e("101"), &answer("s3cret-pass")));
    }

    #[derive(Debug, Clone)]
    enum Step {
        Register { contact: u8, expires_s: u32 },
        Remove { contact: u8 },
        Wait { ms: u64 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0u8..16, 1u32..5000).prop_map(|(contact, expires_s)| Step::Register { contact, expires_s }),
            1 => (0u8..16).prop_map(|contact| Step::Remove { contact }),
            2 => (0u64..2_000_000).prop_map(|ms| Step::Wait { ms }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever phones do, an extension has at most ten live bindings,
        /// Lookup never shows a lapsed one, and after each registration the
        /// extension is online exactly while it has a binding.
        #[test]
        fn registrations_keep_at_most_ten_live_bindings_and_lookup_shows_none_lapsed(
            steps in proptest::collection::vec(step(), 1..120)
        ) {
            let mut sb = switchboard();
            let mut now = T0;
            for s in steps {
                let cmd = match s {
                    Step::Register { contact, expires_s } => {
                        Some(register("101", &format!("sip:{contact}@h"), expires_s, now))
                    }
                    Step::Remove { contact } => Some(register("101", &format!("sip:{contact}@h"), 0, now)),
                    Step::Wait { ms } => {
                        now += ms;
                        None
                    }
                };
                if let Some(cmd) = cmd {
                    let Response::Register(Ok(after)) = sb.apply(&cmd).response else {
                        panic!("registration refused");
                    };
                    prop_assert!(after.len() <= Bindings::MAX);
                    prop_assert_eq!(online(&sb, "101"), !after.is_empty());
                }
                let seen = sb.bindings(&t("acme"), &e("101"), now).unwrap();
                prop_assert!(seen.len() <= Bindings::MAX);
                prop_assert!(seen.iter().all(|b| b.expires_at_ms > now), "lapsed binding shown");
            }
        }
    }
}
