//! `callgrid.v1.Directory`: tenants, extensions, call groups, park policies.

use callgrid_model::{Extension, PolicyName, TenantId};
use callgrid_proto::convert;
use callgrid_proto::v1::{self, directory_server::Directory};
use tonic::{Request, Response, Status};

use super::{Api, handle, invalid, once};

impl Api {
    fn read_tenant<R>(
        &self,
        tenant: &TenantId,
        f: impl FnOnce(&callgrid_model::Tenant) -> Option<R>,
    ) -> Option<R> {
        self.shared
            .consensus
            .read(|sb| sb.tenant(tenant).and_then(f))
    }
}

fn number(field: &str, raw: &str) -> Result<Extension, Status> {
    convert::extension(field, raw).map_err(invalid)
}

#[tonic::async_trait]
impl Directory for Api {
    async fn put_tenant(
        &self,
        request: Request<v1::PutTenantRequest>,
    ) -> Result<Response<v1::PutTenantResponse>, Status> {
        handle!("Directory/PutTenant", {
            let r = request.get_ref().clone();
            self.write(
                once("Directory/PutTenant", &request, convert::put_tenant(&r)),
                Some("config"),
            )
            .await?;
            let tenant = convert::tenant(&r.tenant).map_err(invalid)?;
            let config = self.read_tenant(&tenant, |t| Some(v1::TenantConfig::from(&t.config)));
            Ok(v1::PutTenantResponse { config })
        })
    }

    async fn get_tenant(
        &self,
        request: Request<v1::GetTenantRequest>,
    ) -> Result<Response<v1::GetTenantResponse>, Status> {
        handle!("Directory/GetTenant", {
            let tenant = self.existing_tenant(&request.get_ref().tenant)?;
            let config = self.read_tenant(&tenant, |t| Some(v1::TenantConfig::from(&t.config)));
            Ok(v1::GetTenantResponse { config })
        })
    }

    async fn list_tenants(
        &self,
        _request: Request<v1::ListTenantsRequest>,
    ) -> Result<Response<v1::ListTenantsResponse>, Status> {
        handle!("Directory/ListTenants", {
            let tenants = self.shared.consensus.read(|sb| {
                sb.tenants()
                    .map(|(id, t)| v1::Tenant {
                        tenant: id.to_string(),
                        config: Some(v1::TenantConfig::from(&t.config)),
                    })
                    .collect()
            });
            Ok(v1::ListTenantsResponse { tenants })
        })
    }

    async fn delete_tenant(
        &self,
        request: Request<v1::DeleteTenantRequest>,
    ) -> Result<Response<v1::DeleteTenantResponse>, Status> {
        handle!("Directory/DeleteTenant", {
            self.write(
                once(
                    "Directory/DeleteTenant",
                    &request,
                    convert::delete_tenant(request.get_ref()),
                ),
                None,
            )
            .await?;
            Ok(v1::DeleteTenantResponse {})
        })
    }

    async fn put_extension(
        &self,
        request: Request<v1::PutExtensionRequest>,
    ) -> Result<Response<v1::PutExtensionResponse>, Status> {
        handle!("Directory/PutExtension", {
            let r = request.get_ref().clone();
            let cmd = convert::put_extension(&r);
            let stored = match &cmd {
                Ok(callgrid_model::Command::PutExtension { tenant, record, .. }) => {
                    Some((tenant.clone(), record.number.clone()))
                }
                _ => None,
            };
            self.write(
                once("Directory/PutExtension", &request, cmd),
                Some("extension"),
            )
            .await?;
            let extension = stored.and_then(|(t, n)| {
                self.read_tenant(&t, |t| t.extension(&n).map(v1::Extension::from))
            });
            Ok(v1::PutExtensionResponse { extension })
        })
    }

    async fn get_extension(
        &self,
        request: Request<v1::GetExtensionRequest>,
    ) -> Result<Response<v1::GetExtensionResponse>, Status> {
        handle!("Directory/GetExtension", {
            let r = request.get_ref();
            let tenant = self.existing_tenant(&r.tenant)?;
            let n = number("number", &r.number)?;
            let extension = self
                .read_tenant(&tenant, |t| t.extension(&n).map(v1::Extension::from))
                .ok_or_else(|| {
                    Status::not_found(format!("number: no extension {n} in tenant {tenant}"))
                })?;
            Ok(v1::GetExtensionResponse {
                extension: Some(extension),
            })
        })
    }

    async fn list_extensions(
        &self,
        request: Request<v1::ListExtensionsRequest>,
    ) -> Result<Response<v1::ListExtensionsResponse>, Status> {
        handle!("Directory/ListExtensions", {
            let tenant = self.existing_tenant(&request.get_ref().tenant)?;
            let extensions = self
                .read_tenant(&tenant, |t| {
                    Some(t.extensions.values().map(v1::Extension::from).collect())
                })
                .unwrap_or_default();
            Ok(v1::ListExtensionsResponse { extensions })
        })
    }

    async fn delete_extension(
        &self,
        request: Request<v1::DeleteExtensionRequest>,
    ) -> Result<Response<v1::DeleteExtensionResponse>, Status> {
        handle!("Directory/DeleteExtension", {
            self.write(
                once(
                    "Directory/DeleteExtension",
                    &request,
                    convert::delete_extension(request.get_ref()),
                ),
                None,
            )
            .await?;
            Ok(v1::DeleteExtensionResponse {})
        })
    }

