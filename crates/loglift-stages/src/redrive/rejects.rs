//! Rejects replay: after a spec (or routing) fix, feed the raw bytes of reject records back
//! through the pipeline.
//!
//! Reject files are read under `errors/rejects/stage=<stage>/pipeline=<p>/` (hour by hour,
//! `dt=…/hour=…/`, when a range is given), filtered by reason, and each file's replayable records
//! become **one replay object per reject file** (and pipeline), whose key is a function of the
//! reject file's key and the reason filter, so replaying the same file again rewrites the same
//! key instead of adding one:
//!
//! | reject | replay object |
//! |---|---|
//! | transform, from a raw object (`raw` = the raw-event NDJSON line) | `raw/pipeline=<the line's pipeline>/dt=<the reject file's dt>/hour=<hh>/replay-<hash>.ndjson.gz`, the lines as they were |
//! | transform, from a landing object (`raw` = the file's line or array element) | `landing/<s3_prefix>replay/dt=<dt>/hour=<hh>/replay-<hash>.<ndjson\|json\|tsv>.gz` in the pipeline's format: NDJSON lines, a JSON array, or TSV under the source file's header line (read from the source object) |
//! | ingest (`--stage ingest`; `raw` = the Kinesis or Firehose record, or the rejected event's JSON) | each record runs through ingest's own logic (`loglift_core::ingest::process_record`: unwrap, route with the current spec, identify); the events it now yields go to `raw/pipeline=<p>/dt=<dt>/hour=<hh>/replay-<hash>.ndjson.gz` (the reject file's hour is the record's arrival hour) |
//!
//! `<hash>` = [`loglift_core::storage::source_id`] over the errors bucket, the reject file's key
//! and the reason filter (`*` for none). Ingest replays never write a Kinesis-named raw key, so
//! they cannot overwrite a raw object ingest wrote.
//!
//! **Announcing.** Each replay object written is announced on the transform queue (the S3 event
//! body, as S3 sends it) unless `announce` is false. On AWS the raw prefix and the landing
//! prefixes are also notified by S3 itself, so transform may hear of a replay object twice: that
//! is harmless — transform names its outputs from the object's id and version (a second run
//! rewrites the same keys), the loader's ledger skips curated objects it holds, and row dedupe by
//! event id absorbs the rest. Announcing by default makes a replay independent of how (or
//! whether) notifications are configured: local mode and moto tests have none. Pass
//! `announce: false` (`--no-announce`) where S3 notifications cover raw/ and landing/ to save the
//! second transform run.
//!
//! **Not replayable** (counted `unrecoverable`, with a detail): rejects whose raw bytes were
//! truncated (over 1 MiB) or not kept (a broken compressed stream, a malformed array element), a
//! TSV file's rejected header line, landing rejects whose source object (for the TSV header) is
//! gone, ingest rejects from another source than Kinesis or Firehose, `bad_base64` ingest rejects
//! (they kept the text received, not the record's bytes). **Still rejected** ingest
//! records (the current spec routes or identifies none of their events) are skipped, not written.
//! An ingest reject of one CloudWatch Logs event kept only the event, not its log group and
//! id: it can be replayed only when the current spec routes it by its stream; otherwise it stays
//! skipped — re-read its Kinesis range with `loglift redrive kinesis` instead. A Firehose record
//! routes by its delivery stream's name here (the source Kinesis stream's name is not in the
//! reject record).
//!
//! Rejects of replay objects themselves (`replay-…` sources) are skipped: they are copies of
//! rejects still in their original files, which each replay rewrites into the same replay object;
//! replaying them too would add a replay of a replay on every run.
//!
//! A landing replay object is a landing file: the pipeline's jobs (search keyword revenue,
//! consolidation) run on it as on any file and write their outputs under its own source id.
//! Reject records stay where they are; the audit counts a replayed event once as rejected (in its
//! original object) and once as loaded (from the replay object), and both objects balance.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use loglift_core::compress;
use loglift_core::envelope::Limits as EnvelopeLimits;
use loglift_core::ingest::{process_record, RecordContext, RecordOutcome};
use loglift_core::ndjson::{GzLines, Line, LineReader};
use loglift_core::reject::{Reason, RejectRecord, Source, Stage};
use loglift_core::route::Router;
use loglift_core::spec::{Format, Pipeline};
use loglift_core::storage::{source_id, REPLAY_PREFIX};
use loglift_ports::{ObjectMeta, ObjectStore, Queue};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;

