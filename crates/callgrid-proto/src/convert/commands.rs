//! Requests → the model's [`Command`]s.
//!
//! Each function validates one request and builds the command the node
//! proposes. The proposer's clock (`now_ms`) and randomness are arguments,
//! because the model must never read them itself. Rules that need the rest
//! of the directory (does the member exist? the tenant's member limit?)
//! are the node's and the model's, not these functions'.

use callgrid_model::{CallId, Command, Extension, GroupName, PickupKind, ValidationError};

use super::{
    call_group, extension, extension_record, optional_policy, park_code, park_policy, party,
    sip_secret, tenant, tenant_config,
};
use crate::v1;

/// `Directory.PutTenant`.
pub fn put_tenant(r: &v1::PutTenantRequest) -> Result<Command, ValidationError> {
    Ok(Command::PutTenant {
        tenant: tenant(&r.tenant)?,
        config: tenant_config(r.config.as_ref())?,
    })
}

/// `Directory.DeleteTenant`.
pub fn delete_tenant(r: &v1::DeleteTenantRequest) -> Result<Command, ValidationError> {
    Ok(Command::DeleteTenant {
        tenant: tenant(&r.tenant)?,
    })
}

/// `Directory.PutExtension`. An absent `sip_password` keeps the stored
/// secret; the realm of its HA1 is the tenant.
pub fn put_extension(r: &v1::PutExtensionRequest) -> Result<Command, ValidationError> {
    let tenant = tenant(&r.tenant)?;
    let mut record = extension_record(r.extension.as_ref())?;
    let password = r.extension.as_ref().and_then(|e| e.sip_password.as_deref());
    record.sip_ha1 = sip_secret(&tenant, &record.number, password)?;
    Ok(Command::PutExtension {
        tenant,
        record,
        keep_sip_secret: password.is_none(),
    })
}

/// `Directory.DeleteExtension`.
pub fn delete_extension(r: &v1::DeleteExtensionRequest) -> Result<Command, ValidationError> {
    Ok(Command::DeleteExtension {
        tenant: tenant(&r.tenant)?,
        number: extension("number", &r.number)?,
    })
}

/// `Directory.SetOnline`.
pub fn set_online(r: &v1::SetOnlineRequest) -> Result<Command, ValidationError> {
    Ok(Command::SetOnline {
        tenant: tenant(&r.tenant)?,
        number: extension("number", &r.number)?,
        online: r.online,
    })
}

/// `Directory.PutCallGroup`. The tenant's member limit is checked on apply.
pub fn put_call_group(r: &v1::PutCallGroupRequest) -> Result<Command, ValidationError> {
    Ok(Command::PutCallGroup {
        tenant: tenant(&r.tenant)?,
        group: call_group(r.group.as_ref())?,
    })
}

/// `Directory.DeleteCallGroup`.
pub fn delete_call_group(r: &v1::DeleteCallGroupRequest) -> Result<Command, ValidationError> {
    Ok(Command::DeleteCallGroup {
        tenant: tenant(&r.tenant)?,
        owner: extension("owner", &r.owner)?,
    })
}

/// `Directory.PutParkPolicy`.
pub fn put_park_policy(r: &v1::PutParkPolicyRequest) -> Result<Command, ValidationError> {
    Ok(Command::PutParkPolicy {
        tenant: tenant(&r.tenant)?,
        policy: park_policy(r.policy.as_ref())?,
    })
}

/// `Directory.DeleteParkPolicy`.
pub fn delete_park_policy(r: &v1::DeleteParkPolicyRequest) -> Result<Command, ValidationError> {
    let name = optional_policy("name", &r.name)?
        .ok_or_else(|| ValidationError::new("name", "park policy name must not be empty"))?;
    Ok(Command::DeleteParkPolicy {
        tenant: tenant(&r.tenant)?,
        name,
    })
}

