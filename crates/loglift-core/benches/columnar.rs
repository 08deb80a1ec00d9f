//! Curated part codecs, on the same curated rows: gzip NDJSON (what `curated: { format: ndjson }`
//! writes) against Parquet with snappy, zstd level 1 and zstd level 3 pages.
//!
//!     cargo bench -p loglift-core --bench columnar             # 200,000 rows
//!     cargo bench -p loglift-core --bench columnar -- 50000    # another count
//!
//! The rows are `user_events` events curated by `Curator` (the transform's own path), in one
//! event hour per 10,000 rows, written as parts of at most 64 MiB of row bytes (transform's
//! default target). MB/s is of curated NDJSON row bytes in; the ratio is bytes out over in.
//!
//! Without `--bench` (as under `cargo test --benches`) it runs 2,000 rows as a smoke test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Instant;

use loglift_core::columnar::{writer_properties, ParquetPart, ROW_GROUP_BYTES};
use loglift_core::curate::{Curator, RowContext};
use loglift_core::ndjson::GzLines;
use loglift_core::spec::Spec;
use loglift_core::sql::table_columns;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::json;

const SPEC: &str = include_str!("../../../spec/pipelines.yaml");
const TARGET: usize = 64 * 1024 * 1024;

fn rows(n: u64) -> Vec<Vec<u8>> {
    let spec = Spec::parse(SPEC).unwrap();
    let pipeline = spec.pipeline("user_events").unwrap();
    let curator = Curator::new(pipeline, spec.version);
    let ctx = RowContext {
        source_object: "s3://lake/raw/pipeline=user_events/dt=2026-11-21/hour=10/k.ndjson.zst#v1",
        ingested_at: chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 21, 10, 0, 0)
            .unwrap(),
    };
    (0..n)
        .map(|i| {
            let hour = i / 10_000 % 24;
            let event = json!({
                "request_id": format!("{i:032x}"),
                "request_timestamp": format!("2020-06-01T{hour:02}:{:02}:{:02}Z", i / 60 % 60, i % 60),
                "cookie_id": format!("c-{:08}", i % 10_000_000),
                "topic": "page_view",
                "message": format!("viewed the product page of item {i}"),
                "environment": "prod",
                "website_id": "site-42",
                "user_account_id": format!("u-{:06}", i % 1_000_000),
                "location": format!("https://shop.example.com/items/{i}?ref=home"),
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
                "referrer": format!("https://www.google.com/search?q=item+{i}"),
                "ab_test": format!("variant-{}", i % 3),
            });
            let mut out = Vec::new();
            curator
                .curate(event.as_object().unwrap(), &format!("{i:032x}"), &ctx, &mut out)
                .unwrap();
            out
        })
        .collect()
}

/// Parts of at most TARGET row bytes; (bytes out, seconds).
fn write_parquet(lines: &[Vec<u8>], props: &WriterProperties) -> (usize, f64) {
    let spec = Spec::parse(SPEC).unwrap();
    let columns = table_columns(spec.pipeline("user_events").unwrap());
    let start = Instant::now();
    let mut out = 0;
    let mut part = ParquetPart::with_properties(columns.clone(), props.clone()).unwrap();
    for line in lines {
        part.push_line(line).unwrap();
        if part.raw_bytes() as usize >= TARGET {
            out += part.finish().unwrap().len();
            part = ParquetPart::with_properties(columns.clone(), props.clone()).unwrap();
        }
    }
    out += part.finish().unwrap().len();
    (out, start.elapsed().as_secs_f64())
}

fn write_gzip(lines: &[Vec<u8>]) -> (usize, f64) {
    let start = Instant::now();
    let mut out = 0;
    let mut part = GzLines::default();
    for line in lines {
        part.push_line(line).unwrap();
        if part.raw_bytes() as usize >= TARGET {
            out += part.finish().unwrap().len();
            part = GzLines::default();
        }
    }
    out += part.finish().unwrap().len();
    (out, start.elapsed().as_secs_f64())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    let n = if bench {
        args.iter().find_map(|a| a.parse().ok()).unwrap_or(200_000)
    } else {
        2_000
    };
    let lines = rows(n);
    let bytes_in: usize = lines.iter().map(Vec::len).sum();
    println!(
        "{n} curated user_events rows, {:.1} MB of NDJSON row bytes; row groups up to {} MiB",
        bytes_in as f64 / 1e6,
        ROW_GROUP_BYTES >> 20
    );
    println!(
        "{:>26} {:>10} {:>7} {:>9}",
        "codec", "MB out", "ratio", "MB/s"
    );
    let report = |name: &str, (out, secs): (usize, f64)| {
        println!(
            "{name:>26} {:>10.2} {:>7.3} {:>9.1}",
            out as f64 / 1e6,
            out as f64 / bytes_in as f64,
            bytes_in as f64 / 1e6 / secs
        );
    };
    report("NDJSON gzip (flate2 L1)", write_gzip(&lines));
    let with = |c: Compression| {
        WriterProperties::builder()
            .set_compression(c)
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            .build()
    };
    report(
        "Parquet snappy",
        write_parquet(&lines, &with(Compression::SNAPPY)),
    );
    report(
        "Parquet zstd 1 (shipped)",
        write_parquet(&lines, &writer_properties()),
    );
    report(
        "Parquet zstd 3",
        write_parquet(
            &lines,
            &with(Compression::ZSTD(ZstdLevel::try_new(3).unwrap())),
        ),
    );
    report(
        "Parquet uncompressed",
        write_parquet(&lines, &with(Compression::UNCOMPRESSED)),
    );
}
