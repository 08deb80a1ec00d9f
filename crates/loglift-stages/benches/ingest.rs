//! Ingest throughput and peak memory on full-size invocations from `loglift-samplegen`.
//!
//!     cargo bench -p loglift-stages --bench ingest
//!
//! For each payload (a 6 MB Kinesis event-source batch, a 3 MB Firehose invocation, one with 10 %
//! CloudWatch Logs records, CloudWatch Logs through Firehose) it times a whole invocation as the
//! Lambda runs it — `handle_payload` on the event's bytes, serialise the response — next to the
//! *naive pass* over the same bytes: the envelope read borrowed with serde, each record's data
//! base64-decoded, gunzipped when gzip, every line parsed into a `serde_json::Value` and
//! re-serialised (and base64-encoded again for Firehose). `speedup` = naive time ÷ handler time:
//! ≥ 1.0 means the handler, which also routes, identifies, rejects and compresses, is no slower
//! than that bare round trip. Objects go to an in-memory `MemoryStore`, so no disk I/O is
//! measured.
//!
//! Peak memory is measured per payload in a fresh process: the bench writes the payload to a
//! temporary file and runs itself with `--child <kind> <file>`; the child reads the file, notes
//! `VmHWM` (peak resident set) from `/proc/self/status`, runs one invocation, notes it again.
//!
//! Handler and naive pass run alternately, and each figure is the best run of each: both see the
//! same neighbours on a shared machine, and the best run is the least disturbed.
//!
//! The generator's seed is 2020; `LOGLIFT_BENCH_SEED=N` generates other bytes of the same shapes
//! (figures on data the bench's own figures were not measured on).
//!
//! `--write DIR` writes the payloads to DIR instead of timing them (`scripts/bench-runtime` times
//! the Lambda binaries on them under a Runtime API).
//!
//! Without `--bench` (as under `cargo test --benches`) it runs each payload once, small, as a
//! smoke test. Output: a table on stdout.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use loglift_core::spec::Spec;
use loglift_core::storage::Layout;
use loglift_local::MemoryStore;
use loglift_ports::FixedClock;
use loglift_samplegen::{generate, FileKind, GenOptions, Mix};
use loglift_stages::ingest::{handle_payload, IngestDeps};
use serde_json::Value;

const SPEC: &str = include_str!("../../../spec/pipelines.yaml");

type Deps = IngestDeps<MemoryStore, FixedClock>;

fn deps() -> Result<Deps, String> {
    let spec = Spec::parse(SPEC).map_err(|e| format!("{e:?}"))?;
    let clock = FixedClock(
        Utc.with_ymd_and_hms(2020, 6, 1, 12, 0, 0)
            .single()
            .ok_or("fixed time")?,
    );
    Ok(IngestDeps::new(
        spec,
        Layout::single_bucket("lake"),
        MemoryStore::new(),
        clock,
    ))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())
}

/// One payload to measure.
struct Case {
    name: &'static str,
    kind: FileKind,
    /// The stream or delivery stream whose invocations to take.
    source: &'static str,
    opts: GenOptions,
}

