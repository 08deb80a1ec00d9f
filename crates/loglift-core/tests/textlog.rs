//! Plain-text logs through both entries with the shipped spec: a CloudWatch Logs subscription
//! batch from Lambda functions' log groups (ingest → raw → transform → curated rows) and an ALB
//! access log file dropped in the landing area (transform, gzip). Zero `invalid_json`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::Read as _;

use chrono::{DateTime, Utc};
use loglift_core::envelope::Limits;
use loglift_core::ingest::{process_record, RecordContext, RecordOutcome};
use loglift_core::route::Router;
use loglift_core::spec::Spec;
use loglift_core::sql::{json_rows, RowDecoder};
use loglift_core::storage::Layout;
use loglift_core::transform::{self, Context, Outcome, Sink, SourceKind, SourceObject};
use loglift_core::wire::KinesisBatch;
use serde_json::{json, Value};

const SPEC: &str = include_str!("../../../spec/pipelines.yaml");
const LAMBDA_LOGS: &[u8] = include_bytes!("../../../samples/events/kinesis-lambda-logs.json");
const ALB_FILE: &[u8] = include_bytes!(
    "../../../samples/landing/alb/123456789012_elasticloadbalancing_us-east-2_app.my-loadbalancer.50dc6c495c0c9188_20200601T0000Z_10.0.0.1_2ne2rrtu.log.gz"
);

#[derive(Default)]
struct MemSink {
    objects: BTreeMap<String, Vec<u8>>,
}

