//! `loglift samples generate` then `loglift local run` on what it wrote, as a user runs them:
//! the real binary both times. The run's summary must be the manifest's `expected_ingest`
//! exactly, which per pipeline is:
//!
//! - `events_out` = unique valid events + every duplicate copy (ingest does not dedupe; each copy
//!   reaches raw) + the events that pass ingest for transform to reject (`wrong_type`,
//!   `missing_required`);
//! - `rejected` = the pipeline's ingest rejects (`missing_identity`: routed, no id);
//! - `events_in` = `events_out` + `rejected`;
//! - `duplicates_seen` = duplicates in the same invocation as an earlier copy (ingest sees one
//!   invocation at a time; copies in another invocation or the other path are left to the
//!   event id downstream);
//!
//! and over all: `unrouted_rejected` = bad base64 + truncated gzip + invalid UTF-8 + not JSON +
//! unknown pipeline; `dropped` = CloudWatch Logs control messages; `rejects_by_reason` = both
//! kinds of rejects by reason. The raw objects and reject files in the data directory are
//! counted too: one raw line per event out, one reject line per reject.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn loglift(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_loglift"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .expect("run loglift");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Every file under `dir`, recursively, sorted.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The lines of the compressed NDJSON objects (gzip, or zstd for Kinesis raw) under `dir`.
fn gz_lines(dir: &Path) -> Vec<Value> {
    let mut lines = Vec::new();
    for file in files(dir) {
        let name = file.to_string_lossy();
        if !name.ends_with(".ndjson.gz") && !name.ends_with(".ndjson.zst") {
            continue;
        }
        let bytes = std::fs::read(&file).expect("read");
        let text = loglift_core::compress::decompress_within(&bytes, 64 << 20).expect("decompress");
        for line in std::str::from_utf8(&text).expect("utf-8").lines() {
            lines.push(serde_json::from_str(line).expect("json line"));
        }
    }
    lines
}

/// Every row of the curated parts under `dir`, Parquet and NDJSON alike, read with the table
/// columns of the pipeline their key names.
fn curated_rows(dir: &Path) -> Vec<Value> {
    let spec = loglift_core::spec::Spec::parse(include_str!("../../spec/pipelines.yaml")).unwrap();
    let mut rows = Vec::new();
    for file in files(dir) {
        let name = file.to_string_lossy().into_owned();
        let Some(pipeline) = name
            .split('/')
            .find_map(|part| part.strip_prefix("pipeline="))
            .and_then(|p| spec.pipeline(p))
        else {
            continue;
        };
        let decoder = loglift_core::sql::RowDecoder::new(pipeline).expect("decoder");
        let bytes = std::fs::read(&file).expect("read");
        rows.extend(loglift_core::sql::json_rows(&bytes[..], &decoder).expect(&name));
    }
    rows
}

fn generate(out: &Path, seed: &str) -> (i32, String, String) {
    loglift(&[
        "samples",
        "generate",
        "--events",
        "1500",
        "--dup-rate",
        "0.1",
        "--bad-rate",
        "0.08",
        "--seed",
        seed,
        "--records-per-batch",
        "50",
        "--landing-rows-per-file",
        "200",
        "--out",
        path(out),
    ])
}

