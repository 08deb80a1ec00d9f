//! One source object through transform, synchronously and in constant memory.
//!
//! [`transform_object`] reads a decompressed byte stream (`compress::open_stream`) in the
//! source's format — raw NDJSON of [`RawEvent`]s written by ingest, or a landing file: NDJSON,
//! a JSON array (streamed element by element), TSV with a header — validates every event with
//! [`Curator`], and hands finished objects to a [`Sink`]: curated gzip NDJSON parts partitioned
//! by event hour (rolled over at a target size; the largest part is flushed early when the
//! buffered total passes a budget), reject records (rolled over too), and the pipeline's job
//! outputs. Names come from the storage contract and the source object's id, so running the same
//! object again writes the same keys. What the stage needs afterwards — the loader message and
//! the counts — is in the returned [`Outcome`].

use std::collections::BTreeMap;
use std::io::{self, BufRead};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::curate::{Curator, RowContext};
use crate::identity;
use crate::jobs::{self, JobContext, JobRun};
use crate::jsonarray::{self, ArrayReader, Element};
use crate::ndjson::{GzLines, Line, LineReader};
use crate::record::RawEvent;
use crate::reject::{Position, Reason, RejectRecord, Rejection, Source, Stage};
use crate::spec::{Format, Pipeline};
use crate::storage::{source_id, CuratedObject, Layout, LoaderMessage, ObjectVersion};
use crate::textlog;
use crate::timefmt;

/// Sizes that bound memory and shape the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Uncompressed bytes after which a curated part is closed (COPY likes evenly sized files of
    /// a few to a few hundred MB compressed).
    pub target_part_bytes: u64,
    /// Compressed bytes held in open parts before the largest is flushed early.
    pub buffer_budget: usize,
    /// Open partitions (event hours) before the largest is flushed early.
    pub max_open_parts: usize,
    /// Uncompressed bytes after which a reject file is closed.
    pub reject_part_bytes: u64,
    /// The longest line (or JSON array element) read; longer ones are `too_large` rejects.
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            target_part_bytes: 64 * 1024 * 1024,
            buffer_budget: 48 * 1024 * 1024,
            max_open_parts: 32,
            reject_part_bytes: 32 * 1024 * 1024,
            max_line: crate::ndjson::DEFAULT_MAX_LINE,
        }
    }
}

/// Which area the object came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Written by ingest: NDJSON of [`RawEvent`]s with their ids.
    Raw,
    /// Dropped by a client: the pipeline's file format; ids are computed here.
    Landing,
}

/// The object being transformed.
#[derive(Debug, Clone)]
pub struct SourceObject<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    /// Version id, else etag: names the outputs and goes into `source_object`.
    pub version: &'a str,
    pub kind: SourceKind,
    pub pipeline: &'a Pipeline,
    /// The raw object's arrival hour, or the landing object's last-modified time: the partition
    /// of pipelines without event time, the `dt/hour` of reject files, the jobs' source date.
    pub arrival: DateTime<Utc>,
    /// When the object arrived in the store (its Last-Modified, else the notification's event
    /// time, else when transform read it): its rows' `ingested_at`, which orders a `replace`
    /// pipeline's versions when it has no event time, so a file transformed late (a retry, a
    /// redrive) never overwrites the rows of a file that arrived after it.
    pub ingested_at: DateTime<Utc>,
}

impl SourceObject<'_> {
    pub fn id(&self) -> String {
        source_id(self.bucket, self.key, self.version)
    }
}

/// Where finished objects go (the object store, through the stage).
pub trait Sink {
    type Error;
    /// Store one object; returns the version the store recorded (version id, else etag).
    fn put(
        &mut self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<String, Self::Error>;
}

/// Why an object could not be transformed.
#[derive(Debug, thiserror::Error)]
pub enum TransformError<E> {
    /// Reading the object failed (the stream broke): retry the object.
    #[error("reading the object: {0}")]
    Read(io::Error),
    /// Writing an output failed.
    #[error("writing {key}: {source}")]
    Sink { key: String, source: E },
}

/// What one object produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Events read (valid + rejected; blank lines are not events).
    pub events: u64,
    pub valid: u64,
    pub rejected: u64,
    pub rejects_by_reason: BTreeMap<&'static str, u64>,
    /// Decompressed bytes read.
    pub bytes_in: u64,
    pub curated: Vec<CuratedObject>,
    /// Keys of the reject files written.
    pub reject_files: Vec<String>,
    /// Keys of the job outputs written.
    pub reports: Vec<String>,
    /// Each job's summary, by job kind.
    pub job_summaries: BTreeMap<String, Value>,
}

impl Outcome {
    /// The loader message for this object, `None` when it produced no rows.
    pub fn loader_message(
        &self,
        source: &SourceObject<'_>,
        spec_version: u32,
    ) -> Option<LoaderMessage> {
        if self.curated.is_empty() {
            return None;
        }
        Some(LoaderMessage {
            v: 1,
            pipeline: source.pipeline.name.clone(),
            table: source.pipeline.table.clone(),
            spec_version,
            source: ObjectVersion {
                bucket: source.bucket.to_owned(),
                key: source.key.to_owned(),
                version: source.version.to_owned(),
            },
            objects: self.curated.clone(),
            rejected: self.rejected,
        })
    }
}

