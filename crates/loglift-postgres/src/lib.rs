//! [`PgWarehouse`]: the dedupe-loader's PostgreSQL adapter (RDS, Aurora, and the real engine in
//! tests), running `loglift_core::sql`'s PostgreSQL load plan over tokio-postgres.
//!
//! Connections ([`PgConnectOptions`], module `connect`): libpq's URL with its `sslmode`
//! (`verify-full` by default for remote hosts) over rustls (module `tls`, the aws-lc-rs provider
//! the AWS SDK already builds), trusting the platform's roots or a CA bundle; user and password
//! can come from an RDS database secret ([`DbSecret`], fetched by the main).
//!
//! A load is one transaction on one connection: `LOCK TABLE … IN SHARE ROW EXCLUSIVE MODE`
//! (concurrent loaders of a table queue; readers do not), the ledger check (objects already
//! loaded are never read), then one `COPY loglift_stage FROM STDIN` (text format) fed from every
//! other object in turn: the object is opened through the [`ObjectStore`] port, its async body
//! bridged to a blocking thread that gunzips, splits and decodes the lines
//! (`loglift_core::sql::read_rows`) and writes COPY text in 256 KiB chunks to a bounded channel
//! the COPY sink drains. Then dedupe and apply on the unique `event_id` (`keep_first`: an ordered
//! `INSERT … ON CONFLICT DO NOTHING`; `replace`: `DISTINCT ON`, `UPDATE … FROM`, insert), ledger
//! rows, `COMMIT`. The transaction sets `work_mem` (64 MiB by default) for the staging sort.
//!
//! Errors: SQLSTATE 40001 (serialization), 40P01 (deadlock), 55P03 (lock timeout), 08xxx
//! (connection), 57P0x (shutdown), 53xxx (resources) and lost connections are
//! [`PortError::Transient`]; other database errors, rows the decoder refuses and curated objects
//! missing from the store are [`PortError::Rejected`], with the reason.

use std::io::BufReader;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::SinkExt;
use loglift_core::spec::Pipeline;
use loglift_core::sql::{
    self, postgres_load_plan, read_rows, write_copy_row, Dialect, LoadPlan, PlannedObject,
    ReadRowsError, Role, RowDecoder, SqlError,
};
use loglift_core::storage::{LoadBatch, LoadReport};
use loglift_ports::{
    Ledger, LedgerSource, LedgerTable, ObjectStore, PortError, PortResult, Warehouse,
};
use tokio::sync::{mpsc, Mutex};
use tokio_postgres::{Client, Transaction};
use tokio_util::io::SyncIoBridge;

mod connect;
mod smoke_rows;
mod tls;

pub use connect::{DbSecret, PgConfigError, PgConnectOptions};
pub use tls::{Roots, SslMode};

/// COPY data is sent in chunks of about this many bytes.
const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks decoded ahead of the COPY sink.
const CHUNKS_AHEAD: usize = 4;
/// Read buffer over an object body.
const READ_BUFFER: usize = 64 * 1024;
/// `work_mem` of a load's transaction unless configured.
pub const DEFAULT_WORK_MEM_MB: u32 = 64;
/// The advisory lock that serializes DDL between loaders (`ensure_table`).
const DDL_LOCK: i64 = 0x006c_6f67_6c69_6674; // "loglift"

/// A [`Warehouse`] in a PostgreSQL database, reading curated objects from `S`. One connection,
/// one load at a time per value (use several values for parallel loads); it reconnects after
/// the connection is lost.
pub struct PgWarehouse<S> {
    /// Boxed: tokio-postgres' settings are large, and warehouses sit in enums.
    options: Box<PgConnectOptions>,
    store: S,
    client: Mutex<Option<Client>>,
    lock_timeout: Option<Duration>,
    work_mem_mb: u32,
}

impl<S> std::fmt::Debug for PgWarehouse<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgWarehouse")
            .field("options", &self.options)
            .field("lock_timeout", &self.lock_timeout)
            .field("work_mem_mb", &self.work_mem_mb)
            .finish_non_exhaustive()
    }
}

