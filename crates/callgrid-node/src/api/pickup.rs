//! `callgrid.v1.Pickup`: directed, group, named and BLF pickup.

use callgrid_model::{Command, PickupOutcome, ValidationError};
use callgrid_proto::convert;
use callgrid_proto::v1::{self, pickup_server::Pickup};
use tonic::{Request, Response, Status};

use super::calls::count_pickup;
use super::{Api, handle, once};
use callgrid_actors::now_ms;

impl Api {
    async fn pickup<M: prost::Message>(
        &self,
        kind: &'static str,
        method: &'static str,
        request: &Request<M>,
        cmd: Result<Command, ValidationError>,
    ) -> Result<v1::PickupResponse, Status> {
        let outcome: PickupOutcome = self.decide(once(method, request, cmd)).await?;
        let response = v1::PickupResponse::from(&outcome);
        count_pickup(kind, &response);
        Ok(response)
    }
}

#[tonic::async_trait]
impl Pickup for Api {
    async fn directed_pickup(
        &self,
        request: Request<v1::DirectedPickupRequest>,
    ) -> Result<Response<v1::PickupResponse>, Status> {
        handle!("Pickup/DirectedPickup", {
            self.pickup(
                "directed",
                "Pickup/DirectedPickup",
                &request,
                convert::directed_pickup(request.get_ref(), now_ms(), rand::random()),
            )
            .await
        })
    }

    async fn group_pickup(
        &self,
        request: Request<v1::GroupPickupRequest>,
    ) -> Result<Response<v1::PickupResponse>, Status> {
        handle!("Pickup/GroupPickup", {
            self.pickup(
                "group",
                "Pickup/GroupPickup",
                &request,
                convert::group_pickup(request.get_ref(), now_ms(), rand::random()),
            )
            .await
        })
    }

    async fn named_pickup(
        &self,
        request: Request<v1::NamedPickupRequest>,
    ) -> Result<Response<v1::PickupResponse>, Status> {
        handle!("Pickup/NamedPickup", {
            self.pickup(
                "named",
                "Pickup/NamedPickup",
                &request,
                convert::named_pickup(request.get_ref(), now_ms(), rand::random()),
            )
            .await
        })
    }

    async fn blf_pickup(
        &self,
        request: Request<v1::BlfPickupRequest>,
    ) -> Result<Response<v1::PickupResponse>, Status> {
        handle!("Pickup/BlfPickup", {
            self.pickup(
                "blf",
                "Pickup/BlfPickup",
                &request,
                convert::blf_pickup(request.get_ref(), now_ms(), rand::random()),
            )
            .await
        })
    }
}
