//! The dlq-redrive function's JSON command: one way back per `source`, run by a schedule
//! (`{"source":"dlqs"}`) or by hand (`aws lambda invoke --payload …`). The answer is the
//! [`RedriveReport`] counts.
//!
//! ```json
//! {"source":"dlqs", "max":10000}                               every DLQ in LOGLIFT_DLQS → its source queue
//! {"source":"sqs", "queue":"<dlq>", "target":"<queue>", "match":"pipeline == user_events",
//!  "older_than_seconds":3600, "rate_per_second":50, "max":100, "dry_run":true}
//! {"source":"kinesis"}                                          LOGLIFT_KINESIS_FAILURE_QUEUE (or "queue")
//! {"source":"kinesis", "s3":"s3://bucket/prefix/"}             S3 on-failure destination objects
//! {"source":"firehose", "max":5000}                             errors/firehose/… → raw, archived
//! {"source":"rejects", "pipeline":"user_events", "reason":"wrong_type"}
//! {"source":"backfill", "pipeline":"user_events", "since":"2026-11-21T00:00:00Z", "until":"2026-11-21T06:00:00Z"}
//! ```
//! Every command takes `dry_run` (default false) and `max`.

use std::collections::BTreeMap;

use loglift_core::address::{queue_name, S3Url};
use loglift_ports::{Clock, ObjectStore, PortError, Queue, StreamReader};
use serde::Deserialize;

use super::backfill::{backfill, BackfillOptions, ReplayDeps};
use super::firehose::{redrive_firehose_errors, FirehoseOptions};
use super::kinesis::{redrive_kinesis_objects, redrive_kinesis_queue, KinesisOptions};
use super::rejects::{replay_rejects, RejectReplayOptions};
use super::sqs::{move_messages, MoveOptions};
use super::{NoProgress, RedriveReport};
use crate::ingest::IngestDeps;

/// One command.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Command {
    /// Every configured dead-letter queue back to its source queue.
    Dlqs {
        #[serde(flatten)]
        options: MoveOptions,
    },
    /// One dead-letter queue (URL or name) back to its source queue or `target`.
    Sqs {
        queue: String,
        #[serde(default)]
        target: Option<String>,
        #[serde(flatten)]
        options: MoveOptions,
    },
    /// Kinesis on-failure records: from an SQS queue (default the configured one) or S3 objects.
    Kinesis {
        #[serde(default)]
        queue: Option<String>,
        /// `s3://bucket/prefix`: the S3 on-failure destination.
        #[serde(default)]
        s3: Option<String>,
        #[serde(flatten)]
        options: KinesisOptions,
    },
    /// Firehose error output back into raw; each object archived once replayed.
    Firehose {
        #[serde(flatten)]
        options: FirehoseOptions,
    },
    /// Rejected rows back through transform (after a spec fix).
    Rejects {
        #[serde(flatten)]
        options: RejectReplayOptions,
    },
    /// A time range of raw (or landing) objects re-announced to transform.
    Backfill {
        #[serde(flatten)]
        options: BackfillOptions,
    },
}

