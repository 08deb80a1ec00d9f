//! Kinesis on-failure records back through ingest.
//!
//! When the Kinesis event-source mapping gives up on a batch it sends its on-failure destination
//! an [`OnFailureRecord`]. On SQS (or SNS into SQS) that is metadata only: the shard and the
//! sequence range `[startSequenceNumber, endSequenceNumber]`. [`redrive_kinesis_queue`] receives
//! those messages, re-reads each range through the [`StreamReader`] port
//! (`AT_SEQUENCE_NUMBER` start, then page after page until the end sequence number), hands the
//! records to [`handle_kinesis`] as one batch — the batch the mapping sent, so ingest writes the
//! same raw keys (`kinesis-<shard>-<first>-<last>`) as the failed invocation would have, and the
//! event ids dedupe anything written twice — and deletes the message once its records are
//! written. On an S3 destination the object keeps the whole invocation: [`redrive_kinesis_objects`]
//! replays that payload directly (re-reading the range only for an object without one), then
//! moves the object to `<errors>/kinesis-archive/<bucket>/<key>` (archive copy first, delete
//! after) so a second run does not replay it.
//!
//! Records no longer in the stream are **unrecoverable**, counted and named by range in the
//! report: the reader finds no record at or after the start, or its first record comes after the
//! start (the start was trimmed), or it answers with an expired-iterator / trimmed error, or the
//! shard no longer exists. The count is `batchSize` less the records found. Such a message is
//! finished with (what is left is replayed, the message deleted). A stream that does not exist at
//! all is not taken as proof of loss (wrong account or region?): the message stays, counted failed.
//!
//! Counts are stream records (a message or object that cannot be read at all counts one failed).
//! `max` bounds the records: a range is replayed whole or left for a later run. `dry_run` reads
//! the ranges and reports what would be replayed and what is lost; it writes, deletes and
//! archives nothing (messages it received are made visible again at the end).

use std::time::Duration;

use bytes::Bytes;
use chrono::DateTime;
use loglift_core::failures::cmp_sequence;
use loglift_core::failures::{KinesisBatchInfo, OnFailureRecord};
use loglift_core::wire::{KinesisBatch, KinesisRecord};
use loglift_ports::{
    Clock, ObjectStore, PortError, PortResult, Queue, ReceivedMessage, ShardPosition, StreamReader,
    StreamRecord,
};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::{Progress, RedriveReport};
use crate::ingest::{handle_kinesis, IngestDeps};
use crate::obs::Tally;

/// How a Kinesis redrive runs. Deserializes from the dlq-redrive Lambda's JSON command
/// (`{"dry_run": true, "max": 1000}`; other keys are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KinesisOptions {
    /// Read and report; write, delete and archive nothing.
    pub dry_run: bool,
    /// At most this many stream records; a range is replayed whole or left for a later run.
    pub max: Option<u64>,
}

/// Records asked for per read while re-reading a range.
const PAGE: u32 = 1000;
/// How long received on-failure messages stay hidden while a run works; the ones not deleted are
/// made visible again when it ends (after a crash, when this runs out).
pub const HOLD: Duration = Duration::from_secs(900);
/// Largest on-failure object read: a payload is one invocation (at most 6 MB) plus metadata.
pub const MAX_OBJECT_BYTES: u64 = 32 * 1024 * 1024;

/// What became of one on-failure record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeOutcome {
    /// Stream records run through ingest (in a dry run: that would be).
    pub replayed: u64,
    /// Records of the range no longer in the stream.
    pub unrecoverable: u64,
    /// Records (or one, when the count is unknown) not replayed this time; the record stays.
    pub failed: u64,
    /// Finished with: delete the message or archive the object.
    pub done: bool,
    /// One line for the report.
    pub detail: String,
}

