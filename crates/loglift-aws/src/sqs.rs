//! [`SqsQueue`]: the [`Queue`] port over Amazon SQS; a queue is addressed by its URL.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use loglift_ports::{
    AttributeValue, DeadLetters, MessageAttribute, OutgoingMessage, PortError, PortResult, Queue,
    QueueDepth, ReceivedMessage, Redrive,
};

use crate::error::port_error;

/// The longest long poll SQS allows.
const MAX_WAIT_SECONDS: u64 = 20;

/// SQS queues by URL. Receives ask for `ApproximateReceiveCount`, `SentTimestamp` and all message
/// attributes; string (and number) message attributes come back in
/// [`ReceivedMessage::attributes`]. SQS counts time in whole seconds: sub-second waits and
/// timeouts are rounded down.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
}

impl SqsQueue {
    /// A queue adapter over a client built once (see [`crate::sqs_client`]).
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        SqsQueue { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    /// Create a queue (idempotent while the attributes match) and return its URL. A redrive's
    /// `dead_letter_queue` is the DLQ's URL.
    pub async fn create_queue(
        &self,
        name: &str,
        visibility_timeout: Duration,
        redrive: Option<&Redrive>,
    ) -> PortResult<String> {
        let mut req = self.client.create_queue().queue_name(name).attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout.as_secs().to_string(),
        );
        if let Some(r) = redrive {
            let arn = self.queue_arn(&r.dead_letter_queue).await?;
            let policy = serde_json::json!({
                "deadLetterTargetArn": arn,
                "maxReceiveCount": r.max_receive_count.to_string(),
            });
            req = req.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let out = req
            .send()
            .await
            .map_err(|e| port_error("CreateQueue", name, e))?;
        out.queue_url()
            .map(str::to_owned)
            .ok_or_else(|| PortError::Rejected {
                op: "CreateQueue",
                target: name.to_owned(),
                message: "response has no QueueUrl".to_owned(),
                source: None,
            })
    }

    /// The URL of a queue given by name or URL: a URL (`http://…`, `https://…`) is returned as
    /// it is, a name is looked up (GetQueueUrl).
    pub async fn queue_url(&self, name_or_url: &str) -> PortResult<String> {
        if is_url(name_or_url) {
            return Ok(name_or_url.to_owned());
        }
        self.queue_url_in(name_or_url, None).await
    }

    /// GetQueueUrl, optionally in another account.
    async fn queue_url_in(&self, name: &str, account: Option<&str>) -> PortResult<String> {
        let out = self
            .client
            .get_queue_url()
            .queue_name(name)
            .set_queue_owner_aws_account_id(account.map(str::to_owned))
            .send()
            .await
            .map_err(|e| port_error("GetQueueUrl", name, e))?;
        out.queue_url()
            .map(str::to_owned)
            .ok_or_else(|| PortError::NotFound {
                what: format!("queue {name}"),
                source: None,
            })
    }

    /// The URLs of the queues whose redrive policy names `dlq_url` as their dead-letter queue
    /// (ListDeadLetterSourceQueues, every page), sorted.
    pub async fn dead_letter_sources(&self, dlq_url: &str) -> PortResult<Vec<String>> {
        let mut urls = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .list_dead_letter_source_queues()
                .queue_url(dlq_url)
                .max_results(1000)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| port_error("ListDeadLetterSourceQueues", dlq_url, e))?;
            urls.extend(out.queue_urls().iter().cloned());
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => break,
            }
        }
        urls.sort();
        urls.dedup();
        Ok(urls)
    }

    /// The dead-letter policy of the queue at `queue_url` (its `RedrivePolicy` attribute), with
    /// the DLQ as a URL; `None` when it has none.
    pub async fn redrive_policy(&self, queue_url: &str) -> PortResult<Option<Redrive>> {
        let attrs = self
            .attributes(queue_url, &[QueueAttributeName::RedrivePolicy])
            .await?;
        let Some(policy) = attrs
            .get(&QueueAttributeName::RedrivePolicy)
            .filter(|p| !p.trim().is_empty())
        else {
            return Ok(None);
        };
        let bad = |message: String| PortError::Rejected {
            op: "GetQueueAttributes",
            target: queue_url.to_owned(),
            message: format!("RedrivePolicy {policy:?}: {message}"),
            source: None,
        };
        let policy = parse_redrive_policy(policy).map_err(bad)?;
        let (account, name) = arn_account_and_name(&policy.dead_letter_target_arn)
            .ok_or_else(|| bad("deadLetterTargetArn is not an SQS queue ARN".to_owned()))?;
        let dead_letter_queue = self.queue_url_in(name, Some(account)).await?;
        Ok(Some(Redrive {
            dead_letter_queue,
            max_receive_count: policy.max_receive_count,
        }))
    }

    /// Start SQS's own DLQ redrive (StartMessageMoveTask) from the DLQ at `dlq_url` to
    /// `destination_url`, or to each message's original source queue when `None`, at most
    /// `max_per_second` messages a second (1..=[`MAX_MOVE_RATE`]; SQS picks when `None`).
    /// Returns the task handle (for [`SqsQueue::cancel_move_task`]). SQS runs one task per
    /// DLQ at a time and refuses DLQs whose sources are not SQS queues (Lambda, SNS).
    pub async fn start_move_task(
        &self,
        dlq_url: &str,
        destination_url: Option<&str>,
        max_per_second: Option<u32>,
    ) -> PortResult<String> {
        const OP: &str = "StartMessageMoveTask";
        if let Some(rate) = max_per_second.filter(|r| !(1..=MAX_MOVE_RATE).contains(r)) {
            return Err(PortError::Rejected {
                op: OP,
                target: dlq_url.to_owned(),
                message: format!(
                    "MaxNumberOfMessagesPerSecond {rate} is not within 1..={MAX_MOVE_RATE}"
                ),
                source: None,
            });
        }
        let source_arn = self.queue_arn(dlq_url).await?;
        let destination_arn = match destination_url {
            Some(url) => Some(self.queue_arn(url).await?),
            None => None,
        };
        let out = self
            .client
            .start_message_move_task()
            .source_arn(&source_arn)
            .set_destination_arn(destination_arn)
            .set_max_number_of_messages_per_second(
                max_per_second.and_then(|r| i32::try_from(r).ok()),
            )
            .send()
            .await
            .map_err(|e| port_error(OP, dlq_url, e))?;
        out.task_handle()
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| PortError::Rejected {
                op: OP,
                target: dlq_url.to_owned(),
                message: "response has no TaskHandle".to_owned(),
                source: None,
            })
    }

    /// The most recent move tasks of the DLQ at `dlq_url` (ListMessageMoveTasks: at most 10,
    /// newest first; only a running task has a handle).
    pub async fn list_move_tasks(&self, dlq_url: &str) -> PortResult<Vec<MoveTask>> {
        let source_arn = self.queue_arn(dlq_url).await?;
        let out = self
            .client
            .list_message_move_tasks()
            .source_arn(&source_arn)
            .max_results(10)
            .send()
            .await
            .map_err(|e| port_error("ListMessageMoveTasks", dlq_url, e))?;
        Ok(out.results().iter().map(MoveTask::from_wire).collect())
    }

    /// Cancel a running move task (CancelMessageMoveTask); returns the approximate number of
    /// messages it had moved. Messages already moved stay moved.
    pub async fn cancel_move_task(&self, task_handle: &str) -> PortResult<u64> {
        let out = self
            .client
            .cancel_message_move_task()
            .task_handle(task_handle)
            .send()
            .await
            .map_err(|e| port_error("CancelMessageMoveTask", task_handle, e))?;
        Ok(u64::try_from(out.approximate_number_of_messages_moved()).unwrap_or(0))
    }

    /// The ARN of the queue at `queue_url`.
    pub async fn queue_arn(&self, queue_url: &str) -> PortResult<String> {
        let attrs = self
            .attributes(queue_url, &[QueueAttributeName::QueueArn])
            .await?;
        attrs
            .get(&QueueAttributeName::QueueArn)
            .cloned()
            .ok_or_else(|| PortError::Rejected {
                op: "GetQueueAttributes",
                target: queue_url.to_owned(),
                message: "response has no QueueArn".to_owned(),
                source: None,
            })
    }

    async fn attributes(
        &self,
        queue_url: &str,
        names: &[QueueAttributeName],
    ) -> PortResult<std::collections::HashMap<QueueAttributeName, String>> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| port_error("GetQueueAttributes", queue_url, e))?;
        Ok(out.attributes.unwrap_or_default())
    }
}

