//! Deterministic synthetic inputs for loglift, for tests, local runs and benchmarks.
//!
//! [`generate`] turns [`GenOptions`] (how many unique valid events, the duplicate and bad-record
//! rates, a seed, batch limits) into [`Generated`]: Lambda events as the ingest function receives
//! them and landing files as clients drop them, plus a [`Manifest`] that says exactly what they
//! hold. The same options give the same bytes (for one version of this crate).
//!
//! What is generated, per pipeline of `spec/pipelines.yaml`:
//!
//! | pipeline | output |
//! |---|---|
//! | `user_events` | Kinesis event-source events of stream `user-events` (JSON objects, NDJSON records, some gzip'd) and, for a share of them, Firehose transformation events of delivery stream `user-events-to-s3` reading that stream (Kinesis-source, epoch-ms timestamps) |
//! | `user_utm` | Kinesis events of stream `user-utm` (objects, some JSON arrays) |
//! | `app_logs` | Firehose events of `idp-events-to-s3` fed by a CloudWatch Logs subscription: gzip'd DATA_MESSAGE payloads from `prod_/srv/idp/shared/log/events.log` (login.gov `events.log` lines), a CONTROL_MESSAGE now and then |
//! | `hit_data` | `landing/hit_data/part-NNNNN.tsv`: hit-level rows of visits, some from search engines (`http://www.google.com/search?q=Ipod`), some ending in a purchase (`event_list` `1`, `product_list` `Electronics;Ipod - Nano - 8GB;1;190;`) |
//! | `partner_catalog` | `landing/partner_catalog/part-NNNNN.jsonl`: `{partner_name, accommodation_id, accommodation_data}` lines, several partners per accommodation |
//!
//! Each valid event gets, with probability `dup_rate`, one extra copy: a few records later
//! (usually the same invocation), in the next invocation, or — for `user_events` — in the other
//! path (Kinesis and Firehose). With probability `bad_rate` it is followed by one bad item of a
//! kind drawn from those its path can carry: not base64, truncated gzip, invalid UTF-8, not JSON,
//! no identity, an unknown pipeline (stream `clickstream-legacy`, log group
//! `/ecs/idp-worker`), and events that pass ingest but that transform must reject
//! (`wrong_type`, `missing_required`); landing files get bad TSV rows, bad timestamps, broken
//! JSON lines.
//!
//! Kinesis invocations stay under `kinesis_batch_bytes` (6 MiB) and `records_per_batch`
//! (10,000); Firehose invocations under `firehose_batch_bytes` (3 MiB) and — so that no record
//! is failed for `response_too_large` — under an over-estimate of their response
//! (`firehose_response_bytes`). Everything is built in memory; no I/O here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod manifest;
mod pack;
mod payload;
mod rng;
mod wire_estimate;

pub use manifest::{
    Consolidation, Duplicates, FileEntry, IngestCounts, IngestExpectation, JobExpectations,
    KeywordRevenue, Manifest, PipelineCounts,
};

use manifest::PathKind;
use pack::{Content, Encoding, Lane, Limits, Payload, Rec};
use payload::{LogEvent, World, BASE_MS, IDP_LOG_GROUP, OTHER_LOG_GROUP};
use rng::Rng;

/// The pipelines of the shipped spec, in spec order.
pub const PIPELINES: [&str; 5] = [USER_EVENTS, USER_UTM, APP_LOGS, HIT_DATA, PARTNER_CATALOG];
const USER_EVENTS: &str = "user_events";
const USER_UTM: &str = "user_utm";
const APP_LOGS: &str = "app_logs";
const HIT_DATA: &str = "hit_data";
const PARTNER_CATALOG: &str = "partner_catalog";

/// The Kinesis stream no pipeline routes (unknown-pipeline records go there).
pub const UNKNOWN_STREAM: &str = "clickstream-legacy";

/// Lambda's invocation payload cap, the default Kinesis batch size.
pub const KINESIS_BATCH_BYTES: usize = 6 * 1024 * 1024;
/// The largest Firehose processor buffer, the default Firehose invocation size.
pub const FIREHOSE_BATCH_BYTES: usize = 3 * 1024 * 1024;
/// The most records a Kinesis event-source mapping puts in one batch.
pub const MAX_BATCH_RECORDS: usize = 10_000;
/// What a Firehose invocation's response may be estimated at: under the ingest handler's
/// response budget (6 MiB less 64 KiB) with room for the estimate's slack.
pub const FIREHOSE_RESPONSE_BYTES: usize = 5_500_000;

/// Relative weights of the pipelines in the events generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mix {
    pub user_events: u32,
    pub user_utm: u32,
    pub app_logs: u32,
    pub hit_data: u32,
    pub partner_catalog: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            user_events: 35,
            user_utm: 15,
            app_logs: 25,
            hit_data: 15,
            partner_catalog: 10,
        }
    }
}

