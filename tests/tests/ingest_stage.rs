//! The ingest handlers on every sample (responses written out under samples/expected/ingest/),
//! and the contracts that samples alone do not show: partial batch responses when a write fails,
//! duplicates written twice on retry, the Firehose 6 MB response budget.
//!
//! Storage is the real local adapter (a temp directory), wrapped where a write must fail in the
//! shared fault wrapper (`loglift_tests::faults::Faulty`): no real part fails on request.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use loglift_core::spec::Spec;
use loglift_core::storage::Layout;
use loglift_core::wire::{FirehoseBatch, KinesisBatch};
use loglift_local::FsObjectStore;
use loglift_ports::{FixedClock, ObjectStore, StreamRecord};
use loglift_stages::ingest::{handle_event, handle_firehose, handle_kinesis, IngestDeps};
use loglift_tests::emulate::esm_event;
use loglift_tests::faults::{FaultKind, FaultPlan, FaultSpec, Faulty, Step, Target};
use serde_json::{json, Value};

const SPEC: &str = include_str!("../../spec/pipelines.yaml");
const BUCKET: &str = "lake";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn clock() -> FixedClock {
    FixedClock(
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
            .single()
            .expect("fixed time"),
    )
}

fn deps<S: ObjectStore>(store: S) -> IngestDeps<S, FixedClock> {
    IngestDeps::new(
        Spec::parse(SPEC).expect("shipped spec"),
        Layout::single_bucket(BUCKET),
        store,
        clock(),
    )
}

async fn all_keys<S: ObjectStore>(store: &S) -> Vec<String> {
    let mut keys = Vec::new();
    let mut next = None;
    loop {
        let page = store.list(BUCKET, "", next.as_deref()).await.expect("list");
        keys.extend(page.objects.into_iter().map(|o| o.key));
        match page.next {
            Some(n) => next = Some(n),
            None => return keys,
        }
    }
}

