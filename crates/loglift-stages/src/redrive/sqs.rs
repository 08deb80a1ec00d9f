//! SQS dead-letter queues: look without consuming ([`peek`], [`inspect`]), move back
//! ([`move_messages`]: receive → send → delete after the send succeeded).
//!
//! Everything here is generic over the [`Queue`] port, so it runs the same on SQS (queue URLs)
//! and on local mode's SQLite queues (queue names). SQS's own `StartMessageMoveTask` is an AWS
//! call and lives with the adapter (`loglift_aws::SqsQueue::start_move_task`).
//!
//! The `--match` syntax and body summaries are pure and live in
//! [`loglift_core::message_filter`] (re-exported here).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use loglift_core::storage::Layout;
use loglift_ports::{ObjectStore, OutgoingMessage, PortError, PortResult, Queue, ReceivedMessage};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::{Progress, RedriveReport};

pub use loglift_core::message_filter::{BodySummary, Filter, FilterError, PREVIEW_CHARS};

/// How long [`peek`] hides the messages it has seen while it reads the rest.
pub const PEEK_HOLD: Duration = Duration::from_secs(60);

/// How long [`move_messages`] keeps a received message hidden by default (see
/// [`MoveOptions::visibility_timeout_seconds`]).
pub const MOVE_HOLD: Duration = Duration::from_secs(120);

/// The longest visibility timeout SQS accepts.
const MAX_HOLD: Duration = Duration::from_secs(12 * 60 * 60);

/// How long one receive waits for messages (a long poll asks every SQS server).
const RECEIVE_WAIT: Duration = Duration::from_secs(1);

/// Receives in a row that bring no message not seen before, after which a run is done.
const IDLE_RECEIVES: u32 = 2;

/// The most bytes of a failure record [`inspect`] reads.
const MAX_FAILURE_RECORD_BYTES: u64 = 4 * 1024 * 1024;

/// Read up to `max` messages of `queue` without consuming them: each is received (hidden for
/// [`PEEK_HOLD`] so the next receive sees others), and made visible again (visibility 0) once
/// all are read. Receiving raises a message's receive count — harmless on a DLQ, which has no
/// redrive policy of its own; do not peek at a queue a consumer is draining.
pub async fn peek<Q: Queue>(queue: &Q, url: &str, max: usize) -> PortResult<Vec<ReceivedMessage>> {
    let mut seen: Vec<ReceivedMessage> = Vec::new();
    let mut empty_receives = 0;
    while seen.len() < max && empty_receives < 2 {
        let want = u32::try_from((max - seen.len()).min(10)).unwrap_or(10);
        let batch = queue
            .receive(url, want, Duration::from_secs(1), Some(PEEK_HOLD))
            .await?;
        if batch.is_empty() {
            empty_receives += 1;
        } else {
            empty_receives = 0;
        }
        seen.extend(batch);
    }
    for message in &seen {
        queue
            .change_visibility(url, &message.receipt_handle, Duration::ZERO)
            .await?;
    }
    Ok(seen)
}

// ---------------------------------------------------------------------------------------------
// Inspect
// ---------------------------------------------------------------------------------------------

/// A failure reason as [`crate::failure::record`] writes it at
/// `errors/failures/queue=<queue>/<message id>.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailureReason {
    pub stage: String,
    pub queue: String,
    pub reason: String,
    /// When it was recorded (the last failed receive), RFC 3339.
    pub time: String,
    /// The receive count of the failed receive that recorded it.
    pub receive_count: u32,
}

/// One message of [`inspect`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectedMessage {
    pub message_id: String,
    pub receive_count: u32,
    pub sent_at: Option<DateTime<Utc>>,
    /// Seconds since it was first sent.
    pub age_seconds: Option<i64>,
    pub summary: BodySummary,
    /// Message attributes as text: the value, with the data type when it is not `String`
    /// (`<n bytes>` for binary ones).
    pub attributes: BTreeMap<String, String>,
    /// The recorded reason, when one of the failure queues has it.
    pub failure: Option<FailureReason>,
}

/// Look at up to `max` messages of `url` without consuming them ([`peek`]) and put each next to
/// its failure reason: the first of `failure_queues` (queue names: the inspected queue's own
/// name and, for a DLQ, the names of its source queues — message ids survive the redrive
/// policy's move) with a record for the message id.
pub async fn inspect<Q: Queue, S: ObjectStore>(
    queue: &Q,
    url: &str,
    store: &S,
    layout: &Layout,
    failure_queues: &[String],
    max: usize,
    now: DateTime<Utc>,
) -> PortResult<Vec<InspectedMessage>> {
    let messages = peek(queue, url, max).await?;
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        let failure = failure_reason(store, layout, failure_queues, &m.message_id).await?;
        out.push(InspectedMessage::new(m, failure, now));
    }
    Ok(out)
}

