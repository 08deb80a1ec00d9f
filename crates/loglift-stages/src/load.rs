//! The load stage: SQS batches of loader messages → one warehouse load per target table (the
//! warehouse does lock, stage, ledger check, dedupe, apply and ledger insert in ONE transaction)
//! → a partial batch response.
//!
//! Per message: a body that is no loader message, or names a pipeline or table the spec does not
//! declare, is poison (reason in `errors/failures/queue=<q>/<message id>.json`, the message
//! reported failed until the redrive policy moves it to the DLQ). Per table: a transient failure
//! (connection, serialization conflict, Data API throttling or deadline) reports every message of
//! the table failed for a retry; a rejected load of several messages is retried one message at a
//! time so only the bad message is left failed, with its reason. A retry after a commit is a
//! no-op: the ledger holds the objects.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use loglift_core::spec::{Pipeline, Spec};
use loglift_core::storage::{Layout, LoadBatch, LoadReport, LoaderMessage};
use loglift_core::wire::{BatchItemFailures, SqsBatch, SqsMessage, WireError};
use loglift_ports::{Clock, Ledger, ObjectStore, PortError, Warehouse};

use crate::failure::MessageFailure;
use crate::obs::Tally;

/// What the load handler needs.
#[derive(Debug)]
pub struct LoadDeps<W, S, C> {
    pub spec: Spec,
    pub layout: Layout,
    pub warehouse: W,
    /// Where failure reasons are written (the errors area).
    pub store: S,
    pub clock: C,
    /// Ledger rows older than this are pruned (at most once an hour per container).
    pub ledger_retention: TimeDelta,
    ensured: Mutex<HashSet<String>>,
    last_prune: Mutex<Option<DateTime<Utc>>>,
}

impl<W: Warehouse + Ledger, S: ObjectStore, C: Clock> LoadDeps<W, S, C> {
    pub fn new(spec: Spec, layout: Layout, warehouse: W, store: S, clock: C) -> Self {
        LoadDeps {
            spec,
            layout,
            warehouse,
            store,
            clock,
            ledger_retention: TimeDelta::days(30),
            ensured: Mutex::new(HashSet::new()),
            last_prune: Mutex::new(None),
        }
    }
}

/// What one invocation loaded, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadTally {
    pub tables: BTreeMap<String, LoadReport>,
    pub tally: Tally,
}

impl LoadTally {
    fn add(&mut self, pipeline: &str, table: &str, report: &LoadReport, rows_in: u64) {
        *self.tables.entry(table.to_owned()).or_default() += report;
        let c = self.tally.pipeline(pipeline);
        c.records_in += rows_in;
        c.records_out += report.inserted + report.replaced;
        c.duplicates += report.duplicates_skipped;
    }
}

/// One table's messages and their pipeline.
type Group<'s, 'b> = (&'s Pipeline, Vec<(&'b SqsMessage, LoaderMessage)>);

/// Handle one SQS event of loader messages.
pub async fn handle_sqs<W: Warehouse + Ledger, S: ObjectStore, C: Clock>(
    deps: &LoadDeps<W, S, C>,
    event: &[u8],
) -> Result<(BatchItemFailures, LoadTally), WireError> {
    let batch = SqsBatch::from_slice(event)?;
    let mut out = LoadTally::default();
    let mut failed: Vec<String> = Vec::new();
    // Table → its pipeline and messages, in batch order.
    let mut groups: BTreeMap<String, Group<'_, '_>> = BTreeMap::new();
    for message in &batch.messages {
        match parse(&deps.spec, message) {
            Ok((pipeline, loader)) => groups
                .entry(loader.table.clone())
                .or_insert_with(|| (pipeline, Vec::new()))
                .1
                .push((message, loader)),
            Err(reason) => {
                record_failure(deps, message, &reason).await;
                failed.push(message.message_id.clone());
            }
        }
    }
    for (table, (pipeline, messages)) in &groups {
        if let Err(e) = ensure(deps, pipeline).await {
            let failure = MessageFailure::from_port(&e);
            for (m, _) in messages {
                fail(deps, m, &failure, &mut failed).await;
            }
            continue;
        }
        let loaded = load_group(deps, pipeline, table, messages).await;
        match loaded {
            Ok(report) => {
                let rows: u64 = messages
                    .iter()
                    .flat_map(|(_, l)| &l.objects)
                    .map(|o| o.rows)
                    .sum();
                out.add(&pipeline.name, table, &report, rows);
                tracing::info!(
                    %table,
                    messages = messages.len(),
                    inserted = report.inserted,
                    replaced = report.replaced,
                    duplicates_skipped = report.duplicates_skipped,
                    objects_skipped = report.objects_skipped,
                    "Loaded"
                );
            }
            Err(MessageFailure::Retry(reason)) => {
                tracing::warn!(%table, %reason, "Load left for a retry");
                for (m, _) in messages {
                    failed.push(m.message_id.clone());
                }
            }
            Err(MessageFailure::Poison(reason)) if messages.len() > 1 => {
                // Find the bad message: load each alone (the good ones commit; the ledger makes
                // any that already committed a no-op).
                tracing::warn!(%table, %reason, "Load rejected; loading its messages one at a time");
                for one in messages {
                    match load_group(deps, pipeline, table, std::slice::from_ref(one)).await {
                        Ok(report) => {
                            let rows = one.1.objects.iter().map(|o| o.rows).sum();
                            out.add(&pipeline.name, table, &report, rows);
                        }
                        Err(failure) => fail(deps, one.0, &failure, &mut failed).await,
                    }
                }
            }
            Err(failure) => {
                for (m, _) in messages {
                    fail(deps, m, &failure, &mut failed).await;
                }
            }
        }
    }
    prune(deps).await;
    Ok((BatchItemFailures::from_ids(failed), out))
}

