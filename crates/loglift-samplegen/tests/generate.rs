//! The generator against its own manifest: every Kinesis and Firehose file is read back with
//! `loglift_core::wire` and each record unwrapped, routed and identified with
//! `loglift_core::ingest::process_record` (the pure half of the ingest handler), every landing
//! row parsed and identified with the spec's identity; the counts must be the manifest's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};

use loglift_core::envelope::Limits;
use loglift_core::identity::event_id;
use loglift_core::ingest::{process_record, RecordContext, RecordOutcome, RoutedEvent};
use loglift_core::record::RawEvent;
use loglift_core::route::Router;
use loglift_core::spec::Spec;
use loglift_core::wire::{FirehoseBatch, KinesisBatch};
use loglift_samplegen::{
    generate, FileKind, GenOptions, Generated, IngestCounts, KeywordRevenue, Manifest, Mix,
    PipelineCounts,
};
use serde_json::{Map, Value};

const SPEC: &str = include_str!("../../../spec/pipelines.yaml");

fn spec() -> Spec {
    Spec::parse(SPEC).expect("shipped spec")
}

/// Small batches, so duplicates land within batches, across batches and across paths.
fn opts(seed: u64) -> GenOptions {
    GenOptions {
        events: 3000,
        dup_rate: 0.1,
        bad_rate: 0.08,
        seed,
        records_per_batch: 60,
        landing_rows_per_file: 150,
        ..GenOptions::default()
    }
}

/// What decoding the Lambda events finds.
#[derive(Debug, Default)]
struct Decoded {
    pipelines: BTreeMap<String, PipelineCounts>,
    ingest: BTreeMap<String, IngestCounts>,
    unrouted: BTreeMap<String, u64>,
    control: u64,
    invocations: u64,
}

/// The reason transform will give an event that passed ingest, by the generator's conventions
/// (a number in the first string column named here, the second one missing), or None if valid.
fn transform_reason(pipeline: &str, data: &Map<String, Value>) -> Option<&'static str> {
    let (typed, required) = match pipeline {
        "user_events" => ("cookie_id", "topic"),
        "user_utm" => ("medium", "source"),
        "app_logs" => ("name", "name"),
        other => panic!("unexpected pipeline {other}"),
    };
    if !data.contains_key(required) {
        Some("missing_required")
    } else if data.get(typed).is_some_and(|v| !v.is_string()) {
        Some("wrong_type")
    } else {
        None
    }
}