/// Everything [`transform_object`] needs besides the bytes.
#[derive(Debug)]
pub struct Context<'a> {
    pub layout: &'a Layout,
    pub spec_version: u32,
    pub limits: Limits,
    pub now: DateTime<Utc>,
    /// The resolved priority list of a `consolidate_by_priority` job (from the spec or DynamoDB).
    pub priority: &'a [String],
}

const NDJSON: &str = "application/x-ndjson";

/// Transform one object read from `reader` (already decompressed).
pub fn transform_object<R: BufRead, S: Sink>(
    reader: R,
    source: &SourceObject<'_>,
    ctx: &Context<'_>,
    sink: &mut S,
) -> Result<Outcome, TransformError<S::Error>> {
    let mut run = Run::new(source, ctx);
    let read = match (source.kind, source.pipeline.format) {
        (SourceKind::Raw, _) => {
            read_lines(reader, ctx.limits.max_line, &mut run, sink, |r, s, n, b| {
                r.raw_line(s, n, b)
            })
        }
        (SourceKind::Landing, Format::Tsv) => read_tsv(reader, &mut run, sink),
        (SourceKind::Landing, Format::JsonArray) => read_array(reader, &mut run, sink),
        (SourceKind::Landing, Format::Text) => {
            read_lines(reader, ctx.limits.max_line, &mut run, sink, |r, s, n, b| {
                r.text_line(s, n, b)
            })
        }
        (SourceKind::Landing, _) => {
            let mut reader = reader;
            match jsonarray::first_byte_is_array(&mut reader) {
                Ok(true) => read_array(reader, &mut run, sink),
                Ok(false) => {
                    read_lines(reader, ctx.limits.max_line, &mut run, sink, |r, s, n, b| {
                        r.json_line(s, n, b)
                    })
                }
                Err(e) => Err(Stop::Read(e)),
            }
        }
    };
    match read {
        Ok(()) => {}
        Err(Stop::Read(e)) if e.kind() == io::ErrorKind::InvalidData => {
            // A corrupt compressed stream will not get better on a retry: what was read is
            // kept, the rest is one reject saying where it broke.
            let line = run.last_line + 1;
            run.reject(
                sink,
                Position::line(line),
                &Rejection::new(
                    Reason::BadCompression,
                    format!("the object cannot be read past line {}: {e}", run.last_line),
                ),
                &[],
            )
            .map_err(TransformError::from)?;
        }
        Err(Stop::Read(e)) => return Err(TransformError::Read(e)),
        Err(Stop::Sink(key, e)) => return Err(TransformError::Sink { key, source: e }),
    }
    run.finish(sink).map_err(TransformError::from)
}

enum Stop<E> {
    Read(io::Error),
    Sink(String, E),
}

impl<E> From<Stop<E>> for TransformError<E> {
    fn from(stop: Stop<E>) -> Self {
        match stop {
            Stop::Read(e) => TransformError::Read(e),
            Stop::Sink(key, source) => TransformError::Sink { key, source },
        }
    }
}

type Step<E> = Result<(), Stop<E>>;

