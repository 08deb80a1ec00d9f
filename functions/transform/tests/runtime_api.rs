//! The real `transform` binary under the Lambda Runtime API, against moto: a test server hands
//! it SQS events as the event source mapping would and collects its partial batch responses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use bytes::Bytes;
use loglift_ports::{ObjectStore, Queue};
use loglift_tests::runtime_api::{Posted, RuntimeApi};
use loglift_tests::{moto, TestQueues};
use serde_json::{json, Value};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn sqs_record(id: &str, body: &Value) -> Value {
    json!({
        "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:loglift-transform", "awsRegion": "us-east-1"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transforms_notified_objects_through_the_runtime_api() {
    let Some(env) = moto() else { return };
    let bucket = env.new_bucket("transform-fn").await.unwrap();
    let queues = env.sqs_queue();
    let loader = queues
        .create(
            &loglift_tests::unique_name("loader"),
            Duration::from_secs(30),
            None,
        )
        .await
        .unwrap();
    let store = env.s3_store();
    let key = "landing/partner_catalog/a b.jsonl";
    let lines = "{\"partner_name\":\"expedia\",\"accommodation_id\":\"h1\",\"accommodation_data\":{}}\n{\"partner_name\":\"x\"}\n";
    store
        .put(
            &bucket,
            key,
            Bytes::from_static(lines.as_bytes()),
            "application/x-ndjson",
        )
        .await
        .unwrap();

    let api = RuntimeApi::start().expect("runtime api");
    let spec = format!("{REPO}/spec/pipelines.yaml");
    let _transform = api
        .start_function(
            env!("CARGO_BIN_EXE_transform"),
            "loglift-transform",
            &[
                ("AWS_ENDPOINT_URL", &env.url),
                ("LOGLIFT_SPEC", &spec),
                ("LOGLIFT_LAKE_BUCKET", &bucket),
                ("LOGLIFT_LOADER_QUEUE", &loader),
            ],
        )
        .expect("start the transform binary");
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": bucket});
    let created = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "eventTime": "2026-11-21T10:00:00.000Z",
        "s3": {"bucket": {"name": bucket}, "object": {"key": "landing/partner_catalog/a+b.jsonl", "size": 1}}}]});
    let event = json!({"Records": [
        sqs_record("m1", &test_event),
        sqs_record("m2", &created),
        {"messageId": "m3", "receiptHandle": "rh", "body": "not json", "attributes": {}, "eventSource": "aws:sqs",
         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:loglift-transform"},
    ]});
    api.push_event("req-1", &event.to_string());
    let posted = tokio::task::spawn_blocking(move || api.wait_posted(1, Duration::from_secs(60)))
        .await
        .unwrap();
    let [Posted::Response { body, .. }] = posted.as_slice() else {
        panic!("{posted:?}")
    };
    let response: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m3"}]})
    );

    let messages = queues
        .receive(&loader, 10, Duration::ZERO, None)
        .await
        .unwrap();
    assert_eq!(messages.len(), 1);
    let message: Value = serde_json::from_str(&messages[0].body).unwrap();
    assert_eq!(message["source"]["key"], key);
    assert_eq!(message["rejected"], 1);
    assert_eq!(message["objects"][0]["rows"], 1);
    let failure = store
        .head(&bucket, "errors/failures/queue=loglift-transform/m3.json")
        .await
        .unwrap();
    assert!(failure.is_some(), "the poison message's reason is recorded");
}

#[test]
fn names_the_failure_kind_of_a_failed_invocation() {
    // A batch that is not the SQS event shape fails the whole invocation as a malformed event,
    // not as a Rust type name (a failed message is a partial batch response instead).
    let api = RuntimeApi::start().expect("runtime api");
    let spec = format!("{REPO}/spec/pipelines.yaml");
    let _transform = api
        .start_function(
            env!("CARGO_BIN_EXE_transform"),
            "loglift-transform",
            &[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
                ("LOGLIFT_SPEC", &spec),
                ("LOGLIFT_LAKE_BUCKET", "lake"),
                (
                    "LOGLIFT_LOADER_QUEUE",
                    "http://127.0.0.1:9/123456789012/loader",
                ),
            ],
        )
        .expect("start the transform binary");
    api.push_event("req-1", r#"{"Records":5}"#);
    let posted = api.wait_posted(1, Duration::from_secs(60));
    let [Posted::Error { request_id, body }] = posted.as_slice() else {
        panic!("{posted:?}")
    };
    assert_eq!(request_id, "req-1");
    let error: Value = serde_json::from_str(body).unwrap();
    assert_eq!(error["errorType"], "loglift::MalformedEvent", "{error}");
    assert!(
        error["errorMessage"].as_str().unwrap().contains("Records"),
        "{error}"
    );
}
