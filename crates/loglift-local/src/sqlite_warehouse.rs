//! [`SqliteWarehouse`]: local mode's embedded warehouse (`.loglift/warehouse.db` by default), a
//! [`Warehouse`] that runs `loglift_core::sql`'s SQLite load plan.
//!
//! A load: `BEGIN IMMEDIATE` (the write lock: concurrent loaders of the file queue on it), the
//! ledger check of every object, then each object not yet loaded is opened through the
//! [`ObjectStore`] port and streamed — the async body bridged to a blocking reader
//! (`SyncIoBridge`), gunzipped and split into capped lines by `loglift_core`, each row bound to
//! a prepared insert into the staging table — then dedupe, apply, ledger, `COMMIT`. rusqlite is
//! synchronous: the connection sits behind a tokio mutex and every piece of SQLite work runs in
//! `spawn_blocking` with the owned guard, so the lock is held across the object reads. A load
//! dropped mid-way is rolled back as soon as the connection is free (and every operation rolls
//! back a transaction it finds open before it starts).
//!
//! Tables are named `schema__table` (SQLite has no schemas): `tracking.events` is
//! `tracking__events`.

use crate::sqlite_queue::sql_error;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use loglift_core::spec::Pipeline;
use loglift_core::sql::{
    self, read_rows, sqlite_load_plan, Cell, Dialect, LoadPlan, ReadRowsError, Role, RowDecoder,
    SqlError,
};
use loglift_core::storage::{LoadBatch, LoadReport};
use loglift_ports::{
    ByteReader, Ledger, LedgerSource, LedgerTable, ObjectStore, PortError, PortResult, Warehouse,
};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio_util::io::SyncIoBridge;

/// How long a writer waits for another's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Read buffer over an object body.
const READ_BUFFER: usize = 64 * 1024;

type Guard = OwnedMutexGuard<Connection>;

/// A [`Warehouse`] in one SQLite database, reading curated objects from `S`.
pub struct SqliteWarehouse<S> {
    conn: Arc<Mutex<Connection>>,
    store: S,
    name: String,
}

impl<S> std::fmt::Debug for SqliteWarehouse<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWarehouse")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<S: ObjectStore> SqliteWarehouse<S> {
    /// Open (creating it and its directory if needed) the database file at `path`.
    pub fn open(path: impl AsRef<Path>, store: S) -> PortResult<Self> {
        let path = path.as_ref();
        let name = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| PortError::Rejected {
                op: "OpenWarehouse",
                target: name.clone(),
                message: e.to_string(),
                source: None,
            })?;
        }
        let conn = Connection::open(path).map_err(|e| sql_error("OpenWarehouse", &name, e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| sql_error("OpenWarehouse", &name, e))?;
        Self::init(conn, name, store)
    }

    /// A database in memory, gone with this value (tests).
    pub fn in_memory(store: S) -> PortResult<Self> {
        let conn =
            Connection::open_in_memory().map_err(|e| sql_error("OpenWarehouse", ":memory:", e))?;
        Self::init(conn, ":memory:".into(), store)
    }

    fn init(conn: Connection, name: String, store: S) -> PortResult<Self> {
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql_error("OpenWarehouse", &name, e))?;
        Ok(SqliteWarehouse {
            conn: Arc::new(Mutex::new(conn)),
            store,
            name,
        })
    }

    /// Run one SQL statement (`loglift local query`): the column names and every row, values as
    /// text (`NULL` for null, blobs as `x'hex'`).
    pub async fn query(&self, sql: &str) -> PortResult<(Vec<String>, Vec<Vec<String>>)> {
        let sql = sql.to_owned();
        let name = self.name.clone();
        let guard = self.conn.clone().lock_owned().await;
        let (_, result) = blocking(guard, move |conn| {
            reset(conn);
            query_all(conn, &sql).map_err(|e| sql_error("Query", &name, e))
        })
        .await?;
        result
    }
}

