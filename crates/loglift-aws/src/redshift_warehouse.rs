//! The Redshift warehouse: the [`Warehouse`] port over the Data API. The SQL is the core's
//! (`loglift_core::sql`, Redshift dialect); this adapter writes the batch's COPY manifest to S3,
//! runs the load plan as ONE `BatchExecuteStatement` (one transaction) with a `ClientToken` from
//! the batch, its attempt and a nonce (never one an earlier delivery used), reads each
//! sub-statement's `ResultRows` back into the load report, and classifies failures
//! (serialization conflicts, throttling, the deadline: retry; SQL and COPY errors: poison with
//! the reason).

use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use loglift_core::spec::Pipeline;
use loglift_core::sql::ddl::{
    add_column_statements, create_table_statements, existing_columns_query, ledger_sources_sql,
    ledger_statements, ledger_tables_sql, lock_ledger_sql, prune_ledger_sql,
};
use loglift_core::sql::load::{
    plan_objects, redshift_load_plan, redshift_manifest, RedshiftSource,
};
use loglift_core::sql::{Dialect, SqlError};
use loglift_core::storage::{LoadBatch, LoadReport, Location};
use loglift_ports::{
    Ledger, LedgerSource, LedgerTable, ObjectStore, PortError, PortResult, Warehouse,
};
use sha2::{Digest, Sha256};

use crate::redshift::{client_token, DataApi, MAX_BATCH_STATEMENTS};

mod rows;

/// The Redshift warehouse.
#[derive(Debug)]
pub struct RedshiftWarehouse<S> {
    api: DataApi,
    store: S,
    /// Where COPY manifests are written (not under an area transform or Athena reads).
    manifests: Location,
    /// The IAM role Redshift assumes for COPY.
    iam_role: String,
    /// How long one load may take (the function's timeout less a margin).
    budget: Duration,
}

impl<S: ObjectStore> RedshiftWarehouse<S> {
    pub fn new(
        api: DataApi,
        store: S,
        manifests: Location,
        iam_role: impl Into<String>,
        budget: Duration,
    ) -> Self {
        RedshiftWarehouse {
            api,
            store,
            manifests,
            iam_role: iam_role.into(),
            budget,
        }
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.budget
    }
}

fn sql_error(e: SqlError) -> PortError {
    PortError::Rejected {
        op: "redshift-sql",
        target: String::new(),
        message: e.to_string(),
        source: None,
    }
}

/// The batch's identity: its table and its objects (key + version), whatever their order.
fn fingerprint(batch: &LoadBatch) -> String {
    let mut objects: Vec<String> = plan_objects(batch)
        .into_iter()
        .map(|o| format!("{}/{}#{}", o.bucket, o.key, o.version))
        .collect();
    objects.sort();
    let mut h = Sha256::new();
    h.update(batch.table.as_bytes());
    for o in objects {
        h.update([0u8]);
        h.update(o.as_bytes());
    }
    hex::encode(h.finalize())
}

/// A token for statements that are safe to run again (DDL, pruning): unique per call.
fn fresh_token(what: &str) -> String {
    client_token(
        &format!(
            "{what}-{}",
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ),
        0,
    )
}

impl<S: ObjectStore> Warehouse for RedshiftWarehouse<S> {
    async fn ensure_table(&self, pipeline: &Pipeline) -> PortResult<()> {
        let mut statements = ledger_statements(Dialect::Redshift);
        statements.extend(create_table_statements(Dialect::Redshift, pipeline).map_err(sql_error)?);
        // Two loaders starting at once both create: the one that loses the race is refused
        // with what the other just committed (`already exists`, a duplicate catalog key). The
        // statements are all IF NOT EXISTS, so running them again finds everything in place.
        let mut lost_races = 0;
        loop {
            match self
                .api
                .run_batch(&statements, &fresh_token("ddl"), self.deadline())
                .await
            {
                Ok(_) => break,
                Err(e) if lost_races < 2 && is_creation_race(&e.reason()) => lost_races += 1,
                Err(e) => return Err(e.into()),
            }
        }
        let query = existing_columns_query(Dialect::Redshift, pipeline).map_err(sql_error)?;
        let existing: Vec<String> = self
            .api
            .query(&query, &[], self.deadline())
            .await?
            .rows
            .iter()
            .filter_map(|row| row.first().and_then(|v| v.as_str()).map(str::to_owned))
            .collect();
        let add =
            add_column_statements(Dialect::Redshift, pipeline, &existing).map_err(sql_error)?;
        if !add.is_empty() {
            tracing::info!(table = %pipeline.table, columns = add.len(), "Adding columns");
        }
        // One ALTER TABLE per column (Redshift adds one at a time, inside a transaction block
        // too), at most 40 per batch: a spec adding more is sent in several batches. A batch
        // that fails leaves the earlier ones committed; the next call adds what is still missing.
        for chunk in add.chunks(MAX_BATCH_STATEMENTS) {
            self.api
                .run_batch(chunk, &fresh_token("add-columns"), self.deadline())
                .await?;
        }
        Ok(())
    }