/// `Directory.GrantParkPolicy`; an empty `policy` revokes.
pub fn grant_park_policy(r: &v1::GrantParkPolicyRequest) -> Result<Command, ValidationError> {
    Ok(Command::GrantParkPolicy {
        tenant: tenant(&r.tenant)?,
        number: extension("number", &r.number)?,
        policy: optional_policy("policy", &r.policy)?,
    })
}

/// `Calls.Dial`. The digits are parsed on apply, against the tenant's own
/// feature codes.
pub fn dial(r: &v1::DialRequest, now_ms: u64, random: u64) -> Result<Command, ValidationError> {
    if r.digits.is_empty() {
        return Err(ValidationError::new("digits", "must not be empty"));
    }
    Ok(Command::Dial {
        tenant: tenant(&r.tenant)?,
        from: party("from", r.from.as_ref())?,
        digits: r.digits.clone(),
        now_ms,
        random,
    })
}

/// `Calls.Answer`.
pub fn answer(r: &v1::AnswerRequest, now_ms: u64) -> Result<Command, ValidationError> {
    let tenant = tenant(&r.tenant)?;
    Ok(Command::Answer {
        call: CallId::in_tenant(&tenant, r.call_id),
        tenant,
        by: extension("by", &r.by)?,
        now_ms,
    })
}

/// `Calls.Hangup`.
pub fn hangup(r: &v1::HangupRequest, now_ms: u64) -> Result<Command, ValidationError> {
    let tenant = tenant(&r.tenant)?;
    Ok(Command::Hangup {
        call: CallId::in_tenant(&tenant, r.call_id),
        tenant,
        by: party("by", r.by.as_ref())?,
        now_ms,
    })
}

fn pickup(
    tenant_raw: &str,
    picker: &str,
    kind: PickupKind,
    now_ms: u64,
    random: u64,
) -> Result<Command, ValidationError> {
    Ok(Command::Pickup {
        tenant: tenant(tenant_raw)?,
        picker: extension("picker", picker)?,
        kind,
        now_ms,
        random,
    })
}

/// `Pickup.DirectedPickup`. A target that is no extension number is not an
/// error: like a dialled `*97abc`, it picks up nothing and the outcome is
/// `INVALID_EXTENSION`.
pub fn directed_pickup(
    r: &v1::DirectedPickupRequest,
    now_ms: u64,
    random: u64,
) -> Result<Command, ValidationError> {
    let target = Extension::parse("target", &r.target).ok();
    pickup(
        &r.tenant,
        &r.picker,
        PickupKind::Directed(target),
        now_ms,
        random,
    )
}

/// `Pickup.GroupPickup`.
pub fn group_pickup(
    r: &v1::GroupPickupRequest,
    now_ms: u64,
    random: u64,
) -> Result<Command, ValidationError> {
    pickup(&r.tenant, &r.picker, PickupKind::Group, now_ms, random)
}

/// `Pickup.NamedPickup`.
pub fn named_pickup(
    r: &v1::NamedPickupRequest,
    now_ms: u64,
    random: u64,
) -> Result<Command, ValidationError> {
    let name = GroupName::parse("group_name", &r.group_name)?;
    pickup(
        &r.tenant,
        &r.picker,
        PickupKind::Named(name),
        now_ms,
        random,
    )
}

/// `Pickup.BlfPickup`.
pub fn blf_pickup(
    r: &v1::BlfPickupRequest,
    now_ms: u64,
    random: u64,
) -> Result<Command, ValidationError> {
    let in_tenant = tenant(&r.tenant)?;
    let kind = PickupKind::Blf {
        target: extension("target", &r.target)?,
        call: r.call_id.map(|n| CallId::in_tenant(&in_tenant, n)),
    };
    pickup(&r.tenant, &r.picker, kind, now_ms, random)
}