impl<S: ObjectStore> PgWarehouse<S> {
    /// Connect to `url` (`postgres://user@host:port/db?sslmode=…`; see [`PgConnectOptions`] for
    /// the TLS defaults).
    pub async fn connect(url: &str, store: S) -> PortResult<Self> {
        let options = PgConnectOptions::from_url(url).map_err(|e| PortError::Rejected {
            op: "Connect",
            target: "postgres".to_owned(),
            message: e.to_string(),
            source: None,
        })?;
        Self::connect_with(options, store).await
    }

    /// Connect with `options` (URL, secret and CA file resolved).
    pub async fn connect_with(options: PgConnectOptions, store: S) -> PortResult<Self> {
        let client = options.connect().await?;
        tracing::info!(
            target = %options.target(),
            tls = %options.describe_tls(),
            "Connected to PostgreSQL"
        );
        Ok(PgWarehouse {
            options: Box::new(options),
            store,
            client: Mutex::new(Some(client)),
            lock_timeout: None,
            work_mem_mb: DEFAULT_WORK_MEM_MB,
        })
    }

    /// The `work_mem` of a load's transaction, in MiB (`SET LOCAL`; 0 keeps the server's). The
    /// staging sort and dedupe of a large batch spill to disk under PostgreSQL's 4 MB default.
    pub fn with_work_mem_mb(mut self, mb: u32) -> Self {
        self.work_mem_mb = mb;
        self
    }

    /// Give up waiting for the table lock after `timeout` (SQLSTATE 55P03: transient, the
    /// message is retried). By default a load waits as long as it takes.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The connection, reopened if it was lost.
    async fn client(&self) -> PortResult<tokio::sync::MutexGuard<'_, Option<Client>>> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.options.connect().await?);
        }
        Ok(guard)
    }
}

/// Transient or rejected, by SQLSTATE; errors without one (I/O, a closed connection) are
/// transient.
fn pg_error(op: &'static str, target: &str, e: tokio_postgres::Error) -> PortError {
    let target = target.to_owned();
    let Some(db) = e.as_db_error() else {
        return PortError::Transient {
            op,
            target,
            message: connect::error_chain(&e),
            source: None,
        }
        .with_source(e);
    };
    let code = db.code().code();
    let mut message = format!("{} (SQLSTATE {code})", db.message());
    if let Some(detail) = db.detail() {
        message.push_str(": ");
        message.push_str(detail);
    }
    if let Some(context) = db.where_() {
        message.push_str(" [");
        message.push_str(context);
        message.push(']');
    }
    let transient = matches!(code, "40001" | "40P01" | "55P03")
        || ["08", "57P", "53"].iter().any(|p| code.starts_with(p));
    PortError::classified(transient, op, target, message).with_source(e)
}

fn plan_error(op: &'static str, target: &str, e: SqlError) -> PortError {
    PortError::classified(false, op, target, e.to_string())
}

/// Why one object's rows could not be produced.
fn read_error(url: &str, e: ReadRowsError<&'static str>) -> PortError {
    let op = "LoadCuratedObject";
    let target = url.to_owned();
    match e {
        ReadRowsError::Read(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            PortError::Rejected {
                op,
                target,
                message: format!("corrupt: {io}"),
                source: None,
            }
        }
        ReadRowsError::Read(io) => PortError::Transient {
            op,
            target,
            message: io.to_string(),
            source: None,
        },
        ReadRowsError::Line { line, error } => PortError::Rejected {
            op,
            target,
            message: format!("line {line}: {error}"),
            source: None,
        },
        ReadRowsError::Sink(why) => PortError::Transient {
            op,
            target,
            message: why.to_owned(),
            source: None,
        },
    }
}

