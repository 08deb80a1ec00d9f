use super::*;
use crate::spec::Spec;
use crate::storage::Layout;
use std::io::Read as _;

/// The object store stands in as a map: the core's sink is its own port.
#[derive(Default)]
struct MemSink {
    objects: BTreeMap<String, Vec<u8>>,
    fail_on: Option<String>,
}

impl Sink for MemSink {
    type Error = String;
    fn put(&mut self, bucket: &str, key: &str, bytes: Vec<u8>, _: &str) -> Result<String, String> {
        if self.fail_on.as_deref().is_some_and(|f| key.contains(f)) {
            return Err("injected".into());
        }
        let etag = format!("{:x}", md5::Md5::digest(&bytes));
        self.objects.insert(format!("{bucket}/{key}"), bytes);
        Ok(etag)
    }
}

use md5::Digest as _;

/// The rows of a curated part (Parquet: read with the columns of the shipped spec's pipeline
/// whose table they are) or a reject file, as JSON objects.
fn gunzip_lines(bytes: &[u8]) -> Vec<Value> {
    if crate::columnar::is_parquet(bytes) {
        return parquet_rows(bytes);
    }
    let (_, mut r) = crate::compress::open_stream(bytes).unwrap();
    let mut text = String::new();
    r.read_to_string(&mut text).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn parquet_rows(bytes: &[u8]) -> Vec<Value> {
    use crate::sql::{json_rows, table_columns, RowDecoder};
    let names: Vec<String> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            bytes::Bytes::copy_from_slice(bytes),
        )
        .unwrap()
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let columns = spec()
        .pipelines
        .iter()
        .map(table_columns)
        .find(|c| c.iter().map(|c| &c.name).eq(names.iter()))
        .expect("a pipeline of the shipped spec");
    json_rows(bytes, &RowDecoder::from_columns(columns)).unwrap()
}

fn spec() -> Spec {
    Spec::parse(include_str!("../../../../spec/pipelines.yaml")).unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T10:11:12Z")
        .unwrap()
        .to_utc()
}

fn run(
    spec: &Spec,
    pipeline: &str,
    kind: SourceKind,
    input: &[u8],
    limits: Limits,
    priority: &[String],
) -> (Outcome, MemSink) {
    let layout = Layout::single_bucket("lake");
    let source = SourceObject {
        bucket: "lake",
        key: "raw/pipeline=x/dt=2026-11-21/hour=10/k.ndjson.gz",
        version: "etag1",
        kind,
        pipeline: spec.pipeline(pipeline).unwrap(),
        arrival: now(),
        ingested_at: now(),
    };
    let ctx = Context {
        layout: &layout,
        spec_version: spec.version,
        limits,
        now: now(),
        priority,
    };
    let mut sink = MemSink::default();
    let (_, reader) = crate::compress::open_stream(input).unwrap();
    let outcome = transform_object(reader, &source, &ctx, &mut sink).unwrap();
    (outcome, sink)
}

fn raw_line(pipeline: &str, id: &str, data: Value) -> String {
    serde_json::json!({"pipeline": pipeline, "event_id": id, "arrived_at": "2026-11-21T10:00:00.000Z",
        "origin": {"stream": "user-events"}, "data": data})
    .to_string()
}

fn user_event(id: &str, ts: &str) -> Value {
    serde_json::json!({"request_id": id, "request_timestamp": ts, "cookie_id": "c", "topic": "t", "unknown": 1})
}

