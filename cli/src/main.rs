//! `loglift`: the command line over the same handlers the Lambda functions run — spec checks,
//! local runs, invokes, synthetic samples, redrive and replay, status, audit and the smoke test.
//! This file only parses arguments and dispatches.

use std::process::ExitCode;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod backend;
mod cmd_compact;
mod cmd_replay;
mod cmd_smoke;
mod cmd_sqs;
mod cmd_status;
mod cmd_streams;
mod local;
mod output;
mod progress;
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
    /// Move failures back into the pipeline: SQS DLQs, Kinesis on-failure records, Firehose
    /// error output.
    #[command(subcommand)]
    Redrive(RedriveCommand),
    /// Inspect dead-letter queues.
    #[command(subcommand)]
    Dlq(cmd_sqs::DlqCommand),
    /// Feed data back through transform: rejected rows after a spec fix, or a backfill of a
    /// time range of raw or landing objects.
    Replay(cmd_replay::ReplayArgs),
    /// Reconcile events in (raw) with loaded + rejected + dropped + waiting in a DLQ, per hour.
    Audit(cmd_replay::AuditArgs),
    /// Merge a pipeline's small curated Parquet parts into files of a target size (128 MiB).
    Compact(cmd_compact::CompactArgs),
    /// Per pipeline: queue and DLQ depths, oldest message age, last load per table, freshness.
    Status(cmd_status::StatusArgs),
    /// After a deploy: send a few tagged events through every entry (Kinesis streams, Firehose
    /// delivery streams, landing prefixes), wait until each reached its table exactly once, audit
    /// the run's hours; exit 5 naming each event that did not arrive.
    Smoke(cmd_smoke::SmokeArgs),
}

#[derive(Debug, Subcommand)]
enum RedriveCommand {
    /// Move messages from an SQS dead-letter queue back to its source queue (or a target).
    Sqs(cmd_sqs::RedriveArgs),
    /// Re-read the ranges named by Kinesis on-failure records and run them through ingest.
    Kinesis(cmd_streams::KinesisArgs),
    /// Re-ingest Firehose error output (`processing-failed/` and the other error types) into raw.
    Firehose(cmd_streams::FirehoseArgs),
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
        /// Take every input file as a landing file of this pipeline (it goes to the pipeline's
        /// landing prefix), wherever it lies.
        #[arg(long)]
        pipeline: Option<String>,
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
                let local = local::open(&opts)?;
                let (response, _) = local
                    .invoke(function.into(), local::read_event(&event)?)
                    .await?;
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
                let local = local::open(&opts)?;
                print!("{}", local::query(&local, &sql).await?);
                Ok(ExitCode::SUCCESS)
            })
        }),
        Command::Local(LocalCommand::Run {
            inputs,
            pipeline,
            json,
            opts,
        }) => runtime().and_then(|rt| {
            rt.block_on(async {
                let local = local::open(&opts)?;
                let bar = progress::Bar::new("inputs");
                let summary =
                    local::run(&local, &inputs, &opts.data_dir, pipeline.as_deref(), &bar).await;
                bar.finish();
                let summary = summary?;
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
        Command::Redrive(RedriveCommand::Sqs(args)) => cmd_sqs::redrive(args),
        Command::Redrive(RedriveCommand::Kinesis(args)) => cmd_streams::kinesis(args),
        Command::Redrive(RedriveCommand::Firehose(args)) => cmd_streams::firehose(args),
        Command::Dlq(cmd) => cmd_sqs::dlq(cmd),
        Command::Replay(args) => cmd_replay::replay(args),
        Command::Audit(args) => cmd_replay::audit(args),
        Command::Compact(args) => cmd_compact::run(args),
        Command::Status(args) => cmd_status::status(args),
        Command::Smoke(args) => cmd_smoke::smoke_cmd(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}
