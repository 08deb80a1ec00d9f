//! [`AwsStreamWriter`]: the [`StreamWriter`] port over Kinesis `PutRecords` and Firehose
//! `PutRecordBatch` / `DescribeDeliveryStream` (what `loglift smoke` sends its events with).
//!
//! Both puts answer 200 with per-record failures (throttling, an internal error): the refused
//! records are sent again, in order, with a short backoff, a few times; then the call fails
//! naming the first refusal's code and message.

use std::time::Duration;

use aws_sdk_firehose::types::{DeliveryStreamType, Record};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use bytes::Bytes;
use loglift_ports::{DeliverySource, OutgoingRecord, PortError, PortResult, StreamWriter};

use crate::error::port_error;

/// Records per request: the most both APIs take.
const MAX_RECORDS: usize = 500;
/// Rounds of re-sending refused records.
const ROUNDS: u32 = 5;

/// Puts into Kinesis streams and Firehose delivery streams.
#[derive(Debug, Clone)]
pub struct AwsStreamWriter {
    kinesis: aws_sdk_kinesis::Client,
    firehose: aws_sdk_firehose::Client,
}

impl AwsStreamWriter {
    /// A writer over clients built once (see [`crate::kinesis_client`], [`crate::firehose_client`]).
    pub fn new(kinesis: aws_sdk_kinesis::Client, firehose: aws_sdk_firehose::Client) -> Self {
        AwsStreamWriter { kinesis, firehose }
    }
}

fn backoff(round: u32) -> Duration {
    Duration::from_millis(100u64 << round.min(5))
}

fn refused(op: &'static str, target: &str, failed: usize, first: Option<String>) -> PortError {
    PortError::Transient {
        op,
        target: target.to_owned(),
        message: format!(
            "{failed} record(s) still refused after {ROUNDS} rounds: {}",
            first.unwrap_or_else(|| "no reason given".to_owned())
        ),
    }
}

impl StreamWriter for AwsStreamWriter {
    async fn put_records(&self, stream: &str, records: &[OutgoingRecord]) -> PortResult<()> {
        for chunk in records.chunks(MAX_RECORDS) {
            let mut pending: Vec<&OutgoingRecord> = chunk.iter().collect();
            let mut first_refusal = None;
            for round in 0..ROUNDS {
                if pending.is_empty() {
                    break;
                }
                if round > 0 {
                    tokio::time::sleep(backoff(round)).await;
                }
                let entries = pending
                    .iter()
                    .map(|r| {
                        PutRecordsRequestEntry::builder()
                            .partition_key(&r.partition_key)
                            .data(Blob::new(r.data.to_vec()))
                            .build()
                            .map_err(|e| PortError::Rejected {
                                op: "PutRecords",
                                target: stream.to_owned(),
                                message: e.to_string(),
                            })
                    })
                    .collect::<PortResult<Vec<_>>>()?;
                let out = self
                    .kinesis
                    .put_records()
                    .stream_name(stream)
                    .set_records(Some(entries))
                    .send()
                    .await
                    .map_err(|e| port_error("PutRecords", stream, e))?;
                let results = out.records();
                let mut still = Vec::new();
                for (record, result) in pending.iter().zip(results) {
                    if let Some(code) = result.error_code() {
                        first_refusal.get_or_insert_with(|| {
                            format!("{code}: {}", result.error_message().unwrap_or_default())
                        });
                        still.push(*record);
                    }
                }
                // An answer shorter than the request leaves the rest unconfirmed: send again.
                still.extend(pending.iter().skip(results.len()).copied());
                pending = still;
            }
            if !pending.is_empty() {
                return Err(refused("PutRecords", stream, pending.len(), first_refusal));
            }
        }
        Ok(())
    }

    async fn put_record_batch(&self, delivery_stream: &str, records: &[Bytes]) -> PortResult<()> {
        for chunk in records.chunks(MAX_RECORDS) {
            let mut pending: Vec<&Bytes> = chunk.iter().collect();
            let mut first_refusal = None;
            for round in 0..ROUNDS {
                if pending.is_empty() {
                    break;
                }
                if round > 0 {
                    tokio::time::sleep(backoff(round)).await;
                }
                let batch = pending
                    .iter()
                    .map(|data| {
                        Record::builder()
                            .data(aws_sdk_firehose::primitives::Blob::new(data.to_vec()))
                            .build()
                            .map_err(|e| PortError::Rejected {
                                op: "PutRecordBatch",
                                target: delivery_stream.to_owned(),
                                message: e.to_string(),
                            })
                    })
                    .collect::<PortResult<Vec<_>>>()?;
                let out = self
                    .firehose
                    .put_record_batch()
                    .delivery_stream_name(delivery_stream)
                    .set_records(Some(batch))
                    .send()
                    .await
                    .map_err(|e| port_error("PutRecordBatch", delivery_stream, e))?;
                let results = out.request_responses();
                let mut still = Vec::new();
                for (data, result) in pending.iter().zip(results) {
                    if let Some(code) = result.error_code() {
                        first_refusal.get_or_insert_with(|| {
                            format!("{code}: {}", result.error_message().unwrap_or_default())
                        });
                        still.push(*data);
                    }
                }
                still.extend(pending.iter().skip(results.len()).copied());
                pending = still;
            }
            if !pending.is_empty() {
                return Err(refused(
                    "PutRecordBatch",
                    delivery_stream,
                    pending.len(),
                    first_refusal,
                ));
            }
        }
        Ok(())
    }

    async fn delivery_source(&self, delivery_stream: &str) -> PortResult<DeliverySource> {
        let out = self
            .firehose
            .describe_delivery_stream()
            .delivery_stream_name(delivery_stream)
            .send()
            .await
            .map_err(|e| port_error("DescribeDeliveryStream", delivery_stream, e))?;
        let description = out
            .delivery_stream_description()
            .ok_or_else(|| PortError::Rejected {
                op: "DescribeDeliveryStream",
                target: delivery_stream.to_owned(),
                message: "the answer has no description".to_owned(),
            })?;
        let source_arn = description
            .source()
            .and_then(|s| s.kinesis_stream_source_description())
            .and_then(|k| k.kinesis_stream_arn());
        match (description.delivery_stream_type(), source_arn) {
            (DeliveryStreamType::KinesisStreamAsSource, Some(arn)) => {
                Ok(DeliverySource::KinesisStream {
                    name: arn
                        .rsplit_once("stream/")
                        .map_or(arn, |(_, n)| n)
                        .to_owned(),
                    arn: arn.to_owned(),
                })
            }
            (DeliveryStreamType::KinesisStreamAsSource, None) => Err(PortError::Rejected {
                op: "DescribeDeliveryStream",
                target: delivery_stream.to_owned(),
                message: "a Kinesis-source delivery stream without its stream ARN".to_owned(),
            }),
            _ => Ok(DeliverySource::DirectPut),
        }
    }
}
