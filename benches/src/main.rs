//! `callgrid-bench`: run one load scenario against a callgrid cluster.

use std::process::ExitCode;

use clap::Parser;

use callgrid_bench::cli::Cli;

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(callgrid_bench::scenario::run(cli))?;
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        // 2: the run finished but a check failed (a race with other than
        // one winner, a gRPC error, a lamp change that did not arrive).
        ExitCode::from(2)
    })
}
