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
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the deployment's names and its entries |
//! | `plan.rs` | [`plan`]: the events per entry and pipeline (pure) |
//! | `run.rs` | [`smoke`], [`dry_run`]: send, wait, count, audit, clean up |
//! | `print.rs` | the report as text |

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

mod plan;
mod print;
mod run;

pub use plan::*;
pub use run::*;

#[cfg(test)]
mod tests;
