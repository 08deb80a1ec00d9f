//! Unwrap one Kinesis or Firehose record (its bytes, base64 already decoded) into events:
//! KPL aggregates are opened, gzip / zlib payloads decompressed under a cap, CloudWatch Logs
//! subscription payloads split into their log events, and plain JSON objects, JSON arrays or
//! NDJSON lines read as events. Whole-record problems are an `Err`; problems with one event
//! (a line, an array element, a log event, a KPL user record) are [`EventReject`]s beside the
//! good events, with the same positions.
//!
//! [`read_record`] hands each event to a sink as it is read, borrowed from the record (or from its
//! decompressed text): a JSON event is checked and its wanted fields parsed in one pass
//! ([`crate::event_json`]), never built into a tree, and uncompressed payloads are not copied.
//! [`unwrap_record`] collects owned [`Event`]s with their whole objects (tests, fuzzing).

use std::ops::ControlFlow;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::compress::{self, Caps, Compression};
use crate::cwlogs::{self, LogsPayload, MessageType};
use crate::event_json::{self, JsonEvent, Wanted};
use crate::kpl;
use crate::reject::{Reason, Rejection};

/// Caps applied while unwrapping one record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Decompression caps for the record. A KPL aggregate's user records share one budget: the
    /// cap computed for the whole aggregate's size.
    pub record: Caps,
}

/// Where a CloudWatch Logs event came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogMeta {
    pub log_group: String,
    pub log_stream: String,
    /// The log event's `id`: unique per event, a natural dedupe key.
    pub id: String,
    pub timestamp_ms: i64,
}

/// [`LogMeta`], borrowed from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRef<'a> {
    pub log_group: &'a str,
    pub log_stream: &'a str,
    pub id: &'a str,
    pub timestamp_ms: i64,
}

/// One event out of a record, owned, with its whole object ([`unwrap_record`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Index of the event in the record, in flattening order (0-based; rejects take positions
    /// too).
    pub position: u32,
    /// Set when the event is a CloudWatch Logs log event.
    pub log: Option<LogMeta>,
    /// The KPL user record's partition key, when the record was an aggregate.
    pub partition_key: Option<String>,
    pub object: Map<String, Value>,
    /// The log event's message, unparsed, when its log group's pipeline reads text
    /// ([`unwrap_record_with`]); `object` is then empty.
    pub text: Option<String>,
}

/// One event as [`read_record`] hands it over, borrowed.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRef<'a> {
    /// As [`Event::position`].
    pub position: u32,
    pub log: Option<LogRef<'a>>,
    pub partition_key: Option<&'a str>,
    pub body: EventBody<'a>,
}

/// What an event holds.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody<'a> {
    /// A JSON object event: its text and wanted fields.
    Json(JsonEvent<'a>),
    /// A log event's message, unparsed: its log group's pipeline reads text.
    Text(&'a str),
}

/// One event that could not be read, with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventReject {
    pub position: u32,
    pub rejection: Rejection,
    /// The line, array element, log event message or KPL user record, as sent.
    pub raw: Vec<u8>,
}

/// What [`read_record`] hands its sink, in record order.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    Event(EventRef<'a>),
    Reject(EventReject),
}

/// What one record held.
#[derive(Debug, Clone, PartialEq)]
pub enum Unwrapped {
    /// A CloudWatch Logs CONTROL_MESSAGE: drop it, not an error.
    Control { log_group: String },
    Events {
        /// The CloudWatch Logs log group, when the record was a subscription payload (the first
        /// one's, for a KPL aggregate of several).
        log_group: Option<String>,
        events: Vec<Event>,
        rejects: Vec<EventReject>,
    },
}

/// What [`read_record`] found, besides the items it handed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// A CloudWatch Logs CONTROL_MESSAGE (no items).
    Control { log_group: String },
    /// Events and rejects (possibly none), handed to the sink.
    Events { log_group: Option<String> },
}

