//! Transform against moto as it runs in AWS: objects are put into a moto bucket whose
//! notification configuration sends S3 events to a moto SQS queue (moto sends the s3:TestEvent
//! first and percent-encodes keys); the messages are received, handed to the handler as the SQS
//! event source mapping would, and deleted unless the partial batch response names them. The
//! curated objects, reject records and reports are then read back from moto S3 and the loader
//! messages from the moto loader queue.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use bytes::Bytes;
use chrono::Utc;
use loglift_aws::{DynamoLookup, S3Store, SqsQueue};
use loglift_core::spec::Spec;
use loglift_core::storage::{Layout, LoaderMessage};
use loglift_ports::{ObjectStore, Queue, SystemClock};
use loglift_stages::esm::poll_once;
use loglift_stages::priority::PriorityCache;
use loglift_stages::transform::{handle_sqs, TransformDeps};
use loglift_tests::{create_queue_with_dlq, moto, MotoEnv, TestQueues};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

const SPEC: &str = include_str!("../../spec/pipelines.yaml");

struct Setup {
    deps: TransformDeps<S3Store, SqsQueue, SystemClock, DynamoLookup>,
    bucket: String,
    transform_queue: String,
    transform_arn: String,
    dlq: String,
}

async fn setup(env: &MotoEnv, visibility: Duration) -> Setup {
    let bucket = env.new_bucket("transform").await.unwrap();
    let queues = env.sqs_queue();
    let name = loglift_tests::unique_name("transform");
    let (transform_queue, dlq) = create_queue_with_dlq(&queues, &name, visibility, 3)
        .await
        .unwrap();
    let loader_queue = queues
        .create(&format!("{name}-loader"), Duration::from_secs(30), None)
        .await
        .unwrap();
    let transform_arn = queues.queue_arn(&transform_queue).await.unwrap();
    let spec = Spec::parse(SPEC).unwrap();
    let layout = Layout::single_bucket(&bucket);
    // One notification configuration per bucket, every prefix transform reads (as terraform
    // builds it from `Layout::notification_filters`).
    let configs: Vec<QueueConfiguration> = layout
        .notification_filters(&spec)
        .into_iter()
        .map(|f| {
            QueueConfiguration::builder()
                .queue_arn(&transform_arn)
                .events(Event::from("s3:ObjectCreated:*"))
                .filter(
                    NotificationConfigurationFilter::builder()
                        .key(
                            S3KeyFilter::builder()
                                .filter_rules(
                                    FilterRule::builder()
                                        .name(FilterRuleName::Prefix)
                                        .value(f.prefix)
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()
                .unwrap()
        })
        .collect();
    env.s3_client()
        .put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .set_queue_configurations(Some(configs))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let deps = TransformDeps {
        spec,
        layout,
        store: env.s3_store(),
        queue: queues,
        clock: SystemClock,
        loader_queue,
        limits: Default::default(),
        priorities: PriorityCache::new(env.dynamo_lookup()),
    };
    Setup {
        deps,
        bucket,
        transform_queue,
        transform_arn,
        dlq,
    }
}

/// Drain the transform queue as the event source mapping would; returns (received, failed).
async fn drain(s: &Setup) -> (usize, usize) {
    let (mut received, mut failed) = (0, 0);
    for _ in 0..20 {
        let poll = poll_once(
            &s.deps.queue,
            &s.transform_queue,
            &s.transform_arn,
            10,
            None,
            |event| async move { handle_sqs(&s.deps, &event).await.map(|(f, _)| f) },
        )
        .await
        .unwrap()
        .unwrap();
        if poll.received == 0 {
            break;
        }
        received += poll.received;
        failed += poll.failed;
    }
    (received, failed)
}

async fn keys(store: &S3Store, bucket: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = None;
    loop {
        let page = store.list(bucket, prefix, next.as_deref()).await.unwrap();
        out.extend(page.objects.into_iter().map(|o| o.key));
        match page.next {
            Some(n) => next = Some(n),
            None => return out,
        }
    }
}

async fn read(store: &S3Store, bucket: &str, key: &str) -> Vec<u8> {
    let mut object = store.get(bucket, key).await.unwrap();
    let mut body = Vec::new();
    object.body.read_to_end(&mut body).await.unwrap();
    body
}

/// The lines of an NDJSON object, or the rows of a curated Parquet part (read with the table
/// columns of the pipeline its key names) as JSON objects.
async fn read_lines(store: &S3Store, bucket: &str, key: &str) -> Vec<Value> {
    let body = read(store, bucket, key).await;
    if loglift_core::columnar::is_parquet(&body) {
        let spec = Spec::parse(SPEC).unwrap();
        let name = key
            .split('/')
            .find_map(|p| p.strip_prefix("pipeline="))
            .unwrap();
        let decoder = loglift_core::sql::RowDecoder::new(spec.pipeline(name).unwrap()).unwrap();
        return loglift_core::sql::json_rows(&body[..], &decoder).unwrap();
    }
    let text = loglift_core::compress::decompress(&body, &Default::default())
        .unwrap()
        .into_owned();
    String::from_utf8(text)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn loader_messages(s: &Setup) -> Vec<LoaderMessage> {
    let mut out = Vec::new();
    loop {
        let batch = s
            .deps
            .queue
            .receive(&s.deps.loader_queue, 10, Duration::ZERO, None)
            .await
            .unwrap();
        if batch.is_empty() {
            return out;
        }
        for m in batch {
            out.push(serde_json::from_str(&m.body).unwrap());
            s.deps
                .queue
                .delete(&s.deps.loader_queue, &m.receipt_handle)
                .await
                .unwrap();
        }
    }
}

fn partner(name: &str, id: &str) -> Value {
    json!({"partner_name": name, "accommodation_id": id, "accommodation_data": {"name": format!("{name} {id}")}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notified_objects_become_curated_objects_rejects_reports_and_loader_messages() {
    let Some(env) = moto() else { return };
    let s = setup(&env, Duration::from_secs(30)).await;
    let store = &s.deps.store;
    // Keys with a space, a plus, an equals sign and an emoji: S3 events form-encode them.
    let lines: String = [
        partner("expedia", "h1"),
        partner("booking", "h1"),
        json!({"partner_name": "booking"}),
        partner("agoda", "h2"),
    ]
    .iter()
    .map(|v| v.to_string() + "\n")
    .collect::<String>()
        + "not json\n";
    let plain_key = "landing/partner_catalog/2026 11/a+b=c 🚀.jsonl";
    store
        .put(
            &s.bucket,
            plain_key,
            Bytes::from(lines.clone()),
            "application/x-ndjson",
        )
        .await
        .unwrap();
    let gz_key = "landing/partner_catalog/2026 11/array.json.gz";
    let array = serde_json::to_vec(&[partner("hotels", "h3"), partner("expedia", "h3")]).unwrap();
    store
        .put(
            &s.bucket,
            gz_key,
            Bytes::from(loglift_core::compress::gzip(&array)),
            "application/gzip",
        )
        .await
        .unwrap();
    let raw_key =
        "raw/pipeline=user_events/dt=2026-11-21/hour=10/kinesis-shardId-000000000000-1-2.ndjson.gz";
    let raw: String = (0..3)
        .map(|i| {
            json!({"pipeline": "user_events", "event_id": format!("r{i}"), "arrived_at": "2026-11-21T10:00:00.000Z",
                   "origin": {"stream": "user-events"},
                   "data": {"request_id": format!("r{i}"), "request_timestamp": "2026-11-21T09:59:00Z", "cookie_id": "c", "topic": "t"}})
            .to_string()
                + "\n"
        })
        .collect();
    store
        .put(
            &s.bucket,
            raw_key,
            Bytes::from(loglift_core::compress::gzip(raw.as_bytes())),
            "application/gzip",
        )
        .await
        .unwrap();

    let (received, failed) = drain(&s).await;
    assert_eq!(failed, 0);
    assert!(
        received >= 3,
        "the test event and three object events, got {received}"
    );

    let curated = keys(store, &s.bucket, "curated/").await;
    assert!(
        curated
            .iter()
            .any(|k| k.starts_with("curated/pipeline=user_events/dt=2026-11-21/hour=09/")),
        "{curated:?}"
    );
    let messages = loader_messages(&s).await;
    assert_eq!(messages.len(), 3, "{messages:?}");
    let by_source = |key: &str| messages.iter().find(|m| m.source.key == key).unwrap();
    let plain = by_source(plain_key);
    assert_eq!(plain.table, "catalog.partner_accommodations");
    assert_eq!(plain.rejected, 2);
    let rows: u64 = plain.objects.iter().map(|o| o.rows).sum();
    assert_eq!(rows, 3);
    for object in &plain.objects {
        let lines = read_lines(store, &object.bucket, &object.key).await;
        assert_eq!(lines.len() as u64, object.rows);
        assert!(lines[0]["source_object"]
            .as_str()
            .unwrap()
            .contains("a+b=c 🚀.jsonl"));
    }
    assert_eq!(
        by_source(gz_key)
            .objects
            .iter()
            .map(|o| o.rows)
            .sum::<u64>(),
        2
    );
    assert_eq!(by_source(raw_key).objects[0].rows, 3);

    let rejects = keys(
        store,
        &s.bucket,
        "errors/rejects/stage=transform/pipeline=partner_catalog/",
    )
    .await;
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    let records = read_lines(store, &s.bucket, &rejects[0]).await;
    let reasons: Vec<(&str, u64)> = records
        .iter()
        .map(|r| {
            (
                r["reason"].as_str().unwrap(),
                r["position"]["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(reasons, [("missing_required", 3), ("invalid_json", 5)]);
    assert_eq!(records[0]["source"]["key"], plain_key);

    let reports = keys(
        store,
        &s.bucket,
        "reports/pipeline=partner_catalog/job=consolidate_by_priority/",
    )
    .await;
    let day = Utc::now().format("year=%Y/month=%m/day=%d/").to_string();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(reports.iter().all(|k| k.contains(&day)), "{reports:?}");
    let mut winners = Vec::new();
    for key in &reports {
        winners.extend(read_lines(store, &s.bucket, key).await);
    }
    winners.sort_by_key(|w| w["accommodation_id"].as_str().unwrap().to_owned());
    assert_eq!(
        winners,
        [
            partner("expedia", "h1"),
            partner("agoda", "h2"),
            partner("expedia", "h3")
        ]
    );

    // A redelivery writes the same keys: nothing is added.
    let before = keys(store, &s.bucket, "").await;
    let body = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "eventTime": "2026-11-21T10:00:00.000Z",
        "s3": {"bucket": {"name": s.bucket}, "object": {"key": "landing/partner_catalog/2026+11/a%2Bb%3Dc+%F0%9F%9A%80.jsonl", "size": 1}}}]});
    s.deps
        .queue
        .send(
            &s.transform_queue,
            &loglift_ports::OutgoingMessage::new(body.to_string()),
        )
        .await
        .unwrap();
    assert_eq!(drain(&s).await, (1, 0));
    assert_eq!(keys(store, &s.bucket, "").await, before);
    assert_eq!(loader_messages(&s).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_object_is_acknowledged_and_a_poison_body_reaches_the_dlq_with_its_reason() {
    let Some(env) = moto() else { return };
    let s = setup(&env, Duration::from_secs(1)).await;
    let store = &s.deps.store;
    let key = "landing/hit_data/gone.tsv";
    store
        .put(
            &s.bucket,
            key,
            Bytes::from_static(b"hit_time_gmt\n"),
            "text/plain",
        )
        .await
        .unwrap();
    store.delete(&s.bucket, key).await.unwrap();
    s.deps
        .queue
        .send(
            &s.transform_queue,
            &loglift_ports::OutgoingMessage::new("{\"not\": \"an s3 event\"}"),
        )
        .await
        .unwrap();
    // The gone object is acknowledged at once; the poison message fails each receive until the
    // redrive policy (maxReceiveCount 3, visibility 1 s) moves it to the DLQ.
    let mut poison_failures = 0;
    for _ in 0..40 {
        poison_failures += drain(&s).await.1;
        if s.deps.queue.depth(&s.dlq).await.unwrap().visible > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(poison_failures, 3);
    assert_eq!(s.deps.queue.depth(&s.dlq).await.unwrap().visible, 1);
    let failures = keys(store, &s.bucket, "errors/failures/").await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    let record: Value =
        serde_json::from_slice(&read(store, &s.bucket, &failures[0]).await).unwrap();
    assert!(
        record["reason"]
            .as_str()
            .unwrap()
            .contains("not an S3 event notification"),
        "{record}"
    );
    assert_eq!(record["receive_count"], 3);
    assert!(keys(store, &s.bucket, "curated/").await.is_empty());
    assert!(loader_messages(&s).await.is_empty());
}