fn decode(generated: &Generated) -> Decoded {
    let spec = spec();
    let router = Router::new(&spec);
    let mut out = Decoded::default();
    // (pipeline, id) → (invocation, path) of each copy.
    let mut copies: BTreeMap<(String, String), Vec<(usize, FileKind)>> = BTreeMap::new();
    let files: Vec<_> = generated
        .files
        .iter()
        .filter(|f| f.kind != FileKind::Landing)
        .collect();
    for (invocation, file) in files.iter().enumerate() {
        out.invocations += 1;
        let mut seen = BTreeSet::new();
        let (kinesis, firehose) = match file.kind {
            FileKind::Kinesis => (
                Some(KinesisBatch::from_slice(&file.body).expect("kinesis event")),
                None,
            ),
            _ => (
                None,
                Some(FirehoseBatch::from_slice(&file.body).expect("firehose event")),
            ),
        };
        let records: Vec<(&Result<Vec<u8>, _>, RecordContext)> = kinesis
            .iter()
            .flat_map(|batch| &batch.records)
            .map(|r| {
                let ctx = RecordContext {
                    stream: Some(&r.stream),
                    shard: Some(&r.shard_id),
                    sequence: Some(&r.sequence_number),
                    arrival: r.arrival,
                    ..RecordContext::default()
                };
                (&r.data, ctx)
            })
            .chain(firehose.iter().flat_map(|batch| {
                batch.records.iter().map(|r| {
                    let ctx = RecordContext {
                        stream: batch.source_stream.as_deref(),
                        delivery_stream: Some(&batch.delivery_stream),
                        record_id: Some(&r.record_id),
                        arrival: r.arrival,
                        ..RecordContext::default()
                    };
                    (&r.data, ctx)
                })
            }))
            .collect();
        for (data, ctx) in records {
            let data = match data {
                Ok(data) => data,
                Err(rejection) => {
                    *out.unrouted
                        .entry(rejection.reason.code().into())
                        .or_default() += 1;
                    continue;
                }
            };
            let (events, rejects) = match process_record(&router, data, &ctx, &Limits::default()) {
                RecordOutcome::Dropped => {
                    out.control += 1;
                    continue;
                }
                RecordOutcome::Rejected(r) => {
                    assert!(r.pipeline.is_none());
                    *out.unrouted
                        .entry(r.rejection.reason.code().into())
                        .or_default() += 1;
                    continue;
                }
                RecordOutcome::Events { events, rejects } => (events, rejects),
            };
            if file.kind == FileKind::Firehose {
                let pipelines: BTreeSet<&str> =
                    events.iter().map(|e| e.pipeline.as_str()).collect();
                assert!(
                    pipelines.len() <= 1,
                    "{}: a record mixes pipelines",
                    file.path
                );
            }
            for r in rejects {
                let code = r.rejection.reason.code().to_owned();
                match &r.pipeline {
                    Some(p) => {
                        *out.pipelines
                            .entry(p.clone())
                            .or_default()
                            .ingest_rejects
                            .entry(code)
                            .or_default() += 1;
                        out.ingest.entry(p.clone()).or_default().rejected += 1;
                        out.ingest.entry(p.clone()).or_default().events_in += 1;
                    }
                    None => *out.unrouted.entry(code).or_default() += 1,
                }
            }
            for RoutedEvent {
                pipeline,
                event_id,
                line,
            } in events
            {
                let raw: RawEvent = serde_json::from_slice(&line).expect("raw line");
                let i = out.ingest.entry(pipeline.clone()).or_default();
                i.events_in += 1;
                i.events_out += 1;
                if !seen.insert((pipeline.clone(), event_id.clone())) {
                    i.duplicates_seen += 1;
                }
                let c = out.pipelines.entry(pipeline.clone()).or_default();
                let path = if file.kind == FileKind::Kinesis {
                    "kinesis"
                } else {
                    "firehose"
                };
                *c.copies_by_path.entry(path.into()).or_default() += 1;
                match transform_reason(&pipeline, &raw.data) {
                    Some(reason) => *c.transform_rejects.entry(reason.into()).or_default() += 1,
                    None => copies
                        .entry((pipeline, event_id))
                        .or_default()
                        .push((invocation, file.kind)),
                }
            }
        }
    }
    for ((pipeline, _), places) in copies {
        let c = out.pipelines.entry(pipeline).or_default();
        c.unique += 1;
        let invocations: BTreeSet<usize> = places.iter().map(|p| p.0).collect();
        let paths: BTreeSet<FileKind> = places.iter().map(|p| p.1).collect();
        c.duplicates.total += places.len() as u64 - 1;
        c.duplicates.within_batch += (places.len() - invocations.len()) as u64;
        c.duplicates.across_paths += paths.len() as u64 - 1;
        c.duplicates.across_batches += (invocations.len() - paths.len()) as u64;
    }
    out
}