async fn load_group<W: Warehouse, S, C>(
    deps: &LoadDeps<W, S, C>,
    pipeline: &Pipeline,
    table: &str,
    messages: &[(&SqsMessage, LoaderMessage)],
) -> Result<LoadReport, MessageFailure> {
    // The highest receive count: a retry after a FAILED or ABORTED statement submits under a
    // new Data API ClientToken (the same token would return the failed statement again).
    let attempt = messages
        .iter()
        .map(|(m, _)| m.receive_count)
        .max()
        .unwrap_or(1);
    let batch = LoadBatch {
        attempt,
        table: table.to_owned(),
        messages: messages.iter().map(|(_, l)| l.clone()).collect(),
    };
    deps.warehouse
        .load(pipeline, &batch)
        .await
        .map_err(|e| MessageFailure::from_port(&e))
}

fn parse<'s>(
    spec: &'s Spec,
    message: &SqsMessage,
) -> Result<(&'s Pipeline, LoaderMessage), String> {
    let loader: LoaderMessage =
        serde_json::from_str(&message.body).map_err(|e| format!("not a loader message: {e}"))?;
    if loader.v != 1 {
        return Err(format!("loader message version {} is not 1", loader.v));
    }
    let pipeline = spec.pipeline(&loader.pipeline).ok_or_else(|| {
        format!(
            "pipeline `{}` is not in the spec (version {})",
            loader.pipeline, spec.version
        )
    })?;
    if pipeline.table != loader.table {
        return Err(format!(
            "the message loads `{}` but pipeline `{}` writes `{}`",
            loader.table, pipeline.name, pipeline.table
        ));
    }
    Ok((pipeline, loader))
}

/// Create or extend the table once per container.
async fn ensure<W: Warehouse, S, C>(
    deps: &LoadDeps<W, S, C>,
    pipeline: &Pipeline,
) -> Result<(), PortError> {
    let done = deps
        .ensured
        .lock()
        .map(|s| s.contains(&pipeline.table))
        .unwrap_or(false);
    if done {
        return Ok(());
    }
    deps.warehouse.ensure_table(pipeline).await?;
    if let Ok(mut s) = deps.ensured.lock() {
        s.insert(pipeline.table.clone());
    }
    Ok(())
}

async fn prune<W: Ledger, S, C: Clock>(deps: &LoadDeps<W, S, C>) {
    let now = deps.clock.now();
    let due = deps
        .last_prune
        .lock()
        .map(|last| last.is_none_or(|t| now - t >= TimeDelta::hours(1)))
        .unwrap_or(false);
    if !due {
        return;
    }
    match deps
        .warehouse
        .prune_ledger(now - deps.ledger_retention)
        .await
    {
        Ok(n) => {
            tracing::info!(pruned = n, "Pruned the load ledger");
            if let Ok(mut last) = deps.last_prune.lock() {
                *last = Some(now);
            }
        }
        Err(e) => tracing::warn!(error = %e, "Could not prune the load ledger"),
    }
}

async fn fail<W, S: ObjectStore, C: Clock>(
    deps: &LoadDeps<W, S, C>,
    message: &SqsMessage,
    failure: &MessageFailure,
    failed: &mut Vec<String>,
) {
    match failure {
        MessageFailure::Retry(reason) => {
            tracing::warn!(message_id = %message.message_id, %reason, "Message left for a retry");
        }
        MessageFailure::Poison(reason) => record_failure(deps, message, reason).await,
    }
    failed.push(message.message_id.clone());
}

async fn record_failure<W, S: ObjectStore, C: Clock>(
    deps: &LoadDeps<W, S, C>,
    message: &SqsMessage,
    reason: &str,
) {
    crate::failure::record(
        &deps.store,
        &deps.layout,
        "load",
        message,
        reason,
        deps.clock.now(),
    )
    .await;
}