#[test]
fn raw_objects_become_curated_parts_by_event_hour_with_rejects_and_a_loader_message() {
    let spec = spec();
    let input = [
        raw_line("user_events", "a", user_event("a", "2020-06-01T00:00:24Z")),
        raw_line("user_events", "b", user_event("b", "2020-06-01T01:30:00Z")),
        String::new(),
        raw_line("user_events", "c", serde_json::json!({"request_id": "c"})),
        raw_line("user_utm", "d", serde_json::json!({})),
        "{not json".into(),
        raw_line(
            "user_events",
            "e",
            user_event("e", "2020-06-01T00:59:59.5Z"),
        ),
    ]
    .join("\n");
    let gz = crate::compress::gzip(input.as_bytes());
    let (outcome, sink) = run(
        &spec,
        "user_events",
        SourceKind::Raw,
        &gz,
        Limits::default(),
        &[],
    );
    assert_eq!((outcome.events, outcome.valid, outcome.rejected), (6, 3, 3));
    assert_eq!(
        outcome.rejects_by_reason,
        BTreeMap::from([
            ("invalid_json", 1),
            ("missing_required", 1),
            ("mixed_pipelines", 1)
        ])
    );
    let sid = source_id(
        "lake",
        "raw/pipeline=x/dt=2026-11-21/hour=10/k.ndjson.gz",
        "etag1",
    );
    let keys: Vec<&str> = outcome.curated.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            format!("curated/pipeline=user_events/dt=2020-06-01/hour=00/{sid}-00000.parquet"),
            format!("curated/pipeline=user_events/dt=2020-06-01/hour=01/{sid}-00000.parquet"),
        ]
    );
    let first = &outcome.curated[0];
    assert_eq!(first.rows, 2);
    assert_eq!(
        first.min_event_time.as_deref(),
        Some("2020-06-01 00:00:24.000000")
    );
    assert_eq!(
        first.max_event_time.as_deref(),
        Some("2020-06-01 00:59:59.500000")
    );
    let rows = gunzip_lines(&sink.objects[&format!("lake/{}", first.key)]);
    assert_eq!(rows[0]["event_id"], "a");
    assert_eq!(rows[0]["extra"], serde_json::json!({"unknown": 1}));
    assert_eq!(rows[1]["request_timestamp"], "2020-06-01 00:59:59.500000");
    let rejects_key = format!(
        "errors/rejects/stage=transform/pipeline=user_events/dt=2026-11-21/hour=10/{sid}-00000.ndjson.gz"
    );
    assert_eq!(outcome.reject_files, std::slice::from_ref(&rejects_key));
    let rejects = gunzip_lines(&sink.objects[&format!("lake/{rejects_key}")]);
    let lines: Vec<u64> = rejects
        .iter()
        .map(|r| r["position"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [4, 5, 6]);
    let message = outcome
        .loader_message(
            &SourceObject {
                bucket: "lake",
                key: "k",
                version: "v",
                kind: SourceKind::Raw,
                pipeline: spec.pipeline("user_events").unwrap(),
                arrival: now(),
                ingested_at: now(),
            },
            spec.version,
        )
        .unwrap();
    assert_eq!(message.table, "tracking.events");
    assert_eq!(message.objects.len(), 2);
    assert_eq!(message.rejected, 3);
}

#[test]
fn the_same_object_twice_writes_the_same_keys_and_bytes() {
    let spec = spec();
    let input: String = (0..500)
        .map(|i| {
            raw_line(
                "user_events",
                &format!("id{i}"),
                user_event(
                    &format!("id{i}"),
                    &format!("2020-06-01T{:02}:00:00Z", i % 24),
                ),
            ) + "\n"
        })
        .collect();
    let limits = Limits {
        target_part_bytes: 4096,
        ..Limits::default()
    };
    let (a, sa) = run(
        &spec,
        "user_events",
        SourceKind::Raw,
        input.as_bytes(),
        limits,
        &[],
    );
    let (b, sb) = run(
        &spec,
        "user_events",
        SourceKind::Raw,
        input.as_bytes(),
        limits,
        &[],
    );
    assert_eq!(a, b);
    assert_eq!(sa.objects, sb.objects);
}