/// Run `work` on the connection in a blocking thread; the guard comes back with the result.
async fn blocking<T, F>(guard: Guard, work: F) -> PortResult<(Guard, T)>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> T + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let mut guard = guard;
        let out = work(&mut guard);
        (guard, out)
    })
    .await
    .map_err(|e| PortError::Transient {
        op: "Warehouse",
        target: "sqlite".into(),
        message: format!("the SQLite worker failed: {e}"),
        source: None,
    })
}

/// Roll back a transaction a dropped load left open.
fn reset(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// Roll back when `result` is an error.
fn or_rollback<T>(conn: &Connection, result: PortResult<T>) -> PortResult<T> {
    if result.is_err() {
        reset(conn);
    }
    result
}

fn query_all(conn: &Connection, sql: &str) -> rusqlite::Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut statement = conn.prepare(sql)?;
    let names: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut rows = statement.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => "NULL".to_owned(),
                ValueRef::Integer(n) => n.to_string(),
                ValueRef::Real(f) => f.to_string(),
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                ValueRef::Blob(b) => format!("x'{}'", hex::encode(b)),
            });
        }
        out.push(values);
    }
    Ok((names, out))
}

fn plan_error(op: &'static str, target: &str, e: SqlError) -> PortError {
    PortError::classified(false, op, target, e.to_string())
}

fn cell_value<'a>(cell: &'a Cell<'_>) -> ValueRef<'a> {
    match cell {
        Cell::Null => ValueRef::Null,
        Cell::Str(s) => ValueRef::Text(s.as_bytes()),
        Cell::Json(s) => ValueRef::Text(s.as_bytes()),
        Cell::Int(i) => ValueRef::Integer(*i),
        Cell::Float(f) => ValueRef::Real(*f),
        Cell::Bool(b) => ValueRef::Integer(i64::from(*b)),
    }
}

/// Statements before staging: the lock, the ledger check (which objects are loaded), the
/// staging table. Returns the counts so far and the skip flag of each planned object.
fn begin(
    conn: &Connection,
    plan: &LoadPlan,
    stage_at: usize,
    table: &str,
) -> PortResult<(Vec<u64>, Vec<bool>)> {
    let err = |e| sql_error("LoadSqlite", table, e);
    reset(conn);
    let mut counts = vec![0; plan.statements.len()];
    let mut skipped = vec![false; plan.objects.len()];
    for (statement, count) in plan.statements.iter().zip(counts.iter_mut()).take(stage_at) {
        *count = match statement.role {
            Role::Lock => {
                conn.execute_batch(&statement.sql).map_err(err)?;
                0
            }
            Role::SkipLoadedObjects => {
                let mut query = conn.prepare(&statement.sql).map_err(err)?;
                for (o, skip) in plan.objects.iter().zip(skipped.iter_mut()) {
                    *skip = query
                        .query_row([&o.key, &o.version], |_| Ok(()))
                        .optional()
                        .map_err(err)?
                        .is_some();
                }
                skipped.iter().filter(|s| **s).count() as u64
            }
            _ => conn.execute(&statement.sql, []).map_err(err)? as u64,
        };
    }
    Ok((counts, skipped))
}

/// Stream one object's rows into the staging table; returns how many.
fn stage_object(
    conn: &Connection,
    sql: &str,
    decoder: &RowDecoder,
    body: SyncIoBridge<ByteReader>,
    first_ord: i64,
    url: &str,
) -> PortResult<u64> {
    let mut insert = conn
        .prepare_cached(sql)
        .map_err(|e| sql_error("LoadSqlite", url, e))?;
    let mut ord = first_ord;
    let reader = BufReader::with_capacity(READ_BUFFER, body);
    read_rows(reader, decoder, |_, cells| {
        let values = cells
            .iter()
            .map(cell_value)
            .chain(std::iter::once(ValueRef::Integer(ord)))
            .map(ToSqlOutput::Borrowed);
        insert.execute(rusqlite::params_from_iter(values))?;
        ord += 1;
        Ok::<(), rusqlite::Error>(())
    })
    .map_err(|e| match e {
        ReadRowsError::Read(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            PortError::Rejected {
                op: "LoadCuratedObject",
                target: url.to_owned(),
                message: format!("corrupt: {io}"),
                source: None,
            }
        }
        ReadRowsError::Read(io) => PortError::Transient {
            op: "LoadCuratedObject",
            target: url.to_owned(),
            message: io.to_string(),
            source: None,
        },
        ReadRowsError::Line { line, error } => PortError::Rejected {
            op: "LoadCuratedObject",
            target: url.to_owned(),
            message: format!("line {line}: {error}"),
            source: None,
        },
        ReadRowsError::Sink(e) => sql_error("LoadCuratedObject", url, e),
    })
}

