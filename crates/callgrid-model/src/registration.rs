//! SIP registrations: where an extension's phones can be reached.
//!
//! A phone registers a contact through a SIP edge; the binding names the
//! edge that holds the phone's flow, so any edge can reach the phone
//! through that one. Bindings are replicated state like the directory:
//! every write carries the proposer's clock, expired bindings are dropped
//! on each write to their extension, and readers skip those that have
//! lapsed since.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// A phone's Contact URI: `sip:` or `sips:`, at most 256 bytes of visible ASCII.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Contact(String);

impl Contact {
    pub const MAX_LEN: usize = 256;

    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        if !(raw.starts_with("sip:") || raw.starts_with("sips:")) {
            return Err(ValidationError::new(
                field,
                "a contact must be a sip: or sips: URI",
            ));
        }
        visible_ascii(field, raw, Self::MAX_LEN, "a contact")?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// At most `max` bytes, each visible ASCII (no spaces or control characters).
fn visible_ascii(field: &str, raw: &str, max: usize, what: &str) -> Result<(), ValidationError> {
    if raw.len() > max {
        return Err(ValidationError::new(
            field,
            format!("{what} must be at most {max} bytes"),
        ));
    }
    if !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ValidationError::new(
            field,
            format!("{what} must be visible ASCII, without spaces or control characters"),
        ));
    }
    Ok(())
}

/// A request to add, refresh or remove one binding of an extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub contact: Contact,
    /// The edge holding the phone's flow (its SIP `host:port`).
    pub edge: String,
    /// Where the REGISTER came from (`udp:192.0.2.7:5062`); may be empty.
    pub source: String,
    /// Seconds the binding lasts, at most [`Registration::MAX_EXPIRES_S`];
    /// 0 removes it.
    pub expires_s: u32,
}

impl Registration {
    /// Longer requests are granted this long: a phone that vanishes without
    /// unregistering is forgotten within the hour.
    pub const MAX_EXPIRES_S: u32 = 3600;
    pub const MAX_EDGE_LEN: usize = 256;
    pub const MAX_SOURCE_LEN: usize = 64;

    /// The contact of [`Registration::drop_lapsed`]: no phone has it
    /// (`.invalid`, RFC 2606) and [`Registration::new`] refuses it.
    const LAPSED_SWEEP_CONTACT: &'static str = "sip:lapsed@callgrid.invalid";

    /// A registration that only drops an extension's lapsed bindings (and,
    /// when none is left, takes it offline): what a node proposes once a
    /// binding's time is up and its phone has not refreshed it.
    pub fn drop_lapsed() -> Self {
        Self {
            contact: Contact(Self::LAPSED_SWEEP_CONTACT.to_owned()),
            edge: "callgrid".to_owned(),
            source: String::new(),
            expires_s: 0,
        }
    }

    /// True for [`Registration::drop_lapsed`].
    pub fn is_drop_lapsed(&self) -> bool {
        self.contact.0 == Self::LAPSED_SWEEP_CONTACT
    }

    /// Checks each field, reporting it under its own name (`contact`,
    /// `edge`, `source`); `expires_s` is capped, not refused.
    pub fn new(
        contact: &str,
        edge: &str,
        source: &str,
        expires_s: u32,
    ) -> Result<Self, ValidationError> {
        let contact = Contact::parse("contact", contact)?;
        if contact.0 == Self::LAPSED_SWEEP_CONTACT {
            return Err(ValidationError::new(
                "contact",
                "this contact is reserved for dropping lapsed bindings",
            ));
        }
        if edge.is_empty() {
            return Err(ValidationError::new(
                "edge",
                "the edge holding the phone's flow must be named",
            ));
        }
        visible_ascii("edge", edge, Self::MAX_EDGE_LEN, "an edge address")?;
        visible_ascii("source", source, Self::MAX_SOURCE_LEN, "a source")?;
        Ok(Self {
            contact,
            edge: edge.to_owned(),
            source: source.to_owned(),
            expires_s: expires_s.min(Self::MAX_EXPIRES_S),
        })
    }
}

/// One registered contact of an extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub contact: Contact,
    pub edge: String,
    pub source: String,
    /// Wall clock, ms since the Unix epoch; the binding is gone from then on.
    pub expires_at_ms: u64,
    /// When it was last added or refreshed: the oldest goes first when an
    /// extension is full.
    pub refreshed_at_ms: u64,
}

