//! `loglift replay` (rejects after a spec fix; backfill of a range) and `loglift audit`.
//! Argument parsing, the backend's adapters and printing; the work is
//! `loglift_stages::redrive::{rejects, backfill}` and `loglift_stages::audit`.

use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use loglift_core::reject::Reason;
use loglift_stages::audit::{audit as run_audit, AuditDeps, AuditOptions, AuditReport};
use loglift_stages::redrive::backfill::{backfill, BackfillOptions, ReplayDeps};
use loglift_stages::redrive::rejects::{replay_rejects, RejectReplayOptions, RejectStage};
use loglift_stages::redrive::RedriveReport;

use crate::backend::{Backend, Where};
use crate::local::{LOADER_QUEUE, TRANSFORM_QUEUE};
use crate::progress::Bar;
use loglift_runtime::local::Drained;

/// `loglift replay`.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Backfill (--since/--until without --rejects): announce every raw \
object of the pipeline in the hours overlapping [since, until) (listed hour by hour under \
raw/pipeline=P/dt=…/hour=…/), or every landing object of a landing pipeline last modified in the \
range, on the transform queue as S3 would. With the replace duplicate policy this corrects loaded \
rows; with keep_first an unchanged range changes nothing (the ledger and row dedupe absorb it).

Rejects (--rejects): read the pipeline's reject files (errors/rejects/stage=transform/…, or \
stage=ingest with --stage ingest; --pipeline _unknown for rejects no pipeline matched), keep the \
records of --reason, and write their raw bytes back as one replay object per reject file \
(raw/…/replay-<hash>.ndjson.gz, or a landing file in the pipeline's format), announced on the \
transform queue. Replaying the same files again rewrites the same keys; the loader keeps each \
event once. On AWS, S3 notifies transform of the replay objects too: the second announcement is \
harmless (transform and the ledger are idempotent); --no-announce skips ours.

AWS: the lake from LOGLIFT_LAKE_BUCKET, the transform queue from LOGLIFT_TRANSFORM_QUEUE (a URL or \
a name). --local: local mode's lake and queues; transform and the loader then drain the queues as \
the Lambda functions would (--no-drain leaves the messages queued).

Exit code 1 when something could not be replayed (counted as failed, with details).

Times are UTC: RFC 3339 (2026-11-21T10:30:00Z, or with an offset), YYYY-MM-DDTHH (the start of \
that hour) or YYYY-MM-DD (midnight)."
)]
pub struct ReplayArgs {
    /// The pipeline (with --rejects --stage ingest also `_unknown`).
    #[arg(long)]
    pub pipeline: String,
    /// Replay reject records instead of backfilling a range.
    #[arg(long)]
    pub rejects: bool,
    /// With --rejects: only rejects with this reason code (too_long, wrong_type, …).
    #[arg(long, value_name = "CODE", requires = "rejects", value_parser = parse_reason)]
    pub reason: Option<Reason>,
    /// With --rejects: the stage whose rejects to replay.
    #[arg(long, value_enum, requires = "rejects")]
    pub stage: Option<StageArg>,
    /// Start of the range (inclusive; see the time forms below); required for a backfill,
    /// optional with --rejects.
    #[arg(long, value_parser = parse_time, required_unless_present = "rejects", requires = "until")]
    pub since: Option<DateTime<Utc>>,
    /// End of the range (exclusive).
    #[arg(long, value_parser = parse_time, required_unless_present = "rejects", requires = "since")]
    pub until: Option<DateTime<Utc>>,
    /// Replay at most N objects (backfill) or reject records (--rejects).
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// Change nothing; print what would be replayed.
    #[arg(long)]
    pub dry_run: bool,
    /// With --rejects: do not announce the replay objects (S3 notifications will).
    #[arg(long, requires = "rejects")]
    pub no_announce: bool,
    /// With --local: leave the announced messages in the transform queue.
    #[arg(long, requires = "local")]
    pub no_drain: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub place: Where,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StageArg {
    Transform,
    Ingest,
}

/// `loglift audit`.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Per hour of [since, until): events in (lines of the raw objects of \
that arrival hour, or events of the landing files last modified in it) against rows loaded (the \
load ledger), transform rejects, blank lines dropped, and what waits in the dead-letter queues \
(peeked, not consumed: each message's receive count goes up by one). Reloads after a backfill are \
shown as surplus. Hours where events are unexplained are named with their source objects (in \
flight or lost); the exit code is then 4.

AWS: the lake from LOGLIFT_LAKE_BUCKET, the DLQs from LOGLIFT_DLQS (comma-separated URLs), the \
warehouse from the dedupe-loader's variables (LOGLIFT_WAREHOUSE, …). --local: local mode's lake, \
transform-dlq, loader-dlq and warehouse.

Times are UTC: RFC 3339, YYYY-MM-DDTHH or YYYY-MM-DD."
)]
pub struct AuditArgs {
    #[arg(long)]
    pub pipeline: String,
    /// Start of the range (inclusive).
    #[arg(long, value_parser = parse_time)]
    pub since: DateTime<Utc>,
    /// End of the range (exclusive).
    #[arg(long, value_parser = parse_time)]
    pub until: DateTime<Utc>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub place: Where,
}

