//! Directory writes: checked against the rest of the directory, then stored.
//!
//! Every check happens before the first change, so a refused write changes
//! nothing (invariant 4).

use crate::{
    CallGroup, Command, DirectoryError, Event, Extension, ExtensionRecord, ForwardTarget,
    ParkPolicy, TenantId,
};

use super::{Switchboard, Tenant};

fn not_found(field: &str, number: &Extension) -> DirectoryError {
    DirectoryError::ExtensionNotFound {
        field: field.to_owned(),
        number: number.to_string(),
    }
}

fn check_record(tenant: &Tenant, record: &ExtensionRecord) -> Result<(), DirectoryError> {
    record.validate()?;
    let f = &record.forwarding;
    let targets = [
        ("forwarding.unconditional", f.unconditional.as_ref()),
        ("forwarding.on_busy", f.on_busy.as_ref()),
        (
            "forwarding.on_no_answer",
            f.on_no_answer.as_ref().map(|(t, _)| t),
        ),
    ];
    for (field, target) in targets {
        if let Some(ForwardTarget::Extension(e)) = target
            && !tenant.extensions.contains_key(e)
        {
            return Err(not_found(field, e));
        }
    }
    if let Some(policy) = &record.park_policy
        && !tenant.park_policies.contains_key(policy)
    {
        return Err(DirectoryError::PolicyNotFound {
            field: "park_policy".into(),
            name: policy.to_string(),
        });
    }
    if !record.voice_enabled {
        let in_group = tenant.call_groups.values().any(|g| {
            g.owner == record.number || g.members.iter().any(|m| m.extension == record.number)
        });
        if in_group {
            return Err(DirectoryError::NotVoiceEnabled {
                field: "voice_enabled".into(),
                number: record.number.to_string(),
            });
        }
    }
    Ok(())
}

fn check_call_group(tenant: &Tenant, group: &CallGroup) -> Result<(), DirectoryError> {
    group.validate(tenant.config.max_call_group_members)?;
    let people = std::iter::once(("owner".to_string(), &group.owner)).chain(
        group
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("members[{i}].extension"), &m.extension)),
    );
    for (field, ext) in people {
        match tenant.extensions.get(ext) {
            None => return Err(not_found(&field, ext)),
            Some(r) if !r.voice_enabled => {
                return Err(DirectoryError::NotVoiceEnabled {
                    field,
                    number: ext.to_string(),
                });
            }
            Some(_) => {}
        }
    }
    let limit = tenant.config.max_call_groups;
    if !tenant.call_groups.contains_key(&group.owner) && tenant.call_groups.len() as u32 >= limit {
        return Err(DirectoryError::CallGroupLimit { limit });
    }
    Ok(())
}

fn check_policy_delete(tenant: &Tenant, name: &crate::PolicyName) -> Result<(), DirectoryError> {
    if !tenant.park_policies.contains_key(name) {
        return Err(DirectoryError::PolicyNotFound {
            field: "name".into(),
            name: name.to_string(),
        });
    }
    if let Some(holder) = tenant
        .extensions
        .values()
        .find(|r| r.park_policy.as_ref() == Some(name))
    {
        return Err(DirectoryError::InUse(format!(
            "park policy {name} is granted to extension {}",
            holder.number
        )));
    }
    Ok(())
}

impl Switchboard {
    fn tenant_mut(&mut self, id: &TenantId) -> Result<&mut Tenant, DirectoryError> {
        self.tenants
            .get_mut(id)
            .ok_or_else(|| DirectoryError::TenantNotFound(id.to_string()))
    }