impl Binding {
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.expires_at_ms > now_ms
    }
}

/// The bindings of one extension, in contact order, at most [`Bindings::MAX`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bindings(Vec<Binding>);

impl Bindings {
    /// Contacts one extension may have at once. A new contact beyond this
    /// replaces the one refreshed longest ago (rather than being refused):
    /// a phone that rebooted onto a new port must not be locked out for an
    /// hour by its own stale bindings.
    pub const MAX: usize = 10;

    /// Applies `reg` at `now_ms`: drops lapsed bindings, then adds,
    /// refreshes (same contact) or removes (`expires_s == 0`) one.
    pub fn apply(&mut self, reg: &Registration, now_ms: u64) {
        self.0.retain(|b| b.is_live(now_ms));
        if reg.is_drop_lapsed() {
            return;
        }
        let at = self.0.binary_search_by(|b| b.contact.cmp(&reg.contact));
        if reg.expires_s == 0 {
            if let Ok(i) = at {
                self.0.remove(i);
            }
            return;
        }
        let binding = Binding {
            contact: reg.contact.clone(),
            edge: reg.edge.clone(),
            source: reg.source.clone(),
            // Capped here too: the fields are public, the cap is the rule.
            expires_at_ms: now_ms
                .saturating_add(u64::from(reg.expires_s.min(Registration::MAX_EXPIRES_S)) * 1000),
            refreshed_at_ms: now_ms,
        };
        match at {
            Ok(i) => self.0[i] = binding,
            Err(_) => {
                if self.0.len() >= Self::MAX
                    && let Some(oldest) = self
                        .0
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, b)| b.refreshed_at_ms)
                        .map(|(i, _)| i)
                {
                    self.0.remove(oldest);
                }
                let i = self
                    .0
                    .binary_search_by(|b| b.contact.cmp(&reg.contact))
                    .unwrap_err();
                self.0.insert(i, binding);
            }
        }
    }

    /// The bindings still live at `now_ms`, in contact order.
    pub fn live(&self, now_ms: u64) -> impl Iterator<Item = &Binding> {
        self.0.iter().filter(move |b| b.is_live(now_ms))
    }

    /// No binding at all, lapsed or not.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True if a binding is stored that has lapsed at `now_ms`.
    pub fn any_lapsed(&self, now_ms: u64) -> bool {
        self.0.iter().any(|b| !b.is_live(now_ms))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const T0: u64 = 1_000_000;

    fn reg(contact: &str, expires_s: u32) -> Registration {
        Registration::new(contact, "edge1:5060", "udp:192.0.2.7:5062", expires_s).unwrap()
    }

    fn contacts(b: &Bindings, now: u64) -> Vec<String> {
        b.live(now).map(|b| b.contact.to_string()).collect()
    }

    #[test]
    fn a_binding_is_added_refreshed_and_removed() {
        let mut b = Bindings::default();
        b.apply(&reg("sip:101@192.0.2.7:5062", 60), T0);
        assert_eq!(contacts(&b, T0), ["sip:101@192.0.2.7:5062"]);
        let first = b.live(T0).next().unwrap().clone();
        assert_eq!(first.expires_at_ms, T0 + 60_000);
        assert_eq!(first.edge, "edge1:5060");

        let moved = Registration {
            edge: "edge2:5060".into(),
            ..reg("sip:101@192.0.2.7:5062", 120)
        };
        b.apply(&moved, T0 + 30_000);
        let refreshed: Vec<_> = b.live(T0 + 30_000).cloned().collect();
        assert_eq!(refreshed.len(), 1, "same contact: refreshed, not added");
        assert_eq!(refreshed[0].expires_at_ms, T0 + 150_000);
        assert_eq!(refreshed[0].edge, "edge2:5060");

        b.apply(&reg("sip:101@192.0.2.7:5062", 0), T0 + 31_000);
        assert!(b.is_empty());
    }

    #[test]
    fn lapsed_bindings_are_not_live_and_are_dropped_on_the_next_write() {
        let mut b = Bindings::default();
        b.apply(&reg("sip:a@h", 10), T0);
        b.apply(&reg("sip:b@h", 100), T0);
        assert_eq!(
            contacts(&b, T0 + 10_000),
            ["sip:b@h"],
            "expiry is exclusive"
        );
        b.apply(&reg("sip:c@h", 0), T0 + 20_000);
        assert_eq!(b.0.len(), 1, "sip:a@h pruned by an unrelated write");
    }

    #[test]
    fn expiry_is_capped_at_an_hour() {
        let r = reg("sip:101@h", u32::MAX);
        assert_eq!(r.expires_s, Registration::MAX_EXPIRES_S);
        let mut b = Bindings::default();
        let unchecked = Registration {
            expires_s: u32::MAX,
            ..r
        };
        b.apply(&unchecked, T0);
        assert_eq!(b.live(T0).next().unwrap().expires_at_ms, T0 + 3_600_000);
    }

    #[test]
    fn an_eleventh_contact_replaces_the_one_refreshed_longest_ago() {
        let mut b = Bindings::default();
        for i in 0..10u64 {
            b.apply(&reg(&format!("sip:p{i}@h"), 3600), T0 + i);
        }
        // Refresh p0: now p1 is the oldest.
        b.apply(&reg("sip:p0@h", 3600), T0 + 100);
        b.apply(&reg("sip:new@h", 3600), T0 + 200);
        let live = contacts(&b, T0 + 200);
        assert_eq!(live.len(), Bindings::MAX);
        assert!(live.contains(&"sip:new@h".to_string()));
        assert!(live.contains(&"sip:p0@h".to_string()));
        assert!(!live.contains(&"sip:p1@h".to_string()), "{live:?}");
    }

    #[test]
    fn fields_are_checked_each_under_its_name() {
        let cases = [
            (
                Registration::new("tel:101", "e", "", 60),
                "contact",
                "sip: or sips:",
            ),
            (
                Registration::new(&format!("sip:{}", "1".repeat(253)), "e", "", 60),
                "contact",
                "at most 256 bytes",
            ),
            (
                Registration::new("sip:1 01@h", "e", "", 60),
                "contact",
                "visible ASCII",
            ),
            (
                Registration::new("sip:101@h", "", "", 60),
                "edge",
                "must be named",
            ),
            (
                Registration::new("sip:101@h", &"e".repeat(257), "", 60),
                "edge",
                "at most 256 bytes",
            ),
            (
                Registration::new("sip:101@h", "e", &"s".repeat(65), 60),
                "source",
                "at most 64 bytes",
            ),
        ];
        for (result, field, rule) in cases {
            let err = result.unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert!(err.rule.contains(rule), "{err}");
        }
        assert!(Registration::new("sips:101@h;transport=tls", "e:5061", "", 60).is_ok());
        assert!(Registration::new(&format!("sip:{}", "1".repeat(252)), "e", "", 60).is_ok());
    }

    #[derive(Debug, Clone)]
    enum Step {
        Register { contact: u8, expires_s: u32 },
        Remove { contact: u8 },
        Wait { ms: u64 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0u8..16, 1u32..4000).prop_map(|(contact, expires_s)| Step::Register { contact, expires_s }),
            1 => (0u8..16).prop_map(|contact| Step::Remove { contact }),
            2 => (0u64..2_000_000).prop_map(|ms| Step::Wait { ms }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever phones do, an extension never has more than ten live
        /// bindings, and a reader never sees a lapsed one.
        #[test]
        fn any_sequence_keeps_at_most_ten_live_bindings_and_none_lapsed(
            steps in proptest::collection::vec(step(), 1..120)
        ) {
            let mut b = Bindings::default();
            let mut now = T0;
            for s in steps {
                match s {
                    Step::Register { contact, expires_s } => {
                        b.apply(&reg(&format!("sip:{contact}@h"), expires_s), now);
                    }
                    Step::Remove { contact } => b.apply(&reg(&format!("sip:{contact}@h"), 0), now),
                    Step::Wait { ms } => now += ms,
                }
                let live: Vec<_> = b.live(now).collect();
                prop_assert!(live.len() <= Bindings::MAX);
                prop_assert!(live.iter().all(|l| l.expires_at_ms > now));
                prop_assert!(b.0.len() <= Bindings::MAX, "stored, lapsed or not");
                prop_assert!(b.0.windows(2).all(|w| w[0].contact < w[1].contact), "sorted, unique");
            }
        }
    }
}