impl<S: ObjectStore> PgWarehouse<S> {
    /// Stream the rows of every object not skipped into the plan's `COPY`; returns the rows
    /// COPY reports.
    async fn copy_objects(
        &self,
        tx: &Transaction<'_>,
        sql: &str,
        plan: &LoadPlan,
        skipped: &[bool],
    ) -> PortResult<u64> {
        let table = plan.table.as_str();
        let sink = tx
            .copy_in::<_, Bytes>(sql)
            .await
            .map_err(|e| pg_error("CopyIn", table, e))?;
        futures_util::pin_mut!(sink);
        let decoder = Arc::new(RowDecoder::from_columns(plan.columns.clone()));
        let mut ord: i64 = 0;
        for (o, _) in plan.objects.iter().zip(skipped).filter(|(_, s)| !**s) {
            ord = self.copy_object(o, &decoder, ord, &mut sink, table).await?;
        }
        sink.finish()
            .await
            .map_err(|e| pg_error("CopyIn", table, e))
    }

    /// One object into the COPY stream; returns the next row position.
    async fn copy_object(
        &self,
        o: &PlannedObject,
        decoder: &Arc<RowDecoder>,
        first_ord: i64,
        sink: &mut std::pin::Pin<&mut tokio_postgres::CopyInSink<Bytes>>,
        table: &str,
    ) -> PortResult<i64> {
        let url = format!("s3://{}/{}", o.bucket, o.key);
        let object = self
            .store
            .get(&o.bucket, &o.key)
            .await
            .map_err(|e| match e {
                PortError::NotFound { .. } => PortError::Rejected {
                    op: "LoadCuratedObject",
                    target: url.clone(),
                    message: "the curated object is missing from the store".into(),
                    source: None,
                },
                other => other,
            })?;
        let body = SyncIoBridge::new(object.body);
        let (chunks, mut received) = mpsc::channel::<Bytes>(CHUNKS_AHEAD);
        let decoder = decoder.clone();
        let producer = tokio::task::spawn_blocking(move || {
            let mut ord = first_ord;
            let mut buf = Vec::with_capacity(CHUNK_BYTES + 64 * 1024);
            let reader = BufReader::with_capacity(READ_BUFFER, body);
            read_rows(reader, &decoder, |_, cells| {
                write_copy_row(&cells, Some(ord), &mut buf);
                ord += 1;
                if buf.len() >= CHUNK_BYTES {
                    let chunk = Bytes::from(std::mem::replace(
                        &mut buf,
                        Vec::with_capacity(CHUNK_BYTES + 64 * 1024),
                    ));
                    chunks
                        .blocking_send(chunk)
                        .map_err(|_| "the COPY stream stopped")?;
                }
                Ok(())
            })?;
            if !buf.is_empty() {
                chunks
                    .blocking_send(Bytes::from(buf))
                    .map_err(|_| ReadRowsError::Sink("the COPY stream stopped"))?;
            }
            Ok::<i64, ReadRowsError<&'static str>>(ord)
        });
        let mut sent = Ok(());
        while let Some(chunk) = received.recv().await {
            if let Err(e) = sink.send(chunk).await {
                sent = Err(pg_error("CopyIn", table, e));
                break;
            }
        }
        drop(received);
        let produced = producer.await.map_err(|e| PortError::Transient {
            op: "LoadCuratedObject",
            target: url.clone(),
            message: format!("the decoding worker failed: {e}"),
            source: None,
        })?;
        sent?;
        produced.map_err(|e| read_error(&url, e))
    }

