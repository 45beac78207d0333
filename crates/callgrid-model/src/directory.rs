//! The directory: tenants, extensions, call groups and park policies.
//!
//! These are the administrator's (and, for call groups, the owner's)
//! settings. Each `validate` checks what can be checked without looking at
//! the rest of the directory; cross-record rules (a member must exist and be
//! voice-enabled, say) are checked where the record is stored.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::{
    Extension, FeatureCodes, LegacyGroupId, NameList, ParkCode, PolicyName, SipHa1, ValidationError,
};

/// How group pickup chooses among several ringing calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PickupSelection {
    /// The call that has been ringing longest.
    #[default]
    Oldest,
    /// Any one of them, chosen at random.
    Random,
}

/// A tenant's limits and settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantConfig {
    pub max_call_groups: u32,
    pub max_call_group_members: u32,
    pub feature_codes: FeatureCodes,
    pub pickup_selection: PickupSelection,
    /// How long an unanswered call rings before it ends or forwards on no answer.
    pub ring_timeout_secs: u32,
}

impl TenantConfig {
    pub const MAX_CALL_GROUPS: RangeInclusive<u32> = 1..=32_768;
    pub const MAX_CALL_GROUP_MEMBERS: RangeInclusive<u32> = 1..=5;
    pub const RING_TIMEOUT_SECS: RangeInclusive<u32> = 5..=600;

    pub fn validate(&self) -> Result<(), ValidationError> {
        in_range(
            "max_call_groups",
            self.max_call_groups,
            Self::MAX_CALL_GROUPS,
        )?;
        in_range(
            "max_call_group_members",
            self.max_call_group_members,
            Self::MAX_CALL_GROUP_MEMBERS,
        )?;
        in_range(
            "ring_timeout_secs",
            self.ring_timeout_secs,
            Self::RING_TIMEOUT_SECS,
        )?;
        self.feature_codes.validate()
    }
}

impl Default for TenantConfig {
    fn default() -> Self {
        Self {
            max_call_groups: 32_768,
            max_call_group_members: 5,
            feature_codes: FeatureCodes::default(),
            pickup_selection: PickupSelection::Oldest,
            ring_timeout_secs: 30,
        }
    }
}

pub(crate) fn in_range(
    field: &str,
    value: u32,
    range: RangeInclusive<u32>,
) -> Result<(), ValidationError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            format!("must be between {} and {}", range.start(), range.end()),
        ))
    }
}

/// Where a forwarded call goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForwardTarget {
    Extension(Extension),
    /// The forwarding extension's own call group.
    CallGroup,
}

/// Call forwarding rules of one extension.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forwarding {
    pub unconditional: Option<ForwardTarget>,
    pub on_busy: Option<ForwardTarget>,
    /// Forward after ringing this many seconds unanswered.
    pub on_no_answer: Option<(ForwardTarget, u32)>,
}

impl Forwarding {
    pub const NO_ANSWER_SECS: RangeInclusive<u32> = 5..=600;

    pub fn validate(&self, own: &Extension) -> Result<(), ValidationError> {
        let targets = [
            ("forwarding.unconditional", self.unconditional.as_ref()),
            ("forwarding.on_busy", self.on_busy.as_ref()),
            (
                "forwarding.on_no_answer",
                self.on_no_answer.as_ref().map(|(t, _)| t),
            ),
        ];
        for (field, target) in targets {
            if target == Some(&ForwardTarget::Extension(own.clone())) {
                return Err(ValidationError::new(
                    field,
                    "an extension must not forward to itself",
                ));
            }
        }
        if let Some((_, secs)) = &self.on_no_answer {
            in_range(
                "forwarding.on_no_answer.after_secs",
                *secs,
                Self::NO_ANSWER_SECS,
            )?;
        }
        Ok(())
    }
}