/// `Park.Park`.
pub fn park(r: &v1::ParkRequest, now_ms: u64) -> Result<Command, ValidationError> {
    let tenant = tenant(&r.tenant)?;
    Ok(Command::Park {
        call: CallId::in_tenant(&tenant, r.call_id),
        tenant,
        by: extension("by", &r.by)?,
        code: r.code.map(|c| park_code("code", c)).transpose()?,
        now_ms,
    })
}

/// `Park.Retrieve`.
pub fn retrieve(r: &v1::RetrieveRequest, now_ms: u64) -> Result<Command, ValidationError> {
    Ok(Command::Retrieve {
        tenant: tenant(&r.tenant)?,
        by: extension("by", &r.by)?,
        code: park_code("code", r.code)?,
        now_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_checks_its_tenant() {
        let err = put_tenant(&v1::PutTenantRequest {
            tenant: "acme corp".into(),
            config: None,
        })
        .unwrap_err();
        assert_eq!(err.field, "tenant");
        let err = group_pickup(
            &v1::GroupPickupRequest {
                tenant: String::new(),
                picker: "101".into(),
            },
            0,
            0,
        )
        .unwrap_err();
        assert_eq!(err.field, "tenant");
    }

    #[test]
    fn bare_put_tenant_is_a_command_with_defaults() {
        let cmd = put_tenant(&v1::PutTenantRequest {
            tenant: "acme".into(),
            config: None,
        })
        .unwrap();
        assert!(matches!(cmd, Command::PutTenant { config, .. } if config == Default::default()));
    }

    #[test]
    fn directed_pickup_of_a_non_number_is_an_invalid_extension_not_an_error() {
        let cmd = directed_pickup(
            &v1::DirectedPickupRequest {
                tenant: "acme".into(),
                picker: "101".into(),
                target: "abc".into(),
            },
            5,
            9,
        )
        .unwrap();
        assert!(matches!(
            cmd,
            Command::Pickup {
                kind: PickupKind::Directed(None),
                now_ms: 5,
                random: 9,
                ..
            }
        ));
    }

    #[test]
    fn request_field_errors_are_named() {
        let picker = named_pickup(
            &v1::NamedPickupRequest {
                tenant: "acme".into(),
                picker: "10x".into(),
                group_name: "sales".into(),
            },
            0,
            0,
        );
        assert_eq!(picker.unwrap_err().field, "picker");
        let name = named_pickup(
            &v1::NamedPickupRequest {
                tenant: "acme".into(),
                picker: "101".into(),
                group_name: "123".into(),
            },
            0,
            0,
        );
        assert_eq!(name.unwrap_err().field, "group_name");
        let code = retrieve(
            &v1::RetrieveRequest {
                tenant: "acme".into(),
                by: "101".into(),
                code: 5,
            },
            0,
        );
        assert_eq!(code.unwrap_err().field, "code");
        let park_code = park(
            &v1::ParkRequest {
                tenant: "acme".into(),
                call_id: 1,
                by: "101".into(),
                code: Some(10_000),
            },
            0,
        );
        assert_eq!(park_code.unwrap_err().field, "code");
        let from = dial(
            &v1::DialRequest {
                tenant: "acme".into(),
                from: None,
                digits: "102".into(),
            },
            0,
            0,
        );
        assert_eq!(from.unwrap_err().field, "from");
        let blf = blf_pickup(
            &v1::BlfPickupRequest {
                tenant: "acme".into(),
                picker: "101".into(),
                target: "".into(),
                call_id: None,
            },
            0,
            0,
        );
        assert_eq!(blf.unwrap_err().field, "target");
    }

    #[test]
    fn grant_with_empty_policy_revokes() {
        let cmd = grant_park_policy(&v1::GrantParkPolicyRequest {
            tenant: "acme".into(),
            number: "101".into(),
            policy: String::new(),
        })
        .unwrap();
        assert!(matches!(cmd, Command::GrantParkPolicy { policy: None, .. }));
    }
}
