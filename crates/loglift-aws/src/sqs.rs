//! [`SqsQueue`]: the [`Queue`] port over Amazon SQS; a queue is addressed by its URL.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use chrono::{DateTime, Utc};
use loglift_ports::{
    OutgoingMessage, PortError, PortResult, Queue, QueueDepth, ReceivedMessage, Redrive,
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
            })
    }

    /// The URL of the queue named `name`.
    pub async fn queue_url(&self, name: &str) -> PortResult<String> {
        let out = self
            .client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| port_error("GetQueueUrl", name, e))?;
        out.queue_url()
            .map(str::to_owned)
            .ok_or_else(|| PortError::NotFound {
                what: format!("queue {name}"),
            })
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

fn seconds_i32(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

impl Queue for SqsQueue {
    async fn send(&self, queue: &str, message: &OutgoingMessage) -> PortResult<String> {
        let mut req = self
            .client
            .send_message()
            .queue_url(queue)
            .message_body(&message.body);
        for (name, value) in &message.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| PortError::Rejected {
                    op: "SendMessage",
                    target: queue.to_owned(),
                    message: format!("attribute {name}: {e}"),
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
                let attributes: BTreeMap<String, String> = m
                    .message_attributes()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_owned())))
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
