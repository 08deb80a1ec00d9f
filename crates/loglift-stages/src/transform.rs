//! The transform stage: SQS batches of S3 event notifications → each created object streamed
//! through `loglift_core::transform` (curated parts, reject files, job reports) → one loader
//! message per object → a partial batch response.
//!
//! Per message: an `s3:TestEvent` and non-create events are acknowledged with a log line; an
//! object deleted before it was read is acknowledged with a warning (its newer event, if any,
//! brings it back); a body that is no S3 event at all, or a raw object of a pipeline the spec does
//! not know, is poison: its reason is written to `errors/failures/queue=<q>/<message id>.json`
//! and the message is reported failed, so the queue's redrive policy moves it to the DLQ. A
//! transient failure (S3, SQS) reports the message failed for a retry. Outputs are named from the
//! source object's id, so duplicate and late deliveries overwrite instead of adding.

use std::io::BufReader;

use bytes::Bytes;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use loglift_core::compress;
use loglift_core::s3event::{self, ObjectCreated};
use loglift_core::spec::{Pipeline, PrioritySource, Spec};
use loglift_core::storage::{parse_arrival_partition, Layout};
use loglift_core::transform::{
    transform_object, Context, Limits, Outcome, Sink, SourceKind, SourceObject, TransformError,
};
use loglift_core::wire::{BatchItemFailures, SqsBatch, SqsMessage, WireError};
use loglift_ports::{Clock, ConfigLookup, ObjectStore, OutgoingMessage, PortError, Queue};
use tokio_util::io::SyncIoBridge;

use crate::failure::MessageFailure;
use crate::obs::Tally;
use crate::priority::PriorityCache;

/// What the transform handler needs.
#[derive(Debug)]
pub struct TransformDeps<S, Q, C, L: ConfigLookup> {
    pub spec: Spec,
    pub layout: Layout,
    pub store: S,
    pub queue: Q,
    pub clock: C,
    /// The loader queue (URL, or a local queue name).
    pub loader_queue: String,
    pub limits: Limits,
    pub priorities: PriorityCache<L>,
}

/// Handle one SQS event. A malformed event (not the SQS shape) fails the invocation.
pub async fn handle_sqs<S, Q, C, L>(
    deps: &TransformDeps<S, Q, C, L>,
    event: &[u8],
) -> Result<(BatchItemFailures, Tally), WireError>
where
    S: ObjectStore + Clone + 'static,
    Q: Queue,
    C: Clock,
    L: ConfigLookup,
{
    let batch = SqsBatch::from_slice(event)?;
    let mut tally = Tally::default();
    let mut failed = Vec::new();
    for message in &batch.messages {
        match handle_message(deps, message, &mut tally).await {
            Ok(()) => {}
            Err(MessageFailure::Retry(reason)) => {
                tracing::warn!(message_id = %message.message_id, %reason, "Message left for a retry");
                failed.push(message.message_id.clone());
            }
            Err(MessageFailure::Poison(reason)) => {
                record_failure(deps, message, &reason).await;
                failed.push(message.message_id.clone());
            }
        }
    }
    Ok((BatchItemFailures::from_ids(failed), tally))
}

async fn record_failure<S: ObjectStore, Q, C: Clock, L: ConfigLookup>(
    deps: &TransformDeps<S, Q, C, L>,
    message: &SqsMessage,
    reason: &str,
) {
    crate::failure::record(
        &deps.store,
        &deps.layout,
        "transform",
        message,
        reason,
        deps.clock.now(),
    )
    .await;
}

async fn handle_message<S, Q, C, L>(
    deps: &TransformDeps<S, Q, C, L>,
    message: &SqsMessage,
    tally: &mut Tally,
) -> Result<(), MessageFailure>
where
    S: ObjectStore + Clone + 'static,
    Q: Queue,
    C: Clock,
    L: ConfigLookup,
{
    let notification = s3event::parse_body(&message.body)
        .map_err(|e| MessageFailure::Poison(format!("not an S3 event notification: {e}")))?;
    if notification.test_event {
        tracing::info!(message_id = %message.message_id, "Acknowledged s3:TestEvent");
    }
    for ignored in &notification.ignored {
        tracing::info!(event = %ignored.event_name, bucket = ?ignored.bucket, key = ?ignored.key, "Ignored a non-create event");
    }
    for object in &notification.created {
        handle_object(deps, object, tally).await?;
    }
    Ok(())
}

