//! The directory's records: tenant config, extension, call group, park policy.
//!
//! Proto → model applies the documented defaults, then the model's own
//! `validate`, and reports every error under the request field that carried
//! the record (`config`, `extension`, `group`, `policy`).

use callgrid_model::{
    CallGroup, CallGroupMember, CallGroupRouting, Extension, ExtensionRecord, FeatureCodes,
    ForwardTarget, Forwarding, LegacyGroupId, NameList, ParkCode, ParkPolicy, PickupSelection,
    PolicyName, RingOrder, TenantConfig, ValidationError,
};

use super::enums::alert_mode;
use super::{defaults, enum_field, in_field, optional_policy};
use crate::v1;

fn or_default<T: PartialEq + Default>(value: T, default: T) -> T {
    if value == T::default() {
        default
    } else {
        value
    }
}

fn code_or_default(raw: &str, default: String) -> String {
    if raw.is_empty() {
        default
    } else {
        raw.to_owned()
    }
}

// ---- tenant config ----------------------------------------------------------

/// The `config` of a PutTenant request; absent means every default.
pub fn tenant_config(raw: Option<&v1::TenantConfig>) -> Result<TenantConfig, ValidationError> {
    let base = TenantConfig::default();
    let Some(raw) = raw else {
        return Ok(base);
    };
    let codes = raw.feature_codes.clone().unwrap_or_default();
    let default_codes = base.feature_codes;
    let selection = match enum_field("config.pickup_selection", raw.pickup_selection)? {
        v1::PickupSelection::Unspecified | v1::PickupSelection::Oldest => PickupSelection::Oldest,
        v1::PickupSelection::Random => PickupSelection::Random,
    };
    let config = TenantConfig {
        max_call_groups: or_default(raw.max_call_groups, base.max_call_groups),
        max_call_group_members: or_default(raw.max_call_group_members, base.max_call_group_members),
        feature_codes: FeatureCodes {
            directed_pickup: code_or_default(&codes.directed_pickup, default_codes.directed_pickup),
            group_pickup: code_or_default(&codes.group_pickup, default_codes.group_pickup),
            named_pickup: code_or_default(&codes.named_pickup, default_codes.named_pickup),
            retrieve: code_or_default(&codes.retrieve, default_codes.retrieve),
            park: code_or_default(&codes.park, default_codes.park),
        },
        pickup_selection: selection,
        ring_timeout_secs: or_default(raw.ring_timeout_secs, base.ring_timeout_secs),
    };
    config.validate().map_err(|e| in_field("config", e))?;
    Ok(config)
}

impl From<&TenantConfig> for v1::TenantConfig {
    fn from(c: &TenantConfig) -> Self {
        v1::TenantConfig {
            max_call_groups: c.max_call_groups,
            max_call_group_members: c.max_call_group_members,
            feature_codes: Some(v1::FeatureCodes {
                directed_pickup: c.feature_codes.directed_pickup.clone(),
                group_pickup: c.feature_codes.group_pickup.clone(),
                named_pickup: c.feature_codes.named_pickup.clone(),
                retrieve: c.feature_codes.retrieve.clone(),
                park: c.feature_codes.park.clone(),
            }),
            pickup_selection: match c.pickup_selection {
                PickupSelection::Oldest => v1::PickupSelection::Oldest,
                PickupSelection::Random => v1::PickupSelection::Random,
            } as i32,
            ring_timeout_secs: c.ring_timeout_secs,
        }
    }
}

// ---- extension --------------------------------------------------------------

fn forward_target(
    field: &str,
    raw: Option<&v1::ForwardTarget>,
) -> Result<Option<ForwardTarget>, ValidationError> {
    match raw.and_then(|t| t.target.as_ref()) {
        None => Ok(None),
        Some(v1::forward_target::Target::Extension(e)) => {
            Extension::parse(&format!("{field}.extension"), e)
                .map(|e| Some(ForwardTarget::Extension(e)))
        }
        Some(v1::forward_target::Target::OwnCallGroup(true)) => Ok(Some(ForwardTarget::CallGroup)),
        Some(v1::forward_target::Target::OwnCallGroup(false)) => Err(ValidationError::new(
            format!("{field}.own_call_group"),
            "must be true when set; leave the target unset for no forwarding",
        )),
    }
}

fn forward_target_from(t: &ForwardTarget) -> v1::ForwardTarget {
    let target = match t {
        ForwardTarget::Extension(e) => v1::forward_target::Target::Extension(e.to_string()),
        ForwardTarget::CallGroup => v1::forward_target::Target::OwnCallGroup(true),
    };
    v1::ForwardTarget {
        target: Some(target),
    }
}

