//! `cluster status`: the Cluster service.

use callgrid_proto::v1::{self, cluster_client::ClusterClient};

use super::Ctx;
use crate::cli::ClusterCommand;

pub async fn cluster(ctx: &Ctx, cmd: ClusterCommand) -> anyhow::Result<()> {
    match cmd {
        ClusterCommand::Status => {
            let r = ClusterClient::new(ctx.channel.clone())
                .status(v1::StatusRequest {})
                .await?
                .into_inner();
            ctx.out.show(&r);
        }
    }
    Ok(())
}