/// The exit code of an audit with an hour that does not balance.
const UNBALANCED: u8 = 4;

/// RFC 3339, `YYYY-MM-DDTHH` or `YYYY-MM-DD`, UTC.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(&format!("{s}:00:00"), "%Y-%m-%dT%H:%M:%S") {
        return Ok(t.and_utc());
    }
    if let Some(t) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "{s:?} is not a time: use RFC 3339 (2026-11-21T10:30:00Z), YYYY-MM-DDTHH or YYYY-MM-DD"
    ))
}

fn parse_reason(s: &str) -> Result<Reason, String> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_owned())).map_err(|_| {
        format!(
            "unknown reason code {s:?} (the codes: docs/architecture.md, \"The reject record\")"
        )
    })
}

#[derive(serde::Serialize)]
struct ReplayOutput<'a> {
    #[serde(flatten)]
    report: &'a RedriveReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    drained: Option<&'a Drained>,
}

pub fn replay(args: ReplayArgs) -> Result<ExitCode, String> {
    crate::runtime()?.block_on(async {
        let bar = Bar::new(if args.rejects { "reject files" } else { "objects" });
        let (report, drained) = match Backend::open(&args.place).await? {
            Backend::Local(local) => {
                let deps = ReplayDeps {
                    spec: &local.transform.spec,
                    layout: &local.transform.layout,
                    store: &local.transform.store,
                    queue: &local.transform.queue,
                    transform_queue: TRANSFORM_QUEUE,
                };
                let report = run_replay(&deps, &args, &bar).await;
                bar.finish();
                let report = report?;
                let drained = if args.dry_run || args.no_drain {
                    None
                } else {
                    Some(local.drain().await?)
                };
                (report, drained)
            }
            Backend::Aws(aws) => {
                let transform_queue = aws
                    .queue_from_env("LOGLIFT_TRANSFORM_QUEUE")
                    .await?
                    .ok_or("set LOGLIFT_TRANSFORM_QUEUE to the transform queue's URL or name (terraform outputs it), or use --local")?;
                let deps = ReplayDeps {
                    spec: &aws.spec,
                    layout: &aws.layout,
                    store: &aws.store,
                    queue: &aws.queue,
                    transform_queue: &transform_queue,
                };
                let report = run_replay(&deps, &args, &bar).await;
                bar.finish();
                (report?, None)
            }
        };
        if args.json {
            let out = ReplayOutput {
                report: &report,
                drained: drained.as_ref(),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
            );
        } else {
            print_report(&report, drained.as_ref());
        }
        Ok(if report.failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}

async fn run_replay<S, Q>(
    deps: &ReplayDeps<'_, S, Q>,
    args: &ReplayArgs,
    bar: &Bar,
) -> Result<RedriveReport, String>
where
    S: loglift_ports::ObjectStore,
    Q: loglift_ports::Queue,
{
    let result = if args.rejects {
        let options = RejectReplayOptions {
            pipeline: args.pipeline.clone(),
            reason: args.reason,
            stage: match args.stage {
                Some(StageArg::Ingest) => RejectStage::Ingest,
                Some(StageArg::Transform) | None => RejectStage::Transform,
            },
            since: args.since,
            until: args.until,
            dry_run: args.dry_run,
            max: args.max,
            announce: !args.no_announce,
        };
        replay_rejects(deps, &options, bar).await
    } else {
        let (Some(since), Some(until)) = (args.since, args.until) else {
            return Err("a backfill needs --since and --until".into());
        };
        let options = BackfillOptions {
            pipeline: args.pipeline.clone(),
            since,
            until,
            dry_run: args.dry_run,
            max: args.max,
        };
        backfill(deps, &options, bar).await
    };
    result.map_err(|e| e.to_string())
}

fn print_report(report: &RedriveReport, drained: Option<&Drained>) {
    for line in &report.details {
        println!("{line}");
    }
    let verb = if report.dry_run {
        "would replay"
    } else {
        "replayed"
    };
    println!(
        "{verb} {}, skipped {}, failed {}, unrecoverable {}",
        report.moved, report.skipped, report.failed, report.unrecoverable
    );
    if let Some(d) = drained {
        println!(
            "local: {} transform and {} loader message(s) handled, {} failed (they retry, then wait in the DLQs)",
            d.transform_messages, d.loader_messages, d.failed_messages
        );
        for (table, r) in &d.tables {
            println!(
                "  {table}: inserted {}, replaced {}, duplicates skipped {}, objects skipped {}",
                r.inserted, r.replaced, r.duplicates_skipped, r.objects_skipped
            );
        }
    }
}

pub fn audit(args: AuditArgs) -> Result<ExitCode, String> {
    crate::runtime()?.block_on(async {
        let options = AuditOptions::new(args.pipeline.clone(), args.since, args.until);
        let bar = Bar::new("objects");
        let report: Result<AuditReport, String> = match Backend::open(&args.place).await? {
            Backend::Local(local) => {
                let dlqs = [format!("{TRANSFORM_QUEUE}-dlq"), format!("{LOADER_QUEUE}-dlq")];
                let deps = AuditDeps {
                    spec: &local.transform.spec,
                    layout: &local.transform.layout,
                    store: &local.transform.store,
                    queue: &local.transform.queue,
                    warehouse: &local.load.warehouse,
                    dlqs: &dlqs,
                };
                run_audit(&deps, &options, &bar)
                    .await
                    .map_err(|e| e.to_string())
            }
            Backend::Aws(aws) => {
                let dlqs = aws.dead_letter_queues()?;
                if dlqs.is_empty() {
                    return Err("set LOGLIFT_DLQS to the transform and loader DLQ URLs (comma-separated; terraform outputs them), or use --local".into());
                }
                let warehouse = aws.warehouse().await?;
                let deps = AuditDeps {
                    spec: &aws.spec,
                    layout: &aws.layout,
                    store: &aws.store,
                    queue: &aws.queue,
                    warehouse: &warehouse,
                    dlqs: &dlqs,
                };
                run_audit(&deps, &options, &bar)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        bar.finish();
        let report = report?;
        crate::output::print(&report, args.json)?;
        Ok(if report.balanced {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(UNBALANCED)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_three_forms() {
        let want = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            parse_time("2026-11-21T10:30:00Z"),
            Ok(want("2026-11-21T10:30:00Z"))
        );
        assert_eq!(
            parse_time("2026-11-21T12:30:00+02:00"),
            Ok(want("2026-11-21T10:30:00Z"))
        );
        assert_eq!(
            parse_time("2026-11-21T10"),
            Ok(want("2026-11-21T10:00:00Z"))
        );
        assert_eq!(parse_time("2026-11-21"), Ok(want("2026-11-21T00:00:00Z")));
        for bad in ["", "2026-11-21T25", "yesterday", "2026-11-21T10:30"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reasons_parse_by_code() {
        assert_eq!(parse_reason("too_long"), Ok(Reason::TooLong));
        assert!(parse_reason("too-long").is_err());
    }
}
