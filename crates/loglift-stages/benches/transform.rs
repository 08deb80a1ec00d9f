//! Transform throughput and peak memory on generated raw objects.
//!
//!     cargo bench -p loglift-stages --bench transform            # 200 MB and 2 GB objects
//!     cargo bench -p loglift-stages --bench transform -- 50 500  # other sizes, in MB
//!
//! For each size it writes a gzip NDJSON raw object of `user_events` (that many MB decompressed)
//! to a temporary file, streaming, then in a fresh child process each: (1) gzip-decode-only —
//! `compress::open_stream` read to the end, the floor; (2) the *least-work pass*, the least any
//! transform must do with these bytes — gunzip, split lines, a full JSON syntax pass over each
//! line without allocating (`serde::de::IgnoredAny`), the line into a gzip encoder at level 1;
//! (3) transform's first step alone — gunzip, split lines, each line read as a raw event
//! (borrowed: its fields found, their values left as text), nothing written — the floor of this
//! transform's design, printed as a share of the least-work pass's time; (4) the Parquet writer
//! alone — the object's rows curated into cells by event hour first, not timed, then only the
//! parts written as transform writes a closing part (Arrow builders, arrow-rs's `ArrowWriter`,
//! zstd pages), also printed as a share of the least-work pass's time; (5) the whole transform
//! of the object — decode, parse, validate, write curated parts and rejects to a sink that
//! discards them — once with curated Parquet parts (the default) and once with gzip NDJSON
//! parts, on the same bytes, so the two curated formats compare in MB/s, peak memory, objects
//! and bytes written. `vs least` = least-work time ÷ transform time (≥ 1.0: the transform is no
//! slower than that bare pass). MB/s is of decompressed input. The child reports its `VmHWM`
//! (peak resident set) from `/proc/self/status`, which should not grow with the object.
//!
//! Open parts hold at most `LOGLIFT_TRANSFORM_BUFFER_BYTES` (48 MiB) compressed: a 200 MB object
//! spread over 24 event hours stays under it, a 2 GB one reaches it, so peak memory is the budget
//! plus a constant. Set the variable smaller to see both sizes at the same peak.
//!
//! Each figure is the best of three runs, the modes interleaved. `--keep` leaves the generated
//! object in the temporary directory, for profiling one mode alone (`--child parquet <path>`).
//!
//! `--object PATH` (repeatable) measures a given gzip raw object of `user_events` instead, for
//! figures on bytes this bench did not write (a raw object of `loglift local run`'s lake, say):
//! `cargo bench -p loglift-stages --bench transform -- --object PATH`.
//!
//! Without `--bench` (as under `cargo test --benches`) it runs one 2 MB object as a smoke test.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use flate2::write::GzEncoder;
use loglift_core::spec::Spec;
use loglift_core::storage::Layout;
use loglift_core::transform::{transform_object, Context, Limits, Sink, SourceKind, SourceObject};

const SPEC: &str = include_str!("../../../spec/pipelines.yaml");
const MB: u64 = 1_000_000;

/// Counts what would be stored.
struct Discard {
    objects: u64,
    bytes: u64,
}

impl Sink for Discard {
    type Error = String;
    fn put(&mut self, _: &str, _: &str, bytes: Vec<u8>, _: &str) -> Result<String, String> {
        self.objects += 1;
        self.bytes += bytes.len() as u64;
        Ok(format!("etag-{}", self.objects))
    }
}

/// Write `mb` MB (decompressed) of raw user_events lines, 1 in 200 of them invalid.
fn generate(path: &Path, mb: u64) -> Result<u64, String> {
    let file = File::create(path).map_err(|e| e.to_string())?;
    let mut gz = GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    let mut written = 0u64;
    let mut i = 0u64;
    while written < mb * MB {
        let minute = i % (24 * 60);
        let line = if i % 200 == 7 {
            format!("{{\"pipeline\":\"user_events\",\"event_id\":\"bad-{i}\",\"arrived_at\":\"2026-11-21T10:00:00.000Z\",\"origin\":{{}},\"data\":{{\"request_id\":\"bad-{i}\"}}}}\n")
        } else {
            format!(
                "{{\"pipeline\":\"user_events\",\"event_id\":\"{i:032x}\",\"arrived_at\":\"2026-11-21T10:00:00.000Z\",\"origin\":{{\"stream\":\"user-events\",\"shard\":\"shardId-000000000000\",\"sequence\":\"4954{i:020}\"}},\"data\":{{\"request_id\":\"{i:032x}\",\"request_timestamp\":\"2020-06-01T{:02}:{:02}:{:02}Z\",\"cookie_id\":\"c-{:08}\",\"topic\":\"page_view\",\"message\":\"viewed the product page of item {i}\",\"environment\":\"prod\",\"website_id\":\"site-42\",\"user_account_id\":\"u-{:06}\",\"location\":\"https://shop.example.com/items/{i}?ref=home\",\"user_agent\":\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\",\"referrer\":\"https://www.google.com/search?q=item+{i}\",\"ab_test\":\"variant-{}\"}}}}\n",
                minute / 60,
                minute % 60,
                i % 60,
                i % 10_000_000,
                i % 1_000_000,
                i % 3
            )
        };
        gz.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
        written += line.len() as u64;
        i += 1;
    }
    gz.finish()
        .and_then(|mut w| w.flush())
        .map_err(|e| e.to_string())?;
    Ok(written)
}

