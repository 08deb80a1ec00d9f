//! `loglift smoke`: after `terraform apply`, prove a deployment end to end with a few tagged
//! events through every entry it has, and say exactly which one did not arrive.
//!
//! 1. **Entries** ([`entries`]): each Kinesis stream of the deployment (the spec's `match.stream`
//!    names and the log stream, deployed as `LOGLIFT_STREAM_NAMES` maps them), each Firehose
//!    delivery stream (`LOGLIFT_FIREHOSE_SOURCE_STREAMS`; a delivery stream that reads a Kinesis
//!    stream refuses `PutRecordBatch`, so its events go into that stream, which then counts as
//!    the Firehose entry; a DirectPut one gets `PutRecordBatch`), and each landing prefix of the
//!    spec.
//! 2. **Plan** ([`plan`], pure): per entry and pipeline it routes to, a few events built from the
//!    pipeline's spec (`loglift_core::smoke`) with the run id in their ids and a
//!    `loglift_smoke` field; each event is checked to route to that pipeline as ingest or
//!    transform would route it. `dry_run` stops here and reports the plan.
//! 3. **Send** through the [`StreamWriter`] port (PutRecords, PutRecordBatch) and the
//!    [`ObjectStore`] (one landing file per pipeline).
//! 4. **Wait** until every event is in its table or the deadline passes, polling the warehouse
//!    ([`EventRows::count_events`]); then count once more: each event must be there exactly once.
//! 5. **Audit** ([`crate::audit::audit`]) each pipeline over the run's hours; with
//!    [`AuditMode::Check`] an hour that does not balance (retried until the deadline) fails
//!    the run.
//! 6. **Clean up** when asked: the rows (`DELETE … WHERE event_id IN (…)`) and the landing files.
//!
//! The report ([`SmokeReport`]) names every event with its entry, pipeline, table and row count,
//! and each failure in one sentence with where to look.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use loglift_core::route::{Origin, Router};
use loglift_core::smoke::{self as core_smoke, SmokeEvent};
use loglift_core::spec::{Format, Pipeline, Spec};
use loglift_core::storage::Layout;
use loglift_ports::{
    Clock, DeliverySource, EventRows, Ledger, ObjectStore, OutgoingRecord, PortError, Queue,
    StreamWriter,
};
use serde::Serialize;
use tokio::time::Instant;

use crate::audit::{audit, AuditDeps, AuditOptions, AuditReport};
use crate::config::ConfigError;
use crate::redrive::Progress;

/// Events per entry and pipeline unless told otherwise.
pub const DEFAULT_EVENTS: usize = 2;
/// The log stream's name in the spec's terms (terraform's `log_stream_name` default).
pub const DEFAULT_LOG_STREAM: &str = "logs";

// ---------------------------------------------------------------------------------------------
// Configuration: the deployment's names.

/// What the deployment calls its entries, from the CLI environment terraform outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentNames {
    /// The spec's stream name → the deployed Kinesis stream (`LOGLIFT_STREAM_NAMES`,
    /// `spec-name=deployed-name,…`). Without it: the spec's names as they are.
    pub streams: BTreeMap<String, String>,
    /// Firehose delivery streams (the keys of `LOGLIFT_FIREHOSE_SOURCE_STREAMS`).
    pub delivery_streams: Vec<String>,
    /// The spec name of the stream CloudWatch Logs subscriptions deliver into
    /// (`LOGLIFT_LOG_STREAM`; else the one stream of `LOGLIFT_STREAM_NAMES` no `match.stream`
    /// names; else `logs`).
    pub log_stream: String,
}

impl DeploymentNames {
    pub fn from_env(spec: &Spec) -> Result<DeploymentNames, ConfigError> {
        Self::from_lookup(spec, |name| std::env::var(name).ok())
    }

    /// Read `LOGLIFT_STREAM_NAMES`, `LOGLIFT_FIREHOSE_SOURCE_STREAMS` and `LOGLIFT_LOG_STREAM`.
    pub fn from_lookup(
        spec: &Spec,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<DeploymentNames, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let named = get("LOGLIFT_STREAM_NAMES")
            .map(|v| {
                crate::config::name_pairs(
                    "LOGLIFT_STREAM_NAMES",
                    crate::config::STREAM_NAMES_SHAPE,
                    &v,
                )
            })
            .transpose()?;
        // The log stream: as told; else the one deployed stream no `match.stream` names (the
        // stream terraform creates for CloudWatch Logs, whatever `log_stream_name` says); else
        // terraform's default.
        let unmatched: Vec<&String> = named
            .iter()
            .flatten()
            .map(|(s, _)| s)
            .filter(|s| {
                !spec
                    .pipelines
                    .iter()
                    .any(|p| p.matcher.stream.as_deref() == Some(s.as_str()))
            })
            .collect();
        let log_stream = match (get("LOGLIFT_LOG_STREAM"), unmatched.as_slice()) {
            (Some(v), _) => v.trim().to_owned(),
            (None, [only]) => (*only).clone(),
            (None, _) => DEFAULT_LOG_STREAM.to_owned(),
        };
        let streams: BTreeMap<String, String> = match named {
            Some(pairs) => pairs.into_iter().collect(),
            None => spec_streams(spec, &log_stream)
                .into_iter()
                .map(|s| (s.clone(), s))
                .collect(),
        };
        let delivery_streams = match get("LOGLIFT_FIREHOSE_SOURCE_STREAMS") {
            Some(v) => crate::config::name_pairs(
                "LOGLIFT_FIREHOSE_SOURCE_STREAMS",
                crate::config::FIREHOSE_SOURCES_SHAPE,
                &v,
            )?
            .into_iter()
            .map(|(delivery, _)| delivery)
            .collect(),
            None => Vec::new(),
        };
        Ok(DeploymentNames {
            streams,
            delivery_streams,
            log_stream,
        })
    }

