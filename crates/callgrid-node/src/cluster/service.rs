//! The `Peer` gRPC service: what this node answers other nodes.

use callgrid_actors::DecideError;
use callgrid_model::Command;
use callgrid_proto::internal::{
    DecideRequest, JoinRequest, JoinResponse, Payload, PingRequest, PingResponse, peer_server::Peer,
};
use callgrid_raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use tonic::{Request, Response, Status};

use super::membership::add_node;
use crate::consensus::Written;
use crate::route::Router;
use crate::wire::{ProposeReply, decode, encode};

/// Records how long answering one Raft RPC took, however it ends.
struct Served {
    rpc: &'static str,
    started: std::time::Instant,
}

impl Served {
    fn start(rpc: &'static str) -> Self {
        Self {
            rpc,
            started: std::time::Instant::now(),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        metrics::histogram!("callgrid_peer_served_seconds", "rpc" => self.rpc)
            .record(self.started.elapsed());
    }
}

/// Serves Raft traffic, forwarded proposals, routed decisions and joins.
#[derive(Clone)]
pub struct PeerService {
    pub router: Router,
}

impl PeerService {
    fn raft(&self) -> &callgrid_raft::CallgridRaft {
        &self.router.consensus.raft
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn append_entries(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let _timer = Served::start("append");
        let rpc: AppendEntriesRequest = decode(&request.get_ref().data)?;
        encode(&self.raft().append_entries(rpc).await).map(Response::new)
    }

    async fn vote(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let _timer = Served::start("vote");
        let rpc: VoteRequest = decode(&request.get_ref().data)?;
        encode(&self.raft().vote(rpc).await).map(Response::new)
    }

    async fn install_snapshot(
        &self,
        request: Request<Payload>,
    ) -> Result<Response<Payload>, Status> {
        let _timer = Served::start("snapshot");
        let rpc: InstallSnapshotRequest = decode(&request.get_ref().data)?;
        encode(&self.raft().install_snapshot(rpc).await).map(Response::new)
    }

    async fn propose(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let deadline = crate::deadline::of(request.metadata());
        let cmd: Command = decode(&request.get_ref().data)?;
        let reply = match deadline.run(self.router.consensus.write_here(cmd)).await {
            Some(Written::Committed(response, index)) => ProposeReply::Committed(response, index),
            Some(Written::NotLeader(leader)) => ProposeReply::NotLeader(leader),
            Some(Written::Failed(e)) => ProposeReply::Failed(e),
            None => ProposeReply::Failed(DecideError::DeadlineInFlight),
        };
        encode(&reply).map(Response::new)
    }

    async fn decide(&self, request: Request<DecideRequest>) -> Result<Response<Payload>, Status> {
        // The router's deadline, as this call's `grpc-timeout`.
        let deadline = crate::deadline::of(request.metadata());
        let r = request.into_inner();
        let cmd: Command = decode(&r.command)?;
        let reply = self
            .router
            .decide_as_owner(r.shard_epoch, cmd, deadline)
            .await;
        encode(&reply).map(Response::new)
    }

    async fn join(&self, request: Request<JoinRequest>) -> Result<Response<JoinResponse>, Status> {
        let r = request.into_inner();
        let metrics = self.raft().metrics().borrow().clone();
        let me = self.router.consensus.node_id;
        let reply = match metrics.current_leader {
            Some(leader) if leader == me => {
                add_node(self.raft(), &self.router.peers, r.node_id, &r.addr).await?;
                JoinResponse {
                    accepted: true,
                    reason: String::new(),
                }
            }
            Some(leader) => {
                let addr = metrics
                    .membership_config
                    .membership()
                    .get_node(&leader)
                    .map(|n| n.addr.clone());
                match addr {
                    Some(addr) => self.router.peers.client(&addr)?.join(r).await?.into_inner(),
                    None => JoinResponse {
                        accepted: false,
                        reason: format!("leader {leader} has no address"),
                    },
                }
            }
            None => JoinResponse {
                accepted: false,
                reason: "no leader yet".into(),
            },
        };
        Ok(Response::new(reply))
    }

    async fn ping(&self, _request: Request<PingRequest>) -> Result<Response<PingResponse>, Status> {
        let c = &self.router.consensus;
        Ok(Response::new(PingResponse {
            node_id: c.node_id,
            applied_index: c.state.last_applied().unwrap_or(0),
            shard_epoch: c.read(|sb| sb.shard_map().epoch),
            draining: self.router.draining(),
        }))
    }
}
