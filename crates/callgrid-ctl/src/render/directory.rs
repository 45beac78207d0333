//! Tenants, extensions, call groups and park policies.

use callgrid_proto::v1;
use serde_json::{Value, json};

use super::{label, lines, opt_str, words};
use crate::output::Render;

impl Render for v1::TenantConfig {
    fn text(&self) -> String {
        let codes = self.feature_codes.clone().unwrap_or_default();
        format!(
            "max {} call groups of {} members; codes: directed {} group {} named {} retrieve {} park {}; \
             group pickup takes {}; ring timeout {}s",
            self.max_call_groups,
            self.max_call_group_members,
            codes.directed_pickup,
            codes.group_pickup,
            codes.named_pickup,
            codes.retrieve,
            codes.park,
            words::<v1::PickupSelection>(self.pickup_selection),
            self.ring_timeout_secs,
        )
    }

    fn json(&self) -> Value {
        let codes = self.feature_codes.clone().unwrap_or_default();
        json!({
            "max_call_groups": self.max_call_groups,
            "max_call_group_members": self.max_call_group_members,
            "feature_codes": {
                "directed_pickup": codes.directed_pickup,
                "group_pickup": codes.group_pickup,
                "named_pickup": codes.named_pickup,
                "retrieve": codes.retrieve,
                "park": codes.park,
            },
            "pickup_selection": label::<v1::PickupSelection>(self.pickup_selection),
            "ring_timeout_secs": self.ring_timeout_secs,
        })
    }
}

impl Render for v1::Tenant {
    fn text(&self) -> String {
        let config = self.config.clone().unwrap_or_default();
        format!("{}: {}", self.tenant, config.text())
    }

    fn json(&self) -> Value {
        json!({
            "tenant": self.tenant,
            "config": self.config.as_ref().map(Render::json),
        })
    }
}

impl Render for v1::ListTenantsResponse {
    fn text(&self) -> String {
        lines(&self.tenants, "no tenants", Render::text)
    }

    fn json(&self) -> Value {
        json!({ "tenants": self.tenants.iter().map(Render::json).collect::<Vec<_>>() })
    }
}

fn target_text(t: Option<&v1::ForwardTarget>) -> Option<String> {
    match t?.target.as_ref()? {
        v1::forward_target::Target::Extension(e) => Some(e.clone()),
        v1::forward_target::Target::OwnCallGroup(_) => Some("own call group".into()),
    }
}

fn target_json(t: Option<&v1::ForwardTarget>) -> Value {
    match t.and_then(|t| t.target.as_ref()) {
        Some(v1::forward_target::Target::Extension(e)) => json!({ "extension": e }),
        Some(v1::forward_target::Target::OwnCallGroup(b)) => json!({ "own_call_group": b }),
        None => Value::Null,
    }
}

impl Render for v1::Extension {
    fn text(&self) -> String {
        let mut parts = Vec::new();
        let flag = |on: Option<bool>, yes: &str, no: &str| {
            if on.unwrap_or(true) {
                yes.to_owned()
            } else {
                no.to_owned()
            }
        };
        parts.push(flag(self.online, "online", "offline"));
        parts.push(flag(self.voice_enabled, "voice", "no voice"));
        parts.push(flag(
            self.directed_pickup_allowed,
            "directed pickup",
            "no directed pickup",
        ));
        parts.push(flag(
            self.group_pickup_allowed,
            "group pickup",
            "no group pickup",
        ));
        if !self.park_policy.is_empty() {
            parts.push(format!("park policy {}", self.park_policy));
        }
        if !self.call_groups.is_empty() {
            parts.push(format!("call groups {}", self.call_groups));
        }
        if !self.pickup_groups.is_empty() {
            parts.push(format!("pickup groups {}", self.pickup_groups));
        }
        if !self.legacy_pickup_groups.is_empty() {
            parts.push(format!(
                "legacy groups {}",
                self.legacy_pickup_groups.join(",")
            ));
        }
        if let Some(f) = &self.forwarding {
            if let Some(t) = target_text(f.unconditional.as_ref()) {
                parts.push(format!("forward always to {t}"));
            }
            if let Some(t) = target_text(f.on_busy.as_ref()) {
                parts.push(format!("forward busy to {t}"));
            }
            if let Some(t) = target_text(f.on_no_answer.as_ref()) {
                parts.push(format!(
                    "forward no answer to {t} after {}s",
                    f.on_no_answer_after_secs
                ));
            }
        }
        let name = if self.display_name.is_empty() {
            String::new()
        } else {
            format!(" \"{}\"", self.display_name)
        };
        format!("{}{name}: {}", self.number, parts.join(", "))
    }

