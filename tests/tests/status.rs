//! `loglift status` over both queue adapters (SQLite and SQS on moto) and the SQLite warehouse:
//! depths of live and dead-letter queues, the oldest dead-letter message's age, the last load
//! per pipeline and its freshness.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod warehouse_support;

use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};
use loglift_local::{MemoryStore, SqliteQueue, SqliteWarehouse};
use loglift_ports::{FixedClock, OutgoingMessage, Warehouse};
use loglift_stages::status::{status, Status, WatchedQueue};
use loglift_tests::{create_queue_with_dlq, moto, unique_name, TestQueues};
use warehouse_support::*;

/// Two messages in the DLQ, one waiting in the live queue, one user_events load.
async fn scenario<Q: TestQueues>(queues: &Q, name: &str) -> Status {
    let (live, dlq) = create_queue_with_dlq(queues, name, Duration::from_secs(30), 5)
        .await
        .unwrap();
    queues
        .send(&live, &OutgoingMessage::new("{}"))
        .await
        .unwrap();
    for body in ["a", "b"] {
        queues
            .send(&dlq, &OutgoingMessage::new(body))
            .await
            .unwrap();
    }
    let store = MemoryStore::new();
    let w = SqliteWarehouse::in_memory(store.clone()).unwrap();
    let p = pipeline("user_events");
    w.ensure_table(&p).await.unwrap();
    let o = put_object(
        &store,
        &p,
        "curated/s-0",
        &source_object("raw/s"),
        &[(1, 0), (2, 0)],
    )
    .await;
    w.load(&p, &batch(&p, vec![message(&p, "raw/s", vec![o])]))
        .await
        .unwrap();
    let watched = [
        WatchedQueue {
            label: "transform".into(),
            address: live,
            dead_letter: false,
        },
        WatchedQueue {
            label: "transform-dlq".into(),
            address: dlq.clone(),
            dead_letter: true,
        },
    ];
    let now = Utc::now() + ChronoDuration::minutes(10);
    let s = status(&spec(), queues, &watched, &w, &FixedClock(now))
        .await
        .unwrap();
    // Looking did not consume: both are still there, visible.
    assert_eq!(queues.depth(&dlq).await.unwrap().visible, 2);
    s
}

fn check(s: &Status) {
    let text = s.to_string();
    assert!(s.needs_attention(), "{text}");
    let live = &s.queues[0];
    assert_eq!(
        (live.visible, live.dead_letter, live.oldest_age_seconds),
        (1, false, None),
        "{text}"
    );
    let dlq = &s.queues[1];
    assert_eq!((dlq.visible, dlq.dead_letter), (2, true), "{text}");
    let age = dlq.oldest_age_seconds.unwrap();
    assert!((590..=660).contains(&age), "oldest age {age}: {text}");
    let events = s
        .pipelines
        .iter()
        .find(|p| p.pipeline == "user_events")
        .unwrap();
    assert_eq!(
        (events.objects_last_24h, events.rows_last_24h),
        (1, 2),
        "{text}"
    );
    let fresh = events.freshness_seconds.unwrap();
    assert!((590..=660).contains(&fresh), "freshness {fresh}: {text}");
    let never = s
        .pipelines
        .iter()
        .find(|p| p.pipeline != "user_events" && p.table != events.table)
        .unwrap();
    assert_eq!(never.last_loaded_at, None, "{text}");
    assert!(text.contains("needs attention"), "{text}");
    assert!(text.contains("never"), "{text}");
}

#[tokio::test]
async fn status_of_local_queues() {
    let queues = SqliteQueue::in_memory().unwrap();
    check(&scenario(&queues, "transform").await);
}

#[tokio::test]
async fn status_of_sqs_queues() {
    let Some(env) = moto() else { return };
    check(&scenario(&env.sqs_queue(), &unique_name("status")).await);
}
