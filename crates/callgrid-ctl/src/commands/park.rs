//! `park`, `retrieve`, `parked`: the Park service.

use callgrid_proto::v1::{self, park_client::ParkClient};
use serde_json::json;

use super::Ctx;
use crate::exit::Outcome as _;
use crate::output::Titled;

pub async fn park(ctx: &Ctx, call: u64, by: String, code: Option<u32>) -> anyhow::Result<()> {
    let r = ctx
        .retry
        .send(
            &ctx.route(ctx.park_lot()),
            v1::ParkRequest {
                tenant: ctx.tenant.clone(),
                call_id: call,
                by,
                code,
            },
            |to, r| async move { ParkClient::new(to).park(r).await },
        )
        .await?
        .into_inner();
    ctx.out.show(&Titled {
        title: format!("call {call}"),
        fields: json!({ "call_id": call }),
        inner: &r,
    });
    r.exit().into_result()
}

pub async fn retrieve(ctx: &Ctx, by: String, code: u32) -> anyhow::Result<()> {
    let r = ctx
        .retry
        .send(
            &ctx.route(ctx.park_lot()),
            v1::RetrieveRequest {
                tenant: ctx.tenant.clone(),
                by,
                code,
            },
            |to, r| async move { ParkClient::new(to).retrieve(r).await },
        )
        .await?
        .into_inner();
    ctx.out.show(&Titled {
        title: format!("code {code}"),
        fields: json!({ "code": code }),
        inner: &r,
    });
    r.exit().into_result()
}

pub async fn parked(ctx: &Ctx) -> anyhow::Result<()> {
    let r = ParkClient::new(ctx.any())
        .list_parked(v1::ListParkedRequest {
            tenant: ctx.tenant.clone(),
        })
        .await?
        .into_inner();
    ctx.out.show(&r);
    Ok(())
}
