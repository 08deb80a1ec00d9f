//! The ingest stage: Kinesis event-source batches → zstd NDJSON raw objects (grouped by pipeline
//! and arrival hour) with a partial batch response; Firehose transformation batches → a response
//! answering every `recordId`, within the 6 MB response cap. Undecodable and unroutable input
//! becomes reject records under `errors/`.

use std::collections::{BTreeMap, HashSet};
use std::ops::ControlFlow;

use bytes::Bytes;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use loglift_core::compress::{self, Compression};
use loglift_core::envelope::Limits;
use loglift_core::ingest::{route_record, EventRejection, RecordContext, Routed, Routing};
use loglift_core::ndjson::{EncodedLines, GzLines, LineEncoder, RejectLines, ZstdLines};
use loglift_core::reject::{Position, Reason, RejectRecord, Rejection, Source, Stage};
use loglift_core::route::Router;
use loglift_core::spec::Spec;
use loglift_core::storage::{firehose_partition_keys, Layout};
use loglift_core::wire::{
    base64_len, BatchItemFailures, FirehoseBatch, FirehoseResponse, FirehoseResponseRecord,
    FirehoseResult, IngestBatch, KinesisBatch,
};
use loglift_ports::{Clock, ObjectStore, PortError};

use crate::obs::Tally;

/// Event ids seen in this invocation, per pipeline (SipHash was 3 % of a Kinesis batch).
type Seen<'p> = HashSet<(&'p str, String), foldhash::fast::RandomState>;

/// Lambda's synchronous response cap. The Firehose response is kept under [`RESPONSE_BUDGET`].
pub const RESPONSE_CAP: usize = 6 * 1024 * 1024;
/// What the response may use: the cap less a margin for the envelope and rounding.
pub const RESPONSE_BUDGET: usize = RESPONSE_CAP - 64 * 1024;

const NDJSON: &str = "application/x-ndjson";

/// What the ingest handlers need.
#[derive(Debug)]
pub struct IngestDeps<S, C> {
    pub spec: Spec,
    pub layout: Layout,
    pub store: S,
    pub clock: C,
    pub limits: Limits,
    /// Bytes the Firehose response may take (defaults to [`RESPONSE_BUDGET`]; tests lower it).
    pub response_budget: usize,
    /// Delivery streams whose `Ok` data is a gzip member
    /// ([`crate::config::IngestConfig::gzip_delivery_streams`]).
    pub gzip_delivery_streams: std::collections::BTreeSet<String>,
}

impl<S: ObjectStore, C: Clock> IngestDeps<S, C> {
    pub fn new(spec: Spec, layout: Layout, store: S, clock: C) -> Self {
        IngestDeps {
            spec,
            layout,
            store,
            clock,
            limits: Limits::default(),
            response_budget: RESPONSE_BUDGET,
            gzip_delivery_streams: Default::default(),
        }
    }
}

/// A failure that fails the whole invocation (the caller retries it).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Malformed(#[from] loglift_core::wire::WireError),
    #[error("ingest takes Kinesis event-source and Firehose transformation events; this payload is neither")]
    UnknownEvent,
    #[error("writing reject records to s3://{bucket}/{key}: {source}")]
    WriteRejects {
        bucket: String,
        key: String,
        source: PortError,
    },
}

fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

/// One reject file: its lines and the batch indices of the records they came from.
#[derive(Default)]
struct RejectFile {
    lines: RejectLines,
    records: Vec<usize>,
}

/// Reject records waiting to be written, grouped by file (pipeline, arrival hour).
#[derive(Default)]
struct RejectFiles {
    files: BTreeMap<(Option<String>, DateTime<Utc>), RejectFile>,
}

impl RejectFiles {
    /// Add the reject `record` of the batch's record `record_index`: stored, not deflated, when
    /// the rejected bytes `raw` are compressed (base64 of them deflates little, slowly).
    fn add(
        &mut self,
        record_index: usize,
        arrival: DateTime<Utc>,
        record: &RejectRecord,
        raw: &[u8],
    ) {
        let file = self
            .files
            .entry((record.pipeline.clone(), hour_of(arrival)))
            .or_default();
        let stored = compress::sniff(raw) != Compression::None;
        // Serialising a plain struct into memory cannot fail; a failure would only lose this line.
        file.lines.store_next(stored);
        if file.lines.push(record).is_ok() {
            file.records.push(record_index);
        }
    }
}

