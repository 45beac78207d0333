//! The openraft type configuration and the aliases the rest of callgrid
//! uses, so no other crate spells out openraft's generic parameters.

use std::io::Cursor;

use callgrid_model::{Command, Response};
use openraft::BasicNode;

openraft::declare_raft_types!(
    /// callgrid's Raft: the log carries [`Command`]s, applying one answers a
    /// [`Response`], and a snapshot is the postcard bytes of the switchboard
    /// held in memory (it is small enough to ship whole).
    pub TypeConfig:
        D = Command,
        R = Response,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A cluster member's Raft id. Stable for the life of a data directory.
pub type NodeId = u64;

/// A running Raft node replicating callgrid's switchboard.
pub type CallgridRaft = openraft::Raft<TypeConfig>;

pub type LogId = openraft::LogId<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type Vote = openraft::Vote<NodeId>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, BasicNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, BasicNode>;
pub type RaftMetrics = openraft::RaftMetrics<NodeId, BasicNode>;

/// The error openraft expects from storage; returning it stops the node,
/// because a store that cannot read or write its log cannot vote safely.
pub type StorageError = openraft::StorageError<NodeId>;

pub type RaftError<E = openraft::error::Infallible> = openraft::error::RaftError<NodeId, E>;
pub type Fatal = openraft::error::Fatal<NodeId>;
pub type ClientWriteError = openraft::error::ClientWriteError<NodeId, BasicNode>;
pub type ClientWriteResponse = openraft::raft::ClientWriteResponse<TypeConfig>;
/// What `client_write` returns: `Err(RaftError::APIError(ForwardToLeader))`
/// tells the caller which node to retry on.
pub type ClientWriteResult = Result<ClientWriteResponse, RaftError<ClientWriteError>>;
pub type ForwardToLeader = openraft::error::ForwardToLeader<NodeId, BasicNode>;
pub type InitializeError = openraft::error::InitializeError<NodeId, BasicNode>;
pub type CheckIsLeaderError = openraft::error::CheckIsLeaderError<NodeId, BasicNode>;

/// RPC shapes the cluster transport carries between nodes.
pub type RpcError<E = openraft::error::Infallible> =
    openraft::error::RPCError<NodeId, BasicNode, E>;
pub type AppendEntriesRequest = openraft::raft::AppendEntriesRequest<TypeConfig>;
pub type AppendEntriesResponse = openraft::raft::AppendEntriesResponse<NodeId>;
pub type VoteRequest = openraft::raft::VoteRequest<NodeId>;
pub type VoteResponse = openraft::raft::VoteResponse<NodeId>;
pub type InstallSnapshotRequest = openraft::raft::InstallSnapshotRequest<TypeConfig>;
pub type InstallSnapshotResponse = openraft::raft::InstallSnapshotResponse<NodeId>;
pub type InstallSnapshotError = openraft::error::InstallSnapshotError;