impl Mix {
    /// Only one pipeline.
    pub fn only(pipeline: &str) -> Option<Mix> {
        let none = Mix {
            user_events: 0,
            user_utm: 0,
            app_logs: 0,
            hit_data: 0,
            partner_catalog: 0,
        };
        Some(match pipeline {
            USER_EVENTS => Mix {
                user_events: 1,
                ..none
            },
            USER_UTM => Mix {
                user_utm: 1,
                ..none
            },
            APP_LOGS => Mix {
                app_logs: 1,
                ..none
            },
            HIT_DATA => Mix {
                hit_data: 1,
                ..none
            },
            PARTNER_CATALOG => Mix {
                partner_catalog: 1,
                ..none
            },
            _ => return None,
        })
    }

    fn weights(&self) -> [u64; 5] {
        [
            u64::from(self.user_events),
            u64::from(self.user_utm),
            u64::from(self.app_logs),
            u64::from(self.hit_data),
            u64::from(self.partner_catalog),
        ]
    }

    /// Split `events` exactly by the weights (largest remainder; ties to the earlier pipeline).
    fn split(&self, events: u64) -> [u64; 5] {
        let weights = self.weights();
        let total: u128 = weights.iter().map(|w| u128::from(*w)).sum();
        let mut quotas = [0u64; 5];
        if total == 0 {
            return quotas;
        }
        let mut remainders = Vec::with_capacity(5);
        for (i, (q, w)) in quotas.iter_mut().zip(weights).enumerate() {
            let exact = u128::from(events) * u128::from(w);
            *q = u64::try_from(exact / total).unwrap_or(0);
            remainders.push((exact % total, i));
        }
        let assigned: u64 = quotas.iter().sum();
        remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, i) in remainders
            .into_iter()
            .take(usize::try_from(events - assigned).unwrap_or(0))
        {
            if let Some(q) = quotas.get_mut(i) {
                *q += 1;
            }
        }
        quotas
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenOptions {
    /// Unique valid events (rows) over all pipelines, split by [`Mix`].
    pub events: u64,
    /// Probability that a valid event gets one extra copy (0..=1).
    pub dup_rate: f64,
    /// Bad items per valid event, as a probability (0..=1).
    pub bad_rate: f64,
    pub seed: u64,
    /// Most bytes of a Kinesis event-source event.
    pub kinesis_batch_bytes: usize,
    /// Most bytes of a Firehose transformation event.
    pub firehose_batch_bytes: usize,
    /// Most records in one Kinesis or Firehose invocation.
    pub records_per_batch: usize,
    /// Most bytes a Firehose invocation's response is estimated (over-estimated) to take.
    pub firehose_response_bytes: usize,
    /// Most rows in one landing file.
    pub landing_rows_per_file: usize,
    /// Share of `user_events` records sent through Firehose rather than straight to Kinesis
    /// event-source mapping (0..=1).
    pub firehose_share: f64,
    pub mix: Mix,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            events: 1000,
            dup_rate: 0.02,
            bad_rate: 0.01,
            seed: 1,
            kinesis_batch_bytes: KINESIS_BATCH_BYTES,
            firehose_batch_bytes: FIREHOSE_BATCH_BYTES,
            records_per_batch: MAX_BATCH_RECORDS,
            firehose_response_bytes: FIREHOSE_RESPONSE_BYTES,
            landing_rows_per_file: 10_000,
            firehose_share: 0.3,
            mix: Mix::default(),
        }
    }
}

/// Options that cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsError(pub String);

impl std::fmt::Display for OptionsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OptionsError {}

impl GenOptions {
    /// Check the options: rates in 0..=1, limits large enough to hold a record.
    pub fn check(&self) -> Result<(), OptionsError> {
        let rate = |name: &str, x: f64| {
            if x.is_finite() && (0.0..=1.0).contains(&x) {
                Ok(())
            } else {
                Err(OptionsError(format!(
                    "{name} must be between 0 and 1, not {x}"
                )))
            }
        };
        rate("dup_rate", self.dup_rate)?;
        rate("bad_rate", self.bad_rate)?;
        rate("firehose_share", self.firehose_share)?;
        let at_least = |name: &str, x: usize, min: usize| {
            if x >= min {
                Ok(())
            } else {
                Err(OptionsError(format!(
                    "{name} must be at least {min}, not {x}"
                )))
            }
        };
        at_least("kinesis_batch_bytes", self.kinesis_batch_bytes, 64 * 1024)?;
        at_least("firehose_batch_bytes", self.firehose_batch_bytes, 64 * 1024)?;
        at_least(
            "firehose_response_bytes",
            self.firehose_response_bytes,
            256 * 1024,
        )?;
        at_least("records_per_batch", self.records_per_batch, 1)?;
        at_least("landing_rows_per_file", self.landing_rows_per_file, 1)?;
        if self.events > 0 && self.mix.weights().iter().all(|w| *w == 0) {
            return Err(OptionsError("the mix gives every pipeline weight 0".into()));
        }
        Ok(())
    }
}

/// Which kind of file an [`OutputFile`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    /// A Kinesis event-source Lambda event (JSON).
    Kinesis,
    /// A Firehose transformation Lambda event (JSON).
    Firehose,
    /// A landing file (TSV or JSON lines).
    Landing,
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub kind: FileKind,
    /// Relative to the output directory: `kinesis/<stream>-NNNNN-<shard>.json`,
    /// `firehose/<delivery stream>-NNNNN.json`, `landing/<pipeline>/part-NNNNN.<tsv|jsonl>`.
    pub path: String,
    /// The Kinesis stream, Firehose delivery stream, or pipeline (landing).
    pub source: String,
    /// Records (Lambda events) or rows (landing files, header excluded).
    pub records: usize,
    pub body: Vec<u8>,
}