fn reject_record(
    stage_time: DateTime<Utc>,
    source: Source,
    record_index: usize,
    r: &EventRejection,
) -> RejectRecord {
    let mut position = Position::record(record_index);
    position.event = r.position;
    RejectRecord::new(
        Stage::Ingest,
        r.pipeline.as_deref(),
        source,
        position,
        &r.rejection,
        &r.raw,
        stage_time,
    )
}

/// Finish a gzip NDJSON body and write it.
async fn put_gz<S: ObjectStore, E: LineEncoder>(
    store: &S,
    bucket: &str,
    key: &str,
    lines: EncodedLines<E>,
) -> Result<(), PortError> {
    let body = lines.finish().map_err(|e| PortError::Rejected {
        op: "gzip",
        target: key.to_owned(),
        message: e.to_string(),
        source: None,
    })?;
    store
        .put(bucket, key, Bytes::from(body), NDJSON)
        .await
        .map(|_| ())
}

/// Route a record ([`route_record`]) when its base64 decoded, else reject it with the text
/// received.
fn route<'p>(
    router: &Router<'p>,
    data: &Result<Vec<u8>, Rejection>,
    undecodable: Option<&str>,
    ctx: &RecordContext,
    limits: &Limits,
    line: &mut Vec<u8>,
    sink: &mut dyn FnMut(Result<Routed<'p, '_>, EventRejection>) -> ControlFlow<()>,
) -> Routing {
    match data {
        Ok(data) => route_record(router, data, ctx, limits, line, sink),
        Err(rejection) => Routing::Rejected(EventRejection {
            position: None,
            pipeline: None,
            rejection: rejection.clone(),
            raw: undecodable.unwrap_or_default().as_bytes().to_vec(),
        }),
    }
}

/// Bytes a record brings in: its decoded data (none when it was not base64).
fn bytes_in(data: Result<&Vec<u8>, &Rejection>) -> u64 {
    data.map_or(0, |d| d.len() as u64)
}

/// Count an event per pipeline, and duplicates of an id within the batch.
fn count_event<'p>(
    tally: &mut Tally,
    seen: &mut Seen<'p>,
    pipeline: &'p str,
    event_id: String,
    line_len: usize,
) {
    let c = tally.pipeline(pipeline);
    c.records_in += 1;
    c.records_out += 1;
    c.bytes_out += line_len as u64;
    if !seen.insert((pipeline, event_id)) {
        c.duplicates += 1;
    }
}

/// Count a reject of `events` events (a record failed whole may hold several).
fn count_reject(tally: &mut Tally, r: &EventRejection, events: u64) {
    *tally
        .rejects_by_reason
        .entry(r.rejection.reason.code().to_owned())
        .or_default() += events;
    let c = match &r.pipeline {
        Some(p) => tally.pipeline(p),
        None => &mut tally.unrouted,
    };
    c.records_in += events;
    c.rejected += events;
}

