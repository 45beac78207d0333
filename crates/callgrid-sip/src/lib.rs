//! callgrid-sip: the SIP edge. Desk phones and softphones register to it,
//! call each other, pick up (`*97<ext>`, `*98`, `88<name>`, a BLF key) and
//! watch lamps through it.
//!
//! The edge is a **client of the public `callgrid.v1` API** and nothing
//! else: it never reaches into Raft or the actors. A REGISTER is checked by
//! `Registrar.Authenticate` and stored by `Registrar.Register` (bindings
//! are cluster state, naming the edge that holds the phone's flow); an
//! INVITE is a `Calls.Dial` of its digits (feature codes included); a 200
//! OK from a ringing phone is a `Calls.Answer`; CANCEL and BYE are
//! `Calls.Hangup`. Which phones ring is callgrid's decision, learned from
//! each registered extension's `Presence.Notifications` stream: an alert
//! forks an INVITE to that extension's phones, a stopped alert cancels it.
//! A SUBSCRIBE to a lamp follows `Presence.WatchLamps`.
//!
//! Signalling only: the edge relays SDP and joins two offers where a pickup
//! meets a waiting caller ([`sdp`]); RTP flows phone to phone.
//!
//! # Layout
//! - [`edge`]: the SIP endpoint (UDP and TCP on one address), the incoming
//!   request loop, and dispatch by method.
//! - [`screen`]: every UDP datagram before the stack: malformed requests
//!   get 400 naming the header, oversized ones 513.
//! - [`guard`]: floods from one address, dropped before any work.
//! - [`digest`]: challenges and the digest answers handed to the cluster.
//! - [`dialog`]: the dialogs, one layer read top down (its own Layout):
//!   an INVITE ([`dialog::invite`]) or a hop from another edge
//!   ([`dialog::hop`]) at the top; BLF ([`dialog::blf`]), REGISTER and
//!   authentication ([`dialog::register`]), ringing calls
//!   ([`dialog::calls`]), answered and parked calls ([`dialog::park`]),
//!   hops sent to other edges ([`dialog::relay`]), and a call's legs
//!   ([`dialog::legs`]) at the bottom.
//! - [`outcomes`]: the one table from callgrid outcomes to SIP responses.
//! - [`sdp`]: answering one phone's offer from another's.
//! - [`cluster`]: the gRPC clients, with the edge's token.
//!
//! The edge must never decide who gets a call: every decision is the
//! cluster's, and the edge only carries it to the phones.

pub mod cluster;
pub mod dialog;
pub mod digest;
pub mod edge;
pub mod guard;
pub mod outcomes;
pub mod screen;
pub mod sdp;

pub use edge::{Edge, EdgeConfig};