fn read_lines<'r, R, S, F>(
    reader: R,
    max_line: usize,
    run: &mut Run<'r>,
    sink: &mut S,
    mut handle: F,
) -> Step<S::Error>
where
    R: BufRead,
    S: Sink,
    F: FnMut(&mut Run<'r>, &mut S, u64, &[u8]) -> Step<S::Error>,
{
    let mut lines = LineReader::new(reader, max_line);
    loop {
        match lines.next_line().map_err(Stop::Read)? {
            None => return Ok(()),
            Some(Line::Text { number, bytes }) => {
                run.last_line = number;
                run.outcome.bytes_in += bytes.len() as u64 + 1;
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                handle(run, sink, number, bytes)?;
            }
            Some(Line::TooLong { number, len, head }) => {
                run.last_line = number;
                run.outcome.bytes_in += len + 1;
                let rejection = Rejection::new(
                    Reason::TooLarge,
                    format!("line is {len} bytes, over the {max_line}-byte limit"),
                );
                run.reject(sink, Position::line(number), &rejection, head)?;
            }
        }
    }
}

fn read_array<R: BufRead, S: Sink>(reader: R, run: &mut Run<'_>, sink: &mut S) -> Step<S::Error> {
    let max = run.ctx.limits.max_line;
    let mut elements = ArrayReader::new(reader, max);
    loop {
        match elements.next_element().map_err(Stop::Read)? {
            None => return Ok(()),
            Some(Element::Value { index, bytes }) => {
                run.outcome.bytes_in += bytes.len() as u64;
                run.last_line = index + 1;
                let position = Position::default().event(saturate(index));
                match parse_object(bytes) {
                    Ok(event) => run.landing_event(sink, position, index + 1, event, bytes)?,
                    Err(rejection) => run.reject(sink, position, &rejection, bytes)?,
                }
            }
            Some(Element::TooLong { index, bytes }) => {
                run.outcome.bytes_in += bytes;
                let rejection = Rejection::new(
                    Reason::TooLarge,
                    format!("array element is {bytes} bytes, over the {max}-byte limit"),
                );
                run.reject(
                    sink,
                    Position::default().event(saturate(index)),
                    &rejection,
                    &[],
                )?;
            }
            Some(Element::Malformed { index, message }) => {
                let rejection = Rejection::new(Reason::InvalidJson, message);
                run.reject(
                    sink,
                    Position::default().event(saturate(index)),
                    &rejection,
                    &[],
                )?;
            }
        }
    }
}

fn read_tsv<R: BufRead, S: Sink>(reader: R, run: &mut Run<'_>, sink: &mut S) -> Step<S::Error> {
    let max = run.ctx.limits.max_line;
    let mut lines = LineReader::new(reader, max);
    let mut header: Option<Vec<String>> = None;
    loop {
        let (number, bytes) = match lines.next_line().map_err(Stop::Read)? {
            None => return Ok(()),
            Some(Line::Text { number, bytes }) => (number, bytes),
            Some(Line::TooLong { number, len, head }) => {
                run.last_line = number;
                run.outcome.bytes_in += len + 1;
                let rejection = Rejection::new(
                    Reason::TooLarge,
                    format!("line is {len} bytes, over the {max}-byte limit"),
                );
                run.reject(sink, Position::line(number), &rejection, head)?;
                continue;
            }
        };
        run.last_line = number;
        run.outcome.bytes_in += bytes.len() as u64 + 1;
        let Some(names) = header.as_ref() else {
            match parse_header(bytes) {
                Ok(names) => header = Some(names),
                Err(rejection) => {
                    // Without a header no line can be read: one reject for the file.
                    run.reject(sink, Position::line(number), &rejection, bytes)?;
                    return Ok(());
                }
            }
            continue;
        };
        if bytes.is_empty() {
            continue;
        }
        match tsv_row(names, bytes) {
            Ok(event) => run.landing_event(sink, Position::line(number), number, event, bytes)?,
            Err(rejection) => run.reject(sink, Position::line(number), &rejection, bytes)?,
        }
    }
}

fn parse_header(bytes: &[u8]) -> Result<Vec<String>, Rejection> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Rejection::new(Reason::InvalidUtf8, format!("TSV header: {e}")))?;
    let names: Vec<String> = text
        .trim_start_matches('\u{feff}')
        .split('\t')
        .map(|s| s.trim().to_owned())
        .collect();
    let mut seen = std::collections::HashSet::new();
    for name in &names {
        if name.is_empty() || !seen.insert(name.as_str()) {
            return Err(Rejection::new(
                Reason::BadTsv,
                format!("TSV header names must be unique and non-empty; `{name}` is not"),
            ));
        }
    }
    Ok(names)
}

fn tsv_row(names: &[String], bytes: &[u8]) -> Result<Map<String, Value>, Rejection> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Rejection::new(Reason::InvalidUtf8, e.to_string()))?;
    let fields = text.split('\t').count();
    if fields != names.len() {
        return Err(Rejection::new(
            Reason::BadTsv,
            format!("{fields} fields, the header has {}", names.len()),
        ));
    }
    Ok(names
        .iter()
        .zip(text.split('\t'))
        .map(|(name, value)| (name.clone(), Value::String(value.to_owned())))
        .collect())
}

fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Rejection::new(
            Reason::InvalidJson,
            format!("expected a JSON object, got {}", json_kind(&other)),
        )),
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            Err(Rejection::new(Reason::InvalidJson, e.to_string()))
        }
        Err(e) => match std::str::from_utf8(bytes) {
            Err(utf8) => Err(Rejection::new(Reason::InvalidUtf8, utf8.to_string())),
            Ok(_) => Err(Rejection::new(Reason::InvalidJson, e.to_string())),
        },
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn saturate(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The state of one object's run.
struct Run<'a> {
    source: &'a SourceObject<'a>,
    ctx: &'a Context<'a>,
    curator: Curator<'a>,
    source_id: String,
    source_object: String,
    ingested_at: String,
    parts: Parts,
    rejects: Option<GzLines>,
    reject_part: u32,
    jobs: Vec<Box<dyn JobRun>>,
    outcome: Outcome,
    last_line: u64,
    line_buf: Vec<u8>,
    /// The pipeline's text reader (landing files of `format: text`).
    text: Option<textlog::Reader<'a>>,
}

/// Open curated parts by partition hour (Unix seconds of the hour).
#[derive(Default)]
struct Parts {
    open: BTreeMap<i64, OpenPart>,
    next_part: BTreeMap<i64, u32>,
    /// Compressed bytes held by the open parts, kept up to date on push and flush.
    buffered: usize,
}

struct OpenPart {
    lines: GzLines,
    min: Option<DateTime<Utc>>,
    max: Option<DateTime<Utc>>,
}

impl Parts {
    fn largest(&self) -> Option<i64> {
        self.open
            .iter()
            .max_by_key(|(_, p)| p.lines.raw_bytes())
            .map(|(hour, _)| *hour)
    }
}

