//! `pickup directed|group|named|blf`: the Pickup service.

use callgrid_proto::v1::{self, pickup_client::PickupClient};

use super::Ctx;
use crate::cli::PickupCommand;
use crate::exit::Outcome as _;

pub async fn pickup(ctx: &Ctx, cmd: PickupCommand) -> anyhow::Result<()> {
    let c = PickupClient::new(ctx.channel.clone());
    let tenant = ctx.tenant.clone();
    let r = match cmd {
        PickupCommand::Directed { picker, target } => {
            ctx.retry
                .send(
                    v1::DirectedPickupRequest {
                        tenant,
                        picker,
                        target,
                    },
                    |r| {
                        let mut c = c.clone();
                        async move { c.directed_pickup(r).await }
                    },
                )
                .await?
        }
        PickupCommand::Group { picker } => {
            ctx.retry
                .send(v1::GroupPickupRequest { tenant, picker }, |r| {
                    let mut c = c.clone();
                    async move { c.group_pickup(r).await }
                })
                .await?
        }
        PickupCommand::Named { picker, name } => {
            ctx.retry
                .send(
                    v1::NamedPickupRequest {
                        tenant,
                        picker,
                        group_name: name,
                    },
                    |r| {
                        let mut c = c.clone();
                        async move { c.named_pickup(r).await }
                    },
                )
                .await?
        }
        PickupCommand::Blf {
            picker,
            target,
            call_id,
        } => {
            ctx.retry
                .send(
                    v1::BlfPickupRequest {
                        tenant,
                        picker,
                        target,
                        call_id,
                    },
                    |r| {
                        let mut c = c.clone();
                        async move { c.blf_pickup(r).await }
                    },
                )
                .await?
        }
    };
    let r = r.into_inner();
    ctx.out.show(&r);
    r.exit().into_result()
}
