//! The invariants every core decoder must keep, whatever the bytes: shared by the cargo-fuzz
//! targets (`fuzz/fuzz_targets/*.rs`, through the `loglift-fuzz` library) and the bounded
//! proptest smoke run (`crates/loglift-core/tests/fuzz_smoke.rs`, which includes this file with
//! `#[path]`). Each `check_*` function takes arbitrary bytes, runs one decoder, and panics (an
//! `assert!`) when an invariant breaks; a decoder panicking on its own is a failure too.
//!
//! Invariants, for every decoder: no panic; every reject has a reason code and a non-empty
//! message; positions are distinct and in order; counts add up (events = valid + rejected, rows
//! written = valid, reject lines written = rejected); what is decompressed stays within the caps.

use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use loglift_core::compress::{self, Caps, Compression};
use loglift_core::envelope::{unwrap_record, Event, EventReject, Limits, Unwrapped};
use loglift_core::ingest::{process_record, RecordContext, RecordOutcome};
use loglift_core::jsonarray::{ArrayReader, Element};
use loglift_core::kpl;
use loglift_core::ndjson::{Line, LineReader};
use loglift_core::record::RawEvent;
use loglift_core::reject::{Reason, RejectRecord, Rejection};
use loglift_core::route::Router;
use loglift_core::s3event;
use loglift_core::spec::{Pipeline, Spec};
use loglift_core::sql::RowDecoder;
use loglift_core::storage::Layout;
use loglift_core::transform::{self, Context, Outcome, Sink, SourceKind, SourceObject};
use loglift_core::wire::{self, FirehoseBatch, KinesisBatch, SqsBatch};
use loglift_core::{cwlogs, s3event::S3EventError};
use md5::{Digest as _, Md5};
use serde_json::{Map, Value};

/// The project's spec, plus a `json_array` landing pipeline (the real spec has none), parsed once.
pub const SPEC: &str = include_str!("../../spec/pipelines.yaml");

const ARRAY_PIPELINE: &str = r#"
  - name: fuzz_array
    match: { s3_prefix: fuzz_array/ }
    format: json_array
    table: fuzz.array
    identity: { hash: [partner_name, accommodation_id] }
    duplicates: replace
    columns:
      - { name: partner_name, type: string, required: true, max_bytes: 255 }
      - { name: accommodation_id, type: string, required: true, max_bytes: 255 }
      - { name: accommodation_data, type: json, max_bytes: 65535 }
"#;

/// The spec the checks route with (the project's, with `fuzz_array` appended).
pub fn spec() -> &'static Spec {
    static SPEC_ONCE: OnceLock<Spec> = OnceLock::new();
    SPEC_ONCE.get_or_init(|| {
        let text = format!("{}{ARRAY_PIPELINE}", SPEC.trim_end());
        match Spec::parse(&text) {
            Ok(spec) => spec,
            Err(errors) => panic!("the fuzz spec does not parse: {errors:?}"),
        }
    })
}

fn pipeline(name: &str) -> &'static Pipeline {
    match spec().pipeline(name) {
        Some(p) => p,
        None => panic!("no pipeline {name} in the fuzz spec"),
    }
}

fn now() -> DateTime<Utc> {
    match Utc.with_ymd_and_hms(2026, 11, 21, 10, 11, 12) {
        chrono::LocalResult::Single(t) => t,
        _ => DateTime::<Utc>::UNIX_EPOCH,
    }
}

/// A rejection must say why: a reason code and a message.
pub fn assert_rejection(r: &Rejection) {
    assert!(!r.reason.code().is_empty(), "reject without a reason code");
    assert!(
        !r.message.trim().is_empty(),
        "reject {} without a message",
        r.reason
    );
}

// ---------------------------------------------------------------------------------------------
// Firehose / Kinesis record data: envelope::unwrap_record

