//! Firehose error output back through ingest.
//!
//! Firehose writes what it could not deliver under the errors area:
//! `<errors>/firehose/<error-output-type>/dt=…/hour=…/<object>` (`processing-failed` for records
//! the ingest processor answered `ProcessingFailed` or that a failed invocation skipped, and the
//! other types: dynamic-partitioning failures, format conversion, …), one JSON document per line
//! with the record's bytes in `rawData` ([`loglift_core::failures`] reads them leniently).
//! [`redrive_firehose_errors`] lists every error object, decodes each line's `rawData` and runs
//! the records through ingest's Firehose logic as a transformation batch of the delivery stream
//! that wrote the object (its name starts Firehose's object names; [`FirehoseOptions`] can name
//! it and the Kinesis stream it reads, which the error output does not record): `Ok` records are
//! delivered into raw as Firehose would ([`crate::firehose::deliver`], keys named after the
//! error object, so a second replay rewrites the same keys), `ProcessingFailed` ones become
//! reject records as ingest makes them. Then the object **moves** to
//! `<errors>/firehose-archive/<same relative key>` (archive copy first, delete after) so a second
//! run does not replay it.
//!
//! Counts are records (error documents): `moved` = run through ingest (delivered, dropped or
//! rejected again, the details say which), `failed` = lines that cannot be decoded (named by
//! object and line; the object then stays where it is, its other records replayed) or records
//! whose writes failed. `max` bounds the records: an object is replayed whole or left for a later
//! run. `dry_run` lists what would be replayed and writes nothing.

use std::collections::BTreeMap;

use bytes::Bytes;
use loglift_core::failures::{
    delivery_stream_of_object, read_error_output, FirehoseErrorRecord, LinePosition,
};
use loglift_core::storage::source_id;
use loglift_core::wire::{FirehoseBatch, FirehoseRecord, FirehoseResult};
use loglift_ports::{Clock, ObjectMeta, ObjectStore, PortResult};
use serde::{Deserialize, Serialize};

use super::kinesis::{list_all, read_object};
use super::{Progress, RedriveReport};
use crate::ingest::{handle_firehose, IngestDeps};

/// How a Firehose redrive runs. Deserializes from the dlq-redrive Lambda's JSON command
/// (`{"dry_run": false, "max": 1000, "source_streams": {"user-events-to-s3": "user-events"}}`;
/// other keys are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FirehoseOptions {
    /// List what would be replayed; write, delete and archive nothing.
    pub dry_run: bool,
    /// At most this many records; an object is replayed whole or left for a later run.
    pub max: Option<u64>,
    /// Take every object as written by this delivery stream (default: the name Firehose starts
    /// its object names with).
    pub delivery_stream: Option<String>,
    /// The Kinesis stream a delivery stream reads, by delivery stream name: the error output does
    /// not record it, and `match.stream` routes Kinesis-source records by it. A delivery stream
    /// not named here is taken as Direct PUT (routed by its own name).
    pub source_streams: BTreeMap<String, String>,
}

/// Largest error object read (Firehose's S3 buffer is at most 128 MiB).
pub const MAX_ERROR_OBJECT_BYTES: u64 = 256 * 1024 * 1024;
/// Records per replayed transformation batch.
const BATCH_RECORDS: usize = 500;
/// Raw bytes per replayed transformation batch: the README's advice for processor buffers, so
/// the response (about ten times larger for CloudWatch Logs payloads) stays under 6 MB.
const BATCH_BYTES: usize = 512 * 1024;
/// Undecodable lines named per object in the report.
const BAD_LINES_SHOWN: usize = 10;

/// What replaying one object's records did.
#[derive(Debug, Default)]
struct Replayed {
    delivered: u64,
    dropped: u64,
    rejected: u64,
    raw_keys: Vec<String>,
}

fn batch_of(
    invocation_id: String,
    delivery_stream: &str,
    options: &FirehoseOptions,
    fallback_arrival: chrono::DateTime<chrono::Utc>,
    records: Vec<(LinePosition, FirehoseErrorRecord)>,
) -> FirehoseBatch {
    FirehoseBatch {
        invocation_id,
        delivery_stream: delivery_stream.to_owned(),
        source_stream: options.source_streams.get(delivery_stream).cloned(),
        records: records
            .into_iter()
            .map(|(at, r)| FirehoseRecord {
                record_id: format!("line-{}-{}", at.line, at.document),
                arrival: r.arrival.or(r.attempt_ending).unwrap_or(fallback_arrival),
                data: Ok(r.raw_data),
                undecodable: None,
                kinesis: None,
            })
            .collect(),
    }
}