/// Statements after staging (dedupe, apply, ledger, cleanup), then `COMMIT`.
fn finish(
    conn: &Connection,
    plan: &LoadPlan,
    stage_at: usize,
    skipped: &[bool],
    mut counts: Vec<u64>,
    table: &str,
) -> PortResult<Vec<u64>> {
    let err = |e| sql_error("LoadSqlite", table, e);
    for (statement, count) in plan
        .statements
        .iter()
        .zip(counts.iter_mut())
        .skip(stage_at + 1)
    {
        *count = match statement.role {
            Role::Ledger => {
                let mut insert = conn.prepare(&statement.sql).map_err(err)?;
                let mut n = 0;
                for (o, _) in plan.objects.iter().zip(skipped).filter(|(_, s)| !**s) {
                    let rows = i64::try_from(o.rows).unwrap_or(i64::MAX);
                    n += insert
                        .execute(rusqlite::params![o.key, o.version, o.source_object, rows])
                        .map_err(err)? as u64;
                }
                n
            }
            _ => conn.execute(&statement.sql, []).map_err(err)? as u64,
        };
    }
    conn.execute_batch("COMMIT").map_err(err)?;
    Ok(counts)
}

impl<S: ObjectStore> SqliteWarehouse<S> {
    async fn rollback(guard: Guard) {
        let _ = blocking(guard, |conn| reset(conn)).await;
    }
}

/// Rolls back, once the connection is free, a load whose future was dropped before it ended:
/// the file's write lock is released at once rather than at the next operation.
struct RollbackIfDropped {
    conn: Option<Arc<Mutex<Connection>>>,
}

impl RollbackIfDropped {
    fn disarm(mut self) {
        self.conn = None;
    }
}

impl Drop for RollbackIfDropped {
    fn drop(&mut self) {
        if let (Some(conn), Ok(runtime)) = (self.conn.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn_blocking(move || reset(&conn.blocking_lock()));
        }
    }
}

impl<S: ObjectStore> Warehouse for SqliteWarehouse<S> {
    async fn ensure_table(&self, pipeline: &Pipeline) -> PortResult<()> {
        let pipeline = pipeline.clone();
        let guard = self.conn.clone().lock_owned().await;
        let (_, result) = blocking(guard, move |conn| {
            reset(conn);
            let table = pipeline.table.clone();
            let err = |e| sql_error("EnsureTable", &table, e);
            let plan_err = |e| plan_error("EnsureTable", &table, e);
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err)?;
            for s in sql::ledger_statements(Dialect::Sqlite) {
                tx.execute_batch(&s).map_err(err)?;
            }
            for s in sql::create_table_statements(Dialect::Sqlite, &pipeline).map_err(plan_err)? {
                tx.execute_batch(&s).map_err(err)?;
            }
            let query =
                sql::existing_columns_query(Dialect::Sqlite, &pipeline).map_err(plan_err)?;
            let existing: Vec<String> = {
                let mut q = tx.prepare(&query).map_err(err)?;
                let names = q
                    .query_map([], |row| row.get::<_, String>(0))
                    .map_err(err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(err)?;
                names
            };
            for s in sql::add_column_statements(Dialect::Sqlite, &pipeline, &existing)
                .map_err(plan_err)?
            {
                tx.execute_batch(&s).map_err(err)?;
            }
            tx.commit().map_err(err)
        })
        .await?;
        result
    }