    /// The spec's name of a deployed stream (itself when unknown).
    fn spec_name<'a>(&'a self, deployed: &'a str) -> &'a str {
        self.streams
            .iter()
            .find(|(_, d)| d.as_str() == deployed)
            .map_or(deployed, |(s, _)| s.as_str())
    }
}

/// The streams a spec implies: every `match.stream`, and the log stream when a pipeline reads
/// CloudWatch Logs.
pub fn spec_streams(spec: &Spec, log_stream: &str) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = spec
        .pipelines
        .iter()
        .filter_map(|p| p.matcher.stream.clone())
        .collect();
    if spec
        .pipelines
        .iter()
        .any(|p| p.format == Format::CloudwatchLogs && p.matcher.stream.is_none())
    {
        out.insert(log_stream.to_owned());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Entries.

/// One way into the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A Kinesis stream read by the ingest function's mapping.
    Kinesis {
        stream: String,
        /// Its name in the spec (what `match.stream` compares).
        routing: String,
    },
    /// A Firehose delivery stream reading a Kinesis stream: events go into the stream.
    FirehoseViaKinesis {
        delivery_stream: String,
        stream: String,
        routing: String,
    },
    /// A DirectPut Firehose delivery stream (`PutRecordBatch`).
    FirehoseDirect {
        delivery_stream: String,
        routing: String,
    },
    /// A pipeline's landing prefix (a file put into S3).
    Landing {
        bucket: String,
        prefix: String,
        pipeline: String,
    },
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entry::Kinesis { stream, .. } => write!(f, "Kinesis stream {stream}"),
            Entry::FirehoseViaKinesis {
                delivery_stream,
                stream,
                ..
            } => write!(
                f,
                "Firehose delivery stream {delivery_stream} (via Kinesis stream {stream})"
            ),
            Entry::FirehoseDirect {
                delivery_stream, ..
            } => write!(f, "Firehose delivery stream {delivery_stream}"),
            Entry::Landing { bucket, prefix, .. } => {
                write!(f, "landing prefix s3://{bucket}/{prefix}")
            }
        }
    }
}

impl Entry {
    /// The stream name routing compares with `match.stream`, for stream entries.
    fn routing(&self) -> Option<&str> {
        match self {
            Entry::Kinesis { routing, .. }
            | Entry::FirehoseViaKinesis { routing, .. }
            | Entry::FirehoseDirect { routing, .. } => Some(routing),
            Entry::Landing { .. } => None,
        }
    }

    /// Where to look when its events do not arrive, besides the queues and rejects.
    fn hint(&self, layout: &Layout) -> String {
        let errors = format!("s3://{}/{}", layout.errors.bucket, layout.errors.prefix);
        match self {
            Entry::Kinesis { .. } => {
                "the ingest function's log group and its Kinesis mapping (state, on-failure destination)".to_owned()
            }
            Entry::FirehoseViaKinesis { .. } | Entry::FirehoseDirect { .. } => format!(
                "the Firehose error output under {errors}firehose/ and log group /aws/kinesisfirehose/…"
            ),
            Entry::Landing { .. } => {
                "the lake bucket's notifications to the transform queue (`loglift spec layout`)"
                    .to_owned()
            }
        }
    }
}

/// Every entry of the deployment: its Kinesis streams, Firehose delivery streams (described to
/// learn what they read) and landing prefixes.
pub async fn entries<W: StreamWriter>(
    spec: &Spec,
    layout: &Layout,
    names: &DeploymentNames,
    writer: &W,
) -> Result<Vec<Entry>, SmokeError> {
    let mut out = Vec::new();
    let mut fed_by_firehose = BTreeSet::new();
    for delivery in &names.delivery_streams {
        let source = writer
            .delivery_source(delivery)
            .await
            .map_err(|source| SmokeError::Port {
                what: format!("describing Firehose delivery stream {delivery}"),
                source,
            })?;
        out.push(match source {
            DeliverySource::KinesisStream { name, .. } => {
                fed_by_firehose.insert(name.clone());
                Entry::FirehoseViaKinesis {
                    delivery_stream: delivery.clone(),
                    routing: names.spec_name(&name).to_owned(),
                    stream: name,
                }
            }
            DeliverySource::DirectPut => Entry::FirehoseDirect {
                delivery_stream: delivery.clone(),
                routing: names.spec_name(delivery).to_owned(),
            },
        });
    }
    for (routing, stream) in &names.streams {
        if !fed_by_firehose.contains(stream) {
            out.push(Entry::Kinesis {
                stream: stream.clone(),
                routing: routing.clone(),
            });
        }
    }
    for p in &spec.pipelines {
        if let Some(prefix) = &p.matcher.s3_prefix {
            out.push(Entry::Landing {
                bucket: layout.landing.bucket.clone(),
                prefix: layout.landing.key(prefix),
                pipeline: p.name.clone(),
            });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The plan (pure).

/// What one send carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Records for a stream or delivery stream: (partition key, bytes).
    Records(Vec<(String, Vec<u8>)>),
    /// One landing file.
    Object {
        bucket: String,
        key: String,
        content_type: &'static str,
        body: Vec<u8>,
    },
}

impl Payload {
    fn describe(&self) -> String {
        match self {
            Payload::Records(records) => format!(
                "{} record(s), {} bytes",
                records.len(),
                records.iter().map(|(_, d)| d.len()).sum::<usize>()
            ),
            Payload::Object {
                bucket, key, body, ..
            } => format!("s3://{bucket}/{key}, {} bytes", body.len()),
        }
    }
}

/// Events of one pipeline through one entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Send {
    /// Index into the entries.
    pub entry: usize,
    pub pipeline: String,
    pub table: String,
    pub events: Vec<SmokeEvent>,
    pub payload: Payload,
}

/// The run's sends, and what could not be planned.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub sends: Vec<Send>,
    pub notes: Vec<String>,
}

