//! `loglift`: the command line over the same handlers the Lambda functions run — spec checks,
//! local runs, invokes, synthetic samples, redrive and replay. This file only parses arguments
//! and dispatches.

use std::process::ExitCode;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod local;
mod samples_cmd;
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
    /// Run one function's handler in-process on an event file, with local adapters; print the
    /// Lambda response JSON on stdout (logs on stderr).
    Invoke {
        function: local::Function,
        /// The Lambda event (JSON).
        #[arg(long)]
        event: PathBuf,
        #[command(flatten)]
        opts: local::LocalOpts,
    },
    /// Local mode: run the pipeline on one machine.
    #[command(subcommand)]
    Local(LocalCommand),
    /// Synthetic inputs: Lambda events and landing files with a manifest of what they hold.
    #[command(subcommand)]
    Samples(samples_cmd::SamplesCommand),
    /// The warehouse side: DDL per dialect.
    #[command(subcommand)]
    Warehouse(WarehouseCommand),
}

#[derive(Debug, Subcommand)]
enum WarehouseCommand {
    /// Print the tables (and the load ledger) the spec needs, in one SQL dialect.
    Ddl {
        /// redshift, postgres or sqlite.
        #[arg(long, default_value = "redshift")]
        dialect: String,
        /// The pipeline spec (default: the shipped spec/pipelines.yaml, built in).
        #[arg(long, env = "LOGLIFT_SPEC")]
        spec: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum LocalCommand {
    /// Drive the samples (or the given event files and directories) through every stage and
    /// print a summary: events in and out per pipeline, rejects by reason, duplicates seen.
    Run {
        /// Event files or directories of them (default: samples/events).
        inputs: Vec<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        opts: local::LocalOpts,
    },
    /// Run SQL on the local warehouse (`<data dir>/warehouse.db`, SQLite; `schema.table` is
    /// spelled `schema__table`) and print the result as a table.
    Query {
        sql: String,
        #[command(flatten)]
        opts: local::LocalOpts,
    },
}

fn main() -> ExitCode {
    loglift_stages::obs::init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Spec(cmd) => spec_cmd::run(cmd),
        Command::Samples(cmd) => samples_cmd::run(cmd),
        Command::Invoke {
            function,
            event,
            opts,
        } => runtime().and_then(|rt| {
            rt.block_on(async {
                let local = local::Local::open(&opts)?;
                let (response, _) = local.invoke(function, local::read_event(&event)?).await?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&response).map_err(|e| e.to_string())?
                );
                Ok(ExitCode::SUCCESS)
            })
        }),
        Command::Warehouse(WarehouseCommand::Ddl { dialect, spec }) => {
            local::print_ddl(&dialect, spec.as_deref())
        }
        Command::Local(LocalCommand::Query { sql, opts }) => runtime().and_then(|rt| {
            rt.block_on(async {
                let local = local::Local::open(&opts)?;
                print!("{}", local.query(&sql).await?);
                Ok(ExitCode::SUCCESS)
            })
        }),
        Command::Local(LocalCommand::Run { inputs, json, opts }) => runtime().and_then(|rt| {
            rt.block_on(async {
                let local = local::Local::open(&opts)?;
                let summary = local::run(&local, &inputs, &opts.data_dir).await?;
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?
                    );
                } else {
                    print!("{summary}");
                }
                Ok(ExitCode::SUCCESS)
            })
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}
