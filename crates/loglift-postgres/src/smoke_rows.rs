//! [`EventRows`] on PostgreSQL: the smoke test's rows counted and deleted by `event_id`, ids
//! bound as parameters (`loglift_core::smoke`'s SQL), on the warehouse's own connection.

use std::collections::BTreeMap;

use loglift_core::smoke::{count_events_sql, delete_events_sql};
use loglift_core::sql::Dialect;
use loglift_ports::{EventRows, ObjectStore, PortError, PortResult};
use tokio_postgres::types::ToSql;

use crate::{count, pg_error, plan_error, PgWarehouse};

/// Ids per statement.
const IDS_PER_STATEMENT: usize = 500;
/// `undefined_table`: the table appears with the first load.
const UNDEFINED_TABLE: &str = "42P01";

fn missing_table(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| db.code().code() == UNDEFINED_TABLE)
}

impl<S: ObjectStore> EventRows for PgWarehouse<S> {
    async fn count_events(
        &self,
        table: &str,
        event_ids: &[String],
    ) -> PortResult<BTreeMap<String, u64>> {
        let mut counts = BTreeMap::new();
        let guard = self.client().await?;
        let client = guard.as_ref().ok_or_else(|| PortError::Transient {
            op: "CountEvents",
            target: table.to_owned(),
            message: "no connection".into(),
            source: None,
        })?;
        for ids in event_ids.chunks(IDS_PER_STATEMENT) {
            let sql = count_events_sql(Dialect::Postgres, table, ids.len())
                .map_err(|e| plan_error("CountEvents", table, e))?;
            let params: Vec<&(dyn ToSql + Sync)> =
                ids.iter().map(|id| id as &(dyn ToSql + Sync)).collect();
            let rows = match client.query(&sql, &params).await {
                Ok(rows) => rows,
                Err(e) if missing_table(&e) => Vec::new(),
                Err(e) => return Err(pg_error("CountEvents", table, e)),
            };
            for row in rows {
                let id: String = row
                    .try_get(0)
                    .map_err(|e| pg_error("CountEvents", table, e))?;
                let n: i64 = row
                    .try_get(1)
                    .map_err(|e| pg_error("CountEvents", table, e))?;
                counts.insert(id, count(n));
            }
        }
        Ok(counts)
    }

    async fn delete_events(&self, table: &str, event_ids: &[String]) -> PortResult<u64> {
        let mut deleted = 0;
        let guard = self.client().await?;
        let client = guard.as_ref().ok_or_else(|| PortError::Transient {
            op: "DeleteEvents",
            target: table.to_owned(),
            message: "no connection".into(),
            source: None,
        })?;
        for ids in event_ids.chunks(IDS_PER_STATEMENT) {
            let sql = delete_events_sql(Dialect::Postgres, table, ids.len())
                .map_err(|e| plan_error("DeleteEvents", table, e))?;
            let params: Vec<&(dyn ToSql + Sync)> =
                ids.iter().map(|id| id as &(dyn ToSql + Sync)).collect();
            match client.execute(&sql, &params).await {
                Ok(n) => deleted += n,
                Err(e) if missing_table(&e) => {}
                Err(e) => return Err(pg_error("DeleteEvents", table, e)),
            }
        }
        Ok(deleted)
    }
}