fn cases(events_scale: f64) -> Vec<Case> {
    let scaled = |n: f64| (n * events_scale).max(50.0) as u64;
    let base = GenOptions {
        dup_rate: 0.01,
        bad_rate: 0.005,
        seed: std::env::var("LOGLIFT_BENCH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2020),
        ..GenOptions::default()
    };
    let only = |p: &str| Mix::only(p).unwrap_or_default();
    vec![
        Case {
            name: "kinesis user_events",
            kind: FileKind::Kinesis,
            source: "user-events",
            opts: GenOptions {
                events: scaled(7_000.0),
                mix: only("user_events"),
                firehose_share: 0.0,
                ..base.clone()
            },
        },
        Case {
            name: "kinesis user_utm",
            kind: FileKind::Kinesis,
            source: "user-utm",
            opts: GenOptions {
                events: scaled(9_000.0),
                mix: only("user_utm"),
                ..base.clone()
            },
        },
        Case {
            name: "firehose user_events",
            kind: FileKind::Firehose,
            source: "user-events-to-s3",
            opts: GenOptions {
                events: scaled(4_000.0),
                mix: only("user_events"),
                firehose_share: 1.0,
                ..base.clone()
            },
        },
        Case {
            name: "firehose user_events + 10 % cwlogs",
            kind: FileKind::Firehose,
            source: MIXED,
            opts: GenOptions {
                events: scaled(4_000.0),
                mix: only("user_events"),
                firehose_share: 1.0,
                ..base.clone()
            },
        },
        Case {
            name: "firehose cwlogs app_logs",
            kind: FileKind::Firehose,
            source: "idp-events-to-s3",
            opts: GenOptions {
                events: scaled(6_000.0),
                mix: only("app_logs"),
                ..base.clone()
            },
        },
        Case {
            name: "firehose cwlogs, 3 MB (over the response cap)",
            kind: FileKind::Firehose,
            source: "idp-events-to-s3",
            opts: GenOptions {
                events: scaled(40_000.0),
                mix: only("app_logs"),
                firehose_response_bytes: usize::MAX,
                ..base
            },
        },
    ]
}

/// The source name of the mixed case: the user-events Firehose invocation with every tenth record
/// swapped for a CloudWatch Logs record of the same size class.
const MIXED: &str = "mixed";

/// The largest invocation of a case.
fn payload(case: &Case) -> Result<Vec<u8>, String> {
    if case.source == MIXED {
        return mixed(case);
    }
    let generated = generate(&case.opts).map_err(|e| e.to_string())?;
    generated
        .files
        .into_iter()
        .filter(|f| f.kind == case.kind && f.source == case.source)
        .max_by_key(|f| f.body.len())
        .map(|f| f.body)
        .ok_or_else(|| format!("{}: nothing generated", case.name))
}

/// A Firehose invocation of user events in which every tenth record is a gzip CloudWatch Logs
/// subscription record (app_logs), the invocation kept at the user-events one's size.
fn mixed(case: &Case) -> Result<Vec<u8>, String> {
    let users = payload(&Case {
        source: "user-events-to-s3",
        ..clone_case(case)
    })?;
    let logs = payload(&Case {
        source: "idp-events-to-s3",
        opts: GenOptions {
            events: case.opts.events * 2,
            mix: Mix::only("app_logs").unwrap_or_default(),
            ..case.opts.clone()
        },
        ..clone_case(case)
    })?;
    let mut event: Value = serde_json::from_slice(&users).map_err(|e| e.to_string())?;
    let logs: Value = serde_json::from_slice(&logs).map_err(|e| e.to_string())?;
    let log_records = logs
        .get("records")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let records = event
        .get_mut("records")
        .and_then(Value::as_array_mut)
        .ok_or("no records in the user-events invocation")?;
    let target = users.len();
    let mut logs = log_records.into_iter();
    for (i, record) in records.iter_mut().enumerate() {
        if i % 10 == 9 {
            if let (Some(mut log), Some(id)) = (logs.next(), record.get("recordId").cloned()) {
                if let Some(slot) = log.get_mut("recordId") {
                    *slot = id;
                }
                *record = log;
            }
        }
    }
    // Keep the invocation within the user-events one's size: drop records from the end.
    let mut bytes = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
    while bytes.len() > target {
        let records = event
            .get_mut("records")
            .and_then(Value::as_array_mut)
            .ok_or("no records")?;
        let over = bytes.len() - target;
        let drop = (over / 1600).max(1).min(records.len());
        records.truncate(records.len() - drop);
        bytes = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
    }
    Ok(bytes)
}

fn clone_case(case: &Case) -> Case {
    Case {
        name: case.name,
        kind: case.kind,
        source: case.source,
        opts: case.opts.clone(),
    }
}

/// The naive pass: what the least careful Rust ingest would do with the same bytes. The envelope
/// borrowed with serde; per record: base64 → gunzip when gzip → every non-blank line into a
/// `serde_json::Value` → re-serialised (→ base64 again for a Firehose response). Returns the
/// bytes produced, so nothing is optimised away.
fn naive(payload: &[u8]) -> Result<usize, String> {
    use base64::Engine as _;
    use std::io::Read as _;
    #[derive(serde::Deserialize)]
    struct Event<'a> {
        #[serde(rename = "Records", default, borrow)]
        kinesis: Vec<KinesisRecord<'a>>,
        #[serde(default, borrow)]
        records: Vec<FirehoseRecord<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct KinesisRecord<'a> {
        #[serde(borrow)]
        kinesis: FirehoseRecord<'a>,
    }
    #[derive(serde::Deserialize)]
    struct FirehoseRecord<'a> {
        data: &'a str,
    }
    let event: Event<'_> = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let firehose = event.kinesis.is_empty();
    let data = event
        .kinesis
        .iter()
        .map(|r| r.kinesis.data)
        .chain(event.records.iter().map(|r| r.data));
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut produced = 0;
    for data in data {
        // Bad records (the generator makes some) are skipped, as a handler would reject them.
        let Ok(mut bytes) = b64.decode(data) else {
            continue;
        };
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut plain = Vec::new();
            // The naive pass decompresses without caps, as a naive handler would.
            #[allow(clippy::disallowed_types)]
            let mut gunzip = flate2::read::MultiGzDecoder::new(bytes.as_slice());
            if gunzip.read_to_end(&mut plain).is_err() {
                continue;
            }
            bytes = plain;
        }
        let mut out = Vec::with_capacity(bytes.len());
        for line in bytes.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Ok(value) = serde_json::from_slice::<Value>(line) {
                serde_json::to_writer(&mut out, &value).map_err(|e| e.to_string())?;
                out.push(b'\n');
            }
        }
        produced += if firehose {
            b64.encode(&out).len()
        } else {
            out.len()
        };
    }
    Ok(produced)
}

