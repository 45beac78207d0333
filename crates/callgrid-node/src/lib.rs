//! The callgrid node: one process of the cluster. It serves the public gRPC
//! API, turns requests into Raft commands, runs the actors that own
//! extensions, call groups and park lots (serializing their decisions and
//! keeping their timers), fans applied events out to presence streams, and
//! exports metrics.
//!
//! The node never decides a call-control question itself: every decision is
//! `callgrid_model::Switchboard::apply` on a committed command. It never
//! touches sled (that is `callgrid-raft`).
//!
//! # Layout
//! A request goes down, and its answer back up, through:
//! - [`gate`] → [`api`]: the front door (span, auth, deadline) and the
//!   `callgrid.v1` services, which validate and build a command;
//! - [`actors`]: routing to the owner of the command's extension, call
//!   group or park lot (on this node or a peer), whose actor queues racing
//!   claims and keeps timers;
//! - [`consensus`]: batching proposals into Raft and reading the applied
//!   state; [`hub`] fans applied events out to presence streams.
//!
//! Around it: [`node`] starts, serves and stops a node; [`cluster`] carries
//! Raft between nodes, joins and places shards; [`settings`], [`config`]
//! and [`config_file`] say how a node is started; [`auth`], [`tls`] and
//! [`connections`] guard the ports; [`metrics`] exports them;
//! [`registrations`] drops lapsed SIP bindings; [`console`] serves the
//! browser console; [`clock`] and [`batched`] are small helpers.

pub mod actors;
pub mod api;
pub mod auth;
pub mod batched;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod config_file;
pub mod connections;
pub mod consensus;
pub mod console;
pub mod gate;
pub mod hub;
pub mod metrics;
pub mod node;
pub mod registrations;
pub mod settings;
pub mod tls;

pub use config::ServeArgs;
pub use node::{Node, run};