fn forwarding(raw: Option<&v1::Forwarding>) -> Result<Forwarding, ValidationError> {
    let Some(raw) = raw else {
        return Ok(Forwarding::default());
    };
    let f = "extension.forwarding";
    let on_no_answer = forward_target(&format!("{f}.on_no_answer"), raw.on_no_answer.as_ref())?;
    if on_no_answer.is_none() && raw.on_no_answer_after_secs != 0 {
        return Err(ValidationError::new(
            format!("{f}.on_no_answer_after_secs"),
            "must be 0 unless on_no_answer is set",
        ));
    }
    let after = or_default(raw.on_no_answer_after_secs, defaults::NO_ANSWER_SECS);
    if !Forwarding::NO_ANSWER_SECS.contains(&after) {
        let range = Forwarding::NO_ANSWER_SECS;
        return Err(ValidationError::new(
            format!("{f}.on_no_answer_after_secs"),
            format!("must be between {} and {}", range.start(), range.end()),
        ));
    }
    Ok(Forwarding {
        unconditional: forward_target(&format!("{f}.unconditional"), raw.unconditional.as_ref())?,
        on_busy: forward_target(&format!("{f}.on_busy"), raw.on_busy.as_ref())?,
        on_no_answer: on_no_answer.map(|t| (t, after)),
    })
}

/// The `extension` of a PutExtension request, with absent flags defaulted
/// (voice-enabled, pickup allowed, online). Without a SIP secret: its
/// realm is the request's tenant, so [`super::put_extension`] adds it.
pub fn extension_record(raw: Option<&v1::Extension>) -> Result<ExtensionRecord, ValidationError> {
    let Some(raw) = raw else {
        return Err(ValidationError::new(
            "extension",
            "an extension is required",
        ));
    };
    // Counted before any entry is parsed.
    let groups = raw.legacy_pickup_groups.len();
    if groups > ExtensionRecord::MAX_LEGACY_PICKUP_GROUPS {
        return Err(ValidationError::new(
            "extension.legacy_pickup_groups",
            format!(
                "at most {} entries per request, got {groups}",
                ExtensionRecord::MAX_LEGACY_PICKUP_GROUPS
            ),
        ));
    }
    let legacy_pickup_groups = raw
        .legacy_pickup_groups
        .iter()
        .enumerate()
        .map(|(i, g)| LegacyGroupId::parse(&format!("extension.legacy_pickup_groups[{i}]"), g))
        .collect::<Result<Vec<_>, _>>()?;
    let record = ExtensionRecord {
        number: Extension::parse("extension.number", &raw.number)?,
        display_name: raw.display_name.clone(),
        voice_enabled: raw.voice_enabled.unwrap_or(true),
        directed_pickup_allowed: raw.directed_pickup_allowed.unwrap_or(true),
        group_pickup_allowed: raw.group_pickup_allowed.unwrap_or(true),
        park_policy: optional_policy("extension.park_policy", &raw.park_policy)?,
        forwarding: forwarding(raw.forwarding.as_ref())?,
        legacy_pickup_groups,
        call_groups: NameList::parse("extension.call_groups", &raw.call_groups)?,
        pickup_groups: NameList::parse("extension.pickup_groups", &raw.pickup_groups)?,
        online: raw.online.unwrap_or(true),
        sip_ha1: None,
    };
    record.validate().map_err(|e| in_field("extension", e))?;
    Ok(record)
}

impl From<&ExtensionRecord> for v1::Extension {
    fn from(r: &ExtensionRecord) -> Self {
        let fw = &r.forwarding;
        let forwarding = (fw != &Forwarding::default()).then(|| v1::Forwarding {
            unconditional: fw.unconditional.as_ref().map(forward_target_from),
            on_busy: fw.on_busy.as_ref().map(forward_target_from),
            on_no_answer: fw
                .on_no_answer
                .as_ref()
                .map(|(t, _)| forward_target_from(t)),
            on_no_answer_after_secs: fw.on_no_answer.as_ref().map_or(0, |(_, s)| *s),
        });
        v1::Extension {
            number: r.number.to_string(),
            display_name: r.display_name.clone(),
            voice_enabled: Some(r.voice_enabled),
            directed_pickup_allowed: Some(r.directed_pickup_allowed),
            group_pickup_allowed: Some(r.group_pickup_allowed),
            park_policy: r
                .park_policy
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            forwarding,
            legacy_pickup_groups: r
                .legacy_pickup_groups
                .iter()
                .map(|g| g.to_string())
                .collect(),
            call_groups: r.call_groups.to_string(),
            pickup_groups: r.pickup_groups.to_string(),
            online: Some(r.online),
            // Write-only: no read ever returns the secret.
            sip_password: None,
        }
    }
}

// ---- call group -------------------------------------------------------------