impl InspectedMessage {
    /// Describe a received message (age as of `now`) next to its failure reason.
    pub fn new(m: ReceivedMessage, failure: Option<FailureReason>, now: DateTime<Utc>) -> Self {
        InspectedMessage {
            summary: BodySummary::of(&m.body),
            age_seconds: m.sent_at.map(|t| (now - t).num_seconds()),
            message_id: m.message_id,
            receive_count: m.receive_count,
            sent_at: m.sent_at,
            attributes: m
                .attributes
                .into_iter()
                .map(|(name, a)| (name, a.to_string()))
                .collect(),
            failure,
        }
    }
}

/// The failure reason recorded for `message_id` under the first of `queue_names` that has one.
/// A record that cannot be read as JSON comes back with the parse error as its reason.
pub async fn failure_reason<S: ObjectStore>(
    store: &S,
    layout: &Layout,
    queue_names: &[String],
    message_id: &str,
) -> PortResult<Option<FailureReason>> {
    for name in queue_names {
        let key = layout.failure_key(name, message_id);
        let object = match store.get(&layout.errors.bucket, &key).await {
            Ok(o) => o,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        object
            .body
            .take(MAX_FAILURE_RECORD_BYTES)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| PortError::Transient {
                op: "GetObject",
                target: format!("{}/{key}", layout.errors.bucket),
                message: e.to_string(),
                source: None,
            })?;
        let reason =
            serde_json::from_slice::<FailureReason>(&bytes).unwrap_or_else(|e| FailureReason {
                queue: name.clone(),
                reason: format!("unreadable failure record {key}: {e}"),
                ..FailureReason::default()
            });
        return Ok(Some(reason));
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// The manual move
// ---------------------------------------------------------------------------------------------

/// What [`move_messages`] moves and how fast. Deserializes from the dlq-redrive Lambda's JSON
/// command: `{"match": "pipeline == app_logs", "older_than_seconds": 3600, "max": 100,
/// "rate_per_second": 10, "dry_run": true}` (every field optional; unknown fields are left to
/// the surrounding command).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MoveOptions {
    /// Move only messages whose body matches (syntax in [the module docs](self)).
    #[serde(rename = "match")]
    pub filter: Option<Filter>,
    /// Move only messages first sent at least this long ago (a message the redrive policy moved
    /// to the DLQ keeps its original send time).
    pub older_than_seconds: Option<u64>,
    /// Move at most this many.
    pub max: Option<u64>,
    /// Send at most this many messages per second.
    pub rate_per_second: Option<f64>,
    /// Change nothing: report what would move, one detail line each.
    pub dry_run: bool,
    /// How long a received message stays hidden while this run handles it and looks at the rest
    /// (default [`MOVE_HOLD`]; the rate limit's time for a batch is added). Messages left where
    /// they are are made visible again when the run ends; after an interruption, what the run
    /// held reappears after this long.
    pub visibility_timeout_seconds: Option<u64>,
}

impl MoveOptions {
    /// Refuse settings that cannot work (a rate that is not a positive number).
    pub fn check(&self) -> Result<(), String> {
        if let Some(rate) = self.rate_per_second {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(format!(
                    "rate_per_second must be a positive number, not {rate}"
                ));
            }
        }
        if self
            .visibility_timeout_seconds
            .is_some_and(|s| Duration::from_secs(s) > MAX_HOLD)
        {
            return Err("visibility_timeout_seconds must be at most 43200 (12 hours)".to_owned());
        }
        Ok(())
    }
}

/// What the run knows of a message id it has received.
enum Seen {
    /// Left where it is, hidden until the run ends (then made visible): filtered out, over
    /// `max`, a dry run's would-move, a failed send. The latest receipt handle.
    Held(String),
    /// Sent to the target but the delete failed: delete it when it shows up again.
    SentNotDeleted,
    /// Sent and deleted.
    Moved,
}

/// Paces sends to a rate.
struct Pacer {
    interval: Option<Duration>,
    next: tokio::time::Instant,
}

impl Pacer {
    fn new(rate: Option<f64>) -> Self {
        Pacer {
            interval: rate.map(|r| Duration::try_from_secs_f64(1.0 / r).unwrap_or(MAX_HOLD)),
            next: tokio::time::Instant::now(),
        }
    }