impl Sink for MemSink {
    type Error = String;
    fn put(&mut self, _: &str, key: &str, bytes: Vec<u8>, _: &str) -> Result<String, String> {
        self.objects.insert(key.to_owned(), bytes);
        Ok(format!("v{}", self.objects.len()))
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T10:11:12Z")
        .unwrap()
        .to_utc()
}

fn lines(bytes: &[u8]) -> Vec<Value> {
    let (_, mut r) = loglift_core::compress::open_stream(bytes).unwrap();
    let mut text = String::new();
    r.read_to_string(&mut text).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Run one object through transform; the curated rows and the reject records.
fn transform(
    spec: &Spec,
    pipeline: &str,
    kind: SourceKind,
    key: &str,
    bytes: &[u8],
) -> (Outcome, Vec<Value>, Vec<Value>) {
    let layout = Layout::single_bucket("lake");
    let source = SourceObject {
        bucket: "lake",
        key,
        version: "v1",
        kind,
        pipeline: spec.pipeline(pipeline).unwrap(),
        arrival: now(),
        ingested_at: now(),
    };
    let ctx = Context {
        layout: &layout,
        spec_version: spec.version,
        limits: transform::Limits::default(),
        now: now(),
        priority: &[],
    };
    let mut sink = MemSink::default();
    let (_, reader) = loglift_core::compress::open_stream(bytes).unwrap();
    let outcome = transform::transform_object(reader, &source, &ctx, &mut sink).unwrap();
    let mut rows = Vec::new();
    let mut rejects = Vec::new();
    for (key, bytes) in &sink.objects {
        if key.starts_with("curated/") {
            let decoder = RowDecoder::new(spec.pipeline(pipeline).unwrap()).unwrap();
            rows.extend(json_rows(&bytes[..], &decoder).unwrap());
        } else if key.starts_with("errors/") {
            rejects.extend(lines(bytes));
        }
    }
    (outcome, rows, rejects)
}

#[test]
fn lambda_log_groups_through_ingest_and_transform() {
    let spec = Spec::parse(SPEC).unwrap();
    let router = Router::new(&spec);
    let batch = KinesisBatch::from_slice(LAMBDA_LOGS).unwrap();
    let mut raw = Vec::new();
    for record in &batch.records {
        let ctx = RecordContext {
            stream: Some(&record.stream),
            shard: Some(&record.shard_id),
            sequence: Some(&record.sequence_number),
            arrival: record.arrival,
            ..RecordContext::default()
        };
        let data = record.data.as_ref().unwrap();
        match process_record(&router, data, &ctx, &Limits::default()) {
            RecordOutcome::Events { events, rejects } => {
                assert!(rejects.is_empty(), "{rejects:?}");
                for e in events {
                    assert_eq!(e.pipeline, "lambda_logs");
                    raw.extend_from_slice(&e.line);
                }
            }
            other => panic!("{other:?}"),
        }
    }
    let (outcome, rows, rejects) = transform(
        &spec,
        "lambda_logs",
        SourceKind::Raw,
        "raw/pipeline=lambda_logs/dt=2020-06-01/hour=00/a.ndjson",
        &raw,
    );
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(
        (outcome.events, outcome.valid, outcome.rejected),
        (11, 11, 0)
    );
    assert!(!outcome.rejects_by_reason.contains_key("invalid_json"));
    let reports: Vec<&Value> = rows
        .iter()
        .filter(|r| r["record_type"] == json!("REPORT"))
        .collect();
    assert_eq!(reports.len(), 2, "{rows:#?}");
    let cold = reports
        .iter()
        .find(|r| r["request_id"] == json!("8f507cfc-xmpl-4697-b07a-ac58fc914c95"))
        .unwrap();
    assert_eq!(cold["duration_ms"], json!(15.74));
    assert_eq!(cold["billed_duration_ms"], json!(147));
    assert_eq!(cold["memory_size_mb"], json!(128));
    assert_eq!(cold["max_memory_used_mb"], json!(56));
    assert_eq!(cold["init_duration_ms"], json!(130.49));
    assert_eq!(cold["event_time"], cold["logged_at"]);
    // The log event id stays the identity.
    assert!(
        rows.iter()
            .all(|r| r["event_id"].as_str().is_some_and(|id| id.len() == 56)),
        "{rows:#?}"
    );
    let printed: Vec<&str> = rows
        .iter()
        .filter(|r| r["record_type"].is_null())
        .filter_map(|r| r["message"].as_str())
        .collect();
    assert_eq!(printed, ["## EVENT", "{'key': 'value'}"]);
    let error = rows.iter().find(|r| r["level"] == json!("ERROR")).unwrap();
    assert_eq!(
        error["message"],
        json!("thumbnail failed: \"image/heic\" is not supported")
    );
}

#[test]
fn an_alb_file_in_the_landing_area() {
    let spec = Spec::parse(SPEC).unwrap();
    let (outcome, rows, rejects) = transform(
        &spec,
        "alb_access",
        SourceKind::Landing,
        "landing/alb/x.log.gz",
        ALB_FILE,
    );
    assert_eq!((outcome.events, outcome.valid, outcome.rejected), (5, 4, 1));
    assert_eq!(outcome.rejects_by_reason, BTreeMap::from([("no_match", 1)]));
    assert_eq!(rejects.len(), 1);
    let reject = &rejects[0];
    assert_eq!(reject["reason"], json!("no_match"), "{reject}");
    assert_eq!(reject["position"]["line"], json!(5), "{reject}");
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(reject["raw"].as_str().unwrap())
        .unwrap();
    assert!(
        String::from_utf8(raw)
            .unwrap()
            .ends_with(r#""GET http://www.example.com:80/ HTT"#),
        "the raw line is kept: {reject}"
    );
    let first = &rows[0];
    assert_eq!(first["time"], json!("2020-06-01 00:00:23.186641"));
    assert_eq!(first["client_port"], json!(2817));
    assert_eq!(first["elb_status_code"], json!(200));
    assert_eq!(first["request_method"], json!("GET"));
    assert!(first["ssl_protocol"].is_null());
    let quoted = rows
        .iter()
        .find(|r| r["request_type"] == json!("h2"))
        .unwrap();
    assert_eq!(
        quoted["user_agent"],
        json!("Mozilla/5.0 (X11; Linux x86_64) \"quoted\" build")
    );
    let lambda_error = rows
        .iter()
        .find(|r| r["elb_status_code"] == json!(502))
        .unwrap();
    assert!(lambda_error["target_ip"].is_null() && lambda_error["target_status_code"].is_null());
    assert_eq!(lambda_error["target_processing_time"], json!(-1.0));
    assert_eq!(lambda_error["error_reason"], json!("LambdaInvalidResponse"));
}