/// What one invocation did: events out, response bytes.
struct Outcome {
    events: u64,
    rejected: u64,
    response: usize,
}

/// One invocation as the Lambda runs it: handle the event's bytes, serialise the response.
fn invoke(rt: &tokio::runtime::Runtime, deps: &Deps, payload: &[u8]) -> Result<Outcome, String> {
    let (response, tally) = rt
        .block_on(handle_payload(deps, payload))
        .map_err(|e| e.to_string())?;
    let bytes = serde_json::to_vec(&response).map_err(|e| e.to_string())?;
    Ok(Outcome {
        events: tally.total().records_out,
        rejected: tally.total().rejected,
        response: bytes.len(),
    })
}

/// Seconds per run of `f`: at least `min_runs`, until `budget` is spent, after one warm-up.
fn time<F: FnMut() -> Result<(), String>>(
    min_runs: u32,
    budget: Duration,
    mut f: F,
) -> Result<f64, String> {
    f()?;
    let start = Instant::now();
    let mut runs = 0u32;
    while runs < min_runs || start.elapsed() < budget {
        f()?;
        runs += 1;
    }
    Ok(start.elapsed().as_secs_f64() / f64::from(runs))
}

/// The best seconds per run of `a` and of `b`, run alternately (at least `min_runs` each, until
/// `budget` is spent, after one warm-up each): both see the same neighbours, and the best run is
/// the one they disturbed least (on this shared machine single runs move by a third).
fn time_pair<A, B>(
    min_runs: u32,
    budget: Duration,
    mut a: A,
    mut b: B,
) -> Result<(f64, f64), String>
where
    A: FnMut() -> Result<(), String>,
    B: FnMut() -> Result<(), String>,
{
    a()?;
    b()?;
    let start = Instant::now();
    let (mut best_a, mut best_b) = (f64::INFINITY, f64::INFINITY);
    let mut runs = 0u32;
    while runs < min_runs || start.elapsed() < budget {
        let t = Instant::now();
        a()?;
        best_a = best_a.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        b()?;
        best_b = best_b.min(t.elapsed().as_secs_f64());
        runs += 1;
    }
    Ok((best_a, best_b))
}

/// `VmHWM` in KiB.
fn peak_rss_kib() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/self/status".to_owned())
}

/// The child: one invocation of the payload in `file`; prints `base_kib peak_kib`.
fn child(file: &Path) -> Result<(), String> {
    let deps = deps()?;
    let rt = runtime()?;
    let payload = std::fs::read(file).map_err(|e| e.to_string())?;
    let base = peak_rss_kib()?;
    invoke(&rt, &deps, &payload)?;
    let peak = peak_rss_kib()?;
    println!("{base} {peak}");
    Ok(())
}

