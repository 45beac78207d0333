//! The typed commands that change replicated state, their responses, and
//! the events applying them produces.
//!
//! Every write in callgrid is one of these, committed through Raft and
//! applied by [`crate::Switchboard::apply`] in log order on every node.
//! Commands carry the proposer's clock (`now_ms`) and randomness, so apply
//! is deterministic.

use serde::{Deserialize, Serialize};

use crate::{
    AlertMode, AlertReason, AnswerHow, AnswerOutcome, Binding, CallGroup, CallId, DialOutcome,
    DirectoryError, Extension, ExtensionRecord, GroupName, HangupOutcome, LampState, ParkCode,
    ParkOutcome, ParkPolicy, Party, PickupOutcome, PolicyName, Registration, RequestId,
    RetrieveOutcome, ShardMap, TenantConfig, TenantId,
};

/// Which pickup the picker asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PickupKind {
    /// `*97<ext>`; `None` when the dialled target was not an extension number.
    Directed(Option<Extension>),
    /// `*98`.
    Group,
    /// `88<name>`.
    Named(GroupName),
    /// From a BLF key watching `target`; `call` is the call the lamp showed, if any.
    Blf {
        target: Extension,
        call: Option<CallId>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Changes nothing; the bare Raft write used as a benchmark baseline.
    Noop,
    /// Several commands in one log entry, applied in order as if each had
    /// its own entry: how a busy node turns many proposals into one commit.
    Batch(Vec<Command>),
    /// Scales every call timer (ring, hunt, park ring-back) by
    /// `parts_per_million / 1e6`. A test setting; validation ranges stay as specified.
    SetTimerScale {
        parts_per_million: u32,
    },
    /// `cmd`, at most once per (`tenant`, `request`): applied and its
    /// response remembered the first time; every later copy answers the
    /// remembered response and changes nothing. `fingerprint` says what
    /// the request asked, so an id reused for another request is refused
    /// ([`Response::RequestReused`]) instead of answered with another
    /// request's outcome.
    Once {
        tenant: TenantId,
        request: RequestId,
        fingerprint: u64,
        cmd: Box<Command>,
    },
    /// Moves shards between nodes. Applied only if `map.epoch` is the next
    /// epoch, so two leaders' concurrent proposals cannot both take effect.
    SetShardMap {
        map: ShardMap,
    },

    PutTenant {
        tenant: TenantId,
        config: TenantConfig,
    },
    DeleteTenant {
        tenant: TenantId,
    },
    /// Stores `record` as given, except that with `keep_sip_secret` the
    /// extension keeps the SIP secret it has (an edit that does not mention
    /// the password leaves it alone).
    PutExtension {
        tenant: TenantId,
        record: ExtensionRecord,
        keep_sip_secret: bool,
    },
    DeleteExtension {
        tenant: TenantId,
        number: Extension,
    },
    SetOnline {
        tenant: TenantId,
        number: Extension,
        online: bool,
    },
    PutCallGroup {
        tenant: TenantId,
        group: CallGroup,
    },
    DeleteCallGroup {
        tenant: TenantId,
        owner: Extension,
    },
    PutParkPolicy {
        tenant: TenantId,
        policy: ParkPolicy,
    },
    DeleteParkPolicy {
        tenant: TenantId,
        name: PolicyName,
    },
    GrantParkPolicy {
        tenant: TenantId,
        number: Extension,
        policy: Option<PolicyName>,
    },

    /// Dial `digits` from `from`: an ordinary call or a feature code.
    Dial {
        tenant: TenantId,
        from: Party,
        digits: String,
        now_ms: u64,
        random: u64,
    },
    Answer {
        tenant: TenantId,
        call: CallId,
        by: Extension,
        now_ms: u64,
    },
    /// `by` hangs up (or, while ringing, the caller cancels).
    Hangup {
        tenant: TenantId,
        call: CallId,
        by: Party,
        now_ms: u64,
    },
    Pickup {
        tenant: TenantId,
        picker: Extension,
        kind: PickupKind,
        now_ms: u64,
        random: u64,
    },
    Park {
        tenant: TenantId,
        call: CallId,
        by: Extension,
        code: Option<ParkCode>,
        now_ms: u64,
    },
    Retrieve {
        tenant: TenantId,
        by: Extension,
        code: ParkCode,
        now_ms: u64,
    },
    /// Time passed: apply whatever of `call`'s deadlines are due at `now_ms`.
    Tick {
        call: CallId,
        now_ms: u64,
    },
    /// Adds, refreshes or removes one SIP binding of `extension`, which
    /// must have a SIP secret; lapsed bindings are dropped at `now_ms`.
    Register {
        tenant: TenantId,
        extension: Extension,
        registration: Registration,
        now_ms: u64,
    },
}

impl Command {
    /// Wraps `cmd` so that it takes effect at most once per request id.
    pub fn once(request: RequestId, fingerprint: u64, cmd: Command) -> Command {
        match cmd.tenant().cloned() {
            Some(tenant) => Command::Once {
                tenant,
                request,
                fingerprint,
                cmd: Box::new(cmd),
            },
            // Cluster housekeeping has no tenant to remember it under.
            None => cmd,
        }
    }