/// Split records into batches of at most [`BATCH_RECORDS`] records and [`BATCH_BYTES`] bytes (a
/// record larger than that goes alone).
fn chunks(
    records: Vec<(LinePosition, FirehoseErrorRecord)>,
) -> Vec<Vec<(LinePosition, FirehoseErrorRecord)>> {
    let mut out: Vec<Vec<(LinePosition, FirehoseErrorRecord)>> = Vec::new();
    let mut bytes = 0;
    for record in records {
        let len = record.1.raw_data.len();
        match out.last_mut() {
            Some(chunk) if chunk.len() < BATCH_RECORDS && bytes + len <= BATCH_BYTES => {
                bytes += len;
                chunk.push(record);
            }
            _ => {
                bytes = len;
                out.push(vec![record]);
            }
        }
    }
    out
}

/// Run an object's records through ingest and deliver the `Ok` ones; `Err` says what failed.
async fn replay_object<S: ObjectStore, C: Clock>(
    ingest: &IngestDeps<S, C>,
    meta: &ObjectMeta,
    delivery_stream: &str,
    options: &FirehoseOptions,
    records: Vec<(LinePosition, FirehoseErrorRecord)>,
) -> Result<Replayed, (u64, String)> {
    let id = source_id(&meta.bucket, &meta.key, meta.version_or_etag());
    let fallback_arrival = meta.last_modified.unwrap_or_else(|| ingest.clock.now());
    let mut done = Replayed::default();
    let batches = chunks(records);
    let total = batches.len();
    for (n, chunk) in batches.into_iter().enumerate() {
        let size = chunk.len() as u64;
        let invocation_id = format!("redrive-{id}-{n:05}");
        let batch = batch_of(
            invocation_id.clone(),
            delivery_stream,
            options,
            fallback_arrival,
            chunk,
        );
        let (response, _) = handle_firehose(ingest, &batch)
            .await
            .map_err(|e| (size, format!("batch {} of {total}: {e}", n + 1)))?;
        let keys =
            crate::firehose::deliver(&ingest.store, &ingest.layout, &invocation_id, &response)
                .await
                .map_err(|e| (size, format!("delivering batch {} of {total}: {e}", n + 1)))?;
        for answer in &response.records {
            match answer.result {
                FirehoseResult::Ok => done.delivered += 1,
                FirehoseResult::Dropped => done.dropped += 1,
                FirehoseResult::ProcessingFailed => done.rejected += 1,
            }
        }
        done.raw_keys.extend(keys);
    }
    Ok(done)
}

