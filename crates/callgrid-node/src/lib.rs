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
//! A request goes one way down, and its answer back up, through:
//! - [`gate`] → [`api`]: the front door (span, auth, the request's one
//!   [`deadline`]) and the `callgrid.v1` services, which validate and
//!   build a command and take its typed outcome;
//! - [`route`]: the owner of the command (`callgrid_actors::owner_of`)
//!   and where it lives; a remote owner gets it over the `Peer` service;
//! - `callgrid_actors::Owners`: the owner's actor, where racers for one
//!   call or park code meet, one at a time, and timers live;
//! - [`consensus`]: batching proposals into Raft (forwarded to the leader
//!   over [`peers`], in [`wire`] encoding) and reading the applied state.
//!
//! Coming back: [`applied`] routes what the state machine applied — timers
//! to their owners, lamps and notices to [`hub`], which fans them out to
//! presence streams.
//!
//! Around it: [`node`] starts and stops a node, and [`serve`] assembles
//! its gRPC server; [`cluster`] carries Raft between nodes, joins and keeps
//! the shard map current; [`args`] are the flags, [`settings`] says where
//! each value comes from (flag, environment, file, default) and
//! [`config_file`] guards the file; [`auth`],
//! [`tls`] and [`connections`] guard the ports; [`metrics`] exports them;
//! [`registrations`] drops lapsed SIP bindings; [`console`] serves the
//! browser console; [`batched`] coalesces writes.
//!
//! No module imports one above it: `tests/tests/layering.rs` fails on any
//! cycle between them.

pub mod api;
pub mod applied;
pub mod args;
pub mod auth;
pub mod batched;
pub mod cluster;
pub mod config_file;
pub mod connections;
pub mod consensus;
pub mod console;
pub mod deadline;
pub mod gate;
pub mod hub;
pub mod metrics;
pub mod node;
pub mod peers;
pub mod registrations;
pub mod route;
pub mod serve;
pub mod settings;
pub mod tls;
pub mod wire;

pub use args::ServeArgs;
pub use node::run;