use super::backfill::{announce, hours_overlapping, list_all, ReplayDeps, ReplayError};
use super::{Progress, RedriveReport};

/// A reject file (gzip NDJSON) is read whole; parts roll over at 32 MiB uncompressed, so this
/// leaves room for the last record and refuses anything that is not a reject file.
pub const MAX_REJECT_FILE_BYTES: usize = 64 * 1024 * 1024;
/// The most bytes read from the start of a TSV source object to find its header line.
const HEADER_READ_BYTES: u64 = 1024 * 1024;

/// Which stage's rejects to replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectStage {
    /// Rows transform refused (validation): back through transform.
    #[default]
    Transform,
    /// Records or events ingest refused (decoding, routing, identity): back through ingest's
    /// logic into raw, then transform.
    Ingest,
}

impl RejectStage {
    fn stage(self) -> Stage {
        match self {
            RejectStage::Transform => Stage::Transform,
            RejectStage::Ingest => Stage::Ingest,
        }
    }
}

/// A rejects replay command (the `dlq-redrive` Lambda's JSON, the CLI's flags).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RejectReplayOptions {
    /// The pipeline whose rejects to replay; with `stage: ingest` also `_unknown` (the rejects no
    /// pipeline matched, such as `unknown_pipeline` before a routing fix).
    pub pipeline: String,
    /// Only rejects with this reason code.
    #[serde(default)]
    pub reason: Option<Reason>,
    #[serde(default)]
    pub stage: RejectStage,
    /// Only reject files of the hours overlapping `[since, until)` (both or neither).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// Read and report; write and send nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Replay at most this many reject records (the rest are counted as skipped).
    #[serde(default)]
    pub max: Option<u64>,
    /// Announce each replay object on the transform queue (default true; see the module docs).
    #[serde(default = "yes")]
    pub announce: bool,
}

fn yes() -> bool {
    true
}

impl RejectReplayOptions {
    /// Replay the pipeline's transform rejects of every reason, announcing, no limit.
    pub fn new(pipeline: impl Into<String>) -> Self {
        RejectReplayOptions {
            pipeline: pipeline.into(),
            reason: None,
            stage: RejectStage::Transform,
            since: None,
            until: None,
            dry_run: false,
            max: None,
            announce: true,
        }
    }
}

/// Replay the pipeline's reject records (see the module docs).
pub async fn replay_rejects<S: ObjectStore, Q: Queue, P: Progress + ?Sized>(
    deps: &ReplayDeps<'_, S, Q>,
    options: &RejectReplayOptions,
    progress: &P,
) -> Result<RedriveReport, ReplayError> {
    let pipeline = match options.stage {
        RejectStage::Transform => Some(
            deps.spec
                .pipeline(&options.pipeline)
                .ok_or_else(|| ReplayError::UnknownPipeline(options.pipeline.clone()))?,
        ),
        RejectStage::Ingest => None,
    };
    let files = reject_files(deps, options).await?;
    progress.set_total(files.len() as u64);
    let mut run = Run {
        deps,
        options,
        report: RedriveReport {
            dry_run: options.dry_run,
            ..RedriveReport::default()
        },
        left: options.max.unwrap_or(u64::MAX),
    };
    for file in &files {
        match read_reject_file(deps.store, &deps.layout.errors.bucket, &file.key).await {
            Ok(records) => match pipeline {
                Some(pipeline) => run.transform_file(pipeline, file, records).await,
                None => run.ingest_file(file, records).await,
            },
            Err(message) => {
                run.report.failed += 1;
                run.report.details.push(format!(
                    "s3://{}/{}: {message}",
                    deps.layout.errors.bucket, file.key
                ));
            }
        }
        progress.advance(1);
    }
    let report = run.report;
    tracing::info!(
        pipeline = %options.pipeline,
        stage = ?options.stage,
        reason = ?options.reason,
        files = files.len(),
        moved = report.moved,
        skipped = report.skipped,
        failed = report.failed,
        unrecoverable = report.unrecoverable,
        dry_run = options.dry_run,
        "Rejects replay"
    );
    Ok(report)
}

