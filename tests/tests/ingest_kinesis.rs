//! Ingest against moto as the Kinesis event source mapping drives it: records put into a moto
//! stream with PutRecords, read back with GetRecords (through the `StreamReader` port), handed to
//! the handler as the mapping's event, and the raw objects and reject records checked in moto S3.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use base64::Engine as _;
use loglift_core::spec::Spec;
use loglift_core::storage::Layout;
use loglift_ports::{ObjectStore, ShardPosition, StreamReader, SystemClock};
use loglift_stages::ingest::{handle_event, IngestDeps};
use loglift_tests::emulate::esm_event;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

async fn read_lines<S: ObjectStore>(store: &S, bucket: &str, key: &str) -> Vec<Value> {
    let mut object = store.get(bucket, key).await.unwrap();
    let mut body = Vec::new();
    object.body.read_to_end(&mut body).await.unwrap();
    let text = loglift_core::compress::decompress(&body, &Default::default())
        .unwrap()
        .into_owned();
    String::from_utf8(text)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn kinesis_batches_from_moto_land_in_raw_and_errors() {
    let Some(moto) = loglift_tests::moto() else {
        return;
    };
    let kinesis = moto.kinesis_client();
    let (stream, arn) = moto.new_stream("user-events").await.unwrap();

    let event = |id: &str| {
        json!({"request_id": id, "request_timestamp": "2020-06-01 00:00:24.000000", "cookie_id": "c", "topic": "t"}).to_string()
    };
    let logs = loglift_core::compress::gzip(
        json!({"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "prod_/srv/idp/shared/log/events.log",
               "logStream": "i-0abc", "subscriptionFilters": ["loglift"],
               "logEvents": [{"id": "3001", "timestamp": 1700000000000_i64, "message": "{\"id\":\"ev-1\",\"name\":\"Sign in\",\"time\":\"2026-11-21T10:00:00Z\"}"},
                             {"id": "3002", "timestamp": 1700000000001_i64, "message": "{\"id\":\"ev-2\",\"name\":\"Sign out\",\"time\":\"2026-11-21T10:00:01Z\"}"}]})
        .to_string()
        .as_bytes(),
    );
    let payloads: Vec<Vec<u8>> = vec![
        event("r1").into_bytes(),
        event("r2").into_bytes(),
        b"this is not json".to_vec(),
        event("r1").into_bytes(), // a duplicate: raw keeps it, the event id dedupes later
        logs,
        event("r3").into_bytes(),
    ];
    let entries = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            PutRecordsRequestEntry::builder()
                .data(Blob::new(p.clone()))
                .partition_key(format!("pk-{i}"))
                .build()
                .unwrap()
        })
        .collect();
    let put = kinesis
        .put_records()
        .stream_name(&stream)
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_record_count(), Some(0));

    // The shipped spec, with the seed's stream name replaced by this test's stream.
    let spec_text = include_str!("../../spec/pipelines.yaml")
        .replace("stream: user-events", &format!("stream: {stream}"));
    let spec = Spec::parse(&spec_text).unwrap();
    let bucket = moto.new_bucket("lake").await.unwrap();
    let deps = IngestDeps::new(
        spec,
        Layout::single_bucket(&bucket),
        moto.s3_store(),
        SystemClock,
    );

    // Two batches of three, as a mapping with BatchSize 3 would send them.
    let reader = moto.kinesis_reader();
    let shard = reader.shards(&stream).await.unwrap().remove(0);
    let mut position = ShardPosition::TrimHorizon;
    let mut seen = 0;
    while seen < payloads.len() {
        let read = reader.read(&stream, &shard, &position, 3).await.unwrap();
        assert!(
            !read.records.is_empty(),
            "GetRecords returned nothing after {seen} records"
        );
        let (response, _) = handle_event(&deps, esm_event(&arn, &shard, &read.records))
            .await
            .unwrap();
        assert_eq!(response, json!({"batchItemFailures": []}));
        seen += read.records.len();
        position =
            ShardPosition::AfterSequence(read.records.last().unwrap().sequence_number.clone());
    }

    let mut keys = Vec::new();
    let mut next = None;
    loop {
        let page = deps.store.list(&bucket, "", next.as_deref()).await.unwrap();
        keys.extend(page.objects.into_iter().map(|o| o.key));
        match page.next {
            Some(n) => next = Some(n),
            None => break,
        }
    }
    let raw_events: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("raw/pipeline=user_events/"))
        .collect();
    let raw_logs: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("raw/pipeline=app_logs/"))
        .collect();
    let rejects: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("errors/rejects/stage=ingest/pipeline=_unknown/"))
        .collect();
    assert_eq!(
        (raw_events.len(), raw_logs.len(), rejects.len()),
        (2, 1, 1),
        "{keys:?}"
    );
    for key in &raw_events {
        assert!(
            key.contains(&format!("/kinesis-{shard}-")) && key.ends_with(".ndjson.zst"),
            "{key}"
        );
    }

    let mut ids = Vec::new();
    for key in &raw_events {
        for line in read_lines(&deps.store, &bucket, key).await {
            assert_eq!(line["pipeline"], "user_events");
            assert_eq!(line["origin"]["stream"], stream.as_str());
            ids.push(line["event_id"].as_str().unwrap().to_owned());
        }
    }
    ids.sort();
    assert_eq!(ids, ["r1", "r1", "r2", "r3"]);
    let logs = read_lines(&deps.store, &bucket, raw_logs[0]).await;
    let log_ids: Vec<&str> = logs
        .iter()
        .map(|l| l["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(log_ids, ["ev-1", "ev-2"]);
    assert_eq!(logs[0]["origin"]["log_event_id"], "3001");

    let reject = read_lines(&deps.store, &bucket, rejects[0]).await;
    assert_eq!(reject.len(), 1);
    assert_eq!(reject[0]["reason"], "invalid_json");
    assert_eq!(reject[0]["stage"], "ingest");
    assert_eq!(reject[0]["position"], json!({"record": 2, "event": 0}));
    assert_eq!(reject[0]["source"]["kind"], "kinesis");
    assert_eq!(
        reject[0]["source"]["sequence"],
        put.records()[2].sequence_number().unwrap()
    );
    let raw = base64::engine::general_purpose::STANDARD
        .decode(reject[0]["raw"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw, b"this is not json");
}
