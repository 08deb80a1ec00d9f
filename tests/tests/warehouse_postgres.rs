//! The PostgreSQL warehouse on the harness's PostgreSQL, a database per test, under the
//! warehouse contract (`warehouse_support::contract`: loads per duplicate policy with exact
//! reports, schema management, the ledger, a missing object, exactly-once under duplicates,
//! redeliveries, crashes and two concurrent loaders on one table), and what is PostgreSQL's own:
//! exact types, JSONB, poison rows and lock waits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod warehouse_support;

use std::time::Duration;

use loglift_core::spec::{DuplicatePolicy, Pipeline};
use loglift_core::storage::LoadReport;
use loglift_local::MemoryStore;
use loglift_ports::{ObjectStore, Warehouse};
use loglift_postgres::PgWarehouse;
use loglift_tests::postgres;
use tokio_postgres::Client;
use warehouse_support::contract::Harness;
use warehouse_support::*;

struct Pg {
    db: PgDatabase,
    client: Client,
    store: FaultyStore,
}

impl Harness for Pg {
    type Inner = MemoryStore;
    type W = PgWarehouse<FaultyStore>;
    const CASES: (u32, u32) = (24, 16);

    async fn start() -> Option<Self> {
        let db = PgDatabase::create(&postgres()?).await;
        let client = pg_connect(&db.url).await;
        Some(Pg {
            db,
            client,
            store: FaultyStore::default(),
        })
    }

    fn store(&self) -> FaultyStore {
        self.store.sharing()
    }

    async fn warehouse(&self, store: FaultyStore) -> Self::W {
        PgWarehouse::connect(&self.db.url, store).await.unwrap()
    }

    async fn select(&self, p: &Pipeline, column: &str) -> Vec<(String, Option<String>)> {
        let (schema, table) = p.table.split_once('.').unwrap();
        let sql = format!(
            "SELECT event_id, \"{column}\"::text FROM \"{schema}\".\"{table}\" ORDER BY event_id"
        );
        let rows = self.client.query(&sql, &[]).await.unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    }

    async fn columns(&self, p: &Pipeline) -> Vec<String> {
        let (schema, table) = p.table.split_once('.').unwrap();
        let sql = "SELECT column_name::text FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position";
        let rows = self.client.query(sql, &[&schema, &table]).await.unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    }

    async fn ledger_rows(&self) -> u64 {
        let sql = "SELECT count(*) FROM loglift.loglift_load_ledger";
        match self.client.query_one(sql, &[]).await {
            Ok(row) => row.get::<_, i64>(0).try_into().unwrap(),
            Err(_) => 0, // no ledger table yet: nothing loaded
        }
    }

    async fn finish(self) {
        drop(self.client);
        self.db.drop_now().await;
    }
}

crate::warehouse_contract!(super::Pg);

fn pairs(rows: &[(&str, &str)]) -> Vec<(String, Option<String>)> {
    rows.iter()
        .map(|(a, b)| ((*a).to_owned(), Some((*b).to_owned())))
        .collect()
}

async fn dump(h: &Pg, p: &Pipeline) -> Vec<(String, Option<String>)> {
    h.select(p, &marker_column(p)).await
}