    async fn wait(&mut self) {
        let Some(interval) = self.interval else {
            return;
        };
        tokio::time::sleep_until(self.next).await;
        self.next = self.next.max(tokio::time::Instant::now()) + interval;
    }
}

/// Move messages from queue `from` (a DLQ) to queue `to` (its source, or any target): receive a
/// batch, and for each new message that passes the filters send its body and message
/// attributes to `to`, then delete it from `from` — only after the send succeeded. What is left
/// where it is (filtered out, over `max`, failed sends, everything in a dry run) stays hidden
/// while the run looks at the rest and is made visible again when the run ends, also when it
/// ends in an error; each message id is counted once per run. The run ends when `max` messages
/// moved or two receives in a row bring nothing new.
///
/// At-least-once: a run interrupted between a send and its delete leaves that message in both
/// queues; it reappears in `from` after the hold and the next run moves it once more (the
/// loader's dedupe absorbs the duplicate). The target assigns new message ids.
///
/// Errors: a queue that does not exist, or a receive that fails, ends the run (`Err`); a send
/// that fails counts the message `failed` (it stays in `from`) and the run goes on.
pub async fn move_messages<Q: Queue, P: Progress>(
    queue: &Q,
    from: &str,
    to: &str,
    opts: &MoveOptions,
    progress: &P,
) -> PortResult<RedriveReport> {
    let reject = |message: String| PortError::Rejected {
        op: "MoveMessages",
        target: from.to_owned(),
        message,
        source: None,
    };
    opts.check().map_err(reject)?;
    if from == to {
        return Err(reject(
            "the source and the target are the same queue".into(),
        ));
    }
    let mut run = Run {
        queue,
        from,
        to,
        opts,
        progress,
        report: RedriveReport {
            dry_run: opts.dry_run,
            ..RedriveReport::default()
        },
        seen: HashMap::new(),
        cutoff: opts.older_than_seconds.map(|s| {
            i64::try_from(s)
                .ok()
                .and_then(chrono::Duration::try_seconds)
                .and_then(|d| Utc::now().checked_sub_signed(d))
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        }),
        pacer: Pacer::new(opts.rate_per_second),
    };
    let result = run.go().await;
    run.release().await;
    result?;
    let report = run.report;
    tracing::info!(
        from,
        to,
        moved = report.moved,
        skipped = report.skipped,
        failed = report.failed,
        dry_run = report.dry_run,
        "DLQ redrive done"
    );
    Ok(report)
}

struct Run<'a, Q, P> {
    queue: &'a Q,
    from: &'a str,
    to: &'a str,
    opts: &'a MoveOptions,
    progress: &'a P,
    report: RedriveReport,
    seen: HashMap<String, Seen>,
    cutoff: Option<DateTime<Utc>>,
    pacer: Pacer,
}