/// An object's pipeline, area, and (raw objects) arrival hour from its key.
type Classified<'s> = (&'s Pipeline, SourceKind, Option<DateTime<Utc>>);

/// Which pipeline and area an object belongs to; `None` when transform does not read it.
fn classify<'s>(
    spec: &'s Spec,
    layout: &Layout,
    object: &ObjectCreated,
) -> Result<Option<Classified<'s>>, MessageFailure> {
    if let Some(relative) = layout.raw.relative(&object.bucket, &object.key) {
        let (name, hour) = parse_arrival_partition(relative).ok_or_else(|| {
            MessageFailure::Poison(format!(
                "raw object s3://{}/{} is not under pipeline=<p>/dt=<date>/hour=<HH>/",
                object.bucket, object.key
            ))
        })?;
        let pipeline = spec.pipeline(&name).ok_or_else(|| {
            MessageFailure::Poison(format!(
                "raw object s3://{}/{} belongs to pipeline `{name}`, which the spec (version {}) does not declare",
                object.bucket, object.key, spec.version
            ))
        })?;
        return Ok(Some((pipeline, SourceKind::Raw, Some(hour))));
    }
    if let Some(relative) = layout.landing.relative(&object.bucket, &object.key) {
        let pipeline = spec.pipelines.iter().find(|p| {
            p.matcher
                .s3_prefix
                .as_deref()
                .is_some_and(|prefix| relative.starts_with(prefix))
        });
        return Ok(pipeline.map(|p| (p, SourceKind::Landing, None)));
    }
    Ok(None)
}

async fn handle_object<S, Q, C, L>(
    deps: &TransformDeps<S, Q, C, L>,
    object: &ObjectCreated,
    tally: &mut Tally,
) -> Result<(), MessageFailure>
where
    S: ObjectStore + Clone + 'static,
    Q: Queue,
    C: Clock,
    L: ConfigLookup,
{
    let Some((pipeline, kind, raw_hour)) = classify(&deps.spec, &deps.layout, object)? else {
        tracing::info!(bucket = %object.bucket, key = %object.key, "Ignored an object outside raw/ and the landing pipelines' prefixes");
        return Ok(());
    };
    let now = deps.clock.now();
    let priority = resolve_priority(deps, pipeline, now).await?;
    let opened = match deps.store.get(&object.bucket, &object.key).await {
        Ok(opened) => opened,
        Err(e) if e.is_not_found() => {
            tracing::warn!(bucket = %object.bucket, key = %object.key, "Object is gone before it was read; acknowledged");
            tally.pipeline(&pipeline.name).dropped += 1;
            return Ok(());
        }
        Err(e) => return Err(MessageFailure::at("reading the object", &e)),
    };
    let meta = opened.meta.clone();
    let ingested_at = meta.last_modified.or(object.event_time).unwrap_or(now);
    let arrival = raw_hour.unwrap_or(ingested_at);
    let version = meta.version_or_etag().to_owned();
    let job = Job {
        pipeline: pipeline.clone(),
        layout: deps.layout.clone(),
        spec_version: deps.spec.version,
        limits: deps.limits,
        now,
        priority,
        bucket: meta.bucket.clone(),
        key: meta.key.clone(),
        version,
        kind,
        arrival,
        ingested_at,
    };
    let store = deps.store.clone();
    let handle = tokio::runtime::Handle::current();
    let body = opened.body;
    let result = tokio::task::spawn_blocking(move || {
        let reader = BufReader::with_capacity(
            256 * 1024,
            SyncIoBridge::new_with_handle(body, handle.clone()),
        );
        let mut sink = StoreSink { store, handle };
        let outcome = match compress::open_stream(reader) {
            Ok((_, decoded)) => job.run(decoded, &mut sink),
            Err(e) => Err(TransformError::Read(e)),
        };
        (job, outcome)
    })
    .await
    .map_err(|e| MessageFailure::Retry(format!("the transform task stopped: {e}")))?;
    let (job, outcome) = result;
    let outcome = outcome.map_err(|e| match e {
        TransformError::Read(e) => MessageFailure::Retry(format!(
            "reading s3://{}/{}: {e}",
            object.bucket, object.key
        )),
        TransformError::Sink { key, source } => {
            MessageFailure::at(&format!("writing {key}"), &source)
        }
    })?;
    count(tally, &job.pipeline.name, &outcome, now);
    if let Some(message) = outcome.loader_message(&job.source(), deps.spec.version) {
        let body = serde_json::to_string(&message)
            .map_err(|e| MessageFailure::Poison(format!("loader message: {e}")))?;
        deps.queue
            .send(&deps.loader_queue, &OutgoingMessage::new(body))
            .await
            .map_err(|e| MessageFailure::at("sending the loader message", &e))?;
    }
    tracing::info!(
        pipeline = %job.pipeline.name,
        bucket = %job.bucket,
        key = %job.key,
        events = outcome.events,
        valid = outcome.valid,
        rejected = outcome.rejected,
        curated_objects = outcome.curated.len(),
        reports = outcome.reports.len(),
        jobs = %serde_json::Value::from(
            outcome.job_summaries.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>()
        ),
        "Transformed object"
    );
    Ok(())
}