/// One record's bytes through `unwrap_record` (default caps), with the invariants of its result,
/// and, for uncompressed input, the same bytes gzip'd must unwrap to the same events.
pub fn check_envelope(data: &[u8]) {
    let result = unwrap_checked(data, &Limits::default());
    let plain = compress::sniff(data) == Compression::None && !kpl::is_aggregate(data);
    // Uncompressed and gzip'd bytes are the same record (small inputs: the gzip stays within the
    // 64 KiB ratio floor). Only `messageType` objects differ: compressed, they must be CloudWatch
    // Logs payloads.
    if plain && data.len() <= Caps::RATIO_FLOOR && !mentions_message_type(&result) {
        let zipped = unwrap_checked(&compress::gzip(data), &Limits::default());
        match (&result, &zipped) {
            (Ok(a), Ok(b)) => assert_eq!(summary(a), summary(b), "plain and gzip'd differ"),
            (Err(a), Err(b)) => assert_eq!(a.reason, b.reason, "plain {a} / gzip'd {b}"),
            (a, b) => panic!("plain {a:?} / gzip'd {b:?}"),
        }
    }
}

fn mentions_message_type(result: &Result<Unwrapped, Rejection>) -> bool {
    match result {
        Ok(Unwrapped::Control { .. }) => true,
        Ok(Unwrapped::Events { events, .. }) => events
            .iter()
            .any(|e| e.object.contains_key("messageType") || e.log.is_some()),
        Err(r) => r.reason == Reason::BadCloudwatchPayload,
    }
}

/// Events (or reject reasons) by position.
type Summary<'a> = Vec<(u32, Result<&'a Map<String, Value>, Reason>)>;

/// Events and reject reasons by position, for comparing two unwraps.
fn summary(u: &Unwrapped) -> Summary<'_> {
    let mut out = Vec::new();
    if let Unwrapped::Events {
        events, rejects, ..
    } = u
    {
        out.extend(events.iter().map(|e| (e.position, Ok(&e.object))));
        out.extend(
            rejects
                .iter()
                .map(|r| (r.position, Err(r.rejection.reason))),
        );
    }
    out.sort_by_key(|(p, _)| *p);
    out
}

/// `unwrap_record` and the invariants of its result.
pub fn unwrap_checked(data: &[u8], limits: &Limits) -> Result<Unwrapped, Rejection> {
    let result = unwrap_record(data, limits);
    match &result {
        Err(r) => {
            assert_rejection(r);
            if data.is_empty() {
                assert_eq!(r.reason, Reason::Empty);
            }
        }
        Ok(Unwrapped::Control { .. }) => {}
        Ok(Unwrapped::Events {
            events, rejects, ..
        }) => check_positions(events, rejects),
    }
    result
}

fn check_positions(events: &[Event], rejects: &[EventReject]) {
    let increasing = |p: &[u32]| p.windows(2).all(|w| matches!(w, [a, b] if a < b));
    let ev: Vec<u32> = events.iter().map(|e| e.position).collect();
    let rj: Vec<u32> = rejects.iter().map(|r| r.position).collect();
    assert!(increasing(&ev), "event positions {ev:?}");
    assert!(increasing(&rj), "reject positions {rj:?}");
    let mut all: Vec<u32> = ev.iter().chain(&rj).copied().collect();
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(
        all.len(),
        n,
        "positions shared: events {ev:?}, rejects {rj:?}"
    );
    for r in rejects {
        assert_rejection(&r.rejection);
    }
}

// ---------------------------------------------------------------------------------------------
// KPL aggregates

/// `deaggregate` on the bytes as they are, then on the bytes framed as an aggregate with a
/// correct MD5 (so the protobuf decoder sees them): a decoded aggregate must re-aggregate to the
/// same user records, and unwrap with consistent positions.
pub fn check_kpl(data: &[u8]) {
    if let Err(r) = kpl::deaggregate(data) {
        assert_rejection(&r);
    }
    let framed = frame_aggregate(data);
    match kpl::deaggregate(&framed) {
        Err(r) => {
            assert_rejection(&r);
            assert_eq!(r.reason, Reason::BadKplAggregate, "{r}");
        }
        Ok(users) => {
            let again = kpl::deaggregate(&kpl::aggregate(&users));
            assert_eq!(again.as_ref(), Ok(&users), "aggregate ∘ deaggregate");
        }
    }
    let _ = unwrap_checked(&framed, &Limits::default());
}

/// Magic, the protobuf bytes, their MD5: an aggregate whose checksum holds.
pub fn frame_aggregate(proto: &[u8]) -> Vec<u8> {
    let mut out = kpl::MAGIC.to_vec();
    out.extend_from_slice(proto);
    out.extend_from_slice(&Md5::digest(proto));
    out
}

// ---------------------------------------------------------------------------------------------
// CloudWatch Logs payloads

