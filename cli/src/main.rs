//! `loglift`: the command line over the same handlers the Lambda functions run — spec checks,
//! local runs, invokes, redrive and replay. This file only parses arguments and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod spec_cmd;

/// loglift: serverless event-log ETL into Redshift, exactly once.
#[derive(Debug, Parser)]
#[command(name = "loglift", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check and inspect pipeline spec files.
    #[command(subcommand)]
    Spec(spec_cmd::SpecCommand),
}

fn main() -> ExitCode {
    loglift_stages::obs::init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Spec(cmd) => spec_cmd::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
