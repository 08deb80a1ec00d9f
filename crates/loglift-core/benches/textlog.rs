//! Plain-text log throughput: generated ALB access log lines and Lambda platform lines, gzip, as
//! a `format: text` landing file.
//!
//!     cargo bench -p loglift-core --bench textlog            # 200 MB of each
//!     cargo bench -p loglift-core --bench textlog -- 50      # another size, in MB
//!
//! For each format it writes a gzip file of that many MB decompressed to a temporary file, then
//! times three passes over it: (1) the least work — decompress and split lines
//! (`compress::open_stream` + `ndjson::LineReader`); (2) that plus each line through the
//! pipeline's text reader (`textlog::Reader::line`); (3) the whole transform of the file —
//! decode, parse, validate, write curated gzip parts (`curated: { format: ndjson }`: this bench
//! measures the text reader; the transform bench compares the curated formats) to a sink that
//! discards them. MB/s is of
//! decompressed input; the ratio is pass 1 over pass 3.
//!
//! Without `--bench` (as under `cargo test --benches`) it runs 2 MB as a smoke test.
// `is_multiple_of` is newer than the workspace's rust-version (1.85).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::manual_is_multiple_of
)]

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use flate2::write::GzEncoder;
use loglift_core::compress;
use loglift_core::ndjson::{Line, LineReader, DEFAULT_MAX_LINE};
use loglift_core::spec::Spec;
use loglift_core::storage::Layout;
use loglift_core::textlog;
use loglift_core::transform::{transform_object, Context, Limits, Sink, SourceKind, SourceObject};

const MB: u64 = 1_000_000;

const SPEC: &str = r#"
version: 1
pipelines:
  - name: alb_access
    match: { s3_prefix: alb/ }
    format: text
    text: { format: alb }
    table: logs.alb_access
    curated: { format: ndjson }
    identity: { hash: [time, elb, client_ip, client_port, trace_id, request] }
    event_time: time
    columns:
      - { name: time, type: timestamp, required: true }
      - { name: elb, type: string, required: true, max_bytes: 255 }
      - { name: client_ip, type: string, max_bytes: 45 }
      - { name: client_port, type: int }
      - { name: target_processing_time, type: float }
      - { name: elb_status_code, type: int }
      - { name: sent_bytes, type: int }
      - { name: request_method, type: string, max_bytes: 16 }
      - { name: request_url, type: string, max_bytes: 8192 }
      - { name: user_agent, type: string, max_bytes: 1024 }
      - { name: trace_id, type: string, max_bytes: 128 }
  - name: lambda_lines
    match: { s3_prefix: lambda/ }
    format: text
    text: { format: lambda_platform, unmatched: message }
    table: logs.lambda_lines
    curated: { format: ndjson }
    identity: { hash: [request_id, type, message] }
    columns:
      - { name: record_type, type: string, max_bytes: 8, source: type }
      - { name: request_id, type: string, max_bytes: 64 }
      - { name: duration_ms, type: float }
      - { name: billed_duration_ms, type: int }
      - { name: memory_size_mb, type: int }
      - { name: max_memory_used_mb, type: int }
      - { name: init_duration_ms, type: float }
      - { name: message, type: string, max_bytes: 65535 }
"#;

struct Discard {
    objects: u64,
}

impl Sink for Discard {
    type Error = String;
    fn put(&mut self, _: &str, _: &str, _: Vec<u8>, _: &str) -> Result<String, String> {
        self.objects += 1;
        Ok(format!("etag-{}", self.objects))
    }
}

fn alb_line(i: u64) -> String {
    let (s, us) = (i % 86_400, (i * 7919) % 1_000_000);
    format!(
        "https 2026-11-21T{:02}:{:02}:{:02}.{us:06}Z app/my-loadbalancer/50dc6c495c0c9188 192.168.{}.{}:{} 10.0.0.{}:80 0.000 0.{:03} 0.000 {} 200 {} {} \"GET https://www.example.com:443/items/{i}?page={} HTTP/1.1\" \"Mozilla/5.0 (X11; Linux x86_64) \\\"bench\\\" {}\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 \"Root=1-58337262-{i:024x}\" \"www.example.com\" \"arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012\" 1 2026-11-21T00:00:00.000000Z \"forward\" \"-\" \"-\" \"10.0.0.1:80\" \"200\" \"-\" \"-\" TID_{i:016x}\n",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        i % 250,
        (i / 250) % 250,
        1024 + i % 60_000,
        i % 200,
        i % 1000,
        if i % 50 == 0 { 404 } else { 200 },
        200 + i % 900,
        1000 + (i * 31) % 90_000,
        i % 7,
        i % 13,
    )
}

