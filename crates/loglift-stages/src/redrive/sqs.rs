//! SQS dead-letter queues: look without consuming ([`peek`], [`inspect`]), move back
//! ([`move_messages`]: receive → send → delete after the send succeeded).
//!
//! Everything here is generic over the [`Queue`] port, so it runs the same on SQS (queue URLs)
//! and on local mode's SQLite queues (queue names). SQS's own `StartMessageMoveTask` is an AWS
//! call and lives with the adapter (`loglift_aws::SqsQueue::start_move_task`).
//!
//! # The `match` syntax ([`Filter`])
//!
//! ```text
//! [PATH] [OP VALUE]
//! PATH  := ('$' | NAME) ('.' NAME | '[' INDEX ']' | '["' any text '"]')*     a bare NAME is $.NAME
//! NAME  := letters, digits, '_' or '-', not starting with a digit or '-'
//! OP    := '==' | '!=' | '~' (regex search) | '!~' (regex does not match)
//! VALUE := a JSON string literal ("…", with escapes), or the rest of the text, trimmed
//! ```
//!
//! - `pipeline == user_events`, `$.table != tracking.events`: the body's value at the path,
//!   compared as text (a string as it is, a number or boolean as JSON writes it, `42`, `true`).
//! - `$.Records[0].s3.object.key ~ ^raw/pipeline%3Dapp_logs/`: a regex search (the `regex` crate
//!   syntax; unanchored unless you write `^`/`$`). S3 notification bodies carry their keys
//!   form-encoded (`=` is `%3D`, a space is `+`): match the encoded form.
//! - `~ TestEvent`, `!~ "^\\{"`: without a path, the test applies to the whole body.
//! - `$.error` alone: the path exists and is not null.
//!
//! A missing (or null) value never equals or matches, so `!=` and `!~` hold for it; a body
//! that is not JSON matches no path test at all (only whole-body tests).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use loglift_core::storage::{Layout, LoaderMessage};
use loglift_ports::{ObjectStore, OutgoingMessage, PortError, PortResult, Queue, ReceivedMessage};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::{Progress, RedriveReport};

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

/// Characters of a body shown when it is neither an S3 event nor a loader message.
const PREVIEW_CHARS: usize = 80;

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
// The filter
// ---------------------------------------------------------------------------------------------

/// A `--match` expression that cannot be parsed: where (0-based character offset into the
/// expression) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("match expression {expression:?}: at character {position}: {message}")]
pub struct FilterError {
    pub expression: String,
    pub position: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone)]
enum Test {
    Exists,
    Equals(String),
    NotEquals(String),
    Matches(regex_lite::Regex),
    NotMatches(regex_lite::Regex),
}

/// A parsed `match` expression (syntax in [the module docs](self)). Deserializes from, and
/// serializes to, its text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Filter {
    text: String,
    /// `None`: the test applies to the whole body.
    path: Option<Vec<Step>>,
    test: Test,
}

impl Filter {
    /// Parse an expression.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        Parser::new(text).parse()
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a message body matches.
    pub fn matches(&self, body: &str) -> bool {
        let Some(path) = &self.path else {
            return self.test.holds(Some(body));
        };
        let Ok(json) = serde_json::from_str::<Value>(body) else {
            return false;
        };
        let value = path
            .iter()
            .try_fold(&json, |v, step| match step {
                Step::Key(k) => v.get(k.as_str()),
                Step::Index(i) => v.get(*i),
            })
            .filter(|v| !v.is_null());
        let text = value.map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        self.test.holds(text.as_deref())
    }
}

impl Test {
    fn holds(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (Test::Exists, v) => v.is_some(),
            (Test::Equals(want), Some(v)) => v == want,
            (Test::NotEquals(want), Some(v)) => v != want,
            (Test::Matches(re), Some(v)) => re.is_match(v),
            (Test::NotMatches(re), Some(v)) => !re.is_match(v),
            (Test::Equals(_) | Test::Matches(_), None) => false,
            (Test::NotEquals(_) | Test::NotMatches(_), None) => true,
        }
    }
}

impl FromStr for Filter {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

impl TryFrom<String> for Filter {
    type Error = FilterError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Filter::parse(&s)
    }
}

