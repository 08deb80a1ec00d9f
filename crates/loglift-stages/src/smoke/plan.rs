//! The plan (pure): which events go through which entry, built from each pipeline's spec.

use super::*;

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
    pub(super) fn describe(&self) -> String {
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
pub(super) fn candidates<'s>(spec: &'s Spec, entry: &Entry, log_stream: &str) -> Vec<&'s Pipeline> {
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