/// One extension of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionRecord {
    pub number: Extension,
    pub display_name: String,
    /// Required to own or be a member of a call group, and to park.
    pub voice_enabled: bool,
    pub directed_pickup_allowed: bool,
    pub group_pickup_allowed: bool,
    /// Granted by an administrator; parking is disabled until then.
    pub park_policy: Option<PolicyName>,
    pub forwarding: Forwarding,
    /// Legacy pickup groups. `*98` takes the call ringing longest in any
    /// of them (their order is kept as given but means nothing to pickup).
    pub legacy_pickup_groups: Vec<LegacyGroupId>,
    /// Named call groups: the groups this extension's calls belong to.
    pub call_groups: NameList,
    /// Named pickup groups: the groups whose calls this extension may pick up.
    pub pickup_groups: NameList,
    /// Registered endpoint; an unregistered extension shows `offline`.
    /// Set by `SetOnline`, and by SIP registration: online while the
    /// extension has a live binding.
    pub online: bool,
    /// The SIP digest secret; without one the extension cannot register.
    pub sip_ha1: Option<SipHa1>,
}

impl ExtensionRecord {
    /// The most legacy pickup groups one extension may be in. A request
    /// sets the whole list, which is kept in the replicated state and
    /// searched by `*98` on every group pickup: it must stay small.
    pub const MAX_LEGACY_PICKUP_GROUPS: usize = 64;

    /// A voice-enabled, online extension with default permissions.
    pub fn new(number: Extension) -> Self {
        Self {
            number,
            display_name: String::new(),
            voice_enabled: true,
            directed_pickup_allowed: true,
            group_pickup_allowed: true,
            park_policy: None,
            forwarding: Forwarding::default(),
            legacy_pickup_groups: Vec::new(),
            call_groups: NameList::default(),
            pickup_groups: NameList::default(),
            online: true,
            sip_ha1: None,
        }
    }

    /// An extension with a name in either list is in named mode, and legacy
    /// group pickup no longer applies to it, in either direction.
    pub fn named_mode(&self) -> bool {
        !self.call_groups.is_empty() || !self.pickup_groups.is_empty()
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.display_name.chars().count() > 128 {
            return Err(ValidationError::new(
                "display_name",
                "must be at most 128 characters",
            ));
        }
        self.forwarding.validate(&self.number)
    }
}

/// How a call-group member is told of a shared call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertMode {
    /// Audio and visual.
    #[default]
    Ring,
    /// Visual only, no sound.
    Visual,
    /// A banner notification.
    Banner,
}

/// One member of a call group, in the owner's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallGroupMember {
    pub extension: Extension,
    pub alert: AlertMode,
    /// Seconds after the call starts ringing before this member is alerted.
    pub delay_secs: u32,
}

/// In which order a forwarded call rings the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RingOrder {
    AllAtOnce,
    /// One member at a time, each for `ring_secs`.
    InOrder {
        ring_secs: u32,
    },
}

/// What the owner's incoming calls do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallGroupRouting {
    /// Ring the owner and the members at the same time.
    Simultaneous,
    /// Forward to the group, not ringing the owner.
    Forward(RingOrder),
}

/// A call group: owned and managed by one extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallGroup {
    pub owner: Extension,
    pub members: Vec<CallGroupMember>,
    pub routing: CallGroupRouting,
}

impl CallGroup {
    /// The largest member count any tenant may allow.
    pub const MAX_MEMBERS: usize = 5;
    pub const RING_SECS: RangeInclusive<u32> = 5..=120;
    pub const DELAY_SECS: RangeInclusive<u32> = 0..=60;