/// The pipelines an entry's events can go to (the first pipeline a record of it routes to is
/// decided per event, by [`Router`]).
fn candidates<'s>(spec: &'s Spec, entry: &Entry, log_stream: &str) -> Vec<&'s Pipeline> {
    match entry {
        Entry::Landing { pipeline, .. } => spec.pipeline(pipeline).into_iter().collect(),
        _ => {
            let routing = entry.routing().unwrap_or_default();
            let plain = |p: &&Pipeline| {
                p.matcher.s3_prefix.is_none()
                    && p.matcher.log_group.is_none()
                    && p.format != Format::CloudwatchLogs
            };
            let mut out: Vec<&Pipeline> = spec
                .pipelines
                .iter()
                .filter(plain)
                .filter(|p| p.matcher.stream.as_deref() == Some(routing))
                .collect();
            if out.is_empty() {
                // Pipelines that take any stream's records.
                out = spec
                    .pipelines
                    .iter()
                    .filter(plain)
                    .filter(|p| p.matcher.stream.is_none())
                    .collect();
            }
            out.extend(spec.pipelines.iter().filter(|p| {
                p.matcher.log_group.is_some()
                    && p.format == Format::CloudwatchLogs
                    && match p.matcher.stream.as_deref() {
                        Some(s) => s == routing,
                        None => routing == log_stream,
                    }
            }));
            out
        }
    }
}

/// Build the run's events and payloads. `only` limits the pipelines (empty: all).
pub fn plan(
    spec: &Spec,
    entries: &[Entry],
    log_stream: &str,
    run: &str,
    now: DateTime<Utc>,
    per_entry: usize,
    only: &[String],
) -> Plan {
    let router = Router::new(spec);
    let mut plan = Plan::default();
    let mut reached = BTreeSet::new();
    // Ids already planned, per table: the cleanup deletes by id, so two events may not share one.
    let mut planned_ids = BTreeSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let mut n = 0;
        let mut planned_any = false;
        for pipeline in candidates(spec, entry, log_stream) {
            if !only.is_empty() && !only.contains(&pipeline.name) {
                continue;
            }
            let log_group = pipeline
                .matcher
                .log_group
                .as_deref()
                .map(core_smoke::glob_example)
                .unwrap_or_default();
            // A landing file: its key, and the key relative to the landing area (what routing
            // compares with `s3_prefix`).
            let file_name = format!(
                "loglift-smoke-{run}.{}",
                core_smoke::landing_extension(pipeline.format)
            );
            let landing_key = match entry {
                Entry::Landing { prefix, .. } => Some(format!("{prefix}{file_name}")),
                _ => None,
            };
            let landing_relative = format!(
                "{}{file_name}",
                pipeline.matcher.s3_prefix.as_deref().unwrap_or_default()
            );
            let mut events = Vec::new();
            let mut refused = None;
            for _ in 0..per_entry.max(1) {
                let tag = core_smoke::tag(run, i, n);
                n += 1;
                let event = match core_smoke::event(pipeline, &tag, run, now) {
                    Ok(event) => event,
                    Err(e) => {
                        refused = Some(e.to_string());
                        break;
                    }
                };
                let origin = match entry {
                    Entry::Landing { .. } => Origin::Landing {
                        key: &landing_relative,
                    },
                    _ if pipeline.format == Format::CloudwatchLogs => Origin::Logs {
                        log_group: &log_group,
                        stream: entry.routing(),
                    },
                    _ => Origin::Stream {
                        stream: entry.routing().unwrap_or_default(),
                    },
                };
                if !planned_ids.insert((pipeline.table.clone(), event.event_id.clone())) {
                    refused = Some(format!(
                        "two smoke events of `{}` would share the id {}",
                        pipeline.name, event.event_id
                    ));
                    break;
                }
                match router.route(origin, Some(&event.fields)) {
                    Some(p) if p.name == pipeline.name => events.push(event),
                    Some(p) => {
                        refused = Some(format!(
                            "a smoke event of `{}` through {entry} routes to `{}`",
                            pipeline.name, p.name
                        ));
                        break;
                    }
                    None => {
                        refused = Some(format!(
                            "a smoke event of `{}` through {entry} routes to no pipeline",
                            pipeline.name
                        ));
                        break;
                    }
                }
            }
            if let Some(why) = refused {
                plan.notes.push(format!("not sent: {why}"));
                continue;
            }
            let payload = match (entry, landing_key) {
                (Entry::Landing { bucket, .. }, Some(key)) => {
                    let file = core_smoke::landing_file(pipeline, &events);
                    Payload::Object {
                        bucket: bucket.clone(),
                        key,
                        content_type: file.content_type,
                        body: file.body,
                    }
                }
                _ => {
                    let records = core_smoke::stream_records(
                        pipeline,
                        &events,
                        &log_group,
                        &format!("loglift-smoke-{run}"),
                        now,
                    );
                    let keys: Vec<String> = if records.len() == events.len() {
                        events.iter().map(|e| e.tag.clone()).collect()
                    } else {
                        vec![format!("loglift-smoke-{run}"); records.len()]
                    };
                    Payload::Records(keys.into_iter().zip(records).collect())
                }
            };
            reached.insert(pipeline.name.clone());
            planned_any = true;
            plan.sends.push(Send {
                entry: i,
                pipeline: pipeline.name.clone(),
                table: pipeline.table.clone(),
                events,
                payload,
            });
        }
        if !planned_any {
            plan.notes.push(format!(
                "nothing sent through {entry}: no pipeline of the spec takes its records"
            ));
        }
    }
    for p in &spec.pipelines {
        if !reached.contains(&p.name) && (only.is_empty() || only.contains(&p.name)) {
            plan.notes.push(format!(
                "pipeline `{}` is not tested: no entry of this deployment reaches it",
                p.name
            ));
        }
    }
    plan
}

// ---------------------------------------------------------------------------------------------
// The run.

