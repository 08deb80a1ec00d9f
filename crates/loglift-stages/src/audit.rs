//! `loglift audit`: events in = loaded + rejected + dropped + waiting in a DLQ, per hour.
//!
//! For a pipeline and `[since, until)`, per hour:
//!
//! - **in**: the events of the source objects of that hour — raw objects by their arrival
//!   partition (`raw/pipeline=<p>/dt=…/hour=…/`, one listing per hour), or a landing pipeline's
//!   objects by their last-modified hour — counted as transform reads them (lines of raw objects
//!   and NDJSON files, data lines of TSV files, elements of JSON arrays, one more for a
//!   compressed stream that breaks off);
//! - **loaded**: rows the load ledger recorded from each source object
//!   ([`Ledger::ledger_sources`]);
//! - **rejected**: lines of the transform reject files of each source object (under the same
//!   `dt/hour`, attributed by the records' `source`);
//! - **dropped**: blank lines, which transform skips;
//! - **in DLQ**: the transform DLQ's S3 events (the whole object waits) and the loader DLQ's
//!   messages (their curated rows wait), peeked without consuming them
//!   ([`crate::redrive::sqs::peek`]).
//!
//! Sources are matched by bucket and key (a versioned bucket's listing has no version id).
//! [`account`] is the pure arithmetic per source: what is loaded, rejected or dropped beyond the
//! events in (a backfill or a redelivered message loads the same curated rows again; the loader
//! dedupes them) is **surplus**, not an imbalance; what nothing explains is **unexplained** — in
//! flight (a queue, a running function) or lost. An hour balances when nothing is unexplained.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use loglift_core::compress;
use loglift_core::jsonarray::{self, ArrayReader, Element};
use loglift_core::ndjson::{Line, LineReader, DEFAULT_MAX_LINE};
use loglift_core::reject::RejectRecord;
use loglift_core::s3event;
use loglift_core::spec::{Format, Pipeline, Spec};
use loglift_core::storage::{arrival_partition, Layout, LoaderMessage};
use loglift_ports::{Ledger, ObjectMeta, ObjectStore, PortError, Queue};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;
use tokio_util::io::SyncIoBridge;

use crate::redrive::backfill::{hours_overlapping, list_all, range_objects, ReplayError};
use crate::redrive::rejects::MAX_REJECT_FILE_BYTES;
use crate::redrive::{sqs, Progress};

/// Messages peeked per DLQ, at most, by default.
pub const DEFAULT_DLQ_PEEK: usize = 10_000;

/// Where the audit reads: the lake, the queues holding the DLQs, the warehouse's ledger.
#[derive(Debug)]
pub struct AuditDeps<'a, S, Q, W> {
    pub spec: &'a Spec,
    pub layout: &'a Layout,
    pub store: &'a S,
    pub queue: &'a Q,
    pub warehouse: &'a W,
    /// The transform and loader DLQs (SQS URLs or local queue names); each message is read as a
    /// loader message or an S3 event, whichever it is.
    pub dlqs: &'a [String],
}

/// An audit command.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuditOptions {
    pub pipeline: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Messages peeked per DLQ, at most.
    #[serde(default = "default_peek")]
    pub dlq_peek_max: usize,
}

fn default_peek() -> usize {
    DEFAULT_DLQ_PEEK
}

impl AuditOptions {
    pub fn new(pipeline: impl Into<String>, since: DateTime<Utc>, until: DateTime<Utc>) -> Self {
        AuditOptions {
            pipeline: pipeline.into(),
            since,
            until,
            dlq_peek_max: DEFAULT_DLQ_PEEK,
        }
    }
}

/// Why the audit could not run.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Range(#[from] ReplayError),
    #[error("{what}: {source}")]
    Port {
        what: String,
        #[source]
        source: PortError,
    },
    #[error("counting the events of s3://{bucket}/{key}: {message}")]
    Count {
        bucket: String,
        key: String,
        message: String,
    },
}

impl AuditError {
    /// Running the audit again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            AuditError::Range(e) => e.is_retryable(),
            AuditError::Port { source, .. } => source.is_retryable(),
            AuditError::Count { .. } => true,
        }
    }
}

