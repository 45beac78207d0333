//! `callgrid`: the node binary.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use callgrid_node::config::{LogFormat, ServeArgs};

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
    Serve(ServeArgs),
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,openraft=warn,sled=warn"));
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
            let effective = match callgrid_node::settings::resolve(args, serve) {
                Ok(effective) => effective,
                Err(e) => {
                    eprintln!("callgrid: invalid configuration: {e}");
                    std::process::exit(1);
                }
            };
            if effective.args.check_config {
                print!("{}", effective.render());
                return Ok(());
            }
            init_logging(effective.args.log_format);
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            if let Some(threads) = effective.args.worker_threads {
                runtime.worker_threads(threads.into());
            }
            runtime
                .enable_all()
                .build()?
                .block_on(callgrid_node::run(effective.args, stop_signal()))
        }
    }
}