async fn resolve_priority<S, Q, C, L: ConfigLookup>(
    deps: &TransformDeps<S, Q, C, L>,
    pipeline: &Pipeline,
    now: DateTime<Utc>,
) -> Result<Vec<String>, MessageFailure> {
    for job in &pipeline.jobs {
        if let loglift_core::spec::Job::ConsolidateByPriority { priority, .. } = job {
            return match priority {
                PrioritySource::List(list) => Ok(list.clone()),
                source => deps
                    .priorities
                    .resolve(source, now)
                    .await
                    .map_err(|e| MessageFailure::at("reading the partner priority list", &e)),
            };
        }
    }
    Ok(Vec::new())
}

fn count(tally: &mut Tally, pipeline: &str, outcome: &Outcome, now: DateTime<Utc>) {
    let c = tally.pipeline(pipeline);
    c.records_in += outcome.events;
    c.records_out += outcome.valid;
    c.rejected += outcome.rejected;
    c.bytes_in += outcome.bytes_in;
    c.bytes_out += outcome.curated.iter().map(|o| o.bytes).sum::<u64>();
    let oldest = outcome
        .curated
        .iter()
        .filter_map(|o| o.min_event_time.as_deref())
        .filter_map(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").ok())
        .min();
    if let Some(oldest) = oldest {
        let age = (now - oldest.and_utc()).num_milliseconds();
        c.freshness_ms = Some(c.freshness_ms.map_or(age, |f| f.max(age)));
    }
    for (reason, n) in &outcome.rejects_by_reason {
        *tally
            .rejects_by_reason
            .entry((*reason).to_owned())
            .or_default() += n;
    }
}

/// One object's work, owned so it can move to a blocking thread.
struct Job {
    pipeline: Pipeline,
    layout: Layout,
    spec_version: u32,
    limits: Limits,
    now: DateTime<Utc>,
    priority: Vec<String>,
    bucket: String,
    key: String,
    version: String,
    kind: SourceKind,
    arrival: DateTime<Utc>,
    ingested_at: DateTime<Utc>,
}

impl Job {
    fn source(&self) -> SourceObject<'_> {
        SourceObject {
            bucket: &self.bucket,
            key: &self.key,
            version: &self.version,
            kind: self.kind,
            pipeline: &self.pipeline,
            arrival: self
                .arrival
                .duration_trunc(TimeDelta::hours(1))
                .unwrap_or(self.arrival),
            ingested_at: self.ingested_at,
        }
    }

    fn run<R: std::io::BufRead, K: Sink>(
        &self,
        reader: R,
        sink: &mut K,
    ) -> Result<Outcome, TransformError<K::Error>> {
        let ctx = Context {
            layout: &self.layout,
            spec_version: self.spec_version,
            limits: self.limits,
            now: self.now,
            priority: &self.priority,
        };
        transform_object(reader, &self.source(), &ctx, sink)
    }
}

/// The core's sink on the object store: each put runs on the runtime from the blocking thread.
struct StoreSink<S> {
    store: S,
    handle: tokio::runtime::Handle,
}

impl<S: ObjectStore> Sink for StoreSink<S> {
    type Error = PortError;

    fn put(
        &mut self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<String, PortError> {
        let meta =
            self.handle.block_on(
                self.store
                    .put(bucket, key, Bytes::from(bytes), content_type),
            )?;
        Ok(meta.version_or_etag().to_owned())
    }
}