fn port(what: impl Into<String>) -> impl FnOnce(PortError) -> AuditError {
    let what = what.into();
    move |source| AuditError::Port { what, source }
}

// ---------------------------------------------------------------------------------------------
// The pure part: counts per source → figures per source, hour and range.

/// What is known of one source object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SourceCounts {
    /// Events read from the object as transform reads them, blank lines included.
    pub events_in: u64,
    /// Blank lines (transform skips them).
    pub blank: u64,
    /// Rows the ledger recorded as loaded from it (reloads included).
    pub loaded: u64,
    /// Lines of its transform reject files.
    pub rejected: u64,
    /// Rows of its loader messages waiting in the loader DLQ.
    pub loader_dlq_rows: u64,
    /// Its S3 event waits in the transform DLQ: nothing of it went further.
    pub in_transform_dlq: bool,
}

/// The accounting of one source, an hour or a range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    pub sources: u64,
    pub events_in: u64,
    pub loaded: u64,
    pub rejected: u64,
    pub dropped: u64,
    pub in_dlq: u64,
    /// Counted beyond the events in (reloads after a backfill or redelivery; the loader deduped
    /// them): not an imbalance.
    pub surplus: u64,
    /// Events nothing explains: in flight or lost.
    pub unexplained: u64,
}

impl Figures {
    fn add(&mut self, other: &Figures) {
        self.sources += other.sources;
        self.events_in += other.events_in;
        self.loaded += other.loaded;
        self.rejected += other.rejected;
        self.dropped += other.dropped;
        self.in_dlq += other.in_dlq;
        self.surplus += other.surplus;
        self.unexplained += other.unexplained;
    }

    /// `in = loaded + rejected + dropped + in DLQ`.
    pub fn balanced(&self) -> bool {
        self.unexplained == 0
    }
}

/// Explain one source's events: dropped, then rejected, then loaded, then waiting in a DLQ, each
/// up to what is left; the rest is unexplained and the excess is surplus.
pub fn account(c: &SourceCounts) -> Figures {
    let mut left = c.events_in;
    let mut take = |n: u64| {
        let t = n.min(left);
        left -= t;
        t
    };
    let dropped = take(c.blank);
    let rejected = take(c.rejected);
    let loaded = take(c.loaded);
    let dlq_claim = if c.in_transform_dlq {
        u64::MAX
    } else {
        c.loader_dlq_rows
    };
    let in_dlq = take(dlq_claim);
    let surplus = (c.blank - dropped) + (c.rejected - rejected) + (c.loaded - loaded);
    Figures {
        sources: 1,
        events_in: c.events_in,
        loaded,
        rejected,
        dropped,
        in_dlq,
        surplus,
        unexplained: left,
    }
}

/// One source that does not balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unexplained {
    /// `s3://bucket/key`.
    pub source: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// One hour of the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourAudit {
    pub hour: DateTime<Utc>,
    #[serde(flatten)]
    pub figures: Figures,
    pub balanced: bool,
    /// Its sources with unexplained events ("in flight or lost").
    pub unexplained_sources: Vec<Unexplained>,
}

/// The audit of a pipeline and a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub pipeline: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Every hour balances.
    pub balanced: bool,
    pub totals: Figures,
    /// The hours that have source objects, in order.
    pub hours: Vec<HourAudit>,
    /// Ledger entries of the range whose source object is no longer listed (deleted, or another
    /// version): loaded rows nothing above counts.
    pub ledger_without_source: Vec<String>,
    pub notes: Vec<String>,
}

impl AuditReport {
    /// The hours that do not balance.
    pub fn unbalanced(&self) -> impl Iterator<Item = &HourAudit> {
        self.hours.iter().filter(|h| !h.balanced)
    }
}

/// One source with its hour and counts: the input of [`summarize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    pub hour: DateTime<Utc>,
    /// `s3://bucket/key`.
    pub source: String,
    pub counts: SourceCounts,
}

