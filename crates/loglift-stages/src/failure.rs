//! Why a queue message failed, written where `loglift dlq inspect` finds it: a Lambda cannot
//! change the message it received, so the reason goes to
//! `errors/failures/queue=<queue>/<message id>.json`, rewritten on each failed receive.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use loglift_core::storage::Layout;
use loglift_core::wire::SqsMessage;
use loglift_ports::{ObjectStore, PortError};
use serde_json::json;

/// Why a queue message failed, and what becomes of it: transform and the loader share it.
#[derive(Debug, thiserror::Error)]
pub enum MessageFailure {
    /// A hiccup (S3, SQS, the warehouse, a broken stream): the message returns to its queue.
    #[error("{0}")]
    Retry(String),
    /// Will fail every time: its reason is recorded and it is left for the DLQ.
    #[error("{0}")]
    Poison(String),
}

impl MessageFailure {
    /// A port error by its disposition, with `what` the step that met it.
    pub fn at(what: &str, e: &PortError) -> MessageFailure {
        MessageFailure::of(e, format!("{what}: {e}"))
    }

    /// A port error by its disposition, as it reads.
    pub fn from_port(e: &PortError) -> MessageFailure {
        MessageFailure::of(e, e.to_string())
    }

    fn of(e: &PortError, reason: String) -> MessageFailure {
        if e.is_retryable() {
            MessageFailure::Retry(reason)
        } else {
            MessageFailure::Poison(reason)
        }
    }
}

/// Record the reason (best effort: the message itself still reaches the DLQ).
pub async fn record<S: ObjectStore>(
    store: &S,
    layout: &Layout,
    stage: &str,
    message: &SqsMessage,
    reason: &str,
    now: DateTime<Utc>,
) {
    tracing::error!(%stage, message_id = %message.message_id, receive_count = message.receive_count, %reason, "Message cannot be processed");
    let queue = message.queue.as_deref().unwrap_or(stage);
    let key = layout.failure_key(queue, &message.message_id);
    let body = json!({
        "stage": stage,
        "queue": queue,
        "message_id": message.message_id,
        "receive_count": message.receive_count,
        "reason": reason,
        "time": loglift_core::timefmt::rfc3339(now),
        "body": message.body,
    });
    if let Err(e) = store
        .put(
            &layout.errors.bucket,
            &key,
            Bytes::from(body.to_string()),
            "application/json",
        )
        .await
    {
        tracing::error!(%key, error = %e, "Could not record the failure reason");
    }
}