    async fn load(&self, pipeline: &Pipeline, batch: &LoadBatch) -> PortResult<LoadReport> {
        if batch.messages.iter().all(|m| m.objects.is_empty()) {
            return Ok(LoadReport::default());
        }
        let table = pipeline.table.clone();
        let plan = sqlite_load_plan(pipeline, batch, Utc::now())
            .map_err(|e| plan_error("PlanLoad", &table, e))?;
        let stage_at = plan
            .statements
            .iter()
            .position(|s| s.role == Role::Stage)
            .ok_or_else(|| PortError::Rejected {
                op: "PlanLoad",
                target: table.clone(),
                message: "the plan has no staging statement".into(),
                source: None,
            })?;
        let stage_sql = plan
            .statements
            .get(stage_at)
            .map(|s| s.sql.clone())
            .unwrap_or_default();
        let plan = Arc::new(plan);
        let decoder = Arc::new(RowDecoder::from_columns(plan.columns.clone()));

        let dropped = RollbackIfDropped {
            conn: Some(self.conn.clone()),
        };
        let guard = self.conn.clone().lock_owned().await;
        let (p, t) = (plan.clone(), table.clone());
        let (mut guard, started) = blocking(guard, move |conn| {
            let r = begin(conn, &p, stage_at, &t);
            or_rollback(conn, r)
        })
        .await?;
        let (mut counts, skipped) = started?;

        let mut ord: i64 = 0;
        let mut staged: u64 = 0;
        for (o, _) in plan.objects.iter().zip(&skipped).filter(|(_, s)| !**s) {
            let url = format!("s3://{}/{}", o.bucket, o.key);
            let object = match self.store.get(&o.bucket, &o.key).await {
                Ok(object) => object,
                Err(e) => {
                    Self::rollback(guard).await;
                    return Err(match e {
                        PortError::NotFound { .. } => PortError::Rejected {
                            op: "LoadCuratedObject",
                            target: url,
                            message: "the curated object is missing from the store".into(),
                            source: None,
                        },
                        other => other,
                    });
                }
            };
            let body = SyncIoBridge::new(object.body);
            let (sql, decoder) = (stage_sql.clone(), decoder.clone());
            let (g, rows) = blocking(guard, move |conn| {
                let r = stage_object(conn, &sql, &decoder, body, ord, &url);
                or_rollback(conn, r)
            })
            .await?;
            guard = g;
            let rows = rows?;
            staged += rows;
            ord = ord.saturating_add(i64::try_from(rows).unwrap_or(i64::MAX));
        }
        if let Some(count) = counts.get_mut(stage_at) {
            *count = staged;
        }

        let (p, t) = (plan.clone(), table.clone());
        let (_guard, finished) = blocking(guard, move |conn| {
            let r = finish(conn, &p, stage_at, &skipped, counts, &t);
            or_rollback(conn, r)
        })
        .await?;
        dropped.disarm();
        let counts = finished?;
        plan.report(&counts)
            .map_err(|e| plan_error("LoadSqlite", &table, e))
    }
}

impl<S: ObjectStore> Ledger for SqliteWarehouse<S> {
    async fn prune_ledger(&self, before: DateTime<Utc>) -> PortResult<u64> {
        let sql = sql::prune_ledger_sql(Dialect::Sqlite, before)
            .map_err(|e| plan_error("PruneLedger", sql::LEDGER_TABLE, e))?;
        let guard = self.conn.clone().lock_owned().await;
        let (_, result) = blocking(guard, move |conn| {
            reset(conn);
            if !ledger_exists(conn).map_err(|e| sql_error("PruneLedger", sql::LEDGER_TABLE, e))? {
                return Ok(0);
            }
            conn.execute(&sql, [])
                .map(|n| n as u64)
                .map_err(|e| sql_error("PruneLedger", sql::LEDGER_TABLE, e))
        })
        .await?;
        result
    }