/// Account every source and sum per hour.
pub fn summarize(
    pipeline: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    sources: &[SourceEntry],
) -> AuditReport {
    let mut hours: BTreeMap<DateTime<Utc>, HourAudit> = BTreeMap::new();
    let mut totals = Figures::default();
    for entry in sources {
        let figures = account(&entry.counts);
        totals.add(&figures);
        let hour = hours.entry(entry.hour).or_insert_with(|| HourAudit {
            hour: entry.hour,
            figures: Figures::default(),
            balanced: true,
            unexplained_sources: Vec::new(),
        });
        hour.figures.add(&figures);
        if !figures.balanced() {
            hour.balanced = false;
            hour.unexplained_sources.push(Unexplained {
                source: entry.source.clone(),
                figures,
            });
        }
    }
    let hours: Vec<HourAudit> = hours.into_values().collect();
    AuditReport {
        pipeline: pipeline.to_owned(),
        since,
        until,
        balanced: hours.iter().all(|h| h.balanced),
        totals,
        hours,
        ledger_without_source: Vec::new(),
        notes: Vec::new(),
    }
}

impl std::fmt::Display for AuditReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "audit of {} from {} to {}",
            self.pipeline,
            self.since.to_rfc3339(),
            self.until.to_rfc3339()
        )?;
        writeln!(
            f,
            "{:<16} {:>7} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>11}  ",
            "hour",
            "sources",
            "in",
            "loaded",
            "rejected",
            "dropped",
            "in DLQ",
            "surplus",
            "unexplained"
        )?;
        let row = |f: &mut std::fmt::Formatter<'_>, label: &str, x: &Figures, mark: &str| {
            writeln!(
                f,
                "{label:<16} {:>7} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>11}  {mark}",
                x.sources,
                x.events_in,
                x.loaded,
                x.rejected,
                x.dropped,
                x.in_dlq,
                x.surplus,
                x.unexplained
            )
        };
        for h in &self.hours {
            let mark = if h.balanced { "ok" } else { "DOES NOT BALANCE" };
            row(
                f,
                &h.hour.format("%Y-%m-%dT%H").to_string(),
                &h.figures,
                mark,
            )?;
        }
        let mark = if self.balanced { "ok" } else { "" };
        row(f, "total", &self.totals, mark)?;
        for h in self.unbalanced() {
            writeln!(
                f,
                "{}: {} event(s) unexplained (in flight or lost):",
                h.hour.format("%Y-%m-%dT%H"),
                h.figures.unexplained
            )?;
            for s in &h.unexplained_sources {
                writeln!(
                    f,
                    "  {}: in {}, loaded {}, rejected {}, dropped {}, in DLQ {}, unexplained {}",
                    s.source,
                    s.figures.events_in,
                    s.figures.loaded,
                    s.figures.rejected,
                    s.figures.dropped,
                    s.figures.in_dlq,
                    s.figures.unexplained
                )?;
            }
        }
        for s in &self.ledger_without_source {
            writeln!(f, "loaded from a source no longer listed: {s}")?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Counting events as transform reads them (pure over a reader).

/// How an object's bytes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountKind {
    /// A raw object: NDJSON of raw events.
    Raw,
    /// A landing file in the pipeline's format.
    Landing(Format),
}

/// Events and blank lines of one object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCount {
    /// Events as transform counts them, plus the blank lines it skips.
    pub events: u64,
    pub blank: u64,
}

/// Count the events of an object (compressed or not) as transform reads them. A compressed
/// stream that breaks off counts what was read plus one (transform's `bad_compression` reject);
/// other read errors are returned.
pub fn count_events<R: BufRead + Send>(reader: R, kind: CountKind) -> io::Result<EventCount> {
    let (_, mut decoded) = compress::open_stream(reader)?;
    let mut count = EventCount::default();
    let result = match kind {
        CountKind::Raw => count_lines(decoded, &mut count, |b| {
            b.iter().all(u8::is_ascii_whitespace)
        }),
        CountKind::Landing(Format::Tsv) => count_tsv(decoded, &mut count),
        CountKind::Landing(Format::JsonArray) => count_array(decoded, &mut count),
        CountKind::Landing(_) => match jsonarray::first_byte_is_array(&mut decoded) {
            Ok(true) => count_array(decoded, &mut count),
            Ok(false) => count_lines(decoded, &mut count, |b| {
                b.iter().all(u8::is_ascii_whitespace)
            }),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => Ok(count),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            count.events += 1;
            Ok(count)
        }
        Err(e) => Err(e),
    }
}

