//! One queue contract, run against both adapters: [`SqliteQueue`] in a temporary file (always)
//! and [`SqsQueue`] on moto (under the harness).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use loglift_core::address::queue_name;
use loglift_local::SqliteQueue;
use loglift_ports::{DeadLetters, MessageAttribute, OutgoingMessage, Queue, QueueDepth};
use loglift_tests::{create_queue_with_dlq, unique_name, TestQueues};

const NO_WAIT: Duration = Duration::ZERO;
const WAIT: Duration = Duration::from_secs(2);

fn message(body: &str) -> OutgoingMessage {
    let mut m = OutgoingMessage::new(body);
    m.attributes = BTreeMap::from([
        (
            "loglift-kind".to_owned(),
            MessageAttribute::string("s3-event"),
        ),
        (
            "trace.id_2".to_owned(),
            MessageAttribute::string("Root=1-abc; ünïcode ✓ with spaces"),
        ),
        ("n".to_owned(), MessageAttribute::number("12.50")),
        (
            "raw".to_owned(),
            MessageAttribute::binary(vec![0u8, 0xff, b'x']),
        ),
        (
            "f".to_owned(),
            MessageAttribute::text("Number.float", "1e-3"),
        ),
    ]);
    m
}

/// The contract every [`Queue`](loglift_ports::Queue) keeps, as SQS does.
async fn queue_contract<Q: TestQueues + DeadLetters>(queues: &Q) {
    let visibility = Duration::from_secs(1);
    let q = queues
        .create(&unique_name("contract"), Duration::from_secs(30), None)
        .await
        .unwrap();
    assert_eq!(queues.depth(&q).await.unwrap(), QueueDepth::default());

    // Send, receive with attributes, delete.
    let sent = message("hello");
    let id = queues.send(&q, &sent).await.unwrap();
    assert!(!id.is_empty());
    assert_eq!(
        queues.depth(&q).await.unwrap(),
        QueueDepth {
            visible: 1,
            in_flight: 0
        }
    );
    let got = queues
        .receive(&q, 10, WAIT, Some(visibility))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(
        (m.message_id.as_str(), m.body.as_str()),
        (id.as_str(), "hello")
    );
    assert_eq!(m.attributes, sent.attributes);
    assert_eq!(m.receive_count, 1);
    let sent_at = m.sent_at.expect("sent_at");
    assert!(
        (Utc::now() - sent_at).num_seconds().abs() < 60,
        "sent_at {sent_at}"
    );
    assert_eq!(
        queues.depth(&q).await.unwrap(),
        QueueDepth {
            visible: 0,
            in_flight: 1
        }
    );

    // Invisible until the timeout ends, then delivered again with a new handle.
    assert!(
        queues
            .receive(&q, 10, NO_WAIT, None)
            .await
            .unwrap()
            .is_empty(),
        "in flight means invisible"
    );
    tokio::time::sleep(visibility + Duration::from_millis(300)).await;
    let again = queues
        .receive(&q, 10, WAIT, Some(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "redelivered after the visibility timeout");
    assert_eq!(again[0].message_id, id);
    assert_eq!(again[0].receive_count, 2);
    assert_ne!(again[0].receipt_handle, m.receipt_handle);
    assert_eq!(again[0].sent_at, m.sent_at);

    // change_visibility to 0 makes it visible at once.
    queues
        .change_visibility(&q, &again[0].receipt_handle, Duration::ZERO)
        .await
        .unwrap();
    let third = queues.receive(&q, 10, WAIT, None).await.unwrap();
    assert_eq!(third.len(), 1, "visible after change_visibility(0)");
    assert_eq!(third[0].receive_count, 3);
    assert_eq!(
        queues.depth(&q).await.unwrap(),
        QueueDepth {
            visible: 0,
            in_flight: 1
        }
    );
    queues.delete(&q, &third[0].receipt_handle).await.unwrap();
    assert_eq!(queues.depth(&q).await.unwrap(), QueueDepth::default());
    assert!(queues
        .receive(&q, 10, NO_WAIT, Some(Duration::ZERO))
        .await
        .unwrap()
        .is_empty());

    // Attribute names follow SQS's character rules on both adapters (moto checks no more than
    // that; the local queue also refuses the `AWS.` prefix and misplaced dots, as SQS does). On a
    // queue of its own: moto stores the message before it rejects the attribute names.
    let scratch = queues
        .create(&unique_name("attrs"), Duration::from_secs(30), None)
        .await
        .unwrap();
    for bad in ["trace id", "ümlaut", "a/b"] {
        let mut m = OutgoingMessage::new("x");
        m.attributes
            .insert(bad.to_owned(), MessageAttribute::string("v"));
        let err = queues
            .send(&scratch, &m)
            .await
            .err()
            .unwrap_or_else(|| panic!("attribute name {bad:?} accepted"));
        assert!(
            !err.is_retryable() && !err.is_not_found(),
            "attribute name {bad:?}: {err}"
        );
    }

    // Several messages, counted and received in batches.
    for i in 0..5 {
        queues
            .send(&q, &OutgoingMessage::new(format!("m{i}")))
            .await
            .unwrap();
    }
    assert_eq!(
        queues.depth(&q).await.unwrap(),
        QueueDepth {
            visible: 5,
            in_flight: 0
        }
    );
    let mut bodies = Vec::new();
    while bodies.len() < 5 {
        let batch = queues.receive(&q, 3, WAIT, None).await.unwrap();
        assert!(
            !batch.is_empty() && batch.len() <= 3,
            "batch of {}",
            batch.len()
        );
        bodies.extend(batch.iter().map(|m| m.body.clone()));
        for m in batch {
            queues.delete(&q, &m.receipt_handle).await.unwrap();
        }
    }
    bodies.sort();
    assert_eq!(bodies, ["m0", "m1", "m2", "m3", "m4"]);

    // Redrive: after max_receive_count receives without a delete, the next receive moves the
    // message to the DLQ, as sent.
    let (main, dlq) =
        create_queue_with_dlq(queues, &unique_name("redrive"), Duration::from_secs(30), 2)
            .await
            .unwrap();
    let poison = message("poison pill");
    let poison_id = queues.send(&main, &poison).await.unwrap();
    for count in 1..=2 {
        let got = queues
            .receive(&main, 10, WAIT, Some(Duration::ZERO))
            .await
            .unwrap();
        assert_eq!(got.len(), 1, "receive #{count}");
        assert_eq!(got[0].receive_count, count);
    }
    let got = queues
        .receive(&main, 10, NO_WAIT, Some(Duration::ZERO))
        .await
        .unwrap();
    assert!(
        got.is_empty(),
        "the third receive moves it to the DLQ instead: {got:?}"
    );
    assert_eq!(queues.depth(&main).await.unwrap(), QueueDepth::default());
    assert_eq!(
        queues.depth(&dlq).await.unwrap(),
        QueueDepth {
            visible: 1,
            in_flight: 0
        }
    );
    let dead = queues.receive(&dlq, 10, WAIT, None).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_id, poison_id);
    assert_eq!(dead[0].body, poison.body);
    assert_eq!(dead[0].attributes, poison.attributes);
    assert!(dead[0].sent_at.is_some());
    queues.delete(&dlq, &dead[0].receipt_handle).await.unwrap();
    assert_eq!(queues.depth(&dlq).await.unwrap(), QueueDepth::default());

    // Dead-letter administration: a name or an address resolves to the address, a DLQ names
    // the queue that feeds it, a queue that does not exist is NotFound.
    assert_eq!(queues.address(&dlq).await.unwrap(), dlq);
    assert_eq!(queues.address(queue_name(&main)).await.unwrap(), main);
    assert_eq!(queues.sources(&dlq).await.unwrap(), vec![main.clone()]);
    assert_eq!(queues.sources(&main).await.unwrap(), Vec::<String>::new());
    let missing = queues
        .address(&unique_name("never-created"))
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
}

