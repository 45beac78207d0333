//! `tenant`, `ext`, `callgroup`, `policy`: the Directory service.

use callgrid_proto::v1::{self, directory_client::DirectoryClient};
use serde_json::json;

use super::Ctx;
use crate::cli::{
    CallGroupCommand, CallGroupPutArgs, ExtCommand, ExtPutArgs, PickupSelectionArg, PolicyCommand,
    PolicyPutArgs, RoutingArg, TenantCommand, TenantPutArgs,
};
use crate::exit::invalid;
use crate::output::{Done, Titled};

/// The directory is no owner's: every request goes to `--server`.
fn client(ctx: &Ctx) -> DirectoryClient<callgrid_client::Connection> {
    DirectoryClient::new(ctx.any())
}

pub async fn tenant(ctx: &Ctx, cmd: TenantCommand) -> anyhow::Result<()> {
    let mut c = client(ctx);
    let tenant = ctx.tenant.clone();
    let titled = |config: &v1::TenantConfig| {
        ctx.out.show(&Titled {
            title: format!("tenant {tenant}"),
            fields: json!({ "tenant": tenant }),
            inner: config,
        })
    };
    match cmd {
        TenantCommand::Put(args) => {
            let config = tenant_config(args);
            let r = ctx
                .retry
                .send(
                    &ctx.route(None),
                    v1::PutTenantRequest {
                        tenant: ctx.tenant.clone(),
                        config: Some(config),
                    },
                    |to, r| async move { DirectoryClient::new(to).put_tenant(r).await },
                )
                .await?
                .into_inner();
            titled(&r.config.unwrap_or_default());
        }
        TenantCommand::Get => {
            let r = c
                .get_tenant(v1::GetTenantRequest {
                    tenant: ctx.tenant.clone(),
                })
                .await?
                .into_inner();
            titled(&r.config.unwrap_or_default());
        }
        TenantCommand::List => {
            let r = c
                .list_tenants(v1::ListTenantsRequest {})
                .await?
                .into_inner();
            ctx.out.show(&r);
        }
        TenantCommand::Delete => {
            ctx.retry
                .send(
                    &ctx.route(None),
                    v1::DeleteTenantRequest {
                        tenant: ctx.tenant.clone(),
                    },
                    |to, r| async move { DirectoryClient::new(to).delete_tenant(r).await },
                )
                .await?;
            ctx.out
                .show(&Done(format!("deleted tenant {}", ctx.tenant)));
        }
    }
    Ok(())
}

fn tenant_config(a: TenantPutArgs) -> v1::TenantConfig {
    let selection = match a.pickup_selection {
        None => v1::PickupSelection::Unspecified,
        Some(PickupSelectionArg::Oldest) => v1::PickupSelection::Oldest,
        Some(PickupSelectionArg::Random) => v1::PickupSelection::Random,
    };
    v1::TenantConfig {
        max_call_groups: a.max_call_groups.unwrap_or(0),
        max_call_group_members: a.max_call_group_members.unwrap_or(0),
        feature_codes: Some(v1::FeatureCodes {
            directed_pickup: a.directed_pickup_code.unwrap_or_default(),
            group_pickup: a.group_pickup_code.unwrap_or_default(),
            named_pickup: a.named_pickup_code.unwrap_or_default(),
            retrieve: a.retrieve_code.unwrap_or_default(),
            park: a.park_code.unwrap_or_default(),
        }),
        pickup_selection: selection as i32,
        ring_timeout_secs: a.ring_timeout.unwrap_or(0),
    }
}

pub async fn ext(ctx: &Ctx, cmd: ExtCommand) -> anyhow::Result<()> {
    let mut c = client(ctx);
    let tenant = ctx.tenant.clone();
    match cmd {
        ExtCommand::Put(args) => {
            let extension = extension(*args)?;
            let r = ctx
                .retry
                .send(
                    &ctx.route(None),
                    v1::PutExtensionRequest {
                        tenant,
                        extension: Some(extension),
                    },
                    |to, r| async move { DirectoryClient::new(to).put_extension(r).await },
                )
                .await?
                .into_inner();
            ctx.out.show(&r.extension.unwrap_or_default());
        }
        ExtCommand::Get { number } => {
            let r = c
                .get_extension(v1::GetExtensionRequest { tenant, number })
                .await?
                .into_inner();
            ctx.out.show(&r.extension.unwrap_or_default());
        }
        ExtCommand::List => {
            let r = c
                .list_extensions(v1::ListExtensionsRequest { tenant })
                .await?
                .into_inner();
            ctx.out.show(&r);
        }
        ExtCommand::Delete { number } => {
            ctx.retry
                .send(
                    &ctx.route(None),
                    v1::DeleteExtensionRequest {
                        tenant,
                        number: number.clone(),
                    },
                    |to, r| async move { DirectoryClient::new(to).delete_extension(r).await },
                )
                .await?;
            ctx.out.show(&Done(format!("deleted extension {number}")));
        }
        ExtCommand::Online { number, online } => {
            ctx.retry
                .send(
                    &ctx.route(None),
                    v1::SetOnlineRequest {
                        tenant,
                        number: number.clone(),
                        online,
                    },
                    |to, r| async move { DirectoryClient::new(to).set_online(r).await },
                )
                .await?;
            let state = if online { "online" } else { "offline" };
            ctx.out.show(&Done(format!("extension {number} {state}")));
        }
    }
    Ok(())
}

