//! Backfill: re-announce the raw (or landing) objects of a pipeline and a time range to the
//! transform queue, one S3-event message per object, the body S3 itself sends
//! ([`loglift_core::s3event::notification_body`]).
//!
//! - A stream pipeline's raw objects are listed hour by hour under their arrival partitions
//!   (`raw/pipeline=<p>/dt=…/hour=…/`): one listing per hour prefix, never the whole raw area. An
//!   hour is in the range when it overlaps `[since, until)`.
//! - A landing pipeline's (`match.s3_prefix`) objects are listed under its landing prefix and
//!   kept when their last-modified time is in `[since, until)`.
//!
//! Transform names its outputs from the source object's id, so a re-announced object rewrites the
//! same curated keys; the loader then skips what its ledger holds and dedupes rows by event id.
//! With the `replace` duplicate policy a backfill after a spec or code fix corrects loaded rows;
//! with `keep_first` an unchanged range changes nothing in the warehouse.
//!
//! [`ReplayDeps`] and [`ReplayError`] are shared with [`super::rejects`].

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use loglift_core::s3event::notification_body;
use loglift_core::spec::{Pipeline, Spec};
use loglift_core::storage::{arrival_partition, Layout};
use loglift_ports::{ObjectMeta, ObjectStore, OutgoingMessage, PortError, Queue};
use serde::Deserialize;

use super::{Progress, RedriveReport};

/// Where a replay reads and announces: the spec, the lake layout, the object store and the queue
/// holding the transform queue.
#[derive(Debug)]
pub struct ReplayDeps<'a, S, Q> {
    pub spec: &'a Spec,
    pub layout: &'a Layout,
    pub store: &'a S,
    pub queue: &'a Q,
    /// The transform queue (an SQS URL, or a local queue name).
    pub transform_queue: &'a str,
}

/// Why a replay could not run at all (per-object failures are counted in the report instead).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("the spec declares no pipeline `{0}`")]
    UnknownPipeline(String),
    #[error("bad range: {0}")]
    BadRange(String),
    #[error("{what}: {source}")]
    Port {
        what: String,
        #[source]
        source: PortError,
    },
}

impl ReplayError {
    /// Running the same command again may succeed (a transient listing failure).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ReplayError::Port { source, .. } if source.is_retryable())
    }

    pub(crate) fn port(what: impl Into<String>, source: PortError) -> Self {
        ReplayError::Port {
            what: what.into(),
            source,
        }
    }
}

/// Ranges longer than this many hours are refused (a typo such as year 20260 would otherwise
/// list for days).
pub const MAX_RANGE_HOURS: i64 = 24 * 366 * 5;

/// A backfill command (the `dlq-redrive` Lambda's JSON, the CLI's flags).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BackfillOptions {
    pub pipeline: String,
    /// Start of the range (inclusive), RFC 3339.
    pub since: DateTime<Utc>,
    /// End of the range (exclusive), RFC 3339.
    pub until: DateTime<Utc>,
    /// List what would be announced; send nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Announce at most this many objects (the rest are counted as skipped).
    #[serde(default)]
    pub max: Option<u64>,
}

/// Announce the pipeline's raw (or landing) objects of `[since, until)` on the transform queue.
pub async fn backfill<S: ObjectStore, Q: Queue, P: Progress + ?Sized>(
    deps: &ReplayDeps<'_, S, Q>,
    options: &BackfillOptions,
    progress: &P,
) -> Result<RedriveReport, ReplayError> {
    let pipeline = deps
        .spec
        .pipeline(&options.pipeline)
        .ok_or_else(|| ReplayError::UnknownPipeline(options.pipeline.clone()))?;
    let objects = range_objects(
        deps.store,
        deps.layout,
        pipeline,
        options.since,
        options.until,
    )
    .await?;
    progress.set_total(objects.len() as u64);
    let mut report = RedriveReport {
        dry_run: options.dry_run,
        ..RedriveReport::default()
    };
    let max = options.max.unwrap_or(u64::MAX);
    for meta in &objects {
        progress.advance(1);
        if report.moved >= max {
            report.skipped += 1;
            continue;
        }
        if options.dry_run {
            report.moved += 1;
            report
                .details
                .push(format!("would announce s3://{}/{}", meta.bucket, meta.key));
            continue;
        }
        match announce(deps.queue, deps.transform_queue, meta).await {
            Ok(()) => report.moved += 1,
            Err(e) => {
                report.failed += 1;
                report
                    .details
                    .push(format!("s3://{}/{}: {e}", meta.bucket, meta.key));
            }
        }
    }
    if report.skipped > 0 {
        report.details.push(format!(
            "{} object(s) over --max {max} left for another run",
            report.skipped
        ));
    }
    tracing::info!(
        pipeline = %pipeline.name,
        since = %options.since,
        until = %options.until,
        moved = report.moved,
        skipped = report.skipped,
        failed = report.failed,
        dry_run = options.dry_run,
        "Backfill"
    );
    Ok(report)
}