/// The highest `MaxNumberOfMessagesPerSecond` SQS accepts for a move task.
pub const MAX_MOVE_RATE: u32 = 500;

/// The state of a DLQ move task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveTaskStatus {
    Running,
    Completed,
    Cancelling,
    Cancelled,
    Failed,
    /// A status this code does not know, as SQS wrote it.
    Other(String),
}

impl MoveTaskStatus {
    fn from_wire(status: &str) -> Self {
        match status {
            "RUNNING" => MoveTaskStatus::Running,
            "COMPLETED" => MoveTaskStatus::Completed,
            "CANCELLING" => MoveTaskStatus::Cancelling,
            "CANCELLED" => MoveTaskStatus::Cancelled,
            "FAILED" => MoveTaskStatus::Failed,
            other => MoveTaskStatus::Other(other.to_owned()),
        }
    }

    /// As SQS writes it (`RUNNING`, …).
    pub fn as_str(&self) -> &str {
        match self {
            MoveTaskStatus::Running => "RUNNING",
            MoveTaskStatus::Completed => "COMPLETED",
            MoveTaskStatus::Cancelling => "CANCELLING",
            MoveTaskStatus::Cancelled => "CANCELLED",
            MoveTaskStatus::Failed => "FAILED",
            MoveTaskStatus::Other(s) => s,
        }
    }
}

