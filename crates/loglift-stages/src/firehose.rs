//! Firehose's S3 delivery of a transformation response, as Firehose does it: the `Ok` records of
//! an ingest response are written into raw under the dynamic-partitioning prefix with the record's
//! partition keys (`!{partitionKeyFromLambda:…}`), one object per partition per invocation: the
//! records' data concatenated and gzipped (compression GZIP), or — when ingest answered gzip
//! members (`LOGLIFT_FIREHOSE_GZIP_STREAMS`, compression UNCOMPRESSED) — the members concatenated,
//! one multi-member gzip object.
//! Local mode emulates Firehose with it, and the Firehose redrive
//! ([`crate::redrive::firehose`]) delivers replayed error records with it.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use loglift_core::ndjson::GzLines;
use loglift_core::storage::Layout;
use loglift_core::wire::{FirehoseResponse, FirehoseResponseRecord, FirehoseResult};
use loglift_ports::{ObjectStore, PortError, PortResult};

/// A record Firehose could not deliver as ingest answered it.
fn refused(record: &FirehoseResponseRecord, e: impl std::fmt::Display) -> PortError {
    PortError::Rejected {
        op: "firehose delivery",
        target: record.record_id.clone(),
        message: e.to_string(),
        source: None,
    }
}

/// Deliver an ingest response's `Ok` records; returns the keys written.
pub async fn deliver<S: ObjectStore>(
    store: &S,
    layout: &Layout,
    invocation_id: &str,
    response: &FirehoseResponse,
) -> PortResult<Vec<String>> {
    /// One partition's object: plain data gzipped by "Firehose", or gzip members as they came.
    #[derive(Default)]
    struct Part {
        plain: GzLines,
        members: Vec<u8>,
    }
    let mut partitions: BTreeMap<String, Part> = BTreeMap::new();
    for record in response
        .records
        .iter()
        .filter(|r| r.result == FirehoseResult::Ok)
    {
        let keys = record.metadata.as_ref().map(|m| &m.partition_keys);
        let mut prefix = layout.firehose_prefix();
        for (name, value) in keys.into_iter().flatten() {
            prefix = prefix.replace(&format!("!{{partitionKeyFromLambda:{name}}}"), value);
        }
        if prefix.contains("!{") {
            return Err(PortError::Rejected {
                op: "firehose delivery",
                target: record.record_id.clone(),
                message: format!("partition keys missing for prefix {prefix}"),
                source: None,
            });
        }
        let data = base64::engine::general_purpose::STANDARD
            .decode(record.data.as_str())
            .map_err(|e| refused(record, e))?;
        let part = partitions.entry(prefix).or_default();
        if loglift_core::compress::sniff(&data) == loglift_core::compress::Compression::Gzip {
            part.members.extend_from_slice(&data);
        } else {
            part.plain
                .push_line(&data)
                .map_err(|e| refused(record, e))?;
        }
    }
    let mut written = Vec::new();
    for (prefix, part) in partitions {
        let key = format!("{prefix}firehose-{invocation_id}.ndjson.gz");
        let body = match (part.plain.lines(), part.members.is_empty()) {
            (0, false) => part.members,
            (_, true) => part.plain.finish().map_err(|e| PortError::Rejected {
                op: "gzip",
                target: key.clone(),
                message: e.to_string(),
                source: None,
            })?,
            (_, false) => {
                return Err(PortError::Rejected {
                    op: "firehose delivery",
                    target: key,
                    message: "gzip members and plain data in one partition: a delivery stream \
                              either compresses (plain data) or not (gzip members)"
                        .into(),
                    source: None,
                })
            }
        };
        store
            .put(
                &layout.raw.bucket,
                &key,
                Bytes::from(body),
                "application/x-ndjson",
            )
            .await?;
        written.push(key);
    }
    Ok(written)
}
