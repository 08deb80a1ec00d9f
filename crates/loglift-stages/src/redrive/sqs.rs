//! SQS dead-letter queues: look without consuming ([`peek`]), move back (manual move: receive →
//! send → delete after the send succeeded).

use std::time::Duration;

use loglift_ports::{PortResult, Queue, ReceivedMessage};

/// How long [`peek`] hides the messages it has seen while it reads the rest.
pub const PEEK_HOLD: Duration = Duration::from_secs(60);

/// Read up to `max` messages of `queue` without consuming them: each is received (hidden for
/// [`PEEK_HOLD`] so the next receive sees others), and made visible again (visibility 0) once
/// all are read. Receiving raises a message's receive count — harmless on a DLQ, which has no
/// redrive policy of its own; do not peek at a queue a consumer is draining.
pub async fn peek<Q: Queue>(queue: &Q, url: &str, max: usize) -> PortResult<Vec<ReceivedMessage>> {
    let mut seen: Vec<ReceivedMessage> = Vec::new();
    let mut empty_receives = 0;
    while seen.len() < max && empty_receives < 2 {
        let want = u32::try_from((max - seen.len()).min(10)).unwrap_or(10);
        let batch = queue
            .receive(url, want, Duration::from_secs(1), Some(PEEK_HOLD))
            .await?;
        if batch.is_empty() {
            empty_receives += 1;
        } else {
            empty_receives = 0;
        }
        seen.extend(batch);
    }
    for message in &seen {
        queue
            .change_visibility(url, &message.receipt_handle, Duration::ZERO)
            .await?;
    }
    Ok(seen)
}