/// A (decompressed) payload through `cwlogs::parse`, then gzip'd and zlib'd through the envelope:
/// a DATA payload gives one event or reject per log event, a CONTROL payload is dropped.
pub fn check_cwlogs(data: &[u8]) {
    let parsed = cwlogs::parse(data);
    if let Err(r) = &parsed {
        assert_rejection(r);
        assert!(
            matches!(r.reason, Reason::InvalidJson | Reason::BadCloudwatchPayload),
            "{r}"
        );
    }
    if data.len() > Caps::RATIO_FLOOR {
        return;
    }
    for packed in [compress::gzip(data), compress::zlib(data)] {
        let unwrapped = unwrap_checked(&packed, &Limits::default());
        let Ok(payload) = &parsed else { continue };
        match (payload.message_type, unwrapped) {
            (cwlogs::MessageType::ControlMessage, Ok(Unwrapped::Control { log_group })) => {
                assert_eq!(log_group, payload.log_group);
            }
            (
                cwlogs::MessageType::DataMessage,
                Ok(Unwrapped::Events {
                    log_group,
                    events,
                    rejects,
                }),
            ) => {
                assert_eq!(log_group.as_deref(), Some(payload.log_group.as_ref()));
                assert_eq!(events.len() + rejects.len(), payload.log_events.len());
                for e in &events {
                    assert!(e.log.is_some(), "a log event without its log metadata");
                }
            }
            (kind, other) => panic!("{kind:?} payload unwrapped to {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// S3 event bodies

/// An SQS message body through `s3event::parse_body`; the first line of the bytes, used as an
/// object key, must survive `notification_body` → `parse_body` unchanged.
pub fn check_s3event(data: &[u8]) {
    if let Ok(body) = std::str::from_utf8(data) {
        check_s3_body(body);
    }
    let text = String::from_utf8_lossy(data);
    let (bucket, key) = text.split_once('\n').unwrap_or(("lake", &text));
    check_s3_key_roundtrip(bucket, key);
}

pub fn check_s3_body(body: &str) {
    match s3event::parse_body(body) {
        Err(e) => {
            assert!(matches!(
                e.code(),
                "not_json" | "malformed_notification" | "unknown_notification"
            ));
            assert!(!e.to_string().trim().is_empty());
            if let S3EventError::Malformed { shape, .. } = &e {
                assert!(!shape.is_empty());
            }
        }
        Ok(n) => {
            if n.test_event {
                assert!(n.is_empty(), "a test event with records: {n:?}");
            }
        }
    }
}

pub fn check_s3_key_roundtrip(bucket: &str, key: &str) {
    let body = s3event::notification_body(bucket, key, 7, "etag", Some("v1"), Some(now()));
    match s3event::parse_body(&body) {
        Ok(n) => {
            let created: Vec<(&str, &str)> = n
                .created
                .iter()
                .map(|c| (c.bucket.as_str(), c.key.as_str()))
                .collect();
            assert_eq!(created, [(bucket, key)], "{body}");
        }
        Err(e) => panic!("our own notification body does not parse: {e}: {body}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Landing files and raw objects through transform

/// The object store as a map: the core's sink is its own port.
#[derive(Default)]
pub struct MemSink {
    pub objects: BTreeMap<String, Vec<u8>>,
}

impl Sink for MemSink {
    type Error = std::convert::Infallible;
    fn put(
        &mut self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<String, Self::Error> {
        let etag = hex_digest(&bytes);
        self.objects.insert(format!("{bucket}/{key}"), bytes);
        Ok(etag)
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Which transform a fuzz input goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `hit_data` landing TSV.
    Tsv,
    /// `partner_catalog` landing NDJSON (a leading `[` makes it an array).
    Ndjson,
    /// `fuzz_array` landing JSON array (a leading non-`[` makes it lines).
    JsonArray,
    /// `user_events` raw object (NDJSON of raw events).
    Raw,
}

/// Small caps, so short inputs reach the over-long-line and roll-over paths.
pub fn small_limits() -> transform::Limits {
    transform::Limits {
        target_part_bytes: 2048,
        buffer_budget: 1024,
        max_open_parts: 3,
        reject_part_bytes: 4096,
        max_line: 512,
    }
}

/// An object's bytes (compressed or not: the stream is sniffed) through `transform_object`,
/// with the invariants of its outcome and of what it wrote.
pub fn check_transform(data: &[u8], shape: Shape, limits: transform::Limits) -> Outcome {
    let (name, kind) = match shape {
        Shape::Tsv => ("hit_data", SourceKind::Landing),
        Shape::Ndjson => ("partner_catalog", SourceKind::Landing),
        Shape::JsonArray => ("fuzz_array", SourceKind::Landing),
        Shape::Raw => ("user_events", SourceKind::Raw),
    };
    let layout = Layout::single_bucket("lake");
    let source = SourceObject {
        bucket: "lake",
        key: "landing/fuzz/object",
        version: "v1",
        kind,
        pipeline: pipeline(name),
        arrival: now(),
        ingested_at: now(),
    };
    let priority = ["expedia", "booking", "hotels", "agoda"].map(str::to_owned);
    let ctx = Context {
        layout: &layout,
        spec_version: spec().version,
        limits,
        now: now(),
        priority: &priority,
    };
    let mut sink = MemSink::default();
    let outcome = match compress::open_stream(data) {
        Err(e) => panic!("open_stream over a slice failed: {e}"),
        Ok((_, reader)) => match transform::transform_object(reader, &source, &ctx, &mut sink) {
            Ok(outcome) => outcome,
            // A slice never fails to read and the sink never fails: corrupt compression must
            // be a reject, not an error.
            Err(e) => panic!("transform_object failed: {e}"),
        },
    };
    check_outcome(&outcome, &sink, source.pipeline);
    outcome
}

fn check_outcome(outcome: &Outcome, sink: &MemSink, pipeline: &Pipeline) {
    assert_eq!(
        outcome.events,
        outcome.valid + outcome.rejected,
        "{outcome:?}"
    );
    assert_eq!(
        outcome.rejects_by_reason.values().sum::<u64>(),
        outcome.rejected,
        "{outcome:?}"
    );
    // What transform curates, the loader decodes (the same decoder feeds PostgreSQL, SQLite and
    // the Redshift COPY checks).
    let decoder = match RowDecoder::new(pipeline) {
        Ok(d) => d,
        Err(e) => panic!("no row decoder for {}: {e}", pipeline.name),
    };
    let mut rows = 0;
    for object in &outcome.curated {
        if let Some(bytes) = sink
            .objects
            .get(&format!("{}/{}", object.bucket, object.key))
            .filter(|b| loglift_core::columnar::is_parquet(b))
        {
            // A Parquet part: every row read back by the loaders' reader, which checks each cell
            // against the table (the same checks as a decoded line).
            let read = loglift_core::sql::read_rows::<_, String, _>(
                bytes.as_slice(),
                &decoder,
                |_, cells| {
                    for cell in &cells {
                        if let loglift_core::sql::Cell::Str(s) | loglift_core::sql::Cell::Json(s) =
                            cell
                        {
                            if s.contains('\0') {
                                return Err(format!("U+0000 in a curated cell: {s:?}"));
                            }
                        }
                    }
                    Ok(())
                },
            );
            match read {
                Ok(n) => assert_eq!(n, object.rows, "{}", object.key),
                Err(e) => panic!("the loader cannot read a curated part {}: {e}", object.key),
            }
            rows += object.rows;
            continue;
        }
        let lines = read_lines(&sink.objects, &object.bucket, &object.key);
        assert_eq!(lines.len() as u64, object.rows, "{}", object.key);
        rows += object.rows;
        for line in lines {
            let row: Value = match serde_json::from_slice(&line) {
                Ok(row) => row,
                Err(e) => panic!("a curated row is not JSON: {e}"),
            };
            assert!(
                !holds_nul(&row),
                "PostgreSQL JSONB and text refuse U+0000: {row}"
            );
            if let Err(e) = decoder.decode(&line) {
                panic!(
                    "the loader cannot decode a curated row: {e}: {}",
                    String::from_utf8_lossy(&line)
                );
            }
        }
    }
    assert_eq!(rows, outcome.valid, "curated rows");
    let mut rejects: BTreeMap<String, u64> = BTreeMap::new();
    let mut lines_seen = Vec::new();
    for key in &outcome.reject_files {
        for line in read_lines(&sink.objects, "lake", key) {
            let record: RejectRecord = match serde_json::from_slice(&line) {
                Ok(r) => r,
                Err(e) => panic!("reject line does not read back: {e}"),
            };
            assert_rejection(&Rejection::new(record.reason, record.message.clone()));
            *rejects.entry(record.reason.code().to_owned()).or_default() += 1;
            if let Some(line) = record.position.line {
                lines_seen.push(line);
            }
        }
    }
    let expected: BTreeMap<String, u64> = outcome
        .rejects_by_reason
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect();
    assert_eq!(rejects, expected, "reject files vs counts");
    assert!(
        lines_seen.windows(2).all(|w| matches!(w, [a, b] if a < b)),
        "reject lines out of order or repeated: {lines_seen:?}"
    );
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fn read_lines(objects: &BTreeMap<String, Vec<u8>>, bucket: &str, key: &str) -> Vec<Vec<u8>> {
    let Some(bytes) = objects.get(&format!("{bucket}/{key}")) else {
        panic!("{bucket}/{key} was announced but not written");
    };
    let mut text = Vec::new();
    match compress::open_stream(bytes.as_slice()) {
        Ok((Compression::Gzip, mut r)) => {
            if let Err(e) = r.read_to_end(&mut text) {
                panic!("{key} is not readable gzip: {e}");
            }
        }
        Ok((other, _)) => panic!("{key} is {other:?}, not gzip"),
        Err(e) => panic!("{key}: {e}"),
    }
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// TSV landing file: through transform, small and default caps.
pub fn check_tsv(data: &[u8]) {
    check_transform(data, Shape::Tsv, small_limits());
    check_transform(data, Shape::Tsv, transform::Limits::default());
}

/// NDJSON: the line reader against a model, then transform of a landing file and a raw object,
/// then the same bytes as one record through the envelope.
pub fn check_ndjson(data: &[u8]) {
    for (chunk, max) in [(1, 16), (7, 512), (64 * 1024, 4096)] {
        check_line_reader(data, chunk, max);
    }
    check_transform(data, Shape::Ndjson, small_limits());
    check_transform(data, Shape::Raw, small_limits());
    let _ = unwrap_checked(data, &Limits::default());
}

/// One line as `LineReader` reports it.
#[derive(Debug, PartialEq, Eq)]
enum ModelLine {
    Text(Vec<u8>),
    /// Over the cap: full length and first bytes.
    TooLong(u64, Vec<u8>),
}

/// What `LineReader` must return for `data` with lines of at most `max` bytes, computed the
/// plain way: split on `\n`, drop one trailing `\r` when the line then fits.
fn expected_lines(data: &[u8], max: usize) -> Vec<(u64, ModelLine)> {
    let mut segments: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    if data.is_empty() || data.ends_with(b"\n") {
        segments.pop();
    }
    segments
        .into_iter()
        .zip(1u64..)
        .map(|(segment, number)| {
            let stripped = match segment.strip_suffix(b"\r") {
                Some(s) if segment.len() <= max + 1 => s,
                _ => segment,
            };
            if stripped.len() > max {
                let head = segment.get(..max.min(1024)).unwrap_or(segment);
                (
                    number,
                    ModelLine::TooLong(stripped.len() as u64, head.to_vec()),
                )
            } else {
                (number, ModelLine::Text(stripped.to_vec()))
            }
        })
        .collect()
}

pub fn check_line_reader(data: &[u8], chunk: usize, max: usize) {
    let mut reader = LineReader::new(BufReader::with_capacity(chunk, data), max);
    let mut got: Vec<(u64, ModelLine)> = Vec::new();
    loop {
        match reader.next_line() {
            Err(e) => panic!("reading a slice failed: {e}"),
            Ok(None) => break,
            Ok(Some(Line::Text { number, bytes })) => {
                assert!(bytes.len() <= max, "a {}-byte line over {max}", bytes.len());
                got.push((number, ModelLine::Text(bytes.to_vec())));
            }
            Ok(Some(Line::TooLong { number, len, head })) => {
                assert!(len > max as u64);
                got.push((number, ModelLine::TooLong(len, head.to_vec())));
            }
        }
    }
    let expected = expected_lines(data, max);
    assert_eq!(got, expected, "chunk {chunk}, max {max}");
    assert_eq!(reader.lines_read(), expected.len() as u64);
    assert!(
        matches!(reader.next_line(), Ok(None)),
        "a line after the end"
    );
}

/// JSON array: the element reader against serde_json, then transform of a landing file.
pub fn check_jsonarray(data: &[u8]) {
    for (chunk, max) in [(1, 16), (5, 4096), (64 * 1024, 64 * 1024)] {
        check_array_reader(data, chunk, max);
    }
    check_transform(data, Shape::JsonArray, small_limits());
}

pub fn check_array_reader(data: &[u8], chunk: usize, max: usize) {
    let mut reader = ArrayReader::new(BufReader::with_capacity(chunk, data), max);
    let mut values: Vec<Vec<u8>> = Vec::new();
    let mut too_long = 0usize;
    let mut malformed = None;
    let mut next_index = 0u64;
    loop {
        match reader.next_element() {
            Err(e) => panic!("reading a slice failed: {e}"),
            Ok(None) => break,
            Ok(Some(Element::Value { index, bytes })) => {
                assert_eq!(index, next_index);
                assert!(
                    bytes.len() <= max,
                    "{}-byte element over {max}",
                    bytes.len()
                );
                assert!(!bytes.is_empty(), "empty element {index}");
                values.push(bytes.to_vec());
            }
            Ok(Some(Element::TooLong { index, bytes })) => {
                assert_eq!(index, next_index);
                assert!(bytes > max as u64);
                too_long += 1;
            }
            Ok(Some(Element::Malformed { index, message })) => {
                assert_eq!(index, next_index);
                assert!(!message.trim().is_empty());
                malformed = Some(message);
                assert!(matches!(reader.next_element(), Ok(None)), "after Malformed");
                break;
            }
        }
        next_index += 1;
    }
    assert!(matches!(reader.next_element(), Ok(None)), "after the end");
    // serde_json is the reference: what it reads as an array, the reader splits the same way.
    let body = data.strip_prefix("\u{feff}".as_bytes()).unwrap_or(data);
    let reference = serde_json::from_slice::<Vec<Value>>(body);
    if let Ok(array) = reference {
        assert!(
            malformed.is_none(),
            "serde reads an array, the reader: {malformed:?}"
        );
        assert_eq!(values.len() + too_long, array.len());
        if too_long == 0 {
            let parsed: Vec<Value> = values
                .iter()
                .map(|b| match serde_json::from_slice(b) {
                    Ok(v) => v,
                    Err(e) => panic!(
                        "element {:?} does not parse: {e}",
                        String::from_utf8_lossy(b)
                    ),
                })
                .collect();
            assert_eq!(parsed, array);
        }
    } else if malformed.is_none()
        && too_long == 0
        // serde_json stops at 128 levels; an element alone is one level shallower.
        && !reference.is_err_and(|e| e.to_string().contains("recursion limit"))
    {
        // The reader saw a well-formed array; then some element's bytes are not JSON (the
        // reader leaves those to the caller, whose parse rejects them).
        let all_parse = values
            .iter()
            .all(|b| serde_json::from_slice::<Value>(b).is_ok());
        assert!(
            !all_parse,
            "the reader accepts what serde_json rejects: {:?}",
            String::from_utf8_lossy(data)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The spec

/// Text through `Spec::parse`: errors are non-empty, each with a message; a spec that parses
/// builds a router.
pub fn check_spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Spec::parse(text) {
        Err(errors) => {
            assert!(!errors.is_empty(), "an Err with no errors");
            for e in &errors {
                assert!(!e.message.trim().is_empty(), "{e:?}");
                if let Some(line) = e.line {
                    assert!(line >= 1 && line <= yaml_lines(text) + 1, "{e:?}");
                }
            }
        }
        Ok(spec) => {
            let router = Router::new(&spec);
            let _ = router.route(
                loglift_core::route::Origin::Stream {
                    stream: "user-events",
                },
                None,
            );
        }
    }
}

/// Lines as YAML counts them: `\n`, `\r\n`, a lone `\r`, NEL, LS and PS each end one.
fn yaml_lines(text: &str) -> usize {
    let mut chars = text.chars().peekable();
    let mut lines = 1;
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' => lines += 1,
            _ => {}
        }
    }
    lines
}

// ---------------------------------------------------------------------------------------------
// Lambda events: the Firehose transformation event (and Kinesis, SQS), through ingest

/// A Lambda event through the wire readers; each Firehose record's data through ingest with the
/// real spec, whose raw lines must then read back through transform without a decoding reject.
pub fn check_firehose_event(data: &[u8]) {
    match FirehoseBatch::from_slice(data) {
        Err(e) => assert!(!e.to_string().trim().is_empty()),
        Ok(batch) => {
            for record in &batch.records {
                match &record.data {
                    Err(r) => {
                        assert_rejection(r);
                        assert!(record.undecodable.is_some());
                    }
                    Ok(bytes) => {
                        let ctx = RecordContext {
                            stream: batch.source_stream.as_deref(),
                            delivery_stream: Some(&batch.delivery_stream),
                            record_id: Some(&record.record_id),
                            arrival: record.arrival,
                            ..RecordContext::default()
                        };
                        check_ingest(bytes, &ctx);
                    }
                }
            }
        }
    }
    if let Err(e) = KinesisBatch::from_slice(data) {
        assert!(!e.to_string().trim().is_empty());
    }
    if let Ok(batch) = SqsBatch::from_slice(data) {
        for message in batch.messages.iter().take(4) {
            check_s3_body(&message.body);
        }
    }
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        let _ = wire::detect(&value);
    }
}

/// One record through `ingest::process_record` (stream `user-events`); what ingest writes must
/// read back through transform's raw path.
pub fn check_ingest(data: &[u8], ctx: &RecordContext) {
    let router = Router::new(spec());
    let mut by_pipeline: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    match process_record(&router, data, ctx, &Limits::default()) {
        RecordOutcome::Dropped => {}
        RecordOutcome::Rejected(r) => {
            assert_rejection(&r.rejection);
            assert_eq!(r.raw, data);
        }
        RecordOutcome::Events { events, rejects } => {
            for r in &rejects {
                assert_rejection(&r.rejection);
            }
            for e in events {
                assert!(e.line.ends_with(b"\n"));
                let raw: RawEvent = match serde_json::from_slice(&e.line) {
                    Ok(raw) => raw,
                    Err(err) => panic!("ingest wrote an unreadable raw line: {err}"),
                };
                assert_eq!(raw.event_id, e.event_id);
                by_pipeline.entry(e.pipeline).or_default().extend(e.line);
            }
        }
    }
    for (name, lines) in by_pipeline {
        if name != "user_events" {
            continue;
        }
        let outcome = check_transform(&lines, Shape::Raw, transform::Limits::default());
        for reason in ["invalid_json", "mixed_pipelines", "too_large"] {
            assert!(
                !outcome.rejects_by_reason.contains_key(reason),
                "transform rejects what ingest wrote ({reason}): {:?}",
                String::from_utf8_lossy(&lines)
            );
        }
    }
}

/// Record data for the Kinesis path (stream `user-events`) through ingest.
pub fn check_kinesis_data(data: &[u8]) {
    let ctx = RecordContext {
        stream: Some("user-events"),
        shard: Some("shardId-000000000000"),
        sequence: Some("1"),
        arrival: now(),
        ..RecordContext::default()
    };
    check_ingest(data, &ctx);
}

// ---------------------------------------------------------------------------------------------
// Dispatch by target name (the regression test replays `samples/fuzz/<target>/*` with it)

/// Every fuzz target's name, as in `fuzz/fuzz_targets/<name>.rs` and `samples/fuzz/<name>/`.
pub const TARGETS: [&str; 10] = [
    "envelope",
    "firehose_event",
    "kpl",
    "cwlogs",
    "s3event",
    "tsv",
    "ndjson",
    "jsonarray",
    "spec",
    "transform",
];

/// Run the check of target `name` on `data`; `false` for an unknown name.
pub fn check(name: &str, data: &[u8]) -> bool {
    match name {
        "envelope" => {
            check_envelope(data);
            check_kinesis_data(data);
        }
        "firehose_event" => check_firehose_event(data),
        "kpl" => check_kpl(data),
        "cwlogs" => check_cwlogs(data),
        "s3event" => check_s3event(data),
        "tsv" => check_tsv(data),
        "ndjson" => check_ndjson(data),
        "jsonarray" => check_jsonarray(data),
        "spec" => check_spec(data),
        "transform" => check_transform_selector(data),
        _ => return false,
    }
    true
}

/// The first byte picks the shape (and caps), the rest is the object.
pub fn check_transform_selector(data: &[u8]) {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let shape = match first % 4 {
        0 => Shape::Tsv,
        1 => Shape::Ndjson,
        2 => Shape::JsonArray,
        _ => Shape::Raw,
    };
    let limits = if first & 4 == 0 {
        small_limits()
    } else {
        transform::Limits::default()
    };
    check_transform(rest, shape, limits);
}
