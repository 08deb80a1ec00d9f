//! `loglift status`: how the pipeline is doing right now — queue and DLQ depths, the oldest
//! message waiting in each DLQ, and per pipeline the last load of its table from the ledger and
//! how fresh that is.
//!
//! The queues are shared by every pipeline (one transform queue, one loader queue), so depths are
//! per queue. The oldest message's age is read only from dead-letter queues (by looking at their
//! messages, see [`crate::redrive::sqs::peek`]): looking at a live queue would raise receive
//! counts toward its `maxReceiveCount`. For live queues use the `ApproximateAgeOfOldestMessage`
//! CloudWatch metric (terraform alarms on it).

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use loglift_core::spec::Spec;
use loglift_ports::{Clock, Ledger, PortResult, Queue};
use serde::Serialize;

use crate::redrive::sqs::peek;

/// How many DLQ messages status looks at to find the oldest.
const DLQ_SAMPLE: usize = 100;

/// A queue status reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedQueue {
    /// What the user calls it: `transform`, `loader-dlq`, …
    pub label: String,
    /// How the queue adapter addresses it (an SQS URL, a local queue name).
    pub address: String,
    pub dead_letter: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueStatus {
    pub queue: String,
    pub dead_letter: bool,
    pub visible: u64,
    pub in_flight: u64,
    /// Age of the oldest message seen (dead-letter queues only; of at most 100 looked at).
    pub oldest_age_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipelineStatus {
    pub pipeline: String,
    pub table: String,
    pub last_loaded_at: Option<DateTime<Utc>>,
    /// Seconds since the table's last load; `None` when it never loaded (or the ledger entries
    /// aged out).
    pub freshness_seconds: Option<i64>,
    pub objects_last_24h: u64,
    pub rows_last_24h: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub at: DateTime<Utc>,
    pub queues: Vec<QueueStatus>,
    pub pipelines: Vec<PipelineStatus>,
}

impl Status {
    /// Something needs a person: a message waits in a dead-letter queue.
    pub fn needs_attention(&self) -> bool {
        self.queues.iter().any(|q| q.dead_letter && q.visible > 0)
    }
}

/// Read the queues' depths and the ledger's last loads.
pub async fn status<Q: Queue, W: Ledger, C: Clock>(
    spec: &Spec,
    queue: &Q,
    queues: &[WatchedQueue],
    warehouse: &W,
    clock: &C,
) -> PortResult<Status> {
    let now = clock.now();
    let mut queue_status = Vec::with_capacity(queues.len());
    for watched in queues {
        let depth = queue.depth(&watched.address).await?;
        let oldest_age_seconds = if watched.dead_letter && depth.visible > 0 {
            peek(queue, &watched.address, DLQ_SAMPLE)
                .await?
                .iter()
                .filter_map(|m| m.sent_at)
                .min()
                .map(|sent| (now - sent).num_seconds())
        } else {
            None
        };
        queue_status.push(QueueStatus {
            queue: watched.label.clone(),
            dead_letter: watched.dead_letter,
            visible: depth.visible,
            in_flight: depth.in_flight,
            oldest_age_seconds,
        });
    }
    let tables = warehouse
        .ledger_tables(now - ChronoDuration::hours(24))
        .await?;
    let pipelines = spec
        .pipelines
        .iter()
        .map(|p| {
            let table = tables.iter().find(|t| t.table == p.table);
            let last_loaded_at = table.and_then(|t| t.last_loaded_at);
            PipelineStatus {
                pipeline: p.name.clone(),
                table: p.table.clone(),
                last_loaded_at,
                freshness_seconds: last_loaded_at.map(|t| (now - t).num_seconds()),
                objects_last_24h: table.map_or(0, |t| t.objects_since),
                rows_last_24h: table.map_or(0, |t| t.rows_since),
            }
        })
        .collect();
    Ok(Status {
        at: now,
        queues: queue_status,
        pipelines,
    })
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "queues ({})", self.at.format("%Y-%m-%d %H:%M:%SZ"))?;
        writeln!(
            f,
            "  {:<24} {:>9} {:>9}  oldest",
            "queue", "visible", "in flight"
        )?;
        for q in &self.queues {
            let oldest = match (q.dead_letter, q.oldest_age_seconds) {
                (true, Some(age)) => human_age(age),
                (true, None) => "-".into(),
                (false, _) => "(CloudWatch)".into(),
            };
            let flag = if q.dead_letter && q.visible > 0 {
                "  << needs attention: loglift dlq inspect"
            } else {
                ""
            };
            writeln!(
                f,
                "  {:<24} {:>9} {:>9}  {oldest}{flag}",
                q.queue, q.visible, q.in_flight
            )?;
        }
        writeln!(f, "pipelines")?;
        writeln!(
            f,
            "  {:<22} {:<32} {:<21} {:>10} {:>9} {:>11}",
            "pipeline", "table", "last load (UTC)", "freshness", "objs 24h", "rows 24h"
        )?;
        for p in &self.pipelines {
            let last = p.last_loaded_at.map_or_else(
                || "never".to_owned(),
                |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
            );
            let fresh = p.freshness_seconds.map_or_else(|| "-".into(), human_age);
            writeln!(
                f,
                "  {:<22} {:<32} {:<21} {:>10} {:>9} {:>11}",
                p.pipeline, p.table, last, fresh, p.objects_last_24h, p.rows_last_24h
            )?;
        }
        Ok(())
    }
}

/// `42s`, `5m`, `3h12m`, `2d4h`.
pub fn human_age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_a_person_would_say_them() {
        for (s, want) in [
            (-3, "0s"),
            (42, "42s"),
            (300, "5m"),
            (3600 * 3 + 12 * 60, "3h12m"),
            (86400 * 2 + 3600 * 4, "2d4h"),
        ] {
            assert_eq!(human_age(s), want, "{s}");
        }
    }
}