fn count_lines<R: BufRead>(
    reader: R,
    count: &mut EventCount,
    blank: impl Fn(&[u8]) -> bool,
) -> io::Result<()> {
    let mut lines = LineReader::new(reader, DEFAULT_MAX_LINE);
    while let Some(line) = lines.next_line()? {
        count.events += 1;
        if let Line::Text { bytes, .. } = line {
            if blank(bytes) {
                count.blank += 1;
            }
        }
    }
    Ok(())
}

fn count_tsv<R: BufRead>(reader: R, count: &mut EventCount) -> io::Result<()> {
    let mut lines = LineReader::new(reader, DEFAULT_MAX_LINE);
    let mut header_read = false;
    while let Some(line) = lines.next_line()? {
        match line {
            Line::Text { bytes, .. } if !header_read => {
                header_read = true;
                if !tsv_header_ok(bytes) {
                    // Transform rejects the header once and reads no further.
                    count.events += 1;
                    return Ok(());
                }
            }
            Line::Text { bytes, .. } => {
                count.events += 1;
                if bytes.is_empty() {
                    count.blank += 1;
                }
            }
            Line::TooLong { .. } => count.events += 1,
        }
    }
    Ok(())
}

/// Transform's rule for a TSV header: UTF-8, names unique and non-empty.
fn tsv_header_ok(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let mut seen = std::collections::HashSet::new();
    text.trim_start_matches('\u{feff}')
        .split('\t')
        .map(str::trim)
        .all(|name| !name.is_empty() && seen.insert(name))
}

