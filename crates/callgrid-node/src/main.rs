//! `callgrid`: the node binary.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use callgrid_node::args::{LogFormat, ServeArgs};

/// callgrid: distributed call control (pickup, call groups, park).
#[derive(Debug, Parser)]
#[command(name = "callgrid", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node. With no flags: a single-node cluster on 127.0.0.1:7700,
    /// metrics on 127.0.0.1:9700, data in ./callgrid-data.
    Serve(Box<ServeArgs>),
    /// Run a standalone SIP edge in front of a cluster (an edge tier for
    /// large clusters, or for a secure one): phones register to it; it is a
    /// client of the cluster's public gRPC API.
    Sip(SipArgs),
}

#[derive(Debug, clap::Args)]
struct SipArgs {
    /// SIP listen address, UDP and TCP.
    #[arg(long, env = "CALLGRID_SIP_LISTEN", default_value = "127.0.0.1:5060")]
    listen: std::net::SocketAddr,
    /// Any node of the cluster: http://host:port, or https://host:port with --ca.
    #[arg(long, env = "CALLGRID_SIP_CLUSTER")]
    cluster: String,
    /// Bearer token (a tenant admin's or the cluster admin's) when the
    /// cluster has tokens. Prefer the environment variable: command lines
    /// are visible to other users.
    #[arg(long, env = "CALLGRID_SIP_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The CA (PEM) that signed the cluster's certificates, for https.
    #[arg(long, env = "CALLGRID_SIP_CA")]
    ca: Option<std::path::PathBuf>,
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,openraft=warn,sled=warn,rsipstack=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler succeeds on unix");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn main() -> anyhow::Result<()> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Serve(args) => {
            // Flags and environment, then the config file under them.
            let serve = matches
                .subcommand_matches("serve")
                .expect("the serve subcommand matched");
            let effective = match callgrid_node::settings::resolve(*args, serve) {
                Ok(effective) => effective,
                Err(e) => {
                    eprintln!("callgrid: invalid configuration: {e}");
                    std::process::exit(1);
                }
            };
            if effective.args.check_config {
                for warning in effective.warnings() {
                    eprintln!("callgrid: warning: {warning}");
                }
                print!("{}", effective.render());
                return Ok(());
            }
            init_logging(effective.args.log_format);
            for warning in effective.warnings() {
                tracing::warn!("{warning}");
            }
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            if let Some(threads) = effective.args.worker_threads {
                runtime.worker_threads(threads.into());
            }
            runtime
                .enable_all()
                .build()?
                .block_on(callgrid_node::run(effective.args, stop_signal()))
        }
        Command::Sip(args) => {
            init_logging(LogFormat::Text);
            let ca =
                match &args.ca {
                    Some(path) => Some(std::fs::read(path).map_err(|e| {
                        anyhow::anyhow!("--ca {}: cannot read: {e}", path.display())
                    })?),
                    None => None,
                };
            let config = callgrid_sip::EdgeConfig {
                listen: args.listen,
                cluster: args.cluster,
                token: args.token,
                ca,
            };
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(async {
                    let edge = callgrid_sip::Edge::bind(config).await?;
                    edge.run(stop_signal()).await
                })
        }
    }
}
