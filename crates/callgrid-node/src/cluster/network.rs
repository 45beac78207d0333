//! openraft's network over the `Peer` gRPC service.

use std::time::Duration;

use callgrid_proto::internal::peer_client::PeerClient;
use callgrid_raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    NodeId, RaftError, RpcError, TypeConfig, VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use openraft::error::{InstallSnapshotError, NetworkError, RemoteError, Unreachable};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use serde::{Serialize, de::DeserializeOwned};
use tonic::transport::Channel;

use crate::peers::Peers;
use crate::wire::{decode, encode};

/// The first wait before trying an unreachable peer again.
const BACKOFF_FIRST: Duration = Duration::from_millis(25);
/// The longest wait between tries of an unreachable peer.
const BACKOFF_MAX: Duration = Duration::from_millis(500);

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
    ///
    /// No deadline here: openraft bounds every RPC it sends by the
    /// `RPCOption` it passes, and reports the overrun as a timeout. Timing
    /// out here instead would have to say `Unreachable`, and openraft then
    /// stops sending to that peer for a back-off interval: a follower busy
    /// for one heartbeat would not learn of new commits for that long (its
    /// watchers saw lamp changes half a second late under BLF load).
    /// `Unreachable` is kept for a peer that cannot be connected to.
    async fn call<Req, Resp, E>(
        &mut self,
        which: &'static str,
        request: &Req,
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
        let reply = match call.await {
            Err(status) if status.code() == tonic::Code::Unavailable => {
                return Err(unreachable(format!(
                    "node {} ({which}): {}",
                    self.target,
                    status.message()
                )));
            }
            Err(status) => return Err(RpcError::Network(NetworkError::new(&status))),
            Ok(reply) => reply.into_inner(),
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
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse, RpcError<RaftError>> {
        self.call("append", &rpc).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse, RpcError<RaftError<InstallSnapshotError>>> {
        self.call("snapshot", &rpc).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest,
        _option: RPCOption,
    ) -> Result<VoteResponse, RpcError<RaftError>> {
        self.call("vote", &rpc).await
    }

    /// After `Unreachable`, openraft waits these intervals between tries
    /// (until one succeeds). Starting short means a peer that was only
    /// restarting, or whose connection was reset, is caught up within tens
    /// of milliseconds; the cap keeps a dead peer from costing much.
    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::successors(Some(BACKOFF_FIRST), |d| {
            Some((*d * 2).min(BACKOFF_MAX))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callgrid_proto::internal::peer_server::{Peer, PeerServer};
    use callgrid_proto::internal::{
        DecideRequest, JoinRequest, JoinResponse, Payload, PingRequest, PingResponse,
    };
    use tonic::{Request, Response, Status};

    /// A peer that answers every append successfully, after `delay`.
    struct SlowPeer {
        delay: Duration,
    }

    #[tonic::async_trait]
    impl Peer for SlowPeer {
        async fn append_entries(&self, _: Request<Payload>) -> Result<Response<Payload>, Status> {
            tokio::time::sleep(self.delay).await;
            let ok: Result<AppendEntriesResponse, RaftError> = Ok(AppendEntriesResponse::Success);
            encode(&ok).map(Response::new)
        }
        async fn vote(&self, _: Request<Payload>) -> Result<Response<Payload>, Status> {
            Err(Status::unimplemented("vote"))
        }
        async fn install_snapshot(&self, _: Request<Payload>) -> Result<Response<Payload>, Status> {
            Err(Status::unimplemented("install_snapshot"))
        }
        async fn propose(&self, _: Request<Payload>) -> Result<Response<Payload>, Status> {
            Err(Status::unimplemented("propose"))
        }
        async fn decide(&self, _: Request<DecideRequest>) -> Result<Response<Payload>, Status> {
            Err(Status::unimplemented("decide"))
        }
        async fn join(&self, _: Request<JoinRequest>) -> Result<Response<JoinResponse>, Status> {
            Err(Status::unimplemented("join"))
        }
        async fn ping(&self, _: Request<PingRequest>) -> Result<Response<PingResponse>, Status> {
            Err(Status::unimplemented("ping"))
        }
    }

    fn heartbeat() -> AppendEntriesRequest {
        AppendEntriesRequest {
            vote: callgrid_raft::Vote::new_committed(1, 1),
            prev_log_id: None,
            leader_commit: None,
            entries: Vec::new(),
        }
    }

    async fn link_to(addr: &str) -> PeerLink {
        let mut network = PeerNetwork {
            peers: crate::peers::Peers::default(),
        };
        network.new_client(2, &BasicNode::new(addr)).await
    }

    #[tokio::test]
    async fn a_peer_slower_than_the_rpc_option_is_waited_for_not_called_unreachable() {
        let incoming = tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap())
            .expect("a loopback port");
        let addr = incoming.local_addr().expect("bound").to_string();
        let delay = Duration::from_millis(150);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(PeerServer::new(SlowPeer { delay }))
                .serve_with_incoming(incoming),
        );
        let mut link = link_to(&addr).await;
        // openraft's own deadline for this RPC is shorter than the peer's
        // delay; bounding the wait is openraft's job, not the link's.
        let option = RPCOption::new(Duration::from_millis(50));
        let reply = tokio::time::timeout(
            Duration::from_secs(10),
            link.append_entries(heartbeat(), option),
        )
        .await
        .expect("the slow peer answers within 10 s");
        assert!(
            matches!(reply, Ok(AppendEntriesResponse::Success)),
            "{reply:?}"
        );
    }

    #[tokio::test]
    async fn a_peer_nobody_listens_for_is_unreachable() {
        // Bound but never listening: the port stays ours for the test
        // (no parallel test can take it), and every connection is refused.
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().expect("an address"))
            .expect("a loopback port");
        let addr = socket.local_addr().expect("bound").to_string();
        let mut link = link_to(&addr).await;
        let reply = tokio::time::timeout(
            Duration::from_secs(10),
            link.append_entries(heartbeat(), RPCOption::new(Duration::from_secs(1))),
        )
        .await
        .expect("a refused connection fails within 10 s");
        assert!(matches!(reply, Err(RpcError::Unreachable(_))), "{reply:?}");
        drop(socket);
    }

    #[tokio::test]
    async fn backoff_from_an_unreachable_peer_starts_short_and_is_capped() {
        let link = link_to("127.0.0.1:1").await;
        let waits: Vec<Duration> = link.backoff().take(8).collect();
        assert_eq!(waits[0], BACKOFF_FIRST);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert_eq!(*waits.last().expect("eight waits"), BACKOFF_MAX);
    }
}