fn count_array<R: BufRead>(reader: R, count: &mut EventCount) -> io::Result<()> {
    let mut elements = ArrayReader::new(reader, DEFAULT_MAX_LINE);
    while let Some(element) = elements.next_element()? {
        match element {
            Element::Value { .. } | Element::TooLong { .. } | Element::Malformed { .. } => {
                count.events += 1
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The I/O.

/// Audit the pipeline's `[since, until)`.
pub async fn audit<S, Q, W, P>(
    deps: &AuditDeps<'_, S, Q, W>,
    options: &AuditOptions,
    progress: &P,
) -> Result<AuditReport, AuditError>
where
    S: ObjectStore,
    Q: Queue,
    W: Ledger,
    P: Progress + ?Sized,
{
    let pipeline = deps
        .spec
        .pipeline(&options.pipeline)
        .ok_or_else(|| ReplayError::UnknownPipeline(options.pipeline.clone()))?;
    let hours = hours_overlapping(options.since, options.until)?;
    let objects = range_objects(
        deps.store,
        deps.layout,
        pipeline,
        options.since,
        options.until,
    )
    .await?;
    progress.set_total(objects.len() as u64);

    // Sources, their hours and events in.
    let kind = match pipeline.matcher.s3_prefix {
        Some(_) => CountKind::Landing(pipeline.format),
        None => CountKind::Raw,
    };
    let mut sources: BTreeMap<(String, String), SourceEntry> = BTreeMap::new();
    let mut notes = Vec::new();
    for meta in objects {
        progress.advance(1);
        let Some(hour) = source_hour(deps.layout, &meta) else {
            continue;
        };
        let Some(count) = count_object(deps.store, &meta, kind).await? else {
            notes.push(format!(
                "s3://{}/{} was deleted while the audit ran",
                meta.bucket, meta.key
            ));
            continue;
        };
        sources.insert(
            (meta.bucket.clone(), meta.key.clone()),
            SourceEntry {
                hour,
                source: format!("s3://{}/{}", meta.bucket, meta.key),
                counts: SourceCounts {
                    events_in: count.events,
                    blank: count.blank,
                    ..SourceCounts::default()
                },
            },
        );
    }

    // Transform rejects, per hour directory, attributed by each file's records.
    let rejected_hours: Vec<DateTime<Utc>> = match kind {
        CountKind::Raw => hours.clone(),
        CountKind::Landing(_) => {
            let set: std::collections::BTreeSet<DateTime<Utc>> =
                sources.values().map(|s| s.hour).collect();
            set.into_iter().collect()
        }
    };
    for hour in rejected_hours {
        let prefix = deps.layout.errors.key(&format!(
            "rejects/stage=transform/{}",
            arrival_partition(&pipeline.name, hour)
        ));
        for file in list_all(deps.store, &deps.layout.errors.bucket, &prefix).await? {
            let (source, lines) = reject_file_source(deps.store, &file).await?;
            if let Some(entry) = source.and_then(|s| sources.get_mut(&s)) {
                entry.counts.rejected += lines;
            }
        }
    }

    // The ledger.
    let (from, to) = ledger_range(deps.layout, pipeline, &hours);
    let ledger = deps
        .warehouse
        .ledger_sources(&pipeline.name, &from, &to)
        .await
        .map_err(port("reading the load ledger"))?;
    let mut ledger_without_source = Vec::new();
    for entry in ledger {
        match split_source_object(&entry.source_object).and_then(|k| sources.get_mut(&k)) {
            Some(source) => source.counts.loaded += entry.rows,
            None => ledger_without_source.push(format!(
                "{} ({} object(s), {} row(s))",
                entry.source_object, entry.objects, entry.rows
            )),
        }
    }

    // The DLQs.
    for dlq in deps.dlqs {
        let depth = deps
            .queue
            .depth(dlq)
            .await
            .map_err(port(format!("reading the depth of {dlq}")))?;
        if depth.in_flight > 0 {
            notes.push(format!(
                "{dlq}: {} message(s) in flight (being received) were not read",
                depth.in_flight
            ));
        }
        if depth.visible == 0 {
            continue;
        }
        let messages = sqs::peek(deps.queue, dlq, options.dlq_peek_max)
            .await
            .map_err(port(format!("peeking at {dlq}")))?;
        if messages.len() >= options.dlq_peek_max {
            notes.push(format!(
                "{dlq}: only the first {} message(s) were read",
                options.dlq_peek_max
            ));
        }
        let mut other = 0u64;
        for message in &messages {
            match dlq_sources(&message.body) {
                DlqBody::Loader(key, rows) => {
                    if let Some(s) = sources.get_mut(&key) {
                        s.counts.loader_dlq_rows += rows;
                    }
                }
                DlqBody::Objects(keys) => {
                    for key in keys {
                        if let Some(s) = sources.get_mut(&key) {
                            s.counts.in_transform_dlq = true;
                        }
                    }
                }
                DlqBody::Other => other += 1,
            }
        }
        if other > 0 {
            notes.push(format!(
                "{dlq}: {other} message(s) are neither S3 events nor loader messages"
            ));
        }
    }

    let entries: Vec<SourceEntry> = sources.into_values().collect();
    let mut report = summarize(&pipeline.name, options.since, options.until, &entries);
    report.ledger_without_source = ledger_without_source;
    report.notes = notes;
    tracing::info!(
        pipeline = %pipeline.name,
        since = %options.since,
        until = %options.until,
        sources = report.totals.sources,
        events_in = report.totals.events_in,
        unexplained = report.totals.unexplained,
        balanced = report.balanced,
        "Audit"
    );
    Ok(report)
}

/// The hour a source object belongs to: its raw arrival partition, or its last-modified hour.
fn source_hour(layout: &Layout, meta: &ObjectMeta) -> Option<DateTime<Utc>> {
    if let Some(relative) = layout.raw.relative(&meta.bucket, &meta.key) {
        return loglift_core::storage::parse_arrival_partition(relative).map(|(_, hour)| hour);
    }
    meta.last_modified
        .and_then(|t| t.duration_trunc(TimeDelta::hours(1)).ok())
}

async fn count_object<S: ObjectStore>(
    store: &S,
    meta: &ObjectMeta,
    kind: CountKind,
) -> Result<Option<EventCount>, AuditError> {
    let opened = match store.get(&meta.bucket, &meta.key).await {
        Ok(opened) => opened,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => {
            return Err(port(format!("reading s3://{}/{}", meta.bucket, meta.key))(
                e,
            ))
        }
    };
    let handle = tokio::runtime::Handle::current();
    let body = opened.body;
    let counted = tokio::task::spawn_blocking(move || {
        let reader =
            BufReader::with_capacity(256 * 1024, SyncIoBridge::new_with_handle(body, handle));
        count_events(reader, kind)
    })
    .await;
    let error = |message: String| AuditError::Count {
        bucket: meta.bucket.clone(),
        key: meta.key.clone(),
        message,
    };
    match counted {
        Ok(Ok(count)) => Ok(Some(count)),
        Ok(Err(e)) => Err(error(e.to_string())),
        Err(e) => Err(error(format!("the counting task stopped: {e}"))),
    }
}

/// The source object (bucket, key) a transform reject file is about, and its line count.
async fn reject_file_source<S: ObjectStore>(
    store: &S,
    file: &ObjectMeta,
) -> Result<(Option<(String, String)>, u64), AuditError> {
    let error = |message: String| AuditError::Count {
        bucket: file.bucket.clone(),
        key: file.key.clone(),
        message,
    };
    let opened = match store.get(&file.bucket, &file.key).await {
        Ok(opened) => opened,
        Err(e) if e.is_not_found() => return Ok((None, 0)),
        Err(e) => {
            return Err(port(format!("reading s3://{}/{}", file.bucket, file.key))(
                e,
            ))
        }
    };
    let mut bytes = Vec::new();
    opened
        .body
        .take(MAX_REJECT_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| error(e.to_string()))?;
    let text = compress::decompress_within(&bytes, MAX_REJECT_FILE_BYTES)
        .map_err(|r| error(r.to_string()))?;
    Ok(reject_lines_source(&text))
}

/// The source of a reject file's records (from the first that names an S3 object) and the
/// number of records.
fn reject_lines_source(text: &[u8]) -> (Option<(String, String)>, u64) {
    let mut source = None;
    let mut lines = 0;
    for line in text.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines += 1;
        if source.is_none() {
            if let Ok(RejectRecord {
                source: loglift_core::reject::Source::S3 { bucket, key, .. },
                ..
            }) = serde_json::from_slice::<RejectRecord>(line)
            {
                source = Some((bucket, key));
            }
        }
    }
    (source, lines)
}

/// The ledger's `source_object` range for the pipeline's sources of these hours.
fn ledger_range(layout: &Layout, pipeline: &Pipeline, hours: &[DateTime<Utc>]) -> (String, String) {
    if let Some(prefix) = pipeline.matcher.s3_prefix.as_deref() {
        let from = format!(
            "s3://{}/{}",
            layout.landing.bucket,
            layout.landing.key(prefix)
        );
        let to = prefix_end(&from);
        return (from, to);
    }
    let at = |hour: DateTime<Utc>| {
        format!(
            "s3://{}/{}",
            layout.raw.bucket,
            layout.raw.key(&arrival_partition(&pipeline.name, hour))
        )
    };
    let first = hours.first().copied().unwrap_or_default();
    let last = hours.last().copied().unwrap_or(first);
    (at(first), at(last + TimeDelta::hours(1)))
}

/// The least string greater than every string starting with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    match chars.pop() {
        Some(last) if last.is_ascii() && last < '~' => {
            chars.push(char::from(last as u8 + 1));
            chars.into_iter().collect()
        }
        _ => format!("{prefix}\u{10FFFF}"),
    }
}

/// `s3://bucket/key#version` → (bucket, key).
fn split_source_object(source_object: &str) -> Option<(String, String)> {
    let url = loglift_core::address::S3Url::parse_versioned(source_object)?;
    Some((url.bucket.to_owned(), url.key.to_owned()))
}

/// What a DLQ message is about.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DlqBody {
    /// A loader message: its source object and the rows waiting.
    Loader((String, String), u64),
    /// An S3 event: the objects waiting whole.
    Objects(Vec<(String, String)>),
    Other,
}