/// Unwrap one record's bytes into events.
///
/// Order: empty → [`Reason::Empty`]; a KPL aggregate is opened and each user record unwrapped
/// (one level: compressed or plain, CloudWatch Logs or JSON, but not another aggregate; a bad
/// user record is an [`EventReject`]); gzip / zlib are decompressed under the caps; then the
/// bytes must be UTF-8 and:
/// - a single JSON object with `messageType` is a CloudWatch Logs payload (when the record was
///   compressed; uncompressed, `messageType` must also be `DATA_MESSAGE` or `CONTROL_MESSAGE`,
///   so a plain event with its own `messageType` field stays an event): CONTROL → [`Unwrapped::Control`],
///   DATA → one event per log event whose message is a JSON object;
/// - any other single JSON object is one event;
/// - a JSON array is one event per element;
/// - anything else is NDJSON: one event per non-blank line (`\r\n` ok), each a JSON object.
///
/// Errors (the whole record): [`Reason::Empty`] (no bytes, or only whitespace after
/// decompression), [`Reason::BadKplAggregate`], [`Reason::KplChecksum`], [`Reason::BadCompression`],
/// [`Reason::TooLarge`], [`Reason::UnsupportedCompression`], [`Reason::InvalidUtf8`],
/// [`Reason::BadCloudwatchPayload`]. Never panics.
pub fn unwrap_record(data: &[u8], limits: &Limits) -> Result<Unwrapped, Rejection> {
    unwrap_record_with(data, limits, &|_| false)
}

/// [`unwrap_record`], except that the messages of log groups for which `text_group` is true are
/// not read as JSON: each non-blank one becomes an [`Event`] with its `text` (the pipeline's text
/// format reads it after routing).
pub fn unwrap_record_with(
    data: &[u8],
    limits: &Limits,
    text_group: &dyn Fn(&str) -> bool,
) -> Result<Unwrapped, Rejection> {
    let (mut events, mut rejects) = (Vec::new(), Vec::new());
    let read = read_record(
        data,
        limits,
        text_group,
        &Wanted::default(),
        &mut |item| match item {
            Item::Event(event) => {
                events.push(Event::from(event));
                ControlFlow::Continue(())
            }
            Item::Reject(reject) => {
                rejects.push(reject);
                ControlFlow::Continue(())
            }
        },
    )?;
    Ok(match read {
        Read::Control { log_group } => Unwrapped::Control { log_group },
        Read::Events { log_group } => Unwrapped::Events {
            log_group,
            events,
            rejects,
        },
    })
}

impl From<EventRef<'_>> for Event {
    fn from(event: EventRef<'_>) -> Self {
        let (object, text) = match event.body {
            // The text was read as an object already: it parses.
            EventBody::Json(json) => (serde_json::from_str(&json.text).unwrap_or_default(), None),
            EventBody::Text(text) => (Map::new(), Some(text.to_owned())),
        };
        Event {
            position: event.position,
            log: event.log.map(|l| LogMeta {
                log_group: l.log_group.to_owned(),
                log_stream: l.log_stream.to_owned(),
                id: l.id.to_owned(),
                timestamp_ms: l.timestamp_ms,
            }),
            partition_key: event.partition_key.map(str::to_owned),
            object,
            text,
        }
    }
}