/// Why a command did not run (nothing was moved).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("not a redrive command: {0}")]
    Parse(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Port(#[from] PortError),
}

impl CommandError {
    /// Worth invoking again as is (a transient AWS failure).
    pub fn is_retryable(&self) -> bool {
        matches!(self, CommandError::Port(e) if e.is_retryable())
    }
}

impl Command {
    pub fn parse(json: &[u8]) -> Result<Command, CommandError> {
        serde_json::from_slice(json).map_err(|e| CommandError::Parse(e.to_string()))
    }
}

/// What the commands run against.
pub struct RedriveDeps<S, Q, R, C> {
    /// The spec, layout, lake store and clock (ingest's logic replays stream records).
    pub ingest: IngestDeps<S, C>,
    pub queue: Q,
    pub streams: R,
    /// The transform queue (backfill and reject replays announce objects on it).
    pub transform_queue: String,
    /// Each dead-letter queue with the source queue its messages go back to.
    pub dlqs: Vec<(String, String)>,
    /// The Kinesis on-failure SQS destination, when there is one.
    pub kinesis_failure_queue: Option<String>,
    /// Delivery stream → the Kinesis stream it reads (Firehose error output does not say).
    pub firehose_sources: BTreeMap<String, String>,
}

/// Run one command.
pub async fn run<S, Q, R, C>(
    deps: &RedriveDeps<S, Q, R, C>,
    command: Command,
) -> Result<RedriveReport, CommandError>
where
    S: ObjectStore,
    Q: Queue,
    R: StreamReader,
    C: Clock,
{
    let progress = NoProgress;
    let invalid = |e: String| CommandError::Invalid(e);
    match command {
        Command::Dlqs { options } => {
            options.check().map_err(invalid)?;
            if deps.dlqs.is_empty() {
                return Err(invalid("no dead-letter queues configured (LOGLIFT_DLQS)".into()));
            }
            let mut report = RedriveReport {
                dry_run: options.dry_run,
                ..RedriveReport::default()
            };
            for (dlq, source) in &deps.dlqs {
                report.absorb(move_messages(&deps.queue, dlq, source, &options, &progress).await?);
            }
            Ok(report)
        }
        Command::Sqs {
            queue,
            target,
            options,
        } => {
            options.check().map_err(invalid)?;
            let configured = deps
                .dlqs
                .iter()
                .find(|(dlq, _)| *dlq == queue || queue_name(dlq) == queue);
            let from = configured.map_or_else(|| queue.clone(), |(dlq, _)| dlq.clone());
            let target = target
                .or_else(|| configured.map(|(_, source)| source.clone()))
                .ok_or_else(|| {
                    invalid(format!(
                        "{queue} is not a configured dead-letter queue: name a \"target\""
                    ))
                })?;
            Ok(move_messages(&deps.queue, &from, &target, &options, &progress).await?)
        }
        Command::Kinesis { queue, s3, options } => match (s3, queue.or_else(|| deps.kinesis_failure_queue.clone())) {
            (Some(url), _) => {
                let S3Url { bucket, key: prefix, .. } = S3Url::parse(&url).ok_or_else(|| {
                    invalid(format!("\"s3\" must be s3://bucket/prefix, not {url}"))
                })?;
                Ok(redrive_kinesis_objects(
                    &deps.ingest,
                    &deps.streams,
                    bucket,
                    prefix,
                    &options,
                    &progress,
                )
                .await?)
            }
            (None, Some(queue)) => Ok(redrive_kinesis_queue(
                &deps.ingest,
                &deps.streams,
                &deps.queue,
                &queue,
                &options,
                &progress,
            )
            .await?),
            (None, None) => Err(invalid(
                "no Kinesis on-failure queue: set LOGLIFT_KINESIS_FAILURE_QUEUE or give \"queue\" or \"s3\"".into(),
            )),
        },
        Command::Firehose { mut options } => {
            for (delivery, stream) in &deps.firehose_sources {
                options
                    .source_streams
                    .entry(delivery.clone())
                    .or_insert_with(|| stream.clone());
            }
            Ok(redrive_firehose_errors(&deps.ingest, &options, &progress).await?)
        }
        Command::Rejects { options } => replay_rejects(&replay_deps(deps), &options, &progress)
            .await
            .map_err(|e| invalid(e.to_string())),
        Command::Backfill { options } => backfill(&replay_deps(deps), &options, &progress)
            .await
            .map_err(|e| invalid(e.to_string())),
    }
}

fn replay_deps<S, Q, R, C>(deps: &RedriveDeps<S, Q, R, C>) -> ReplayDeps<'_, S, Q> {
    ReplayDeps {
        spec: &deps.ingest.spec,
        layout: &deps.ingest.layout,
        store: &deps.ingest.store,
        queue: &deps.queue,
        transform_queue: &deps.transform_queue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_their_options() {
        let c = Command::parse(br#"{"source":"dlqs","max":10000}"#).unwrap();
        assert!(
            matches!(c, Command::Dlqs { ref options } if options.max == Some(10000) && !options.dry_run),
            "{c:?}"
        );
        let c = Command::parse(
            br#"{"source":"sqs","queue":"transform-dlq","match":"pipeline == a","dry_run":true,"rate_per_second":5}"#,
        )
        .unwrap();
        assert!(
            matches!(c, Command::Sqs { ref queue, target: None, ref options } if queue == "transform-dlq" && options.dry_run && options.filter.is_some()),
            "{c:?}"
        );
        let c = Command::parse(br#"{"source":"kinesis","s3":"s3://b/p/","max":5}"#).unwrap();
        assert!(
            matches!(c, Command::Kinesis { s3: Some(_), queue: None, ref options } if options.max == Some(5)),
            "{c:?}"
        );
        let c = Command::parse(br#"{"source":"firehose","dry_run":true}"#).unwrap();
        assert!(
            matches!(c, Command::Firehose { ref options } if options.dry_run),
            "{c:?}"
        );
        let c = Command::parse(
            br#"{"source":"backfill","pipeline":"user_events","since":"2026-11-21T00:00:00Z","until":"2026-11-21T06:00:00Z"}"#,
        )
        .unwrap();
        assert!(
            matches!(c, Command::Backfill { ref options } if options.pipeline == "user_events"),
            "{c:?}"
        );
        let c = Command::parse(
            br#"{"source":"rejects","pipeline":"user_events","reason":"wrong_type"}"#,
        )
        .unwrap();
        assert!(
            matches!(c, Command::Rejects { ref options } if options.pipeline == "user_events"),
            "{c:?}"
        );
    }

    #[test]
    fn bad_commands_say_why() {
        for (json, want) in [
            (&br#"{"source":"nope"}"#[..], "unknown variant"),
            (br#"{"queue":"x"}"#, "missing field `source`"),
            (br#"{"source":"sqs"}"#, "missing field `queue`"),
            (
                br#"{"source":"sqs","queue":"q","match":"pipeline =="}"#,
                "match",
            ),
            (b"not json", "expected"),
        ] {
            let e = Command::parse(json).unwrap_err().to_string();
            assert!(e.contains(want), "{}: {e}", String::from_utf8_lossy(json));
        }
    }
}