/// Landing rows: per pipeline, the manifest's counts, and the keyword revenue recomputed.
fn decode_landing(
    generated: &Generated,
) -> (
    BTreeMap<String, PipelineCounts>,
    Vec<KeywordRevenue>,
    BTreeMap<String, u64>,
) {
    let spec = spec();
    let mut out: BTreeMap<String, PipelineCounts> = BTreeMap::new();
    let mut copies: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    // Valid hit rows in order, for the keyword job.
    let mut hits: Vec<BTreeMap<String, String>> = Vec::new();
    let mut catalog: BTreeMap<String, usize> = BTreeMap::new();
    let priority = ["expedia", "booking", "hotels", "agoda"];
    for (file_index, file) in generated.of_kind(FileKind::Landing).enumerate() {
        let text = std::str::from_utf8(&file.body).expect("landing files are UTF-8");
        let pipeline = file.source.clone();
        let identity = &spec.pipeline(&pipeline).expect("pipeline").identity;
        let mut lines = text.lines();
        let header: Vec<&str> = if pipeline == "hit_data" {
            lines.next().expect("header").split('\t').collect()
        } else {
            Vec::new()
        };
        assert_eq!(lines.clone().count(), file.records, "{}", file.path);
        for line in lines {
            let c = out.entry(pipeline.clone()).or_default();
            *c.copies_by_path.entry("landing".into()).or_default() += 1;
            let (object, reason) = if pipeline == "hit_data" {
                let fields: Vec<&str> = line.split('\t').collect();
                let object: Map<String, Value> = header
                    .iter()
                    .zip(&fields)
                    .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
                    .collect();
                let reason = if fields.len() != header.len() {
                    Some("bad_tsv")
                } else if !fields[0].bytes().all(|b| b.is_ascii_digit()) {
                    Some("bad_timestamp")
                } else if fields[3].is_empty() {
                    Some("missing_required")
                } else {
                    None
                };
                (object, reason)
            } else {
                match serde_json::from_str::<Map<String, Value>>(line) {
                    Err(_) => (Map::new(), Some("invalid_json")),
                    Ok(o) if !o.contains_key("accommodation_id") => (o, Some("missing_required")),
                    Ok(o) if !o["partner_name"].is_string() => (o, Some("wrong_type")),
                    Ok(o) => (o, None),
                }
            };
            match reason {
                Some(r) => *c.transform_rejects.entry(r.into()).or_default() += 1,
                None => {
                    let id = event_id(identity, &object, None).expect("identity");
                    let list = copies.entry((pipeline.clone(), id)).or_default();
                    if list.is_empty() {
                        if pipeline == "hit_data" {
                            hits.push(
                                object
                                    .iter()
                                    .map(|(k, v)| {
                                        (k.clone(), v.as_str().unwrap_or_default().to_owned())
                                    })
                                    .collect(),
                            );
                        } else {
                            let acc = object["accommodation_id"].as_str().expect("id").to_owned();
                            let p = priority
                                .iter()
                                .position(|p| object["partner_name"] == *p)
                                .expect("partner");
                            let best = catalog.entry(acc).or_insert(p);
                            *best = (*best).min(p);
                        }
                    }
                    list.push(file_index);
                }
            }
        }
    }
    for ((pipeline, _), places) in copies {
        let c = out.entry(pipeline).or_default();
        c.unique += 1;
        let files: BTreeSet<usize> = places.iter().copied().collect();
        c.duplicates.total += places.len() as u64 - 1;
        c.duplicates.within_batch += (places.len() - files.len()) as u64;
        c.duplicates.across_batches += files.len() as u64 - 1;
    }

    // search_keyword_revenue, last touch by visitor (ip, user agent), independently of the generator.
    let mut last_search: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    let mut revenue: BTreeMap<(String, String), u64> = BTreeMap::new();
    hits.sort_by_key(|h| h["hit_time_gmt"].parse::<i64>().expect("epoch"));
    for h in &hits {
        let visitor = (h["ip"].clone(), h["user_agent"].clone());
        let referrer = &h["referrer"];
        for (host, param) in [
            ("www.google.com", "q"),
            ("www.bing.com", "q"),
            ("search.yahoo.com", "p"),
        ] {
            if let Some(query) = referrer.strip_prefix(&format!("http://{host}/search?")) {
                let keyword = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{param}=")))
                    .expect("keyword")
                    .replace('+', " ");
                last_search.insert(
                    visitor.clone(),
                    (host.trim_start_matches("www.").to_owned(), keyword),
                );
            }
        }
        if h["event_list"].split(',').any(|e| e == "1") {
            let total: u64 = h["product_list"]
                .split(',')
                .map(|p| {
                    p.split(';')
                        .nth(3)
                        .and_then(|r| r.parse::<u64>().ok())
                        .unwrap_or(0)
                })
                .sum();
            if let Some(search) = last_search.get(&visitor) {
                *revenue.entry(search.clone()).or_default() += total;
            }
        }
    }
    let mut revenue: Vec<KeywordRevenue> = revenue
        .into_iter()
        .map(|((d, k), r)| KeywordRevenue {
            search_engine_domain: d,
            search_keyword: k,
            revenue: r,
        })
        .collect();
    revenue.sort_by(|a, b| {
        b.revenue
            .cmp(&a.revenue)
            .then_with(|| a.search_engine_domain.cmp(&b.search_engine_domain))
            .then_with(|| a.search_keyword.cmp(&b.search_keyword))
    });
    let mut winners = BTreeMap::new();
    for p in catalog.values() {
        *winners.entry(priority[*p].to_owned()).or_default() += 1;
    }
    (out, revenue, winners)
}