/// Peak RSS (base, peak) in MiB of one invocation in a fresh process.
fn measure_memory(payload: &[u8]) -> Result<(f64, f64), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("payload.json");
    std::fs::write(&file, payload).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .arg("--child")
        .arg(&file)
        .env("RUST_LOG", "off")
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut numbers = text.split_whitespace().map(str::parse::<f64>);
    match (numbers.next(), numbers.next()) {
        (Some(Ok(base)), Some(Ok(peak))) => Ok((base / 1024.0, peak / 1024.0)),
        _ => Err(format!("child printed {text:?}")),
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let file = args.get(i + 1).ok_or("--child needs a file")?;
        return child(Path::new(file));
    }
    let full = args.iter().any(|a| a == "--bench");
    let (scale, min_runs, budget) = if full {
        (1.0, 3, Duration::from_millis(2500))
    } else {
        (0.02, 1, Duration::ZERO)
    };
    let deps = deps()?;
    let rt = runtime()?;

    println!(
        "{:<46} {:>7} {:>7} {:>6} {:>6} {:>6} {:>9} {:>9} {:>7} {:>9} {:>9}",
        "payload",
        "records",
        "events",
        "rej.",
        "MB",
        "resp",
        "handler",
        "naive",
        "speedup",
        "peak RSS",
        "base RSS"
    );
    println!(
        "{:<46} {:>7} {:>7} {:>6} {:>6} {:>6} {:>9} {:>9} {:>7} {:>9} {:>9}",
        "", "", "", "", "", "MB", "MB/s", "MB/s", "", "MiB", "MiB"
    );
    // `--case TEXT`: only the payloads whose name contains TEXT (for profiling one).
    let only = args
        .iter()
        .position(|a| a == "--case")
        .and_then(|i| args.get(i + 1));
    // `--write DIR`: write each payload to DIR/<name>.json and stop (for scripts/bench-runtime,
    // which times the Lambda binaries under a Runtime API with the same bytes).
    let write = args
        .iter()
        .position(|a| a == "--write")
        .and_then(|i| args.get(i + 1));
    for case in cases(scale) {
        if only.is_some_and(|text| !case.name.contains(text.as_str())) {
            continue;
        }
        let payload = payload(&case)?;
        if let Some(dir) = write {
            let name = case
                .name
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join("-");
            let file = Path::new(dir).join(format!("{name}.json"));
            std::fs::write(&file, &payload).map_err(|e| format!("{}: {e}", file.display()))?;
            println!("{}", file.display());
            continue;
        }
        let mb = payload.len() as f64 / 1e6;
        let outcome = invoke(&rt, &deps, &payload)?;
        let records = serde_json::from_slice::<Value>(&payload)
            .ok()
            .and_then(|event| {
                ["Records", "records"]
                    .iter()
                    .find_map(|k| event.get(k).and_then(Value::as_array).map(Vec::len))
            })
            .unwrap_or(0);
        // `--handler-only`: skip the naive pass (for profiling the handler alone).
        let (handler, naive) = if args.iter().any(|a| a == "--handler-only") {
            let handler = time(min_runs, budget, || {
                invoke(&rt, &deps, &payload).map(|_| ())
            })?;
            (handler, f64::NAN)
        } else {
            time_pair(
                min_runs,
                budget * 2,
                || invoke(&rt, &deps, &payload).map(|_| ()),
                || naive(&payload).map(drop),
            )?
        };
        let (base, peak) = measure_memory(&payload)?;
        println!(
            "{:<46} {:>7} {:>7} {:>6} {:>6.2} {:>6.2} {:>9.1} {:>9.1} {:>6.2}x {:>9.1} {:>9.1}",
            case.name,
            records,
            outcome.events,
            outcome.rejected,
            mb,
            outcome.response as f64 / 1e6,
            mb / handler,
            mb / naive,
            naive / handler,
            peak,
            base
        );
        if outcome.response > loglift_stages::ingest::RESPONSE_CAP {
            return Err(format!("{}: response over the cap", case.name));
        }
        deps.store.clear();
    }
    println!(
        "MB = 10^6 bytes of invocation payload (the Lambda event JSON); resp = the response's bytes; \
         events = events out; rej. = \
         events rejected (each a reject record in the errors bucket). handler = handle_payload + serialise the response, objects in \
         memory; naive = the naive pass (module doc); speedup = naive time / handler time. peak RSS = VmHWM after one invocation in a \
         fresh process; base RSS = before it, payload read."
    );
    Ok(())
}
