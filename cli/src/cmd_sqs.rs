//! `loglift redrive sqs` and `loglift dlq …`: SQS dead-letter queues. Argument parsing, queue
//! resolution (a name or a URL; the DLQ's source from its redrive configuration) and printing;
//! the moving, peeking and summarising are `loglift_stages::redrive::sqs`'s, the native move
//! task is `loglift_aws::SqsQueue`'s.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use loglift_aws::{queue_name, MoveTask, S3Store, SqsQueue, MAX_MOVE_RATE};
use loglift_core::storage::Layout;
use loglift_ports::{DeadLetters, ObjectStore, Queue};
use loglift_runtime::dlq::only_source;
use loglift_stages::redrive::sqs::{self, Filter, InspectedMessage, MoveOptions};
use loglift_stages::redrive::RedriveReport;
use serde_json::json;

use crate::backend::Where;
use crate::progress::Bar;

const MATCH_HELP: &str = "Move only messages whose body matches EXPR:
  PATH OP VALUE   the body's JSON value at PATH, compared as text
  OP VALUE        the whole body
  PATH            PATH exists and is not null
PATH is $.a.b, $.a[0], $[\"odd key\"], or a bare name (pipeline = $.pipeline).
OP is == or != (text), ~ or !~ (regex search; ^ and $ anchor).
VALUE is the rest of the text, trimmed, or a JSON string literal (\"…\").
Examples: 'pipeline == app_logs'   'table != tracking.events'
  '$.Records[0].s3.object.key ~ ^raw/pipeline%3Dapp_logs/'   '~ s3:TestEvent'
S3 notifications carry their keys form-encoded (= is %3D, a space is +).
A missing value never equals or matches (so != and !~ hold); a body that is
not JSON matches no PATH test.";

/// `loglift redrive sqs`.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Manual move (the default): receive a batch from the DLQ, send each \
message that passes the filters to the target with its body and message attributes, and delete \
it from the DLQ only after the send succeeded. Messages left where they are stay hidden while the \
run looks at the rest and are made visible again when it ends. An interrupted run moves a message \
caught between its send and its delete once more when restarted (the loader's dedupe absorbs the \
duplicate). Works on AWS and on local mode's queues (--local: transform-dlq, loader-dlq).

Native move (--native, AWS only): SQS's own StartMessageMoveTask, at most 500 messages a second, \
one task per DLQ, only for DLQs fed by SQS queues. No filters; --list shows the DLQ's recent \
tasks, --cancel stops one."
)]
pub struct RedriveArgs {
    /// The dead-letter queue: a name or a queue URL (local mode: transform-dlq, loader-dlq).
    pub dlq: String,
    /// Where to move the messages (name or URL). Default: the queue whose redrive policy names
    /// the DLQ (required when several do; with --native, each message's original source).
    #[arg(long, value_name = "QUEUE")]
    pub to: Option<String>,
    #[arg(
        long = "match",
        value_name = "EXPR",
        help = "Move only messages whose body matches EXPR, e.g. 'pipeline == app_logs' (--help: the syntax)",
        long_help = MATCH_HELP,
        value_parser = parse_filter
    )]
    pub filter: Option<Box<Filter>>,
    /// Move only messages first sent at least this long ago (e.g. 90s, 30m, 2h, 1d, "1h 30m").
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub older_than: Option<Duration>,
    /// Move at most N messages.
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// Send at most this many messages a second: N, N/s or N/m (per minute). With --native a
    /// whole number of 1 to 500 per second.
    #[arg(long, value_name = "N/s", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Change nothing; print what would move, one line each.
    #[arg(long)]
    pub dry_run: bool,
    /// Use SQS's StartMessageMoveTask instead of moving message by message (AWS only; takes
    /// --to and --rate, no filters).
    #[arg(long, conflicts_with_all = ["filter", "older_than", "max", "dry_run", "local"])]
    pub native: bool,
    /// With --native: list the DLQ's recent move tasks instead of starting one.
    #[arg(long, requires = "native", conflicts_with_all = ["cancel", "to", "rate"])]
    pub list: bool,
    /// With --native: cancel the running move task with this handle (from --list).
    #[arg(long, value_name = "HANDLE", requires = "native", conflicts_with_all = ["to", "rate"])]
    pub cancel: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub place: Where,
}