impl From<Filter> for String {
    fn from(f: Filter) -> String {
        f.text
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A small recursive-descent parser over the expression's characters.
struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn error(&self, position: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            expression: self.text.to_owned(),
            position,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn rest(&self) -> String {
        self.chars
            .get(self.pos..)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    fn parse(mut self) -> Result<Filter, FilterError> {
        self.skip_ws();
        if self.peek().is_none() {
            return Err(self.error(0, "empty expression"));
        }
        let path = match self.peek() {
            Some('$') => {
                self.pos += 1;
                Some(self.steps(Vec::new())?)
            }
            Some(c) if is_name_start(c) => {
                let first = self.name();
                Some(self.steps(vec![Step::Key(first)])?)
            }
            _ => None,
        };
        self.skip_ws();
        let op_at = self.pos;
        let op = match (self.peek(), self.peek_at(1)) {
            (None, _) => {
                return match path {
                    Some(path) => Ok(Filter {
                        text: self.text.to_owned(),
                        path: Some(path),
                        test: Test::Exists,
                    }),
                    None => Err(self.error(op_at, "expected a path")),
                }
            }
            (Some('='), Some('=')) => "==",
            (Some('!'), Some('=')) => "!=",
            (Some('!'), Some('~')) => "!~",
            (Some('~'), _) => "~",
            (Some(c), _) => {
                let what = if path.is_some() {
                    "expected ==, !=, ~ or !~ after the path"
                } else {
                    "expected a path ($.a.b, $.a[0], a bare name) or ~ / !~ / == / != for the whole body"
                };
                return Err(self.error(op_at, format!("{what}, found {c:?}")));
            }
        };
        self.pos += op.chars().count();
        self.skip_ws();
        let value_at = self.pos;
        let value = self.value(op)?;
        let regex = |v: &str| {
            regex_lite::Regex::new(v)
                .map_err(|e| self.error(value_at, format!("invalid regex: {e}")))
        };
        let test = match op {
            "==" => Test::Equals(value),
            "!=" => Test::NotEquals(value),
            "~" => Test::Matches(regex(&value)?),
            _ => Test::NotMatches(regex(&value)?),
        };
        Ok(Filter {
            text: self.text.to_owned(),
            path,
            test,
        })
    }

    /// `.name`, `[index]`, `["key"]` steps after the path's start.
    fn steps(&mut self, mut steps: Vec<Step>) -> Result<Vec<Step>, FilterError> {
        loop {
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    let at = self.pos;
                    if !self.peek().is_some_and(is_name_start) {
                        return Err(self.error(
                            at,
                            "expected a field name after '.' (use [\"…\"] for other names)",
                        ));
                    }
                    steps.push(Step::Key(self.name()));
                }
                Some('[') => {
                    let open = self.pos;
                    self.pos += 1;
                    if self.peek() == Some('"') {
                        let key = self.json_string()?;
                        steps.push(Step::Key(key));
                    } else {
                        let start = self.pos;
                        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                            self.pos += 1;
                        }
                        let digits: String = self
                            .chars
                            .get(start..self.pos)
                            .unwrap_or_default()
                            .iter()
                            .collect();
                        let index = digits.parse::<usize>().map_err(|_| {
                            self.error(start, "expected an array index or a \"quoted\" key")
                        })?;
                        steps.push(Step::Index(index));
                    }
                    if self.peek() != Some(']') {
                        return Err(
                            self.error(self.pos, format!("expected ']' closing the '[' at {open}"))
                        );
                    }
                    self.pos += 1;
                }
                _ => return Ok(steps),
            }
        }
    }

