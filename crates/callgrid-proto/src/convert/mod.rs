//! Conversions between `callgrid.v1` messages and the domain model.
//!
//! Proto → model goes through the model's own validators and fails with a
//! [`ValidationError`] whose `field` is the path of the offending field in
//! the request (`extension.pickup_groups`, `config.feature_codes.retrieve`,
//! `group.members[1].delay_secs`), so the node can answer
//! `INVALID_ARGUMENT` without knowing any rule. Absent and zero fields take
//! the defaults the `.proto` comments document, all named in [`defaults`].
//!
//! Model → proto never fails: `From` impls and plain functions.
//!
//! Each model type that arrives in a request is parsed under the request
//! field that carries it: a tenant config under `config`, an extension
//! under `extension`, a call group under `group`, a park policy under
//! `policy`.
//!
//! An extension's SIP password becomes its digest HA1 here, where the
//! request enters: nothing past this layer ever holds the password.

mod calls;
mod commands;
mod directory;
mod enums;
mod outcomes;
mod party;
mod presence;
mod registrar;
mod status;

pub use calls::{call_info, parked_call};
pub use commands::{
    answer, blf_pickup, delete_call_group, delete_extension, delete_park_policy, delete_tenant,
    dial, directed_pickup, grant_park_policy, group_pickup, hangup, named_pickup, park,
    put_call_group, put_extension, put_park_policy, put_tenant, retrieve, set_online,
};
pub use directory::{call_group, call_group_error, extension_record, park_policy, tenant_config};
pub use enums::*;
pub use party::{party, party_from};
pub use presence::{
    event_from_lamp, event_from_notification, lamp_event, lamp_event_of, notice, notification,
    notification_of,
};
pub use registrar::{digest_answer, register, sip_secret};
pub use status::{directory_status, invalid_argument};

use callgrid_model::{CallId, Extension, ParkCode, PolicyName, TenantId, ValidationError};

/// The defaults the API applies to absent (zero, empty, unset) fields.
pub mod defaults {
    /// `Forwarding.on_no_answer_after_secs` when 0.
    pub const NO_ANSWER_SECS: u32 = 20;
    /// `CallGroup.ring_secs` for `FORWARD_IN_ORDER` when 0.
    pub const IN_ORDER_RING_SECS: u32 = 20;
    /// `ParkPolicy.code_start` when 0.
    pub const PARK_CODE_START: u32 = 10;
    /// `ParkPolicy.code_end` when 0.
    pub const PARK_CODE_END: u32 = 99;
    /// `ParkPolicy.timeout_secs` when 0.
    pub const PARK_TIMEOUT_SECS: u32 = 300;
}

/// Reports `err` under the request field `prefix`: `code_start` found
/// inside `policy` becomes `policy.code_start`.
pub fn in_field(prefix: &str, err: ValidationError) -> ValidationError {
    let field = if err.field.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}.{}", err.field)
    };
    err.in_field(field)
}

/// The request's `tenant` field.
pub fn tenant(raw: &str) -> Result<TenantId, ValidationError> {
    TenantId::parse("tenant", raw)
}

/// An extension number carried in request field `field`.
pub fn extension(field: &str, raw: &str) -> Result<Extension, ValidationError> {
    Extension::parse(field, raw)
}

/// A park code carried in request field `field`.
pub fn park_code(field: &str, raw: u32) -> Result<ParkCode, ValidationError> {
    ParkCode::new(field, raw)
}

/// A park policy name carried in request field `field`; empty is `None`.
pub fn optional_policy(field: &str, raw: &str) -> Result<Option<PolicyName>, ValidationError> {
    if raw.is_empty() {
        Ok(None)
    } else {
        PolicyName::parse(field, raw).map(Some)
    }
}

/// The call `raw` of `tenant`, as the API numbers it.
pub fn call_id(tenant: &TenantId, raw: u64) -> CallId {
    CallId::in_tenant(tenant, raw)
}

/// Decodes a proto enum field (carried as `i32`), rejecting numbers the
/// API does not define.
fn enum_field<E: TryFrom<i32>>(field: &str, raw: i32) -> Result<E, ValidationError> {
    E::try_from(raw).map_err(|_| ValidationError::new(field, format!("unknown enum value {raw}")))
}

/// A field that must carry a value in this position.
fn unspecified(field: &str) -> ValidationError {
    ValidationError::new(field, "must be set (not UNSPECIFIED)")
}

/// An empty string for `None`, for optional extensions the API carries as strings.
fn ext_or_empty(e: Option<&Extension>) -> String {
    e.map(|e| e.to_string()).unwrap_or_default()
}

/// The inverse of [`ext_or_empty`].
fn optional_extension(field: &str, raw: &str) -> Result<Option<Extension>, ValidationError> {
    if raw.is_empty() {
        Ok(None)
    } else {
        Extension::parse(field, raw).map(Some)
    }
}
