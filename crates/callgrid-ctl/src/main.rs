//! `callgridctl`: every callgrid API call from the command line.
//!
//! A thin client: it builds requests, prints responses, and never decides
//! anything a node should. Business outcomes exit 0; refused requests print
//! the gRPC status on stderr and exit 1.

mod cli;
mod commands;
mod output;
mod render;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(&err);
            ExitCode::FAILURE
        }
    }
}

/// Prints an error on stderr: a gRPC status as its code and message (the
/// message names the field and rule for bad input), anything else with its causes.
fn report(err: &anyhow::Error) {
    if let Some(status) = err.downcast_ref::<tonic::Status>() {
        eprintln!("callgridctl: {:?}: {}", status.code(), status.message());
    } else {
        eprintln!("callgridctl: {err:#}");
    }
}