    async fn ledger_sources(
        &self,
        pipeline: &str,
        from: &str,
        to: &str,
    ) -> PortResult<Vec<LedgerSource>> {
        const OP: &str = "LedgerSources";
        let query = sql::ledger_sources_sql(Dialect::Sqlite, pipeline, from, to)
            .map_err(|e| plan_error(OP, sql::LEDGER_TABLE, e))?;
        self.ledger_query(OP, query, |row| {
            Ok(LedgerSource {
                source_object: row.get(0)?,
                objects: count(row.get(1)?),
                rows: count(row.get::<_, Option<i64>>(2)?.unwrap_or(0)),
            })
        })
        .await
    }

    async fn ledger_tables(&self, since: DateTime<Utc>) -> PortResult<Vec<LedgerTable>> {
        const OP: &str = "LedgerTables";
        let query = sql::ledger_tables_sql(Dialect::Sqlite, since)
            .map_err(|e| plan_error(OP, sql::LEDGER_TABLE, e))?;
        self.ledger_query(OP, query, |row| {
            Ok(LedgerTable {
                table: row.get(0)?,
                last_loaded_at: row
                    .get::<_, Option<String>>(1)?
                    .as_deref()
                    .and_then(loglift_core::timefmt::parse_sql),
                objects_since: count(row.get::<_, Option<i64>>(2)?.unwrap_or(0)),
                rows_since: count(row.get::<_, Option<i64>>(3)?.unwrap_or(0)),
            })
        })
        .await
    }
}

impl<S: ObjectStore> SqliteWarehouse<S> {
    /// Run a read-only ledger query; no rows when the ledger does not exist yet.
    async fn ledger_query<T, F>(
        &self,
        op: &'static str,
        query: String,
        map: F,
    ) -> PortResult<Vec<T>>
    where
        T: Send + 'static,
        F: Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        let guard = self.conn.clone().lock_owned().await;
        let (_, result) = blocking(guard, move |conn| {
            reset(conn);
            if !ledger_exists(conn)? {
                return Ok(Vec::new());
            }
            let mut statement = conn.prepare(&query)?;
            let rows = statement.query_map([], |row| map(row))?;
            rows.collect::<rusqlite::Result<Vec<T>>>()
        })
        .await?;
        result.map_err(|e| sql_error(op, sql::LEDGER_TABLE, e))
    }
}

