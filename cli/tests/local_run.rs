//! `loglift local run --pipeline hit_data FILE`: a hit-level file outside any `landing/` tree
//! goes to the pipeline's landing prefix (streamed, not read whole), through transform and the
//! loader, and the summary names the report files its jobs wrote, as text and as JSON.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::loglift;

use serde_json::Value;

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../samples/landing/hit_data/hits-2026-11-21.tsv"
);

#[test]
fn runs_a_hit_file_outside_a_landing_tree_and_names_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.tsv");
    std::fs::copy(SAMPLE, &file).unwrap();
    let data = dir.path().join("data");
    let (file, data) = (file.to_str().unwrap(), data.to_str().unwrap());

    let (code, stdout, stderr) = loglift(&[
        "local",
        "run",
        "--pipeline",
        "hit_data",
        file,
        "--data-dir",
        data,
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let summary: Value = serde_json::from_str(&stdout).expect("json summary");
    assert_eq!(summary["landing_files"], 1, "{summary}");
    let landed = dir
        .path()
        .join("data/s3/local-lake/landing/hit_data/big.tsv");
    assert_eq!(
        std::fs::read(&landed).unwrap(),
        std::fs::read(SAMPLE).unwrap(),
        "the file lands under the pipeline's landing prefix"
    );
    assert!(
        summary["pipelines"]["hit_data"]["transform"]["curated"]
            .as_u64()
            .unwrap()
            > 0,
        "{summary}"
    );
    let reports: Vec<&str> = summary["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!reports.is_empty(), "{summary}");
    for report in &reports {
        assert!(
            report.contains("/reports/pipeline=hit_data/job=search_keyword_revenue/"),
            "{report}"
        );
        assert!(std::path::Path::new(report).is_file(), "{report}");
    }

    // The same file again rewrites the same report: the text summary still names it.
    std::fs::write(
        dir.path()
            .join("data/s3/local-lake/landing/hit_data/big.tsv"),
        b"",
    )
    .unwrap();
    let (code, stdout, stderr) = loglift(&[
        "local",
        "run",
        "--pipeline",
        "hit_data",
        file,
        "--data-dir",
        data,
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("report: {}", reports[0])),
        "{stdout}"
    );
}

#[test]
fn refuses_a_pipeline_that_reads_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (code, _, stderr) = loglift(&[
        "local",
        "run",
        "--pipeline",
        "user_events",
        SAMPLE,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("reads no files"), "{stderr}");
}