/// The `group` of a PutCallGroup request, checked against every rule that
/// needs only the group itself, with the largest member count any tenant
/// may allow. The node still checks the tenant's own member limit with
/// [`CallGroup::validate`]
/// and that the owner and members exist and are voice-enabled.
/// Report its errors with [`call_group_error`].
pub fn call_group(raw: Option<&v1::CallGroup>) -> Result<CallGroup, ValidationError> {
    let Some(raw) = raw else {
        return Err(ValidationError::new("group", "a call group is required"));
    };
    let members = raw
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Ok(CallGroupMember {
                extension: Extension::parse(
                    &format!("group.members[{i}].extension"),
                    &m.extension,
                )?,
                alert: alert_mode(&format!("group.members[{i}].alert"), m.alert)?,
                delay_secs: m.delay_secs,
            })
        })
        .collect::<Result<Vec<_>, ValidationError>>()?;
    let routing = match enum_field("group.routing", raw.routing)? {
        v1::CallGroupRouting::ForwardInOrder => CallGroupRouting::Forward(RingOrder::InOrder {
            ring_secs: or_default(raw.ring_secs, defaults::IN_ORDER_RING_SECS),
        }),
        _ if raw.ring_secs != 0 => {
            return Err(ValidationError::new(
                "group.ring_secs",
                "applies only to FORWARD_IN_ORDER routing; leave it 0",
            ));
        }
        v1::CallGroupRouting::Unspecified | v1::CallGroupRouting::Simultaneous => {
            CallGroupRouting::Simultaneous
        }
        v1::CallGroupRouting::ForwardAllAtOnce => CallGroupRouting::Forward(RingOrder::AllAtOnce),
    };
    let group = CallGroup {
        owner: Extension::parse("group.owner", &raw.owner)?,
        members,
        routing,
    };
    group
        .validate(CallGroup::MAX_MEMBERS as u32)
        .map_err(call_group_error)?;
    Ok(group)
}

/// Reports an error of [`CallGroup::validate`] under the PutCallGroup
/// request's field path (`group.members[1]`, `group.ring_secs`).
pub fn call_group_error(err: ValidationError) -> ValidationError {
    // The model nests the in-order ring time under `routing`; the API
    // carries it flat beside the routing enum.
    let err = if err.field == "routing.ring_secs" {
        err.in_field("ring_secs")
    } else {
        err
    };
    in_field("group", err)
}

impl From<&CallGroup> for v1::CallGroup {
    fn from(g: &CallGroup) -> Self {
        let (routing, ring_secs) = match g.routing {
            CallGroupRouting::Simultaneous => (v1::CallGroupRouting::Simultaneous, 0),
            CallGroupRouting::Forward(RingOrder::AllAtOnce) => {
                (v1::CallGroupRouting::ForwardAllAtOnce, 0)
            }
            CallGroupRouting::Forward(RingOrder::InOrder { ring_secs }) => {
                (v1::CallGroupRouting::ForwardInOrder, ring_secs)
            }
        };
        v1::CallGroup {
            owner: g.owner.to_string(),
            members: g
                .members
                .iter()
                .map(|m| v1::CallGroupMember {
                    extension: m.extension.to_string(),
                    alert: v1::AlertMode::from(m.alert) as i32,
                    delay_secs: m.delay_secs,
                })
                .collect(),
            routing: routing as i32,
            ring_secs,
        }
    }
}

// ---- park policy ------------------------------------------------------------

/// The `policy` of a PutParkPolicy request, zero fields defaulted
/// (codes 10–99, ring-back after 300 s, parking allowed).
pub fn park_policy(raw: Option<&v1::ParkPolicy>) -> Result<ParkPolicy, ValidationError> {
    let Some(raw) = raw else {
        return Err(ValidationError::new("policy", "a park policy is required"));
    };
    let policy = ParkPolicy {
        name: PolicyName::parse("policy.name", &raw.name)?,
        allow_parking: raw.allow_parking.unwrap_or(true),
        code_start: ParkCode::new(
            "policy.code_start",
            or_default(raw.code_start, defaults::PARK_CODE_START),
        )?,
        code_end: ParkCode::new(
            "policy.code_end",
            or_default(raw.code_end, defaults::PARK_CODE_END),
        )?,
        timeout_secs: or_default(raw.timeout_secs, defaults::PARK_TIMEOUT_SECS),
    };
    policy.validate().map_err(|e| in_field("policy", e))?;
    Ok(policy)
}

impl From<&ParkPolicy> for v1::ParkPolicy {
    fn from(p: &ParkPolicy) -> Self {
        v1::ParkPolicy {
            name: p.name.to_string(),
            allow_parking: Some(p.allow_parking),
            code_start: u32::from(p.code_start.get()),
            code_end: u32::from(p.code_end.get()),
            timeout_secs: p.timeout_secs,
        }
    }
}

#[cfg(test)]
#[path = "directory_tests.rs"]
mod tests;