/// [`unwrap_record_with`], handing each event and reject to `sink` as it is read instead of
/// collecting them; JSON events carry the `wanted` fields. Same order, positions and errors.
/// When the sink answers [`ControlFlow::Break`], nothing more of the record is read (the reader
/// returns as if the record ended there).
pub fn read_record(
    data: &[u8],
    limits: &Limits,
    text_group: &dyn Fn(&str) -> bool,
    wanted: &Wanted,
    sink: &mut dyn FnMut(Item<'_>) -> ControlFlow<()>,
) -> Result<Read, Rejection> {
    if data.is_empty() {
        return Err(Rejection::new(Reason::Empty, "record has no bytes"));
    }
    let mut out = Collector {
        text_group,
        wanted,
        sink,
        log_group: None,
        next: 0,
        stopped: false,
    };
    if kpl::is_aggregate(data) {
        unwrap_aggregate(data, limits, &mut out)?;
    } else {
        let (text, compressed) = decode(data, limits.record.limit_for(data.len()))?;
        let body = classify(text.as_ref(), compressed, wanted)?;
        if let Body::Control { log_group } = body {
            return Ok(Read::Control { log_group });
        }
        body.emit(None, &mut out);
    }
    Ok(Read::Events {
        log_group: out.log_group,
    })
}

fn unwrap_aggregate(data: &[u8], limits: &Limits, out: &mut Collector) -> Result<(), Rejection> {
    let users = kpl::deaggregate(data)?;
    let mut budget = limits.record.limit_for(data.len());
    for (index, user) in users.into_iter().enumerate() {
        if out.stopped {
            break;
        }
        let kpl::UserRecord {
            partition_key,
            data,
            ..
        } = user;
        let context = |r: Rejection| {
            Rejection::new(
                r.reason,
                format!(
                    "KPL user record {index} (partition key {partition_key:?}): {}",
                    r.message
                ),
            )
        };
        if data.is_empty() {
            out.reject(context(Rejection::new(Reason::Empty, "no bytes")), data);
            continue;
        }
        if kpl::is_aggregate(&data) {
            let nested = Rejection::new(
                Reason::BadKplAggregate,
                "a KPL aggregate inside a KPL aggregate",
            );
            out.reject(context(nested), data);
            continue;
        }
        let limit = limits.record.limit_for(data.len()).min(budget);
        let read = decode(&data, limit).and_then(|(text, compressed)| {
            if compressed {
                budget = budget.saturating_sub(text.len());
            }
            // A control message never comes aggregated; if one does, it carries no events.
            classify(text.as_ref(), compressed, out.wanted)
                .map(|body| body.emit(Some(&partition_key), out))
        });
        if let Err(rejection) = read {
            out.reject(context(rejection), data);
        }
    }
    Ok(())
}

/// The record's text: decompressed under `limit` when compressed (then `true`), else borrowed.
fn decode(bytes: &[u8], limit: usize) -> Result<(std::borrow::Cow<'_, str>, bool), Rejection> {
    let compression = compress::sniff(bytes);
    let compressed = compression != Compression::None;
    let what = || {
        if compressed {
            format!("{} payload", compression.as_str())
        } else {
            "record".to_owned()
        }
    };
    let text = match compress::decompress_within(bytes, limit)? {
        std::borrow::Cow::Borrowed(b) => {
            std::borrow::Cow::Borrowed(std::str::from_utf8(b).map_err(|e| invalid_utf8(e, &what))?)
        }
        std::borrow::Cow::Owned(v) => std::borrow::Cow::Owned(
            String::from_utf8(v).map_err(|e| invalid_utf8(e.utf8_error(), &what))?,
        ),
    };
    Ok((text, compressed))
}

fn invalid_utf8(e: std::str::Utf8Error, what: &dyn Fn() -> String) -> Rejection {
    Rejection::new(
        Reason::InvalidUtf8,
        format!(
            "{} is not UTF-8: invalid byte at offset {}",
            what(),
            e.valid_up_to()
        ),
    )
}

/// A record's text, classified; borrows the text.
enum Body<'t> {
    Control {
        log_group: String,
    },
    Logs(LogsPayload<'t>),
    Object(JsonEvent<'t>),
    Array(Vec<&'t RawValue>),
    /// NDJSON: the first object already read (if any), then the remaining text and the line
    /// number (1-based) it starts at.
    Lines {
        first: Option<JsonEvent<'t>>,
        text: &'t str,
        first_line: usize,
    },
}

fn classify<'t>(s: &'t str, compressed: bool, wanted: &Wanted) -> Result<Body<'t>, Rejection> {
    let what = || {
        if compressed {
            "decompressed payload"
        } else {
            "record"
        }
    };
    let body = s.strip_prefix('\u{feff}').unwrap_or(s);
    let Some(first) = body.bytes().find(|b| !is_json_space(*b)) else {
        return Err(Rejection::new(
            Reason::Empty,
            format!("{} holds only whitespace", what()),
        ));
    };
    let lines = |text: &'t str| Body::Lines {
        first: None,
        text,
        first_line: 1,
    };
    match first {
        b'{' => {
            let trimmed = body.trim_end_matches([' ', '\t', '\n', '\r']);
            let Some(newline) = trimmed.find('\n') else {
                // One line: one object, or one bad line. A decompressed one naming `messageType`
                // is most likely a CloudWatch Logs payload: read as one first, so its log events
                // are not also read as one event's fields (the payload read twice).
                if compressed
                    && memchr::memmem::find(trimmed.as_bytes(), b"\"messageType\"").is_some()
                {
                    if let Ok(payload) = cwlogs::parse_str(trimmed) {
                        return Ok(Body::from(payload));
                    }
                }
                return match event_json::read(trimmed, wanted) {
                    Ok(event) => single_object(event, compressed, trimmed),
                    Err(_) => Ok(lines(body)),
                };
            };
            // NDJSON whose first line is an object (the common case): read on from line 2.
            let head = trimmed.get(..newline).unwrap_or_default();
            let head = head.strip_suffix('\r').unwrap_or(head);
            if let Ok(event) = event_json::read(head, wanted) {
                return Ok(Body::Lines {
                    first: Some(event),
                    text: body.get(newline + 1..).unwrap_or_default(),
                    first_line: 2,
                });
            }
            spanning_first_object(body, compressed, wanted).unwrap_or_else(|| Ok(lines(body)))
        }
        b'[' => match serde_json::from_str::<Vec<&RawValue>>(body) {
            Ok(items) => Ok(Body::Array(items)),
            Err(_) => Ok(lines(body)),
        },
        _ => Ok(lines(body)),
    }
}

