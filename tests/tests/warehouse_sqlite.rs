//! The SQLite warehouse (local mode's default) under the warehouse contract
//! (`warehouse_support::contract`: loads per duplicate policy with exact reports, schema
//! management, the ledger, a missing object, exactly-once under duplicates, redeliveries,
//! crashes and two loaders on one database file), and how SQLite stores the types.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod warehouse_support;

use std::path::PathBuf;

use loglift_core::spec::Pipeline;
use loglift_local::{MemoryStore, SqliteWarehouse};
use loglift_ports::Warehouse;
use warehouse_support::contract::Harness;
use warehouse_support::*;

/// A database file in a temporary directory; every warehouse opens it anew (a new container).
struct Sqlite {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: FaultyStore,
    reader: SqliteWarehouse<FaultyStore>,
}

impl Sqlite {
    async fn query(&self, sql: &str) -> Vec<Vec<String>> {
        self.reader.query(sql).await.unwrap().1
    }
}

impl Harness for Sqlite {
    type Inner = MemoryStore;
    type W = SqliteWarehouse<FaultyStore>;
    const CASES: (u32, u32) = (40, 24);

    async fn start() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".loglift/warehouse.db");
        let store = FaultyStore::<MemoryStore>::default();
        let reader = SqliteWarehouse::open(&path, store.clone()).unwrap();
        Some(Sqlite {
            _dir: dir,
            path,
            store,
            reader,
        })
    }

    fn store(&self) -> FaultyStore {
        self.store.sharing()
    }

    async fn warehouse(&self, store: FaultyStore) -> Self::W {
        SqliteWarehouse::open(&self.path, store).unwrap()
    }

    async fn select(&self, p: &Pipeline, column: &str) -> Vec<(String, Option<String>)> {
        let table = p.table.replace('.', "__");
        self.query(&format!(
            "SELECT event_id, \"{column}\" IS NULL, \"{column}\" FROM \"{table}\" ORDER BY event_id"
        ))
        .await
        .into_iter()
        .map(|r| (r[0].clone(), (r[1] == "0").then(|| r[2].clone())))
        .collect()
    }

    async fn columns(&self, p: &Pipeline) -> Vec<String> {
        let table = p.table.replace('.', "__");
        self.query(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
    }

    async fn ledger_rows(&self) -> u64 {
        let rows = self
            .reader
            .query("SELECT count(*) FROM loglift_load_ledger")
            .await;
        // No ledger table yet: nothing loaded.
        rows.map_or(0, |(_, r)| r[0][0].parse().unwrap())
    }

    async fn finish(self) {}
}

crate::warehouse_contract!(super::Sqlite);

#[tokio::test]
async fn types_survive_as_sqlite_stores_them() {
    let h = Sqlite::start().await.unwrap();
    let p = pipeline("user_events");
    let w = h.warehouse(h.store()).await;
    w.ensure_table(&p).await.unwrap();
    let o = put_object(
        &h.store,
        &p,
        "curated/t",
        &source_object("raw/t"),
        &[(4, 0)],
    )
    .await;
    w.load(&p, &batch(&p, vec![message(&p, "raw/t", vec![o])]))
        .await
        .unwrap();
    // Timestamps as curated text, JSON `extra` as text (escapes kept), integers.
    assert_eq!(
        h.query("SELECT request_timestamp, event_time, extra, spec_version, source_object FROM tracking__events WHERE event_id = 'e4'")
            .await,
        [[
            event_time(4),
            event_time(4),
            r#"{"note":"é\\0"}"#.to_owned(),
            "1".to_owned(),
            "s3://lake/raw/t#v1".to_owned()
        ]]
    );
}