/// A generation: files and their manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub files: Vec<OutputFile>,
    pub manifest: Manifest,
}

impl Generated {
    /// The files of one kind, in order.
    pub fn of_kind(&self, kind: FileKind) -> impl Iterator<Item = &OutputFile> {
        self.files.iter().filter(move |f| f.kind == kind)
    }

    /// The manifest as pretty JSON (what `manifest.json` holds).
    pub fn manifest_json(&self) -> String {
        serde_json::to_string_pretty(&self.manifest).unwrap_or_default()
    }
}

/// Generate. Deterministic: the same options give the same [`Generated`].
pub fn generate(opts: &GenOptions) -> Result<Generated, OptionsError> {
    generate_with_progress(opts, &mut |_| {})
}

/// [`generate`], calling `progress` with the number of unique events generated so far (now and
/// then, and once at the end).
pub fn generate_with_progress(
    opts: &GenOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Generated, OptionsError> {
    opts.check()?;
    let mut gen = Gen::new(opts);
    let mut remaining = opts.mix.split(opts.events);
    let mut done = 0u64;
    let mut reported = 0u64;
    while remaining.iter().any(|r| *r > 0) {
        let index = gen.rng.weighted(&remaining);
        let Some(left) = remaining.get_mut(index) else {
            break;
        };
        let n = gen.unit_size(index).min(*left).max(1);
        *left -= n;
        done += n;
        match index {
            0 => gen.user_events(n),
            1 => gen.user_utm(n),
            2 => gen.app_logs(n),
            3 => gen.hit_data(n),
            _ => gen.partner_catalog(n),
        }
        if done - reported >= 1024 {
            reported = done;
            progress(done);
        }
    }
    let generated = gen.finish();
    progress(done);
    Ok(generated)
}

/// The lanes, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LaneId {
    KinesisUserEvents,
    KinesisUtm,
    KinesisUnknown,
    FirehoseUserEvents,
    FirehoseLogs,
    HitData,
    PartnerCatalog,
}

/// Where a follow-up record goes once the original is placed.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// In order, right after.
    Next(LaneId),
    /// A few records later.
    Soon(LaneId),
    /// In the lane's next batch.
    NextBatch(LaneId),
}

/// The bad items a JSON-event lane can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    NotBase64,
    TruncatedGzip,
    InvalidUtf8,
    NotJson,
    MissingIdentity,
    UnknownPipeline,
    WrongType,
    MissingRequired,
}

const ALL_BAD: [Bad; 8] = [
    Bad::NotBase64,
    Bad::TruncatedGzip,
    Bad::InvalidUtf8,
    Bad::NotJson,
    Bad::MissingIdentity,
    Bad::UnknownPipeline,
    Bad::WrongType,
    Bad::MissingRequired,
];
/// Firehose `user-events-to-s3` reads a routed stream: no unknown pipeline there.
const FIREHOSE_BAD: [Bad; 7] = [
    Bad::NotBase64,
    Bad::TruncatedGzip,
    Bad::InvalidUtf8,
    Bad::NotJson,
    Bad::MissingIdentity,
    Bad::WrongType,
    Bad::MissingRequired,
];

struct Lanes {
    kinesis_user_events: Lane,
    kinesis_utm: Lane,
    kinesis_unknown: Lane,
    firehose_user_events: Lane,
    firehose_logs: Lane,
    hit_data: Lane,
    partner_catalog: Lane,
}

impl Lanes {
    fn get(&mut self, id: LaneId) -> &mut Lane {
        match id {
            LaneId::KinesisUserEvents => &mut self.kinesis_user_events,
            LaneId::KinesisUtm => &mut self.kinesis_utm,
            LaneId::KinesisUnknown => &mut self.kinesis_unknown,
            LaneId::FirehoseUserEvents => &mut self.firehose_user_events,
            LaneId::FirehoseLogs => &mut self.firehose_logs,
            LaneId::HitData => &mut self.hit_data,
            LaneId::PartnerCatalog => &mut self.partner_catalog,
        }
    }
}

struct Gen<'o> {
    opts: &'o GenOptions,
    rng: Rng,
    world: World,
    lanes: Lanes,
    /// The generator's clock: each event happens a little after the previous one.
    now_ms: i64,
    /// Hit time of the last hit row (epoch seconds).
    hit_clock_s: i64,
    next_accommodation: u64,
    /// Whether a CloudWatch Logs payload was generated yet.
    logs_started: bool,
    keyword_revenue: BTreeMap<(String, String), u64>,
    /// Accommodation id → index in [`payload::PARTNERS`] of its best valid partner line.
    winners: BTreeMap<String, usize>,
}

fn to_vec(object: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(object).unwrap_or_default()
}

fn key_of(object: &Map<String, Value>, field: &str) -> String {
    match object.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    loglift_core::compress::gzip(bytes)
}