    async fn set_online(
        &self,
        request: Request<v1::SetOnlineRequest>,
    ) -> Result<Response<v1::SetOnlineResponse>, Status> {
        handle!("Directory/SetOnline", {
            self.write(
                once(
                    "Directory/SetOnline",
                    &request,
                    convert::set_online(request.get_ref()),
                ),
                None,
            )
            .await?;
            Ok(v1::SetOnlineResponse {})
        })
    }

    async fn put_call_group(
        &self,
        request: Request<v1::PutCallGroupRequest>,
    ) -> Result<Response<v1::PutCallGroupResponse>, Status> {
        handle!("Directory/PutCallGroup", {
            let r = request.get_ref().clone();
            let cmd = convert::put_call_group(&r);
            let owner = match &cmd {
                Ok(callgrid_model::Command::PutCallGroup { tenant, group }) => {
                    Some((tenant.clone(), group.owner.clone()))
                }
                _ => None,
            };
            self.write(once("Directory/PutCallGroup", &request, cmd), Some("group"))
                .await?;
            let group = owner.and_then(|(t, o)| {
                self.read_tenant(&t, |t| t.call_groups.get(&o).map(v1::CallGroup::from))
            });
            Ok(v1::PutCallGroupResponse { group })
        })
    }

    async fn get_call_group(
        &self,
        request: Request<v1::GetCallGroupRequest>,
    ) -> Result<Response<v1::GetCallGroupResponse>, Status> {
        handle!("Directory/GetCallGroup", {
            let r = request.get_ref();
            let tenant = self.existing_tenant(&r.tenant)?;
            let owner = number("owner", &r.owner)?;
            let group = self
                .read_tenant(&tenant, |t| {
                    t.call_groups.get(&owner).map(v1::CallGroup::from)
                })
                .ok_or_else(|| {
                    Status::not_found(format!("owner: extension {owner} owns no call group"))
                })?;
            Ok(v1::GetCallGroupResponse { group: Some(group) })
        })
    }

    async fn delete_call_group(
        &self,
        request: Request<v1::DeleteCallGroupRequest>,
    ) -> Result<Response<v1::DeleteCallGroupResponse>, Status> {
        handle!("Directory/DeleteCallGroup", {
            self.write(
                once(
                    "Directory/DeleteCallGroup",
                    &request,
                    convert::delete_call_group(request.get_ref()),
                ),
                None,
            )
            .await?;
            Ok(v1::DeleteCallGroupResponse {})
        })
    }

    async fn put_park_policy(
        &self,
        request: Request<v1::PutParkPolicyRequest>,
    ) -> Result<Response<v1::PutParkPolicyResponse>, Status> {
        handle!("Directory/PutParkPolicy", {
            let r = request.get_ref().clone();
            let cmd = convert::put_park_policy(&r);
            let name = match &cmd {
                Ok(callgrid_model::Command::PutParkPolicy { tenant, policy }) => {
                    Some((tenant.clone(), policy.name.clone()))
                }
                _ => None,
            };
            self.write(
                once("Directory/PutParkPolicy", &request, cmd),
                Some("policy"),
            )
            .await?;
            let policy = name.and_then(|(t, n)| {
                self.read_tenant(&t, |t| t.park_policies.get(&n).map(v1::ParkPolicy::from))
            });
            Ok(v1::PutParkPolicyResponse { policy })
        })
    }

    async fn get_park_policy(
        &self,
        request: Request<v1::GetParkPolicyRequest>,
    ) -> Result<Response<v1::GetParkPolicyResponse>, Status> {
        handle!("Directory/GetParkPolicy", {
            let r = request.get_ref();
            let tenant = self.existing_tenant(&r.tenant)?;
            let name = PolicyName::parse("name", &r.name).map_err(invalid)?;
            let policy = self
                .read_tenant(&tenant, |t| {
                    t.park_policies.get(&name).map(v1::ParkPolicy::from)
                })
                .ok_or_else(|| {
                    Status::not_found(format!("name: no park policy {name} in tenant {tenant}"))
                })?;
            Ok(v1::GetParkPolicyResponse {
                policy: Some(policy),
            })
        })
    }

    async fn list_park_policies(
        &self,
        request: Request<v1::ListParkPoliciesRequest>,
    ) -> Result<Response<v1::ListParkPoliciesResponse>, Status> {
        handle!("Directory/ListParkPolicies", {
            let tenant = self.existing_tenant(&request.get_ref().tenant)?;
            let policies = self
                .read_tenant(&tenant, |t| {
                    Some(t.park_policies.values().map(v1::ParkPolicy::from).collect())
                })
                .unwrap_or_default();
            Ok(v1::ListParkPoliciesResponse { policies })
        })
    }

    async fn delete_park_policy(
        &self,
        request: Request<v1::DeleteParkPolicyRequest>,
    ) -> Result<Response<v1::DeleteParkPolicyResponse>, Status> {
        handle!("Directory/DeleteParkPolicy", {
            self.write(
                once(
                    "Directory/DeleteParkPolicy",
                    &request,
                    convert::delete_park_policy(request.get_ref()),
                ),
                None,
            )
            .await?;
            Ok(v1::DeleteParkPolicyResponse {})
        })
    }

    async fn grant_park_policy(
        &self,
        request: Request<v1::GrantParkPolicyRequest>,
    ) -> Result<Response<v1::GrantParkPolicyResponse>, Status> {
        handle!("Directory/GrantParkPolicy", {
            self.write(
                once(
                    "Directory/GrantParkPolicy",
                    &request,
                    convert::grant_park_policy(request.get_ref()),
                ),
                None,
            )
            .await?;
            Ok(v1::GrantParkPolicyResponse {})
        })
    }
}