/// One reject file and the arrival hour its key names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RejectFileRef {
    key: String,
    hour: DateTime<Utc>,
}

async fn reject_files<S: ObjectStore, Q>(
    deps: &ReplayDeps<'_, S, Q>,
    options: &RejectReplayOptions,
) -> Result<Vec<RejectFileRef>, ReplayError> {
    let (stage, layout) = (options.stage.stage(), deps.layout);
    let prefixes: Vec<String> = match (options.since, options.until) {
        (None, None) => vec![layout.reject_prefix(stage, &options.pipeline, None)],
        (Some(since), Some(until)) => hours_overlapping(since, until)?
            .into_iter()
            .map(|hour| layout.reject_prefix(stage, &options.pipeline, Some(hour)))
            .collect(),
        _ => {
            return Err(ReplayError::BadRange(
                "give both --since and --until, or neither".into(),
            ))
        }
    };
    let mut files = Vec::new();
    for prefix in prefixes {
        for meta in list_all(deps.store, &layout.errors.bucket, &prefix).await? {
            match layout.reject_partition(stage, &meta.bucket, &meta.key) {
                Some((_, hour)) if meta.key.ends_with(".ndjson.gz") => files.push(RejectFileRef {
                    key: meta.key,
                    hour,
                }),
                _ => tracing::debug!(key = %meta.key, "Not a reject file; skipped"),
            }
        }
    }
    Ok(files)
}

/// The records of one reject file with their line numbers; a line that is no reject record is an
/// `Err` with its reason.
pub(crate) type RejectLines = Vec<(u64, Result<RejectRecord, String>)>;

pub(crate) async fn read_reject_file<S: ObjectStore>(
    store: &S,
    bucket: &str,
    key: &str,
) -> Result<RejectLines, String> {
    let bytes = read_capped(store, bucket, key, MAX_REJECT_FILE_BYTES as u64 + 1).await?;
    let text = compress::decompress_within(&bytes, MAX_REJECT_FILE_BYTES)
        .map_err(|r| format!("cannot be read: {r}"))?;
    let mut out = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice::<RejectRecord>(line)
            .map_err(|e| format!("not a reject record: {e}"));
        out.push((i as u64 + 1, parsed));
    }
    Ok(out)
}

/// At most `limit` bytes of an object.
async fn read_capped<S: ObjectStore>(
    store: &S,
    bucket: &str,
    key: &str,
    limit: u64,
) -> Result<Vec<u8>, String> {
    let object = store
        .get(bucket, key)
        .await
        .map_err(|e| format!("cannot be read: {e}"))?;
    let mut bytes = Vec::new();
    object
        .body
        .take(limit)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| format!("reading: {e}"))?;
    Ok(bytes)
}

/// Where a replay object goes and what it holds.
struct ReplayObject {
    bucket: String,
    key: String,
    lines: GzLines,
    /// Reject records it replays.
    records: u64,
}

struct Run<'r, 'd, S, Q> {
    deps: &'r ReplayDeps<'d, S, Q>,
    options: &'r RejectReplayOptions,
    report: RedriveReport,
    /// Records still allowed by `max`.
    left: u64,
}