fn truncated_gzip(bytes: &[u8]) -> Vec<u8> {
    let mut packed = gzip(bytes);
    // Past the 10-byte header, before the 8-byte trailer: a stream that ends too soon.
    let keep = (packed.len() / 2)
        .max(12)
        .min(packed.len().saturating_sub(9));
    packed.truncate(keep);
    packed
}

/// Swap every UTF-8 `é` for the Latin-1 byte: no longer UTF-8.
fn latin1(bytes: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == 0xc3 && bytes.get(i + 1) == Some(&0xa9) {
            out.push(0xe9);
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

impl<'o> Gen<'o> {
    fn new(opts: &'o GenOptions) -> Self {
        let mut rng = Rng::new(opts.seed);
        let world = World::new(&mut rng);
        let kinesis = Limits {
            bytes: opts.kinesis_batch_bytes,
            records: opts.records_per_batch,
            response: usize::MAX,
        };
        let firehose = Limits {
            bytes: opts.firehose_batch_bytes,
            records: opts.records_per_batch,
            response: opts.firehose_response_bytes,
        };
        let landing = Limits {
            bytes: usize::MAX,
            records: opts.landing_rows_per_file,
            response: usize::MAX,
        };
        let tsv = Encoding::Tsv {
            header: payload::HIT_COLUMNS.join("\t"),
        };
        let lanes = Lanes {
            kinesis_user_events: Lane::new(
                "user-events",
                1,
                Encoding::Kinesis {
                    stream: "user-events",
                    shards: 4,
                },
                kinesis,
                rng.fork(),
            ),
            kinesis_utm: Lane::new(
                "user-utm",
                2,
                Encoding::Kinesis {
                    stream: "user-utm",
                    shards: 2,
                },
                kinesis,
                rng.fork(),
            ),
            kinesis_unknown: Lane::new(
                UNKNOWN_STREAM,
                3,
                Encoding::Kinesis {
                    stream: UNKNOWN_STREAM,
                    shards: 1,
                },
                kinesis,
                rng.fork(),
            ),
            firehose_user_events: Lane::new(
                "user-events-to-s3",
                4,
                Encoding::Firehose {
                    delivery: "user-events-to-s3",
                    source_stream: Some("user-events"),
                },
                firehose,
                rng.fork(),
            ),
            firehose_logs: Lane::new(
                "idp-events-to-s3",
                5,
                Encoding::Firehose {
                    delivery: "idp-events-to-s3",
                    source_stream: None,
                },
                firehose,
                rng.fork(),
            ),
            hit_data: Lane::new(HIT_DATA, 6, tsv, landing, rng.fork()),
            partner_catalog: Lane::new(PARTNER_CATALOG, 7, Encoding::Jsonl, landing, rng.fork()),
        };
        Gen {
            opts,
            rng,
            world,
            lanes,
            now_ms: BASE_MS,
            hit_clock_s: BASE_MS / 1000,
            next_accommodation: 0,
            logs_started: false,
            keyword_revenue: BTreeMap::new(),
            winners: BTreeMap::new(),
        }
    }

    /// How many events the next unit of pipeline `index` holds (a record, a payload, a visit).
    fn unit_size(&mut self, index: usize) -> u64 {
        match index {
            0 if self.rng.chance(0.15) => self.rng.between(2, 5),
            1 if self.rng.chance(0.1) => self.rng.between(2, 3),
            2 => self.rng.between(3, 40),
            3 => self.rng.between(2, 8),
            4 => self.rng.between(1, 4),
            _ => 1,
        }
    }

    /// The next event's time.
    fn tick(&mut self) -> i64 {
        self.now_ms += i64::try_from(self.rng.between(0, 80)).unwrap_or(0);
        self.now_ms
    }

    /// When an event happening at `at` reaches its stream.
    fn arrival(&mut self, at: i64) -> i64 {
        at + i64::try_from(self.rng.between(50, 2000)).unwrap_or(0)
    }

    /// When a copy of something that arrived at `at` arrives again.
    fn retry(&mut self, at: i64) -> i64 {
        at + i64::try_from(self.rng.between(1_000, 120_000)).unwrap_or(0)
    }

    fn place(&mut self, rec: Rec, place: Place) {
        match place {
            Place::Next(id) => self.lanes.get(id).push(rec),
            Place::Soon(id) => self.lanes.get(id).push_soon(rec),
            Place::NextBatch(id) => self.lanes.get(id).push_next_batch(rec),
        }
    }

    /// Where a duplicate copy goes: `other` is the lane of the other path, when there is one.
    fn dup_place(&mut self, lane: LaneId, other: Option<LaneId>) -> Place {
        match (self.rng.between(0, 2), other) {
            (0, _) => Place::Soon(lane),
            (2, Some(other)) => Place::Soon(other),
            _ => Place::NextBatch(lane),
        }
    }

    // --- user_events and user_utm ------------------------------------------------------------

    fn json_events(&mut self, n: u64, pipeline: &'static str) -> (Vec<Map<String, Value>>, i64) {
        let mut events = Vec::new();
        let mut at = 0;
        for _ in 0..n {
            let t = self.tick();
            let event = match pipeline {
                USER_EVENTS => payload::user_event(&mut self.rng, &self.world, t),
                _ => payload::utm(&mut self.rng),
            };
            at = at.max(self.arrival(t));
            events.push(event);
        }
        (events, at)
    }

    fn user_events(&mut self, n: u64) {
        let firehose = self.rng.chance(self.opts.firehose_share);
        let (lane, other) = if firehose {
            (LaneId::FirehoseUserEvents, LaneId::KinesisUserEvents)
        } else {
            (LaneId::KinesisUserEvents, LaneId::FirehoseUserEvents)
        };
        // Copies cross to the other path only when events take both.
        let both = self.opts.firehose_share > 0.0 && self.opts.firehose_share < 1.0;
        let other = both.then_some(other);
        let (events, at) = self.json_events(n, USER_EVENTS);
        let lines: Vec<Vec<u8>> = events.iter().map(to_vec).collect();
        let mut body: Vec<u8> = if lines.len() == 1 {
            lines.concat()
        } else {
            lines
                .iter()
                .flat_map(|l| l.iter().copied().chain([b'\n']))
                .collect()
        };
        if self.rng.chance(0.1) {
            body = gzip(&body);
        }
        self.json_unit(
            USER_EVENTS,
            "request_id",
            lane,
            other,
            &events,
            &lines,
            body,
            at,
        );
    }

    fn user_utm(&mut self, n: u64) {
        let (events, at) = self.json_events(n, USER_UTM);
        let lines: Vec<Vec<u8>> = events.iter().map(to_vec).collect();
        let body = if lines.len() == 1 {
            lines.concat()
        } else {
            serde_json::to_vec(&events).unwrap_or_default()
        };
        self.json_unit(
            USER_UTM,
            "request_id",
            LaneId::KinesisUtm,
            None,
            &events,
            &lines,
            body,
            at,
        );
    }

    /// Push one record of JSON events, then its duplicates and bad items.
    #[allow(clippy::too_many_arguments)]
    fn json_unit(
        &mut self,
        pipeline: &'static str,
        id_field: &str,
        lane: LaneId,
        other: Option<LaneId>,
        events: &[Map<String, Value>],
        lines: &[Vec<u8>],
        body: Vec<u8>,
        at: i64,
    ) {
        let contents = events
            .iter()
            .map(|e| Content::Valid {
                pipeline,
                key: key_of(e, id_field),
            })
            .collect();
        let response = wire_estimate::ok(lines.iter().map(Vec::len));
        self.lanes
            .get(lane)
            .push(Rec::new(Payload::Bytes(body), contents, at).with_response(response));
        for (event, line) in events.iter().zip(lines) {
            if self.rng.chance(self.opts.dup_rate) {
                let place = self.dup_place(lane, other);
                let copy = Rec::new(
                    Payload::Bytes(line.clone()),
                    vec![Content::Valid {
                        pipeline,
                        key: key_of(event, id_field),
                    }],
                    self.retry(at),
                )
                .with_response(wire_estimate::ok([line.len()]));
                self.place(copy, place);
            }
            if self.rng.chance(self.opts.bad_rate) {
                let kinds: &[Bad] = if lane == LaneId::FirehoseUserEvents {
                    &FIREHOSE_BAD
                } else {
                    &ALL_BAD
                };
                let kind = self.rng.pick(kinds, Bad::NotJson);
                let rec = self.bad_json(pipeline, kind, at);
                let target = if kind == Bad::UnknownPipeline {
                    LaneId::KinesisUnknown
                } else {
                    lane
                };
                self.place(rec, Place::Next(target));
            }
        }
    }

    /// One bad record for a JSON pipeline.
    fn bad_json(&mut self, pipeline: &'static str, kind: Bad, at: i64) -> Rec {
        let at = self.arrival(at);
        let fresh = |gen: &mut Self| {
            let t = gen.now_ms;
            match pipeline {
                USER_EVENTS => payload::user_event(&mut gen.rng, &gen.world, t),
                _ => payload::utm(&mut gen.rng),
            }
        };
        let (wrong_field, required_field) = match pipeline {
            USER_EVENTS => ("cookie_id", "topic"),
            _ => ("medium", "source"),
        };
        let rejected = |reason| Content::IngestReject {
            pipeline: None,
            reason,
        };
        match kind {
            Bad::NotBase64 => Rec::new(
                Payload::NotBase64(format!("not base64 at all! {}", self.rng.uuid())),
                vec![rejected("bad_base64")],
                at,
            ),
            Bad::TruncatedGzip => {
                let event = fresh(self);
                Rec::new(
                    Payload::Bytes(truncated_gzip(&to_vec(&event))),
                    vec![rejected("bad_compression")],
                    at,
                )
            }
            Bad::InvalidUtf8 => {
                let mut event = fresh(self);
                event.insert(
                    "referrer".into(),
                    Value::from("https://caf\u{e9}.example/menu"),
                );
                Rec::new(
                    Payload::Bytes(latin1(to_vec(&event))),
                    vec![rejected("invalid_utf8")],
                    at,
                )
            }
            Bad::NotJson => {
                let event = fresh(self);
                let form: Vec<String> = event
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| format!("{k}={}", s.replace(' ', "+"))))
                    .collect();
                Rec::new(
                    Payload::Bytes(form.join("&").into_bytes()),
                    vec![rejected("invalid_json")],
                    at,
                )
            }
            Bad::MissingIdentity => {
                let mut event = fresh(self);
                event.remove("request_id");
                Rec::new(
                    Payload::Bytes(to_vec(&event)),
                    vec![Content::IngestReject {
                        pipeline: Some(pipeline),
                        reason: "missing_identity",
                    }],
                    at,
                )
            }
            Bad::UnknownPipeline => {
                let event = fresh(self);
                Rec::new(
                    Payload::Bytes(to_vec(&event)),
                    vec![rejected("unknown_pipeline")],
                    at,
                )
            }
            Bad::WrongType => {
                let mut event = fresh(self);
                // Transform writes numbers into string columns as text; an object it cannot.
                event.insert(
                    wrong_field.into(),
                    serde_json::json!({"unexpected": self.rng.between(1_000_000, 9_999_999_999)}),
                );
                let line = to_vec(&event);
                let response = wire_estimate::ok([line.len()]);
                Rec::new(
                    Payload::Bytes(line),
                    vec![Content::TransformReject {
                        pipeline,
                        reason: "wrong_type",
                    }],
                    at,
                )
                .with_response(response)
            }
            Bad::MissingRequired => {
                let mut event = fresh(self);
                event.remove(required_field);
                let line = to_vec(&event);
                let response = wire_estimate::ok([line.len()]);
                Rec::new(
                    Payload::Bytes(line),
                    vec![Content::TransformReject {
                        pipeline,
                        reason: "missing_required",
                    }],
                    at,
                )
                .with_response(response)
            }
        }
    }

    // --- app_logs ------------------------------------------------------------------------------

    fn app_logs(&mut self, n: u64) {
        let lane = LaneId::FirehoseLogs;
        // Firehose checks its destination when the subscription is created, and now and then.
        if !self.logs_started || self.rng.chance(0.05) {
            self.logs_started = true;
            let at = self.now_ms;
            let control = Rec::new(
                Payload::Bytes(gzip(&payload::cw_control(at))),
                vec![Content::Control],
                at,
            );
            self.lanes.get(lane).push(control);
        }
        let stream = self.world.log_stream(&mut self.rng);
        let mut log_events = Vec::new();
        let mut contents = Vec::new();
        let mut followups = Vec::new();
        let mut at = 0;
        for _ in 0..n {
            let t = self.tick();
            at = at.max(self.arrival(t));
            let event = payload::idp_event(&mut self.rng, &self.world, t);
            let log_event = LogEvent::new(
                &mut self.rng,
                t,
                serde_json::to_string(&event).unwrap_or_default(),
            );
            contents.push(Content::Valid {
                pipeline: APP_LOGS,
                key: key_of(&event, "id"),
            });
            if self.rng.chance(self.opts.dup_rate) {
                let place = self.dup_place(lane, None);
                let copy = vec![log_event.clone()];
                let rec = Rec::new(
                    Payload::Bytes(gzip(&payload::cw_data(IDP_LOG_GROUP, &stream, &copy))),
                    vec![Content::Valid {
                        pipeline: APP_LOGS,
                        key: key_of(&event, "id"),
                    }],
                    self.retry(at),
                )
                .with_response(wire_estimate::ok([log_event.message.len()]));
                followups.push((rec, place));
            }
            log_events.push(log_event);
            if self.rng.chance(self.opts.bad_rate) {
                let kind = self.rng.pick(&ALL_BAD, Bad::NotJson);
                self.bad_log(
                    kind,
                    t,
                    at,
                    &stream,
                    &mut log_events,
                    &mut contents,
                    &mut followups,
                );
            }
        }
        let response = wire_estimate::ok(log_events.iter().map(|e| e.message.len()));
        let body = gzip(&payload::cw_data(IDP_LOG_GROUP, &stream, &log_events));
        self.lanes
            .get(lane)
            .push(Rec::new(Payload::Bytes(body), contents, at).with_response(response));
        for (rec, place) in followups {
            self.place(rec, place);
        }
    }

    /// A bad item for `app_logs`: a log event inside the payload being built, or a whole record
    /// to follow it.
    #[allow(clippy::too_many_arguments)]
    fn bad_log(
        &mut self,
        kind: Bad,
        t: i64,
        at: i64,
        stream: &str,
        log_events: &mut Vec<LogEvent>,
        contents: &mut Vec<Content>,
        followups: &mut Vec<(Rec, Place)>,
    ) {
        let lane = LaneId::FirehoseLogs;
        let mut event = payload::idp_event(&mut self.rng, &self.world, t);
        let mut inside = |gen: &mut Self, message: String, content: Content| {
            log_events.push(LogEvent::new(&mut gen.rng, t, message));
            contents.push(content);
        };
        let whole = |payload: Payload, reason: &'static str| {
            Rec::new(
                payload,
                vec![Content::IngestReject {
                    pipeline: None,
                    reason,
                }],
                at,
            )
        };
        let single = |gen: &mut Self, group: &str, message: String| {
            let log_event = LogEvent::new(&mut gen.rng, t, message);
            payload::cw_data(group, stream, &[log_event])
        };
        match kind {
            Bad::NotBase64 => {
                let text = format!("H4sI not base64 {}!", self.rng.uuid());
                followups.push((
                    whole(Payload::NotBase64(text), "bad_base64"),
                    Place::Next(lane),
                ));
            }
            Bad::TruncatedGzip => {
                let data = single(
                    self,
                    IDP_LOG_GROUP,
                    serde_json::to_string(&event).unwrap_or_default(),
                );
                followups.push((
                    whole(Payload::Bytes(truncated_gzip(&data)), "bad_compression"),
                    Place::Next(lane),
                ));
            }
            Bad::InvalidUtf8 => {
                event.insert("name".into(), Value::from("Caf\u{e9} visited"));
                let data = single(
                    self,
                    IDP_LOG_GROUP,
                    serde_json::to_string(&event).unwrap_or_default(),
                );
                // The message is escaped JSON inside JSON: `é` stays a raw UTF-8 pair there.
                followups.push((
                    whole(Payload::Bytes(gzip(&latin1(data))), "invalid_utf8"),
                    Place::Next(lane),
                ));
            }
            Bad::UnknownPipeline => {
                let data = single(
                    self,
                    OTHER_LOG_GROUP,
                    serde_json::to_string(&event).unwrap_or_default(),
                );
                followups.push((
                    whole(Payload::Bytes(gzip(&data)), "unknown_pipeline"),
                    Place::Next(lane),
                ));
            }
            Bad::NotJson => {
                let line = payload::idp_text_line(&mut self.rng, t);
                inside(
                    self,
                    line,
                    Content::IngestReject {
                        pipeline: None,
                        reason: "invalid_json",
                    },
                );
            }
            Bad::MissingIdentity => {
                event.remove("id");
                inside(
                    self,
                    serde_json::to_string(&event).unwrap_or_default(),
                    Content::IngestReject {
                        pipeline: Some(APP_LOGS),
                        reason: "missing_identity",
                    },
                );
            }
            Bad::WrongType => {
                event.insert("name".into(), serde_json::json!(["not", "a", "string"]));
                inside(
                    self,
                    serde_json::to_string(&event).unwrap_or_default(),
                    Content::TransformReject {
                        pipeline: APP_LOGS,
                        reason: "wrong_type",
                    },
                );
            }
            Bad::MissingRequired => {
                event.remove("name");
                inside(
                    self,
                    serde_json::to_string(&event).unwrap_or_default(),
                    Content::TransformReject {
                        pipeline: APP_LOGS,
                        reason: "missing_required",
                    },
                );
            }
        }
    }

    // --- landing ---------------------------------------------------------------------------------

    fn hit_data(&mut self, n: u64) {
        let lane = LaneId::HitData;
        let visit = payload::visit(
            &mut self.rng,
            usize::try_from(n).unwrap_or(1),
            &mut self.hit_clock_s,
        );
        if let (Some(search), true) = (&visit.search, visit.revenue > 0) {
            *self.keyword_revenue.entry(search.clone()).or_default() += visit.revenue;
        }
        for hit in visit.hits {
            let line = hit.line();
            let row =
                |line: String, content: Content| Rec::new(Payload::Line(line), vec![content], 0);
            self.lanes.get(lane).push(row(
                line.clone(),
                Content::Valid {
                    pipeline: HIT_DATA,
                    key: line.clone(),
                },
            ));
            if self.rng.chance(self.opts.dup_rate) {
                let place = self.dup_place(lane, None);
                self.place(
                    row(
                        line.clone(),
                        Content::Valid {
                            pipeline: HIT_DATA,
                            key: line,
                        },
                    ),
                    place,
                );
            }
            if self.rng.chance(self.opts.bad_rate) {
                let mut fields = hit.fields.clone();
                // A browsing hit, so a rejected row never carries revenue.
                fields[4] = String::new();
                fields[10] = String::new();
                let (line, reason) = match self.rng.between(0, 2) {
                    0 => (fields.get(..9).unwrap_or_default().join("\t"), "bad_tsv"),
                    1 => {
                        fields[0] = fields[1].replace(' ', "T");
                        (fields.join("\t"), "bad_timestamp")
                    }
                    _ => {
                        fields[3] = String::new();
                        (fields.join("\t"), "missing_required")
                    }
                };
                self.lanes.get(lane).push(row(
                    line,
                    Content::TransformReject {
                        pipeline: HIT_DATA,
                        reason,
                    },
                ));
            }
        }
    }

    fn partner_catalog(&mut self, n: u64) {
        let lane = LaneId::PartnerCatalog;
        let acc = payload::accommodation(&mut self.rng, self.next_accommodation);
        self.next_accommodation += 1;
        let mut partners: Vec<usize> = (0..payload::PARTNERS.len()).collect();
        self.rng_shuffle(&mut partners);
        partners.truncate(usize::try_from(n).unwrap_or(1));
        for priority in partners {
            let partner = payload::PARTNERS
                .get(priority)
                .copied()
                .unwrap_or("expedia");
            let t = self.tick();
            let object = payload::partner_line(&mut self.rng, partner, &acc, t);
            let line = serde_json::to_string(&object).unwrap_or_default();
            let key = format!("{partner}\u{1f}{}", acc.id);
            let best = self.winners.entry(acc.id.clone()).or_insert(priority);
            *best = (*best).min(priority);
            let row =
                |line: String, content: Content| Rec::new(Payload::Line(line), vec![content], 0);
            self.lanes.get(lane).push(row(
                line.clone(),
                Content::Valid {
                    pipeline: PARTNER_CATALOG,
                    key: key.clone(),
                },
            ));
            if self.rng.chance(self.opts.dup_rate) {
                let place = self.dup_place(lane, None);
                self.place(
                    row(
                        line.clone(),
                        Content::Valid {
                            pipeline: PARTNER_CATALOG,
                            key,
                        },
                    ),
                    place,
                );
            }
            if self.rng.chance(self.opts.bad_rate) {
                let mut bad = object.clone();
                let (line, reason) = match self.rng.between(0, 2) {
                    0 => (
                        line.get(..line.len() / 2).unwrap_or_default().to_owned(),
                        "invalid_json",
                    ),
                    1 => {
                        bad.remove("accommodation_id");
                        (
                            serde_json::to_string(&bad).unwrap_or_default(),
                            "missing_required",
                        )
                    }
                    _ => {
                        bad.insert("partner_name".into(), serde_json::json!({"id": 7}));
                        (
                            serde_json::to_string(&bad).unwrap_or_default(),
                            "wrong_type",
                        )
                    }
                };
                self.lanes.get(lane).push(row(
                    line,
                    Content::TransformReject {
                        pipeline: PARTNER_CATALOG,
                        reason,
                    },
                ));
            }
        }
    }

    fn rng_shuffle(&mut self, items: &mut [usize]) {
        for i in (1..items.len()).rev() {
            let j = self.rng.index(i + 1);
            items.swap(i, j);
        }
    }

    fn finish(mut self) -> Generated {
        let lanes = [
            (PathKind::Kinesis, &mut self.lanes.kinesis_user_events),
            (PathKind::Kinesis, &mut self.lanes.kinesis_utm),
            (PathKind::Kinesis, &mut self.lanes.kinesis_unknown),
            (PathKind::Firehose, &mut self.lanes.firehose_user_events),
            (PathKind::Firehose, &mut self.lanes.firehose_logs),
            (PathKind::Landing, &mut self.lanes.hit_data),
            (PathKind::Landing, &mut self.lanes.partner_catalog),
        ];
        let mut finished: Vec<(PathKind, &'static str, Vec<pack::Batch>)> = Vec::new();
        for (kind, lane) in lanes {
            lane.finish();
            finished.push((kind, lane.name, std::mem::take(&mut lane.finished)));
        }
        let views: Vec<(PathKind, &[pack::Batch])> = finished
            .iter()
            .map(|(k, _, b)| (*k, b.as_slice()))
            .collect();
        let manifest::Counted {
            pipelines,
            unrouted,
            control,
            expected,
        } = manifest::count(&PIPELINES, &views);

        let mut files = Vec::new();
        let mut entries = Vec::new();
        for (kind, source, batches) in finished {
            for batch in batches {
                let (file_kind, path) = match kind {
                    PathKind::Kinesis => (FileKind::Kinesis, format!("kinesis/{}", batch.name)),
                    PathKind::Firehose => (FileKind::Firehose, format!("firehose/{}", batch.name)),
                    PathKind::Landing => (
                        FileKind::Landing,
                        format!("landing/{source}/{}", batch.name),
                    ),
                };
                entries.push(FileEntry {
                    path: path.clone(),
                    kind: kind.as_str().to_owned(),
                    source: source.to_owned(),
                    records: batch.records as u64,
                    bytes: batch.body.len() as u64,
                });
                files.push(OutputFile {
                    kind: file_kind,
                    path,
                    source: source.to_owned(),
                    records: batch.records,
                    body: batch.body,
                });
            }
        }

        let mut revenue: Vec<KeywordRevenue> = self
            .keyword_revenue
            .into_iter()
            .map(|((domain, keyword), revenue)| KeywordRevenue {
                search_engine_domain: domain,
                search_keyword: keyword,
                revenue,
            })
            .collect();
        revenue.sort_by(|a, b| {
            b.revenue
                .cmp(&a.revenue)
                .then_with(|| a.search_engine_domain.cmp(&b.search_engine_domain))
                .then_with(|| a.search_keyword.cmp(&b.search_keyword))
        });
        let mut winners_by_partner = BTreeMap::new();
        for best in self.winners.values() {
            let partner = payload::PARTNERS.get(*best).copied().unwrap_or("expedia");
            *winners_by_partner.entry(partner.to_owned()).or_default() += 1;
        }
        let manifest = Manifest {
            generator: format!("loglift-samplegen {}", env!("CARGO_PKG_VERSION")),
            options: self.opts.clone(),
            files: entries,
            pipelines,
            unrouted_ingest_rejects: unrouted,
            control_messages: control,
            expected_ingest: expected,
            jobs: JobExpectations {
                search_keyword_revenue: revenue,
                consolidate_by_priority: Consolidation {
                    accommodations: self.winners.len() as u64,
                    winners_by_partner,
                },
            },
        };
        Generated { files, manifest }
    }
}