#[test]
fn parts_roll_over_at_the_target_and_the_budget_without_losing_rows() {
    let spec = spec();
    let input: String = (0..2000)
        .map(|i| {
            raw_line(
                "user_events",
                &format!("id{i}"),
                user_event(
                    &format!("id{i}"),
                    &format!("2020-06-01T{:02}:00:00Z", i % 24),
                ),
            ) + "\n"
        })
        .collect();
    let limits = Limits {
        target_part_bytes: 20_000,
        max_open_parts: 5,
        buffer_budget: 4096,
        ..Limits::default()
    };
    let (outcome, sink) = run(
        &spec,
        "user_events",
        SourceKind::Raw,
        input.as_bytes(),
        limits,
        &[],
    );
    assert_eq!(outcome.valid, 2000);
    let rows: u64 = outcome.curated.iter().map(|o| o.rows).sum();
    assert_eq!(rows, 2000);
    let mut ids = std::collections::BTreeSet::new();
    for object in &outcome.curated {
        let lines = gunzip_lines(&sink.objects[&format!("lake/{}", object.key)]);
        assert_eq!(lines.len() as u64, object.rows);
        let raw: usize = lines.iter().map(|l| l.to_string().len() + 1).sum();
        assert!(raw < 20_000 + 1024, "{} is {raw} bytes", object.key);
        for line in lines {
            assert!(ids.insert(line["event_id"].as_str().unwrap().to_owned()));
        }
    }
    assert!(outcome.curated.len() > 24, "{}", outcome.curated.len());
    let hour5: Vec<&str> = outcome
        .curated
        .iter()
        .filter(|o| o.key.contains("hour=05"))
        .map(|o| o.key.rsplit('-').next().unwrap())
        .collect();
    assert!(
        hour5.starts_with(&["00000.parquet", "00001.parquet"]),
        "{hour5:?}"
    );
}

#[test]
fn landing_tsv_runs_the_search_keyword_job_and_rejects_bad_rows() {
    let spec = spec();
    let header = "hit_time_gmt\tdate_time\tuser_agent\tip\tevent_list\tgeo_city\tgeo_region\tgeo_country\tpagename\tpage_url\tproduct_list\treferrer";
    let rows = [
        "1254033280\t2009-09-27 06:34:40\tMozilla\t67.98.123.1\t\tSalem\tOR\tUS\tHome\thttp://www.esshopzilla.com\t\thttp://www.google.com/search?hl=en&q=Ipod",
        "1254033379\t2009-09-27 06:36:19\tMozilla\t67.98.123.1\t1\tSalem\tOR\tUS\tOrder Complete\thttps://www.esshopzilla.com/checkout/?a=confirm\tElectronics;Ipod - Touch - 32GB;1;290;,\thttps://www.esshopzilla.com/checkout/?a=review",
        "not\tenough",
        "x\t\t\t1.2.3.4\t\t\t\t\t\t\t\t",
    ];
    let input = format!("{header}\n{}\n", rows.join("\n"));
    let (outcome, sink) = run(
        &spec,
        "hit_data",
        SourceKind::Landing,
        input.as_bytes(),
        Limits::default(),
        &[],
    );
    assert_eq!((outcome.valid, outcome.rejected), (2, 2));
    assert_eq!(
        outcome.rejects_by_reason,
        BTreeMap::from([("bad_tsv", 1), ("bad_timestamp", 1)])
    );
    let curated = &outcome.curated[0];
    assert!(
        curated
            .key
            .starts_with("curated/pipeline=hit_data/dt=2009-09-27/hour=06/"),
        "{}",
        curated.key
    );
    let report = outcome
        .reports
        .iter()
        .find(|k| k.ends_with("_SearchKeywordPerformance.tab"))
        .unwrap();
    assert!(
        report.starts_with("reports/pipeline=hit_data/job=search_keyword_revenue/source="),
        "{report}"
    );
    assert!(
        report.ends_with("/2026-11-21_SearchKeywordPerformance.tab"),
        "{report}"
    );
    let text = String::from_utf8(sink.objects[&format!("lake/{report}")].clone()).unwrap();
    assert_eq!(
        text,
        "Search Engine Domain\tSearch Keyword\tRevenue\ngoogle.com\tipod\t290.00\n"
    );
}