/// Replay Firehose's error output (everything under `<errors>/firehose/`) into raw, archiving
/// each object once all its records went through. Errors only when the listing fails.
pub async fn redrive_firehose_errors<S, C, P>(
    ingest: &IngestDeps<S, C>,
    options: &FirehoseOptions,
    progress: &P,
) -> PortResult<RedriveReport>
where
    S: ObjectStore,
    C: Clock,
    P: Progress,
{
    let layout = &ingest.layout;
    let bucket = layout.errors.bucket.as_str();
    let root = layout.firehose_error_root();
    let mut report = RedriveReport {
        dry_run: options.dry_run,
        ..RedriveReport::default()
    };
    let objects = list_all(&ingest.store, bucket, &root).await?;
    progress.set_total(objects.len() as u64);
    for (i, listed) in objects.iter().enumerate() {
        progress.advance(1);
        let at = format!("s3://{bucket}/{}", listed.key);
        let Some(error_type) = layout.error_output_type(bucket, &listed.key) else {
            continue;
        };
        let (meta, body) =
            match read_object(&ingest.store, bucket, &listed.key, MAX_ERROR_OBJECT_BYTES).await {
                Ok(read) => read,
                Err(e) => {
                    report.unreadable(&at, &e);
                    continue;
                }
            };
        let output = read_error_output(&body);
        let n = output.records.len() as u64;
        let fits = options
            .max
            .is_none_or(|max| report.moved.saturating_add(report.failed).saturating_add(n) <= max);
        if !fits {
            report.skipped += (objects.len() - i) as u64;
            report.details.push(format!(
                "{at}: {n} records would go past --max; it and the {} objects after it are left for a later run",
                objects.len() - i - 1
            ));
            break;
        }
        let file_name = listed.key.rsplit('/').next().unwrap_or_default();
        let delivery_stream = options
            .delivery_stream
            .as_deref()
            .or_else(|| delivery_stream_of_object(file_name))
            .unwrap_or_default()
            .to_owned();
        let bad = output.bad.len() as u64;
        report.failed += bad;
        let mut detail = if options.dry_run {
            format!("{at} ({error_type}, delivery stream {delivery_stream:?}): would replay {n} records")
        } else {
            format!("{at} ({error_type}, delivery stream {delivery_stream:?}): {n} records")
        };
        if bad > 0 {
            let shown: Vec<String> = output
                .bad
                .iter()
                .take(BAD_LINES_SHOWN)
                .map(|(line, why)| format!("{line}: {why}"))
                .collect();
            let more = output.bad.len().saturating_sub(BAD_LINES_SHOWN);
            detail.push_str(&format!(
                "; {bad} cannot be decoded, the object stays: {}{}",
                shown.join("; "),
                if more > 0 {
                    format!("; … {more} more")
                } else {
                    String::new()
                }
            ));
            tracing::warn!(object = %at, bad, "Error output lines cannot be decoded; the object stays");
        }
        if options.dry_run {
            report.moved += n;
            report.details.push(detail);
            continue;
        }
        match replay_object(ingest, &meta, &delivery_stream, options, output.records).await {
            Ok(done) => {
                report.moved += n;
                detail.push_str(&format!(
                    " → {} delivered to raw ({}), {} dropped, {} rejected again (reject records under errors/rejects/)",
                    done.delivered,
                    done.raw_keys.join(", "),
                    done.dropped,
                    done.rejected
                ));
                if bad == 0 {
                    let archived = async {
                        let Some(archive) = layout.firehose_archive_key(&listed.key) else {
                            return Ok(None);
                        };
                        ingest
                            .store
                            .put(
                                bucket,
                                &archive,
                                Bytes::from(body),
                                "application/octet-stream",
                            )
                            .await?;
                        ingest.store.delete(bucket, &listed.key).await?;
                        Ok::<_, loglift_ports::PortError>(Some(archive))
                    };
                    match archived.await {
                        Ok(Some(archive)) => {
                            detail.push_str(&format!("; archived to s3://{bucket}/{archive}"))
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(object = %at, error = %e, "Replayed, but the object could not be archived");
                            detail.push_str(&format!(
                                "; not archived ({e}): a later run replays it again"
                            ));
                        }
                    }
                }
            }
            Err((failed, why)) => {
                tracing::warn!(object = %at, error = %why, "Error output not replayed; the object stays");
                report.failed += failed;
                detail.push_str(&format!("; not replayed: {why}; the object stays"));
            }
        }
        report.details.push(detail);
    }
    tracing::info!(
        source = %format!("s3://{bucket}/{root}"),
        moved = report.moved,
        skipped = report.skipped,
        failed = report.failed,
        dry_run = report.dry_run,
        "Redrive of Firehose error output finished"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(len: usize) -> (LinePosition, FirehoseErrorRecord) {
        (
            LinePosition {
                line: 1,
                document: 1,
            },
            FirehoseErrorRecord {
                attempts_made: None,
                arrival: None,
                error_code: None,
                error_message: None,
                attempt_ending: None,
                raw_data: vec![b'x'; len],
                lambda_arn: None,
                sequence_number: None,
                subsequence_number: None,
                partition_keys: BTreeMap::new(),
            },
        )
    }

    #[test]
    fn batches_are_bounded_by_records_and_bytes() {
        let sizes = |records: Vec<(LinePosition, FirehoseErrorRecord)>| -> Vec<usize> {
            chunks(records).iter().map(Vec::len).collect()
        };
        assert_eq!(
            sizes((0..1001).map(|_| record(10)).collect()),
            [500, 500, 1]
        );
        assert_eq!(
            sizes(vec![
                record(100 * 1024),
                record(100 * 1024),
                record(BATCH_BYTES * 2),
                record(1),
                record(1)
            ]),
            [2, 1, 2]
        );
        assert!(chunks(Vec::new()).is_empty());
    }

    #[test]
    fn options_deserialize_from_the_lambda_command() {
        let options: FirehoseOptions = serde_json::from_str(
            r#"{"source":"firehose","max":3,"delivery_stream":"d","source_streams":{"d":"s"}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(options.max, Some(3));
        assert!(!options.dry_run);
        assert_eq!(options.delivery_stream.as_deref(), Some("d"));
        assert_eq!(
            options.source_streams.get("d").map(String::as_str),
            Some("s")
        );
        let defaults: FirehoseOptions =
            serde_json::from_str("{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(defaults, FirehoseOptions::default());
    }
}
