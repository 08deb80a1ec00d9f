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

#[test]
fn answers_a_3_mb_cloudwatch_logs_batch_in_gzip_members_that_load_once_delivered() {
    use base64::Engine as _;
    use loglift_samplegen::{generate, FileKind, GenOptions, Mix};
    // The largest Firehose invocation of CloudWatch Logs records the generator makes at the
    // 3 MB Firehose event size: decompressed, its raw lines overflow a 6 MB response.
    let generated = generate(&GenOptions {
        events: 13_000,
        dup_rate: 0.0,
        bad_rate: 0.0,
        seed: 17,
        firehose_response_bytes: usize::MAX,
        mix: Mix::only("app_logs").unwrap(),
        ..GenOptions::default()
    })
    .unwrap();
    let event = generated
        .files
        .into_iter()
        .filter(|f| f.kind == FileKind::Firehose)
        .max_by_key(|f| f.body.len())
        .unwrap()
        .body;
    assert!(event.len() > 2_500_000, "{} bytes", event.len());
    let input: Value = serde_json::from_slice(&event).unwrap();
    let delivery_stream =
        loglift_core::wire::name_from_arn(input["deliveryStreamArn"].as_str().unwrap())
            .unwrap()
            .to_owned();
    // What the records hold: every DATA_MESSAGE's log events.
    let b64 = base64::engine::general_purpose::STANDARD;
    let log_events: usize = input["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let data = b64.decode(r["data"].as_str().unwrap()).unwrap();
            let json = loglift_core::compress::decompress(&data, &Default::default()).unwrap();
            let payload = loglift_core::cwlogs::parse(&json).unwrap();
            match payload.message_type {
                loglift_core::cwlogs::MessageType::DataMessage => payload.log_events.len(),
                loglift_core::cwlogs::MessageType::ControlMessage => 0,
            }
        })
        .sum();

    let api = RuntimeApi::start().expect("runtime api");
    let spec = format!("{REPO}/spec/pipelines.yaml");
    let _ingest = api
        .start_function(
            env!("CARGO_BIN_EXE_ingest"),
            "loglift-ingest",
            &[
                ("LOGLIFT_LAKE_BUCKET", "lake"),
                ("LOGLIFT_SPEC", &spec),
                ("LOGLIFT_FIREHOSE_GZIP_STREAMS", &delivery_stream),
            ],
        )
        .expect("start the ingest binary");
    api.push_event("req-1", std::str::from_utf8(&event).unwrap());
    let posted = api.wait_posted(1, Duration::from_secs(120));
    let [Posted::Response { body, .. }] = posted.as_slice() else {
        panic!("{posted:?}")
    };
    assert!(
        body.len() <= 6 * 1024 * 1024,
        "response {} bytes",
        body.len()
    );
    let response: loglift_core::wire::FirehoseResponse = serde_json::from_str(body).unwrap();
    assert_eq!(
        response.records.len(),
        input["records"].as_array().unwrap().len()
    );
    let results: std::collections::BTreeSet<String> = response
        .records
        .iter()
        .map(|r| format!("{:?}", r.result))
        .collect();
    assert!(
        results.iter().all(|r| r == "Ok" || r == "Dropped"),
        "{results:?}"
    );

    // Firehose writes the Ok records' data, concatenated per partition (UNCOMPRESSED); transform
    // reads those objects and the loader loads every log event once.
    let dir = tempfile::tempdir().unwrap();
    let spec = loglift_runtime::local::load_spec(None).unwrap();
    let local = loglift_runtime::local::Local::open(dir.path(), spec).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let drained = rt.block_on(async {
        local.deliver_firehose("inv-1", &response).await.unwrap();
        local.drain().await.unwrap()
    });
    assert_eq!(drained.failed_messages, 0, "{drained:?}");
    let inserted: u64 = drained.tables.values().map(|r| r.inserted).sum();
    assert_eq!(inserted, log_events as u64, "{drained:?}");
}
