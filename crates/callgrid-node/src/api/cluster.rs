//! `callgrid.v1.Cluster`: what this node knows of the cluster.

use callgrid_proto::v1::{self, cluster_server::Cluster};
use tonic::{Request, Response, Status};

use super::{Api, handle};

#[tonic::async_trait]
impl Cluster for Api {
    async fn status(&self, _request: Request<v1::StatusRequest>) -> Result<Response<v1::StatusResponse>, Status> {
        handle!("Cluster/Status", {
            let m = self.node.consensus.raft.metrics().borrow().clone();
            let config = m.membership_config.membership();
            let voters: Vec<u64> = config.voter_ids().collect();
            let membership = config
                .nodes()
                .map(|(id, node)| v1::ClusterMember { node_id: *id, addr: node.addr.clone(), voter: voters.contains(id) })
                .collect();
            Ok(v1::StatusResponse {
                node_id: m.id,
                leader_id: m.current_leader,
                term: m.current_term,
                commit_index: m.last_log_index.unwrap_or(0),
                applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
                membership,
                state: format!("{:?}", m.state),
            })
        })
    }
}
