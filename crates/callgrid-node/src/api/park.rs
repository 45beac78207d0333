//! `callgrid.v1.Park`: park, retrieve, list.

use callgrid_model::{ParkOutcome, RetrieveOutcome};
use callgrid_proto::convert;
use callgrid_proto::v1::{self, park_server::Park};
use tonic::{Request, Response, Status};

use super::calls::count_retrieve;
use super::{Api, handle, label, once};
use callgrid_actors::now_ms;

#[tonic::async_trait]
impl Park for Api {
    async fn park(
        &self,
        request: Request<v1::ParkRequest>,
    ) -> Result<Response<v1::ParkResponse>, Status> {
        handle!("Park/Park", {
            let outcome: ParkOutcome = self
                .decide(once(
                    "Park/Park",
                    &request,
                    convert::park(request.get_ref(), now_ms()),
                ))
                .await?;
            let response = v1::ParkResponse::from(&outcome);
            metrics::counter!("callgrid_parks_total", "outcome" => label(response.result().as_str_name()))
                .increment(1);
            Ok(response)
        })
    }

    async fn retrieve(
        &self,
        request: Request<v1::RetrieveRequest>,
    ) -> Result<Response<v1::RetrieveResponse>, Status> {
        handle!("Park/Retrieve", {
            let outcome: RetrieveOutcome = self
                .decide(once(
                    "Park/Retrieve",
                    &request,
                    convert::retrieve(request.get_ref(), now_ms()),
                ))
                .await?;
            let response = v1::RetrieveResponse::from(&outcome);
            count_retrieve(&response);
            Ok(response)
        })
    }

    async fn list_parked(
        &self,
        request: Request<v1::ListParkedRequest>,
    ) -> Result<Response<v1::ListParkedResponse>, Status> {
        handle!("Park/ListParked", {
            let tenant = self.existing_tenant(&request.get_ref().tenant)?;
            let mut parked: Vec<v1::ParkedCall> = self.shared.consensus.read(|sb| {
                sb.calls_of(&tenant)
                    .filter_map(convert::parked_call)
                    .collect()
            });
            parked.sort_by_key(|p| p.code);
            Ok(v1::ListParkedResponse { parked })
        })
    }
}
