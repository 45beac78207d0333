//! Many nodes, one cluster: Raft traffic between nodes, joining and
//! leaving, the failure detector, and routing each request to the node that
//! owns its shard.
//!
//! Everything that crosses nodes goes over the internal `Peer` gRPC service
//! (`proto/callgrid/internal/v1/peer.proto`), with postcard payloads.

mod membership;
mod network;
mod peers;
mod service;
mod shards;
mod wire;

pub use membership::{add_node, join, remove_node, voters_wanted};
pub use network::PeerNetwork;
pub use peers::{Peers, never_sent};
pub use service::PeerService;
pub use shards::{Placement, Router, hand_off_shards, place, run_shard_keeper};
pub use wire::{DecideReply, ProposeReply};
