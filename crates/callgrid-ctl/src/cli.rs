//! The command line, as clap types. Parsing only: nothing here talks to a node.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Every callgrid API call from the command line.
///
/// Business outcomes (already_answered, unknown_code, ...) are printed, and
/// the exit status says which class of refusal each is (the table below);
/// a request the node refuses with a gRPC status (bad input, missing
/// record, no quorum) prints the status on stderr and exits by its class.
#[derive(Debug, Parser)]
#[command(name = "callgridctl", version, about, long_about, after_help = crate::exit::TABLE)]
pub struct Cli {
    /// A node of the cluster. callgridctl asks it for the members and the
    /// shard map and sends each request to the node that owns its
    /// extension or park lot; anything else (and everything, when the token
    /// may not read the map) to this node, which forwards as needed.
    #[arg(
        long,
        global = true,
        env = "CALLGRID_SERVER",
        default_value = "http://127.0.0.1:7700"
    )]
    pub server: String,

    /// The tenant every tenant-scoped request is made in.
    #[arg(
        long,
        global = true,
        env = "CALLGRID_TENANT",
        default_value = "default"
    )]
    pub tenant: String,

    /// Print one JSON object per response or stream event instead of a line of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Bearer token for a node that requires one (sent as `authorization: Bearer <token>`).
    #[arg(long, global = true, env = "CALLGRID_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// PEM file of the CA that signed the node's certificate: connect with
    /// TLS (use an `https://` server address).
    #[arg(long, global = true, env = "CALLGRID_CA")]
    pub ca: Option<std::path::PathBuf>,

    /// The name every node's certificate is checked against (default: the
    /// host each node is dialled by: --server's, or the address a member
    /// advertises).
    #[arg(long, global = true, env = "CALLGRID_TLS_DOMAIN")]
    pub tls_domain: Option<String>,

    /// The request id of the (first) request that changes something; a
    /// further one in the same run gets `<id>.2`, `<id>.3`, ... Default: a
    /// new id per run. Run a command again with the id an undecided
    /// answer named to learn what became of it, without a second effect.
    #[arg(long, global = true, env = "CALLGRID_REQUEST_ID")]
    pub request_id: Option<String>,

    /// How many times a request that changes something is sent again,
    /// with the same request id, while the answer is UNAVAILABLE or
    /// DEADLINE_EXCEEDED.
    #[arg(long, global = true, default_value_t = 3)]
    pub retries: u32,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Tenants: create, read, list, delete.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Extensions: create or replace, read, list, delete, set online.
    #[command(subcommand)]
    Ext(ExtCommand),
    /// Call groups (call sharing), owned by one extension.
    #[command(subcommand)]
    Callgroup(CallGroupCommand),
    /// Park policies and who holds them.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Dial digits from a phone: an extension or a feature code (`*97102`, `*98`, `88sales`, `*7142`).
    Dial(DialArgs),
    /// An alerted extension answers a ringing call.
    Answer {
        /// The call id.
        call: u64,
        /// The answering extension.
        ext: String,
    },
    /// A party (the caller or the answerer) hangs up.
    Hangup {
        /// The call id.
        call: u64,
        /// Who hangs up: an extension, or an outside number starting with `+`.
        party: String,
        /// Treat PARTY as an outside number even without a leading `+`.
        #[arg(long)]
        outside: bool,
    },
    /// Calls: read one, list all.
    #[command(subcommand)]
    Call(CallCommand),
    /// Pick up a call ringing elsewhere.
    #[command(subcommand)]
    Pickup(PickupCommand),
    /// Park an answered call; prints the retrieval code.
    Park {
        /// The call id.
        call: u64,
        /// The parking extension (the call's answerer).
        by: String,
        /// Ask for this code instead of the lowest free one.
        #[arg(long)]
        code: Option<u32>,
    },
    /// Retrieve a parked call by its code.
    Retrieve {
        /// The retrieving extension.
        by: String,
        /// The park code.
        code: u32,
    },
    /// List the tenant's parked calls.
    Parked,
    /// Watch BLF lamps live until Ctrl-C: the current states first, then every change.
    Watch {
        /// Extensions whose lamps to watch.
        exts: Vec<String>,
        /// A park code whose lamp to watch (repeatable).
        #[arg(long = "park-code", value_name = "CODE")]
        park_codes: Vec<u32>,
        /// Watch as this extension (callers are shown only where it may see them).
        #[arg(long = "as", value_name = "WATCHER")]
        watcher: Option<String>,
    },
    /// Follow an extension's notifications live until Ctrl-C.
    Notifications {
        /// The extension.
        ext: String,
    },
    /// The cluster as one node sees it.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create the tenant (--tenant) or replace its settings; unset flags take the defaults.
    Put(TenantPutArgs),
    /// Show the tenant's settings.
    Get,
    /// List every tenant.
    List,
    /// Delete the tenant and everything in it.
    Delete,
}