impl<S: ObjectStore, Q: Queue> Run<'_, '_, S, Q> {
    /// The records of a file that pass the filter and are within `max`, with their raw bytes;
    /// counts the others.
    fn select(
        &mut self,
        file: &RejectFileRef,
        records: RejectLines,
    ) -> Vec<(RejectRecord, Vec<u8>)> {
        let mut out = Vec::new();
        let (mut unreadable, mut no_bytes, mut over_max, mut of_replays) = (0u64, 0u64, 0u64, 0u64);
        for (line, record) in records {
            let record = match record {
                Ok(record) => record,
                Err(message) => {
                    unreadable += 1;
                    tracing::warn!(key = %file.key, line, %message, "Unreadable reject line");
                    continue;
                }
            };
            if self.options.reason.is_some_and(|r| r != record.reason) {
                self.report.skipped += 1;
                continue;
            }
            if is_replay_object(&record.source) {
                of_replays += 1;
                continue;
            }
            let raw = match record.raw_bytes() {
                Ok(raw) if !raw.is_empty() && !record.raw_truncated => raw,
                _ => {
                    no_bytes += 1;
                    continue;
                }
            };
            if self.left == 0 {
                over_max += 1;
                continue;
            }
            self.left -= 1;
            out.push((record, raw));
        }
        let bucket = &self.deps.layout.errors.bucket;
        if unreadable > 0 {
            self.report.failed += unreadable;
            self.report.details.push(format!(
                "s3://{bucket}/{}: {unreadable} line(s) are not reject records",
                file.key
            ));
        }
        if no_bytes > 0 {
            self.report.unrecoverable += no_bytes;
            self.report.details.push(format!(
                "s3://{bucket}/{}: {no_bytes} reject(s) kept no or truncated raw bytes",
                file.key
            ));
        }
        if of_replays > 0 {
            self.report.skipped += of_replays;
            self.report.details.push(format!(
                "s3://{bucket}/{}: {of_replays} reject(s) of a replay object skipped (their original rejects are replayed)",
                file.key
            ));
        }
        if over_max > 0 {
            self.report.skipped += over_max;
            self.report.details.push(format!(
                "s3://{bucket}/{}: {over_max} reject(s) over --max left for another run",
                file.key
            ));
        }
        out
    }

    fn hash(&self, file: &RejectFileRef) -> String {
        let filter = self.options.reason.map_or("*", Reason::code);
        source_id(&self.deps.layout.errors.bucket, &file.key, filter)
    }

    async fn transform_file(
        &mut self,
        pipeline: &Pipeline,
        file: &RejectFileRef,
        records: RejectLines,
    ) {
        let selected = self.select(file, records);
        if selected.is_empty() {
            return;
        }
        let layout = self.deps.layout;
        let hash = self.hash(file);
        let mut raw_objects: BTreeMap<String, ReplayObject> = BTreeMap::new();
        let mut landing: Vec<(RejectRecord, Vec<u8>)> = Vec::new();
        for (record, raw) in selected {
            let Source::S3 { bucket, key, .. } = &record.source else {
                self.unrecoverable(file, "a transform reject whose source is no S3 object");
                continue;
            };
            if layout.raw.relative(bucket, key).is_some() {
                // Back into the partition of the pipeline the line names (a `mixed_pipelines`
                // line goes home), else this one.
                let target = serde_json::from_slice::<serde_json::Value>(&raw)
                    .ok()
                    .and_then(|v| {
                        v.get("pipeline")
                            .and_then(|p| p.as_str())
                            .map(str::to_owned)
                    })
                    .filter(|p| self.deps.spec.pipeline(p).is_some())
                    .unwrap_or_else(|| pipeline.name.clone());
                let object = raw_objects
                    .entry(target.clone())
                    .or_insert_with(|| ReplayObject {
                        bucket: layout.raw.bucket.clone(),
                        key: layout.replay_raw_key(&target, file.hour, &hash),
                        lines: GzLines::default(),
                        records: 0,
                    });
                push_line(object, &raw);
            } else if layout.landing.relative(bucket, key).is_some() {
                landing.push((record, raw));
            } else {
                self.unrecoverable(file, "a reject whose source is outside raw/ and landing/");
            }
        }
        for object in raw_objects.into_values() {
            self.write(file, object).await;
        }
        if !landing.is_empty() {
            match self.landing_object(pipeline, file, &hash, landing).await {
                Ok(Some(object)) => self.write(file, object).await,
                Ok(None) => {}
                Err(message) => self.unrecoverable(file, &message),
            }
        }
    }

