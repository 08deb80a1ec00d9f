//! `loglift redrive kinesis` and `loglift redrive firehose`: Kinesis on-failure records and
//! Firehose error output back through ingest. Argument parsing, resolving where to read, and
//! printing; the replaying is `loglift_stages::redrive::{kinesis, firehose}`'s.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use loglift_ports::{PortError, PortResult, ShardPosition, ShardRead, StreamReader, SystemClock};
use loglift_stages::ingest::IngestDeps;
use loglift_stages::redrive::firehose::{redrive_firehose_errors, FirehoseOptions};
use loglift_stages::redrive::kinesis::{
    redrive_kinesis_objects, redrive_kinesis_queue, KinesisOptions,
};
use loglift_stages::redrive::RedriveReport;

use crate::backend::{Backend, Where};
use crate::progress::Bar;

/// `loglift redrive kinesis`.
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("from").required(true).args(["queue", "s3"])),
    after_long_help = "With an SQS (or SNS → SQS) on-failure destination the mapping sends metadata \
only: each message names a shard and a sequence range, which is re-read from the stream \
(GetShardIterator AT_SEQUENCE_NUMBER, then GetRecords to the end of the range) and run through \
ingest as the batch the mapping sent, so the raw keys are the ones a normal run writes and the \
event ids dedupe anything written twice. The message is deleted once its records are written. \
Records already past the stream's retention are reported by count and range as unrecoverable.

With an S3 on-failure destination each object keeps the whole invocation: its payload is \
replayed directly, and the object moved to <errors>/kinesis-archive/<bucket>/<key> so a second \
run does not replay it.

--local reads on-failure objects from local mode's data directory (--s3 s3://local-lake/…); \
local mode has no Kinesis streams, so only objects that keep their payload can be replayed there."
)]
pub struct KinesisArgs {
    /// The on-failure queue (SQS or SNS → SQS destination): a queue URL or name.
    #[arg(long, value_name = "QUEUE")]
    pub queue: Option<String>,
    /// The S3 on-failure destination: s3://bucket/prefix.
    #[arg(long, value_name = "S3_URL")]
    pub s3: Option<String>,
    /// Replay at most N stream records (a range is replayed whole or left for a later run).
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// Read and report what would be replayed; write, delete and archive nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub place: Where,
}

/// `loglift redrive firehose`.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Lists Firehose's error output under <errors>/firehose/<error-output-type>/ \
(processing-failed and the other types), decodes each line's rawData and runs the records through \
ingest as a transformation batch of the delivery stream that wrote the object: Ok records are \
delivered into raw as Firehose would, records ingest refuses again become reject records. Then \
the object moves to <errors>/firehose-archive/ (same relative key), so a second run does not \
replay it. An object with lines that cannot be decoded stays where it is (its other records are \
replayed; the report names each bad line).

The error output does not record the Kinesis stream a delivery stream reads; routing by \
`match.stream` needs it: name it with --source-stream DELIVERY=STREAM."
)]
pub struct FirehoseArgs {
    /// Replay at most N records (an object is replayed whole or left for a later run).
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// List what would be replayed; write, delete and archive nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Take every error object as written by this delivery stream (default: the name Firehose
    /// starts its object names with).
    #[arg(long, value_name = "NAME")]
    pub delivery_stream: Option<String>,
    /// The Kinesis stream a delivery stream reads (repeatable, or comma-separated; default from
    /// `LOGLIFT_FIREHOSE_SOURCE_STREAMS`, which terraform's `cli_environment` exports);
    /// delivery streams not named are taken as Direct PUT.
    #[arg(
        long = "source-stream",
        value_name = "DELIVERY=STREAM",
        value_parser = parse_pair,
        env = "LOGLIFT_FIREHOSE_SOURCE_STREAMS",
        value_delimiter = ','
    )]
    pub source_streams: Vec<(String, String)>,
    #[command(flatten)]
    pub place: Where,
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((delivery, stream)) if !delivery.is_empty() && !stream.is_empty() => {
            Ok((delivery.to_owned(), stream.to_owned()))
        }
        _ => Err(format!("expected DELIVERY=STREAM, got {text:?}")),
    }
}

/// `s3://bucket/prefix` → `(bucket, prefix)`.
fn parse_s3_url(url: &str) -> Result<(String, String), String> {
    let u = loglift_core::address::S3Url::parse(url)
        .ok_or_else(|| format!("expected s3://bucket/prefix, got {url:?}"))?;
    Ok((u.bucket.to_owned(), u.key.to_owned()))
}

/// Local mode's streams: there are none, so a range can only be replayed from a kept payload.
struct NoStreams;

impl StreamReader for NoStreams {
    async fn shards(&self, stream: &str) -> PortResult<Vec<String>> {
        Err(PortError::NotFound {
            what: format!("stream {stream} (local mode has no Kinesis streams)"),
            source: None,
        })
    }

    async fn read(
        &self,
        stream: &str,
        _shard: &str,
        _from: &ShardPosition,
        _max_records: u32,
    ) -> PortResult<ShardRead> {
        self.shards(stream).await.map(|_| ShardRead::default())
    }
}

