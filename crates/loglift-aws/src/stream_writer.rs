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
        source: None,
    }
}

/// Send `records` in requests of at most [`MAX_RECORDS`]; what a request refused or left
/// unanswered is sent again, in order, after a backoff, for up to [`ROUNDS`] rounds. `send`
/// sends one request and answers, per record it answered, its refusal (`code: message`) or
/// `None`.
async fn send_in_rounds<'r, T, F, Fut>(
    op: &'static str,
    target: &str,
    records: &'r [T],
    send: F,
) -> PortResult<()>
where
    F: Fn(Vec<&'r T>) -> Fut,
    Fut: std::future::Future<Output = PortResult<Vec<Option<String>>>>,
{
    for chunk in records.chunks(MAX_RECORDS) {
        let mut pending: Vec<&T> = chunk.iter().collect();
        let mut first_refusal = None;
        for round in 0..ROUNDS {
            if pending.is_empty() {
                break;
            }
            if round > 0 {
                tokio::time::sleep(backoff(round)).await;
            }
            let answers = send(pending.clone()).await?;
            let mut still = Vec::new();
            for (record, refusal) in pending.iter().zip(&answers) {
                if let Some(reason) = refusal {
                    first_refusal.get_or_insert_with(|| reason.clone());
                    still.push(*record);
                }
            }
            // An answer shorter than the request leaves the rest unconfirmed: send again.
            still.extend(pending.iter().skip(answers.len()).copied());
            pending = still;
        }
        if !pending.is_empty() {
            return Err(refused(op, target, pending.len(), first_refusal));
        }
    }
    Ok(())
}

fn refusal(code: Option<&str>, message: Option<&str>) -> Option<String> {
    code.map(|code| format!("{code}: {}", message.unwrap_or_default()))
}

fn rejected(op: &'static str, target: &str, e: impl std::fmt::Display) -> PortError {
    PortError::Rejected {
        op,
        target: target.to_owned(),
        message: e.to_string(),
        source: None,
    }
}

impl StreamWriter for AwsStreamWriter {
    async fn put_records(&self, stream: &str, records: &[OutgoingRecord]) -> PortResult<()> {
        send_in_rounds("PutRecords", stream, records, |pending| async move {
            let entries = pending
                .iter()
                .map(|r| {
                    PutRecordsRequestEntry::builder()
                        .partition_key(&r.partition_key)
                        .data(Blob::new(r.data.to_vec()))
                        .build()
                        .map_err(|e| rejected("PutRecords", stream, e))
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
            Ok(out
                .records()
                .iter()
                .map(|r| refusal(r.error_code(), r.error_message()))
                .collect())
        })
        .await
    }

    async fn put_record_batch(&self, delivery_stream: &str, records: &[Bytes]) -> PortResult<()> {
        send_in_rounds(
            "PutRecordBatch",
            delivery_stream,
            records,
            |pending| async move {
                let batch = pending
                    .iter()
                    .map(|data| {
                        Record::builder()
                            .data(aws_sdk_firehose::primitives::Blob::new(data.to_vec()))
                            .build()
                            .map_err(|e| rejected("PutRecordBatch", delivery_stream, e))
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
                Ok(out
                    .request_responses()
                    .iter()
                    .map(|r| refusal(r.error_code(), r.error_message()))
                    .collect())
            },
        )
        .await
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
                source: None,
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
                source: None,
            }),
            _ => Ok(DeliverySource::DirectPut),
        }
    }
}
