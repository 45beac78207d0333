//! The public gRPC API of callgrid, package `callgrid.v1`: the code
//! generated from `proto/callgrid/v1/*.proto`, and the conversions between
//! its messages and the domain model in `callgrid-model`.
//!
//! Requests become model types only through [`convert`], which reuses the
//! model's validators and reports bad input as a
//! [`callgrid_model::ValidationError`] naming the proto field path
//! (`extension.pickup_groups`, `policy.code_start`), and applies the API's
//! documented defaults for absent fields.
//!
//! This crate must never decide anything: no call-control rule, no I/O, no
//! clock. A rule that is not a field's shape belongs in the model.
//!
//! # Layout
//! - [`v1`]: the generated messages, clients and servers of `callgrid.v1`;
//!   [`internal`]: the node-to-node service.
//! - [`convert`]: requests into model types, and model types into replies.
//! - [`retry`]: request ids and the two undecided answers a client retries.

pub mod convert;
pub mod retry;

/// The encoded `FileDescriptorSet` of every `callgrid.v1` file (and none of
/// the node-to-node service), for tonic-reflection, so `grpcurl` and
/// friends can explore a node's public API.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("callgrid_public_descriptor");

/// Generated messages, enums, clients (`*_client`) and servers (`*_server`).
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("callgrid.v1");
}

/// Node-to-node messages and the `Peer` service (not a public API).
#[allow(clippy::all, missing_docs)]
pub mod internal {
    tonic::include_proto!("callgrid.internal.v1");
}
