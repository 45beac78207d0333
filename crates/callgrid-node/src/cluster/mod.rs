//! Many nodes, one cluster: Raft traffic between nodes, joining and
//! leaving, and the failure detector that moves shards.
//!
//! Everything that crosses nodes goes over the internal `Peer` gRPC service
//! (`proto/callgrid/internal/v1/peer.proto`), with postcard payloads
//! ([`crate::wire`]) on connections from [`crate::peers`].

mod keeper;
mod membership;
mod network;
mod service;

pub use keeper::{hand_off_shards, run_shard_keeper};
pub use membership::{add_node, join, remove_node, voters_wanted};
pub use network::PeerNetwork;
pub use service::PeerService;
