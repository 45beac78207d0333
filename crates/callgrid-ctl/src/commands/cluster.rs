//! `cluster status|add|remove`: the Cluster service.

use callgrid_proto::v1::{self, cluster_client::ClusterClient};

use super::Ctx;
use crate::cli::ClusterCommand;

pub async fn cluster(ctx: &Ctx, cmd: ClusterCommand) -> anyhow::Result<()> {
    match cmd {
        ClusterCommand::Status => {
            let r = ClusterClient::new(ctx.any())
                .status(v1::StatusRequest {})
                .await?
                .into_inner();
            ctx.out.show(&r);
        }
        ClusterCommand::Add { node_id, addr } => {
            ClusterClient::new(ctx.any())
                .add_node(v1::AddNodeRequest {
                    node_id,
                    addr: addr.clone(),
                })
                .await?;
            ctx.out.note(&format!("node {node_id} at {addr} added"));
        }
        ClusterCommand::Remove { node_id } => {
            ClusterClient::new(ctx.any())
                .remove_node(v1::RemoveNodeRequest { node_id })
                .await?;
            ctx.out.note(&format!("node {node_id} removed"));
        }
    }
    Ok(())
}