/// What reading a range found.
enum RangeRead {
    /// The range's records still in the stream, in order; `lost` says why some are missing.
    Found {
        records: Vec<StreamRecord>,
        lost: Option<String>,
    },
    /// Nothing of the range is left (trimmed, expired, the shard deleted).
    Gone(String),
    /// Could not be read this time (or the stream is not there): keep the record.
    Failed(String),
}

/// Whether a reader's error says the data aged out of the stream.
fn says_trimmed(e: &PortError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    [
        "expirediterator",
        "expired iterator",
        "iterator expired",
        "trimmed",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

async fn read_range<R: StreamReader>(streams: &R, info: &KinesisBatchInfo) -> RangeRead {
    // By name, in the reader's account and region (as ingest names streams). moto loses a stream
    // addressed by StreamARN between GetShardIterator and GetRecords.
    let stream = info.stream.as_str();
    let shard = info.shard_id.as_str();
    let start = info.start_sequence_number.as_str();
    let end = info.end_sequence_number.as_str();
    let mut position = ShardPosition::AtSequence(start.to_owned());
    let mut records: Vec<StreamRecord> = Vec::new();
    let mut lost = None;
    let mut first = true;
    loop {
        let page = match streams.read(stream, shard, &position, PAGE).await {
            Ok(page) => page,
            Err(e) if says_trimmed(&e) => {
                return RangeRead::Gone(format!("the stream refuses the range: {e}"))
            }
            Err(e) if e.is_not_found() => {
                return match streams.shards(stream).await {
                    Ok(shards) if !shards.iter().any(|s| s == shard) => RangeRead::Gone(format!(
                        "shard {shard} no longer exists (past retention): {e}"
                    )),
                    Ok(_) => RangeRead::Failed(e.to_string()),
                    Err(listing) if listing.is_not_found() => RangeRead::Failed(format!(
                        "stream {stream} not found (wrong account or region?): {listing}"
                    )),
                    Err(listing) => RangeRead::Failed(listing.to_string()),
                };
            }
            Err(e) => return RangeRead::Failed(e.to_string()),
        };
        let Some(last) = page.records.last().map(|r| r.sequence_number.clone()) else {
            if page.millis_behind == 0 {
                if first {
                    return RangeRead::Gone(format!(
                        "no record at or after {start} (past retention)"
                    ));
                }
                if records.last().map(|r| r.sequence_number.as_str()) != Some(end) {
                    lost = lost.or_else(|| {
                        Some(format!(
                            "the shard ends before {end}: records after the last one found are gone"
                        ))
                    });
                }
                break;
            }
            return RangeRead::Failed(format!(
                "the reader returned no records {} ms behind the tip of {shard}; run again",
                page.millis_behind
            ));
        };
        let mut finished = false;
        for record in page.records {
            if first {
                first = false;
                if cmp_sequence(&record.sequence_number, start).is_gt() {
                    lost = Some(format!(
                        "the first record still in the stream is {} (the start was trimmed)",
                        record.sequence_number
                    ));
                }
            }
            if let Some(previous) = records.last() {
                if !cmp_sequence(&record.sequence_number, &previous.sequence_number).is_gt() {
                    return RangeRead::Failed(format!(
                        "the reader went back from {} to {}",
                        previous.sequence_number, record.sequence_number
                    ));
                }
            }
            if cmp_sequence(&record.sequence_number, end).is_gt() {
                finished = true;
                break;
            }
            let at_end = record.sequence_number == end;
            records.push(record);
            if at_end {
                finished = true;
                break;
            }
        }
        if finished {
            break;
        }
        position = ShardPosition::AfterSequence(last);
    }
    RangeRead::Found { records, lost }
}

/// The batch the event-source mapping built from these records.
fn esm_batch(info: &KinesisBatchInfo, records: Vec<StreamRecord>) -> KinesisBatch {
    KinesisBatch {
        records: records
            .into_iter()
            .map(|r| KinesisRecord {
                stream: info.stream.clone(),
                shard_id: info.shard_id.clone(),
                // The mapping's event carries arrival times in milliseconds.
                arrival: DateTime::from_timestamp_millis(r.approximate_arrival.timestamp_millis())
                    .unwrap_or(r.approximate_arrival),
                sequence_number: r.sequence_number,
                partition_key: r.partition_key,
                data: Ok(r.data.to_vec()),
                undecodable: None,
            })
            .collect(),
    }
}

fn summary(tally: &Tally) -> String {
    let total = tally.total();
    let mut text = format!(
        "{} events to raw, {} rejected, {} dropped",
        total.records_out, total.rejected, total.dropped
    );
    if !tally.rejects_by_reason.is_empty() {
        let reasons: Vec<String> = tally
            .rejects_by_reason
            .iter()
            .map(|(reason, n)| format!("{reason}: {n}"))
            .collect();
        text.push_str(&format!(" ({})", reasons.join(", ")));
    }
    text
}

/// Run one batch through ingest; `Err` names the first record ingest could not write.
async fn ingest_batch<S: ObjectStore, C: Clock>(
    ingest: &IngestDeps<S, C>,
    batch: &KinesisBatch,
) -> Result<Tally, String> {
    let (failures, tally) = handle_kinesis(ingest, batch).await;
    match failures.batch_item_failures.first() {
        None => Ok(tally),
        Some(first) => Err(format!(
            "ingest could not write everything from {} on (logged); run again",
            first.item_identifier
        )),
    }
}

/// The records an on-failure record stands for: its payload's, else `batchSize`.
pub fn record_count(record: &OnFailureRecord) -> u64 {
    match &record.payload {
        Some(payload) => payload.records.len() as u64,
        None => record.batch.batch_size.unwrap_or(0),
    }
}

/// Replay one on-failure record: its payload when it has one, else its range re-read from the
/// stream. Never fails as a whole: the outcome says what happened.
pub async fn replay_record<S: ObjectStore, C: Clock, R: StreamReader>(
    ingest: &IngestDeps<S, C>,
    streams: &R,
    record: &OnFailureRecord,
    dry_run: bool,
) -> RangeOutcome {
    let info = &record.batch;
    let range = info.describe();
    if let Some(payload) = &record.payload {
        let n = payload.records.len() as u64;
        if dry_run {
            return RangeOutcome {
                replayed: n,
                done: true,
                detail: format!("{range}: would replay the {n} records of the kept payload"),
                ..RangeOutcome::default()
            };
        }
        return match ingest_batch(ingest, payload).await {
            Ok(tally) => RangeOutcome {
                replayed: n,
                done: true,
                detail: format!(
                    "{range}: replayed the {n} records of the kept payload: {}",
                    summary(&tally)
                ),
                ..RangeOutcome::default()
            },
            Err(why) => RangeOutcome {
                failed: n,
                detail: format!("{range}: {why}"),
                ..RangeOutcome::default()
            },
        };
    }
    let expected = info.batch_size;
    let (records, lost) = match read_range(streams, info).await {
        RangeRead::Found { records, lost } => (records, lost),
        RangeRead::Gone(why) => {
            let n = expected.unwrap_or(0);
            return RangeOutcome {
                unrecoverable: n,
                done: true,
                detail: format!("{range}: {n} records unrecoverable: {why}"),
                ..RangeOutcome::default()
            };
        }
        RangeRead::Failed(why) => {
            return RangeOutcome {
                failed: expected.unwrap_or(1).max(1),
                detail: format!("{range}: not replayed: {why}"),
                ..RangeOutcome::default()
            };
        }
    };
    let found = records.len() as u64;
    let missing = expected.map_or(0, |n| n.saturating_sub(found));
    let mut detail = match (dry_run, found) {
        (_, 0) => format!("{range}: nothing left to replay"),
        (true, n) => format!("{range}: would replay {n} records"),
        (false, n) => format!("{range}: replayed {n} records"),
    };
    if missing > 0 || lost.is_some() {
        let why = lost.unwrap_or_else(|| "not found in the stream".to_owned());
        detail.push_str(&format!("; {missing} records unrecoverable: {why}"));
    }
    if dry_run || records.is_empty() {
        return RangeOutcome {
            replayed: found,
            unrecoverable: missing,
            done: true,
            detail,
            ..RangeOutcome::default()
        };
    }
    match ingest_batch(ingest, &esm_batch(info, records)).await {
        Ok(tally) => RangeOutcome {
            replayed: found,
            unrecoverable: missing,
            done: true,
            detail: format!("{detail}: {}", summary(&tally)),
            ..RangeOutcome::default()
        },
        Err(why) => RangeOutcome {
            failed: found,
            detail: format!("{range}: {why}"),
            ..RangeOutcome::default()
        },
    }
}

fn count(report: &mut RedriveReport, outcome: &RangeOutcome) {
    report.moved += outcome.replayed;
    report.unrecoverable += outcome.unrecoverable;
    report.failed += outcome.failed;
}

/// Whether `n` more records fit in the budget.
fn fits(options: &KinesisOptions, report: &RedriveReport, n: u64) -> bool {
    options.max.is_none_or(|max| {
        report
            .moved
            .saturating_add(report.unrecoverable)
            .saturating_add(n)
            <= max
    })
}

/// Make held messages visible again (best effort: a failure only delays them until [`HOLD`] ends).
async fn release<Q: Queue>(queue: &Q, url: &str, held: &[ReceivedMessage]) {
    for message in held {
        if let Err(e) = queue
            .change_visibility(url, &message.receipt_handle, Duration::ZERO)
            .await
        {
            tracing::warn!(message_id = %message.message_id, error = %e, "Could not make a message visible again; it reappears when its hold ends");
        }
    }
}

/// Replay the on-failure records waiting on an SQS queue (`url`: a queue URL, or a local queue
/// name): each message's range is re-read and ingested, and the message deleted after; messages
/// that cannot be read or replayed stay on the queue. Errors only when the queue itself fails.
pub async fn redrive_kinesis_queue<S, C, R, Q, P>(
    ingest: &IngestDeps<S, C>,
    streams: &R,
    queue: &Q,
    url: &str,
    options: &KinesisOptions,
    progress: &P,
) -> PortResult<RedriveReport>
where
    S: ObjectStore,
    C: Clock,
    R: StreamReader,
    Q: Queue,
    P: Progress,
{
    let mut report = RedriveReport {
        dry_run: options.dry_run,
        ..RedriveReport::default()
    };
    if let Ok(depth) = queue.depth(url).await {
        progress.set_total(depth.visible);
    }
    let mut held: Vec<ReceivedMessage> = Vec::new();
    let mut empty_receives = 0;
    'queue: while empty_receives < 2 {
        let batch = match queue
            .receive(url, 10, Duration::from_secs(1), Some(HOLD))
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                release(queue, url, &held).await;
                return Err(e);
            }
        };
        if batch.is_empty() {
            empty_receives += 1;
            continue;
        }
        empty_receives = 0;
        let mut messages = batch.into_iter();
        while let Some(message) = messages.next() {
            progress.advance(1);
            let id = message.message_id.clone();
            let record = match OnFailureRecord::from_slice(message.body.as_bytes()) {
                Ok(record) => record,
                Err(e) => {
                    tracing::warn!(message_id = %id, error = %e, "Not a Kinesis on-failure record; left on the queue");
                    report.failed += 1;
                    report
                        .details
                        .push(format!("message {id}: {e}; left on the queue"));
                    held.push(message);
                    continue;
                }
            };
            let n = record_count(&record);
            if !fits(options, &report, n) {
                let rest: Vec<ReceivedMessage> = messages.collect();
                report.skipped += 1 + rest.len() as u64;
                report.details.push(format!(
                    "message {id}: {} ({n} records) would go past --max; left for a later run",
                    record.batch.describe()
                ));
                held.push(message);
                held.extend(rest);
                break 'queue;
            }
            let outcome = replay_record(ingest, streams, &record, options.dry_run).await;
            count(&mut report, &outcome);
            let mut detail = format!("message {id}: {}", outcome.detail);
            if outcome.done && !options.dry_run {
                if let Err(e) = queue.delete(url, &message.receipt_handle).await {
                    tracing::warn!(message_id = %id, error = %e, "Replayed, but the message could not be deleted");
                    detail.push_str(&format!(
                        "; the message could not be deleted ({e}): a later run replays it again"
                    ));
                }
            } else {
                if !outcome.done {
                    detail.push_str("; left on the queue");
                }
                held.push(message);
            }
            report.details.push(detail);
        }
    }
    release(queue, url, &held).await;
    log_report("Kinesis on-failure queue", url, &report);
    Ok(report)
}

