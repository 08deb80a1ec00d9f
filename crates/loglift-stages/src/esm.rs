//! The SQS event source mapping, as Lambda runs it, for local mode and the end-to-end tests:
//! receive a batch, hand the handler the Lambda SQS event built from it, delete the messages the
//! partial batch response does not name, leave the others to reappear after their visibility
//! timeout (and reach the DLQ after `maxReceiveCount`). A handler error deletes nothing.

use std::future::Future;
use std::time::Duration;

use loglift_core::wire::BatchItemFailures;
use loglift_ports::{PortResult, Queue, ReceivedMessage};
use serde_json::json;

/// The Lambda SQS event for received messages, as the mapping delivers it.
pub fn sqs_event(source_arn: &str, messages: &[ReceivedMessage]) -> Vec<u8> {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": m.receive_count.to_string(),
                    "SentTimestamp": m.sent_at.map(|t| t.timestamp_millis().to_string()).unwrap_or_default(),
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": source_arn,
                "awsRegion": source_arn.split(':').nth(3).unwrap_or("local"),
            })
        })
        .collect();
    json!({ "Records": records }).to_string().into_bytes()
}

/// The ARN local queues are given in events.
pub fn local_queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:local:000000000000:{name}")
}

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Poll {
    pub received: usize,
    pub deleted: usize,
    pub failed: usize,
}

/// One receive → handle → delete round on `queue`.
pub async fn poll_once<Q, F, Fut, E>(
    queues: &Q,
    queue: &str,
    source_arn: &str,
    batch_size: u32,
    visibility: Option<Duration>,
    handler: F,
) -> PortResult<Result<Poll, E>>
where
    Q: Queue,
    F: FnOnce(Vec<u8>) -> Fut,
    Fut: Future<Output = Result<BatchItemFailures, E>>,
{
    let messages = queues
        .receive(queue, batch_size, Duration::ZERO, visibility)
        .await?;
    if messages.is_empty() {
        return Ok(Ok(Poll::default()));
    }
    let failures = match handler(sqs_event(source_arn, &messages)).await {
        Ok(failures) => failures,
        Err(e) => return Ok(Err(e)),
    };
    let failed: std::collections::HashSet<&str> = failures
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    let mut poll = Poll {
        received: messages.len(),
        ..Poll::default()
    };
    for m in &messages {
        if failed.contains(m.message_id.as_str()) {
            poll.failed += 1;
        } else {
            queues.delete(queue, &m.receipt_handle).await?;
            poll.deleted += 1;
        }
    }
    Ok(Ok(poll))
}
