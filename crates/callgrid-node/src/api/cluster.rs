//! `callgrid.v1.Cluster`: what this node knows of the cluster, and
//! adding and removing nodes.

use callgrid_proto::internal::JoinRequest;
use callgrid_proto::v1::{self, cluster_client::ClusterClient, cluster_server::Cluster};
use tonic::{Request, Response, Status};

use super::{Api, handle};
use crate::cluster::{add_node, remove_node};

impl Api {
    /// The leader's address, if another node leads.
    fn leader_addr(&self) -> Result<Option<String>, Status> {
        let m = self.shared.consensus.raft.metrics().borrow().clone();
        match m.current_leader {
            None => Err(Status::unavailable(
                "no leader: retry when the cluster has elected one",
            )),
            Some(l) if l == self.shared.consensus.node_id => Ok(None),
            Some(l) => Ok(m
                .membership_config
                .membership()
                .get_node(&l)
                .map(|n| n.addr.clone())),
        }
    }
}

#[tonic::async_trait]
impl Cluster for Api {
    async fn status(
        &self,
        _request: Request<v1::StatusRequest>,
    ) -> Result<Response<v1::StatusResponse>, Status> {
        handle!("Cluster/Status", {
            let m = self.shared.consensus.raft.metrics().borrow().clone();
            let map = self.shared.consensus.read(|sb| sb.shard_map().clone());
            let config = m.membership_config.membership();
            let voters: Vec<u64> = config.voter_ids().collect();
            let membership = config
                .nodes()
                .map(|(id, node)| v1::ClusterMember {
                    node_id: *id,
                    addr: node.addr.clone(),
                    voter: voters.contains(id),
                    shards: map.owned_by(*id) as u32,
                })
                .collect();
            Ok(v1::StatusResponse {
                node_id: m.id,
                leader_id: m.current_leader,
                term: m.current_term,
                commit_index: m.last_log_index.unwrap_or(0),
                applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
                membership,
                state: format!("{:?}", m.state),
                shard_epoch: map.epoch,
                shard_owners: map.owners.clone(),
                snapshot_index: m.snapshot.map_or(0, |l| l.index),
                purged_index: m.purged.map_or(0, |l| l.index),
            })
        })
    }

    async fn add_node(
        &self,
        request: Request<v1::AddNodeRequest>,
    ) -> Result<Response<v1::AddNodeResponse>, Status> {
        handle!("Cluster/AddNode", {
            let r = request.into_inner();
            match self.leader_addr()? {
                None => {
                    let consensus = &self.shared.consensus;
                    add_node(&consensus.raft, &consensus.peers, r.node_id, &r.addr).await?
                }
                Some(leader) => {
                    let reply = self
                        .shared
                        .consensus
                        .peers
                        .client(&leader)?
                        .join(JoinRequest {
                            node_id: r.node_id,
                            addr: r.addr,
                        })
                        .await?
                        .into_inner();
                    if !reply.accepted {
                        return Err(Status::unavailable(format!(
                            "node not added: {}",
                            reply.reason
                        )));
                    }
                }
            }
            Ok(v1::AddNodeResponse {})
        })
    }

    async fn remove_node(
        &self,
        request: Request<v1::RemoveNodeRequest>,
    ) -> Result<Response<v1::RemoveNodeResponse>, Status> {
        handle!("Cluster/RemoveNode", {
            let deadline = crate::deadline::of(request.metadata());
            // The leader checks the caller's token again: pass it on.
            let token = request.metadata().get("authorization").cloned();
            let r = request.into_inner();
            if let Some(addr) = self.leader_addr()? {
                let channel = self.shared.consensus.peers.channel(&addr)?;
                let mut forwarded = Request::new(r);
                if let Some(token) = token {
                    forwarded.metadata_mut().insert("authorization", token);
                }
                ClusterClient::new(channel).remove_node(forwarded).await?;
                return Ok(v1::RemoveNodeResponse {});
            }
            let consensus = &self.shared.consensus;
            let members: Vec<u64> = consensus.members().into_keys().collect();
            if !members.contains(&r.node_id) {
                return Err(Status::not_found(format!(
                    "node_id: {} is not a member",
                    r.node_id
                )));
            }
            // Hand its shards off first, so nothing it owned is left ownerless.
            let rest: Vec<u64> = members.into_iter().filter(|id| *id != r.node_id).collect();
            if let Some(map) = consensus.read(|sb| sb.shard_map().rebalanced(&rest)) {
                consensus
                    .propose(callgrid_model::Command::SetShardMap { map }, deadline)
                    .await
                    .map_err(super::unavailable)?;
            }
            remove_node(&consensus.raft, r.node_id)
                .await
                .map_err(Status::failed_precondition)?;
            Ok(v1::RemoveNodeResponse {})
        })
    }

    async fn noop(
        &self,
        request: Request<v1::NoopRequest>,
    ) -> Result<Response<v1::NoopResponse>, Status> {
        handle!("Cluster/Noop", {
            self.shared
                .consensus
                .propose(
                    callgrid_model::Command::Noop,
                    crate::deadline::of(request.metadata()),
                )
                .await
                .map_err(super::unavailable)?;
            Ok(v1::NoopResponse {})
        })
    }
}
