//! [`KinesisReader`]: the [`StreamReader`] port over Kinesis Data Streams.

use aws_sdk_kinesis::types::ShardIteratorType;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use loglift_ports::{PortError, PortResult, ShardPosition, ShardRead, StreamReader, StreamRecord};

use crate::error::port_error;

/// GetRecords calls one `read` makes while it gets empty pages behind the tip of the shard.
const MAX_EMPTY_PAGES: usize = 5;

/// Reads shards by position. A stream is addressed by name, or by ARN when it starts with `arn:`.
#[derive(Debug, Clone)]
pub struct KinesisReader {
    client: aws_sdk_kinesis::Client,
}

impl KinesisReader {
    /// A reader over a client built once (see [`crate::kinesis_client`]).
    pub fn new(client: aws_sdk_kinesis::Client) -> Self {
        KinesisReader { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &aws_sdk_kinesis::Client {
        &self.client
    }
}

fn is_arn(stream: &str) -> bool {
    stream.starts_with("arn:")
}

impl StreamReader for KinesisReader {
    async fn shards(&self, stream: &str) -> PortResult<Vec<String>> {
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // With a NextToken, ListShards must not name the stream.
            let req = match &token {
                Some(t) => self.client.list_shards().next_token(t),
                None if is_arn(stream) => self.client.list_shards().stream_arn(stream),
                None => self.client.list_shards().stream_name(stream),
            };
            let out = req
                .send()
                .await
                .map_err(|e| port_error("ListShards", stream, e))?;
            shards.extend(out.shards().iter().map(|s| s.shard_id().to_owned()));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(shards),
            }
        }
    }

    async fn read(
        &self,
        stream: &str,
        shard: &str,
        from: &ShardPosition,
        max_records: u32,
    ) -> PortResult<ShardRead> {
        let target = format!("{stream} {shard}");
        let mut req = self.client.get_shard_iterator().shard_id(shard);
        req = if is_arn(stream) {
            req.stream_arn(stream)
        } else {
            req.stream_name(stream)
        };
        req = match from {
            ShardPosition::AtSequence(seq) => req
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .starting_sequence_number(seq),
            ShardPosition::AfterSequence(seq) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            ShardPosition::TrimHorizon => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let out = req
            .send()
            .await
            .map_err(|e| port_error("GetShardIterator", target.as_str(), e))?;
        let mut iterator =
            out.shard_iterator()
                .map(str::to_owned)
                .ok_or_else(|| PortError::NotFound {
                    what: format!("GetShardIterator {target}: shard is closed and fully read"),
                    source: None,
                })?;
        let limit = i32::try_from(max_records.clamp(1, 10_000)).unwrap_or(10_000);
        let mut empty_pages = 0;
        loop {
            let out = self
                .client
                .get_records()
                .shard_iterator(&iterator)
                .limit(limit)
                .send()
                .await
                .map_err(|e| port_error("GetRecords", target.as_str(), e))?;
            let millis_behind = out
                .millis_behind_latest()
                .and_then(|m| u64::try_from(m).ok())
                .unwrap_or(0);
            let records: Vec<StreamRecord> = out
                .records()
                .iter()
                .map(|r| StreamRecord {
                    sequence_number: r.sequence_number().to_owned(),
                    partition_key: r.partition_key().unwrap_or_default().to_owned(),
                    data: Bytes::copy_from_slice(r.data().as_ref()),
                    approximate_arrival: r
                        .approximate_arrival_timestamp()
                        .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
                        .unwrap_or_default(),
                })
                .collect();
            empty_pages += 1;
            // An empty page behind the tip only means this stretch of the shard is empty: go on.
            match out.next_shard_iterator() {
                Some(next)
                    if records.is_empty() && millis_behind > 0 && empty_pages < MAX_EMPTY_PAGES =>
                {
                    iterator = next.to_owned();
                }
                _ => {
                    return Ok(ShardRead {
                        records,
                        millis_behind,
                    })
                }
            }
        }
    }
}