/// Handle a Kinesis event-source batch: write raw objects and reject files, answer with the
/// first sequence number not durably written (Lambda retries from there).
pub async fn handle_kinesis<S: ObjectStore, C: Clock>(
    deps: &IngestDeps<S, C>,
    batch: &KinesisBatch,
) -> (BatchItemFailures, Tally) {
    let router = Router::new(&deps.spec);
    let now = deps.clock.now();
    let mut tally = Tally::default();
    let mut seen = Seen::default();

    struct Group {
        /// `None` once compressing failed: the batch is retried from `first`.
        lines: Option<ZstdLines>,
        first: usize,
        last: usize,
    }
    // Few per batch (pipelines × arrival hours): found by a scan, keyed without allocating.
    let mut groups: Vec<((&str, DateTime<Utc>), Group)> = Vec::new();
    let mut rejects = RejectFiles::default();
    let mut line = Vec::new();

    for (i, record) in batch.records.iter().enumerate() {
        let source = || Source::Kinesis {
            stream: record.stream.clone(),
            shard: record.shard_id.clone(),
            sequence: record.sequence_number.clone(),
        };
        let ctx = RecordContext {
            stream: Some(&record.stream),
            shard: Some(&record.shard_id),
            sequence: Some(&record.sequence_number),
            arrival: record.arrival,
            ..RecordContext::default()
        };
        let hour = hour_of(record.arrival);
        tally.unrouted.bytes_in += bytes_in(record.data.as_ref());
        let routing = route(
            &router,
            &record.data,
            record.undecodable.as_deref(),
            &ctx,
            &deps.limits,
            &mut line,
            &mut |item| {
                match item {
                    Ok(e) => {
                        count_event(
                            &mut tally,
                            &mut seen,
                            e.pipeline,
                            e.event_id.to_owned(),
                            e.line.len(),
                        );
                        let at = match groups
                            .iter()
                            .position(|(key, _)| *key == (e.pipeline, hour))
                        {
                            Some(at) => at,
                            None => {
                                let lines = ZstdLines::new()
                                .map_err(|error| tracing::error!(%error, "Starting a zstd stream failed"))
                                .ok();
                                groups.push((
                                    (e.pipeline, hour),
                                    Group {
                                        lines,
                                        first: i,
                                        last: i,
                                    },
                                ));
                                groups.len() - 1
                            }
                        };
                        if let Some((_, group)) = groups.get_mut(at) {
                            group.last = i;
                            if let Some(lines) = &mut group.lines {
                                if let Err(error) = lines.push_line(e.line) {
                                    tracing::error!(%error, "Compressing a raw line failed");
                                    group.lines = None;
                                }
                            }
                        }
                    }
                    Err(r) => {
                        count_reject(&mut tally, &r, 1);
                        rejects.add(
                            i,
                            record.arrival,
                            &reject_record(now, source(), i, &r),
                            &r.raw,
                        );
                    }
                }
                ControlFlow::Continue(())
            },
        );
        match routing {
            Routing::Dropped => tally.unrouted.dropped += 1,
            Routing::Rejected(r) => {
                count_reject(&mut tally, &r, 1);
                rejects.add(
                    i,
                    record.arrival,
                    &reject_record(now, source(), i, &r),
                    &r.raw,
                );
            }
            Routing::Events => {}
        }
    }
    groups.sort_by_key(|(key, _)| *key);

    let seq = |i: usize| {
        batch
            .records
            .get(i)
            .map(|r| r.sequence_number.as_str())
            .unwrap_or_default()
    };
    let shard = batch
        .records
        .first()
        .map(|r| r.shard_id.as_str())
        .unwrap_or_default();
    let mut first_failed: Option<usize> = None;
    let mut fail = |indices: &[usize]| {
        if let Some(&min) = indices.iter().min() {
            first_failed = Some(first_failed.map_or(min, |f| f.min(min)));
        }
    };

    for ((pipeline, hour), group) in groups {
        let key =
            deps.layout
                .raw_kinesis_key(pipeline, hour, shard, seq(group.first), seq(group.last));
        let body = group
            .lines
            .ok_or_else(|| std::io::Error::other("compressing the object failed"))
            .and_then(ZstdLines::finish)
            .map_err(|e| PortError::Rejected {
                op: "zstd",
                target: key.clone(),
                message: e.to_string(),
                source: None,
            });
        let written = match body {
            Ok(body) => deps
                .store
                .put(&deps.layout.raw.bucket, &key, Bytes::from(body), NDJSON)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(error) = written {
            tracing::warn!(bucket = %deps.layout.raw.bucket, key, %error, "Writing a raw object failed; the batch will be retried from its first record");
            fail(&[group.first]);
        }
    }
    for (
        (pipeline, hour),
        RejectFile {
            lines,
            records: indices,
        },
    ) in rejects.files
    {
        let (Some(&first), Some(&last)) = (indices.iter().min(), indices.iter().max()) else {
            continue;
        };
        let origin = format!("kinesis-{shard}-{}-{}", seq(first), seq(last));
        let key = deps
            .layout
            .reject_key(Stage::Ingest, pipeline.as_deref(), hour, &origin);
        let written = put_gz(&deps.store, &deps.layout.errors.bucket, &key, lines).await;
        if let Err(error) = written {
            tracing::warn!(bucket = %deps.layout.errors.bucket, key, %error, "Writing reject records failed; the batch will be retried");
            fail(&indices);
        }
    }
    let failures = match first_failed {
        Some(i) => BatchItemFailures::from_ids([seq(i).to_owned()]),
        None => BatchItemFailures::none(),
    };
    (failures, tally)
}

/// Handle a Firehose transformation batch. Every `recordId` is answered: `Ok` with the record's
/// raw-event lines and partition keys, `Dropped` for control messages, `ProcessingFailed` for
/// what cannot be decoded or routed (and for records that would push the response over the cap);
/// each `ProcessingFailed` and each rejected event also gets a reject record under `errors/`.
pub async fn handle_firehose<S: ObjectStore, C: Clock>(
    deps: &IngestDeps<S, C>,
    batch: &FirehoseBatch,
) -> Result<(FirehoseResponse, Tally), IngestError> {
    let router = Router::new(&deps.spec);
    let now = deps.clock.now();
    let mut tally = Tally::default();
    let mut seen = Seen::default();
    let mut rejects = RejectFiles::default();

    // `Ok` data as a gzip member for delivery streams Firehose delivers uncompressed.
    let gzip = deps.gzip_delivery_streams.contains(&batch.delivery_stream);

    // Each record is answered in turn, within the response budget: room stays reserved for the
    // records still to come as if each failed (a failed answer carries no data).
    let failed_lens: Vec<usize> = batch
        .records
        .iter()
        .map(|r| {
            FirehoseResponseRecord::serialized_len_for(
                &r.record_id,
                FirehoseResult::ProcessingFailed,
                0,
                None,
            ) + 1
        })
        .collect();
    let mut reserve: usize = failed_lens.iter().sum();
    let mut used = FirehoseResponse::EMPTY_LEN;
    let mut records = Vec::with_capacity(batch.records.len());
    let mut line = Vec::new();
    // This record's events, counted once the record is `Ok`: (id, line length).
    let mut ids: Vec<(String, usize)> = Vec::new();
    // The partition keys of an `Ok` answer by pipeline and arrival hour, and the bytes they add.
    let mut keys_by_hour = KeysByHour::new();
    // The last `Ok` record's data buffer, reused (its bytes are base64 in the answer by then).
    let mut spare = Vec::new();
    for (i, (record, failed_len)) in batch.records.iter().zip(failed_lens).enumerate() {
        reserve = reserve.saturating_sub(failed_len);
        // What this record's answer may take, its comma included.
        let room = deps
            .response_budget
            .saturating_sub(used.saturating_add(reserve));
        let source = || Source::Firehose {
            delivery_stream: batch.delivery_stream.clone(),
            record_id: record.record_id.clone(),
        };
        let ctx = RecordContext {
            stream: batch.source_stream.as_deref(),
            delivery_stream: Some(&batch.delivery_stream),
            shard: record.kinesis.as_ref().map(|k| k.shard_id.as_str()),
            sequence: record.kinesis.as_ref().map(|k| k.sequence_number.as_str()),
            subsequence: record.kinesis.as_ref().and_then(|k| k.subsequence_number),
            record_id: Some(&record.record_id),
            arrival: record.arrival,
        };
        tally.unrouted.bytes_in += bytes_in(record.data.as_ref());
        let mut reject = |r: &EventRejection, events: u64, tally: &mut Tally| {
            count_reject(tally, r, events);
            rejects.add(
                i,
                record.arrival,
                &reject_record(now, source(), i, r),
                &r.raw,
            );
        };
        ids.clear();
        // The pipeline of the record's first event, and any others its events route to.
        let mut pipeline: Option<&str> = None;
        let mut others: Vec<&str> = Vec::new();
        let mut data = OkData::new(gzip, std::mem::take(&mut spare));
        // The `Ok` answer's length without data (with its comma), from the first event.
        let mut bare = 0;
        // The answer outgrew its room: the rest of the record was not read.
        let mut overflowed = false;
        let routing = route(
            &router,
            &record.data,
            record.undecodable.as_deref(),
            &ctx,
            &deps.limits,
            &mut line,
            &mut |item| {
                match item {
                    Ok(e) => {
                        match pipeline {
                            None => {
                                pipeline = Some(e.pipeline);
                                let keys =
                                    AnswerKeys::of(&mut keys_by_hour, e.pipeline, record.arrival);
                                bare = FirehoseResponseRecord::serialized_len_for(
                                    &record.record_id,
                                    FirehoseResult::Ok,
                                    0,
                                    None,
                                ) + keys.len
                                    + 1;
                            }
                            Some(first) if first != e.pipeline && !others.contains(&e.pipeline) => {
                                others.push(e.pipeline);
                            }
                            Some(_) => {}
                        }
                        ids.push((e.event_id.to_owned(), e.line.len()));
                        data.push(e.line);
                        // The answer only grows as events are added.
                        if bare + base64_len(data.len()) > room {
                            overflowed = true;
                            return ControlFlow::Break(());
                        }
                    }
                    Err(r) => reject(&r, 1, &mut tally),
                }
                ControlFlow::Continue(())
            },
        );
        let data_sent = record.data.as_deref().unwrap_or_default();
        // Firehose delivers the original record to its error output whatever data we send.
        let failed = || FirehoseResponseRecord::processing_failed(&record.record_id);
        // The record fails whole: a reject record of its bytes, counted as `events` rejects.
        let mut fail = |r: EventRejection, events: u64, tally: &mut Tally| {
            tracing::warn!(record_id = %record.record_id, reason = %r.rejection.reason, message = %r.rejection.message, "Record failed");
            reject(&r, events, tally);
            failed()
        };
        let too_large = |pipeline: &str, len: String| EventRejection {
            position: None,
            pipeline: Some(pipeline.to_owned()),
            rejection: Rejection::new(
                Reason::ResponseTooLarge,
                format!(
                    "the transformed record ({len} bytes) does not fit in the {} byte response",
                    deps.response_budget
                ),
            ),
            raw: data_sent.to_vec(),
        };
        let events = ids.len() as u64;
        let answer = match routing {
            Routing::Dropped => {
                tally.unrouted.dropped += 1;
                FirehoseResponseRecord::dropped(&record.record_id)
            }
            Routing::Rejected(r) => fail(r, 1, &mut tally),
            Routing::Events => match (pipeline, others.is_empty()) {
                (Some(pipeline), true) if overflowed => {
                    let r = too_large(pipeline, format!("over {}", data.len()));
                    fail(r, events, &mut tally)
                }
                (Some(pipeline), true) => match data.finish() {
                    Ok(lines) if bare + base64_len(lines.len()) <= room => {
                        for (id, len) in ids.drain(..) {
                            count_event(&mut tally, &mut seen, pipeline, id, len);
                        }
                        let keys = AnswerKeys::of(&mut keys_by_hour, pipeline, record.arrival);
                        let answer = FirehoseResponseRecord::ok(&record.record_id, &lines)
                            .with_partition_keys(keys.keys.clone());
                        spare = lines;
                        spare.clear();
                        answer
                    }
                    Ok(lines) => {
                        let r = too_large(pipeline, lines.len().to_string());
                        fail(r, events, &mut tally)
                    }
                    Err(e) => {
                        // Compressing into memory does not fail; if it did, the record goes to
                        // Firehose's error output whole.
                        tracing::error!(record_id = %record.record_id, error = %e, "Compressing a record failed");
                        failed()
                    }
                },
                (None, _) => {
                    tracing::warn!(record_id = %record.record_id, "Record failed: none of its events could be routed");
                    failed()
                }
                (Some(first), false) => {
                    let pipelines: std::collections::BTreeSet<&str> =
                        others.iter().copied().chain([first]).collect();
                    let r = EventRejection {
                        position: None,
                        pipeline: None,
                        rejection: Rejection::new(
                            Reason::MixedPipelines,
                            format!("events of one record route to {pipelines:?}; Firehose partitions whole records"),
                        ),
                        raw: data_sent.to_vec(),
                    };
                    fail(r, 1, &mut tally)
                }
            },
        };
        used += answer.serialized_len() + 1;
        records.push(answer);
    }

    // Reject files first: if they cannot be written the invocation fails and Firehose retries it.
    let origin = format!("firehose-{}", batch.invocation_id);
    for ((pipeline, hour), RejectFile { lines, .. }) in rejects.files {
        let key = deps
            .layout
            .reject_key(Stage::Ingest, pipeline.as_deref(), hour, &origin);
        let bucket = &deps.layout.errors.bucket;
        put_gz(&deps.store, bucket, &key, lines)
            .await
            .map_err(|source| IngestError::WriteRejects {
                bucket: bucket.clone(),
                key,
                source,
            })?;
    }
    Ok((FirehoseResponse { records }, tally))
}

/// An `Ok` answer's partition keys for one pipeline and arrival hour, and the bytes they add to
/// it: made once per batch, kept by (pipeline, arrival hour).
struct AnswerKeys {
    keys: BTreeMap<String, String>,
    len: usize,
}

type KeysByHour<'p> = BTreeMap<(&'p str, DateTime<Utc>), AnswerKeys>;

