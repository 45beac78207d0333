//! A network for a cluster of one: every peer is unreachable.
//!
//! A single voter never needs to send an RPC, so this is enough to run a
//! standalone node. The real transport (tonic) lives in the node crate and
//! replaces this; storage modules never depend on either.

use openraft::BasicNode;
use openraft::error::{InstallSnapshotError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};

use crate::types::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    NodeId, RaftError, RpcError, TypeConfig, VoteRequest, VoteResponse,
};

/// Network factory for a single-node deployment.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNetwork;

/// The "connection" [`NoNetwork`] hands out: it fails every RPC with
/// `Unreachable`, which openraft treats as a peer to back off from.
#[derive(Debug, Clone, Copy)]
pub struct NoPeer {
    target: NodeId,
}

impl NoPeer {
    fn unreachable<E: std::error::Error>(&self) -> RpcError<E> {
        let e = std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            format!(
                "node {} is unreachable: this node runs without a network",
                self.target
            ),
        );
        RpcError::Unreachable(Unreachable::new(&e))
    }
}

impl RaftNetworkFactory<TypeConfig> for NoNetwork {
    type Network = NoPeer;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> NoPeer {
        NoPeer { target }
    }
}

impl RaftNetwork<TypeConfig> for NoPeer {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse, RpcError<RaftError>> {
        Err(self.unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse, RpcError<RaftError<InstallSnapshotError>>> {
        Err(self.unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest,
        _option: RPCOption,
    ) -> Result<VoteResponse, RpcError<RaftError>> {
        Err(self.unreachable())
    }
}