fn ledger_exists(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'loglift_load_ledger')",
        [],
        |row| row.get(0),
    )
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use bytes::Bytes;
    use loglift_core::ndjson::GzLines;
    use loglift_core::spec::Spec;
    use loglift_core::storage::{CuratedObject, LoaderMessage, ObjectVersion};
    use serde_json::json;

    fn pipeline(name: &str) -> Pipeline {
        Spec::parse(include_str!("../../../spec/pipelines.yaml"))
            .unwrap()
            .pipeline(name)
            .unwrap()
            .clone()
    }

    fn row(id: &str, topic: &str, ingested: &str) -> serde_json::Value {
        json!({"request_id": id, "request_timestamp": "2020-06-01 00:00:24.000000",
               "cookie_id": "c", "topic": topic, "extra": null, "event_id": id,
               "event_time": "2020-06-01 00:00:24.000000", "source_object": "s3://lake/raw/a#v1",
               "spec_version": 1, "ingested_at": ingested})
    }

    async fn put(store: &MemoryStore, key: &str, rows: &[serde_json::Value]) -> CuratedObject {
        let mut lines = GzLines::default();
        for r in rows {
            lines.push(r).unwrap();
        }
        let body = lines.finish().unwrap();
        let meta = store
            .put("lake", key, Bytes::from(body), "application/x-ndjson")
            .await
            .unwrap();
        CuratedObject {
            bucket: "lake".into(),
            key: key.into(),
            version: meta.etag,
            bytes: meta.size,
            rows: rows.len() as u64,
            min_event_time: Some("2020-06-01 00:00:24.000000".into()),
            max_event_time: Some("2020-06-01 00:00:24.000000".into()),
        }
    }

    fn batch(p: &Pipeline, objects: Vec<CuratedObject>) -> LoadBatch {
        LoadBatch {
            attempt: 0,
            table: p.table.clone(),
            messages: vec![LoaderMessage {
                v: 1,
                pipeline: p.name.clone(),
                table: p.table.clone(),
                spec_version: 1,
                source: ObjectVersion {
                    bucket: "lake".into(),
                    key: "raw/a".into(),
                    version: "v1".into(),
                },
                objects,
                rejected: 0,
            }],
        }
    }

    #[tokio::test]
    async fn a_load_dedupes_and_a_retry_is_a_no_op() {
        let store = MemoryStore::new();
        let p = pipeline("user_events");
        let w = SqliteWarehouse::in_memory(store.clone()).unwrap();
        w.ensure_table(&p).await.unwrap();
        let t = "2026-11-21 10:00:00.000000";
        let a = put(
            &store,
            "curated/a",
            &[row("1", "x", t), row("2", "x", t), row("1", "y", t)],
        )
        .await;
        let b = put(&store, "curated/b", &[row("2", "z", t), row("3", "z", t)]).await;
        let batch = batch(&p, vec![a, b]);
        let report = w.load(&p, &batch).await.unwrap();
        assert_eq!(
            report,
            LoadReport {
                inserted: 3,
                replaced: 0,
                duplicates_skipped: 2,
                objects_skipped: 0
            }
        );
        let again = w.load(&p, &batch).await.unwrap();
        assert_eq!(
            again,
            LoadReport {
                objects_skipped: 2,
                ..LoadReport::default()
            }
        );
        let (names, rows) = w
            .query("SELECT event_id, topic FROM tracking__events ORDER BY event_id")
            .await
            .unwrap();
        assert_eq!(names, ["event_id", "topic"]);
        assert_eq!(rows, [["1", "x"], ["2", "x"], ["3", "z"]]);
    }

    #[tokio::test]
    async fn a_missing_object_rejects_the_batch_and_leaves_nothing() {
        let store = MemoryStore::new();
        let p = pipeline("user_events");
        let w = SqliteWarehouse::in_memory(store.clone()).unwrap();
        w.ensure_table(&p).await.unwrap();
        let t = "2026-11-21 10:00:00.000000";
        let a = put(&store, "curated/a", &[row("1", "x", t)]).await;
        let mut gone = a.clone();
        gone.key = "curated/gone".into();
        let err = w.load(&p, &batch(&p, vec![a, gone])).await.unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("s3://lake/curated/gone"), "{err}");
        let (_, rows) = w
            .query("SELECT count(*) FROM tracking__events UNION ALL SELECT count(*) FROM loglift_load_ledger")
            .await
            .unwrap();
        assert_eq!(rows, [["0"], ["0"]]);
    }

    #[tokio::test]
    async fn a_bad_row_is_rejected_with_its_object_and_line() {
        let store = MemoryStore::new();
        let p = pipeline("user_events");
        let w = SqliteWarehouse::in_memory(store.clone()).unwrap();
        w.ensure_table(&p).await.unwrap();
        let t = "2026-11-21 10:00:00.000000";
        let mut bad = row("2", "x", t);
        bad["spec_version"] = json!("one");
        let a = put(&store, "curated/a", &[row("1", "x", t), bad]).await;
        let err = w.load(&p, &batch(&p, vec![a])).await.unwrap_err();
        assert!(!err.is_retryable());
        let text = err.to_string();
        assert!(
            text.contains("s3://lake/curated/a") && text.contains("line 2"),
            "{text}"
        );
        assert!(
            w.query("SELECT 1").await.is_ok(),
            "the connection is usable"
        );
    }
}
