//! `callgrid.v1.Registrar`: SIP digest checks and bindings, for SIP edges.

use callgrid_proto::convert;
use callgrid_proto::v1::{self, registrar_server::Registrar};
use tonic::{Request, Response, Status};

use super::{Api, handle, invalid, once};
use callgrid_actors::now_ms;

#[tonic::async_trait]
impl Registrar for Api {
    async fn authenticate(
        &self,
        request: Request<v1::AuthenticateRequest>,
    ) -> Result<Response<v1::AuthenticateResponse>, Status> {
        handle!("Registrar/Authenticate", {
            let (tenant, extension, answer) =
                convert::digest_answer(request.get_ref()).map_err(invalid)?;
            // A read of the applied state: the secret stays in the model.
            let ok = self
                .shared
                .consensus
                .read(|sb| sb.authenticate(&tenant, &extension, &answer));
            if !ok {
                // No tenant label: failures of unknown tenants count too.
                metrics::counter!("callgrid_sip_auth_failures_total").increment(1);
            }
            Ok(v1::AuthenticateResponse { ok })
        })
    }

    async fn register(
        &self,
        request: Request<v1::RegisterRequest>,
    ) -> Result<Response<v1::RegisterResponse>, Status> {
        handle!("Registrar/Register", {
            let bindings: Result<Vec<callgrid_model::Binding>, _> = self
                .commit(
                    once(
                        "Registrar/Register",
                        &request,
                        convert::register(request.get_ref(), now_ms()),
                    )
                    .map_err(invalid)?,
                )
                .await?;
            let bindings = bindings.map_err(|e| convert::directory_status(&e))?;
            Ok(v1::RegisterResponse {
                bindings: bindings.iter().map(v1::Binding::from).collect(),
            })
        })
    }

    async fn lookup(
        &self,
        request: Request<v1::LookupRequest>,
    ) -> Result<Response<v1::LookupResponse>, Status> {
        handle!("Registrar/Lookup", {
            let r = request.get_ref();
            let tenant = self.existing_tenant(&r.tenant)?;
            let extension = convert::extension("extension", &r.extension).map_err(invalid)?;
            let now = now_ms();
            let bindings = self
                .shared
                .consensus
                .read(|sb| sb.bindings(&tenant, &extension, now))
                .ok_or_else(|| {
                    Status::not_found(format!(
                        "extension: no extension {extension} in tenant {tenant}"
                    ))
                })?;
            Ok(v1::LookupResponse {
                bindings: bindings.iter().map(v1::Binding::from).collect(),
            })
        })
    }
}
