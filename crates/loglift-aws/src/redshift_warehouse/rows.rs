//! [`EventRows`] on Redshift: the smoke test's rows counted and deleted by `event_id` through
//! the Data API, ids bound as named parameters (`loglift_core::smoke`'s SQL).

use std::collections::BTreeMap;

use loglift_core::smoke::{count_events_sql, delete_events_sql, event_param};
use loglift_core::sql::Dialect;
use loglift_ports::{EventRows, ObjectStore, PortResult};

use super::{count, fresh_token, sql_error, RedshiftWarehouse};

/// Ids per statement (the Data API takes a list of parameters per statement).
const IDS_PER_STATEMENT: usize = 50;

fn params(ids: &[String]) -> Vec<(String, String)> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| (event_param(i), id.clone()))
        .collect()
}

impl<S: ObjectStore> EventRows for RedshiftWarehouse<S> {
    async fn count_events(
        &self,
        table: &str,
        event_ids: &[String],
    ) -> PortResult<BTreeMap<String, u64>> {
        let mut counts = BTreeMap::new();
        for ids in event_ids.chunks(IDS_PER_STATEMENT) {
            let sql = count_events_sql(Dialect::Redshift, table, ids.len()).map_err(sql_error)?;
            let rows = match self.api.query(&sql, &params(ids), self.deadline()).await {
                Ok(result) => result.rows,
                // The table appears with the first load.
                Err(e) if e.reason().contains("does not exist") => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            for row in rows {
                if let Some(id) = row.first().and_then(|v| v.as_str()) {
                    counts.insert(id.to_owned(), count(row.get(1)));
                }
            }
        }
        Ok(counts)
    }

    async fn delete_events(&self, table: &str, event_ids: &[String]) -> PortResult<u64> {
        let mut deleted = 0;
        for ids in event_ids.chunks(IDS_PER_STATEMENT) {
            let sql = delete_events_sql(Dialect::Redshift, table, ids.len()).map_err(sql_error)?;
            match self
                .api
                .run(
                    &sql,
                    &params(ids),
                    Some(&fresh_token("smoke-delete")),
                    self.deadline(),
                )
                .await
            {
                Ok(outcome) => deleted += u64::try_from(outcome.result_rows).unwrap_or(0),
                Err(e) if e.reason().contains("does not exist") => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(deleted)
    }
}