fn dlq_sources(body: &str) -> DlqBody {
    if let Ok(message) = serde_json::from_str::<LoaderMessage>(body) {
        let rows = message.objects.iter().map(|o| o.rows).sum();
        return DlqBody::Loader((message.source.bucket, message.source.key), rows);
    }
    match s3event::parse_body(body) {
        Ok(n) if !n.created.is_empty() => {
            DlqBody::Objects(n.created.into_iter().map(|o| (o.bucket, o.key)).collect())
        }
        _ => DlqBody::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn counts(events_in: u64, blank: u64, rejected: u64, loaded: u64) -> SourceCounts {
        SourceCounts {
            events_in,
            blank,
            rejected,
            loaded,
            ..SourceCounts::default()
        }
    }

    #[test]
    fn a_source_balances_when_everything_is_explained() {
        let f = account(&counts(10, 1, 2, 7));
        assert_eq!(
            (
                f.dropped,
                f.rejected,
                f.loaded,
                f.in_dlq,
                f.unexplained,
                f.surplus
            ),
            (1, 2, 7, 0, 0, 0)
        );
        assert!(f.balanced());
    }

    #[test]
    fn missing_rows_are_unexplained_unless_a_dlq_holds_them() {
        let f = account(&counts(10, 0, 2, 5));
        assert_eq!((f.unexplained, f.in_dlq), (3, 0));
        let f = account(&SourceCounts {
            loader_dlq_rows: 3,
            ..counts(10, 0, 2, 5)
        });
        assert_eq!((f.unexplained, f.in_dlq), (0, 3));
        // Loader DLQ rows beyond what is missing are surplus-free: only what is left is claimed.
        let f = account(&SourceCounts {
            loader_dlq_rows: 8,
            ..counts(10, 0, 2, 5)
        });
        assert_eq!((f.unexplained, f.in_dlq, f.surplus), (0, 3, 0));
        // An object whose S3 event waits in the transform DLQ waits whole.
        let f = account(&SourceCounts {
            in_transform_dlq: true,
            ..counts(10, 1, 0, 0)
        });
        assert_eq!((f.dropped, f.in_dlq, f.unexplained), (1, 9, 0));
    }

    #[test]
    fn reloads_are_surplus_not_imbalance() {
        let f = account(&counts(10, 0, 2, 16));
        assert_eq!((f.loaded, f.surplus, f.unexplained), (8, 8, 0));
        assert!(f.balanced());
    }

    #[test]
    fn hours_sum_their_sources_and_name_the_unexplained() {
        let h = |hour| Utc.with_ymd_and_hms(2026, 11, 21, hour, 0, 0).unwrap();
        let entry = |hour, source: &str, c| SourceEntry {
            hour: h(hour),
            source: source.into(),
            counts: c,
        };
        let report = summarize(
            "p",
            h(10),
            h(12),
            &[
                entry(10, "s3://b/a", counts(5, 0, 1, 4)),
                entry(10, "s3://b/b", counts(3, 0, 0, 3)),
                entry(11, "s3://b/c", counts(4, 0, 0, 0)),
                entry(11, "s3://b/d", counts(2, 0, 0, 2)),
            ],
        );
        assert!(!report.balanced);
        assert_eq!(report.hours.len(), 2);
        assert!(report.hours[0].balanced);
        assert_eq!(report.hours[0].figures.events_in, 8);
        assert!(!report.hours[1].balanced);
        assert_eq!(report.hours[1].figures.unexplained, 4);
        assert_eq!(report.hours[1].unexplained_sources.len(), 1);
        assert_eq!(report.hours[1].unexplained_sources[0].source, "s3://b/c");
        assert_eq!(report.totals.events_in, 14);
        let text = report.to_string();
        assert!(text.contains("2026-11-21T11"), "{text}");
        assert!(text.contains("DOES NOT BALANCE"), "{text}");
        assert!(text.contains("s3://b/c: in 4"), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["hours"][1]["unexplained"], 4);
        assert_eq!(
            json["hours"][1]["unexplained_sources"][0]["source"],
            "s3://b/c"
        );
    }

    fn count(bytes: &[u8], kind: CountKind) -> EventCount {
        count_events(bytes, kind).unwrap()
    }

    #[test]
    fn events_are_counted_as_transform_reads_them() {
        let ndjson = b"{\"a\":1}\n\n  \n{\"a\":2}\nnot json\n";
        assert_eq!(
            count(ndjson, CountKind::Raw),
            EventCount {
                events: 5,
                blank: 2
            }
        );
        assert_eq!(
            count(&compress::gzip(ndjson), CountKind::Raw),
            EventCount {
                events: 5,
                blank: 2
            }
        );
        let tsv = b"a\tb\n1\t2\n\n3\n";
        assert_eq!(
            count(tsv, CountKind::Landing(Format::Tsv)),
            EventCount {
                events: 3,
                blank: 1
            }
        );
        let bad_header = b"a\ta\n1\t2\n3\t4\n";
        assert_eq!(
            count(bad_header, CountKind::Landing(Format::Tsv)),
            EventCount {
                events: 1,
                blank: 0
            }
        );
        let array = b" [ {\"a\":1}, {\"a\":2},\n 3 ]";
        assert_eq!(
            count(array, CountKind::Landing(Format::Ndjson)),
            EventCount {
                events: 3,
                blank: 0
            }
        );
        assert_eq!(
            count(array, CountKind::Landing(Format::JsonArray)),
            EventCount {
                events: 3,
                blank: 0
            }
        );
        // A gzip stream cut short: what was read, plus one for transform's bad_compression.
        let mut body = Vec::new();
        for i in 0..5000 {
            body.extend_from_slice(format!("{{\"i\":{i}}}\n").as_bytes());
        }
        let gz = compress::gzip(&body);
        let cut = count(gz.get(..gz.len() / 2).unwrap(), CountKind::Raw);
        assert!(cut.events > 1 && cut.events < 5000, "{cut:?}");
    }

    #[test]
    fn ledger_ranges_and_source_objects() {
        let layout = Layout::single_bucket("lake");
        let spec = Spec::parse(include_str!("../../../spec/pipelines.yaml")).unwrap();
        let h = |d, hour| Utc.with_ymd_and_hms(2026, 11, d, hour, 0, 0).unwrap();
        let (from, to) = ledger_range(
            &layout,
            spec.pipeline("user_events").unwrap(),
            &[h(21, 22), h(21, 23)],
        );
        assert_eq!(
            from,
            "s3://lake/raw/pipeline=user_events/dt=2026-11-21/hour=22/"
        );
        assert_eq!(
            to,
            "s3://lake/raw/pipeline=user_events/dt=2026-11-22/hour=00/"
        );
        let inside = "s3://lake/raw/pipeline=user_events/dt=2026-11-21/hour=23/x.ndjson.gz#e";
        assert!(from.as_str() <= inside && inside < to.as_str());
        let (from, to) = ledger_range(&layout, spec.pipeline("hit_data").unwrap(), &[h(21, 0)]);
        assert_eq!(
            (from.as_str(), to.as_str()),
            ("s3://lake/landing/hit_data/", "s3://lake/landing/hit_data0")
        );
        assert_eq!(prefix_end("a~"), "a~\u{10FFFF}");
        assert_eq!(
            split_source_object("s3://lake/landing/a#b c.tsv#3HL4.k"),
            Some(("lake".into(), "landing/a#b c.tsv".into()))
        );
        assert_eq!(split_source_object("lake/key"), None);
    }

    #[test]
    fn dlq_bodies_name_their_sources() {
        let loader = r#"{"v":1,"pipeline":"p","table":"t","spec_version":1,
            "source":{"bucket":"lake","key":"raw/k","version":"e"},
            "objects":[{"bucket":"lake","key":"curated/a","version":"1","bytes":9,"rows":4},
                       {"bucket":"lake","key":"curated/b","version":"1","bytes":9,"rows":2}]}"#;
        assert_eq!(
            dlq_sources(loader),
            DlqBody::Loader(("lake".into(), "raw/k".into()), 6)
        );
        let event = s3event::notification_body("lake", "raw/a b", 1, "e", None, None);
        assert_eq!(
            dlq_sources(&event),
            DlqBody::Objects(vec![("lake".into(), "raw/a b".into())])
        );
        assert_eq!(dlq_sources("poison"), DlqBody::Other);
    }
}
