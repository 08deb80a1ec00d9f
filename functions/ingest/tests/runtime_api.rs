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
