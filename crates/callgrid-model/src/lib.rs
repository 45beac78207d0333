//! The callgrid domain, as DESIGN.md §1 describes it: tenants, extensions,
//! named and legacy pickup groups, call groups, park policies, calls and
//! their state machine, pickup eligibility, park-code allocation, the
//! feature-code parser, and SIP registrations and digest checks.
//!
//! This crate is pure: no tokio, no I/O, no clocks. Time and randomness
//! arrive inside [`Command`]s, so [`Switchboard::apply`] gives the same
//! answer on every node that applies the same log. It must never read the
//! wall clock, a random source, or anything outside its arguments.
//!
//! # Layout
//! - `ids`, `names`, `error`: identifiers and names, each parsed by one
//!   validator that names the field and the rule it broke.
//! - `directory`: tenants, extensions, call groups and park policies.
//! - `feature_codes`: the tenant's feature codes and the dial-string parser.
//! - `call`: a call and its state machine.
//! - `command`: the commands that change replicated state, and what
//!   applying each answers; `outcome`: the business outcomes in them.
//! - `switchboard`: the replicated state and its deterministic `apply`
//!   (dial, answer, pickups, park, retrieve, timers, registrar, presence
//!   events), one file per concern.
//! - `registration`, `sip`: SIP bindings and digest checks.
//! - `request`: the outcomes remembered per request id.
//! - `shards`: which node owns which extensions, call groups and park lots.

mod call;
mod command;
mod directory;
mod error;
mod feature_codes;
mod ids;
mod names;
mod outcome;
mod registration;
pub mod request;
mod shards;
mod sip;
mod switchboard;

pub use call::{Alert, AlertReason, AnswerHow, Call, CallState, EndReason, Hunt, LampState};
pub use command::{Applied, Command, Event, LampTarget, Notice, PickupKind, Response};
pub use directory::{
    AlertMode, CallGroup, CallGroupMember, CallGroupRouting, ExtensionRecord, ForwardTarget,
    Forwarding, ParkPolicy, PickupSelection, RingOrder, TenantConfig,
};
pub use error::ValidationError;
pub use feature_codes::{Dialed, FeatureCodes};
pub use ids::{
    CallId, Extension, LegacyGroupId, OutsideNumber, ParkCode, Party, PolicyName, TenantId,
};
pub use names::{GroupName, NameList, NameRule};
pub use outcome::{
    AnswerOutcome, CallOutcome, DialOutcome, DirectoryError, HangupOutcome, ParkOutcome,
    PickupOutcome, RetrieveOutcome,
};
pub use registration::{Binding, Bindings, Contact, Registration};
pub use request::{RequestId, RequestOutcomes, fingerprint};
pub use shards::{OwnerKey, SHARD_COUNT, Shard, ShardMap, shard_of};
pub use sip::{DigestAnswer, Qop, SipHa1};
pub use switchboard::{Contended, Switchboard, Tenant};
