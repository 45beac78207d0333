//! `pickup directed|group|named|blf`: the Pickup service.

use callgrid_proto::v1::{self, pickup_client::PickupClient};

use super::Ctx;
use crate::cli::PickupCommand;
use crate::exit::Outcome as _;

pub async fn pickup(ctx: &Ctx, cmd: PickupCommand) -> anyhow::Result<()> {
    let mut c = PickupClient::new(ctx.channel.clone());
    let tenant = ctx.tenant.clone();
    let r = match cmd {
        PickupCommand::Directed { picker, target } => {
            c.directed_pickup(v1::DirectedPickupRequest {
                tenant,
                picker,
                target,
            })
            .await?
        }
        PickupCommand::Group { picker } => {
            c.group_pickup(v1::GroupPickupRequest { tenant, picker })
                .await?
        }
        PickupCommand::Named { picker, name } => {
            c.named_pickup(v1::NamedPickupRequest {
                tenant,
                picker,
                group_name: name,
            })
            .await?
        }
        PickupCommand::Blf {
            picker,
            target,
            call_id,
        } => {
            c.blf_pickup(v1::BlfPickupRequest {
                tenant,
                picker,
                target,
                call_id,
            })
            .await?
        }
    };
    let r = r.into_inner();
    ctx.out.show(&r);
    r.exit().into_result()
}
