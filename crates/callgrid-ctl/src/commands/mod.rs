//! One function per subcommand: build the request, make the call, print
//! the response. gRPC errors propagate to `main`, which prints them.

mod calls;
mod cluster;
mod directory;
mod park;
mod pickup;
mod presence;

use anyhow::Context as _;
use callgrid_client::{Client, Connection, Key, Route};
use tonic::transport::Endpoint;

use crate::cli::{Cli, Command};
use crate::output::Output;
use crate::retry::Retry;

/// What every subcommand needs: the cluster, the tenant, how to print,
/// and request ids for what it changes.
pub struct Ctx {
    /// The shard-aware client: a request about an extension, a call group
    /// or the park lot goes to the node that owns it (see `callgrid_client`,
    /// "Which key"); any other to `--server`.
    pub client: Client,
    pub tenant: String,
    pub out: Output,
    pub retry: Retry,
}

impl Ctx {
    /// The `--server` node, for requests no owner decides.
    pub fn any(&self) -> Connection {
        self.client.any()
    }

    /// Where a request about `key` goes: its owner first, any node for a
    /// retry. A key that is not valid (`None`) goes to `--server`, which
    /// refuses it by the field's name.
    pub fn route(&self, key: Option<Key>) -> Route {
        self.client.route(key.as_ref())
    }

    /// The tenant's extension `number`, as a key.
    pub fn extension(&self, number: &str) -> Option<Key> {
        Key::extension(&self.tenant, number).ok()
    }

    /// The tenant's park lot, as a key.
    pub fn park_lot(&self) -> Option<Key> {
        Key::park_lot(&self.tenant).ok()
    }
}

/// Connects to the cluster through `cli.server` and runs the subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    Endpoint::from_shared(cli.server.clone())
        .with_context(|| format!("--server {:?} is not a URI", cli.server))?;
    let mut builder = Client::builder();
    if let Some(ca) = &cli.ca {
        let pem =
            std::fs::read(ca).with_context(|| format!("--ca {}: cannot read", ca.display()))?;
        builder = builder.tls(pem, cli.tls_domain.clone());
    }
    if let Some(token) = &cli.token {
        builder = builder.token(token);
    }
    let client = builder.connect(&[&cli.server]).await.map_err(|e| match e {
        // Named by the flag that set it: `--token: ...`, `--tls-domain: ...`.
        callgrid_client::Error::Setting { field, why } => {
            anyhow::anyhow!("--{}: {why}", field.replace('_', "-"))
        }
        e => anyhow::Error::new(e).context(format!("cannot connect to {}", cli.server)),
    })?;
    let ctx = Ctx {
        client,
        tenant: cli.tenant,
        out: Output::new(cli.json),
        retry: Retry::new(cli.request_id, cli.retries),
    };
    match cli.command {
        Command::Tenant(c) => directory::tenant(&ctx, c).await,
        Command::Ext(c) => directory::ext(&ctx, c).await,
        Command::Callgroup(c) => directory::call_group(&ctx, c).await,
        Command::Policy(c) => directory::policy(&ctx, c).await,
        Command::Dial(args) => calls::dial(&ctx, args).await,
        Command::Answer { call, ext } => calls::answer(&ctx, call, ext).await,
        Command::Hangup {
            call,
            party,
            outside,
        } => calls::hangup(&ctx, call, party, outside).await,
        Command::Call(c) => calls::call(&ctx, c).await,
        Command::Pickup(c) => pickup::pickup(&ctx, c).await,
        Command::Park { call, by, code } => park::park(&ctx, call, by, code).await,
        Command::Retrieve { by, code } => park::retrieve(&ctx, by, code).await,
        Command::Parked => park::parked(&ctx).await,
        Command::Watch {
            exts,
            park_codes,
            watcher,
        } => presence::watch(&ctx, exts, park_codes, watcher).await,
        Command::Notifications { ext } => presence::notifications(&ctx, ext).await,
        Command::Cluster(c) => cluster::cluster(&ctx, c).await,
    }
}
