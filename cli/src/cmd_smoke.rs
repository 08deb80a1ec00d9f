//! `loglift smoke`: tagged events through every entry of a deployment, checked in the warehouse
//! (`loglift_stages::smoke`). This file parses the arguments, wires the AWS adapters, draws the
//! bar and prints the report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use loglift_aws::AwsStreamWriter;
use loglift_ports::SystemClock;
use loglift_stages::smoke::{dry_run, smoke, AuditMode, DeploymentNames, SmokeDeps, SmokeOptions};

use crate::backend::{Backend, Where};
use crate::local::LocalOpts;
use crate::progress::Bar;

/// Exit code of a run that found a missing or doubled event, a failed send or an audit that
/// does not balance.
pub const SMOKE_FAILED: u8 = 5;

/// What an audit that does not balance does.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AuditArg {
    /// Fail the run (after waiting for it to settle until the deadline).
    Check,
    /// Print it, do not fail (a busy deployment always has events in flight).
    Report,
    /// Do not audit.
    Off,
}

/// `loglift smoke`.
#[derive(Debug, clap::Args)]
pub struct SmokeArgs {
    /// Tagged events per entry and pipeline.
    #[arg(long, default_value_t = loglift_stages::smoke::DEFAULT_EVENTS)]
    pub events: usize,
    /// How long to wait for the events to reach the warehouse (90s, 10m, 1h).
    #[arg(long, default_value = "10m", value_parser = crate::cmd_sqs::parse_duration)]
    pub timeout: Duration,
    /// How often to look for them in the warehouse.
    #[arg(long, default_value = "5s", value_parser = crate::cmd_sqs::parse_duration)]
    pub poll_interval: Duration,
    /// A Kinesis stream to send through, as SPEC_NAME=DEPLOYED_NAME (repeatable; replaces
    /// LOGLIFT_STREAM_NAMES, which terraform's cli_environment output sets).
    #[arg(long = "stream", value_name = "SPEC=DEPLOYED")]
    pub streams: Vec<String>,
    /// A Firehose delivery stream to send through (repeatable; replaces the delivery streams of
    /// LOGLIFT_FIREHOSE_SOURCE_STREAMS). One that reads a Kinesis stream gets its events through
    /// that stream, since Firehose refuses PutRecordBatch on it.
    #[arg(long = "firehose", value_name = "DELIVERY_STREAM")]
    pub firehose: Vec<String>,
    /// The spec's name of the stream CloudWatch Logs subscriptions write into (default: the one
    /// stream of LOGLIFT_STREAM_NAMES no pipeline's match.stream names, else `logs`).
    #[arg(long, env = "LOGLIFT_LOG_STREAM", value_name = "SPEC_NAME")]
    pub log_stream: Option<String>,
    /// Only this pipeline (repeatable; default: every pipeline an entry reaches).
    #[arg(long = "pipeline", value_name = "PIPELINE")]
    pub pipelines: Vec<String>,
    /// What an audit of the run's hours that does not balance does.
    #[arg(long, value_enum, default_value = "check")]
    pub audit: AuditArg,
    /// Afterwards, delete the test rows (DELETE … WHERE event_id IN …) and the landing files
    /// the run wrote, whatever the outcome.
    #[arg(long)]
    pub cleanup: bool,
    /// Print what would be sent and where; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// The pipeline spec the deployment runs (default: the shipped spec/pipelines.yaml).
    #[arg(long, env = "LOGLIFT_SPEC")]
    pub spec: Option<PathBuf>,
}

/// Exit 0 when every event reached its table exactly once (and the audit balances, with
/// `--audit check`); 5 otherwise, with one line per failure.
pub fn smoke_cmd(args: SmokeArgs) -> Result<ExitCode, String> {
    crate::runtime()?.block_on(async {
        let place = Where {
            local: false,
            opts: LocalOpts {
                data_dir: PathBuf::from(".loglift"),
                spec: args.spec.clone(),
            },
        };
        let Backend::Aws(aws) = Backend::open(&place).await? else {
            return Err("loglift smoke runs against AWS only".into());
        };
        let mut names = DeploymentNames::from_env(&aws.spec).map_err(|e| e.to_string())?;
        if let Some(log_stream) = &args.log_stream {
            names.log_stream = log_stream.clone();
        }
        if !args.streams.is_empty() {
            names.streams = args
                .streams
                .iter()
                .map(|pair| match pair.split_once('=') {
                    Some((spec, deployed)) if !spec.is_empty() && !deployed.is_empty() => {
                        Ok((spec.trim().to_owned(), deployed.trim().to_owned()))
                    }
                    _ => Err(format!("--stream {pair}: write SPEC_NAME=DEPLOYED_NAME")),
                })
                .collect::<Result<_, String>>()?;
        }
        if !args.firehose.is_empty() {
            names.delivery_streams = args.firehose.clone();
        }
        let writer = AwsStreamWriter::new(
            loglift_aws::kinesis_client(&aws.sdk),
            loglift_aws::firehose_client(&aws.sdk),
        );
        let options = SmokeOptions {
            events: args.events.max(1),
            timeout: args.timeout,
            poll_interval: args.poll_interval.max(Duration::from_millis(100)),
            audit: match args.audit {
                AuditArg::Check => AuditMode::Check,
                AuditArg::Report => AuditMode::Report,
                AuditArg::Off => AuditMode::Off,
            },
            cleanup: args.cleanup,
            dry_run: args.dry_run,
            pipelines: args.pipelines.clone(),
            run_id: None,
        };
        let report = if args.dry_run {
            dry_run(
                &aws.spec,
                &aws.layout,
                &names,
                &writer,
                &SystemClock,
                &options,
            )
            .await
            .map_err(|e| e.to_string())?
        } else {
            let dlqs = aws.dead_letter_queues()?;
            let warehouse = aws.warehouse().await?;
            let deps = SmokeDeps {
                spec: &aws.spec,
                layout: &aws.layout,
                names: &names,
                store: &aws.store,
                queue: &aws.queue,
                warehouse: &warehouse,
                writer: &writer,
                clock: &SystemClock,
                dlqs: &dlqs,
            };
            let bar = Bar::new("smoke");
            bar.tick_steadily();
            let report = smoke(&deps, &options, &bar).await;
            bar.finish();
            report.map_err(|e| e.to_string())?
        };
        crate::output::print(&report, args.json)?;
        if report.passed {
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!(
                "error: smoke run {} failed ({} failure(s)); the first: {}",
                report.run_id,
                report.failures.len(),
                report.failures.first().map_or("", String::as_str)
            );
            Ok(ExitCode::from(SMOKE_FAILED))
        }
    })
}