/// `loglift dlq …`.
#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// Show a queue's messages without consuming them, next to their recorded failure reasons.
    ///
    /// Each message with its receive count, age and what the body is (the S3 objects of a
    /// notification, the pipeline, table and source of a loader message), and the reason the
    /// consuming function recorded at errors/failures/queue=<source queue>/<message id>.json
    /// (message ids survive the redrive policy's move to the DLQ). Looking receives each message once, which raises its receive count: harmless
    /// on a DLQ; do not inspect a queue a consumer is draining. On AWS the reasons are read from
    /// LOGLIFT_LAKE_BUCKET (or LOGLIFT_ERRORS_BUCKET/PREFIX).
    Inspect {
        /// The queue: a name or a queue URL (local mode: transform-dlq, loader-dlq, …).
        queue: String,
        /// Show at most N messages.
        #[arg(long, value_name = "N", default_value_t = 10)]
        max: usize,
        /// Print the messages as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        place: Where,
    },
}

fn parse_filter(s: &str) -> Result<Box<Filter>, String> {
    Filter::parse(s).map(Box::new).map_err(|e| e.to_string())
}

/// A duration as humantime reads it (`2h`, `30m`, `1d`, `1h 30m`).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("{e} (try 90s, 30m, 2h, 1d)"))
}

/// `N`, `N/s` or `N/m` → messages per second.
fn parse_rate(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let (number, per) = match s.split_once('/') {
        None => (s, 1.0),
        Some((n, "s" | "sec" | "second")) => (n, 1.0),
        Some((n, "m" | "min" | "minute")) => (n, 60.0),
        Some((_, unit)) => return Err(format!("unknown unit /{unit}: use N, N/s or N/m")),
    };
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{number:?} is not a number"))?;
    if !(n.is_finite() && n > 0.0) {
        return Err("the rate must be a positive number".to_owned());
    }
    Ok(n / per)
}

/// SQS from the environment's credentials, with the lake's store and layout for failure
/// reasons (`Err` says why they cannot be read).
struct Aws {
    sqs: SqsQueue,
    store: S3Store,
    layout: Result<Layout, String>,
}

impl Aws {
    async fn open() -> Aws {
        let sdk = loglift_aws::sdk_config().await;
        Aws {
            sqs: SqsQueue::new(loglift_aws::sqs_client(&sdk)),
            store: S3Store::new(loglift_aws::s3_client(&sdk)),
            layout: Layout::from_lookup(|name| std::env::var(name).ok())
                .map_err(|e| format!("{e} (set LOGLIFT_LAKE_BUCKET to see failure reasons)")),
        }
    }
}

pub fn redrive(args: RedriveArgs) -> Result<ExitCode, String> {
    crate::runtime()?.block_on(redrive_async(args))
}

async fn redrive_async(args: RedriveArgs) -> Result<ExitCode, String> {
    if args.place.local {
        if args.native {
            return Err("--native is SQS's own move task: AWS only".to_owned());
        }
        let local = crate::local::open(&args.place.opts)?;
        return redrive_on(&local.transform.queue, &args).await;
    }
    let aws = Aws::open().await;
    if args.native {
        let dlq = aws
            .sqs
            .address(&args.dlq)
            .await
            .map_err(|e| e.to_string())?;
        return native(&aws.sqs, &dlq, &args).await;
    }
    redrive_on(&aws.sqs, &args).await
}