    /// Rules that need only the group itself; `member_limit` is the tenant's.
    pub fn validate(&self, member_limit: u32) -> Result<(), ValidationError> {
        if self.members.len() > member_limit as usize {
            return Err(ValidationError::new(
                "members",
                format!("a call group may have at most {member_limit} members"),
            ));
        }
        for (i, m) in self.members.iter().enumerate() {
            if m.extension == self.owner {
                return Err(ValidationError::new(
                    format!("members[{i}]"),
                    "the owner must not be a member of its own call group",
                ));
            }
            if self.members[..i].iter().any(|o| o.extension == m.extension) {
                return Err(ValidationError::new(
                    format!("members[{i}]"),
                    "a member must appear only once",
                ));
            }
            in_range(
                &format!("members[{i}].delay_secs"),
                m.delay_secs,
                Self::DELAY_SECS,
            )?;
        }
        if let CallGroupRouting::Forward(RingOrder::InOrder { ring_secs }) = self.routing {
            in_range("routing.ring_secs", ring_secs, Self::RING_SECS)?;
        }
        Ok(())
    }
}

/// A park policy: who may park, which codes, how long before ring-back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkPolicy {
    pub name: PolicyName,
    pub allow_parking: bool,
    pub code_start: ParkCode,
    pub code_end: ParkCode,
    pub timeout_secs: u32,
}

impl ParkPolicy {
    pub const TIMEOUT_SECS: RangeInclusive<u32> = 120..=1800;

    /// The defaults: parking allowed, codes 10–99, ring-back after 300 s.
    pub fn new(name: PolicyName) -> Self {
        Self {
            name,
            allow_parking: true,
            code_start: ParkCode::new("code_start", 10).expect("10 is a valid park code"),
            code_end: ParkCode::new("code_end", 99).expect("99 is a valid park code"),
            timeout_secs: 300,
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.code_start >= self.code_end {
            return Err(ValidationError::new(
                "code_start",
                "the code range must start below its end",
            ));
        }
        in_range("timeout_secs", self.timeout_secs, Self::TIMEOUT_SECS)
    }

    pub fn contains(&self, code: ParkCode) -> bool {
        (self.code_start..=self.code_end).contains(&code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(s: &str) -> Extension {
        Extension::parse("t", s).unwrap()
    }

    #[test]
    fn park_policy_rules() {
        let mut p = ParkPolicy::new(PolicyName::parse("n", "lobby").unwrap());
        assert!(p.validate().is_ok());
        p.timeout_secs = 119;
        assert_eq!(p.validate().unwrap_err().field, "timeout_secs");
        p.timeout_secs = 1801;
        assert!(p.validate().is_err());
        p.timeout_secs = 1800;
        p.code_start = ParkCode::new("s", 99).unwrap();
        assert!(p.validate().unwrap_err().rule.contains("start below"));
    }

    #[test]
    fn call_group_rules() {
        let member = |e: &str| CallGroupMember {
            extension: ext(e),
            alert: AlertMode::Ring,
            delay_secs: 0,
        };
        let mut g = CallGroup {
            owner: ext("100"),
            members: vec![member("101"), member("102")],
            routing: CallGroupRouting::Simultaneous,
        };
        assert!(g.validate(5).is_ok());
        assert!(g.validate(1).unwrap_err().rule.contains("at most 1"));
        g.members.push(member("100"));
        assert!(g.validate(5).unwrap_err().rule.contains("owner"));
        g.members.pop();
        g.members.push(member("101"));
        assert!(g.validate(5).unwrap_err().rule.contains("only once"));
        g.members.pop();
        g.routing = CallGroupRouting::Forward(RingOrder::InOrder { ring_secs: 1 });
        assert_eq!(g.validate(5).unwrap_err().field, "routing.ring_secs");
    }

    #[test]
    fn named_mode_follows_either_list() {
        let mut r = ExtensionRecord::new(ext("101"));
        assert!(!r.named_mode());
        r.pickup_groups = NameList::parse("p", "sales").unwrap();
        assert!(r.named_mode());
    }

    #[test]
    fn forwarding_to_self_is_rejected() {
        let mut r = ExtensionRecord::new(ext("101"));
        r.forwarding.on_busy = Some(ForwardTarget::Extension(ext("101")));
        assert_eq!(r.validate().unwrap_err().field, "forwarding.on_busy");
    }
}
