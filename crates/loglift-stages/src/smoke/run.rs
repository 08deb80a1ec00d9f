//! The run: send, wait for the warehouse with a deadline, count, audit, clean up.

use super::*;
use loglift_core::reject::Stage;

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

pub(super) fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

/// Entries, plan and the report of what would be sent (every event `planned`).
pub(super) async fn prepare<R: StreamWriter>(
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
pub(super) async fn find_rejects<S: ObjectStore>(
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
    for stage in [Stage::Ingest, Stage::Transform] {
        for pipeline in &pipelines {
            for hour in &hours {
                let prefix = layout.reject_prefix(stage, pipeline, Some(*hour));
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
                                        "{} rejected it ({}: {}) in s3://{}/{}",
                                        stage.as_str(),
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
pub(super) fn by_table(
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

pub(super) async fn send_one<S, Q, W, R, C>(
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