impl<'a> Run<'a> {
    fn new(source: &'a SourceObject<'a>, ctx: &'a Context<'a>) -> Self {
        let pipeline = source.pipeline;
        let curator = Curator::new(pipeline, ctx.spec_version)
            .empty_is_null(source.kind == SourceKind::Landing && pipeline.format == Format::Tsv);
        Run {
            source,
            ctx,
            curator,
            source_id: source.id(),
            source_object: format!("s3://{}/{}#{}", source.bucket, source.key, source.version),
            ingested_at: timefmt::curated(source.ingested_at),
            parts: Parts::default(),
            rejects: None,
            reject_part: 0,
            jobs: pipeline
                .jobs
                .iter()
                .map(|job| jobs::start(job, ctx.priority))
                .collect(),
            outcome: Outcome::default(),
            last_line: 0,
            line_buf: Vec::with_capacity(4096),
            text: pipeline
                .text
                .as_ref()
                .and_then(|t| t.parser(pipeline).ok())
                .map(|p| p.reader(source.arrival)),
        }
    }

    /// A line of a `format: text` landing file, read by the pipeline's text format.
    fn text_line<S: Sink>(&mut self, sink: &mut S, number: u64, bytes: &[u8]) -> Step<S::Error> {
        let position = Position::line(number);
        let line = match std::str::from_utf8(bytes) {
            Ok(line) => line,
            Err(e) => {
                let rejection = Rejection::new(Reason::InvalidUtf8, e.to_string());
                return self.reject(sink, position, &rejection, bytes);
            }
        };
        let parsed = match self.text.as_mut() {
            Some(reader) => reader.line(line),
            None => textlog::Line::Reject(Rejection::new(
                Reason::NoMatch,
                "the pipeline declares no valid text format",
            )),
        };
        match parsed {
            textlog::Line::Row(event) => self.landing_event(sink, position, number, event, bytes),
            textlog::Line::Skip => Ok(()),
            textlog::Line::Reject(rejection) => self.reject(sink, position, &rejection, bytes),
        }
    }

    /// A line of a raw object: a [`RawEvent`] of this pipeline.
    fn raw_line<S: Sink>(&mut self, sink: &mut S, number: u64, bytes: &[u8]) -> Step<S::Error> {
        let position = Position::line(number);
        let raw: RawEvent = match serde_json::from_slice(bytes) {
            Ok(raw) => raw,
            Err(e) => {
                let rejection = Rejection::new(Reason::InvalidJson, format!("raw event: {e}"));
                return self.reject(sink, position, &rejection, bytes);
            }
        };
        if raw.pipeline != self.source.pipeline.name {
            let rejection = Rejection::new(
                Reason::MixedPipelines,
                format!(
                    "a `{}` event in an object of pipeline `{}`",
                    raw.pipeline, self.source.pipeline.name
                ),
            );
            return self.reject(sink, position, &rejection, bytes);
        }
        self.event(sink, position, number, &raw.data, &raw.event_id, bytes)
    }

    /// A line of an NDJSON landing file.
    fn json_line<S: Sink>(&mut self, sink: &mut S, number: u64, bytes: &[u8]) -> Step<S::Error> {
        let position = Position::line(number);
        match parse_object(bytes) {
            Ok(event) => self.landing_event(sink, position, number, event, bytes),
            Err(rejection) => self.reject(sink, position, &rejection, bytes),
        }
    }

    /// An event of a landing file: its id is computed here, as ingest would.
    fn landing_event<S: Sink>(
        &mut self,
        sink: &mut S,
        position: Position,
        line: u64,
        event: Map<String, Value>,
        bytes: &[u8],
    ) -> Step<S::Error> {
        if let Err(rejection) = crate::record::check_event_depth(&event) {
            return self.reject(sink, position, &rejection, bytes);
        }
        match identity::event_id(&self.source.pipeline.identity, &event, None) {
            Ok(id) => self.event(sink, position, line, &event, &id, bytes),
            Err(rejection) => self.reject(sink, position, &rejection, bytes),
        }
    }

    fn event<S: Sink>(
        &mut self,
        sink: &mut S,
        position: Position,
        line: u64,
        event: &Map<String, Value>,
        event_id: &str,
        bytes: &[u8],
    ) -> Step<S::Error> {
        let ctx = RowContext {
            source_object: &self.source_object,
            ingested_at: &self.ingested_at,
        };
        self.line_buf.clear();
        match self
            .curator
            .curate(event, event_id, &ctx, &mut self.line_buf)
        {
            Ok(curated) => {
                self.outcome.events += 1;
                self.outcome.valid += 1;
                for job in &mut self.jobs {
                    job.observe(event, line);
                }
                let time = curated.event_time;
                self.push_row(sink, time)
            }
            Err(rejection) => self.reject(sink, position, &rejection, bytes),
        }
    }