impl std::fmt::Display for MoveTaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One DLQ move task, as ListMessageMoveTasks reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveTask {
    /// Only a running task has one (to cancel it).
    pub handle: Option<String>,
    pub status: MoveTaskStatus,
    pub source_arn: String,
    /// `None`: each message goes back to its original source queue.
    pub destination_arn: Option<String>,
    pub max_per_second: Option<u32>,
    pub moved: u64,
    /// How many the task set out to move (absent while SQS is still counting).
    pub to_move: Option<u64>,
    pub failure_reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
}

impl MoveTask {
    fn from_wire(t: &aws_sdk_sqs::types::ListMessageMoveTasksResultEntry) -> Self {
        MoveTask {
            handle: t.task_handle().filter(|h| !h.is_empty()).map(str::to_owned),
            status: MoveTaskStatus::from_wire(t.status().unwrap_or_default()),
            source_arn: t.source_arn().unwrap_or_default().to_owned(),
            destination_arn: t
                .destination_arn()
                .filter(|a| !a.is_empty())
                .map(str::to_owned),
            max_per_second: t
                .max_number_of_messages_per_second()
                .and_then(|r| u32::try_from(r).ok()),
            moved: u64::try_from(t.approximate_number_of_messages_moved()).unwrap_or(0),
            to_move: t
                .approximate_number_of_messages_to_move()
                .and_then(|n| u64::try_from(n).ok()),
            failure_reason: t
                .failure_reason()
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            started_at: (t.started_timestamp() > 0)
                .then(|| DateTime::<Utc>::from_timestamp_millis(t.started_timestamp()))
                .flatten(),
        }
    }
}

/// The `RedrivePolicy` attribute's JSON (`maxReceiveCount` arrives as a string or a number).
#[derive(Debug, PartialEq, Eq)]
struct RedrivePolicyWire {
    dead_letter_target_arn: String,
    max_receive_count: u32,
}

fn parse_redrive_policy(text: &str) -> Result<RedrivePolicyWire, String> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let arn = json
        .get("deadLetterTargetArn")
        .and_then(serde_json::Value::as_str)
        .ok_or("no deadLetterTargetArn")?;
    let count = match json.get("maxReceiveCount") {
        Some(serde_json::Value::String(s)) => s.trim().parse::<u32>().ok(),
        Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    }
    .ok_or("maxReceiveCount is not a positive integer")?;
    Ok(RedrivePolicyWire {
        dead_letter_target_arn: arn.to_owned(),
        max_receive_count: count,
    })
}

/// `arn:aws:sqs:<region>:<account>:<name>` → (account, name).
fn arn_account_and_name(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.strip_prefix("arn:")?.splitn(5, ':');
    let (_partition, service, _region) = (parts.next()?, parts.next()?, parts.next()?);
    let (account, name) = (parts.next()?, parts.next()?);
    (service == "sqs" && !name.is_empty() && !name.contains(':')).then_some((account, name))
}

fn is_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

pub use loglift_core::address::queue_name;

/// A port attribute as SQS takes it: bytes as `BinaryValue`, text as `StringValue`, the data
/// type (custom suffix included) unchanged.
fn to_sdk_attribute(
    attribute: &MessageAttribute,
) -> Result<MessageAttributeValue, aws_sdk_sqs::error::BuildError> {
    let builder = MessageAttributeValue::builder().data_type(&attribute.data_type);
    match &attribute.value {
        AttributeValue::Text(text) => builder.string_value(text),
        AttributeValue::Binary(bytes) => builder.binary_value(Blob::new(bytes.to_vec())),
    }
    .build()
}