/// What an audit imbalance does to the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditMode {
    /// Audit each pipeline over the run's hours; an hour that still does not balance at the
    /// deadline fails the run.
    #[default]
    Check,
    /// Audit and print, never fail (a busy deployment always has events in flight).
    Report,
    /// No audit.
    Off,
}

/// A smoke run's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeOptions {
    /// Events per entry and pipeline.
    pub events: usize,
    /// How long to wait for the events.
    pub timeout: Duration,
    /// How often to look.
    pub poll_interval: Duration,
    pub audit: AuditMode,
    /// Delete the rows and landing files afterwards.
    pub cleanup: bool,
    /// Plan and print; send nothing.
    pub dry_run: bool,
    /// Only these pipelines (empty: all).
    pub pipelines: Vec<String>,
    /// The run id (default: random, 8 hex digits).
    pub run_id: Option<String>,
}

impl Default for SmokeOptions {
    fn default() -> Self {
        SmokeOptions {
            events: DEFAULT_EVENTS,
            timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(5),
            audit: AuditMode::Check,
            cleanup: false,
            dry_run: false,
            pipelines: Vec::new(),
            run_id: None,
        }
    }
}

/// Where a smoke run acts.
#[derive(Debug)]
pub struct SmokeDeps<'a, S, Q, W, R, C> {
    pub spec: &'a Spec,
    pub layout: &'a Layout,
    pub names: &'a DeploymentNames,
    pub store: &'a S,
    /// The queue adapter holding the DLQs (`audit` peeks into them).
    pub queue: &'a Q,
    /// The warehouse the loader loads (its ledger for `audit`, its rows by event id).
    pub warehouse: &'a W,
    pub writer: &'a R,
    pub clock: &'a C,
    /// The dead-letter queues (`LOGLIFT_DLQS`).
    pub dlqs: &'a [String],
}

/// Why a run could not be carried out (a failed check is a report with `passed: false`).
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    #[error("{what}: {source}")]
    Port {
        what: String,
        #[source]
        source: PortError,
    },
    #[error("nothing to send: {0}")]
    Empty(String),
}

/// What became of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Dry run: would be sent.
    Planned,
    /// Its send failed.
    NotSent,
    /// In its table exactly once.
    Loaded,
    /// Not in its table by the deadline.
    Missing,
    /// In its table more than once.
    Doubled,
}

/// One event of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventReport {
    pub event_id: String,
    pub tag: String,
    /// The entry, as [`Entry`] prints it.
    pub entry: String,
    pub pipeline: String,
    pub table: String,
    pub rows: u64,
    pub status: EventStatus,
    /// Seconds from its send to its first sighting in the table.
    pub seconds_to_table: Option<f64>,
}

/// One send of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendReport {
    pub entry: Entry,
    pub pipeline: String,
    pub table: String,
    pub events: usize,
    /// Records and bytes, or the landing file's URL.
    pub payload: String,
    pub error: Option<String>,
}

/// What `--cleanup` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CleanupReport {
    /// Rows deleted per table.
    pub rows_deleted: BTreeMap<String, u64>,
    /// Landing files deleted (`s3://bucket/key`).
    pub objects_deleted: Vec<String>,
    pub errors: Vec<String>,
}

/// The run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SmokeReport {
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub dry_run: bool,
    /// Every event exactly once, every send done, every audit balanced (with `check`).
    pub passed: bool,
    pub timeout_seconds: u64,
    pub waited_seconds: f64,
    pub sends: Vec<SendReport>,
    pub events: Vec<EventReport>,
    pub audit_mode: AuditMode,
    pub audits: Vec<AuditReport>,
    pub cleanup: Option<CleanupReport>,
    /// One sentence per failure, naming the event, the entry, the table and where to look.
    pub failures: Vec<String>,
    pub notes: Vec<String>,
}

/// A fresh run id: 8 hex digits.
pub fn new_run_id(now: DateTime<Utc>) -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(now.timestamp_nanos_opt().unwrap_or_default());
    h.write_u32(std::process::id());
    format!("{:08x}", h.finish() & 0xffff_ffff)
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

/// Entries, plan and the report of what would be sent (every event `planned`).
async fn prepare<R: StreamWriter>(
    spec: &Spec,
    layout: &Layout,
    names: &DeploymentNames,
    writer: &R,
    options: &SmokeOptions,
    now: DateTime<Utc>,
) -> Result<(Vec<Entry>, Plan, SmokeReport), SmokeError> {
    let run = options.run_id.clone().unwrap_or_else(|| new_run_id(now));
    let entries = entries(spec, layout, names, writer).await?;
    let plan = plan(
        spec,
        &entries,
        &names.log_stream,
        &run,
        now,
        options.events,
        &options.pipelines,
    );
    if plan.sends.is_empty() {
        return Err(SmokeError::Empty(if plan.notes.is_empty() {
            "the spec and the deployment have no entry".to_owned()
        } else {
            plan.notes.join("; ")
        }));
    }
    let mut report = SmokeReport {
        run_id: run,
        started_at: now,
        finished_at: now,
        dry_run: options.dry_run,
        passed: true,
        timeout_seconds: options.timeout.as_secs(),
        waited_seconds: 0.0,
        sends: Vec::new(),
        events: Vec::new(),
        audit_mode: options.audit,
        audits: Vec::new(),
        cleanup: None,
        failures: Vec::new(),
        notes: plan.notes.clone(),
    };
    for send in &plan.sends {
        let Some(entry) = entries.get(send.entry) else {
            continue;
        };
        report.sends.push(SendReport {
            entry: entry.clone(),
            pipeline: send.pipeline.clone(),
            table: send.table.clone(),
            events: send.events.len(),
            payload: send.payload.describe(),
            error: None,
        });
        report
            .events
            .extend(send.events.iter().map(|event| EventReport {
                event_id: event.event_id.clone(),
                tag: event.tag.clone(),
                entry: entry.to_string(),
                pipeline: send.pipeline.clone(),
                table: send.table.clone(),
                rows: 0,
                status: EventStatus::Planned,
                seconds_to_table: None,
            }));
    }
    Ok((entries, plan, report))
}