/// A writer that keeps only the count of bytes written.
struct Counted(u64);

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Each line of `reader` (decompressed) through `f`: the bytes read (newlines counted) and the
/// lines `f` called valid.
fn each_line<R: Read>(
    reader: R,
    mut f: impl FnMut(&[u8]) -> Result<bool, String>,
) -> Result<(u64, u64), String> {
    let mut lines = loglift_core::ndjson::LineReader::new(
        BufReader::with_capacity(256 * 1024, reader),
        1 << 30,
    );
    let (mut total, mut valid) = (0u64, 0u64);
    while let Some(line) = lines.next_line().map_err(|e| e.to_string())? {
        let loglift_core::ndjson::Line::Text { bytes, .. } = line else {
            continue;
        };
        total += bytes.len() as u64 + 1;
        if f(bytes)? {
            valid += 1;
        }
    }
    Ok((total, valid))
}

/// The child: run one mode over the file, print `seconds bytes peak_mib extra`.
fn child(mode: &str, path: &Path) -> Result<(), String> {
    let file = BufReader::with_capacity(256 * 1024, File::open(path).map_err(|e| e.to_string())?);
    let (_, mut reader) = loglift_core::compress::open_stream(file).map_err(|e| e.to_string())?;
    let start = Instant::now();
    match mode {
        "decode" => {
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0u64;
            loop {
                let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            println!(
                "{} {total} {:.1} -",
                start.elapsed().as_secs_f64(),
                peak_rss_mib()
            );
        }
        "read" => {
            // The first step of transform's own, without which no row exists: each line read as
            // a raw event, borrowed (its fields found, their values left as JSON text).
            use loglift_core::{ndjson::from_line, record::RawEventRef};
            let (total, valid) =
                each_line(reader, |bytes| Ok(from_line::<RawEventRef>(bytes).is_ok()))?;
            println!(
                "{} {total} {:.1} rows={valid}",
                start.elapsed().as_secs_f64(),
                peak_rss_mib()
            );
        }
        "least" => {
            let mut gz = GzEncoder::new(Counted(0), flate2::Compression::fast());
            let (total, valid) = each_line(reader, |bytes| {
                let valid = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
                gz.write_all(bytes).map_err(|e| e.to_string())?;
                gz.write_all(b"\n").map_err(|e| e.to_string())?;
                Ok(valid)
            })?;
            let out = gz.finish().map_err(|e| e.to_string())?.0;
            println!(
                "{} {total} {:.1} rows={valid},out_mb={:.1}",
                start.elapsed().as_secs_f64(),
                peak_rss_mib(),
                out as f64 / MB as f64
            );
        }
        "encode" => {
            // The Parquet writer's own share: every valid line curated into cells and held by
            // event hour as transform's open parts hold them (not timed), then each part's cells
            // decompressed (not timed) and only the part written, as transform writes a part
            // when it closes: Arrow builders, then arrow-rs's `ArrowWriter` with the curated
            // settings. What transform must spend after the raw-line read, as long as arrow-rs
            // writes its Parquet.
            use loglift_core::columnar::{CellRow, ParquetPart};
            use loglift_core::curate::{Curator, RowContext};
            use loglift_core::ndjson::{from_line, ZstdFrameLines, PART_FRAME_BYTES};
            use loglift_core::record::RawEventRef;
            let spec = Spec::parse(SPEC).map_err(|e| format!("{e:?}"))?;
            let pipeline = spec.pipeline("user_events").ok_or("pipeline")?;
            let curator = Curator::new(pipeline, spec.version);
            let ctx = RowContext {
                source_object:
                    "s3://lake/raw/pipeline=user_events/dt=2026-11-21/hour=10/bench.ndjson.gz#v1",
                ingested_at: Utc
                    .with_ymd_and_hms(2026, 11, 21, 10, 0, 0)
                    .single()
                    .ok_or("time")?,
            };
            let mut hours: std::collections::BTreeMap<i64, (ZstdFrameLines, u64)> =
                std::collections::BTreeMap::new();
            let mut row = Vec::new();
            let (total, _) = each_line(reader, |bytes| {
                let Ok(raw) = from_line::<RawEventRef>(bytes) else {
                    return Ok(false);
                };
                row.clear();
                let mut cells = CellRow::new(&mut row);
                let Ok(curated) = curator.curate_into(&raw.data, &raw.event_id, &ctx, &mut cells)
                else {
                    return Ok(false);
                };
                let hour = curated.event_time.map_or(0, |t| t.timestamp() / 3600);
                let (part, line_bytes) = hours
                    .entry(hour)
                    .or_insert_with(|| (ZstdFrameLines::new(PART_FRAME_BYTES), 0));
                part.push_line(&row).map_err(|e| e.to_string())?;
                *line_bytes += curated.line_len as u64;
                Ok(true)
            })?;
            let columns = loglift_core::sql::table_columns(pipeline);
            let (parts, mut rows, mut out, mut secs) = (hours.len(), 0u64, 0usize, 0.0);
            for (part, line_bytes) in hours.into_values() {
                let count = part.lines();
                let compressed = part.finish().map_err(|e| e.to_string())?;
                let mut cells = Vec::new();
                loglift_core::compress::open_stream(&compressed[..])
                    .and_then(|(_, mut cells_in)| cells_in.read_to_end(&mut cells))
                    .map_err(|e| e.to_string())?;
                let start = Instant::now();
                let mut part = ParquetPart::new(columns.clone()).map_err(|e| e.to_string())?;
                part.push_cell_rows(&cells[..], count, line_bytes)
                    .map_err(|e| e.to_string())?;
                out += part.finish().map_err(|e| e.to_string())?.len();
                secs += start.elapsed().as_secs_f64();
                rows += count;
            }
            println!(
                "{secs} {total} {:.1} rows={rows},parts={parts},out_mb={:.1}",
                peak_rss_mib(),
                out as f64 / MB as f64
            );
        }
        _ => {
            let spec = Spec::parse(SPEC).map_err(|e| format!("{e:?}"))?;
            let layout = Layout::single_bucket("lake");
            let now = Utc
                .with_ymd_and_hms(2026, 11, 21, 10, 0, 0)
                .single()
                .ok_or("time")?;
            let mut pipeline = spec.pipeline("user_events").ok_or("pipeline")?.clone();
            pipeline.curated.format = match mode {
                "ndjson" => loglift_core::spec::CuratedFormat::Ndjson,
                _ => loglift_core::spec::CuratedFormat::Parquet,
            };
            let pipeline = &pipeline;
            let source = SourceObject {
                bucket: "lake",
                key: "raw/pipeline=user_events/dt=2026-11-21/hour=10/bench.ndjson.gz",
                version: "v1",
                kind: SourceKind::Raw,
                pipeline,
                arrival: now,
                ingested_at: now,
            };
            let ctx = Context {
                layout: &layout,
                spec_version: spec.version,
                limits: Limits {
                    buffer_budget: std::env::var("LOGLIFT_TRANSFORM_BUFFER_BYTES")
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(Limits::default().buffer_budget),
                    ..Limits::default()
                },
                now,
                priority: &[],
            };
            let mut sink = Discard {
                objects: 0,
                bytes: 0,
            };
            let outcome =
                transform_object(reader, &source, &ctx, &mut sink).map_err(|e| e.to_string())?;
            println!(
                "{} {} {:.1} rows={},rejected={},objects={},out_mb={:.1}",
                start.elapsed().as_secs_f64(),
                outcome.bytes_in,
                peak_rss_mib(),
                outcome.valid,
                outcome.rejected,
                sink.objects,
                sink.bytes as f64 / MB as f64
            );
        }
    }
    Ok(())
}

fn run_child(mode: &str, path: &Path) -> Result<(f64, f64, f64, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .arg("--child")
        .arg(mode)
        .arg(path)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text.split_whitespace();
    let mut num = || -> Result<f64, String> {
        parts
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("child output: {text}"))
    };
    let (secs, bytes, peak) = (num()?, num()?, num()?);
    let extra = text.split_whitespace().nth(3).unwrap_or("-").to_owned();
    Ok((secs, bytes, peak, extra))
}