fn nonzero(m: &BTreeMap<String, PipelineCounts>) -> BTreeMap<String, PipelineCounts> {
    m.iter()
        .filter(|(_, c)| **c != PipelineCounts::default())
        .map(|(k, c)| (k.clone(), c.clone()))
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let a = generate(&opts(42)).expect("generate");
    let b = generate(&opts(42)).expect("generate");
    assert_eq!(a, b);
    let c = generate(&opts(43)).expect("generate");
    assert_ne!(a.files, c.files);
}

#[test]
fn the_manifest_counts_what_the_lambda_events_hold() {
    for seed in [1, 7] {
        let generated = generate(&opts(seed)).expect("generate");
        let m: &Manifest = &generated.manifest;
        let decoded = decode(&generated);

        let streamed: BTreeMap<String, PipelineCounts> = nonzero(&m.pipelines)
            .into_iter()
            .filter(|(p, _)| p != "hit_data" && p != "partner_catalog")
            .collect();
        assert_eq!(nonzero(&decoded.pipelines), streamed, "seed {seed}");
        assert_eq!(decoded.unrouted, m.unrouted_ingest_rejects, "seed {seed}");
        assert_eq!(decoded.control, m.control_messages);
        assert_eq!(decoded.ingest, m.expected_ingest.pipelines);
        assert_eq!(decoded.invocations, m.expected_ingest.invocations);
        assert_eq!(m.expected_ingest.dropped, m.control_messages);

        // The expectation follows from the counts, as the manifest documents it.
        for (p, e) in &m.expected_ingest.pipelines {
            let c = &m.pipelines[p];
            let transform: u64 = c.transform_rejects.values().sum();
            assert_eq!(
                e.events_out,
                c.unique + c.duplicates.total + transform,
                "{p}"
            );
            assert_eq!(e.rejected, c.ingest_rejects.values().sum::<u64>(), "{p}");
            assert_eq!(e.events_in, e.events_out + e.rejected, "{p}");
            assert_eq!(e.duplicates_seen, c.duplicates.within_batch, "{p}");
        }

        // Every kind of duplicate and bad item is there.
        let ue = &m.pipelines["user_events"].duplicates;
        assert!(
            ue.within_batch > 0 && ue.across_batches > 0 && ue.across_paths > 0,
            "{ue:?}"
        );
        assert_eq!(
            ue.total,
            ue.within_batch + ue.across_batches + ue.across_paths
        );
        for reason in [
            "bad_base64",
            "bad_compression",
            "invalid_utf8",
            "invalid_json",
            "unknown_pipeline",
        ] {
            assert!(
                m.unrouted_ingest_rejects
                    .get(reason)
                    .is_some_and(|n| *n > 0),
                "seed {seed}: no {reason}: {:?}",
                m.unrouted_ingest_rejects
            );
        }
        for p in ["user_events", "user_utm", "app_logs"] {
            let c = &m.pipelines[p];
            assert!(
                c.ingest_rejects.contains_key("missing_identity"),
                "{p}: {c:?}"
            );
            assert!(c.transform_rejects.contains_key("wrong_type"), "{p}: {c:?}");
            assert!(
                c.transform_rejects.contains_key("missing_required"),
                "{p}: {c:?}"
            );
        }
        assert!(m.control_messages > 0);
        assert!(m.pipelines["user_events"]
            .copies_by_path
            .contains_key("firehose"));
    }
}

#[test]
fn the_manifest_counts_what_the_landing_files_hold() {
    let generated = generate(&opts(5)).expect("generate");
    let m = &generated.manifest;
    let (landing, revenue, winners) = decode_landing(&generated);
    let expected: BTreeMap<String, PipelineCounts> = nonzero(&m.pipelines)
        .into_iter()
        .filter(|(p, _)| p == "hit_data" || p == "partner_catalog")
        .collect();
    assert_eq!(landing, expected);
    for p in ["hit_data", "partner_catalog"] {
        let d = &m.pipelines[p].duplicates;
        assert!(d.within_batch > 0 && d.across_batches > 0, "{p}: {d:?}");
        assert_eq!(
            m.pipelines[p].transform_rejects.len(),
            3,
            "{p}: {:?}",
            m.pipelines[p]
        );
    }
    assert!(!revenue.is_empty());
    assert_eq!(revenue, m.jobs.search_keyword_revenue);
    assert_eq!(winners, m.jobs.consolidate_by_priority.winners_by_partner);
    assert_eq!(
        winners.values().sum::<u64>(),
        m.jobs.consolidate_by_priority.accommodations
    );
}