/// Send the S3 `ObjectCreated:Put` notification for one object to `queue`.
pub async fn announce<Q: Queue>(queue: &Q, url: &str, meta: &ObjectMeta) -> Result<(), PortError> {
    let body = notification_body(
        &meta.bucket,
        &meta.key,
        meta.size,
        &meta.etag,
        meta.version_id.as_deref(),
        meta.last_modified,
    );
    queue
        .send(url, &OutgoingMessage::new(body))
        .await
        .map(|_| ())
}

/// The objects transform reads for `pipeline` in `[since, until)`, in announcement order: raw
/// objects hour by hour (key order within an hour), or landing objects by key.
pub async fn range_objects<S: ObjectStore>(
    store: &S,
    layout: &Layout,
    pipeline: &Pipeline,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<ObjectMeta>, ReplayError> {
    let hours = hours_overlapping(since, until)?;
    if let Some(prefix) = pipeline.matcher.s3_prefix.as_deref() {
        let full = layout.landing.key(prefix);
        let listed = list_all(store, &layout.landing.bucket, &full).await?;
        return Ok(listed
            .into_iter()
            .filter(|m| m.last_modified.is_some_and(|t| t >= since && t < until))
            .collect());
    }
    let mut out = Vec::new();
    for hour in hours {
        let prefix = layout.raw.key(&arrival_partition(&pipeline.name, hour));
        out.extend(list_all(store, &layout.raw.bucket, &prefix).await?);
    }
    Ok(out)
}

/// Every object under `prefix`, all pages.
pub async fn list_all<S: ObjectStore>(
    store: &S,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<ObjectMeta>, ReplayError> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = store
            .list(bucket, prefix, next.as_deref())
            .await
            .map_err(|e| ReplayError::port(format!("listing s3://{bucket}/{prefix}"), e))?;
        out.extend(page.objects);
        match page.next {
            Some(n) => next = Some(n),
            None => return Ok(out),
        }
    }
}

/// The starts of the UTC hours that overlap `[since, until)`, in order.
pub fn hours_overlapping(
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, ReplayError> {
    if since >= until {
        return Err(ReplayError::BadRange(format!(
            "--since {since} is not before --until {until}"
        )));
    }
    let first = since.duration_trunc(TimeDelta::hours(1)).map_err(|e| {
        ReplayError::BadRange(format!("{since} cannot be truncated to its hour: {e}"))
    })?;
    let span = (until - first).num_hours();
    if span > MAX_RANGE_HOURS {
        return Err(ReplayError::BadRange(format!(
            "{since} .. {until} spans {span} hours, more than {MAX_RANGE_HOURS}"
        )));
    }
    let mut hours = Vec::new();
    let mut hour = first;
    while hour < until {
        hours.push(hour);
        hour += TimeDelta::hours(1);
    }
    Ok(hours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap()
    }

    #[test]
    fn hours_overlap_the_range() {
        assert_eq!(
            hours_overlapping(t(21, 10, 0), t(21, 12, 0)).unwrap(),
            [t(21, 10, 0), t(21, 11, 0)]
        );
        assert_eq!(
            hours_overlapping(t(21, 10, 30), t(21, 11, 1)).unwrap(),
            [t(21, 10, 0), t(21, 11, 0)]
        );
        assert_eq!(
            hours_overlapping(t(21, 23, 59), t(22, 0, 1)).unwrap(),
            [t(21, 23, 0), t(22, 0, 0)]
        );
        assert!(matches!(
            hours_overlapping(t(21, 10, 0), t(21, 10, 0)),
            Err(ReplayError::BadRange(_))
        ));
        let far = Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).unwrap();
        assert!(matches!(
            hours_overlapping(t(21, 10, 0), far),
            Err(ReplayError::BadRange(_))
        ));
    }
}
