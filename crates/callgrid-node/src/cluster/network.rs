//! openraft's network over the `Peer` gRPC service.

use std::time::Duration;

use callgrid_proto::internal::peer_client::PeerClient;
use callgrid_raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    NodeId, RaftError, RpcError, TypeConfig, VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use openraft::error::{InstallSnapshotError, NetworkError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use serde::{Serialize, de::DeserializeOwned};
use tonic::transport::Channel;

use super::Peers;
use super::wire::{decode, encode};

/// Hands openraft a client per peer.
#[derive(Clone)]
pub struct PeerNetwork {
    pub peers: Peers,
}

/// One peer, as openraft's replication and election tasks see it.
pub struct PeerLink {
    target: NodeId,
    node: BasicNode,
    client: Option<PeerClient<Channel>>,
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerLink {
        PeerLink {
            target,
            node: node.clone(),
            client: self.peers.client(&node.addr).ok(),
        }
    }
}

fn unreachable<E: std::error::Error>(why: impl std::fmt::Display) -> RpcError<E> {
    RpcError::Unreachable(Unreachable::new(&std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        why.to_string(),
    )))
}

impl PeerLink {
    /// Sends one Raft RPC and unpacks the peer's `Result`.
    async fn call<Req, Resp, E>(
        &mut self,
        which: &'static str,
        request: &Req,
        ttl: Duration,
    ) -> Result<Resp, RpcError<RaftError<E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let Some(client) = self.client.as_mut() else {
            return Err(unreachable(format!(
                "node {} at {} has a bad address",
                self.target, self.node.addr
            )));
        };
        let payload = encode(request).map_err(|s| RpcError::Network(NetworkError::new(&s)))?;
        let call = async {
            match which {
                "append" => client.append_entries(payload).await,
                "vote" => client.vote(payload).await,
                _ => client.install_snapshot(payload).await,
            }
        };
        let reply = match tokio::time::timeout(ttl, call).await {
            Err(_) => {
                return Err(unreachable(format!(
                    "node {} did not answer {which} in {ttl:?}",
                    self.target
                )));
            }
            Ok(Err(status)) if status.code() == tonic::Code::Unavailable => {
                return Err(unreachable(format!(
                    "node {}: {}",
                    self.target,
                    status.message()
                )));
            }
            Ok(Err(status)) => return Err(RpcError::Network(NetworkError::new(&status))),
            Ok(Ok(reply)) => reply.into_inner(),
        };
        let result: Result<Resp, RaftError<E>> =
            decode(&reply.data).map_err(|s| RpcError::Network(NetworkError::new(&s)))?;
        result.map_err(|e| {
            RpcError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

impl RaftNetwork<TypeConfig> for PeerLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse, RpcError<RaftError>> {
        self.call("append", &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse, RpcError<RaftError<InstallSnapshotError>>> {
        self.call("snapshot", &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest,
        option: RPCOption,
    ) -> Result<VoteResponse, RpcError<RaftError>> {
        self.call("vote", &rpc, option.hard_ttl()).await
    }
}
