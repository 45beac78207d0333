//! One function per subcommand: build the request, make the call, print
//! the response. gRPC errors propagate to `main`, which prints them.

mod calls;
mod cluster;
mod directory;
mod park;
mod pickup;
mod presence;

use anyhow::Context as _;
use tonic::transport::{Channel, Endpoint};

use crate::cli::{Cli, Command};
use crate::output::Output;

/// What every subcommand needs: a connection, the tenant, how to print.
pub struct Ctx {
    pub channel: Channel,
    pub tenant: String,
    pub out: Output,
}

/// Connects to `cli.server` and runs the subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let endpoint = Endpoint::from_shared(cli.server.clone())
        .with_context(|| format!("--server {:?} is not a URI", cli.server))?;
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("cannot connect to {}", cli.server))?;
    let ctx = Ctx {
        channel,
        tenant: cli.tenant,
        out: Output::new(cli.json),
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