impl<Q: Queue, P: Progress> Run<'_, Q, P> {
    fn limit_reached(&self) -> bool {
        self.opts.max.is_some_and(|max| self.report.moved >= max)
    }

    fn hold_for(&self, batch: u32) -> Duration {
        let base = self
            .opts
            .visibility_timeout_seconds
            .map_or(MOVE_HOLD, Duration::from_secs);
        let pacing = self.opts.rate_per_second.map_or(Duration::ZERO, |r| {
            Duration::try_from_secs_f64(f64::from(batch) / r).unwrap_or(MAX_HOLD)
        });
        (base + pacing).min(MAX_HOLD)
    }

    async fn go(&mut self) -> PortResult<()> {
        let depth = self.queue.depth(self.from).await?;
        let total = match (self.opts.max, &self.opts.filter, self.cutoff) {
            (Some(max), None, None) => depth.visible.min(max),
            _ => depth.visible,
        };
        self.progress.set_total(total);
        let mut idle = 0;
        while idle < IDLE_RECEIVES && !self.limit_reached() {
            let want = match (self.opts.max, &self.opts.filter, self.cutoff) {
                (Some(max), None, None) => max.saturating_sub(self.report.moved).clamp(1, 10),
                _ => 10,
            };
            let want = u32::try_from(want).unwrap_or(10);
            let batch = self
                .queue
                .receive(self.from, want, RECEIVE_WAIT, Some(self.hold_for(want)))
                .await?;
            let mut new = 0;
            for message in batch {
                if self.handle(message).await? {
                    new += 1;
                }
            }
            idle = if new == 0 { idle + 1 } else { 0 };
        }
        Ok(())
    }

    /// Handle one received message; `true` when it is new to this run.
    async fn handle(&mut self, m: ReceivedMessage) -> PortResult<bool> {
        match self.seen.get_mut(&m.message_id) {
            Some(Seen::Held(handle)) => {
                // Its hold ran out and it came back: keep it hidden under the new handle.
                *handle = m.receipt_handle;
                return Ok(false);
            }
            Some(Seen::SentNotDeleted) => {
                if self
                    .queue
                    .delete(self.from, &m.receipt_handle)
                    .await
                    .is_ok()
                {
                    self.seen.insert(m.message_id, Seen::Moved);
                }
                return Ok(false);
            }
            Some(Seen::Moved) => return Ok(false),
            None => {}
        }
        self.progress.advance(1);
        let eligible = !self.limit_reached()
            && self
                .cutoff
                .is_none_or(|cutoff| m.sent_at.is_some_and(|t| t <= cutoff))
            && self.opts.filter.as_ref().is_none_or(|f| f.matches(&m.body));
        if !eligible {
            self.report.skipped += 1;
            self.seen.insert(m.message_id, Seen::Held(m.receipt_handle));
            return Ok(true);
        }
        if self.opts.dry_run {
            self.report.moved += 1;
            self.report.details.push(format!(
                "would move {}: {} (receive count {}, sent {})",
                m.message_id,
                BodySummary::of(&m.body),
                m.receive_count,
                m.sent_at.map_or_else(
                    || "at an unknown time".to_owned(),
                    loglift_core::timefmt::rfc3339
                ),
            ));
            self.seen.insert(m.message_id, Seen::Held(m.receipt_handle));
            return Ok(true);
        }
        self.pacer.wait().await;
        let outgoing = OutgoingMessage {
            body: m.body,
            attributes: m.attributes,
        };
        match self.queue.send(self.to, &outgoing).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                self.seen.insert(m.message_id, Seen::Held(m.receipt_handle));
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(message_id = %m.message_id, error = %e, "Could not send a message to the target");
                self.report.failed += 1;
                self.report
                    .details
                    .push(format!("failed {}: {e}", m.message_id));
                self.seen.insert(m.message_id, Seen::Held(m.receipt_handle));
                return Ok(true);
            }
        }
        self.report.moved += 1;
        match self.queue.delete(self.from, &m.receipt_handle).await {
            Ok(()) => {
                self.seen.insert(m.message_id, Seen::Moved);
            }
            Err(e) => {
                tracing::warn!(message_id = %m.message_id, error = %e, "Sent a message but could not delete it from the DLQ");
                self.report.details.push(format!(
                    "sent {} but could not delete it from the DLQ ({e}): a later run moves it again",
                    m.message_id
                ));
                self.seen.insert(m.message_id, Seen::SentNotDeleted);
            }
        }
        Ok(true)
    }

    /// Make every held message visible again (best effort: a failure only means the message
    /// reappears when its hold ends).
    async fn release(&mut self) {
        for (id, seen) in &self.seen {
            if let Seen::Held(handle) = seen {
                if let Err(e) = self
                    .queue
                    .change_visibility(self.from, handle, Duration::ZERO)
                    .await
                {
                    tracing::warn!(message_id = %id, error = %e, "Could not make a message visible again; it reappears when its hold ends");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_deserialize_from_the_lambda_command() {
        let opts: MoveOptions = serde_json::from_str(
            r#"{"match":"pipeline == app_logs","older_than_seconds":3600,"max":5,"rate_per_second":2.5,"dry_run":true,"source":"ignored"}"#,
        )
        .unwrap();
        assert_eq!(
            opts.filter.as_ref().map(Filter::as_str),
            Some("pipeline == app_logs")
        );
        assert_eq!(
            (
                opts.older_than_seconds,
                opts.max,
                opts.rate_per_second,
                opts.dry_run
            ),
            (Some(3600), Some(5), Some(2.5), true)
        );
        let defaults: MoveOptions = serde_json::from_str("{}").unwrap();
        assert!(defaults.filter.is_none() && !defaults.dry_run && defaults.max.is_none());
        let err = serde_json::from_str::<MoveOptions>(r#"{"match":"$.a ~ ("}"#).unwrap_err();
        assert!(err.to_string().contains("invalid regex"), "{err}");
        let bad_rate: MoveOptions = serde_json::from_str(r#"{"rate_per_second":0}"#).unwrap();
        assert!(bad_rate.check().is_err());
        let round_trip = serde_json::to_value(&opts).unwrap();
        assert_eq!(round_trip["match"], "pipeline == app_logs");
    }
}