    fn name(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        self.chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    /// A JSON string literal starting at the current `"`.
    fn json_string(&mut self) -> Result<String, FilterError> {
        let start = self.pos;
        let rest = self.rest();
        let mut stream = serde_json::Deserializer::from_str(&rest).into_iter::<String>();
        match stream.next() {
            Some(Ok(s)) => {
                let used = rest.get(..stream.byte_offset()).unwrap_or_default();
                self.pos += used.chars().count();
                Ok(s)
            }
            Some(Err(e)) => Err(self.error(start, format!("bad string literal: {e}"))),
            None => Err(self.error(start, "expected a string literal")),
        }
    }

    fn value(&mut self, op: &str) -> Result<String, FilterError> {
        let at = self.pos;
        if self.peek() == Some('"') {
            let value = self.json_string()?;
            self.skip_ws();
            if self.peek().is_some() {
                return Err(self.error(self.pos, "unexpected text after the quoted value"));
            }
            return Ok(value);
        }
        let value = self.rest().trim_end().to_owned();
        if value.is_empty() {
            return Err(self.error(at, format!("expected a value after {op} (\"\" for empty)")));
        }
        self.pos = self.chars.len();
        Ok(value)
    }
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

// ---------------------------------------------------------------------------------------------
// Body summaries
// ---------------------------------------------------------------------------------------------

/// What a message body is, in a few words: the S3 objects of a notification, the table and
/// source of a loader message, or the start of anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BodySummary {
    /// An S3 event notification (plain, SNS-wrapped or EventBridge).
    S3Event {
        /// `s3://bucket/key` (decoded) of each created object.
        objects: Vec<String>,
        /// Events that are not creations (deletions, …).
        ignored: usize,
        test_event: bool,
    },
    /// A loader message (transform → dedupe-loader).
    Loader {
        pipeline: String,
        table: String,
        /// `s3://bucket/key#version` of the raw or landing object.
        source: String,
        objects: usize,
    },
    /// Anything else: the first characters.
    Other { preview: String, bytes: usize },
}

impl BodySummary {
    /// Summarise a message body.
    pub fn of(body: &str) -> BodySummary {
        if let Ok(m) = serde_json::from_str::<LoaderMessage>(body) {
            return BodySummary::Loader {
                pipeline: m.pipeline,
                table: m.table,
                source: format!(
                    "s3://{}/{}#{}",
                    m.source.bucket, m.source.key, m.source.version
                ),
                objects: m.objects.len(),
            };
        }
        if let Ok(n) = loglift_core::s3event::parse_body(body) {
            return BodySummary::S3Event {
                objects: n
                    .created
                    .iter()
                    .map(|o| format!("s3://{}/{}", o.bucket, o.key))
                    .collect(),
                ignored: n.ignored.len(),
                test_event: n.test_event,
            };
        }
        let mut preview: String = body
            .chars()
            .take(PREVIEW_CHARS)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if body.chars().nth(PREVIEW_CHARS).is_some() {
            preview.push('…');
        }
        BodySummary::Other {
            preview,
            bytes: body.len(),
        }
    }
}

impl fmt::Display for BodySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodySummary::S3Event {
                objects,
                ignored,
                test_event,
            } => {
                if *test_event {
                    return f.write_str("s3:TestEvent");
                }
                match objects.as_slice() {
                    [] => f.write_str("S3 event without created objects")?,
                    [one] => write!(f, "S3 event {one}")?,
                    [first, rest @ ..] => write!(f, "S3 event {first} (+{} more)", rest.len())?,
                }
                if *ignored > 0 {
                    write!(f, ", {ignored} ignored")?;
                }
                Ok(())
            }
            BodySummary::Loader {
                pipeline,
                table,
                source,
                objects,
            } => write!(
                f,
                "loader {pipeline} → {table}, {objects} object(s) from {source}"
            ),
            BodySummary::Other { preview, bytes } => write!(f, "{bytes} bytes: {preview}"),
        }
    }
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

    const S3_BODY: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"lake"},"object":{"key":"raw/pipeline%3Dapp_logs/dt%3D2026-01-01/a+b.gz","size":3}}}]}"#;
    const LOADER_BODY: &str = r#"{"v":1,"pipeline":"user_events","table":"tracking.events","spec_version":3,"source":{"bucket":"lake","key":"raw/x.gz","version":"e1"},"objects":[],"rejected":0,"n":42,"ok":true,"nothing":null}"#;

    fn matches(expr: &str, body: &str) -> bool {
        Filter::parse(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .matches(body)
    }

    #[test]
    fn filters_match_as_documented() {
        for (expr, body, want) in [
            ("pipeline == user_events", LOADER_BODY, true),
            ("pipeline==user_events", LOADER_BODY, true),
            ("$.pipeline == user_event", LOADER_BODY, false),
            ("$.pipeline != user_event", LOADER_BODY, true),
            ("$.table == tracking.events", LOADER_BODY, true),
            ("$.source.key == raw/x.gz", LOADER_BODY, true),
            (r#"$["source"]["version"] == "e1""#, LOADER_BODY, true),
            ("$.n == 42", LOADER_BODY, true),
            ("$.n == \"42\"", LOADER_BODY, true),
            ("$.ok == true", LOADER_BODY, true),
            ("$.n ~ ^4", LOADER_BODY, true),
            ("$.nothing", LOADER_BODY, false),
            ("$.nothing != x", LOADER_BODY, true),
            ("$.missing == x", LOADER_BODY, false),
            ("$.missing != x", LOADER_BODY, true),
            ("$.missing !~ x", LOADER_BODY, true),
            ("$.missing ~ .*", LOADER_BODY, false),
            ("$.n", LOADER_BODY, true),
            ("pipeline", LOADER_BODY, true),
            (
                "$.Records[0].s3.object.key ~ ^raw/pipeline%3Dapp_logs/",
                S3_BODY,
                true,
            ),
            (
                "$.Records[0].s3.object.key ~ ^raw/pipeline%3Duser_events/",
                S3_BODY,
                false,
            ),
            ("$.Records[1].s3.object.key ~ .", S3_BODY, false),
            ("$.Records[0].s3.bucket.name == lake", S3_BODY, true),
            ("$.Records.s3", S3_BODY, false),
            ("~ ObjectCreated", S3_BODY, true),
            ("!~ ObjectCreated", S3_BODY, false),
            (r#"~ "^\\{\"v\":1""#, LOADER_BODY, true),
            ("== not json at all", "not json at all", true),
            ("!= not json at all", "not json", true),
            ("pipeline != x", "not json", false),
            ("pipeline !~ x", "not json", false),
            ("  $.pipeline   ==   user_events  ", LOADER_BODY, true),
            ("$.x == \"\"", r#"{"x":""}"#, true),
            ("$.a-b == 1", r#"{"a-b":1}"#, true),
            (r#"$["a b"] == "two words""#, r#"{"a b":"two words"}"#, true),
            ("$[1] == b", r#"["a","b"]"#, true),
            ("$.emoji == ✓ ok", r#"{"emoji":"✓ ok"}"#, true),
        ] {
            assert_eq!(matches(expr, body), want, "{expr:?} on {body}");
        }
    }

    #[test]
    fn bad_filters_say_where_and_why() {
        for (expr, position, fragment) in [
            ("", 0, "empty"),
            ("   ", 0, "empty"),
            ("$.", 2, "field name"),
            ("$.a[", 4, "array index"),
            ("$.a[1", 5, "expected ']'"),
            ("$.a[x]", 4, "array index"),
            ("$.a =", 4, "expected =="),
            ("$.a == ", 7, "expected a value"),
            ("$.a ~ (", 6, "invalid regex"),
            ("~ [", 2, "invalid regex"),
            ("$.a == \"x\" y", 11, "after the quoted value"),
            ("$.a == \"x", 7, "bad string literal"),
            ("= x", 0, "expected a path"),
            ("1abc == x", 0, "expected a path"),
            (r#"$["a" == x"#, 5, "expected ']'"),
        ] {
            let err = Filter::parse(expr).expect_err(expr);
            assert_eq!(err.position, position, "{expr:?}: {err}");
            assert!(err.to_string().contains(fragment), "{expr:?}: {err}");
        }
    }

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

    #[test]
    fn bodies_are_summarised() {
        assert_eq!(
            BodySummary::of(S3_BODY).to_string(),
            "S3 event s3://lake/raw/pipeline=app_logs/dt=2026-01-01/a b.gz"
        );
        assert_eq!(
            BodySummary::of(LOADER_BODY).to_string(),
            "loader user_events → tracking.events, 0 object(s) from s3://lake/raw/x.gz#e1"
        );
        assert_eq!(
            BodySummary::of(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#).to_string(),
            "s3:TestEvent"
        );
        let long = format!("line one\n{}", "x".repeat(200));
        let BodySummary::Other { preview, bytes } = BodySummary::of(&long) else {
            panic!("not Other");
        };
        assert_eq!(bytes, long.len());
        assert_eq!(preview.chars().count(), PREVIEW_CHARS + 1);
        assert!(
            preview.starts_with("line one x") && preview.ends_with('…'),
            "{preview}"
        );
        assert_eq!(
            BodySummary::of("ünï").to_string(),
            "5 bytes: ünï",
            "short bodies are whole, multi-byte characters intact"
        );
    }
}