/// The child modes, in the order they run.
const MODES: [&str; 6] = ["decode", "least", "read", "encode", "parquet", "ndjson"];

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let mode = args.get(1).ok_or("mode")?;
        let path = args.get(2).ok_or("path")?;
        return child(mode, Path::new(path));
    }
    let bench = args.iter().any(|a| a == "--bench");
    let sizes: Vec<u64> = if bench {
        let given: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
        if given.is_empty() {
            vec![200, 2000]
        } else {
            given
        }
    } else {
        vec![2]
    };
    // Raw objects of `user_events` to measure as they are (gzip NDJSON raw lines, e.g. one
    // written by `loglift local run`), instead of generated ones.
    let objects: Vec<PathBuf> = args
        .iter()
        .zip(args.iter().skip(1))
        .filter(|(flag, _)| *flag == "--object")
        .map(|(_, path)| PathBuf::from(path))
        .collect();
    let sizes = if objects.is_empty() {
        sizes
    } else {
        Vec::new()
    };
    let runs: usize = if bench { 3 } else { 1 };
    let keep = args.iter().any(|a| a == "--keep");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    println!(
        "{:>8} {:>9} {:>8} {:>12} {:>11} {:>10} {:>9} {:>11} {:>11}  output",
        "MB in",
        "gz MB",
        "curated",
        "decode MB/s",
        "least MB/s",
        "transform",
        "vs least",
        "least RSS",
        "transf. RSS"
    );
    let generated = sizes
        .into_iter()
        .map(|mb| (Some(mb), dir.path().join(format!("raw-{mb}.ndjson.gz"))));
    for (size, path) in generated.chain(objects.into_iter().map(|path| (None, path))) {
        if let Some(mb) = size {
            generate(&path, mb)?;
        }
        let gz_mb = std::fs::metadata(&path).map_err(|e| e.to_string())?.len() as f64 / MB as f64;
        // Best of `runs` (3), the modes interleaved: this machine's neighbours move a single run's
        // figures by a third.
        let mut best: Vec<Option<(f64, f64, f64, String)>> = vec![None; MODES.len()];
        for _ in 0..runs {
            for (mode, slot) in MODES.iter().zip(best.iter_mut()) {
                let run = run_child(mode, &path)?;
                if slot.as_ref().is_none_or(|b| run.0 < b.0) {
                    *slot = Some(run);
                }
            }
        }
        let [Some(decode), Some(least), Some(read), Some(encode), Some(parquet), Some(ndjson)] =
            &best[..]
        else {
            return Err("no runs".into());
        };
        let d_rate = decode.1 / MB as f64 / decode.0;
        let (l_secs, l_bytes, l_peak, l_extra) = least.clone();
        let l_rate = l_bytes / MB as f64 / l_secs;
        let mb = size.unwrap_or((l_bytes / MB as f64).round() as u64);
        for (format, run) in [("parquet", parquet), ("ndjson", ndjson)] {
            let (t_secs, t_bytes, t_peak, extra) = run.clone();
            let t_rate = t_bytes / MB as f64 / t_secs;
            println!(
                "{mb:>8} {gz_mb:>9.1} {format:>8} {d_rate:>12.1} {l_rate:>11.1} {t_rate:>10.1} {:>8.2}x {l_peak:>9.1}Mi {t_peak:>9.1}Mi  {extra}",
                l_secs / t_secs
            );
        }
        println!("{:>8} least-work pass: {l_extra}", "");
        println!(
            "{:>8} raw-line read alone: {:.1} MB/s, {:.0} % of the least-work pass's time",
            "",
            read.1 / MB as f64 / read.0,
            100.0 * read.0 / l_secs
        );
        println!(
            "{:>8} Parquet writer alone (the parts' rows already curated): {:.1} MB/s, {:.0} % of the least-work pass's time; with the read, {:.0} %",
            "",
            encode.1 / MB as f64 / encode.0,
            100.0 * encode.0 / l_secs,
            100.0 * (read.0 + encode.0) / l_secs
        );
        let Some(mb) = size else {
            println!("{:>8} object {}", "", path.display());
            continue;
        };
        if keep {
            // For profiling one mode: `transform-<hash> --child parquet <path>` under perf.
            let kept = std::env::temp_dir().join(format!("loglift-bench-raw-{mb}.ndjson.gz"));
            std::fs::rename(&path, &kept).map_err(|e| e.to_string())?;
            println!("{:>8} kept {}", "", kept.display());
        } else {
            std::fs::remove_file(&path).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
