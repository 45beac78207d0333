//! One function per subcommand: build the request, make the call, print
//! the response. gRPC errors propagate to `main`, which prints them.

mod calls;
mod cluster;
mod directory;
mod park;
mod pickup;
mod presence;

use anyhow::Context as _;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::cli::{Cli, Command};
use crate::output::Output;
use crate::retry::Retry;

/// Adds the bearer token, if any, to every request.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        Ok(request)
    }
}

/// The connection every client shares: the channel, with the token added.
pub type Conn = InterceptedService<Channel, Bearer>;

/// What every subcommand needs: a connection, the tenant, how to print,
/// and request ids for what it changes.
pub struct Ctx {
    pub channel: Conn,
    pub tenant: String,
    pub out: Output,
    pub retry: Retry,
}

/// Connects to `cli.server` and runs the subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut endpoint = Endpoint::from_shared(cli.server.clone())
        .with_context(|| format!("--server {:?} is not a URI", cli.server))?;
    if let Some(ca) = &cli.ca {
        let pem =
            std::fs::read(ca).with_context(|| format!("--ca {}: cannot read", ca.display()))?;
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
        if let Some(domain) = &cli.tls_domain {
            tls = tls.domain_name(domain.clone());
        }
        endpoint = endpoint.tls_config(tls).context("--ca: TLS settings")?;
    }
    let token = match &cli.token {
        Some(t) => Some(
            format!("Bearer {t}")
                .parse::<MetadataValue<Ascii>>()
                .context("--token: must be printable ASCII")?,
        ),
        None => None,
    };
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("cannot connect to {}", cli.server))?;
    let ctx = Ctx {
        channel: InterceptedService::new(channel, Bearer(token)),
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