    /// The landing replay object in the pipeline's format.
    async fn landing_object(
        &mut self,
        pipeline: &Pipeline,
        file: &RejectFileRef,
        hash: &str,
        records: Vec<(RejectRecord, Vec<u8>)>,
    ) -> Result<Option<ReplayObject>, String> {
        let layout = self.deps.layout;
        let prefix = pipeline.matcher.s3_prefix.as_deref().ok_or_else(|| {
            format!(
                "{} reject(s) come from landing, but pipeline `{}` has no s3_prefix",
                records.len(),
                pipeline.name
            )
        })?;
        let extension = match pipeline.format {
            Format::Tsv => "tsv",
            Format::JsonArray => "json",
            _ => "ndjson",
        };
        let mut object = ReplayObject {
            bucket: layout.landing.bucket.clone(),
            key: layout.replay_landing_key(prefix, file.hour, hash, extension),
            lines: GzLines::default(),
            records: 0,
        };
        match pipeline.format {
            Format::Tsv => {
                let mut rows = Vec::new();
                let mut header_rejects = 0u64;
                let mut source: Option<(String, String)> = None;
                for (record, raw) in records {
                    if record.position.line == Some(1) {
                        header_rejects += 1;
                        continue;
                    }
                    if let Source::S3 { bucket, key, .. } = &record.source {
                        source.get_or_insert_with(|| (bucket.clone(), key.clone()));
                    }
                    rows.push(raw);
                }
                if header_rejects > 0 {
                    self.report.unrecoverable += header_rejects;
                    let url = self.url(file);
                    self.report.details.push(format!(
                        "{url}: the TSV header line itself was rejected; fix the file and drop it again"
                    ));
                }
                let Some((bucket, key)) = source else {
                    return Ok(None);
                };
                let header = tsv_header(self.deps.store, &bucket, &key)
                    .await
                    .map_err(|e| {
                        format!(
                            "{} TSV reject(s): the header of s3://{bucket}/{key} {e}",
                            rows.len()
                        )
                    })?;
                let _ = object.lines.push_line(&with_newline(&header));
                for row in rows {
                    push_line(&mut object, &row);
                }
            }
            Format::JsonArray => {
                let mut first = true;
                let _ = object.lines.push_line(b"[\n");
                for (_, raw) in records {
                    if serde_json::from_slice::<serde_json::Value>(&raw).is_err() {
                        self.unrecoverable(
                            file,
                            "a reject that is not JSON cannot go in a JSON array file",
                        );
                        continue;
                    }
                    if !first {
                        let _ = object.lines.push_line(b",\n");
                    }
                    first = false;
                    push_line(&mut object, &raw);
                }
                let _ = object.lines.push_line(b"]\n");
            }
            _ => {
                for (_, raw) in records {
                    push_line(&mut object, &one_line(&raw));
                }
            }
        }
        Ok((object.records > 0).then_some(object))
    }