/// A first object that spans lines (pretty-printed): the whole text, or the first of NDJSON
/// when it ends its line. `None`: read the text line by line.
fn spanning_first_object<'t>(
    s: &'t str,
    compressed: bool,
    wanted: &Wanted,
) -> Option<Result<Body<'t>, Rejection>> {
    let mut stream = serde_json::Deserializer::from_str(s).into_iter::<&RawValue>();
    let raw = stream.next()?.ok()?;
    let end = stream.byte_offset();
    let rest = s.get(end..).unwrap_or_default();
    if is_blank(rest) {
        let event = event_json::read(raw.get(), wanted).ok()?;
        return Some(single_object(event, compressed, raw.get()));
    }
    let (same_line, _) = rest.split_once('\n')?;
    if !is_blank(same_line) {
        return None;
    }
    let event = event_json::read(raw.get(), wanted).ok()?;
    let consumed = end + same_line.len() + 1;
    let newlines = s
        .get(..consumed)
        .map_or(0, |head| head.bytes().filter(|b| *b == b'\n').count());
    Some(Ok(Body::Lines {
        first: Some(event),
        text: s.get(consumed..).unwrap_or_default(),
        first_line: newlines + 1,
    }))
}

fn single_object<'t>(
    event: JsonEvent<'t>,
    compressed: bool,
    text: &'t str,
) -> Result<Body<'t>, Rejection> {
    let is_logs = match event.fields.get("messageType") {
        None => false,
        Some(_) if compressed => true,
        Some(Value::String(kind)) => MessageType::from_wire(kind).is_some(),
        Some(_) => false,
    };
    if !is_logs {
        return Ok(Body::Object(event));
    }
    Ok(Body::from(cwlogs::parse_str(text)?))
}

impl<'t> From<LogsPayload<'t>> for Body<'t> {
    fn from(payload: LogsPayload<'t>) -> Self {
        match payload.message_type {
            MessageType::ControlMessage => Body::Control {
                log_group: payload.log_group.into_owned(),
            },
            MessageType::DataMessage => Body::Logs(payload),
        }
    }
}

impl Body<'_> {
    /// Hand the events and rejects over: nothing here can fail the record.
    fn emit(self, partition_key: Option<&str>, out: &mut Collector) {
        match self {
            Body::Control { .. } => {}
            Body::Object(event) => out.event(None, partition_key, EventBody::Json(event)),
            Body::Array(items) => {
                for (index, item) in items.into_iter().enumerate() {
                    if out.stopped {
                        break;
                    }
                    let text = item.get();
                    match event_json::read(text, out.wanted) {
                        Ok(event) => out.event(None, partition_key, EventBody::Json(event)),
                        Err(e) => {
                            let rejection = match kind(text) {
                                Some(kind) => Rejection::new(
                                    Reason::InvalidJson,
                                    format!("array element {index} is {kind}, not a JSON object"),
                                ),
                                None => e.rejection(|| format!("array element {index}")),
                            };
                            out.reject(rejection, text.as_bytes().to_vec());
                        }
                    }
                }
            }
            Body::Logs(payload) => emit_logs(&payload, partition_key, out),
            Body::Lines {
                first,
                text,
                first_line,
            } => {
                if let Some(event) = first {
                    out.event(None, partition_key, EventBody::Json(event));
                }
                emit_lines(text, first_line, partition_key, out);
            }
        }
    }
}

fn emit_logs(payload: &LogsPayload<'_>, partition_key: Option<&str>, out: &mut Collector) {
    let log_group = payload.log_group.as_ref();
    let text = (out.text_group)(log_group);
    for event in &payload.log_events {
        if out.stopped {
            break;
        }
        let log = LogRef {
            log_group,
            log_stream: &payload.log_stream,
            id: &event.id,
            timestamp_ms: event.timestamp,
        };
        if is_blank(&event.message) {
            let rejection = Rejection::new(
                Reason::Empty,
                format!(
                    "log event {} of log group {log_group}: empty message",
                    event.id
                ),
            );
            out.reject(rejection, event.message.as_bytes().to_vec());
        } else if text {
            out.event(Some(log), partition_key, EventBody::Text(&event.message));
        } else {
            match event_json::read(&event.message, out.wanted) {
                Ok(json) => out.event(Some(log), partition_key, EventBody::Json(json)),
                Err(e) => {
                    let context =
                        || format!("log event {} of log group {log_group}: message", event.id);
                    out.reject(e.rejection(context), event.message.as_bytes().to_vec());
                }
            }
        }
    }
    if out.log_group.is_none() {
        out.log_group = Some(payload.log_group.clone().into_owned());
    }
}