#[derive(Debug, Args)]
pub struct TenantPutArgs {
    /// Call groups allowed in the tenant (1-32768; default 32768).
    #[arg(long)]
    pub max_call_groups: Option<u32>,
    /// Members allowed per call group (1-5; default 5).
    #[arg(long)]
    pub max_call_group_members: Option<u32>,
    /// Directed pickup feature code (default `*97`).
    #[arg(long, value_name = "CODE")]
    pub directed_pickup_code: Option<String>,
    /// Group pickup feature code (default `*98`).
    #[arg(long, value_name = "CODE")]
    pub group_pickup_code: Option<String>,
    /// Named-group pickup feature code (default `88`).
    #[arg(long, value_name = "CODE")]
    pub named_pickup_code: Option<String>,
    /// Retrieve feature code (default `*71`).
    #[arg(long, value_name = "CODE")]
    pub retrieve_code: Option<String>,
    /// Park feature code: the transfer target that parks a call (default `*70`).
    #[arg(long, value_name = "CODE")]
    pub park_code: Option<String>,
    /// How group pickup chooses among ringing calls (default oldest).
    #[arg(long, value_enum)]
    pub pickup_selection: Option<PickupSelectionArg>,
    /// Seconds an unanswered call rings (5-600; default 30).
    #[arg(long, value_name = "SECS")]
    pub ring_timeout: Option<u32>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PickupSelectionArg {
    Oldest,
    Random,
}

#[derive(Debug, Subcommand)]
pub enum ExtCommand {
    /// Create or replace an extension; unset flags take the defaults.
    Put(Box<ExtPutArgs>),
    /// Show one extension.
    Get {
        /// The extension number.
        number: String,
    },
    /// List the tenant's extensions.
    List,
    /// Delete an extension.
    Delete {
        /// The extension number.
        number: String,
    },
    /// Mark an extension's endpoint registered (true) or offline (false).
    Online {
        /// The extension number.
        number: String,
        /// true or false.
        #[arg(action = clap::ArgAction::Set)]
        online: bool,
    },
}

#[derive(Debug, Args)]
pub struct ExtPutArgs {
    /// The extension number (digits).
    pub number: String,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Not voice-enabled (cannot be in a call group or park).
    #[arg(long)]
    pub no_voice: bool,
    /// May not use directed or BLF pickup.
    #[arg(long)]
    pub no_directed_pickup: bool,
    /// May not use group or named-group pickup.
    #[arg(long)]
    pub no_group_pickup: bool,
    /// Grant this park policy.
    #[arg(long, value_name = "POLICY")]
    pub park_policy: Option<String>,
    /// Named pickup groups, comma-separated.
    #[arg(long, value_name = "NAMES")]
    pub pickup_groups: Option<String>,
    /// Named call groups, comma-separated.
    #[arg(long, value_name = "NAMES")]
    pub call_groups: Option<String>,
    /// Legacy pickup groups, comma-separated (`*98` searches them all alike).
    #[arg(long, value_name = "GROUPS", value_delimiter = ',')]
    pub legacy_groups: Vec<String>,
    /// Forward every call to TARGET (an extension, or `callgroup` for the own call group).
    #[arg(long, value_name = "TARGET")]
    pub forward_always: Option<String>,
    /// Forward when busy to TARGET.
    #[arg(long, value_name = "TARGET")]
    pub forward_busy: Option<String>,
    /// Forward on no answer to TARGET.
    #[arg(long, value_name = "TARGET")]
    pub forward_no_answer: Option<String>,
    /// Seconds of ringing before forwarding on no answer (5-600; default 20).
    #[arg(long, value_name = "SECS", requires = "forward_no_answer")]
    pub no_answer_secs: Option<u32>,
    /// Store the extension offline (unregistered).
    #[arg(long)]
    pub offline: bool,
    /// The SIP password its phone registers with (8-128 printable
    /// characters; stored only as its digest hash; "" disables SIP). Absent:
    /// the stored one is kept.
    #[arg(long, value_name = "SECRET")]
    pub sip_password: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CallGroupCommand {
    /// Create or replace the call group OWNER owns.
    Put(CallGroupPutArgs),
    /// Show the call group OWNER owns.
    Get {
        /// The owning extension.
        owner: String,
    },
    /// Delete the call group OWNER owns.
    Delete {
        /// The owning extension.
        owner: String,
    },
}

#[derive(Debug, Args)]
pub struct CallGroupPutArgs {
    /// The owning extension.
    pub owner: String,
    /// A member as EXT[:ring|visual|banner[:DELAY_SECS]], in order (repeatable).
    #[arg(long = "member", value_name = "EXT[:MODE[:DELAY]]")]
    pub members: Vec<String>,
    /// What the owner's calls do (default simultaneous).
    #[arg(long, value_enum)]
    pub routing: Option<RoutingArg>,
    /// Seconds each member rings with forward-in-order (5-120; default 20).
    #[arg(long, value_name = "SECS")]
    pub ring_secs: Option<u32>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoutingArg {
    /// Ring the owner and the members together.
    Simultaneous,
    /// Forward to all members at once, not ringing the owner.
    ForwardAll,
    /// Forward to one member at a time, in order.
    ForwardInOrder,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Create or replace a park policy; unset flags take the defaults.
    Put(PolicyPutArgs),
    /// Show one park policy.
    Get {
        /// The policy name.
        name: String,
    },
    /// List the tenant's park policies.
    List,
    /// Delete a park policy.
    Delete {
        /// The policy name.
        name: String,
    },
    /// Grant a park policy to an extension.
    Grant {
        /// The extension number.
        ext: String,
        /// The policy name.
        policy: String,
    },
    /// Revoke an extension's park policy.
    Revoke {
        /// The extension number.
        ext: String,
    },
}

#[derive(Debug, Args)]
pub struct PolicyPutArgs {
    /// The policy name.
    pub name: String,
    /// Lowest park code (10-9999; default 10).
    #[arg(long)]
    pub start: Option<u32>,
    /// Highest park code (10-9999; default 99).
    #[arg(long)]
    pub end: Option<u32>,
    /// Seconds before a parked call rings back (120-1800; default 300).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u32>,
    /// Holders may retrieve but not park.
    #[arg(long)]
    pub no_parking: bool,
}

#[derive(Debug, Args)]
pub struct DialArgs {
    /// FROM (an extension) and DIGITS; with --outside, DIGITS only.
    #[arg(value_name = "FROM DIGITS", num_args = 1..=2, required = true)]
    pub args: Vec<String>,
    /// Dial from this outside number instead of an extension.
    #[arg(long, value_name = "NUMBER")]
    pub outside: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CallCommand {
    /// Show one call.
    Get {
        /// The call id.
        id: u64,
    },
    /// List the tenant's calls.
    List,
}

#[derive(Debug, Subcommand)]
pub enum PickupCommand {
    /// Directed pickup (`*97<ext>`): take the call ringing on TARGET.
    Directed {
        /// The picking extension.
        picker: String,
        /// The extension whose call to take.
        target: String,
    },
    /// Group pickup (`*98`): take the call ringing longest in the picker's groups.
    Group {
        /// The picking extension.
        picker: String,
    },
    /// Named-group pickup (`88<name>`): take a call of group NAME.
    Named {
        /// The picking extension.
        picker: String,
        /// The named call group.
        name: String,
    },
    /// BLF pickup: directed pickup from a phone watching TARGET's lamp.
    Blf {
        /// The picking extension.
        picker: String,
        /// The watched extension.
        target: String,
        /// Only the call the lamp showed.
        #[arg(long = "call", value_name = "ID")]
        call_id: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Leader, term, log progress, shard epoch and members, as the node sees them.
    Status,
    /// Add a started node (its own --node-id and data directory) to the cluster.
    Add {
        /// The new node's Raft id.
        node_id: u64,
        /// Where the other nodes reach it (host:port).
        addr: String,
    },
    /// Hand a node's shards to the others, then remove it from the cluster.
    Remove {
        /// The node's Raft id.
        node_id: u64,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "callgridctl",
            "pickup",
            "directed",
            "101",
            "102",
            "--tenant",
            "acme",
            "--json",
        ])
        .unwrap();
        assert_eq!(cli.tenant, "acme");
        assert!(cli.json);
    }

    #[test]
    fn dial_takes_from_and_digits() {
        let cli = Cli::try_parse_from(["callgridctl", "dial", "101", "*97102"]).unwrap();
        let Command::Dial(d) = cli.command else {
            panic!("not dial")
        };
        assert_eq!(d.args, ["101", "*97102"]);
        let cli = Cli::try_parse_from(["callgridctl", "dial", "--outside", "+15551234", "101"]);
        assert!(cli.is_ok());
    }

    #[test]
    fn ext_online_takes_a_bool() {
        let cli = Cli::try_parse_from(["callgridctl", "ext", "online", "101", "false"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Ext(ExtCommand::Online { online: false, .. })
        ));
    }
}
