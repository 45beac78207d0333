//! The callgrid node: one process of the cluster. It serves the public gRPC
//! API, turns requests into Raft commands, runs the actors that own
//! extensions, call groups and park lots (serializing their decisions and
//! keeping their timers), fans applied events out to presence streams, and
//! exports metrics.
//!
//! The node never decides a call-control question itself: every decision is
//! `callgrid_model::Switchboard::apply` on a committed command. It never
//! touches sled (that is `callgrid-raft`).

pub mod actors;
pub mod api;
pub mod auth;
pub mod batched;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod config_file;
pub mod connections;
pub mod console;
pub mod consensus;
pub mod gate;
pub mod hub;
pub mod metrics;
pub mod node;
pub mod registrations;
pub mod settings;
pub mod tls;

pub use config::ServeArgs;
pub use node::{Node, run};
