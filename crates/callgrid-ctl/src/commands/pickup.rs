//! `pickup directed|group|named|blf`: the Pickup service. A directed or BLF
//! pickup goes to the target's owner, a group or named pickup to the
//! picker's.

use callgrid_proto::v1::{self, pickup_client::PickupClient};

use super::Ctx;
use crate::cli::PickupCommand;
use crate::exit::Outcome as _;

pub async fn pickup(ctx: &Ctx, cmd: PickupCommand) -> anyhow::Result<()> {
    let tenant = ctx.tenant.clone();
    let r = match cmd {
        PickupCommand::Directed { picker, target } => {
            ctx.retry
                .send(
                    &ctx.route(ctx.extension(&target)),
                    v1::DirectedPickupRequest {
                        tenant,
                        picker,
                        target,
                    },
                    |to, r| async move { PickupClient::new(to).directed_pickup(r).await },
                )
                .await?
        }
        PickupCommand::Group { picker } => {
            ctx.retry
                .send(
                    &ctx.route(ctx.extension(&picker)),
                    v1::GroupPickupRequest { tenant, picker },
                    |to, r| async move { PickupClient::new(to).group_pickup(r).await },
                )
                .await?
        }
        PickupCommand::Named { picker, name } => {
            ctx.retry
                .send(
                    &ctx.route(ctx.extension(&picker)),
                    v1::NamedPickupRequest {
                        tenant,
                        picker,
                        group_name: name,
                    },
                    |to, r| async move { PickupClient::new(to).named_pickup(r).await },
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
                    &ctx.route(ctx.extension(&target)),
                    v1::BlfPickupRequest {
                        tenant,
                        picker,
                        target,
                        call_id,
                    },
                    |to, r| async move { PickupClient::new(to).blf_pickup(r).await },
                )
                .await?
        }
    };
    let r = r.into_inner();
    ctx.out.show(&r);
    r.exit().into_result()
}