/// `--dry-run` without a warehouse: the entries (Firehose delivery streams are described) and
/// the events that would go through each; nothing is sent.
pub async fn dry_run<R: StreamWriter, C: Clock>(
    spec: &Spec,
    layout: &Layout,
    names: &DeploymentNames,
    writer: &R,
    clock: &C,
    options: &SmokeOptions,
) -> Result<SmokeReport, SmokeError> {
    let options = SmokeOptions {
        dry_run: true,
        ..options.clone()
    };
    let (_, _, mut report) = prepare(spec, layout, names, writer, &options, clock.now()).await?;
    report.finished_at = clock.now();
    Ok(report)
}

/// Run the smoke test.
pub async fn smoke<S, Q, W, R, C, P>(
    deps: &SmokeDeps<'_, S, Q, W, R, C>,
    options: &SmokeOptions,
    progress: &P,
) -> Result<SmokeReport, SmokeError>
where
    S: ObjectStore,
    Q: Queue,
    W: Ledger + EventRows,
    R: StreamWriter,
    C: Clock,
    P: Progress + ?Sized,
{
    let started_at = deps.clock.now();
    let (entries, plan, mut report) = prepare(
        deps.spec,
        deps.layout,
        deps.names,
        deps.writer,
        options,
        started_at,
    )
    .await?;
    if options.dry_run {
        report.finished_at = deps.clock.now();
        return Ok(report);
    }

    // Send.
    let mut sent_at: Vec<Option<Instant>> = Vec::with_capacity(plan.sends.len());
    let mut first_event = 0;
    for (send, send_report) in plan.sends.iter().zip(report.sends.iter_mut()) {
        let error = match entries.get(send.entry) {
            Some(entry) => send_one(deps, entry, &send.payload).await.err(),
            None => None,
        };
        if let Some(e) = &error {
            report.failures.push(format!(
                "sending {} event(s) of `{}` through {} failed: {e}",
                send.events.len(),
                send.pipeline,
                send_report.entry
            ));
        }
        sent_at.push(error.is_none().then(Instant::now));
        let status = if error.is_none() {
            EventStatus::Missing
        } else {
            EventStatus::NotSent
        };
        for event in report
            .events
            .iter_mut()
            .skip(first_event)
            .take(send.events.len())
        {
            event.status = status;
        }
        first_event += send.events.len();
        send_report.error = error.map(|e| e.to_string());
    }

    // Wait for the rows.
    let began = Instant::now();
    let deadline = began + options.timeout;
    let waiting: Vec<usize> = (0..report.events.len())
        .filter(|&i| {
            report
                .events
                .get(i)
                .is_some_and(|e| e.status == EventStatus::Missing)
        })
        .collect();
    progress.set_total(waiting.len() as u64);
    let send_of_event: Vec<usize> = plan
        .sends
        .iter()
        .enumerate()
        .flat_map(|(s, send)| std::iter::repeat_n(s, send.events.len()))
        .collect();
    let mut last_error: Option<String> = None;
    loop {
        let pending = by_table(&report.events, |e| {
            e.status == EventStatus::Missing && e.rows == 0
        });
        if pending.is_empty() {
            break;
        }
        progress.message(&format!(
            "waiting for {} event(s), {} s left",
            pending.values().map(Vec::len).sum::<usize>(),
            deadline.saturating_duration_since(Instant::now()).as_secs()
        ));
        for (table, ids) in &pending {
            match deps.warehouse.count_events(table, ids).await {
                Ok(counts) => {
                    for (i, event) in report.events.iter_mut().enumerate() {
                        let Some(n) = counts.get(&event.event_id) else {
                            continue;
                        };
                        if event.table != *table || event.rows > 0 {
                            continue;
                        }
                        event.rows = *n;
                        progress.advance(1);
                        let sent = send_of_event
                            .get(i)
                            .and_then(|s| sent_at.get(*s))
                            .copied()
                            .flatten();
                        event.seconds_to_table = sent.map(|t| secs(t.elapsed()));
                    }
                }
                Err(e) if e.is_retryable() => last_error = Some(e.to_string()),
                Err(source) => {
                    return Err(SmokeError::Port {
                        what: format!("counting the smoke events in {table}"),
                        source,
                    })
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        tokio::time::sleep(options.poll_interval.min(deadline - now)).await;
    }
    // Once more for every sent event: a second copy may have come after the first.
    for (table, ids) in by_table(&report.events, |e| e.status != EventStatus::NotSent) {
        match deps.warehouse.count_events(&table, &ids).await {
            Ok(counts) => {
                for event in report.events.iter_mut().filter(|e| e.table == table) {
                    if let Some(n) = counts.get(&event.event_id) {
                        event.rows = event.rows.max(*n);
                    }
                }
            }
            // Without the last count a second copy could have come unseen: not a pass.
            Err(e) => report.failures.push(format!(
                "the final count of the smoke events in {table} failed, so exactly-once is \
                 unproven: {e}"
            )),
        }
    }
    report.waited_seconds = secs(began.elapsed());
    let rejected = if report
        .events
        .iter()
        .any(|e| e.rows == 0 && e.status == EventStatus::Missing)
    {
        find_rejects(
            deps.store,
            deps.layout,
            &report.events,
            started_at,
            deps.clock.now(),
        )
        .await
    } else {
        BTreeMap::new()
    };
    let hints = |event: &EventReport, entry: Option<&Entry>| -> String {
        let mut look = vec!["`loglift status`".to_owned()];
        look.extend(deps.dlqs.iter().map(|d| {
            format!(
                "`loglift dlq inspect {}`",
                loglift_core::address::queue_name(d)
            )
        }));
        look.push(format!(
            "rejects under s3://{}/{}",
            deps.layout.errors.bucket,
            deps.layout.errors.key(&format!(
                "rejects/stage=*/pipeline={}/dt={}/",
                event.pipeline,
                started_at.format("%Y-%m-%d")
            ))
        ));
        if let Some(entry) = entry {
            look.push(entry.hint(deps.layout));
        }
        look.join("; ")
    };
    for (i, event) in report.events.iter_mut().enumerate() {
        if event.status == EventStatus::NotSent {
            continue;
        }
        let entry = send_of_event
            .get(i)
            .and_then(|s| plan.sends.get(*s))
            .and_then(|s| entries.get(s.entry));
        event.status = match event.rows {
            0 => {
                let why = rejected
                    .get(&event.tag)
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                report.failures.push(format!(
                    "event {} sent through {} did not reach {} within {} s{why}; look at: {}",
                    event.event_id,
                    event.entry,
                    event.table,
                    options.timeout.as_secs(),
                    hints(event, entry)
                ));
                EventStatus::Missing
            }
            1 => EventStatus::Loaded,
            n => {
                report.failures.push(format!(
                    "event {} sent through {} is in {} {n} times, not exactly once",
                    event.event_id, event.entry, event.table
                ));
                EventStatus::Doubled
            }
        };
    }
    if let Some(e) = last_error {
        if report
            .events
            .iter()
            .any(|e| e.status == EventStatus::Missing)
        {
            report
                .notes
                .push(format!("the last warehouse query failed: {e}"));
        }
    }

    // Audit each pipeline over the run's hours.
    if options.audit != AuditMode::Off {
        let since = started_at
            .duration_trunc(TimeDelta::hours(1))
            .unwrap_or(started_at);
        let pipelines: BTreeSet<&str> = plan.sends.iter().map(|s| s.pipeline.as_str()).collect();
        let audit_deps = AuditDeps {
            spec: deps.spec,
            layout: deps.layout,
            store: deps.store,
            queue: deps.queue,
            warehouse: deps.warehouse,
            dlqs: deps.dlqs,
        };
        for pipeline in pipelines {
            progress.message(&format!("auditing {pipeline}"));
            loop {
                let until = deps
                    .clock
                    .now()
                    .duration_trunc(TimeDelta::hours(1))
                    .map_or(since, |h| h + TimeDelta::hours(1));
                let options_audit = AuditOptions::new(pipeline, since, until);
                match audit(&audit_deps, &options_audit, &crate::redrive::NoProgress).await {
                    Ok(result) => {
                        let settle = options.audit == AuditMode::Check
                            && !result.balanced
                            && Instant::now() < deadline;
                        if !settle {
                            if !result.balanced {
                                let text = format!(
                                    "the audit of `{pipeline}` from {} to {} does not balance: {} event(s) unexplained (in flight or lost); run `loglift audit --pipeline {pipeline} --since {} --until {}`",
                                    since.format("%Y-%m-%dT%H"),
                                    until.format("%Y-%m-%dT%H"),
                                    result.totals.unexplained,
                                    since.format("%Y-%m-%dT%H"),
                                    until.format("%Y-%m-%dT%H"),
                                );
                                if options.audit == AuditMode::Check {
                                    report.failures.push(text);
                                } else {
                                    report.notes.push(text);
                                }
                            }
                            report.audits.push(result);
                            break;
                        }
                    }
                    Err(e) if e.is_retryable() && Instant::now() < deadline => {}
                    Err(e) => {
                        let text = format!("the audit of `{pipeline}` could not run: {e}");
                        if options.audit == AuditMode::Check {
                            report.failures.push(text);
                        } else {
                            report.notes.push(text);
                        }
                        break;
                    }
                }
                let now = Instant::now();
                tokio::time::sleep(
                    options
                        .poll_interval
                        .min(deadline.saturating_duration_since(now)),
                )
                .await;
            }
        }
    }

    // Clean up.
    if options.cleanup {
        progress.message("cleaning up");
        let mut cleanup = CleanupReport::default();
        for (table, ids) in by_table(&report.events, |e| e.status != EventStatus::NotSent) {
            match deps.warehouse.delete_events(&table, &ids).await {
                Ok(n) => {
                    cleanup.rows_deleted.insert(table, n);
                }
                Err(e) => cleanup
                    .errors
                    .push(format!("deleting the smoke rows from {table}: {e}")),
            }
        }
        for send in &plan.sends {
            if let Payload::Object { bucket, key, .. } = &send.payload {
                match deps.store.delete(bucket, key).await {
                    Ok(()) => cleanup.objects_deleted.push(format!("s3://{bucket}/{key}")),
                    Err(e) => cleanup
                        .errors
                        .push(format!("deleting s3://{bucket}/{key}: {e}")),
                }
            }
        }
        if report
            .events
            .iter()
            .any(|e| e.status == EventStatus::Missing)
        {
            report.notes.push(
                "events that arrive after the cleanup stay in their tables: run the cleanup again with the same ids, or delete rows whose extra.loglift_smoke is the run id".to_owned(),
            );
        }
        for e in &cleanup.errors {
            report.failures.push(e.clone());
        }
        report.cleanup = Some(cleanup);
    }
    report.passed = report.failures.is_empty();
    report.finished_at = deps.clock.now();
    tracing::info!(
        run = %report.run_id,
        events = report.events.len(),
        failures = report.failures.len(),
        passed = report.passed,
        "Smoke run"
    );
    Ok(report)
}

/// The reject records of the missing events, by tag: the ingest and transform reject files of
/// their pipelines (and of `_unknown`, for what ingest could not route) in the run's hours, whose
/// rejected bytes hold the event's tag. Unreadable files are passed over: this only explains.
async fn find_rejects<S: ObjectStore>(
    store: &S,
    layout: &Layout,
    events: &[EventReport],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> BTreeMap<String, String> {
    use base64::Engine as _;
    let missing: Vec<&EventReport> = events
        .iter()
        .filter(|e| e.rows == 0 && e.status == EventStatus::Missing)
        .collect();
    let mut pipelines: BTreeSet<&str> = missing.iter().map(|e| e.pipeline.as_str()).collect();
    pipelines.insert("_unknown");
    let Ok(hours) =
        crate::redrive::backfill::hours_overlapping(since, until + TimeDelta::seconds(1))
    else {
        return BTreeMap::new();
    };
    let mut found = BTreeMap::new();
    for stage in ["ingest", "transform"] {
        for pipeline in &pipelines {
            for hour in &hours {
                let prefix = layout.errors.key(&format!(
                    "rejects/stage={stage}/{}",
                    loglift_core::storage::arrival_partition(pipeline, *hour)
                ));
                let Ok(files) =
                    crate::redrive::backfill::list_all(store, &layout.errors.bucket, &prefix).await
                else {
                    continue;
                };
                for file in files {
                    let Ok(lines) =
                        crate::redrive::rejects::read_reject_file(store, &file.bucket, &file.key)
                            .await
                    else {
                        continue;
                    };
                    for record in lines.into_iter().filter_map(|(_, r)| r.ok()) {
                        let raw = base64::engine::general_purpose::STANDARD
                            .decode(&record.raw)
                            .unwrap_or_default();
                        let raw = String::from_utf8_lossy(&raw);
                        for event in &missing {
                            if raw.contains(&event.tag) && !found.contains_key(&event.tag) {
                                found.insert(
                                    event.tag.clone(),
                                    format!(
                                        "{stage} rejected it ({}: {}) in s3://{}/{}",
                                        record.reason.code(),
                                        record.message,
                                        file.bucket,
                                        file.key
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    found
}

/// Event ids per table, of the events `keep` selects.
fn by_table(
    events: &[EventReport],
    keep: impl Fn(&EventReport) -> bool,
) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in events.iter().filter(|e| keep(e)) {
        out.entry(e.table.clone())
            .or_default()
            .push(e.event_id.clone());
    }
    out
}

async fn send_one<S, Q, W, R, C>(
    deps: &SmokeDeps<'_, S, Q, W, R, C>,
    entry: &Entry,
    payload: &Payload,
) -> Result<(), PortError>
where
    S: ObjectStore,
    R: StreamWriter,
{
    match (entry, payload) {
        (
            Entry::Kinesis { stream, .. } | Entry::FirehoseViaKinesis { stream, .. },
            Payload::Records(records),
        ) => {
            let records: Vec<OutgoingRecord> = records
                .iter()
                .map(|(key, data)| OutgoingRecord {
                    partition_key: key.clone(),
                    data: Bytes::from(data.clone()),
                })
                .collect();
            deps.writer.put_records(stream, &records).await
        }
        (
            Entry::FirehoseDirect {
                delivery_stream, ..
            },
            Payload::Records(records),
        ) => {
            let records: Vec<Bytes> = records
                .iter()
                .map(|(_, data)| Bytes::from(data.clone()))
                .collect();
            deps.writer
                .put_record_batch(delivery_stream, &records)
                .await
        }
        (
            _,
            Payload::Object {
                bucket,
                key,
                content_type,
                body,
            },
        ) => deps
            .store
            .put(bucket, key, Bytes::from(body.clone()), content_type)
            .await
            .map(|_| ()),
        (entry, Payload::Records(_)) => Err(PortError::Rejected {
            op: "smoke send",
            target: entry.to_string(),
            message: "records for an entry that takes files".to_owned(),
            source: None,
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Printing.

impl std::fmt::Display for SmokeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run { "would send" } else { "sent" };
        writeln!(
            f,
            "smoke run {} ({}): {verb} {} event(s) through {} send(s){}",
            self.run_id,
            self.started_at.format("%Y-%m-%d %H:%M:%SZ"),
            self.events.len(),
            self.sends.len(),
            if self.dry_run {
                String::new()
            } else {
                format!(
                    ", waited {} s of {} s",
                    self.waited_seconds, self.timeout_seconds
                )
            }
        )?;
        writeln!(
            f,
            "  {:<62} {:<20} {:<30} {:>6} {:>6}  result",
            "entry", "pipeline", "table", "events", "once"
        )?;
        for send in &self.sends {
            let entry = send.entry.to_string();
            let mine: Vec<&EventReport> = self
                .events
                .iter()
                .filter(|e| e.entry == entry && e.pipeline == send.pipeline)
                .collect();
            let once = mine
                .iter()
                .filter(|e| e.status == EventStatus::Loaded)
                .count();
            let result = match &send.error {
                Some(e) => format!("SEND FAILED: {e}"),
                None if self.dry_run => send.payload.clone(),
                None if once == mine.len() => "ok".to_owned(),
                None => "FAILED".to_owned(),
            };
            writeln!(
                f,
                "  {:<62} {:<20} {:<30} {:>6} {:>6}  {result}",
                entry,
                send.pipeline,
                send.table,
                send.events,
                if self.dry_run {
                    "-".to_owned()
                } else {
                    once.to_string()
                }
            )?;
        }
        writeln!(f, "events")?;
        for e in &self.events {
            let status = match e.status {
                EventStatus::Planned => "planned".to_owned(),
                EventStatus::NotSent => "not sent".to_owned(),
                EventStatus::Loaded => match e.seconds_to_table {
                    Some(s) => format!("loaded once ({s} s)"),
                    None => "loaded once".to_owned(),
                },
                EventStatus::Missing => "MISSING".to_owned(),
                EventStatus::Doubled => format!("DOUBLED ({} rows)", e.rows),
            };
            writeln!(f, "  {:<40} {:<30} {status}", e.event_id, e.table)?;
        }
        if !self.audits.is_empty() {
            writeln!(f, "audit ({:?})", self.audit_mode)?;
            for a in &self.audits {
                writeln!(
                    f,
                    "  {:<20} {}: in {}, loaded {}, rejected {}, in DLQ {}, unexplained {}",
                    a.pipeline,
                    if a.balanced {
                        "balanced"
                    } else {
                        "DOES NOT BALANCE"
                    },
                    a.totals.events_in,
                    a.totals.loaded,
                    a.totals.rejected,
                    a.totals.in_dlq,
                    a.totals.unexplained
                )?;
            }
        }
        if let Some(c) = &self.cleanup {
            let rows: u64 = c.rows_deleted.values().sum();
            writeln!(
                f,
                "cleanup: {rows} row(s) deleted from {} table(s), {} landing file(s) deleted",
                c.rows_deleted.len(),
                c.objects_deleted.len()
            )?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        for failure in &self.failures {
            writeln!(f, "FAILED: {failure}")?;
        }
        if self.dry_run {
            writeln!(f, "dry run: nothing was sent")?;
        } else if self.passed {
            writeln!(
                f,
                "PASSED: every event reached its table exactly once{}",
                if self.audit_mode == AuditMode::Check {
                    " and every audit balances"
                } else {
                    ""
                }
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = include_str!("../../../spec/pipelines.yaml");

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000, 0).unwrap()
    }

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn names_come_from_the_cli_environment_or_the_spec() {
        let spec = Spec::parse(SPEC).unwrap();
        let plain = DeploymentNames::from_lookup(&spec, lookup(&[])).unwrap();
        assert_eq!(
            plain.streams.keys().collect::<Vec<_>>(),
            ["logs", "user-events", "user-utm"]
        );
        assert_eq!(plain.streams["logs"], "logs");
        let deployed = DeploymentNames::from_lookup(
            &spec,
            lookup(&[
                (
                    "LOGLIFT_STREAM_NAMES",
                    "user-events=prod-user-events, user-utm=prod-user-utm,logs=prod-logs",
                ),
                (
                    "LOGLIFT_FIREHOSE_SOURCE_STREAMS",
                    "prod-user-utm=prod-user-utm",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(deployed.streams["user-utm"], "prod-user-utm");
        assert_eq!(deployed.delivery_streams, ["prod-user-utm"]);
        assert_eq!(deployed.spec_name("prod-logs"), "logs");
        let renamed = DeploymentNames::from_lookup(
            &spec,
            lookup(&[(
                "LOGLIFT_STREAM_NAMES",
                "user-events=p-user-events,user-utm=p-user-utm,cwl=p-cwl",
            )]),
        )
        .unwrap();
        assert_eq!(renamed.log_stream, "cwl");
        let bad = DeploymentNames::from_lookup(&spec, lookup(&[("LOGLIFT_STREAM_NAMES", "x")]));
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("LOGLIFT_STREAM_NAMES"));
    }

    #[test]
    fn every_entry_of_the_shipped_spec_gets_events_that_route_to_its_pipeline() {
        let spec = Spec::parse(SPEC).unwrap();
        let layout = Layout::single_bucket("lake");
        let mut entries = vec![
            Entry::Kinesis {
                stream: "prod-user-events".into(),
                routing: "user-events".into(),
            },
            Entry::FirehoseViaKinesis {
                delivery_stream: "prod-user-utm".into(),
                stream: "prod-user-utm".into(),
                routing: "user-utm".into(),
            },
            Entry::Kinesis {
                stream: "prod-logs".into(),
                routing: "logs".into(),
            },
        ];
        for p in &spec.pipelines {
            if let Some(prefix) = &p.matcher.s3_prefix {
                entries.push(Entry::Landing {
                    bucket: "lake".into(),
                    prefix: layout.landing.key(prefix),
                    pipeline: p.name.clone(),
                });
            }
        }
        let plan = plan(&spec, &entries, "logs", "ab12cd34", now(), 2, &[]);
        assert!(plan.notes.is_empty(), "{:?}", plan.notes);
        let sent: BTreeSet<&str> = plan.sends.iter().map(|s| s.pipeline.as_str()).collect();
        let all: BTreeSet<&str> = spec.pipelines.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(sent, all);
        assert_eq!(plan.sends.len(), spec.pipelines.len());
        let at = |pipeline: &str| plan.sends.iter().find(|s| s.pipeline == pipeline).unwrap();
        assert_eq!(at("user_events").entry, 0);
        assert_eq!(at("user_utm").entry, 1);
        assert_eq!(at("app_logs").entry, 2);
        let ids: BTreeSet<&str> = plan
            .sends
            .iter()
            .flat_map(|s| s.events.iter().map(|e| e.event_id.as_str()))
            .collect();
        assert_eq!(ids.len(), 2 * spec.pipelines.len());
        // CloudWatch Logs: one gzip payload for both events.
        assert!(matches!(&at("app_logs").payload, Payload::Records(r) if r.len() == 1));
        assert!(matches!(
            &at("hit_data").payload,
            Payload::Object { key, .. } if key == "landing/hit_data/loglift-smoke-ab12cd34.tsv"
        ));
        let only = super::plan(
            &spec,
            &entries,
            "logs",
            "ab12cd34",
            now(),
            1,
            &["hit_data".to_owned()],
        );
        assert_eq!(only.sends.len(), 1);
        // An entry no pipeline takes is named.
        let stray = super::plan(
            &spec,
            &[Entry::Kinesis {
                stream: "other".into(),
                routing: "other".into(),
            }],
            "logs",
            "ab12cd34",
            now(),
            1,
            &[],
        );
        assert!(stray.sends.is_empty());
        assert!(
            stray
                .notes
                .iter()
                .any(|n| n.contains("nothing sent through Kinesis stream other")),
            "{:?}",
            stray.notes
        );
    }
}