fn log_report(what: &str, from: &str, report: &RedriveReport) {
    tracing::info!(
        source = %from,
        moved = report.moved,
        skipped = report.skipped,
        failed = report.failed,
        unrecoverable = report.unrecoverable,
        dry_run = report.dry_run,
        "Redrive of {what} finished"
    );
}

/// Read a whole object of at most `cap` bytes.
pub(super) async fn read_object<S: ObjectStore>(
    store: &S,
    bucket: &str,
    key: &str,
    cap: u64,
) -> PortResult<(loglift_ports::ObjectMeta, Vec<u8>)> {
    let object = store.get(bucket, key).await?;
    if object.meta.size > cap {
        return Err(PortError::Rejected {
            op: "GetObject",
            target: format!("s3://{bucket}/{key}"),
            message: format!("{} bytes is over the {cap} byte limit", object.meta.size),
            source: None,
        });
    }
    let mut body = Vec::with_capacity(usize::try_from(object.meta.size).unwrap_or(0));
    object
        .body
        .take(cap.saturating_add(1))
        .read_to_end(&mut body)
        .await
        .map_err(|e| PortError::Transient {
            op: "GetObject",
            target: format!("s3://{bucket}/{key}"),
            message: e.to_string(),
            source: None,
        })?;
    if body.len() as u64 > cap {
        return Err(PortError::Rejected {
            op: "GetObject",
            target: format!("s3://{bucket}/{key}"),
            message: format!("over the {cap} byte limit"),
            source: None,
        });
    }
    Ok((object.meta, body))
}

