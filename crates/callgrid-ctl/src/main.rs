//! `callgridctl`: every callgrid API call from the command line.
//!
//! A thin client: it builds requests, prints responses, and never decides
//! anything a node should. Its exit status classes the outcome (done, not
//! permitted, not there, lost a race, ...; see `exit.rs`), so scripts can
//! tell success from refusal; a refused result is printed all the same, a
//! gRPC status on stderr.

//!
//! # Layout
//! `cli` parses the command line (clap types, no I/O); `commands` makes
//! one call per subcommand, to the owner of its key through the
//! shard-aware `callgrid_client`, with `retry` resending a mutating request
//! under its request id; `render` prints each message as text or JSON
//! through `output`; `exit` turns the outcome into the exit status.

mod cli;
mod commands;
mod exit;
mod output;
mod render;
mod retry;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A refused result has been printed with the response already.
            if !err.is::<exit::Refused>() {
                report(&err);
            }
            exit::Exit::of_error(&err).into()
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