fn emit_lines(text: &str, first_line: usize, partition_key: Option<&str>, out: &mut Collector) {
    for (offset, line) in text.split('\n').enumerate() {
        if out.stopped {
            break;
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        if is_blank(line) {
            continue;
        }
        match event_json::read(line, out.wanted) {
            Ok(event) => out.event(None, partition_key, EventBody::Json(event)),
            Err(e) => {
                let rejection = e.rejection(|| format!("line {}", first_line + offset));
                out.reject(rejection, line.as_bytes().to_vec());
            }
        }
    }
}

/// What a JSON value that is not an object is, from its first byte (`None`: an object, or not
/// JSON).
fn kind(text: &str) -> Option<&'static str> {
    match text.bytes().next()? {
        b'n' => Some("null"),
        b't' | b'f' => Some("a boolean"),
        b'"' => Some("a string"),
        b'[' => Some("an array"),
        b'-' | b'0'..=b'9' => Some("a number"),
        _ => None,
    }
}

fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_blank(s: &str) -> bool {
    s.bytes().all(is_json_space)
}

/// Numbers the items of one record and hands them to the sink, until it says stop.
struct Collector<'c> {
    /// Which log groups' messages are text (not JSON).
    text_group: &'c dyn Fn(&str) -> bool,
    wanted: &'c Wanted,
    sink: &'c mut dyn FnMut(Item<'_>) -> ControlFlow<()>,
    log_group: Option<String>,
    next: u32,
    /// The sink answered `Break`: read no further.
    stopped: bool,
}