impl AnswerKeys {
    /// The keys of `pipeline` at `arrival`, from `made` (added there the first time).
    fn of<'m, 'p>(
        made: &'m mut KeysByHour<'p>,
        pipeline: &'p str,
        arrival: DateTime<Utc>,
    ) -> &'m Self {
        made.entry((pipeline, hour_of(arrival))).or_insert_with(|| {
            let keys = firehose_partition_keys(pipeline, arrival);
            let len = FirehoseResponseRecord::partition_keys_len(&keys);
            AnswerKeys { keys, len }
        })
    }
}

/// A Firehose `Ok` record's data as its events' raw lines arrive: the lines, or one gzip member
/// of them for a delivery stream in [`IngestDeps::gzip_delivery_streams`].
enum OkData {
    Plain(Vec<u8>),
    Gzip(Box<GzLines>),
    Failed(std::io::Error),
}

impl OkData {
    /// Plain data goes into `buffer` (emptied first), a gzip member into a new one.
    fn new(gzip: bool, mut buffer: Vec<u8>) -> Self {
        if gzip {
            OkData::Gzip(Box::default())
        } else {
            buffer.clear();
            OkData::Plain(buffer)
        }
    }

    /// Bytes of data so far; for a gzip member, what the encoder has produced (the member only
    /// grows from there).
    fn len(&self) -> usize {
        match self {
            OkData::Plain(data) => data.len(),
            OkData::Gzip(member) => member.compressed_len(),
            OkData::Failed(_) => 0,
        }
    }