#[test]
fn unique_events_are_exactly_the_requested_number_split_by_the_mix() {
    let generated = generate(&opts(9)).expect("generate");
    let m = &generated.manifest;
    let unique: u64 = m.pipelines.values().map(|c| c.unique).sum();
    assert_eq!(unique, 3000);
    // 35/15/25/15/10 of 3000.
    let by: Vec<u64> = [
        "user_events",
        "user_utm",
        "app_logs",
        "hit_data",
        "partner_catalog",
    ]
    .iter()
    .map(|p| m.pipelines[*p].unique)
    .collect();
    assert_eq!(by, [1050, 450, 750, 450, 300]);
}

#[test]
fn files_stay_within_their_limits_and_the_manifest_lists_them() {
    let o = GenOptions {
        events: 40_000,
        dup_rate: 0.05,
        bad_rate: 0.02,
        kinesis_batch_bytes: 1024 * 1024,
        firehose_batch_bytes: 512 * 1024,
        firehose_response_bytes: 900 * 1024,
        ..GenOptions::default()
    };
    let generated = generate(&o).expect("generate");
    let m = &generated.manifest;
    assert_eq!(m.files.len(), generated.files.len());
    let mut firehose_full = 0;
    for (file, entry) in generated.files.iter().zip(&m.files) {
        assert_eq!(file.path, entry.path);
        assert_eq!(file.body.len() as u64, entry.bytes);
        assert_eq!(file.records as u64, entry.records);
        match file.kind {
            FileKind::Kinesis => {
                assert!(file.body.len() <= o.kinesis_batch_bytes, "{}", file.path);
                assert!(file.records <= o.records_per_batch);
            }
            FileKind::Firehose => {
                assert!(file.body.len() <= o.firehose_batch_bytes, "{}", file.path);
                if file.body.len() > o.firehose_batch_bytes * 9 / 10 {
                    firehose_full += 1;
                }
            }
            FileKind::Landing => assert!(file.records <= o.landing_rows_per_file),
        }
    }
    assert!(firehose_full > 0, "no Firehose invocation near its size");
    // The rates hold roughly.
    let unique: u64 = m.pipelines.values().map(|c| c.unique).sum();
    let dups: u64 = m.pipelines.values().map(|c| c.duplicates.total).sum();
    assert!(
        (1600..2400).contains(&dups),
        "{dups} duplicates of {unique}"
    );
}

#[test]
fn a_mix_of_one_pipeline_fills_big_batches() {
    let o = GenOptions {
        events: 12_000,
        mix: Mix::only("user_events").expect("pipeline"),
        firehose_share: 0.0,
        ..GenOptions::default()
    };
    let generated = generate(&o).expect("generate");
    let kinesis: Vec<_> = generated.of_kind(FileKind::Kinesis).collect();
    assert!(kinesis
        .iter()
        .all(|f| f.source == "user-events" || f.source == "clickstream-legacy"));
    let biggest = kinesis.iter().map(|f| f.body.len()).max().unwrap_or(0);
    assert!(biggest > 6 * 1024 * 1024 * 9 / 10, "{biggest}");
    assert_eq!(generated.of_kind(FileKind::Firehose).count(), 0);
}

#[test]
fn bad_options_are_refused() {
    for o in [
        GenOptions {
            dup_rate: 1.5,
            ..GenOptions::default()
        },
        GenOptions {
            bad_rate: f64::NAN,
            ..GenOptions::default()
        },
        GenOptions {
            records_per_batch: 0,
            ..GenOptions::default()
        },
        GenOptions {
            mix: Mix {
                user_events: 0,
                user_utm: 0,
                app_logs: 0,
                hit_data: 0,
                partner_catalog: 0,
            },
            ..GenOptions::default()
        },
    ] {
        assert!(generate(&o).is_err(), "{o:?}");
    }
    let empty = generate(&GenOptions {
        events: 0,
        ..GenOptions::default()
    })
    .expect("nothing");
    assert!(empty.files.is_empty());
    assert_eq!(empty.manifest.expected_ingest.invocations, 0);
}
