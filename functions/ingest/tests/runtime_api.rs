//! The real `ingest` binary under the Lambda Runtime API: a test server hands it events and
//! collects its responses, as Lambda would.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use loglift_tests::runtime_api::{FunctionProcess, Posted, RuntimeApi};
use serde_json::Value;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn start(api: &RuntimeApi, spec: Option<&str>) -> FunctionProcess {
    let mut env = vec![("LOGLIFT_LAKE_BUCKET", "lake")];
    env.extend(spec.map(|spec| ("LOGLIFT_SPEC", spec)));
    api.start_function(env!("CARGO_BIN_EXE_ingest"), "loglift-ingest", &env)
        .expect("start the ingest binary")
}

#[test]
fn answers_a_firehose_batch_through_the_runtime_api() {
    let api = RuntimeApi::start().expect("runtime api");
    let _ingest = start(&api, Some(&format!("{REPO}/spec/pipelines.yaml")));
    let event = std::fs::read_to_string(format!(
        "{REPO}/samples/events/firehose-cloudwatch-logs.json"
    ))
    .expect("sample");
    api.push_event("req-1", &event);
    api.push_event("req-2", r#"{"Records":[]}"#);
    let posted = api.wait_posted(2, Duration::from_secs(60));
    assert_eq!(posted.len(), 2, "{posted:?}");
    let Posted::Response { request_id, body } = &posted[0] else {
        panic!("{posted:?}")
    };
    assert_eq!(request_id, "req-1");
    let response: Value = serde_json::from_str(body).expect("json response");
    let results: Vec<&str> = response["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["result"].as_str())
        .collect();
    assert_eq!(results, ["Dropped", "Ok", "Ok"]);
    let input: Value = serde_json::from_str(&event).expect("json");
    let ids = |v: &Value| -> Vec<String> {
        v["records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["recordId"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        ids(&response),
        ids(&input),
        "every recordId answered, in order"
    );
    assert_eq!(
        response["records"][1]["metadata"]["partitionKeys"]["pipeline"],
        "app_logs"
    );
    assert_eq!(
        posted[1],
        Posted::Response {
            request_id: "req-2".into(),
            body: r#"{"batchItemFailures":[]}"#.into()
        }
    );
}

#[test]
fn fails_its_init_without_a_spec() {
    // Lambda reports a runtime that exits during init as an init failure, with its stderr in the
    // function's log: the message must say what is missing. Nothing may be answered.
    let api = RuntimeApi::start().expect("runtime api");
    let mut ingest = start(&api, None);
    api.push_event("req-1", r#"{"Records":[]}"#);
    let out = ingest.wait_exit(Duration::from_secs(60));
    assert!(!out.0, "the process must exit with an error");
    assert!(out.1.contains("LOGLIFT_SPEC is not set"), "{}", out.1);
    assert!(
        api.wait_posted(1, Duration::from_millis(200)).is_empty(),
        "no invocation may be answered"
    );
}

/// The error object a failed invocation posted.
fn posted_error(posted: &[Posted]) -> Value {
    let [Posted::Error { body, .. }] = posted else {
        panic!("one invocation error expected: {posted:?}")
    };
    serde_json::from_str(body).expect("json error")
}

#[test]
fn names_the_failure_kind_of_a_failed_invocation() {
    // The reject file of an undecodable Firehose record cannot be written (nothing listens where
    // the object store should be): the invocation fails as an object-store failure, not as a Rust
    // type name. A payload of neither shape is an unknown event.
    let api = RuntimeApi::start().expect("runtime api");
    let spec = format!("{REPO}/spec/pipelines.yaml");
    let _ingest = api
        .start_function(
            env!("CARGO_BIN_EXE_ingest"),
            "loglift-ingest",
            &[
                ("LOGLIFT_LAKE_BUCKET", "lake"),
                ("LOGLIFT_SPEC", &spec),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
                ("AWS_MAX_ATTEMPTS", "1"),
            ],
        )
        .expect("start the ingest binary");
    let event = serde_json::json!({
        "invocationId": "inv-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/user-events-to-s3",
        "region": "us-east-1",
        "records": [{"recordId": "r1", "approximateArrivalTimestamp": 1590969625000u64, "data": "not base64!"}]
    });
    api.push_event("req-1", &event.to_string());
    let error = posted_error(&api.wait_posted(1, Duration::from_secs(60)));
    assert_eq!(error["errorType"], "loglift::ObjectStore", "{error}");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("writing reject records"),
        "{error}"
    );

    api.push_event("req-2", r#"{"hello":"world"}"#);
    let posted = api.wait_posted(2, Duration::from_secs(60));
    let error = posted_error(&posted[1..]);
    assert_eq!(error["errorType"], "loglift::UnknownEvent", "{error}");
}