    fn json(&self) -> Value {
        let forwarding = self.forwarding.clone().unwrap_or_default();
        json!({
            "number": self.number,
            "display_name": self.display_name,
            "voice_enabled": self.voice_enabled.unwrap_or(true),
            "directed_pickup_allowed": self.directed_pickup_allowed.unwrap_or(true),
            "group_pickup_allowed": self.group_pickup_allowed.unwrap_or(true),
            "park_policy": opt_str(&self.park_policy),
            "forwarding": {
                "unconditional": target_json(forwarding.unconditional.as_ref()),
                "on_busy": target_json(forwarding.on_busy.as_ref()),
                "on_no_answer": target_json(forwarding.on_no_answer.as_ref()),
                "on_no_answer_after_secs": forwarding.on_no_answer_after_secs,
            },
            "legacy_pickup_groups": self.legacy_pickup_groups,
            "call_groups": self.call_groups,
            "pickup_groups": self.pickup_groups,
            "online": self.online.unwrap_or(true),
        })
    }
}

impl Render for v1::ListExtensionsResponse {
    fn text(&self) -> String {
        lines(&self.extensions, "no extensions", Render::text)
    }

    fn json(&self) -> Value {
        json!({ "extensions": self.extensions.iter().map(Render::json).collect::<Vec<_>>() })
    }
}

impl Render for v1::CallGroup {
    fn text(&self) -> String {
        let routing = match v1::CallGroupRouting::try_from(self.routing) {
            Ok(v1::CallGroupRouting::ForwardInOrder) => {
                format!("forward in order, {}s each", self.ring_secs)
            }
            _ => words::<v1::CallGroupRouting>(self.routing),
        };
        let members: Vec<String> = self
            .members
            .iter()
            .map(|m| {
                let delay = if m.delay_secs == 0 {
                    String::new()
                } else {
                    format!(" after {}s", m.delay_secs)
                };
                format!(
                    "{} ({}{delay})",
                    m.extension,
                    words::<v1::AlertMode>(m.alert)
                )
            })
            .collect();
        let members = if members.is_empty() {
            "no members".to_owned()
        } else {
            members.join(", ")
        };
        format!("call group of {}, {routing}: {members}", self.owner)
    }

    fn json(&self) -> Value {
        json!({
            "owner": self.owner,
            "members": self.members.iter().map(|m| json!({
                "extension": m.extension,
                "alert": label::<v1::AlertMode>(m.alert),
                "delay_secs": m.delay_secs,
            })).collect::<Vec<_>>(),
            "routing": label::<v1::CallGroupRouting>(self.routing),
            "ring_secs": self.ring_secs,
        })
    }
}

impl Render for v1::ParkPolicy {
    fn text(&self) -> String {
        let parking = if self.allow_parking.unwrap_or(true) {
            "parking allowed"
        } else {
            "retrieve only"
        };
        format!(
            "{}: codes {}-{}, ring-back after {}s, {parking}",
            self.name, self.code_start, self.code_end, self.timeout_secs
        )
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "allow_parking": self.allow_parking.unwrap_or(true),
            "code_start": self.code_start,
            "code_end": self.code_end,
            "timeout_secs": self.timeout_secs,
        })
    }
}

impl Render for v1::ListParkPoliciesResponse {
    fn text(&self) -> String {
        lines(&self.policies, "no park policies", Render::text)
    }

    fn json(&self) -> Value {
        json!({ "policies": self.policies.iter().map(Render::json).collect::<Vec<_>>() })
    }
}