fn lambda_lines(i: u64) -> String {
    let id = format!("{:08x}-xmpl-4697-b07a-{:012x}", i, i * 7);
    format!(
        "START RequestId: {id} Version: $LATEST\n\
         2026-11-21T10:00:{:02}.{:03}Z\t{id}\tINFO\tprocessing order {i} for customer {}\n\
         order {i} total 42.00 EUR\n\
         END RequestId: {id}\n\
         REPORT RequestId: {id}\tDuration: {}.{:02} ms\tBilled Duration: {} ms\tMemory Size: 128 MB\tMax Memory Used: {} MB\t{}\n",
        i % 60,
        i % 1000,
        i % 9973,
        i % 900,
        i % 100,
        i % 900 + 1,
        50 + i % 70,
        if i % 20 == 0 { "Init Duration: 130.49 ms\t" } else { "" },
    )
}

fn generate(path: &Path, mb: u64, line: fn(u64) -> String) -> u64 {
    let file = File::create(path).expect("create");
    let mut gz = GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    let (mut written, mut i) = (0u64, 0u64);
    while written < mb * MB {
        let text = line(i);
        gz.write_all(text.as_bytes()).expect("write");
        written += text.len() as u64;
        i += 1;
    }
    gz.finish().expect("finish").flush().expect("flush");
    written
}

fn open(path: &Path) -> impl std::io::BufRead {
    let file = BufReader::with_capacity(1 << 16, File::open(path).expect("open"));
    compress::open_stream(file).expect("stream").1
}

fn mbs(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / MB as f64 / secs
}

fn run(spec: &Spec, pipeline: &str, path: &Path, decompressed: u64) {
    let p = spec.pipeline(pipeline).expect("pipeline");
    let parser = p.text.as_ref().unwrap().parser(p).unwrap();
    let gz = std::fs::metadata(path).expect("meta").len();

    // (1) decompress + split lines.
    let t = Instant::now();
    let mut lines = LineReader::new(open(path), DEFAULT_MAX_LINE);
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Some(line) = lines.next_line().expect("read") {
        if let Line::Text { bytes: b, .. } = line {
            n += 1;
            bytes += b.len() as u64 + 1;
        }
    }
    let split = t.elapsed().as_secs_f64();
    assert_eq!(bytes, decompressed);

    // (2) + each line through the text reader.
    let t = Instant::now();
    let mut lines = LineReader::new(open(path), DEFAULT_MAX_LINE);
    let mut reader = parser.reader(Utc::now());
    let (mut rows, mut rejects) = (0u64, 0u64);
    while let Some(line) = lines.next_line().expect("read") {
        if let Line::Text { bytes: b, .. } = line {
            match reader.line(std::str::from_utf8(b).expect("utf-8")) {
                textlog::Line::Row(_) => rows += 1,
                textlog::Line::Skip => {}
                textlog::Line::Reject(_) => rejects += 1,
            }
        }
    }
    let parse = t.elapsed().as_secs_f64();
    assert_eq!((rows, rejects), (n, 0), "every generated line parses");

    // (3) the whole transform of the file.
    let layout = Layout::single_bucket("lake");
    let source = SourceObject {
        bucket: "lake",
        key: "landing/x.log.gz",
        version: "v1",
        kind: SourceKind::Landing,
        pipeline: p,
        arrival: Utc
            .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
            .single()
            .unwrap(),
        ingested_at: Utc
            .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
            .single()
            .unwrap(),
    };
    let ctx = Context {
        layout: &layout,
        spec_version: 1,
        limits: Limits::default(),
        now: Utc::now(),
        priority: &[],
    };
    let mut sink = Discard { objects: 0 };
    let t = Instant::now();
    let outcome = transform_object(open(path), &source, &ctx, &mut sink).expect("transform");
    let whole = t.elapsed().as_secs_f64();
    assert_eq!((outcome.valid, outcome.rejected), (n, 0), "{outcome:?}");

    println!(
        "{pipeline:<12} {:>8.1} MB in ({:>6.1} MB gzip, {n} lines): decompress+split {:>7.1} MB/s | +parse {:>6.1} MB/s | transform {:>6.1} MB/s | ratio split/transform {:.1}",
        decompressed as f64 / MB as f64,
        gz as f64 / MB as f64,
        mbs(decompressed, split),
        mbs(decompressed, parse),
        mbs(decompressed, whole),
        whole / split,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    let mb = if bench {
        args.iter().find_map(|a| a.parse().ok()).unwrap_or(200)
    } else {
        2
    };
    let spec = Spec::parse(SPEC).expect("bench spec");
    let dir = tempfile::tempdir().expect("tempdir");
    for (pipeline, line) in [
        ("alb_access", alb_line as fn(u64) -> String),
        ("lambda_lines", lambda_lines as fn(u64) -> String),
    ] {
        let path = dir.path().join(format!("{pipeline}.log.gz"));
        let decompressed = generate(&path, mb, line);
        run(&spec, pipeline, &path, decompressed);
    }
}
