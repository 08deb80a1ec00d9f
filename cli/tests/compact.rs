//! `loglift compact` on a partition of 120 small parts (120 hit files whose hits share one hour,
//! through `loglift local run`): the merged files are within the target size and fill it, the
//! multiset of rows of the partition is the same before and after, nothing is merged twice, the
//! warehouse is untouched, a dry run changes nothing, and a second run does nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::loglift;

use std::path::{Path, PathBuf};

use loglift_core::spec::Spec;
use loglift_core::sql::{json_rows, RowDecoder};
use serde_json::Value;

const HEADER: &str = "hit_time_gmt\tdate_time\tuser_agent\tip\tevent_list\tgeo_city\tgeo_region\tgeo_country\tpagename\tpage_url\tproduct_list\treferrer\n";
/// 2025-11-21 10:00:00 UTC.
const HOUR: i64 = 1_763_719_200;

fn partition(data: &Path) -> PathBuf {
    data.join("s3/local-lake/curated/pipeline=hit_data/dt=2025-11-21/hour=10")
}

/// The partition's files (name, size) and every row in it, sorted.
fn snapshot(dir: &Path) -> (Vec<(String, u64)>, Vec<String>) {
    let spec = Spec::parse(include_str!("../../spec/pipelines.yaml")).unwrap();
    let decoder = RowDecoder::new(spec.pipeline("hit_data").unwrap()).unwrap();
    let mut files = Vec::new();
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".parquet") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        files.push((name, bytes.len() as u64));
        for row in json_rows(&bytes[..], &decoder).unwrap() {
            rows.push(row.to_string());
        }
    }
    files.sort();
    rows.sort();
    (files, rows)
}

fn compact(data: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "compact",
        "--local",
        "--data-dir",
        data,
        "--pipeline",
        "hit_data",
        "--since",
        "2025-11-21T10",
        "--until",
        "2025-11-21T11",
        "--target-bytes",
        "65536",
        "--json",
    ];
    if !extra.contains(&"--min-age") {
        // The parts were just written: take them now.
        args.extend_from_slice(&["--min-age", "0s"]);
    }
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = loglift(&args);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).expect("json report")
}

#[test]
fn a_partition_of_small_parts_compacts_to_the_target_once_with_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in/landing/hit_data");
    std::fs::create_dir_all(&inputs).unwrap();
    for file in 0..120 {
        let mut text = HEADER.to_owned();
        for hit in 0..20 {
            let t = HOUR + file * 20 + hit;
            text.push_str(&format!(
                "{t}\t2025-11-21 10:00:00\tMozilla/5.0 test {file}\t10.0.{file}.{hit}\t\tSalem\tOR\tUS\tPage {hit}\thttp://example.com/p/{file}/{hit}\t\thttp://www.google.com/search?q=k{file}\n"
            ));
        }
        std::fs::write(inputs.join(format!("hits-{file:03}.tsv")), text).unwrap();
    }
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap();
    let (code, stdout, stderr) = loglift(&[
        "local",
        "run",
        dir.path().join("in").to_str().unwrap(),
        "--data-dir",
        data_s,
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        summary["pipelines"]["hit_data"]["transform"]["curated"], 2400,
        "{summary}"
    );
    let loaded = |data: &str| {
        let (code, out, err) = loglift(&[
            "local",
            "query",
            "SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS d FROM analytics__hits",
            "--data-dir",
            data,
        ]);
        assert_eq!(code, 0, "{err}");
        out
    };
    let warehouse_before = loaded(data_s);

    let (files, rows) = snapshot(&partition(&data));
    assert_eq!(files.len(), 120, "one small part per file");
    assert_eq!(rows.len(), 2400);

    // Parts younger than --min-age (default 1 h) are left alone.
    let young = compact(data_s, &["--min-age", "1h"]);
    assert!(young["merges"].as_array().unwrap().is_empty(), "{young}");
    assert_eq!(snapshot(&partition(&data)).0, files);

    // A dry run plans and changes nothing.
    let dry = compact(data_s, &["--dry-run"]);
    assert!(!dry["merges"].as_array().unwrap().is_empty(), "{dry}");
    assert_eq!(
        snapshot(&partition(&data)).0,
        files,
        "a dry run changes nothing"
    );

    let report = compact(data_s, &[]);
    let merges = report["merges"].as_array().unwrap();
    assert!(merges.len() >= 2, "{report}");
    assert!(report["waiting_for_load"].as_array().unwrap().is_empty());
    let (after_files, after_rows) = snapshot(&partition(&data));
    assert_eq!(after_rows, rows, "the same rows, none lost, none repeated");
    for m in merges {
        assert!(m["input_bytes"].as_u64().unwrap() <= 65536, "{m}");
        assert!(m["rows"].as_u64().unwrap() > 0, "{m}");
    }
    // The files left are within the target and fill it: no two neighbours would fit in one
    // (what the plan packs), so on average they are over half of it.
    let total: u64 = after_files.iter().map(|(_, s)| *s).sum();
    assert!(
        after_files.iter().all(|(_, s)| *s <= 65536),
        "{after_files:?}"
    );
    assert!(
        (after_files.len() as u64) <= 2 * total / 65536 + 1,
        "{} files for {total} bytes: {after_files:?}",
        after_files.len()
    );
    assert!(after_files.len() < 120 / 4, "{after_files:?}");
    assert!(after_files.iter().any(|(n, _)| n.starts_with("compacted-")));
    // What was done is recorded.
    let records =
        data.join("s3/local-lake/reports/compaction/pipeline=hit_data/dt=2025-11-21/hour=10");
    assert_eq!(std::fs::read_dir(&records).unwrap().count(), merges.len());

    // The warehouse did not load anything again.
    assert_eq!(loaded(data_s), warehouse_before);

    // A second run finds nothing to do.
    let again = compact(data_s, &[]);
    assert!(again["merges"].as_array().unwrap().is_empty(), "{again}");
    assert_eq!(snapshot(&partition(&data)).0, after_files);
}