#[test]
fn landing_json_arrays_and_lines_give_the_same_rows_and_consolidation() {
    let spec = spec();
    let records = [
        serde_json::json!({"partner_name": "booking", "accommodation_id": "h1", "accommodation_data": {"n": 1}}),
        serde_json::json!({"partner_name": "expedia", "accommodation_id": "h1", "accommodation_data": {"n": 2}}),
        serde_json::json!({"partner_name": "other", "accommodation_id": "h2", "accommodation_data": {}}),
    ];
    let lines: String = records.iter().map(|r| r.to_string() + "\n").collect();
    let array = serde_json::to_string_pretty(&records).unwrap();
    let priority = ["expedia".to_owned(), "booking".to_owned()];
    let (a, sa) = run(
        &spec,
        "partner_catalog",
        SourceKind::Landing,
        lines.as_bytes(),
        Limits::default(),
        &priority,
    );
    let (b, sb) = run(
        &spec,
        "partner_catalog",
        SourceKind::Landing,
        array.as_bytes(),
        Limits::default(),
        &priority,
    );
    assert_eq!((a.valid, b.valid), (3, 3));
    let rows = |o: &Outcome, s: &MemSink| {
        gunzip_lines(&s.objects[&format!("lake/{}", o.curated[0].key)])
            .into_iter()
            .map(|r| r["event_id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(rows(&a, &sa), rows(&b, &sb));
    let report = a
        .reports
        .iter()
        .find(|k| k.contains("job=consolidate_by_priority/year=2026/month=11/day=21/"))
        .unwrap();
    let text = String::from_utf8(sa.objects[&format!("lake/{report}")].clone()).unwrap();
    let winners: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(winners, [records[1].clone()]);
}

#[test]
fn a_corrupt_gzip_keeps_what_was_read_and_rejects_the_rest() {
    let spec = spec();
    let input: String = (0..2000)
        .map(|i| {
            raw_line(
                "user_events",
                &format!("id{i}"),
                user_event(&format!("id{i}"), "2020-06-01T00:00:00Z"),
            ) + "\n"
        })
        .collect();
    let mut gz = crate::compress::gzip(input.as_bytes());
    let middle = gz.len() / 2;
    for b in &mut gz[middle..middle + 64] {
        *b ^= 0x5a;
    }
    let (outcome, _) = run(
        &spec,
        "user_events",
        SourceKind::Raw,
        &gz,
        Limits::default(),
        &[],
    );
    assert!(outcome.valid < 2000, "{}", outcome.valid);
    assert_eq!(outcome.rejects_by_reason.get("bad_compression"), Some(&1));
}

#[test]
fn an_overlong_line_is_a_too_large_reject() {
    let spec = spec();
    let input = format!(
        "{}\n{}\n",
        raw_line(
            "user_events",
            "a",
            user_event(&"x".repeat(5000), "2020-06-01T00:00:00Z")
        ),
        raw_line("user_events", "b", user_event("b", "2020-06-01T00:00:00Z"))
    );
    let limits = Limits {
        max_line: 1000,
        ..Limits::default()
    };
    let (outcome, _) = run(
        &spec,
        "user_events",
        SourceKind::Raw,
        input.as_bytes(),
        limits,
        &[],
    );
    assert_eq!((outcome.valid, outcome.rejected), (1, 1));
    assert_eq!(outcome.rejects_by_reason.get("too_large"), Some(&1));
}

#[test]
fn a_failing_sink_stops_the_object() {
    let spec = spec();
    let layout = Layout::single_bucket("lake");
    let input = raw_line("user_events", "a", user_event("a", "2020-06-01T00:00:00Z"));
    let source = SourceObject {
        bucket: "lake",
        key: "k",
        version: "v",
        kind: SourceKind::Raw,
        pipeline: spec.pipeline("user_events").unwrap(),
        arrival: now(),
        ingested_at: now(),
    };
    let ctx = Context {
        layout: &layout,
        spec_version: 1,
        limits: Limits::default(),
        now: now(),
        priority: &[],
    };
    let mut sink = MemSink {
        fail_on: Some("curated/".into()),
        ..MemSink::default()
    };
    let err = transform_object(input.as_bytes(), &source, &ctx, &mut sink).unwrap_err();
    assert!(
        matches!(err, TransformError::Sink { ref key, .. } if key.starts_with("curated/")),
        "{err}"
    );
}