fn print_report(what: &str, from: &str, report: &RedriveReport, json: bool) -> Result<(), String> {
    if json {
        let mut value = serde_json::to_value(report).map_err(|e| e.to_string())?;
        if let Some(object) = value.as_object_mut() {
            object.insert("from".into(), serde_json::json!(from));
        }
        println!("{value:#}");
        return Ok(());
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{what} {from}: {} {}, skipped {}, failed {}, unrecoverable {}{}",
        if report.dry_run {
            "would replay"
        } else {
            "replayed"
        },
        report.moved,
        report.skipped,
        report.failed,
        report.unrecoverable,
        if report.dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        }
    );
    for line in &report.details {
        let _ = writeln!(out, "  {line}");
    }
    print!("{out}");
    Ok(())
}

fn exit_code(report: &RedriveReport) -> ExitCode {
    if report.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub fn kinesis(args: KinesisArgs) -> Result<ExitCode, String> {
    crate::runtime()?.block_on(kinesis_async(args))
}

async fn kinesis_async(args: KinesisArgs) -> Result<ExitCode, String> {
    let options = KinesisOptions {
        dry_run: args.dry_run,
        max: args.max,
    };
    let bar = Bar::new(if args.dry_run { "reading" } else { "replaying" });
    let backend = Backend::open(&args.place).await?;
    let (from, report) = match (&backend, &args.queue, &args.s3) {
        (Backend::Local(_), Some(_), _) => {
            return Err("local mode has no Kinesis streams to re-read an on-failure queue's ranges from: use --s3 with on-failure objects that keep their payload".to_owned());
        }
        (Backend::Local(local), None, Some(url)) => {
            let (bucket, prefix) = parse_s3_url(url)?;
            let report =
                redrive_kinesis_objects(&local.deps, &NoStreams, &bucket, &prefix, &options, &bar)
                    .await;
            (url.clone(), report)
        }
        (Backend::Aws(aws), Some(queue), _) => {
            let url = if queue.starts_with("https://") || queue.starts_with("http://") {
                queue.clone()
            } else {
                aws.queue
                    .queue_url(queue)
                    .await
                    .map_err(|e| e.to_string())?
            };
            let ingest = IngestDeps::new(
                aws.spec.clone(),
                aws.layout.clone(),
                aws.store.clone(),
                SystemClock,
            );
            let report =
                redrive_kinesis_queue(&ingest, &aws.streams, &aws.queue, &url, &options, &bar)
                    .await;
            (url, report)
        }
        (Backend::Aws(aws), None, Some(url)) => {
            let (bucket, prefix) = parse_s3_url(url)?;
            let ingest = IngestDeps::new(
                aws.spec.clone(),
                aws.layout.clone(),
                aws.store.clone(),
                SystemClock,
            );
            let report =
                redrive_kinesis_objects(&ingest, &aws.streams, &bucket, &prefix, &options, &bar)
                    .await;
            (url.clone(), report)
        }
        (_, None, None) => {
            return Err("say where the on-failure records are: --queue or --s3".into())
        }
    };
    bar.finish();
    let report = report.map_err(|e| e.to_string())?;
    print_report("redrive kinesis", &from, &report, args.json)?;
    Ok(exit_code(&report))
}

pub fn firehose(args: FirehoseArgs) -> Result<ExitCode, String> {
    crate::runtime()?.block_on(firehose_async(args))
}

async fn firehose_async(args: FirehoseArgs) -> Result<ExitCode, String> {
    let options = FirehoseOptions {
        dry_run: args.dry_run,
        max: args.max,
        delivery_stream: args.delivery_stream.clone(),
        source_streams: args
            .source_streams
            .iter()
            .cloned()
            .collect::<BTreeMap<_, _>>(),
    };
    let bar = Bar::new(if args.dry_run { "listing" } else { "replaying" });
    let backend = Backend::open(&args.place).await?;
    let (from, report) = match &backend {
        Backend::Local(local) => (
            error_root(&local.deps.layout),
            redrive_firehose_errors(&local.deps, &options, &bar).await,
        ),
        Backend::Aws(aws) => {
            let ingest = IngestDeps::new(
                aws.spec.clone(),
                aws.layout.clone(),
                aws.store.clone(),
                SystemClock,
            );
            (
                error_root(&aws.layout),
                redrive_firehose_errors(&ingest, &options, &bar).await,
            )
        }
    };
    bar.finish();
    let report = report.map_err(|e| e.to_string())?;
    print_report("redrive firehose", &from, &report, args.json)?;
    Ok(exit_code(&report))
}

fn error_root(layout: &loglift_core::storage::Layout) -> String {
    format!(
        "s3://{}/{}",
        layout.errors.bucket,
        layout.firehose_error_root()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_and_pairs_parse() {
        assert_eq!(
            parse_s3_url("s3://b/aws/lambda/"),
            Ok(("b".to_owned(), "aws/lambda/".to_owned()))
        );
        assert_eq!(parse_s3_url("s3://b"), Ok(("b".to_owned(), String::new())));
        assert!(parse_s3_url("b/x").is_err());
        assert!(parse_s3_url("s3:///x").is_err());
        assert_eq!(
            parse_pair("user-events-to-s3=user-events"),
            Ok(("user-events-to-s3".to_owned(), "user-events".to_owned()))
        );
        assert!(parse_pair("nostream").is_err());
        assert!(parse_pair("=x").is_err());
    }
}