/// Move the DLQ's messages back through any queue adapter.
async fn redrive_on<Q: Queue + DeadLetters>(
    queue: &Q,
    args: &RedriveArgs,
) -> Result<ExitCode, String> {
    let dlq = queue.address(&args.dlq).await.map_err(|e| e.to_string())?;
    let to = match &args.to {
        Some(to) => queue.address(to).await.map_err(|e| e.to_string())?,
        None => {
            let sources = queue.sources(&dlq).await.map_err(|e| e.to_string())?;
            only_source(&args.dlq, sources).map_err(|e| e.to_string())?
        }
    };
    let opts = MoveOptions {
        filter: args.filter.as_deref().cloned(),
        older_than_seconds: args.older_than.map(|d| d.as_secs()),
        max: args.max,
        rate_per_second: args.rate,
        dry_run: args.dry_run,
        visibility_timeout_seconds: None,
    };
    let bar = Bar::new(if args.dry_run { "looking" } else { "moving" });
    let report = sqs::move_messages(queue, &dlq, &to, &opts, &bar).await;
    bar.finish();
    let report = report.map_err(|e| e.to_string())?;
    if args.json {
        let mut value = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        if let Some(object) = value.as_object_mut() {
            object.insert("from".into(), json!(dlq));
            object.insert("to".into(), json!(to));
        }
        println!("{value:#}");
    } else {
        print!("{}", format_report(&dlq, &to, &report));
    }
    Ok(if report.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn format_report(from: &str, to: &str, report: &RedriveReport) -> String {
    let mut out = String::new();
    let verb = if report.dry_run {
        "would move"
    } else {
        "moved"
    };
    let _ = writeln!(
        out,
        "{from} → {to}: {verb} {}, skipped {}, failed {}{}",
        report.moved,
        report.skipped,
        report.failed,
        if report.dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        }
    );
    for line in &report.details {
        let _ = writeln!(out, "  {line}");
    }
    out
}

async fn native(sqs: &SqsQueue, dlq: &str, args: &RedriveArgs) -> Result<ExitCode, String> {
    if args.list {
        let tasks = sqs.list_move_tasks(dlq).await.map_err(|e| e.to_string())?;
        if args.json {
            let list: Vec<_> = tasks.iter().map(task_json).collect();
            println!("{:#}", json!(list));
        } else if tasks.is_empty() {
            println!("no move tasks for {dlq}");
        } else {
            for t in &tasks {
                println!("{}", format_task(t));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(handle) = &args.cancel {
        let moved = sqs
            .cancel_move_task(handle)
            .await
            .map_err(|e| e.to_string())?;
        if args.json {
            println!("{:#}", json!({"cancelled": handle, "moved": moved}));
        } else {
            println!("cancelled {handle}; about {moved} message(s) had moved");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rate = match args.rate {
        None => None,
        Some(r) if r.fract() == 0.0 && (1.0..=f64::from(MAX_MOVE_RATE)).contains(&r) => {
            Some(r as u32)
        }
        Some(r) => {
            return Err(format!(
                "--native takes a whole --rate of 1 to {MAX_MOVE_RATE} per second, not {r}"
            ))
        }
    };
    let to = match &args.to {
        Some(to) => Some(sqs.queue_url(to).await.map_err(|e| e.to_string())?),
        None => None,
    };
    let handle = sqs
        .start_move_task(dlq, to.as_deref(), rate)
        .await
        .map_err(|e| e.to_string())?;
    if args.json {
        println!(
            "{:#}",
            json!({"task_handle": handle, "from": dlq, "to": to, "rate_per_second": rate})
        );
    } else {
        println!(
            "started move task {handle}: {dlq} → {}{}",
            to.as_deref().unwrap_or("each message's source queue"),
            rate.map(|r| format!(" at {r}/s")).unwrap_or_default()
        );
        println!("follow it with --native --list, stop it with --native --cancel <handle>");
    }
    Ok(ExitCode::SUCCESS)
}

fn task_json(t: &MoveTask) -> serde_json::Value {
    json!({
        "task_handle": t.handle,
        "status": t.status.as_str(),
        "source_arn": t.source_arn,
        "destination_arn": t.destination_arn,
        "max_per_second": t.max_per_second,
        "moved": t.moved,
        "to_move": t.to_move,
        "failure_reason": t.failure_reason,
        "started_at": t.started_at.map(loglift_core::timefmt::rfc3339),
    })
}

fn format_task(t: &MoveTask) -> String {
    let mut line = format!(
        "{} moved {}{}",
        t.status,
        t.moved,
        t.to_move.map(|n| format!("/{n}")).unwrap_or_default()
    );
    if let Some(at) = t.started_at {
        let _ = write!(line, ", started {}", loglift_core::timefmt::rfc3339(at));
    }
    let _ = write!(
        line,
        " → {}",
        t.destination_arn.as_deref().unwrap_or("original sources")
    );
    if let Some(rate) = t.max_per_second {
        let _ = write!(line, " at {rate}/s");
    }
    if let Some(reason) = &t.failure_reason {
        let _ = write!(line, "; failed: {reason}");
    }
    if let Some(handle) = &t.handle {
        let _ = write!(line, "\n  handle {handle}");
    }
    line
}

pub fn dlq(cmd: DlqCommand) -> Result<ExitCode, String> {
    crate::runtime()?.block_on(dlq_async(cmd))
}

async fn dlq_async(cmd: DlqCommand) -> Result<ExitCode, String> {
    let DlqCommand::Inspect {
        queue,
        max,
        json,
        place,
    } = cmd;
    let messages = if place.local {
        let local = crate::local::open(&place.opts)?;
        let t = &local.transform;
        inspect_on(&t.queue, Some((&t.store, &t.layout)), &queue, max).await?
    } else {
        let aws = Aws::open().await;
        let reasons = match &aws.layout {
            Ok(layout) => Some((&aws.store, layout)),
            Err(why) => {
                eprintln!("note: failure reasons not shown: {why}");
                None
            }
        };
        inspect_on(&aws.sqs, reasons, &queue, max).await?
    };
    let (url, messages) = messages;
    if json {
        println!(
            "{:#}",
            serde_json::to_value(&messages).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", format_inspected(&url, &messages));
    }
    Ok(ExitCode::SUCCESS)
}

/// The queue's address and its first `max` messages, with their failure reasons when the lake
/// can be read (`reasons`).
async fn inspect_on<Q: Queue + DeadLetters, S: ObjectStore>(
    queue: &Q,
    reasons: Option<(&S, &Layout)>,
    name: &str,
    max: usize,
) -> Result<(String, Vec<InspectedMessage>), String> {
    let url = queue.address(name).await.map_err(|e| e.to_string())?;
    // Failure reasons are filed under the queue that failed the message: the queue itself, or
    // for a DLQ its sources (message ids survive the redrive policy's move).
    let mut names = vec![queue_name(&url).to_owned()];
    let sources = queue.sources(&url).await.map_err(|e| e.to_string())?;
    names.extend(sources.iter().map(|s| queue_name(s).to_owned()));
    let now = chrono::Utc::now();
    let messages = match reasons {
        Some((store, layout)) => sqs::inspect(queue, &url, store, layout, &names, max, now).await,
        None => sqs::peek(queue, &url, max).await.map(|found| {
            found
                .into_iter()
                .map(|m| InspectedMessage::new(m, None, now))
                .collect()
        }),
    }
    .map_err(|e| e.to_string())?;
    Ok((url, messages))
}

fn format_inspected(queue: &str, messages: &[InspectedMessage]) -> String {
    let mut out = String::new();
    if messages.is_empty() {
        let _ = writeln!(out, "{queue}: no visible messages");
        return out;
    }
    let _ = writeln!(out, "{queue}: {} message(s)", messages.len());
    for m in messages {
        let age = m
            .age_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(|s| humantime::format_duration(Duration::from_secs(s)).to_string())
            .unwrap_or_else(|| "?".to_owned());
        let _ = writeln!(
            out,
            "\n{}  received {}×  age {age}",
            m.message_id, m.receive_count
        );
        let _ = writeln!(out, "  body:   {}", m.summary);
        match &m.failure {
            Some(f) => {
                let _ = writeln!(
                    out,
                    "  reason: {} ({} on {}, receive {}, {})",
                    f.reason, f.stage, f.queue, f.receive_count, f.time
                );
            }
            None => {
                let _ = writeln!(out, "  reason: none recorded");
            }
        }
        if !m.attributes.is_empty() {
            let attrs: Vec<String> = m
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(out, "  attributes: {}", attrs.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Command {
        Sqs(RedriveArgs),
    }

    fn parse(args: &[&str]) -> Result<RedriveArgs, String> {
        let argv = ["loglift", "sqs"].iter().chain(args).copied();
        Cli::try_parse_from(argv)
            .map(|cli| match cli.command {
                Command::Sqs(a) => a,
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn rates_and_durations_parse() {
        assert_eq!(parse_rate("5"), Ok(5.0));
        assert_eq!(parse_rate("5/s"), Ok(5.0));
        assert_eq!(parse_rate("30/m"), Ok(0.5));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("-1/s").is_err());
        assert!(parse_rate("5/h").is_err());
        assert!(parse_rate("fast").is_err());
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn flags_combine_as_documented() {
        let a = parse(&[
            "transform-dlq",
            "--match",
            "pipeline == app_logs",
            "--older-than",
            "2h",
            "--max",
            "3",
            "--rate",
            "10/s",
            "--dry-run",
            "--local",
        ])
        .unwrap();
        assert_eq!(
            a.filter.as_deref().map(Filter::as_str),
            Some("pipeline == app_logs")
        );
        assert_eq!(a.older_than, Some(Duration::from_secs(7200)));
        assert_eq!(
            (a.max, a.rate, a.dry_run, a.place.local),
            (Some(3), Some(10.0), true, true)
        );

        assert!(parse(&["q", "--match", "$.a ~ ("])
            .unwrap_err()
            .contains("invalid regex"));
        assert!(
            parse(&["q", "--native", "--match", "x"]).is_err(),
            "native takes no filter"
        );
        assert!(parse(&["q", "--native", "--dry-run"]).is_err());
        assert!(parse(&["q", "--native", "--local"]).is_err());
        assert!(parse(&["q", "--list"]).is_err(), "--list needs --native");
        assert!(parse(&["q", "--native", "--list", "--cancel", "h"]).is_err());
        let list = parse(&["q", "--native", "--list"]).unwrap();
        assert!(list.native && list.list);
        let cancel = parse(&["q", "--native", "--cancel", "h"]).unwrap();
        assert_eq!(cancel.cancel.as_deref(), Some("h"));
        let start = parse(&["q", "--native", "--to", "src", "--rate", "50"]).unwrap();
        assert_eq!((start.to.as_deref(), start.rate), (Some("src"), Some(50.0)));
    }

    #[test]
    fn reports_print_counts_and_details() {
        let report = RedriveReport {
            moved: 2,
            skipped: 1,
            dry_run: true,
            details: vec!["would move m1: x".into()],
            ..RedriveReport::default()
        };
        assert_eq!(
            format_report("d", "s", &report),
            "d → s: would move 2, skipped 1, failed 0 (dry run: nothing changed)\n  would move m1: x\n"
        );
    }
}