    fn push_row<S: Sink>(&mut self, sink: &mut S, time: Option<DateTime<Utc>>) -> Step<S::Error> {
        let partition = time.unwrap_or(self.source.arrival);
        let hour = partition.timestamp().div_euclid(3600) * 3600;
        if !self.parts.open.contains_key(&hour)
            && self.parts.open.len() >= self.ctx.limits.max_open_parts
        {
            if let Some(largest) = self.parts.largest() {
                self.flush_part(sink, largest)?;
            }
        }
        let part = self.parts.open.entry(hour).or_insert_with(|| OpenPart {
            lines: GzLines::default(),
            min: None,
            max: None,
        });
        let before = part.lines.compressed_len();
        part.lines.push_line(&self.line_buf).map_err(Stop::Read)?;
        self.parts.buffered += part.lines.compressed_len() - before;
        if let Some(t) = time {
            part.min = Some(part.min.map_or(t, |m| m.min(t)));
            part.max = Some(part.max.map_or(t, |m| m.max(t)));
        }
        let full = part.lines.raw_bytes() >= self.ctx.limits.target_part_bytes;
        if full {
            self.flush_part(sink, hour)?;
        } else if self.parts.buffered > self.ctx.limits.buffer_budget {
            if let Some(largest) = self.parts.largest() {
                self.flush_part(sink, largest)?;
            }
        }
        Ok(())
    }

    fn flush_part<S: Sink>(&mut self, sink: &mut S, hour: i64) -> Step<S::Error> {
        let Some(part) = self.parts.open.remove(&hour) else {
            return Ok(());
        };
        self.parts.buffered = self
            .parts
            .buffered
            .saturating_sub(part.lines.compressed_len());
        let number = self.parts.next_part.entry(hour).or_insert(0);
        let part_no = *number;
        *number += 1;
        let time = DateTime::from_timestamp(hour, 0).unwrap_or(self.source.arrival);
        let key =
            self.ctx
                .layout
                .curated_key(&self.source.pipeline.name, time, &self.source_id, part_no);
        let rows = part.lines.lines();
        let bytes = part.lines.finish().map_err(Stop::Read)?;
        let size = bytes.len() as u64;
        let version = sink
            .put(&self.ctx.layout.curated.bucket, &key, bytes, NDJSON)
            .map_err(|e| Stop::Sink(key.clone(), e))?;
        self.outcome.curated.push(CuratedObject {
            bucket: self.ctx.layout.curated.bucket.clone(),
            key,
            version,
            bytes: size,
            rows,
            min_event_time: part.min.map(timefmt::curated),
            max_event_time: part.max.map(timefmt::curated),
        });
        Ok(())
    }

    fn reject<S: Sink>(
        &mut self,
        sink: &mut S,
        position: Position,
        rejection: &Rejection,
        raw: &[u8],
    ) -> Step<S::Error> {
        self.outcome.events += 1;
        self.outcome.rejected += 1;
        *self
            .outcome
            .rejects_by_reason
            .entry(rejection.reason.code())
            .or_insert(0) += 1;
        let record = RejectRecord::new(
            Stage::Transform,
            Some(&self.source.pipeline.name),
            Source::S3 {
                bucket: self.source.bucket.to_owned(),
                key: self.source.key.to_owned(),
                version: Some(self.source.version.to_owned()),
            },
            position,
            rejection,
            raw,
            self.ctx.now,
        );
        let lines = self.rejects.get_or_insert_with(GzLines::default);
        lines.push(&record).map_err(Stop::Read)?;
        if lines.raw_bytes() >= self.ctx.limits.reject_part_bytes {
            self.flush_rejects(sink)?;
        }
        Ok(())
    }

    fn flush_rejects<S: Sink>(&mut self, sink: &mut S) -> Step<S::Error> {
        let Some(lines) = self.rejects.take() else {
            return Ok(());
        };
        let key = self.ctx.layout.reject_key(
            Stage::Transform,
            Some(&self.source.pipeline.name),
            self.source.arrival,
            &format!("{}-{:05}", self.source_id, self.reject_part),
        );
        self.reject_part += 1;
        let bytes = lines.finish().map_err(Stop::Read)?;
        sink.put(&self.ctx.layout.errors.bucket, &key, bytes, NDJSON)
            .map_err(|e| Stop::Sink(key.clone(), e))?;
        self.outcome.reject_files.push(key);
        Ok(())
    }

    fn finish<S: Sink>(mut self, sink: &mut S) -> Result<Outcome, Stop<S::Error>> {
        let hours: Vec<i64> = self.parts.open.keys().copied().collect();
        for hour in hours {
            self.flush_part(sink, hour)?;
        }
        self.flush_rejects(sink)?;
        let job_ctx = JobContext {
            pipeline: self.source.pipeline.name.clone(),
            source_id: self.source_id.clone(),
            source_date: self.source.arrival.date_naive(),
            run_date: run_date(self.ctx.now),
        };
        for job in std::mem::take(&mut self.jobs) {
            let kind = job.kind();
            let output = job.finish(&job_ctx);
            for file in output.files {
                let key = self
                    .ctx
                    .layout
                    .report_key(&self.source.pipeline.name, kind, &file.path);
                sink.put(
                    &self.ctx.layout.reports.bucket,
                    &key,
                    file.bytes,
                    file.content_type,
                )
                .map_err(|e| Stop::Sink(key.clone(), e))?;
                self.outcome.reports.push(key);
            }
            self.outcome
                .job_summaries
                .insert(kind.to_owned(), output.summary);
        }
        Ok(self.outcome)
    }
}