/// A received attribute as the port carries it; `None` for one with no value (SQS's reserved
/// list types, which it never returns).
fn from_sdk_attribute(v: &MessageAttributeValue) -> Option<MessageAttribute> {
    let data_type = v.data_type().to_owned();
    let value = match (v.string_value(), v.binary_value()) {
        (Some(text), _) => AttributeValue::Text(text.to_owned()),
        (None, Some(blob)) => AttributeValue::Binary(Bytes::copy_from_slice(blob.as_ref())),
        (None, None) => return None,
    };
    Some(MessageAttribute { data_type, value })
}

fn seconds_i32(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

impl DeadLetters for SqsQueue {
    async fn address(&self, name_or_address: &str) -> PortResult<String> {
        self.queue_url(name_or_address).await
    }
    async fn sources(&self, dlq: &str) -> PortResult<Vec<String>> {
        self.dead_letter_sources(dlq).await
    }
}

impl Queue for SqsQueue {
    async fn send(&self, queue: &str, message: &OutgoingMessage) -> PortResult<String> {
        let mut req = self
            .client
            .send_message()
            .queue_url(queue)
            .message_body(&message.body);
        for (name, attribute) in &message.attributes {
            let value = to_sdk_attribute(attribute).map_err(|e| PortError::Rejected {
                op: "SendMessage",
                target: queue.to_owned(),
                message: format!("attribute {name}: {e}"),
                source: None,
            })?;
            req = req.message_attributes(name, value);
        }
        let out = req
            .send()
            .await
            .map_err(|e| port_error("SendMessage", queue, e))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }

    async fn receive(
        &self,
        queue: &str,
        max: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> PortResult<Vec<ReceivedMessage>> {
        let out = self
            .client
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .wait_time_seconds(seconds_i32(wait.min(Duration::from_secs(MAX_WAIT_SECONDS))))
            .set_visibility_timeout(visibility.map(seconds_i32))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| port_error("ReceiveMessage", queue, e))?;
        let messages = out
            .messages()
            .iter()
            .map(|m| {
                let system = m.attributes();
                let system_attr = |name| system.and_then(|a| a.get(&name)).map(String::as_str);
                let attributes: BTreeMap<String, MessageAttribute> = m
                    .message_attributes()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.clone(), from_sdk_attribute(v)?)))
                    .collect();
                ReceivedMessage {
                    message_id: m.message_id().unwrap_or_default().to_owned(),
                    receipt_handle: m.receipt_handle().unwrap_or_default().to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    attributes,
                    receive_count: system_attr(MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(1),
                    sent_at: system_attr(MessageSystemAttributeName::SentTimestamp)
                        .and_then(|t| t.parse().ok())
                        .and_then(DateTime::<Utc>::from_timestamp_millis),
                }
            })
            .collect();
        Ok(messages)
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> PortResult<()> {
        self.client
            .delete_message()
            .queue_url(queue)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| port_error("DeleteMessage", queue, e))?;
        Ok(())
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> PortResult<()> {
        self.client
            .change_message_visibility()
            .queue_url(queue)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds_i32(timeout))
            .send()
            .await
            .map_err(|e| port_error("ChangeMessageVisibility", queue, e))?;
        Ok(())
    }

    async fn depth(&self, queue: &str) -> PortResult<QueueDepth> {
        let attrs = self
            .attributes(
                queue,
                &[
                    QueueAttributeName::ApproximateNumberOfMessages,
                    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                ],
            )
            .await?;
        let count = |name| attrs.get(&name).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(QueueDepth {
            visible: count(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_policies_parse_with_either_count_type() {
        let want = RedrivePolicyWire {
            dead_letter_target_arn: "arn:aws:sqs:us-east-1:123456789012:q-dlq".into(),
            max_receive_count: 5,
        };
        for text in [
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:q-dlq","maxReceiveCount":"5"}"#,
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:q-dlq","maxReceiveCount":5}"#,
        ] {
            assert_eq!(parse_redrive_policy(text).as_ref(), Ok(&want), "{text}");
        }
        for bad in [
            "{}",
            "not json",
            r#"{"deadLetterTargetArn":"x","maxReceiveCount":"five"}"#,
            r#"{"deadLetterTargetArn":"x","maxReceiveCount":-1}"#,
        ] {
            assert!(parse_redrive_policy(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arns_and_urls_give_names() {
        assert_eq!(
            arn_account_and_name("arn:aws:sqs:us-east-1:123456789012:q-dlq"),
            Some(("123456789012", "q-dlq"))
        );
        assert_eq!(arn_account_and_name("arn:aws:sns:us-east-1:1:t"), None);
        assert_eq!(arn_account_and_name("arn:aws:sqs:us-east-1:1:"), None);
    }
}