    /// The command itself, without its request id.
    pub fn inner(&self) -> &Command {
        match self {
            Command::Once { cmd, .. } => cmd.inner(),
            other => other,
        }
    }

    /// True when committing this command twice has the effect of
    /// committing it once: every part of it carries a request id.
    pub fn is_idempotent(&self) -> bool {
        match self {
            Command::Once { .. } | Command::Noop => true,
            Command::Batch(cmds) => cmds.iter().all(Command::is_idempotent),
            _ => false,
        }
    }

    /// The tenant a command concerns, for tracing and metrics.
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Command::Noop
            | Command::Batch(_)
            | Command::SetTimerScale { .. }
            | Command::SetShardMap { .. }
            | Command::Tick { .. } => None,
            Command::Once { tenant, .. }
            | Command::PutTenant { tenant, .. }
            | Command::DeleteTenant { tenant }
            | Command::PutExtension { tenant, .. }
            | Command::DeleteExtension { tenant, .. }
            | Command::SetOnline { tenant, .. }
            | Command::PutCallGroup { tenant, .. }
            | Command::DeleteCallGroup { tenant, .. }
            | Command::PutParkPolicy { tenant, .. }
            | Command::DeleteParkPolicy { tenant, .. }
            | Command::GrantParkPolicy { tenant, .. }
            | Command::Dial { tenant, .. }
            | Command::Answer { tenant, .. }
            | Command::Hangup { tenant, .. }
            | Command::Pickup { tenant, .. }
            | Command::Park { tenant, .. }
            | Command::Retrieve { tenant, .. }
            | Command::Register { tenant, .. } => Some(tenant),
        }
    }

    /// A short name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::Noop => "noop",
            Command::Batch(_) => "batch",
            Command::Once { cmd, .. } => cmd.kind(),
            Command::SetTimerScale { .. } => "set_timer_scale",
            Command::SetShardMap { .. } => "set_shard_map",
            Command::PutTenant { .. } => "put_tenant",
            Command::DeleteTenant { .. } => "delete_tenant",
            Command::PutExtension { .. } => "put_extension",
            Command::DeleteExtension { .. } => "delete_extension",
            Command::SetOnline { .. } => "set_online",
            Command::PutCallGroup { .. } => "put_call_group",
            Command::DeleteCallGroup { .. } => "delete_call_group",
            Command::PutParkPolicy { .. } => "put_park_policy",
            Command::DeleteParkPolicy { .. } => "delete_park_policy",
            Command::GrantParkPolicy { .. } => "grant_park_policy",
            Command::Dial { .. } => "dial",
            Command::Answer { .. } => "answer",
            Command::Hangup { .. } => "hangup",
            Command::Pickup { .. } => "pickup",
            Command::Park { .. } => "park",
            Command::Retrieve { .. } => "retrieve",
            Command::Tick { .. } => "tick",
            Command::Register { .. } => "register",
        }
    }
}

/// What applying a command answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Commands with nothing to say (no-op, membership, tick).
    #[default]
    Done,
    Directory(Result<(), DirectoryError>),
    Dial(DialOutcome),
    Answer(AnswerOutcome),
    Hangup(HangupOutcome),
    Pickup(PickupOutcome),
    Park(ParkOutcome),
    Retrieve(RetrieveOutcome),
    /// The extension's live bindings after a [`Command::Register`].
    Register(Result<Vec<Binding>, DirectoryError>),
    /// One response per command of a [`Command::Batch`], in order.
    Batch(Vec<Response>),
    /// A [`Command::Once`] whose request id the tenant already used for a
    /// different request: nothing was changed.
    RequestReused,
}

/// What a BLF lamp shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LampTarget {
    Extension(Extension),
    ParkCode(ParkCode),
}

/// A notice for one extension's notification stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notice {
    /// Start alerting: a call rings this extension (or a call-group member).
    Alert {
        call: CallId,
        caller: Party,
        callee: Extension,
        mode: AlertMode,
        reason: AlertReason,
    },
    /// Stop alerting: the call was answered by `answered_by`, or ended.
    AlertStopped {
        call: CallId,
        answered_by: Option<Extension>,
    },
    /// The original callee missed the call; `answered_by` took it, if anyone did.
    MissedCall {
        call: CallId,
        caller: Party,
        answered_by: Option<Extension>,
        how: Option<AnswerHow>,
    },
    /// The parked call on `code` is ringing back to its parker.
    ParkRingBack { call: CallId, code: ParkCode },
}

/// Something that happened while applying a command, for the node to act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    Lamp {
        tenant: TenantId,
        target: LampTarget,
        state: LampState,
        call: Option<CallId>,
        caller: Option<Party>,
    },
    Notice {
        tenant: TenantId,
        extension: Extension,
        notice: Notice,
    },
    /// `call` must be ticked at `at_ms` (a later deadline replaces an earlier one).
    Deadline {
        tenant: TenantId,
        call: CallId,
        at_ms: u64,
    },
    /// A new shard map took effect: owners rebuild their actors and timers.
    ShardsMoved { epoch: u64 },
}

/// The result of applying one command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub response: Response,
    pub events: Vec<Event>,
}