    async fn ingest_file(&mut self, file: &RejectFileRef, records: RejectLines) {
        let selected = self.select(file, records);
        if selected.is_empty() {
            return;
        }
        let layout = self.deps.layout;
        let hash = self.hash(file);
        let router = Router::new(self.deps.spec);
        let limits = EnvelopeLimits::default();
        let mut objects: BTreeMap<String, ReplayObject> = BTreeMap::new();
        let mut still: BTreeMap<&'static str, u64> = BTreeMap::new();
        for (record, raw) in selected {
            if record.reason == Reason::BadBase64 {
                // `raw` is the text that was not base64, not the record's bytes.
                self.unrecoverable(file, "a record whose data was not base64 cannot be re-read");
                continue;
            }
            let ctx = match &record.source {
                Source::Kinesis {
                    stream,
                    shard,
                    sequence,
                } => RecordContext {
                    stream: Some(stream),
                    shard: Some(shard),
                    sequence: Some(sequence),
                    arrival: file.hour,
                    ..RecordContext::default()
                },
                Source::Firehose {
                    delivery_stream,
                    record_id,
                } => RecordContext {
                    delivery_stream: Some(delivery_stream),
                    record_id: Some(record_id),
                    arrival: file.hour,
                    ..RecordContext::default()
                },
                Source::S3 { .. } | Source::Sqs { .. } => {
                    self.unrecoverable(file, "an ingest reject from neither Kinesis nor Firehose");
                    continue;
                }
            };
            match process_record(&router, &raw, &ctx, &limits) {
                RecordOutcome::Events { events, rejects } if !events.is_empty() => {
                    let mut touched = std::collections::BTreeSet::new();
                    for event in events {
                        let object =
                            objects
                                .entry(event.pipeline.clone())
                                .or_insert_with(|| ReplayObject {
                                    bucket: layout.raw.bucket.clone(),
                                    key: layout.replay_raw_key(&event.pipeline, file.hour, &hash),
                                    lines: GzLines::default(),
                                    records: 0,
                                });
                        if object.lines.push_line(&event.line).is_ok()
                            && touched.insert(event.pipeline.clone())
                        {
                            object.records += 1;
                        }
                    }
                    for r in rejects {
                        *still.entry(r.rejection.reason.code()).or_default() += 1;
                    }
                }
                RecordOutcome::Events { rejects, .. } => {
                    self.report.skipped += 1;
                    for r in rejects {
                        *still.entry(r.rejection.reason.code()).or_default() += 1;
                    }
                }
                RecordOutcome::Rejected(r) => {
                    self.report.skipped += 1;
                    *still.entry(r.rejection.reason.code()).or_default() += 1;
                }
                RecordOutcome::Dropped => self.report.skipped += 1,
            }
        }
        if !still.is_empty() {
            let list: Vec<String> = still.iter().map(|(r, n)| format!("{r} {n}")).collect();
            let url = self.url(file);
            self.report.details.push(format!(
                "{url}: still rejected by the current spec (left as they are): {}",
                list.join(", ")
            ));
        }
        // A record whose events now route to two pipelines counts once per replay object.
        for object in objects.into_values() {
            self.write(file, object).await;
        }
    }

    fn unrecoverable(&mut self, file: &RejectFileRef, why: &str) {
        self.report.unrecoverable += 1;
        let url = self.url(file);
        self.report.details.push(format!("{url}: {why}"));
    }

    fn url(&self, file: &RejectFileRef) -> String {
        format!("s3://{}/{}", self.deps.layout.errors.bucket, file.key)
    }

    /// Write (unless a dry run) and announce one replay object; counts its records as moved.
    async fn write(&mut self, file: &RejectFileRef, object: ReplayObject) {
        let records = object.records;
        let target = format!("s3://{}/{}", object.bucket, object.key);
        if self.options.dry_run {
            self.report.moved += records;
            self.report.details.push(format!(
                "would write {target} ({} line(s)) from {}",
                object.lines.lines(),
                self.url(file)
            ));
            return;
        }
        let body = match object.lines.finish() {
            Ok(body) => body,
            Err(e) => {
                self.report.failed += records;
                self.report.details.push(format!("{target}: gzip: {e}"));
                return;
            }
        };
        let content_type = "application/octet-stream";
        let meta: ObjectMeta = match self
            .deps
            .store
            .put(&object.bucket, &object.key, Bytes::from(body), content_type)
            .await
        {
            Ok(meta) => meta,
            Err(e) => {
                self.report.failed += records;
                self.report.details.push(format!("{target}: {e}"));
                return;
            }
        };
        self.report.moved += records;
        self.report
            .details
            .push(format!("wrote {target} from {}", self.url(file)));
        if self.options.announce {
            if let Err(e) = announce(self.deps.queue, self.deps.transform_queue, &meta).await {
                // The object is written; S3's own notification (or a backfill) can still bring it.
                self.report
                    .details
                    .push(format!("{target}: written but not announced: {e}"));
            }
        }
    }
}

/// A reject of a replay object is a copy of a reject still in its original reject file, which a
/// replay rewrites into the same replay object: replaying the copy as well would add a replay of
/// a replay on every run.
fn is_replay_object(source: &Source) -> bool {
    match source {
        Source::S3 { key, .. } => key
            .rsplit('/')
            .next()
            .is_some_and(|name| name.starts_with(REPLAY_PREFIX)),
        _ => false,
    }
}