/// A forwarding target as typed: an extension number, or `callgroup`.
fn forward_target(flag: &str, raw: Option<String>) -> anyhow::Result<Option<v1::ForwardTarget>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let target = match raw.as_str() {
        "callgroup" | "call-group" | "group" => v1::forward_target::Target::OwnCallGroup(true),
        digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            v1::forward_target::Target::Extension(raw)
        }
        _ => invalid!("{flag} {raw:?}: give an extension number or `callgroup`"),
    };
    Ok(Some(v1::ForwardTarget {
        target: Some(target),
    }))
}

fn extension(a: ExtPutArgs) -> anyhow::Result<v1::Extension> {
    let unconditional = forward_target("--forward-always", a.forward_always)?;
    let on_busy = forward_target("--forward-busy", a.forward_busy)?;
    let on_no_answer = forward_target("--forward-no-answer", a.forward_no_answer)?;
    let forwarding =
        (unconditional.is_some() || on_busy.is_some() || on_no_answer.is_some()).then(|| {
            v1::Forwarding {
                unconditional,
                on_busy,
                on_no_answer,
                on_no_answer_after_secs: a.no_answer_secs.unwrap_or(0),
            }
        });
    // An absent flag leaves the field unset, so the server's default applies.
    let off = |flag: bool| flag.then_some(false);
    Ok(v1::Extension {
        number: a.number,
        display_name: a.name.unwrap_or_default(),
        voice_enabled: off(a.no_voice),
        directed_pickup_allowed: off(a.no_directed_pickup),
        group_pickup_allowed: off(a.no_group_pickup),
        park_policy: a.park_policy.unwrap_or_default(),
        forwarding,
        legacy_pickup_groups: a.legacy_groups,
        call_groups: a.call_groups.unwrap_or_default(),
        pickup_groups: a.pickup_groups.unwrap_or_default(),
        online: off(a.offline),
        sip_password: a.sip_password,
    })
}

pub async fn call_group(ctx: &Ctx, cmd: CallGroupCommand) -> anyhow::Result<()> {
    let mut c = client(ctx);
    let tenant = ctx.tenant.clone();
    match cmd {
        CallGroupCommand::Put(args) => {
            let group = call_group_of(args)?;
            let r = ctx
                .retry
                .send(
                    &ctx.route(None),
                    v1::PutCallGroupRequest {
                        tenant,
                        group: Some(group),
                    },
                    |to, r| async move { DirectoryClient::new(to).put_call_group(r).await },
                )
                .await?
                .into_inner();
            ctx.out.show(&r.group.unwrap_or_default());
        }
        CallGroupCommand::Get { owner } => {
            let r = c
                .get_call_group(v1::GetCallGroupRequest { tenant, owner })
                .await?
                .into_inner();
            ctx.out.show(&r.group.unwrap_or_default());
        }
        CallGroupCommand::Delete { owner } => {
            ctx.retry
                .send(
                    &ctx.route(None),
                    v1::DeleteCallGroupRequest {
                        tenant,
                        owner: owner.clone(),
                    },
                    |to, r| async move { DirectoryClient::new(to).delete_call_group(r).await },
                )
                .await?;
            ctx.out
                .show(&Done(format!("deleted the call group of {owner}")));
        }
    }
    Ok(())
}

/// `101`, `101:visual` or `101:visual:5`.
fn member(raw: &str) -> anyhow::Result<v1::CallGroupMember> {
    let mut parts = raw.split(':');
    let extension = parts.next().unwrap_or_default().to_owned();
    let alert = match parts.next() {
        None | Some("") => v1::AlertMode::Unspecified,
        Some("ring") => v1::AlertMode::Ring,
        Some("visual") => v1::AlertMode::Visual,
        Some("banner") => v1::AlertMode::Banner,
        Some(other) => {
            invalid!("--member {raw:?}: alert mode {other:?} is not ring, visual or banner")
        }
    };
    let delay_secs = match parts.next() {
        None | Some("") => 0,
        Some(d) => match d.parse() {
            Ok(secs) => secs,
            Err(_) => invalid!("--member {raw:?}: delay {d:?} is not a number of seconds"),
        },
    };
    if parts.next().is_some() {
        invalid!("--member {raw:?}: expected EXT[:MODE[:DELAY]]");
    }
    Ok(v1::CallGroupMember {
        extension,
        alert: alert as i32,
        delay_secs,
    })
}