#[tokio::test]
async fn types_are_exact_in_postgresql() {
    let Some(h) = Pg::start().await else { return };
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
    // Timestamps to the microsecond, JSONB, integers.
    let row = h
        .client
        .query_one(
            "SELECT to_char(request_timestamp, 'YYYY-MM-DD HH24:MI:SS.US'), extra::text, spec_version, to_char(ingested_at, 'YYYY-MM-DD HH24:MI:SS.US'), source_object FROM tracking.events WHERE event_id = 'e4'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), event_time(4));
    assert_eq!(row.get::<_, String>(1), r#"{"note": "é\\0"}"#);
    assert_eq!(row.get::<_, i64>(2), 1);
    assert_eq!(row.get::<_, String>(3), ingested_at(0));
    assert_eq!(row.get::<_, String>(4), "s3://lake/raw/t#v1");
    // A json column: JSONB with the escapes kept.
    let p = Pipeline {
        identity: loglift_core::spec::Identity::Field("partner_name".into()),
        ..pipeline("partner_catalog")
    };
    assert_eq!(p.duplicates, DuplicatePolicy::Replace);
    w.ensure_table(&p).await.unwrap();
    let o = put_object(
        &h.store,
        &p,
        "curated/j",
        &source_object("raw/j"),
        &[(1, 3)],
    )
    .await;
    w.load(&p, &batch(&p, vec![message(&p, "raw/j", vec![o])]))
        .await
        .unwrap();
    assert_eq!(
        h.select(&p, "accommodation_data").await,
        [(
            "e1".to_owned(),
            Some(r#"{"s": "a\tb\\c\"d\n", "v": 3}"#.to_owned())
        )]
    );
    drop(w);
    h.finish().await;
}

#[tokio::test]
async fn poison_is_rejected_with_its_reason_and_lock_waits_are_transient() {
    let Some(h) = Pg::start().await else { return };
    let store = h.store();
    let p = pipeline("user_events");
    let w = PgWarehouse::connect(&h.db.url, store.clone())
        .await
        .unwrap()
        .with_lock_timeout(Duration::from_millis(200));
    w.ensure_table(&p).await.unwrap();
    let good = put_object(
        &store,
        &p,
        "curated/good",
        &source_object("raw/a"),
        &[(1, 0)],
    )
    .await;

    // A curated object deleted from the store.
    let mut gone = good.clone();
    gone.key = "curated/deleted".into();
    let err = w
        .load(
            &p,
            &batch(&p, vec![message(&p, "raw/a", vec![good.clone(), gone])]),
        )
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("s3://lake/curated/deleted"),
        "{err}"
    );

    // A line the decoder refuses, and a value PostgreSQL refuses (NUL in JSONB).
    let mut bad_type = row(&p, 2, 0, "s3://lake/raw/b#v1");
    bad_type["spec_version"] = serde_json::json!("one");
    let mut bad_json = row(&p, 3, 0, "s3://lake/raw/b#v1");
    bad_json["extra"] = serde_json::json!({"k": "a\u{0}b"});
    for (name, bad, want) in [
        ("bad-type", bad_type, "line 2"),
        ("bad-json", bad_json, "22P05"),
    ] {
        let mut lines = loglift_core::ndjson::GzLines::default();
        lines.push(&row(&p, 9, 0, "s3://lake/raw/b#v1")).unwrap();
        lines.push(&bad).unwrap();
        let key = format!("curated/{name}");
        let meta = store
            .put(
                BUCKET,
                &key,
                lines.finish().unwrap().into(),
                "application/x-ndjson",
            )
            .await
            .unwrap();
        let mut o = good.clone();
        o.key = key.clone();
        o.version = meta.etag;
        let err = w
            .load(&p, &batch(&p, vec![message(&p, "raw/b", vec![o])]))
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "{name}: {err}");
        assert!(err.to_string().contains(want), "{name}: {err}");
    }

    // Another session holds the table: the lock wait times out, a retry will do.
    let mut holder = pg_connect(&h.db.url).await;
    let tx = holder.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE tracking.events IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let err = w
        .load(
            &p,
            &batch(&p, vec![message(&p, "raw/a", vec![good.clone()])]),
        )
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("55P03"), "{err}");
    assert!(
        std::error::Error::source(&err).is_some_and(|s| format!("{s:?}").contains("E55P03")),
        "the driver's error is the source: {err:?}"
    );
    tx.rollback().await.unwrap();

    // Nothing of the failed loads is left; the good object loads now.
    assert_eq!(
        w.load(&p, &batch(&p, vec![message(&p, "raw/a", vec![good])]))
            .await
            .unwrap(),
        LoadReport {
            inserted: 1,
            ..LoadReport::default()
        }
    );
    assert_eq!(dump(&h, &p).await, pairs(&[("e1", "v0")]));
    drop((w, holder));
    h.finish().await;
}
