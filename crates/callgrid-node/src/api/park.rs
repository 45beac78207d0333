//! `callgrid.v1.Park`: park, retrieve, list.

use callgrid_model::Response as Decided;
use callgrid_proto::convert;
use callgrid_proto::v1::{self, park_server::Park};
use tonic::{Request, Response, Status};

use super::calls::count_retrieve;
use super::{Api, handle, once, unexpected};
use crate::clock::now_ms;

#[tonic::async_trait]
impl Park for Api {
    async fn park(
        &self,
        request: Request<v1::ParkRequest>,
    ) -> Result<Response<v1::ParkResponse>, Status> {
        handle!("Park/Park", {
            match self
                .decide(once(
                    "Park/Park",
                    &request,
                    convert::park(request.get_ref(), now_ms()),
                ))
                .await?
            {
                Decided::Park(outcome) => {
                    let label = match outcome {
                        callgrid_model::ParkOutcome::Parked { .. } => "parked",
                        callgrid_model::ParkOutcome::NotAnswered => "not_answered",
                        callgrid_model::ParkOutcome::NoParkPolicy => "no_park_policy",
                        callgrid_model::ParkOutcome::ParkingNotAllowed => "parking_not_allowed",
                        callgrid_model::ParkOutcome::RangeFull => "range_full",
                        callgrid_model::ParkOutcome::CodeInUse => "code_in_use",
                        callgrid_model::ParkOutcome::CodeOutOfRange => "code_out_of_range",
                        callgrid_model::ParkOutcome::UnknownCall => "unknown_call",
                        callgrid_model::ParkOutcome::NotPermitted => "not_permitted",
                    };
                    metrics::counter!("callgrid_parks_total", "outcome" => label).increment(1);
                    Ok(v1::ParkResponse::from(&outcome))
                }
                other => Err(unexpected(other)),
            }
        })
    }

    async fn retrieve(
        &self,
        request: Request<v1::RetrieveRequest>,
    ) -> Result<Response<v1::RetrieveResponse>, Status> {
        handle!("Park/Retrieve", {
            match self
                .decide(once(
                    "Park/Retrieve",
                    &request,
                    convert::retrieve(request.get_ref(), now_ms()),
                ))
                .await?
            {
                Decided::Retrieve(outcome) => {
                    count_retrieve(&outcome);
                    Ok(v1::RetrieveResponse::from(&outcome))
                }
                other => Err(unexpected(other)),
            }
        })
    }

    async fn list_parked(
        &self,
        request: Request<v1::ListParkedRequest>,
    ) -> Result<Response<v1::ListParkedResponse>, Status> {
        handle!("Park/ListParked", {
            let tenant = self.existing_tenant(&request.get_ref().tenant)?;
            let mut parked: Vec<v1::ParkedCall> = self.node.consensus.read(|sb| {
                sb.calls_of(&tenant)
                    .filter_map(convert::parked_call)
                    .collect()
            });
            parked.sort_by_key(|p| p.code);
            Ok(v1::ListParkedResponse { parked })
        })
    }
}