/// Every object under `prefix`, in key order.
pub(super) async fn list_all<S: ObjectStore>(
    store: &S,
    bucket: &str,
    prefix: &str,
) -> PortResult<Vec<loglift_ports::ObjectMeta>> {
    let mut objects = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = store.list(bucket, prefix, next.as_deref()).await?;
        objects.extend(page.objects);
        match page.next {
            Some(n) => next = Some(n),
            None => return Ok(objects),
        }
    }
}

/// Replay the on-failure objects of an S3 destination under `s3://bucket/prefix`: each kept
/// payload (or, without one, the range re-read from the stream) through ingest, then the object
/// moved to `<errors>/kinesis-archive/<bucket>/<key>`. Objects that cannot be read or replayed
/// stay. Errors only when the listing fails.
pub async fn redrive_kinesis_objects<S, C, R, P>(
    ingest: &IngestDeps<S, C>,
    streams: &R,
    bucket: &str,
    prefix: &str,
    options: &KinesisOptions,
    progress: &P,
) -> PortResult<RedriveReport>
where
    S: ObjectStore,
    C: Clock,
    R: StreamReader,
    P: Progress,
{
    let layout = &ingest.layout;
    let mut report = RedriveReport {
        dry_run: options.dry_run,
        ..RedriveReport::default()
    };
    let archive_root = layout.kinesis_archive_root();
    let objects: Vec<_> = list_all(&ingest.store, bucket, prefix)
        .await?
        .into_iter()
        .filter(|o| !(bucket == layout.errors.bucket && o.key.starts_with(&archive_root)))
        .collect();
    progress.set_total(objects.len() as u64);
    for (i, listed) in objects.iter().enumerate() {
        progress.advance(1);
        let at = format!("s3://{bucket}/{}", listed.key);
        let body = match read_object(&ingest.store, bucket, &listed.key, MAX_OBJECT_BYTES).await {
            Ok((_, body)) => body,
            Err(e) => {
                report.unreadable(&at, &e);
                continue;
            }
        };
        let record = match OnFailureRecord::from_slice(&body) {
            Ok(record) => record,
            Err(e) => {
                tracing::warn!(object = %at, error = %e, "Not a Kinesis on-failure record; left in place");
                report.failed += 1;
                report.details.push(format!("{at}: {e}; left in place"));
                continue;
            }
        };
        let n = record_count(&record);
        if !fits(options, &report, n) {
            report.skipped += (objects.len() - i) as u64;
            report.details.push(format!(
                "{at}: {} ({n} records) would go past --max; it and the {} objects after it are left for a later run",
                record.batch.describe(),
                objects.len() - i - 1
            ));
            break;
        }
        let outcome = replay_record(ingest, streams, &record, options.dry_run).await;
        count(&mut report, &outcome);
        let mut detail = format!("{at}: {}", outcome.detail);
        if outcome.done && !options.dry_run {
            let archive = layout.kinesis_archive_key(bucket, &listed.key);
            let moved = async {
                ingest
                    .store
                    .put(
                        &layout.errors.bucket,
                        &archive,
                        Bytes::from(body),
                        "application/json",
                    )
                    .await?;
                ingest.store.delete(bucket, &listed.key).await
            };
            match moved.await {
                Ok(()) => detail.push_str(&format!(
                    "; archived to s3://{}/{archive}",
                    layout.errors.bucket
                )),
                Err(e) => {
                    tracing::warn!(object = %at, error = %e, "Replayed, but the object could not be archived");
                    detail.push_str(&format!(
                        "; not archived ({e}): a later run replays it again"
                    ));
                }
            }
        } else if !outcome.done {
            detail.push_str("; left in place");
        }
        report.details.push(detail);
    }
    log_report(
        "Kinesis on-failure objects",
        &format!("s3://{bucket}/{prefix}"),
        &report,
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimmed_and_expired_errors_are_recognised() {
        let rejected = |message: &str| PortError::Rejected {
            op: "GetRecords",
            target: "s shard".into(),
            message: message.into(),
            source: None,
        };
        assert!(says_trimmed(&rejected(
            "ExpiredIteratorException: Iterator expired (HTTP 400)"
        )));
        assert!(says_trimmed(&rejected("TrimmedDataAccessException: x")));
        assert!(!says_trimmed(&rejected(
            "InvalidArgumentException: bad sequence number"
        )));
        assert!(!says_trimmed(&PortError::Transient {
            op: "GetRecords",
            target: "s".into(),
            message: "timeout".into(),
            source: None,
        }));
    }

    #[test]
    fn the_budget_counts_records() {
        let options = KinesisOptions {
            dry_run: false,
            max: Some(10),
        };
        let mut report = RedriveReport::default();
        assert!(fits(&options, &report, 10));
        report.moved = 4;
        report.unrecoverable = 2;
        assert!(fits(&options, &report, 4));
        assert!(!fits(&options, &report, 5));
        assert!(fits(&KinesisOptions::default(), &report, u64::MAX - 6));
    }

    #[test]
    fn options_deserialize_from_the_lambda_command() {
        let options: KinesisOptions =
            serde_json::from_str(r#"{"source":"kinesis","queue":"q","dry_run":true,"max":7}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            options,
            KinesisOptions {
                dry_run: true,
                max: Some(7)
            }
        );
        let defaults: KinesisOptions = serde_json::from_str("{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(defaults, KinesisOptions::default());
        assert!(serde_json::from_str::<KinesisOptions>(r#"{"max":"many"}"#).is_err());
    }
}