fn push_line(object: &mut ReplayObject, raw: &[u8]) {
    // Compressing into memory cannot fail short of running out of it.
    if object.lines.push_line(&with_newline(raw)).is_ok() {
        object.records += 1;
    }
}

fn with_newline(raw: &[u8]) -> Vec<u8> {
    let mut line = raw.to_vec();
    if line.last() != Some(&b'\n') {
        line.push(b'\n');
    }
    line
}

/// One NDJSON line for a rejected JSON text: a pretty-printed array element is compacted (keys
/// sorted, values unchanged); text that is no JSON keeps its bytes with line breaks as spaces
/// (it was rejected as such and will be again).
fn one_line(raw: &[u8]) -> Vec<u8> {
    if !raw.contains(&b'\n') && !raw.contains(&b'\r') {
        return raw.to_vec();
    }
    match serde_json::from_slice::<serde_json::Value>(raw) {
        Ok(value) => serde_json::to_vec(&value).unwrap_or_else(|_| raw.to_vec()),
        Err(_) => raw
            .iter()
            .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
            .collect(),
    }
}

/// The first line of a (possibly compressed) TSV object.
async fn tsv_header<S: ObjectStore>(store: &S, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let head = read_capped(store, bucket, key, HEADER_READ_BYTES).await?;
    first_line(&head).ok_or_else(|| "has no complete first line in its first MiB".to_owned())
}

/// The first line of the decompressed start of an object (a truncated compressed stream is fine
/// as long as the line ends before the cut).
fn first_line(head: &[u8]) -> Option<Vec<u8>> {
    let (_, reader) = compress::open_stream(std::io::Cursor::new(head)).ok()?;
    let mut lines = LineReader::new(reader, HEADER_READ_BYTES as usize);
    match lines.next_line() {
        Ok(Some(Line::Text { bytes, .. })) => Some(bytes.to_vec()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_deserialize_with_defaults() {
        let o: RejectReplayOptions =
            serde_json::from_str(r#"{"pipeline":"user_events","reason":"too_long"}"#).unwrap();
        assert_eq!(o.reason, Some(Reason::TooLong));
        assert_eq!(o.stage, RejectStage::Transform);
        assert!(o.announce && !o.dry_run && o.max.is_none());
        let bad =
            serde_json::from_str::<RejectReplayOptions>(r#"{"pipeline":"p","reason":"nope"}"#);
        assert!(bad.is_err());
        let o: RejectReplayOptions =
            serde_json::from_str(r#"{"pipeline":"_unknown","stage":"ingest","announce":false}"#)
                .unwrap();
        assert_eq!((o.stage, o.announce), (RejectStage::Ingest, false));
    }

    #[test]
    fn lines_for_replay_objects() {
        assert_eq!(one_line(b"{\"a\":1}"), b"{\"a\":1}");
        assert_eq!(
            one_line(b"{\n  \"b\": 2,\n  \"a\": 1\n}"),
            b"{\"b\":2,\"a\":1}",
            "compacted, the producer's field order kept"
        );
        assert_eq!(one_line(b"not\njson"), b"not json");
        assert_eq!(with_newline(b"x"), b"x\n");
        assert_eq!(with_newline(b"x\n"), b"x\n");
    }

    #[test]
    fn the_first_line_of_plain_and_truncated_gzip_heads() {
        assert_eq!(first_line(b"a\tb\r\n1\t2\n"), Some(b"a\tb".to_vec()));
        let mut body = b"h1\th2\n".to_vec();
        for i in 0..20_000 {
            body.extend_from_slice(format!("{i}\t{}\n", i * 7).as_bytes());
        }
        let gz = compress::gzip(&body);
        let cut = gz.get(..gz.len() / 2).unwrap();
        assert_eq!(first_line(cut), Some(b"h1\th2".to_vec()));
        assert_eq!(first_line(b""), None);
    }
}
