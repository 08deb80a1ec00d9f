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
use std::io::BufReader;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use loglift_core::compress;
use loglift_core::reject::{RejectRecord, Stage};
use loglift_core::s3event;
use loglift_core::spec::{Pipeline, Spec};
use loglift_core::storage::{arrival_partition, Layout, LoaderMessage};
use loglift_ports::{Ledger, ObjectMeta, ObjectStore, PortError, Queue};
use serde::Deserialize;
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

pub use loglift_core::audit::*;

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
        let prefix = deps
            .layout
            .reject_prefix(Stage::Transform, &pipeline.name, Some(hour));
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