#[tokio::test]
async fn every_sample_through_the_handler_matches_its_expected_response() {
    let samples = repo().join("samples/events");
    let mut names: Vec<String> = std::fs::read_dir(&samples)
        .expect("samples/events")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    let bless = std::env::var("LOGLIFT_BLESS").is_ok();
    let mut mismatches = Vec::new();
    for name in names {
        let dir = tempfile::tempdir().expect("tempdir");
        let deps = deps(FsObjectStore::new(dir.path().to_path_buf()));
        let event: Value =
            serde_json::from_slice(&std::fs::read(samples.join(&name)).expect("read"))
                .expect("json");
        let (response, tally) = handle_event(&deps, event)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let pipelines: BTreeMap<&String, Value> = tally
            .by_pipeline
            .iter()
            .map(|(p, c)| (p, json!({"in": c.records_in, "out": c.records_out, "rejected": c.rejected, "duplicates": c.duplicates})))
            .collect();
        let actual = json!({
            "response": response,
            "pipelines": pipelines,
            "unrouted_rejected": tally.unrouted.rejected,
            "dropped": tally.total().dropped,
            "rejects_by_reason": tally.rejects_by_reason,
            "objects_written": all_keys(&deps.store).await,
        });
        let expected_path = repo().join("samples/expected/ingest").join(&name);
        let pretty = serde_json::to_string_pretty(&actual).expect("json") + "\n";
        if bless {
            std::fs::write(&expected_path, &pretty).expect("write expected");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != pretty {
            mismatches.push(format!(
                "{name}: expected {} but got:\n{pretty}",
                expected_path.display()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{}\n(LOGLIFT_BLESS=1 rewrites the expected files; review the diff)",
        mismatches.join("\n")
    );
}

/// The local store, failing every put whose key contains `part` until the plan heals.
fn failing_puts(dir: &Path, part: &str) -> (Faulty<FsObjectStore>, FaultPlan) {
    let mut spec = FaultSpec::new(
        Step::PutObject,
        Target::contains(&[part]),
        1,
        FaultKind::Before,
    );
    spec.times = u32::MAX;
    let plan = FaultPlan::new(vec![spec], Duration::ZERO);
    (
        Faulty::new(FsObjectStore::new(dir.to_path_buf()), plan.clone()),
        plan,
    )
}

/// A Kinesis event-source event of shard 7 of `stream` (the shared builder, `esm_event`).
fn kinesis_event(stream: &str, records: &[(&str, Value)]) -> Value {
    let arrival = Utc
        .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
        .single()
        .expect("time");
    let records: Vec<StreamRecord> = records
        .iter()
        .map(|(seq, data)| StreamRecord {
            sequence_number: (*seq).to_owned(),
            partition_key: "pk".to_owned(),
            data: data.to_string().into(),
            approximate_arrival: arrival,
        })
        .collect();
    esm_event(
        &format!("arn:aws:kinesis:us-east-1:123456789012:stream/{stream}"),
        "shardId-000000000007",
        &records,
    )
}

#[tokio::test]
async fn a_failed_raw_write_reports_the_first_unwritten_sequence_and_the_retry_rewrites_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, plan) = failing_puts(dir.path(), "pipeline=user_utm");
    let deps = deps(store);
    // Two streams cannot share a batch, so route by stream: all events → user_events except the
    // utm ones, which we send as a second batch below; here one batch mixes good and bad records.
    let event = kinesis_event(
        "user-utm",
        &[
            (
                "100",
                json!({"request_id": "u1", "source": "adwords", "medium": "cpc"}),
            ),
            (
                "101",
                json!({"request_id": "u2", "source": "adwords", "medium": "cpc"}),
            ),
        ],
    );
    let batch = KinesisBatch::try_from(event.clone()).expect("kinesis batch");
    let (failures, _) = handle_kinesis(&deps, &batch).await;
    assert_eq!(
        serde_json::to_value(&failures).expect("json"),
        json!({"batchItemFailures": [{"itemIdentifier": "100"}]})
    );
    assert!(
        all_keys(&deps.store).await.is_empty(),
        "nothing durable was claimed"
    );

    // The outage ends; Lambda retries from 100 (here: the whole batch), then a bisected retry of
    // the second half writes record 101 again under another key. The event id dedupes it later.
    plan.heal();
    let (failures, _) = handle_kinesis(&deps, &batch).await;
    assert!(failures.batch_item_failures.is_empty());
    let half = KinesisBatch::try_from(kinesis_event(
        "user-utm",
        &[(
            "101",
            json!({"request_id": "u2", "source": "adwords", "medium": "cpc"}),
        )],
    ))
    .expect("batch");
    let (failures, _) = handle_kinesis(&deps, &half).await;
    assert!(failures.batch_item_failures.is_empty());
    let keys = all_keys(&deps.store).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys[0].ends_with("kinesis-shardId-000000000007-100-101.ndjson.zst"),
        "{keys:?}"
    );
    assert!(
        keys[1].ends_with("kinesis-shardId-000000000007-101-101.ndjson.zst"),
        "{keys:?}"
    );
    let mut ids = Vec::new();
    for key in &keys {
        let mut body = Vec::new();
        let mut object = deps.store.get(BUCKET, key).await.expect("get");
        tokio::io::AsyncReadExt::read_to_end(&mut object.body, &mut body)
            .await
            .expect("read");
        let text = loglift_core::compress::decompress(&body, &Default::default())
            .expect("gunzip")
            .into_owned();
        for line in String::from_utf8(text).expect("utf-8").lines() {
            let v: Value = serde_json::from_str(line).expect("raw line");
            ids.push(v["event_id"].as_str().expect("id").to_owned());
        }
    }
    ids.sort();
    assert_eq!(
        ids,
        ["u1", "u2", "u2"],
        "u2 is in raw twice; its id is the same both times"
    );
}

#[tokio::test]
async fn a_failed_reject_write_fails_the_records_it_held() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _plan) = failing_puts(dir.path(), "errors/");
    let deps = deps(store);
    let mut event = kinesis_event(
        "user-events",
        &[
            ("200", json!({"request_id": "e1"})),
            ("201", json!({"nothing": 1})),
        ],
    );
    let batch = KinesisBatch::try_from(event.take()).expect("batch");
    let (failures, tally) = handle_kinesis(&deps, &batch).await;
    assert_eq!(failures.batch_item_failures.len(), 1);
    assert_eq!(failures.batch_item_failures[0].item_identifier, "201");
    assert_eq!(tally.rejects_by_reason.get("missing_identity"), Some(&1));
}

