//! Ingest throughput and peak memory on full-size invocations from `loglift-samplegen`.
//!
//!     cargo bench -p loglift-stages --bench ingest
//!
//! For each payload (a 6 MB Kinesis event-source batch, a 3 MB Firehose invocation, CloudWatch
//! Logs through Firehose) it times a whole invocation as the Lambda runs it — parse the event
//! JSON into a `serde_json::Value`, `handle_event`, serialise the response — next to a plain
//! `serde_json::from_slice::<Value>` pass over the same bytes, the floor any handler pays. The
//! ratio (handler time ÷ parse time) is the headline. Objects go to an in-memory
//! `MemoryStore`, so no disk I/O is measured.
//!
//! Peak memory is measured per payload in a fresh process: the bench writes the payload to a
//! temporary file and runs itself with `--child <kind> <file>`; the child reads the file, notes
//! `VmHWM` (peak resident set) from `/proc/self/status`, runs one invocation, notes it again.
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
use loglift_stages::ingest::{handle_event, IngestDeps};
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
        seed: 2020,
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

/// The largest invocation of a case.
fn payload(case: &Case) -> Result<Vec<u8>, String> {
    let generated = generate(&case.opts).map_err(|e| e.to_string())?;
    generated
        .files
        .into_iter()
        .filter(|f| f.kind == case.kind && f.source == case.source)
        .max_by_key(|f| f.body.len())
        .map(|f| f.body)
        .ok_or_else(|| format!("{}: nothing generated", case.name))
}

/// What one invocation did: records, events out, response bytes.
struct Outcome {
    records: u64,
    events: u64,
    response: usize,
}

/// One invocation as the Lambda runs it: parse, handle, serialise the response.
fn invoke(rt: &tokio::runtime::Runtime, deps: &Deps, payload: &[u8]) -> Result<Outcome, String> {
    let event: Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let records = ["Records", "records"]
        .iter()
        .find_map(|k| event.get(k).and_then(Value::as_array).map(Vec::len))
        .unwrap_or(0) as u64;
    let (response, tally) = rt
        .block_on(handle_event(deps, event))
        .map_err(|e| e.to_string())?;
    let bytes = serde_json::to_vec(&response).map_err(|e| e.to_string())?;
    Ok(Outcome {
        records,
        events: tally.total().records_out,
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
        "{:<46} {:>7} {:>7} {:>6} {:>6} {:>9} {:>10} {:>6} {:>9} {:>9}",
        "payload",
        "records",
        "events",
        "MB",
        "resp",
        "handler",
        "serde_json",
        "ratio",
        "peak RSS",
        "base RSS"
    );
    println!(
        "{:<46} {:>7} {:>7} {:>6} {:>6} {:>9} {:>10} {:>6} {:>9} {:>9}",
        "", "", "", "", "MB", "MB/s", "MB/s", "", "MiB", "MiB"
    );
    for case in cases(scale) {
        let payload = payload(&case)?;
        let mb = payload.len() as f64 / 1e6;
        let outcome = invoke(&rt, &deps, &payload)?;
        let handler = time(min_runs, budget, || {
            invoke(&rt, &deps, &payload).map(|_| ())
        })?;
        let parse = time(min_runs, budget, || {
            serde_json::from_slice::<Value>(&payload)
                .map(drop)
                .map_err(|e| e.to_string())
        })?;
        let (base, peak) = measure_memory(&payload)?;
        println!(
            "{:<46} {:>7} {:>7} {:>6.2} {:>6.2} {:>9.1} {:>10.1} {:>5.1}x {:>9.1} {:>9.1}",
            case.name,
            outcome.records,
            outcome.events,
            mb,
            outcome.response as f64 / 1e6,
            mb / handler,
            mb / parse,
            handler / parse,
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
         events = events out. handler = parse + handle_event + serialise the response, objects in \
         memory; ratio = handler time / serde_json time. peak RSS = VmHWM after one invocation in a \
         fresh process; base RSS = before it, payload read."
    );
    Ok(())
}