    fn push(&mut self, line: &[u8]) {
        match self {
            OkData::Plain(data) => data.extend_from_slice(line),
            OkData::Gzip(member) => {
                if let Err(e) = member.push_line(line) {
                    *self = OkData::Failed(e);
                }
            }
            OkData::Failed(_) => {}
        }
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            OkData::Plain(data) => Ok(data),
            OkData::Gzip(member) => member.finish(),
            OkData::Failed(e) => Err(e),
        }
    }
}

/// What ingest answers: the Firehose transformation response, or the Kinesis partial batch
/// response. Serialises as the AWS JSON itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum IngestResponse {
    Firehose(FirehoseResponse),
    Kinesis(BatchItemFailures),
}

/// One invocation, whatever its source, from the event's JSON bytes (the Lambda's path: no
/// `serde_json::Value` of the event is built): the payload's shape says Kinesis or Firehose.
/// Returns the response and the tally (the caller reports it: metrics on stdout in Lambda).
pub async fn handle_payload<S: ObjectStore, C: Clock>(
    deps: &IngestDeps<S, C>,
    payload: &[u8],
) -> Result<(IngestResponse, Tally), IngestError> {
    match IngestBatch::from_slice(payload)? {
        Some(IngestBatch::Firehose(batch)) => {
            let (response, tally) = handle_firehose(deps, &batch).await?;
            Ok((IngestResponse::Firehose(response), tally))
        }
        Some(IngestBatch::Kinesis(batch)) => {
            let (failures, tally) = handle_kinesis(deps, &batch).await;
            Ok((IngestResponse::Kinesis(failures), tally))
        }
        None => Err(IngestError::UnknownEvent),
    }
}

/// [`handle_payload`] for an event already parsed (tests, local mode, redrive): the same path,
/// the response as JSON.
pub async fn handle_event<S: ObjectStore, C: Clock>(
    deps: &IngestDeps<S, C>,
    payload: serde_json::Value,
) -> Result<(serde_json::Value, Tally), IngestError> {
    // Serialising a Value and our own response types cannot fail; if it ever did, the event
    // reads as unknown / the answer is null rather than a panic.
    let bytes = serde_json::to_vec(&payload).unwrap_or_default();
    let (response, tally) = handle_payload(deps, &bytes).await?;
    Ok((serde_json::to_value(response).unwrap_or_default(), tally))
}