/// A Firehose batch of the user-events delivery stream, records `rec-0`, `rec-1`, … holding `data`.
fn user_events_batch(data: impl IntoIterator<Item = Vec<u8>>) -> FirehoseBatch {
    use base64::Engine as _;
    let records: Vec<Value> = data
        .into_iter()
        .enumerate()
        .map(|(i, data)| {
            json!({"recordId": format!("rec-{i}"), "approximateArrivalTimestamp": 1763726400000_i64,
                   "data": base64::engine::general_purpose::STANDARD.encode(data)})
        })
        .collect();
    let event = json!({"invocationId": "inv-1", "region": "us-east-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/user-events", "records": records});
    FirehoseBatch::try_from(event).expect("firehose batch")
}

#[tokio::test]
async fn firehose_answers_every_record_within_the_response_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut deps = deps(FsObjectStore::new(dir.path().to_path_buf()));
    let big = "x".repeat(3000);
    let batch = user_events_batch((0..10).map(|i| {
        json!({"request_id": format!("r{i}"), "topic": "t", "message": big})
            .to_string()
            .into_bytes()
    }));
    // Room for about five transformed records: the rest must fail, not overflow.
    deps.response_budget = 43_000;
    let (response, tally) = handle_firehose(&deps, &batch).await.expect("handled");
    let body = serde_json::to_string(&response).expect("json");
    assert!(
        body.len() <= deps.response_budget,
        "{} > {}",
        body.len(),
        deps.response_budget
    );
    let ids: Vec<&str> = response
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    assert_eq!(
        ids,
        (0..10).map(|i| format!("rec-{i}")).collect::<Vec<_>>(),
        "every recordId, in order"
    );
    let results: Vec<String> = response
        .records
        .iter()
        .map(|r| format!("{:?}", r.result))
        .collect();
    let ok = results.iter().filter(|r| *r == "Ok").count();
    assert!((1..10).contains(&ok), "{results:?}");
    assert!(
        results[..ok].iter().all(|r| r == "Ok")
            && results[ok..].iter().all(|r| r == "ProcessingFailed"),
        "{results:?}"
    );
    assert_eq!(
        tally.rejects_by_reason.get("response_too_large"),
        Some(&((10 - ok) as u64))
    );
    let rejects = all_keys(&deps.store).await;
    assert_eq!(rejects, ["errors/rejects/stage=ingest/pipeline=user_events/dt=2025-11-21/hour=12/firehose-inv-1.ndjson.gz"]);
}

#[tokio::test]
async fn a_record_stops_being_read_once_its_answer_cannot_fit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut deps = deps(FsObjectStore::new(dir.path().to_path_buf()));
    let event =
        |i: usize| json!({"request_id": format!("r{i}"), "topic": "t", "message": "m".repeat(200)});
    let small = |i: usize| event(i).to_string().into_bytes();
    // 400 events, gzip: about 2 KB sent, about 150 KB of lines.
    let many: Vec<u8> = {
        let text: String = (100..500).map(|i| format!("{}\n", event(i))).collect();
        loglift_core::compress::gzip(text.as_bytes())
    };
    let batch = user_events_batch([small(0), many.clone(), small(1)]);
    // Room for the small records, not for the 400 events' lines.
    deps.response_budget = 20_000;
    let (response, tally) = handle_firehose(&deps, &batch).await.expect("handled");
    let results: Vec<String> = response
        .records
        .iter()
        .map(|r| format!("{:?}", r.result))
        .collect();
    assert_eq!(results, ["Ok", "ProcessingFailed", "Ok"]);
    // A failed answer sends no data back: Firehose writes the original to its error output.
    assert!(response.records[1].data.is_empty());
    // Counted as the events read before it stopped: fewer than the record holds.
    let too_large = tally.rejects_by_reason.get("response_too_large").copied();
    assert!(matches!(too_large, Some(1..400)), "{too_large:?}");
    assert_eq!(tally.total().records_out, 2);

    // Its reject record holds the whole record, as sent.
    let keys = all_keys(&deps.store).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let rejects: Vec<loglift_core::reject::RejectRecord> = object_lines(&deps.store, &keys[0])
        .await
        .iter()
        .map(|l| serde_json::from_str(l).expect("reject record"))
        .collect();
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].reason.code(), "response_too_large");
    assert!(
        rejects[0].message.contains("(over "),
        "{}",
        rejects[0].message
    );
    assert_eq!(rejects[0].raw_bytes().expect("base64"), many);
}