    async fn run_load(&self, tx: &Transaction<'_>, plan: &LoadPlan) -> PortResult<Vec<u64>> {
        let table = plan.table.as_str();
        let err = |e: tokio_postgres::Error| pg_error("LoadPostgres", table, e);
        let mut settings = String::new();
        if let Some(timeout) = self.lock_timeout {
            settings.push_str(&format!(
                "SET LOCAL lock_timeout = {};",
                timeout.as_millis()
            ));
        }
        if self.work_mem_mb > 0 {
            settings.push_str(&format!("SET LOCAL work_mem = '{}MB';", self.work_mem_mb));
        }
        if !settings.is_empty() {
            tx.batch_execute(&settings).await.map_err(err)?;
        }
        let mut counts = vec![0; plan.statements.len()];
        let mut skipped = vec![false; plan.objects.len()];
        for (statement, count) in plan.statements.iter().zip(counts.iter_mut()) {
            *count = match statement.role {
                Role::SkipLoadedObjects => {
                    let keys: Vec<&str> = plan.objects.iter().map(|o| o.key.as_str()).collect();
                    let versions: Vec<&str> =
                        plan.objects.iter().map(|o| o.version.as_str()).collect();
                    let held = tx
                        .query(&statement.sql, &[&keys, &versions])
                        .await
                        .map_err(err)?;
                    for row in &held {
                        let (key, version): (&str, &str) = (row.get(0), row.get(1));
                        for (o, skip) in plan.objects.iter().zip(skipped.iter_mut()) {
                            if o.key == key && o.version == version {
                                *skip = true;
                            }
                        }
                    }
                    skipped.iter().filter(|s| **s).count() as u64
                }
                Role::Stage => {
                    self.copy_objects(tx, &statement.sql, plan, &skipped)
                        .await?
                }
                Role::Ledger => {
                    let loaded: Vec<&PlannedObject> = plan
                        .objects
                        .iter()
                        .zip(&skipped)
                        .filter(|(_, s)| !**s)
                        .map(|(o, _)| o)
                        .collect();
                    let keys: Vec<&str> = loaded.iter().map(|o| o.key.as_str()).collect();
                    let versions: Vec<&str> = loaded.iter().map(|o| o.version.as_str()).collect();
                    let sources: Vec<&str> =
                        loaded.iter().map(|o| o.source_object.as_str()).collect();
                    let rows: Vec<i64> = loaded
                        .iter()
                        .map(|o| i64::try_from(o.rows).unwrap_or(i64::MAX))
                        .collect();
                    tx.execute(&statement.sql, &[&keys, &versions, &sources, &rows])
                        .await
                        .map_err(err)?
                }
                _ => tx.execute(&statement.sql, &[]).await.map_err(err)?,
            };
        }
        Ok(counts)
    }
}

impl<S: ObjectStore> Warehouse for PgWarehouse<S> {
    async fn ensure_table(&self, pipeline: &Pipeline) -> PortResult<()> {
        let table = pipeline.table.as_str();
        let err = |e: tokio_postgres::Error| pg_error("EnsureTable", table, e);
        let plan_err = |e| plan_error("EnsureTable", table, e);
        let mut guard = self.client().await?;
        let client = guard.as_mut().ok_or_else(|| PortError::Transient {
            op: "EnsureTable",
            target: table.to_owned(),
            message: "no connection".into(),
            source: None,
        })?;
        let tx = client.transaction().await.map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DDL_LOCK])
            .await
            .map_err(err)?;
        for s in sql::ledger_statements(Dialect::Postgres) {
            tx.batch_execute(&s).await.map_err(err)?;
        }
        for s in sql::create_table_statements(Dialect::Postgres, pipeline).map_err(plan_err)? {
            tx.batch_execute(&s).await.map_err(err)?;
        }
        let query = sql::existing_columns_query(Dialect::Postgres, pipeline).map_err(plan_err)?;
        let existing: Vec<String> = tx
            .query(&query, &[])
            .await
            .map_err(err)?
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect();
        for s in
            sql::add_column_statements(Dialect::Postgres, pipeline, &existing).map_err(plan_err)?
        {
            tx.batch_execute(&s).await.map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    async fn load(&self, pipeline: &Pipeline, batch: &LoadBatch) -> PortResult<LoadReport> {
        if batch.messages.iter().all(|m| m.objects.is_empty()) {
            return Ok(LoadReport::default());
        }
        let table = pipeline.table.as_str();
        let plan = postgres_load_plan(pipeline, batch, Utc::now())
            .map_err(|e| plan_error("PlanLoad", table, e))?;
        let err = |e: tokio_postgres::Error| pg_error("LoadPostgres", table, e);
        let mut guard = self.client().await?;
        let client = guard.as_mut().ok_or_else(|| PortError::Transient {
            op: "LoadPostgres",
            target: table.to_owned(),
            message: "no connection".into(),
            source: None,
        })?;
        let tx = client.transaction().await.map_err(err)?;
        let counts = self.run_load(&tx, &plan).await?;
        tx.commit().await.map_err(err)?;
        plan.report(&counts)
            .map_err(|e| plan_error("LoadPostgres", table, e))
    }
}