#[tokio::test]
async fn sqlite_queue_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let queues = SqliteQueue::open(dir.path().join("queues.sqlite3")).unwrap();
    queue_contract(&queues).await;
}

#[tokio::test]
async fn sqs_queue_keeps_the_contract_on_moto() {
    let Some(moto) = loglift_tests::moto() else {
        return;
    };
    queue_contract(&moto.sqs_queue()).await;
}

#[tokio::test]
async fn sqs_queue_missing_queue_is_not_found() {
    let Some(moto) = loglift_tests::moto() else {
        return;
    };
    let queues = moto.sqs_queue();
    let url = format!("{}/123456789012/{}", moto.url, unique_name("never-created"));
    let err = queues
        .send(&url, &OutgoingMessage::new("x"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.to_string().contains("never-created"),
        "error names the queue: {err}"
    );
}

#[tokio::test]
async fn sqlite_queue_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.sqlite3");
    let id = {
        let queues = SqliteQueue::open(&path).unwrap();
        queues
            .create("jobs", Duration::from_secs(30), None)
            .await
            .unwrap();
        queues.send("jobs", &message("persisted")).await.unwrap()
    };
    let queues = SqliteQueue::open(&path).unwrap();
    let got = queues.receive("jobs", 1, NO_WAIT, None).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].message_id.as_str(), got[0].body.as_str()),
        (id.as_str(), "persisted")
    );
    assert_eq!(got[0].attributes, message("").attributes);
}