/// The largest Firehose invocation of CloudWatch Logs records (app_logs) the generator makes at
/// the 3 MB Firehose event size, with no duplicates or bad records.
fn cloudwatch_logs_batch() -> FirehoseBatch {
    use loglift_samplegen::{generate, FileKind, GenOptions, Mix};
    let generated = generate(&GenOptions {
        events: 13_000,
        dup_rate: 0.0,
        bad_rate: 0.0,
        seed: 16,
        firehose_response_bytes: usize::MAX,
        mix: Mix::only("app_logs").expect("app_logs"),
        ..GenOptions::default()
    })
    .expect("generate");
    let body = generated
        .files
        .into_iter()
        .filter(|f| f.kind == FileKind::Firehose)
        .max_by_key(|f| f.body.len())
        .expect("a Firehose invocation")
        .body;
    assert!(body.len() > 2_500_000, "{} bytes", body.len());
    FirehoseBatch::from_slice(&body).expect("firehose batch")
}

#[tokio::test]
async fn a_3_mb_cloudwatch_logs_batch_fits_its_response_as_gzip_members() {
    let batch = cloudwatch_logs_batch();
    let plain = deps(loglift_local::MemoryStore::new());
    let (response, tally) = handle_firehose(&plain, &batch).await.expect("handled");
    let too_large = tally.rejects_by_reason.get("response_too_large").copied();
    assert!(
        too_large > Some(0),
        "decompressed lines overflow: {too_large:?}"
    );
    let plain_lines = {
        let unlimited = IngestDeps {
            response_budget: usize::MAX,
            ..deps(loglift_local::MemoryStore::new())
        };
        let (response, _) = handle_firehose(&unlimited, &batch).await.expect("handled");
        delivered_lines(&unlimited, &response).await
    };
    drop(response);

    let gzip = IngestDeps {
        gzip_delivery_streams: [batch.delivery_stream.clone()].into(),
        ..deps(loglift_local::MemoryStore::new())
    };
    let (response, tally) = handle_firehose(&gzip, &batch).await.expect("handled");
    let body = serde_json::to_vec(&response).expect("json");
    assert!(
        body.len() <= loglift_stages::ingest::RESPONSE_CAP,
        "{}",
        body.len()
    );
    let results: std::collections::BTreeSet<String> = response
        .records
        .iter()
        .map(|r| format!("{:?}", r.result))
        .collect();
    assert!(
        results.iter().all(|r| r == "Ok" || r == "Dropped"),
        "{results:?} {:?}",
        tally.rejects_by_reason
    );
    let lines = delivered_lines(&gzip, &response).await;
    assert_eq!(lines.len() as u64, tally.total().records_out);
    assert_eq!(lines, plain_lines, "the same raw lines, compressed");
    println!(
        "{} records, {} bytes in, {} events, response {} bytes",
        batch.records.len(),
        batch
            .records
            .iter()
            .map(|r| r.data.as_ref().map_or(0, Vec::len))
            .sum::<usize>(),
        lines.len(),
        body.len()
    );
}

/// The lines of what Firehose writes from a response (sorted), read as transform reads objects.
async fn delivered_lines(
    deps: &IngestDeps<loglift_local::MemoryStore, FixedClock>,
    response: &loglift_core::wire::FirehoseResponse,
) -> Vec<String> {
    let keys = loglift_stages::firehose::deliver(&deps.store, &deps.layout, "inv", response)
        .await
        .expect("delivered");
    let mut lines = Vec::new();
    for key in keys {
        lines.extend(object_lines(&deps.store, &key).await);
    }
    lines.sort();
    lines
}

/// The lines of an object of the lake bucket, read as transform reads objects (any compression).
async fn object_lines<S: ObjectStore>(store: &S, key: &str) -> Vec<String> {
    use std::io::BufRead as _;
    let mut object = store.get(BUCKET, key).await.expect("object");
    let mut body = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut object.body, &mut body)
        .await
        .expect("read");
    let (_, reader) =
        loglift_core::compress::open_stream(std::io::Cursor::new(body)).expect("stream");
    reader.lines().map(|line| line.expect("line")).collect()
}