impl<S: ObjectStore> Ledger for PgWarehouse<S> {
    async fn prune_ledger(&self, before: DateTime<Utc>) -> PortResult<u64> {
        let target = sql::LEDGER_TABLE;
        let err = |e: tokio_postgres::Error| pg_error("PruneLedger", target, e);
        let delete = sql::prune_ledger_sql(Dialect::Postgres, before)
            .map_err(|e| plan_error("PruneLedger", target, e))?;
        let guard = self.client().await?;
        let client = guard.as_ref().ok_or_else(|| PortError::Transient {
            op: "PruneLedger",
            target: target.to_owned(),
            message: "no connection".into(),
            source: None,
        })?;
        if !ledger_exists(client).await.map_err(err)? {
            return Ok(0);
        }
        client.execute(&delete, &[]).await.map_err(err)
    }

    async fn ledger_sources(
        &self,
        pipeline: &str,
        from: &str,
        to: &str,
    ) -> PortResult<Vec<LedgerSource>> {
        let target = sql::LEDGER_TABLE;
        let query = sql::ledger_sources_sql(Dialect::Postgres, pipeline, from, to)
            .map_err(|e| plan_error("LedgerSources", target, e))?;
        let rows = self.ledger_query("LedgerSources", &query).await?;
        Ok(rows
            .iter()
            .map(|row| LedgerSource {
                source_object: row.get(0),
                objects: count(row.get(1)),
                rows: count(row.get::<_, Option<i64>>(2).unwrap_or(0)),
            })
            .collect())
    }

    async fn ledger_tables(&self, since: DateTime<Utc>) -> PortResult<Vec<LedgerTable>> {
        let target = sql::LEDGER_TABLE;
        let query = sql::ledger_tables_sql(Dialect::Postgres, since)
            .map_err(|e| plan_error("LedgerTables", target, e))?;
        let rows = self.ledger_query("LedgerTables", &query).await?;
        Ok(rows
            .iter()
            .map(|row| LedgerTable {
                table: row.get(0),
                last_loaded_at: row
                    .get::<_, Option<String>>(1)
                    .as_deref()
                    .and_then(loglift_core::timefmt::parse_sql),
                objects_since: count(row.get::<_, Option<i64>>(2).unwrap_or(0)),
                rows_since: count(row.get::<_, Option<i64>>(3).unwrap_or(0)),
            })
            .collect())
    }
}

async fn ledger_exists(client: &Client) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_one(
            "SELECT to_regclass('loglift.loglift_load_ledger') IS NOT NULL",
            &[],
        )
        .await?
        .get(0))
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl<S: ObjectStore> PgWarehouse<S> {
    /// Run a read-only ledger query; no rows when the ledger does not exist yet.
    async fn ledger_query(
        &self,
        op: &'static str,
        query: &str,
    ) -> PortResult<Vec<tokio_postgres::Row>> {
        let target = sql::LEDGER_TABLE;
        let err = |e: tokio_postgres::Error| pg_error(op, target, e);
        let guard = self.client().await?;
        let client = guard.as_ref().ok_or_else(|| PortError::Transient {
            op,
            target: target.to_owned(),
            message: "no connection".into(),
            source: None,
        })?;
        if !ledger_exists(client).await.map_err(err)? {
            return Ok(Vec::new());
        }
        client.query(query, &[]).await.map_err(err)
    }
}