    pub(super) fn apply_directory(
        &mut self,
        cmd: &Command,
        events: &mut Vec<Event>,
    ) -> Result<(), DirectoryError> {
        match cmd {
            Command::PutTenant { tenant, config } => {
                config.validate()?;
                self.tenants.entry(tenant.clone()).or_default().config = config.clone();
            }
            Command::DeleteTenant { tenant } => {
                let t = self.tenant_mut(tenant)?;
                if !t.active.is_empty() || !t.parked.is_empty() {
                    return Err(DirectoryError::InUse(format!(
                        "tenant {tenant} has live calls"
                    )));
                }
                // Everything the tenant held goes with it: its directory,
                // parks and their history, SIP bindings (all inside
                // `Tenant`), and its ended calls, so that a tenant created
                // again under the same name starts empty.
                self.tenants.remove(tenant);
                self.forget_calls_of(tenant);
            }
            Command::PutExtension {
                tenant,
                record,
                keep_sip_secret,
            } => {
                let t = self.tenant_mut(tenant)?;
                check_record(t, record)?;
                let mut record = record.clone();
                if *keep_sip_secret {
                    record.sip_ha1 = t
                        .extensions
                        .get(&record.number)
                        .and_then(|r| r.sip_ha1.clone());
                }
                let number = record.number.clone();
                t.extensions.insert(number.clone(), record);
                self.refresh_lamp(tenant, &number, 0, events);
            }
            Command::DeleteExtension { tenant, number } => {
                let t = self.tenant_mut(tenant)?;
                if !t.extensions.contains_key(number) {
                    return Err(not_found("number", number));
                }
                if t.active.contains_key(number) {
                    return Err(DirectoryError::InUse(format!(
                        "extension {number} is in a call"
                    )));
                }
                if let Some(g) = t
                    .call_groups
                    .values()
                    .find(|g| g.members.iter().any(|m| &m.extension == number))
                {
                    return Err(DirectoryError::InUse(format!(
                        "extension {number} is a member of the call group of {}",
                        g.owner
                    )));
                }
                if let Some(r) = t.extensions.values().find(|r| {
                    let f = &r.forwarding;
                    [
                        f.unconditional.as_ref(),
                        f.on_busy.as_ref(),
                        f.on_no_answer.as_ref().map(|(t, _)| t),
                    ]
                    .into_iter()
                    .any(|t| t == Some(&ForwardTarget::Extension(number.clone())))
                }) {
                    return Err(DirectoryError::InUse(format!(
                        "extension {} forwards to {number}",
                        r.number
                    )));
                }
                t.extensions.remove(number);
                t.call_groups.remove(number);
                t.lamps.remove(number);
                t.registrations.remove(number);
            }
            Command::SetOnline {
                tenant,
                number,
                online,
            } => {
                let t = self.tenant_mut(tenant)?;
                let rec = t
                    .extensions
                    .get_mut(number)
                    .ok_or_else(|| not_found("number", number))?;
                rec.online = *online;
                self.refresh_lamp(tenant, number, 0, events);
            }
            Command::PutCallGroup { tenant, group } => {
                let t = self.tenant_mut(tenant)?;
                check_call_group(t, group)?;
                t.call_groups.insert(group.owner.clone(), group.clone());
            }
            Command::DeleteCallGroup { tenant, owner } => {
                let t = self.tenant_mut(tenant)?;
                t.call_groups
                    .remove(owner)
                    .ok_or_else(|| DirectoryError::CallGroupNotFound(owner.to_string()))?;
            }
            Command::PutParkPolicy { tenant, policy } => {
                policy.validate()?;
                let t = self.tenant_mut(tenant)?;
                t.park_policies
                    .insert(policy.name.clone(), ParkPolicy::clone(policy));
            }
            Command::DeleteParkPolicy { tenant, name } => {
                let t = self.tenant_mut(tenant)?;
                check_policy_delete(t, name)?;
                t.park_policies.remove(name);
            }
            Command::GrantParkPolicy {
                tenant,
                number,
                policy,
            } => {
                let t = self.tenant_mut(tenant)?;
                if let Some(p) = policy
                    && !t.park_policies.contains_key(p)
                {
                    return Err(DirectoryError::PolicyNotFound {
                        field: "policy".into(),
                        name: p.to_string(),
                    });
                }
                let rec = t
                    .extensions
                    .get_mut(number)
                    .ok_or_else(|| not_found("number", number))?;
                rec.park_policy = policy.clone();
            }
            _ => unreachable!("apply routes only directory commands here"),
        }
        Ok(())
    }
}