fn run_date(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;
    use crate::storage::Layout;
    use std::io::Read as _;

    /// The object store stands in as a map: the core's sink is its own port.
    #[derive(Default)]
    struct MemSink {
        objects: BTreeMap<String, Vec<u8>>,
        fail_on: Option<String>,
    }

    impl Sink for MemSink {
        type Error = String;
        fn put(
            &mut self,
            bucket: &str,
            key: &str,
            bytes: Vec<u8>,
            _: &str,
        ) -> Result<String, String> {
            if self.fail_on.as_deref().is_some_and(|f| key.contains(f)) {
                return Err("injected".into());
            }
            let etag = format!("{:x}", md5::Md5::digest(&bytes));
            self.objects.insert(format!("{bucket}/{key}"), bytes);
            Ok(etag)
        }
    }

    use md5::Digest as _;

    fn gunzip_lines(bytes: &[u8]) -> Vec<Value> {
        let (_, mut r) = crate::compress::open_stream(bytes).unwrap();
        let mut text = String::new();
        r.read_to_string(&mut text).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn spec() -> Spec {
        Spec::parse(include_str!("../../../spec/pipelines.yaml")).unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T10:11:12Z")
            .unwrap()
            .to_utc()
    }

    fn run(
        spec: &Spec,
        pipeline: &str,
        kind: SourceKind,
        input: &[u8],
        limits: Limits,
        priority: &[String],
    ) -> (Outcome, MemSink) {
        let layout = Layout::single_bucket("lake");
        let source = SourceObject {
            bucket: "lake",
            key: "raw/pipeline=x/dt=2026-11-21/hour=10/k.ndjson.gz",
            version: "etag1",
            kind,
            pipeline: spec.pipeline(pipeline).unwrap(),
            arrival: now(),
            ingested_at: now(),
        };
        let ctx = Context {
            layout: &layout,
            spec_version: spec.version,
            limits,
            now: now(),
            priority,
        };
        let mut sink = MemSink::default();
        let (_, reader) = crate::compress::open_stream(input).unwrap();
        let outcome = transform_object(reader, &source, &ctx, &mut sink).unwrap();
        (outcome, sink)
    }

    fn raw_line(pipeline: &str, id: &str, data: Value) -> String {
        serde_json::json!({"pipeline": pipeline, "event_id": id, "arrived_at": "2026-11-21T10:00:00.000Z",
            "origin": {"stream": "user-events"}, "data": data})
        .to_string()
    }

    fn user_event(id: &str, ts: &str) -> Value {
        serde_json::json!({"request_id": id, "request_timestamp": ts, "cookie_id": "c", "topic": "t", "unknown": 1})
    }

    #[test]
    fn raw_objects_become_curated_parts_by_event_hour_with_rejects_and_a_loader_message() {
        let spec = spec();
        let input = [
            raw_line("user_events", "a", user_event("a", "2020-06-01T00:00:24Z")),
            raw_line("user_events", "b", user_event("b", "2020-06-01T01:30:00Z")),
            String::new(),
            raw_line("user_events", "c", serde_json::json!({"request_id": "c"})),
            raw_line("user_utm", "d", serde_json::json!({})),
            "{not json".into(),
            raw_line(
                "user_events",
                "e",
                user_event("e", "2020-06-01T00:59:59.5Z"),
            ),
        ]
        .join("\n");
        let gz = crate::compress::gzip(input.as_bytes());
        let (outcome, sink) = run(
            &spec,
            "user_events",
            SourceKind::Raw,
            &gz,
            Limits::default(),
            &[],
        );
        assert_eq!((outcome.events, outcome.valid, outcome.rejected), (6, 3, 3));
        assert_eq!(
            outcome.rejects_by_reason,
            BTreeMap::from([
                ("invalid_json", 1),
                ("missing_required", 1),
                ("mixed_pipelines", 1)
            ])
        );
        let sid = source_id(
            "lake",
            "raw/pipeline=x/dt=2026-11-21/hour=10/k.ndjson.gz",
            "etag1",
        );
        let keys: Vec<&str> = outcome.curated.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                format!("curated/pipeline=user_events/dt=2020-06-01/hour=00/{sid}-00000.ndjson.gz"),
                format!("curated/pipeline=user_events/dt=2020-06-01/hour=01/{sid}-00000.ndjson.gz"),
            ]
        );
        let first = &outcome.curated[0];
        assert_eq!(first.rows, 2);
        assert_eq!(
            first.min_event_time.as_deref(),
            Some("2020-06-01 00:00:24.000000")
        );
        assert_eq!(
            first.max_event_time.as_deref(),
            Some("2020-06-01 00:59:59.500000")
        );
        let rows = gunzip_lines(&sink.objects[&format!("lake/{}", first.key)]);
        assert_eq!(rows[0]["event_id"], "a");
        assert_eq!(rows[0]["extra"], serde_json::json!({"unknown": 1}));
        assert_eq!(rows[1]["request_timestamp"], "2020-06-01 00:59:59.500000");
        let rejects_key = format!(
            "errors/rejects/stage=transform/pipeline=user_events/dt=2026-11-21/hour=10/{sid}-00000.ndjson.gz"
        );
        assert_eq!(outcome.reject_files, std::slice::from_ref(&rejects_key));
        let rejects = gunzip_lines(&sink.objects[&format!("lake/{rejects_key}")]);
        let lines: Vec<u64> = rejects
            .iter()
            .map(|r| r["position"]["line"].as_u64().unwrap())
            .collect();
        assert_eq!(lines, [4, 5, 6]);
        let message = outcome
            .loader_message(
                &SourceObject {
                    bucket: "lake",
                    key: "k",
                    version: "v",
                    kind: SourceKind::Raw,
                    pipeline: spec.pipeline("user_events").unwrap(),
                    arrival: now(),
                    ingested_at: now(),
                },
                spec.version,
            )
            .unwrap();
        assert_eq!(message.table, "tracking.events");
        assert_eq!(message.objects.len(), 2);
        assert_eq!(message.rejected, 3);
    }

    #[test]
    fn the_same_object_twice_writes_the_same_keys_and_bytes() {
        let spec = spec();
        let input: String = (0..500)
            .map(|i| {
                raw_line(
                    "user_events",
                    &format!("id{i}"),
                    user_event(
                        &format!("id{i}"),
                        &format!("2020-06-01T{:02}:00:00Z", i % 24),
                    ),
                ) + "\n"
            })
            .collect();
        let limits = Limits {
            target_part_bytes: 4096,
            ..Limits::default()
        };
        let (a, sa) = run(
            &spec,
            "user_events",
            SourceKind::Raw,
            input.as_bytes(),
            limits,
            &[],
        );
        let (b, sb) = run(
            &spec,
            "user_events",
            SourceKind::Raw,
            input.as_bytes(),
            limits,
            &[],
        );
        assert_eq!(a, b);
        assert_eq!(sa.objects, sb.objects);
    }

    #[test]
    fn parts_roll_over_at_the_target_and_the_budget_without_losing_rows() {
        let spec = spec();
        let input: String = (0..2000)
            .map(|i| {
                raw_line(
                    "user_events",
                    &format!("id{i}"),
                    user_event(
                        &format!("id{i}"),
                        &format!("2020-06-01T{:02}:00:00Z", i % 24),
                    ),
                ) + "\n"
            })
            .collect();
        let limits = Limits {
            target_part_bytes: 20_000,
            max_open_parts: 5,
            buffer_budget: 4096,
            ..Limits::default()
        };
        let (outcome, sink) = run(
            &spec,
            "user_events",
            SourceKind::Raw,
            input.as_bytes(),
            limits,
            &[],
        );
        assert_eq!(outcome.valid, 2000);
        let rows: u64 = outcome.curated.iter().map(|o| o.rows).sum();
        assert_eq!(rows, 2000);
        let mut ids = std::collections::BTreeSet::new();
        for object in &outcome.curated {
            let lines = gunzip_lines(&sink.objects[&format!("lake/{}", object.key)]);
            assert_eq!(lines.len() as u64, object.rows);
            let raw: usize = lines.iter().map(|l| l.to_string().len() + 1).sum();
            assert!(raw < 20_000 + 1024, "{} is {raw} bytes", object.key);
            for line in lines {
                assert!(ids.insert(line["event_id"].as_str().unwrap().to_owned()));
            }
        }
        assert!(outcome.curated.len() > 24, "{}", outcome.curated.len());
        let hour5: Vec<&str> = outcome
            .curated
            .iter()
            .filter(|o| o.key.contains("hour=05"))
            .map(|o| o.key.rsplit('-').next().unwrap())
            .collect();
        assert!(
            hour5.starts_with(&["00000.ndjson.gz", "00001.ndjson.gz"]),
            "{hour5:?}"
        );
    }

    #[test]
    fn landing_tsv_runs_the_search_keyword_job_and_rejects_bad_rows() {
        let spec = spec();
        let header = "hit_time_gmt\tdate_time\tuser_agent\tip\tevent_list\tgeo_city\tgeo_region\tgeo_country\tpagename\tpage_url\tproduct_list\treferrer";
        let rows = [
            "1254033280\t2009-09-27 06:34:40\tMozilla\t67.98.123.1\t\tSalem\tOR\tUS\tHome\thttp://www.esshopzilla.com\t\thttp://www.google.com/search?hl=en&q=Ipod",
            "1254033379\t2009-09-27 06:36:19\tMozilla\t67.98.123.1\t1\tSalem\tOR\tUS\tOrder Complete\thttps://www.esshopzilla.com/checkout/?a=confirm\tElectronics;Ipod - Touch - 32GB;1;290;,\thttps://www.esshopzilla.com/checkout/?a=review",
            "not\tenough",
            "x\t\t\t1.2.3.4\t\t\t\t\t\t\t\t",
        ];
        let input = format!("{header}\n{}\n", rows.join("\n"));
        let (outcome, sink) = run(
            &spec,
            "hit_data",
            SourceKind::Landing,
            input.as_bytes(),
            Limits::default(),
            &[],
        );
        assert_eq!((outcome.valid, outcome.rejected), (2, 2));
        assert_eq!(
            outcome.rejects_by_reason,
            BTreeMap::from([("bad_tsv", 1), ("bad_timestamp", 1)])
        );
        let curated = &outcome.curated[0];
        assert!(
            curated
                .key
                .starts_with("curated/pipeline=hit_data/dt=2009-09-27/hour=06/"),
            "{}",
            curated.key
        );
        let report = outcome
            .reports
            .iter()
            .find(|k| k.ends_with("_SearchKeywordPerformance.tab"))
            .unwrap();
        assert!(
            report.starts_with("reports/pipeline=hit_data/job=search_keyword_revenue/source="),
            "{report}"
        );
        assert!(
            report.ends_with("/2026-11-21_SearchKeywordPerformance.tab"),
            "{report}"
        );
        let text = String::from_utf8(sink.objects[&format!("lake/{report}")].clone()).unwrap();
        assert_eq!(
            text,
            "Search Engine Domain\tSearch Keyword\tRevenue\ngoogle.com\tipod\t290.00\n"
        );
    }

    #[test]
    fn landing_json_arrays_and_lines_give_the_same_rows_and_consolidation() {
        let spec = spec();
        let records = [
            serde_json::json!({"partner_name": "booking", "accommodation_id": "h1", "accommodation_data": {"n": 1}}),
            serde_json::json!({"partner_name": "expedia", "accommodation_id": "h1", "accommodation_data": {"n": 2}}),
            serde_json::json!({"partner_name": "other", "accommodation_id": "h2", "accommodation_data": {}}),
        ];
        let lines: String = records.iter().map(|r| r.to_string() + "\n").collect();
        let array = serde_json::to_string_pretty(&records).unwrap();
        let priority = ["expedia".to_owned(), "booking".to_owned()];
        let (a, sa) = run(
            &spec,
            "partner_catalog",
            SourceKind::Landing,
            lines.as_bytes(),
            Limits::default(),
            &priority,
        );
        let (b, sb) = run(
            &spec,
            "partner_catalog",
            SourceKind::Landing,
            array.as_bytes(),
            Limits::default(),
            &priority,
        );
        assert_eq!((a.valid, b.valid), (3, 3));
        let rows = |o: &Outcome, s: &MemSink| {
            gunzip_lines(&s.objects[&format!("lake/{}", o.curated[0].key)])
                .into_iter()
                .map(|r| r["event_id"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(&a, &sa), rows(&b, &sb));
        let report = a
            .reports
            .iter()
            .find(|k| k.contains("job=consolidate_by_priority/year=2026/month=11/day=21/"))
            .unwrap();
        let text = String::from_utf8(sa.objects[&format!("lake/{report}")].clone()).unwrap();
        let winners: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(winners, [records[1].clone()]);
    }

    #[test]
    fn a_corrupt_gzip_keeps_what_was_read_and_rejects_the_rest() {
        let spec = spec();
        let input: String = (0..2000)
            .map(|i| {
                raw_line(
                    "user_events",
                    &format!("id{i}"),
                    user_event(&format!("id{i}"), "2020-06-01T00:00:00Z"),
                ) + "\n"
            })
            .collect();
        let mut gz = crate::compress::gzip(input.as_bytes());
        let middle = gz.len() / 2;
        for b in &mut gz[middle..middle + 64] {
            *b ^= 0x5a;
        }
        let (outcome, _) = run(
            &spec,
            "user_events",
            SourceKind::Raw,
            &gz,
            Limits::default(),
            &[],
        );
        assert!(outcome.valid < 2000, "{}", outcome.valid);
        assert_eq!(outcome.rejects_by_reason.get("bad_compression"), Some(&1));
    }

    #[test]
    fn an_overlong_line_is_a_too_large_reject() {
        let spec = spec();
        let input = format!(
            "{}\n{}\n",
            raw_line(
                "user_events",
                "a",
                user_event(&"x".repeat(5000), "2020-06-01T00:00:00Z")
            ),
            raw_line("user_events", "b", user_event("b", "2020-06-01T00:00:00Z"))
        );
        let limits = Limits {
            max_line: 1000,
            ..Limits::default()
        };
        let (outcome, _) = run(
            &spec,
            "user_events",
            SourceKind::Raw,
            input.as_bytes(),
            limits,
            &[],
        );
        assert_eq!((outcome.valid, outcome.rejected), (1, 1));
        assert_eq!(outcome.rejects_by_reason.get("too_large"), Some(&1));
    }

    #[test]
    fn a_failing_sink_stops_the_object() {
        let spec = spec();
        let layout = Layout::single_bucket("lake");
        let input = raw_line("user_events", "a", user_event("a", "2020-06-01T00:00:00Z"));
        let source = SourceObject {
            bucket: "lake",
            key: "k",
            version: "v",
            kind: SourceKind::Raw,
            pipeline: spec.pipeline("user_events").unwrap(),
            arrival: now(),
            ingested_at: now(),
        };
        let ctx = Context {
            layout: &layout,
            spec_version: 1,
            limits: Limits::default(),
            now: now(),
            priority: &[],
        };
        let mut sink = MemSink {
            fail_on: Some("curated/".into()),
            ..MemSink::default()
        };
        let err = transform_object(input.as_bytes(), &source, &ctx, &mut sink).unwrap_err();
        assert!(
            matches!(err, TransformError::Sink { ref key, .. } if key.starts_with("curated/")),
            "{err}"
        );
    }
}