fn call_group_of(a: CallGroupPutArgs) -> anyhow::Result<v1::CallGroup> {
    let routing = match a.routing {
        None => v1::CallGroupRouting::Unspecified,
        Some(RoutingArg::Simultaneous) => v1::CallGroupRouting::Simultaneous,
        Some(RoutingArg::ForwardAll) => v1::CallGroupRouting::ForwardAllAtOnce,
        Some(RoutingArg::ForwardInOrder) => v1::CallGroupRouting::ForwardInOrder,
    };
    Ok(v1::CallGroup {
        owner: a.owner,
        members: a
            .members
            .iter()
            .map(|m| member(m))
            .collect::<Result<_, _>>()?,
        routing: routing as i32,
        ring_secs: a.ring_secs.unwrap_or(0),
    })
}

pub async fn policy(ctx: &Ctx, cmd: PolicyCommand) -> anyhow::Result<()> {
    let mut c = client(ctx);
    let tenant = ctx.tenant.clone();
    match cmd {
        PolicyCommand::Put(args) => {
            let policy = park_policy(args);
            let r = ctx
                .retry
                .send(
                    &ctx.route(None),
                    v1::PutParkPolicyRequest {
                        tenant,
                        policy: Some(policy),
                    },
                    |to, r| async move { DirectoryClient::new(to).put_park_policy(r).await },
                )
                .await?
                .into_inner();
            ctx.out.show(&r.policy.unwrap_or_default());
        }
        PolicyCommand::Get { name } => {
            let r = c
                .get_park_policy(v1::GetParkPolicyRequest { tenant, name })
                .await?
                .into_inner();
            ctx.out.show(&r.policy.unwrap_or_default());
        }
        PolicyCommand::List => {
            let r = c
                .list_park_policies(v1::ListParkPoliciesRequest { tenant })
                .await?
                .into_inner();
            ctx.out.show(&r);
        }
        PolicyCommand::Delete { name } => {
            ctx.retry
                .send(
                    &ctx.route(None),
                    v1::DeleteParkPolicyRequest {
                        tenant,
                        name: name.clone(),
                    },
                    |to, r| async move { DirectoryClient::new(to).delete_park_policy(r).await },
                )
                .await?;
            ctx.out.show(&Done(format!("deleted park policy {name}")));
        }
        PolicyCommand::Grant { ext, policy } => {
            ctx.retry
                .send(
                    &ctx.route(None),
                    v1::GrantParkPolicyRequest {
                        tenant,
                        number: ext.clone(),
                        policy: policy.clone(),
                    },
                    |to, r| async move { DirectoryClient::new(to).grant_park_policy(r).await },
                )
                .await?;
            ctx.out
                .show(&Done(format!("granted park policy {policy} to {ext}")));
        }
        PolicyCommand::Revoke { ext } => {
            ctx.retry
                .send(
                    &ctx.route(None),
                    v1::GrantParkPolicyRequest {
                        tenant,
                        number: ext.clone(),
                        policy: String::new(),
                    },
                    |to, r| async move { DirectoryClient::new(to).grant_park_policy(r).await },
                )
                .await?;
            ctx.out
                .show(&Done(format!("revoked the park policy of {ext}")));
        }
    }
    Ok(())
}

fn park_policy(a: PolicyPutArgs) -> v1::ParkPolicy {
    v1::ParkPolicy {
        name: a.name,
        allow_parking: a.no_parking.then_some(false),
        code_start: a.start.unwrap_or(0),
        code_end: a.end.unwrap_or(0),
        timeout_secs: a.timeout.unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_parse_with_optional_mode_and_delay() {
        let m = member("101").unwrap();
        assert_eq!((m.extension.as_str(), m.alert, m.delay_secs), ("101", 0, 0));
        let m = member("102:visual:5").unwrap();
        assert_eq!(m.alert, v1::AlertMode::Visual as i32);
        assert_eq!(m.delay_secs, 5);
        assert!(member("102:loud").is_err());
        assert!(member("102:ring:x").is_err());
        assert!(member("102:ring:1:2").is_err());
    }

    #[test]
    fn forward_targets_are_extensions_or_the_call_group() {
        let t = forward_target("--forward-busy", Some("callgroup".into())).unwrap();
        assert_eq!(
            t.unwrap().target,
            Some(v1::forward_target::Target::OwnCallGroup(true))
        );
        assert!(forward_target("--forward-busy", Some("bob".into())).is_err());
        assert!(forward_target("--forward-busy", None).unwrap().is_none());
    }
}