impl Collector<'_> {
    fn position(&mut self) -> u32 {
        let position = self.next;
        self.next = self.next.saturating_add(1);
        position
    }

    fn event(&mut self, log: Option<LogRef<'_>>, partition_key: Option<&str>, body: EventBody<'_>) {
        let position = self.position();
        let flow = (self.sink)(Item::Event(EventRef {
            position,
            log,
            partition_key,
            body,
        }));
        self.stopped |= flow.is_break();
    }

    fn reject(&mut self, rejection: Rejection, raw: Vec<u8>) {
        let position = self.position();
        let flow = (self.sink)(Item::Reject(EventReject {
            position,
            rejection,
            raw,
        }));
        self.stopped |= flow.is_break();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::compress::{gzip, zlib};
    use crate::kpl::{aggregate, UserRecord};

    fn run(data: &[u8]) -> Result<Unwrapped, Rejection> {
        unwrap_record(data, &Limits::default())
    }

    /// (event positions, reject (position, reason)) of an `Events` outcome.
    fn shape(data: &[u8]) -> (Vec<u32>, Vec<(u32, Reason)>) {
        match run(data) {
            Ok(Unwrapped::Events {
                events, rejects, ..
            }) => (
                events.iter().map(|e| e.position).collect(),
                rejects
                    .iter()
                    .map(|r| (r.position, r.rejection.reason))
                    .collect(),
            ),
            other => panic!(
                "expected events from {:?}, got {other:?}",
                String::from_utf8_lossy(data)
            ),
        }
    }

    fn err(data: &[u8]) -> Reason {
        match run(data) {
            Err(r) => r.reason,
            other => panic!(
                "expected an error from {:?}, got {other:?}",
                String::from_utf8_lossy(data)
            ),
        }
    }

    fn logs(kind: &str, group: &str, messages: &[&str]) -> Vec<u8> {
        let events: Vec<Value> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| serde_json::json!({"id": format!("id-{i}"), "timestamp": 1_591_000_000_000_i64 + i as i64, "message": m}))
            .collect();
        let payload = serde_json::json!({
            "messageType": kind, "owner": "123456789012", "logGroup": group, "logStream": "stream-1",
            "subscriptionFilters": ["f"], "logEvents": events,
        });
        serde_json::to_vec(&payload).unwrap_or_default()
    }

    #[test]
    fn empty_and_blank_records() {
        assert_eq!(err(b""), Reason::Empty);
        assert_eq!(err(b" \n\r\n\t"), Reason::Empty);
        assert_eq!(err(&gzip(b"")), Reason::Empty);
        assert_eq!(err(&gzip(b"\n\n")), Reason::Empty);
    }

    #[test]
    fn single_object_array_and_ndjson() {
        assert_eq!(shape(br#"{"a":1}"#), (vec![0], vec![]));
        assert_eq!(shape(b"\xef\xbb\xbf {\"a\":1}\n"), (vec![0], vec![]));
        assert_eq!(
            shape(b"{\n  \"a\": 1,\n  \"b\": [1, 2]\n}\n"),
            (vec![0], vec![])
        );
        assert_eq!(
            shape(br#"[{"a":1},{"a":2},3,{"a":4}]"#),
            (vec![0, 1, 3], vec![(2, Reason::InvalidJson)])
        );
        assert_eq!(shape(b"[]"), (vec![], vec![]));
        assert_eq!(
            shape(b"{\"a\":1}\r\n\r\n{\"a\":2}\r\nnot json\r\n[1]\n{\"a\":3}"),
            (
                vec![0, 1, 4],
                vec![(2, Reason::InvalidJson), (3, Reason::InvalidJson)]
            )
        );
        // A broken first line does not spoil the others.
        assert_eq!(
            shape(b"{\"a\":1\n{\"a\":2}\n"),
            (vec![1], vec![(0, Reason::InvalidJson)])
        );
        // Two objects on one line: that line is rejected as a whole.
        assert_eq!(
            shape(b"{\"a\":1} {\"a\":2}\n{\"a\":3}"),
            (vec![1], vec![(0, Reason::InvalidJson)])
        );
        assert_eq!(shape(b"not json"), (vec![], vec![(0, Reason::InvalidJson)]));
        assert_eq!(shape(b"[1, 2"), (vec![], vec![(0, Reason::InvalidJson)]));
        assert_eq!(shape(b"42"), (vec![], vec![(0, Reason::InvalidJson)]));
    }

    #[test]
    fn rejects_carry_their_line_and_number() {
        let Ok(Unwrapped::Events { rejects, .. }) = run(b"{\"a\":1}\n\n  oops \r\n{\"a\":2}")
        else {
            panic!()
        };
        let [reject] = rejects.as_slice() else {
            panic!("{rejects:?}")
        };
        assert_eq!(reject.raw, b"  oops ".to_vec());
        assert!(
            reject.rejection.message.starts_with("line 3 "),
            "{}",
            reject.rejection.message
        );
    }

    #[test]
    fn plain_objects_keep_their_fields() {
        let Ok(Unwrapped::Events {
            log_group, events, ..
        }) = run(br#"{"request_id":"r-1","n":2}"#)
        else {
            panic!()
        };
        assert_eq!(log_group, None);
        let [event] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(event.object.get("request_id"), Some(&Value::from("r-1")));
        assert_eq!(event.log, None);
        assert_eq!(event.partition_key, None);
    }

    #[test]
    fn compressed_payloads() {
        assert_eq!(
            shape(&gzip(b"{\"a\":1}\n{\"a\":2}\n")),
            (vec![0, 1], vec![])
        );
        assert_eq!(shape(&zlib(br#"[{"a":1}]"#)), (vec![0], vec![]));
        let mut truncated = gzip(br#"{"a":1}"#);
        truncated.truncate(truncated.len() / 2);
        assert_eq!(err(&truncated), Reason::BadCompression);
        assert_eq!(err(&gzip(&vec![b' '; 8 << 20])), Reason::TooLarge);
        assert_eq!(
            err(&[0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]),
            Reason::BadCompression
        );
        assert_eq!(err(b"{\"a\":\"\xff\"}"), Reason::InvalidUtf8);
        assert_eq!(err(&gzip(b"{\"a\":\"\xff\"}")), Reason::InvalidUtf8);
    }

    #[test]
    fn cloudwatch_data_message() {
        let payload = logs(
            "DATA_MESSAGE",
            "prod_/srv/idp/shared/log/events.log",
            &[
                r#"{"name":"login"}"#,
                "plain text",
                "",
                "{\"name\":\"logout\"}\n",
            ],
        );
        for data in [gzip(&payload), zlib(&payload), payload.clone()] {
            let got = run(&data);
            let Ok(Unwrapped::Events {
                log_group,
                events,
                rejects,
            }) = got
            else {
                panic!("{got:?}")
            };
            assert_eq!(
                log_group.as_deref(),
                Some("prod_/srv/idp/shared/log/events.log")
            );
            assert_eq!(
                events.iter().map(|e| e.position).collect::<Vec<_>>(),
                vec![0, 3]
            );
            let reasons: Vec<_> = rejects
                .iter()
                .map(|r| (r.position, r.rejection.reason))
                .collect();
            assert_eq!(reasons, vec![(1, Reason::InvalidJson), (2, Reason::Empty)]);
            assert_eq!(
                rejects.first().map(|r| r.raw.as_slice()),
                Some(b"plain text".as_slice())
            );
            let log = events.last().and_then(|e| e.log.clone());
            assert_eq!(
                log,
                Some(LogMeta {
                    log_group: "prod_/srv/idp/shared/log/events.log".into(),
                    log_stream: "stream-1".into(),
                    id: "id-3".into(),
                    timestamp_ms: 1_591_000_000_003,
                })
            );
        }
    }

    #[test]
    fn cloudwatch_control_message() {
        let payload = logs(
            "CONTROL_MESSAGE",
            "",
            &["CWL CONTROL MESSAGE: Checking health of destination Firehose."],
        );
        assert_eq!(
            run(&gzip(&payload)),
            Ok(Unwrapped::Control {
                log_group: String::new()
            })
        );
    }

    #[test]
    fn message_type_detection() {
        // Compressed, with messageType but the wrong shape: a broken subscription payload.
        assert_eq!(
            err(&gzip(br#"{"messageType":"DATA_MESSAGE","logGroup":"g"}"#)),
            Reason::BadCloudwatchPayload
        );
        assert_eq!(
            err(&gzip(br#"{"messageType":"click"}"#)),
            Reason::BadCloudwatchPayload
        );
        // Uncompressed, a known messageType but broken: still a payload.
        assert_eq!(
            err(br#"{"messageType":"DATA_MESSAGE"}"#),
            Reason::BadCloudwatchPayload
        );
        // Uncompressed, an application's own messageType: a plain event.
        assert_eq!(
            shape(br#"{"messageType":"click","user":"u"}"#),
            (vec![0], vec![])
        );
        // Compressed, the name only inside a nested value: a plain event.
        assert_eq!(
            shape(&gzip(
                br#"{"user":"u","meta":{"messageType":"DATA_MESSAGE"}}"#
            )),
            (vec![0], vec![])
        );
        // messageType on an NDJSON line is just a field.
        assert_eq!(
            shape(b"{\"messageType\":\"DATA_MESSAGE\"}\n{\"a\":1}"),
            (vec![0, 1], vec![])
        );
    }

    #[test]
    fn a_sink_that_says_stop_is_given_nothing_more() {
        let lines = b"{\"a\":1}\nnot json\n{\"a\":3}\n{\"a\":4}".to_vec();
        let array = br#"[{"a":1},2,{"a":3},{"a":4}]"#.to_vec();
        let logs_payload = logs(
            "DATA_MESSAGE",
            "g",
            &[r#"{"n":1}"#, "", r#"{"n":3}"#, r#"{"n":4}"#],
        );
        let users: Vec<UserRecord> = (0..4)
            .map(|i| UserRecord {
                partition_key: format!("pk-{i}"),
                explicit_hash_key: None,
                data: if i == 1 {
                    Vec::new()
                } else {
                    format!("{{\"a\":{i}}}").into_bytes()
                },
            })
            .collect();
        for data in [lines, array, gzip(&logs_payload), aggregate(&users)] {
            for stop_at in 0..4 {
                let mut seen = Vec::new();
                let read = read_record(
                    &data,
                    &Limits::default(),
                    &|_| false,
                    &Wanted::default(),
                    &mut |item| {
                        seen.push(match item {
                            Item::Event(e) => e.position,
                            Item::Reject(r) => r.position,
                        });
                        if seen.len() > stop_at {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    },
                );
                assert!(matches!(read, Ok(Read::Events { .. })), "{read:?}");
                assert_eq!(seen, (0..=stop_at as u32).collect::<Vec<_>>(), "{data:?}");
            }
        }
    }

    #[test]
    fn kpl_aggregates() {
        let logs_payload = logs("DATA_MESSAGE", "g", &[r#"{"n":1}"#, r#"{"n":2}"#]);
        let users = [
            UserRecord {
                partition_key: "pk-0".into(),
                explicit_hash_key: None,
                data: br#"{"a":1}"#.to_vec(),
            },
            UserRecord {
                partition_key: "pk-1".into(),
                explicit_hash_key: None,
                data: gzip(b"{\"a\":2}\n{\"a\":3}"),
            },
            UserRecord {
                partition_key: "pk-2".into(),
                explicit_hash_key: None,
                data: Vec::new(),
            },
            UserRecord {
                partition_key: "pk-3".into(),
                explicit_hash_key: None,
                data: aggregate(&[]),
            },
            UserRecord {
                partition_key: "pk-4".into(),
                explicit_hash_key: None,
                data: gzip(&logs_payload),
            },
            UserRecord {
                partition_key: "pk-5".into(),
                explicit_hash_key: None,
                data: b"\x1f\x8bbroken".to_vec(),
            },
        ];
        let got = run(&aggregate(&users));
        let Ok(Unwrapped::Events {
            log_group,
            events,
            rejects,
        }) = got
        else {
            panic!("{got:?}")
        };
        let keys: Vec<_> = events
            .iter()
            .map(|e| (e.position, e.partition_key.as_deref(), e.log.is_some()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (0, Some("pk-0"), false),
                (1, Some("pk-1"), false),
                (2, Some("pk-1"), false),
                (5, Some("pk-4"), true),
                (6, Some("pk-4"), true)
            ]
        );
        let reasons: Vec<_> = rejects
            .iter()
            .map(|r| (r.position, r.rejection.reason))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (3, Reason::Empty),
                (4, Reason::BadKplAggregate),
                (7, Reason::BadCompression)
            ]
        );
        assert!(
            rejects
                .iter()
                .all(|r| r.rejection.message.starts_with("KPL user record ")),
            "{rejects:?}"
        );
        assert_eq!(
            rejects.last().map(|r| r.raw.clone()),
            Some(b"\x1f\x8bbroken".to_vec())
        );
        assert_eq!(log_group.as_deref(), Some("g"));

        let mut corrupt = aggregate(&users);
        if let Some(b) = corrupt.last_mut() {
            *b ^= 0x55;
        }
        assert_eq!(err(&corrupt), Reason::KplChecksum);
        assert_eq!(err(&kpl::MAGIC), Reason::BadKplAggregate);
    }

    #[test]
    fn kpl_user_records_share_one_decompression_budget() {
        // Each user record alone is under its own cap; together they are over the aggregate's.
        let limits = Limits {
            record: Caps {
                max_bytes: 100_000,
                max_ratio: 100_000,
            },
        };
        let user = |n: u8| UserRecord {
            partition_key: format!("pk-{n}"),
            explicit_hash_key: None,
            data: gzip(format!("{{\"pad\":\"{}\"}}", " ".repeat(40_000)).as_bytes()),
        };
        let got = unwrap_record(&aggregate(&[user(0), user(1), user(2)]), &limits);
        let Ok(Unwrapped::Events {
            events, rejects, ..
        }) = got
        else {
            panic!("{got:?}")
        };
        assert_eq!(events.len(), 2);
        assert_eq!(
            rejects
                .iter()
                .map(|r| r.rejection.reason)
                .collect::<Vec<_>>(),
            vec![Reason::TooLarge]
        );
    }

    fn no_panic(data: &[u8]) {
        // Whatever comes back is fine; positions must still be distinct and dense.
        if let Ok(Unwrapped::Events {
            events, rejects, ..
        }) = unwrap_record(data, &Limits::default())
        {
            let mut positions: Vec<u32> = events
                .iter()
                .map(|e| e.position)
                .chain(rejects.iter().map(|r| r.position))
                .collect();
            positions.sort_unstable();
            let expected: Vec<u32> = (0..positions.len() as u32).collect();
            assert_eq!(positions, expected);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            no_panic(&bytes);
        }

        #[test]
        fn arbitrary_gzip_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            no_panic(&gzip(&bytes));
            no_panic(&zlib(&bytes));
        }

        #[test]
        fn arbitrary_kpl_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let mut data = kpl::MAGIC.to_vec();
            data.extend_from_slice(&bytes);
            no_panic(&data);
        }

        #[test]
        fn json_like_text_never_panics(text in "[{}\\[\\]\":,\\n\\r \\\\a-c0-9]{0,200}") {
            no_panic(text.as_bytes());
            no_panic(&gzip(text.as_bytes()));
        }

        #[test]
        fn valid_aggregates_never_panic(
            users in proptest::collection::vec((".{0,8}", proptest::collection::vec(any::<u8>(), 0..128)), 0..8)
        ) {
            let users: Vec<UserRecord> = users
                .into_iter()
                .map(|(partition_key, data)| UserRecord { partition_key, explicit_hash_key: None, data })
                .collect();
            no_panic(&aggregate(&users));
        }
    }
}