    async fn load(&self, pipeline: &Pipeline, batch: &LoadBatch) -> PortResult<LoadReport> {
        let fingerprint = fingerprint(batch);
        let objects: Vec<_> = batch
            .messages
            .iter()
            .flat_map(|m| m.objects.clone())
            .collect();
        let manifest_key = self
            .manifests
            .key(&format!("{}/{fingerprint}.manifest", batch.table));
        self.store
            .put(
                &self.manifests.bucket,
                &manifest_key,
                Bytes::from(redshift_manifest(&objects)),
                "application/json",
            )
            .await?;
        let source = RedshiftSource {
            manifest_url: format!("s3://{}/{manifest_key}", self.manifests.bucket),
            iam_role: self.iam_role.clone(),
        };
        // A nonce per submission besides the batch and its receive count: a message moved back
        // from the DLQ starts its receive count again, and a ClientToken used within the last
        // 8 hours returns that earlier statement (FAILED) instead of running the load.
        let token = client_token(
            &format!("{fingerprint}:{:016x}", fastrand::u64(..)),
            batch.attempt,
        );
        let plan = redshift_load_plan(pipeline, batch, &source, Utc::now()).map_err(sql_error)?;
        let statements: Vec<String> = plan.statements.iter().map(|s| s.sql.clone()).collect();
        let outcome = self
            .api
            .run_batch(&statements, &token, self.deadline())
            .await?;
        let counts: Vec<u64> = outcome
            .result_rows
            .iter()
            .map(|n| u64::try_from(*n).unwrap_or(0))
            .collect();
        plan.report(&counts).map_err(sql_error)
    }
}

impl<S: ObjectStore> Ledger for RedshiftWarehouse<S> {
    async fn prune_ledger(&self, before: DateTime<Utc>) -> PortResult<u64> {
        // The ledger locked first, as every load locks it first: the prune queues behind loads
        // (and they behind it) instead of failing one of them on a serialization conflict.
        let statements = vec![
            lock_ledger_sql(Dialect::Redshift),
            prune_ledger_sql(Dialect::Redshift, before).map_err(sql_error)?,
        ];
        let outcome = match self
            .api
            .run_batch(&statements, &fresh_token("prune"), self.deadline())
            .await
        {
            Ok(outcome) => outcome,
            // No ledger yet (nothing was ever loaded): nothing to prune.
            Err(e) if e.reason().contains("does not exist") => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let deleted = outcome.result_rows.get(1).copied().unwrap_or(0);
        Ok(u64::try_from(deleted).unwrap_or(0))
    }

    async fn ledger_sources(
        &self,
        pipeline: &str,
        from: &str,
        to: &str,
    ) -> PortResult<Vec<LedgerSource>> {
        let query = ledger_sources_sql(Dialect::Redshift, pipeline, from, to).map_err(sql_error)?;
        Ok(self
            .ledger_query(&query)
            .await?
            .iter()
            .filter_map(|row| {
                Some(LedgerSource {
                    source_object: row.first()?.as_str()?.to_owned(),
                    objects: count(row.get(1)),
                    rows: count(row.get(2)),
                })
            })
            .collect())
    }

    async fn ledger_tables(&self, since: DateTime<Utc>) -> PortResult<Vec<LedgerTable>> {
        let query = ledger_tables_sql(Dialect::Redshift, since).map_err(sql_error)?;
        Ok(self
            .ledger_query(&query)
            .await?
            .iter()
            .filter_map(|row| {
                Some(LedgerTable {
                    table: row.first()?.as_str()?.to_owned(),
                    last_loaded_at: row
                        .get(1)
                        .and_then(|v| v.as_str())
                        .and_then(loglift_core::timefmt::parse_sql),
                    objects_since: count(row.get(2)),
                    rows_since: count(row.get(3)),
                })
            })
            .collect())
    }
}

impl<S: ObjectStore> RedshiftWarehouse<S> {
    /// Run a read-only ledger query; no rows when the ledger does not exist yet (Redshift
    /// answers `relation "…" does not exist`).
    async fn ledger_query(&self, query: &str) -> PortResult<Vec<Vec<crate::redshift::Value>>> {
        match self.api.query(query, &[], self.deadline()).await {
            Ok(result) => Ok(result.rows),
            Err(e) if e.reason().contains("does not exist") => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A creation refused because a concurrent one committed the same schema or table first.
fn is_creation_race(reason: &str) -> bool {
    reason.contains("already exists") || reason.contains("duplicate key value")
}

fn count(value: Option<&crate::redshift::Value>) -> u64 {
    value
        .and_then(crate::redshift::Value::as_i64)
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0)
}
