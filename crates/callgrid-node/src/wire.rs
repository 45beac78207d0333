//! Encoding Rust values into `Payload` bytes and back.

use callgrid_model::Response;

use callgrid_actors::DecideError;
use callgrid_proto::internal::Payload;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tonic::Status;

pub fn encode<T: Serialize>(value: &T) -> Result<Payload, Status> {
    postcard::to_allocvec(value)
        .map(|data| Payload { data })
        .map_err(|e| Status::internal(format!("encoding a peer message: {e}")))
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Status> {
    postcard::from_bytes(bytes)
        .map_err(|e| Status::invalid_argument(format!("decoding a peer message: {e}")))
}

/// The leader's answer to a forwarded proposal.
#[derive(Debug, Serialize, Deserialize)]
pub enum ProposeReply {
    /// Committed and applied on the leader at this log index.
    Committed(Response, u64),
    /// The receiver is not the leader either; here is who it thinks is.
    NotLeader(Option<u64>),
    /// Not committed: certainly not, or not known (the error says which).
    Failed(DecideError),
}

/// A shard owner's answer to a routed command.
#[derive(Debug, Serialize, Deserialize)]
pub enum DecideReply {
    /// Decided; the owner had applied up to this log index.
    Decided(Response, u64),
    /// The sender routed by an older shard map than the owner's.
    StaleEpoch { owner_epoch: u64 },
    /// At the sender's epoch, the receiver does not own the command's
    /// owner. Either the sender's map is behind (a new epoch is coming), or
    /// the command's owner changed with state the sender has not applied
    /// yet (a call parked meanwhile moves to its park lot): the receiver
    /// had applied up to this log index.
    NotOwner { applied: u64 },
    /// Not decided: certainly not, or not known (the error says which).
    Failed(DecideError),
}