#[test]
fn local_run_counts_what_the_manifest_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("gen");
    let data = dir.path().join("data");
    let (code, stdout, stderr) = generate(&out, "11");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("next: loglift local run"), "{stdout}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest"))
            .expect("json");

    // The files are the manifest's.
    let listed: Vec<&str> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    let mut on_disk: Vec<String> = files(&out)
        .iter()
        .map(|p| {
            p.strip_prefix(&out)
                .expect("under out")
                .to_string_lossy()
                .into_owned()
        })
        .filter(|p| p != "manifest.json")
        .collect();
    on_disk.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(on_disk, sorted);
    for kind in [
        "kinesis/",
        "firehose/",
        "landing/hit_data/",
        "landing/partner_catalog/",
    ] {
        assert!(
            listed.iter().filter(|p| p.starts_with(kind)).count() > 1,
            "{kind}: {listed:?}"
        );
    }
    let tsv = listed.iter().find(|p| p.ends_with(".tsv")).expect("a tsv");
    let text = std::fs::read_to_string(out.join(tsv)).expect("tsv");
    assert!(text.starts_with("hit_time_gmt\tdate_time\tuser_agent\tip\tevent_list\tgeo_city\tgeo_region\tgeo_country\tpagename\tpage_url\tproduct_list\treferrer\n"));

    let (code, stdout, stderr) = loglift(&[
        "local",
        "run",
        path(&out.join("kinesis")),
        path(&out.join("firehose")),
        path(&out.join("landing")),
        "--json",
        "--data-dir",
        path(&data),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let summary: Value = serde_json::from_str(&stdout).expect("summary json");
    let expected = &manifest["expected_ingest"];
    let ingest: serde_json::Map<String, Value> = summary["pipelines"]
        .as_object()
        .expect("pipelines")
        .iter()
        .filter(|(_, v)| v["ingest"]["events_in"].as_u64() > Some(0))
        .map(|(k, v)| (k.clone(), v["ingest"].clone()))
        .collect();
    assert_eq!(Value::Object(ingest), expected["pipelines"]);
    assert_eq!(summary["unrouted_rejected"], expected["unrouted_rejected"]);
    assert_eq!(summary["dropped"], expected["dropped"]);
    assert_eq!(
        summary["ingest_rejects_by_reason"],
        expected["rejects_by_reason"]
    );
    assert_eq!(summary["invocations"]["ingest"], expected["invocations"]);
    assert_eq!(summary["skipped"], serde_json::json!([]));

    // The expectation, from the manifest's counts (see the module docs).
    let pipelines = expected["pipelines"].as_object().expect("pipelines");
    assert_eq!(
        pipelines.keys().collect::<Vec<_>>(),
        ["app_logs", "user_events", "user_utm"]
    );
    let sum = |v: &Value| {
        v.as_object()
            .map_or(0, |m| m.values().filter_map(Value::as_u64).sum::<u64>())
    };
    for (name, e) in pipelines {
        let c = &manifest["pipelines"][name];
        let out_events = c["unique"].as_u64().expect("unique")
            + c["duplicates"]["total"].as_u64().expect("total")
            + sum(&c["transform_rejects"]);
        assert_eq!(e["events_out"].as_u64(), Some(out_events), "{name}");
        assert_eq!(
            e["rejected"].as_u64(),
            Some(sum(&c["ingest_rejects"])),
            "{name}"
        );
        assert_eq!(
            e["events_in"].as_u64(),
            Some(out_events + sum(&c["ingest_rejects"])),
            "{name}"
        );
        assert_eq!(
            e["duplicates_seen"], c["duplicates"]["within_batch"],
            "{name}"
        );
        assert!(
            c["duplicates"]["across_batches"].as_u64() > Some(0),
            "{name}"
        );
    }
    assert!(manifest["pipelines"]["user_events"]["duplicates"]["across_paths"].as_u64() > Some(0));
    assert_eq!(
        expected["unrouted_rejected"].as_u64(),
        Some(sum(&manifest["unrouted_ingest_rejects"]))
    );
    assert_eq!(expected["dropped"], manifest["control_messages"]);

    // What landed in the local lake: one raw line per event out (copies included), and each
    // distinct event id once per unique event or transform reject.
    let lake = data.join("s3/local-lake");
    let raw = gz_lines(&lake.join("raw"));
    let mut lines: BTreeMap<String, u64> = BTreeMap::new();
    let mut ids: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for line in &raw {
        let p = line["pipeline"].as_str().expect("pipeline").to_owned();
        *lines.entry(p.clone()).or_default() += 1;
        ids.entry(p)
            .or_default()
            .insert(line["event_id"].as_str().expect("id").to_owned());
    }
    for (name, e) in pipelines {
        assert_eq!(lines.get(name).copied(), e["events_out"].as_u64(), "{name}");
        let c = &manifest["pipelines"][name];
        let distinct = c["unique"].as_u64().expect("unique") + sum(&c["transform_rejects"]);
        assert_eq!(ids[name].len() as u64, distinct, "{name}");
    }
    let rejects = gz_lines(&lake.join("errors/rejects/stage=ingest"));
    assert_eq!(rejects.len() as u64, sum(&expected["rejects_by_reason"]));

    // Transform read every raw line, curated every valid copy (the loader dedupes), and
    // rejected exactly the events the generator made for it to reject, by reason.
    let mut transform_reasons: BTreeMap<String, u64> = BTreeMap::new();
    for (name, e) in pipelines {
        let c = &manifest["pipelines"][name];
        let t = &summary["pipelines"][name]["transform"];
        assert_eq!(t["events"], e["events_out"], "{name}");
        let valid = c["unique"].as_u64().expect("unique")
            + c["duplicates"]["total"].as_u64().expect("total");
        assert_eq!(t["curated"].as_u64(), Some(valid), "{name}");
        assert_eq!(
            t["rejected"].as_u64(),
            Some(sum(&c["transform_rejects"])),
            "{name}"
        );
        for (reason, n) in c["transform_rejects"].as_object().expect("rejects") {
            *transform_reasons.entry(reason.clone()).or_default() += n.as_u64().expect("n");
        }
    }
    // Landing files reach transform alone: every valid row curated, the bad ones rejected.
    for name in ["hit_data", "partner_catalog"] {
        let c = &manifest["pipelines"][name];
        let t = &summary["pipelines"][name]["transform"];
        let valid = c["unique"].as_u64().expect("unique")
            + c["duplicates"]["total"].as_u64().expect("total");
        assert_eq!(t["curated"].as_u64(), Some(valid), "{name}");
        assert_eq!(
            t["rejected"].as_u64(),
            Some(sum(&c["transform_rejects"])),
            "{name}: {c}"
        );
        for (reason, n) in c["transform_rejects"].as_object().expect("rejects") {
            *transform_reasons.entry(reason.clone()).or_default() += n.as_u64().expect("n");
        }
    }
    assert_eq!(
        summary["transform_rejects_by_reason"],
        serde_json::to_value(&transform_reasons).expect("json")
    );
    let curated = curated_rows(&lake.join("curated"));
    let curated_rows: u64 = summary["pipelines"]
        .as_object()
        .expect("pipelines")
        .values()
        .map(|p| p["transform"]["curated"].as_u64().expect("n"))
        .sum();
    assert_eq!(curated.len() as u64, curated_rows);
    assert_eq!(summary["failed_messages"], 0);

    // The loader put each unique valid event into the warehouse once: the copies were skipped.
    let spec = loglift_core::spec::Spec::parse(include_str!("../../spec/pipelines.yaml")).unwrap();
    for (name, c) in manifest["pipelines"].as_object().expect("pipelines") {
        let table = &spec.pipeline(name).expect("pipeline").table;
        let t = &summary["tables"][table];
        let unique = c["unique"].as_u64().expect("unique");
        assert_eq!(t["inserted"].as_u64(), Some(unique), "{name}: {t}");
        let copies = c["duplicates"]["total"].as_u64().expect("total");
        assert_eq!(
            t["duplicates_skipped"].as_u64().unwrap() + t["replaced"].as_u64().unwrap(),
            copies,
            "{name}: {t}"
        );
        let (code, stdout, stderr) = loglift(&[
            "local",
            "query",
            &format!(
                "SELECT count(*), count(DISTINCT event_id) FROM {}",
                table.replace('.', "__")
            ),
            "--data-dir",
            path(&data),
        ]);
        assert_eq!(code, 0, "{stderr}");
        let counts: Vec<String> = stdout
            .lines()
            .nth(2)
            .expect("a row")
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect();
        assert_eq!(
            counts,
            [unique.to_string(), unique.to_string()],
            "{name}: {stdout}"
        );
    }
}

#[test]
fn generation_is_deterministic_and_replaces_only_its_own_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("gen");
    assert_eq!(generate(&out, "3").0, 0);
    let first = std::fs::read(out.join("manifest.json")).expect("manifest");
    let bodies: Vec<Vec<u8>> = files(&out)
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    // Again into the same directory: replaced, byte for byte the same.
    let (code, _, stderr) = generate(&out, "3");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read(out.join("manifest.json")).expect("manifest"),
        first
    );
    let again: Vec<Vec<u8>> = files(&out)
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    assert_eq!(again, bodies);
    // Another seed, other bytes.
    assert_eq!(generate(&out, "4").0, 0);
    assert_ne!(
        std::fs::read(out.join("manifest.json")).expect("manifest"),
        first
    );

    // A directory with other content is refused, and left alone.
    let other = dir.path().join("mine");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(other.join("notes.txt"), "keep me").expect("write");
    let (code, _, stderr) = generate(&other, "3");
    assert_eq!(code, 1);
    assert!(stderr.contains("holds no manifest.json"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(other.join("notes.txt")).expect("kept"),
        "keep me"
    );

    let (code, _, stderr) = loglift(&[
        "samples",
        "generate",
        "--dup-rate",
        "2",
        "--out",
        path(&dir.path().join("x")),
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("dup_rate must be between 0 and 1"),
        "{stderr}"
    );
}

#[test]
fn help_is_there() {
    let (code, stdout, _) = loglift(&["samples", "generate", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--events",
        "--dup-rate",
        "--bad-rate",
        "--seed",
        "--out",
        ".loglift/generated",
    ] {
        assert!(stdout.contains(flag), "{flag}: {stdout}");
    }
}
