//! The dedupe path against a plain COPY, on a real PostgreSQL.
//!
//!     LOGLIFT_BENCH_PG_URL=postgres://postgres@127.0.0.1:55432/loglift \
//!         cargo bench -p loglift-postgres --bench load
//!
//! Generates user_events-like curated objects (gzip NDJSON, 50,000 rows each, 1 M rows in all)
//! in a `MemoryStore`, then times, in a schema of its own:
//! 1. decode only: every object gunzipped, split and decoded into COPY text (no database);
//! 2. plain COPY: the same rows, decoded the same way, `COPY`-ed straight into a table of the same
//!    DDL (unique `event_id` index included) — the floor;
//! 3. the dedupe load: `PgWarehouse::load` of one batch of all the objects (lock, ledger check,
//!    COPY into staging, `DISTINCT ON`, `INSERT … ON CONFLICT DO NOTHING`, ledger, commit);
//! 4. the same batch redelivered (every object in the ledger: nothing read);
//! 5. the same rows in new objects (0 inserted, every row a duplicate).
//!
//! Without `LOGLIFT_BENCH_PG_URL` it prints a skip line. Without `--bench` (as under
//! `cargo test --benches`) it runs 20,000 rows as a smoke test.

use std::io::BufReader;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::SinkExt;
use loglift_core::ndjson::GzLines;
use loglift_core::spec::{Pipeline, Spec};
use loglift_core::sql::{self, read_rows, write_copy_row, Dialect, RowDecoder};
use loglift_core::storage::{CuratedObject, LoadBatch, LoadReport, LoaderMessage, ObjectVersion};
use loglift_local::MemoryStore;
use loglift_ports::{ObjectStore, Warehouse};
use loglift_postgres::PgWarehouse;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio_postgres::NoTls;

const ROWS_PER_OBJECT: usize = 50_000;

type Result<T> = std::result::Result<T, String>;

fn main() {
    let Ok(url) = std::env::var("LOGLIFT_BENCH_PG_URL") else {
        println!("skipped: set LOGLIFT_BENCH_PG_URL to a PostgreSQL URL to run the load benchmark");
        return;
    };
    let full = std::env::args().any(|a| a == "--bench");
    let rows = if full { 1_000_000 } else { 20_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let result = runtime
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(run(&url, rows)));
    if let Err(e) = result {
        eprintln!("load benchmark failed: {e}");
        std::process::exit(1);
    }
}

fn pipeline(schema: &str, table: &str) -> Result<Pipeline> {
    let spec =
        Spec::parse(include_str!("../../../spec/pipelines.yaml")).map_err(|e| format!("{e:?}"))?;
    let mut p = spec
        .pipeline("user_events")
        .cloned()
        .ok_or("user_events is not in the spec")?;
    p.table = format!("{schema}.{table}");
    Ok(p)
}

/// One user_events-like curated row (seed 002's shape).
fn row(i: usize, source_object: &str) -> serde_json::Value {
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        i,
        i % 0xffff,
        i % 0xfff,
        (i * 7) % 0xfff,
        i * 2_654_435_761 % 0xffff_ffff_ffff
    );
    let ts = format!(
        "2020-06-01 {:02}:{:02}:{:02}.{:06}",
        (i / 3600) % 24,
        (i / 60) % 60,
        i % 60,
        (i * 37) % 1_000_000
    );
    json!({
        "request_id": id,
        "request_timestamp": ts,
        "cookie_id": format!("a09c4ca3-d142-4312-ba78-{:012x}", i % 50_000),
        "topic": format!("dolphin_cms.wizard.step.color_palette.set{}", i % 17),
        "message": format!("{{\"isAffiliate\":false,\"language\":\"es\",\"isRecommendedPalette\":true,\"color\":\"#6d8d79\",\"paletteIndex\":\"{}\",\"workspaceId\":\"ecaca5cd-e23c-4f6d-8ec9-ad8695b378d5\"}}", i % 9),
        "environment": "dolphin_cms",
        "website_id": null,
        "user_account_id": format!("0f36f200-df29-4fbf-8625-{:012x}", i % 20_000),
        "location": "https://cms.data.com/wizard/color-palette/",
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:76.0) Gecko/20100101 Firefox/76.0",
        "referrer": "https://register.data.com/es/product",
        "extra": null,
        "event_id": id,
        "event_time": ts,
        "source_object": source_object,
        "spec_version": 1,
        "ingested_at": "2026-11-21 10:00:00.000000",
    })
}

/// Write `rows` rows as curated objects under `prefix`; one loader message per object.
async fn write_objects(
    store: &MemoryStore,
    p: &Pipeline,
    prefix: &str,
    rows: usize,
) -> Result<LoadBatch> {
    let mut messages = Vec::new();
    let mut start = 0;
    let mut part = 0;
    while start < rows {
        let end = (start + ROWS_PER_OBJECT).min(rows);
        let source_key = format!("raw/{prefix}/{part:05}.ndjson.gz");
        let source_object = format!("s3://lake/{source_key}#v1");
        let mut lines = GzLines::default();
        for i in start..end {
            lines
                .push(&row(i, &source_object))
                .map_err(|e| e.to_string())?;
        }
        let body = lines.finish().map_err(|e| e.to_string())?;
        let key = format!("curated/{prefix}/{part:05}.ndjson.gz");
        let meta = store
            .put("lake", &key, Bytes::from(body), "application/x-ndjson")
            .await
            .map_err(|e| e.to_string())?;
        messages.push(LoaderMessage {
            v: 1,
            pipeline: p.name.clone(),
            table: p.table.clone(),
            spec_version: 1,
            source: ObjectVersion {
                bucket: "lake".into(),
                key: source_key,
                version: "v1".into(),
            },
            objects: vec![CuratedObject {
                bucket: "lake".into(),
                key,
                version: meta.etag,
                bytes: meta.size,
                rows: (end - start) as u64,
                min_event_time: None,
                max_event_time: None,
            }],
            rejected: 0,
        });
        start = end;
        part += 1;
    }
    Ok(LoadBatch {
        attempt: 0,
        table: p.table.clone(),
        messages,
    })
}

/// The batch's objects as COPY text chunks (what both paths send), from the store.
async fn copy_text(store: &MemoryStore, p: &Pipeline, batch: &LoadBatch) -> Result<Vec<Vec<u8>>> {
    let decoder = RowDecoder::new(p).map_err(|e| e.to_string())?;
    let mut chunks = Vec::new();
    for o in batch.messages.iter().flat_map(|m| &m.objects) {
        let mut object = store
            .get(&o.bucket, &o.key)
            .await
            .map_err(|e| e.to_string())?;
        let mut body = Vec::new();
        object
            .body
            .read_to_end(&mut body)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(body.len() * 6);
        read_rows(BufReader::new(&body[..]), &decoder, |_, cells| {
            write_copy_row(&cells, None, &mut out);
            Ok::<(), String>(())
        })
        .map_err(|e| e.to_string())?;
        chunks.push(out);
    }
    Ok(chunks)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn rate(rows: usize, d: Duration) -> String {
    format!("{:.0} rows/s", rows as f64 / d.as_secs_f64().max(1e-9))
}

async fn run(url: &str, rows: usize) -> Result<()> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let schema = format!(
        "bench_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp()
    );
    let p = pipeline(&schema, "events")?;
    let plain = pipeline(&schema, "plain")?;
    let store = MemoryStore::new();

    let t = Instant::now();
    let batch = write_objects(&store, &p, &format!("{schema}/a"), rows).await?;
    let again = write_objects(&store, &p, &format!("{schema}/b"), rows).await?;
    let (objects, bytes) = store.usage();
    println!(
        "generated {rows} rows twice: {objects} objects, {:.1} MB gzip, in {}",
        bytes as f64 / 1e6,
        secs(t.elapsed())
    );

    // 1. Decode only.
    let t = Instant::now();
    let chunks = copy_text(&store, &p, &batch).await?;
    let decode = t.elapsed();

    // 2. Plain COPY into a table of the same DDL (decode included, as the loader pays it).
    for s in sql::create_table_statements(Dialect::Postgres, &plain).map_err(|e| e.to_string())? {
        client.batch_execute(&s).await.map_err(|e| e.to_string())?;
    }
    let columns = sql::table_columns(&plain)
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ");
    drop(chunks);
    let t = Instant::now();
    let chunks = copy_text(&store, &p, &batch).await?;
    let sink = client
        .copy_in::<_, Bytes>(&format!(
            "COPY \"{schema}\".\"plain\" ({columns}) FROM STDIN"
        ))
        .await
        .map_err(|e| e.to_string())?;
    futures_util::pin_mut!(sink);
    for chunk in chunks {
        for piece in chunk.chunks(256 * 1024) {
            sink.send(Bytes::copy_from_slice(piece))
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let copied = sink.finish().await.map_err(|e| e.to_string())?;
    let plain_copy = t.elapsed();
    if copied != rows as u64 {
        return Err(format!("plain COPY loaded {copied} rows, not {rows}"));
    }

    // 3. The dedupe load.
    let w = PgWarehouse::connect(url, store.clone())
        .await
        .map_err(|e| e.to_string())?;
    w.ensure_table(&p).await.map_err(|e| e.to_string())?;
    let t = Instant::now();
    let first = w.load(&p, &batch).await.map_err(|e| e.to_string())?;
    let dedupe = t.elapsed();
    let want = LoadReport {
        inserted: rows as u64,
        ..LoadReport::default()
    };
    if first != want {
        return Err(format!("first load: {first:?}"));
    }

    // 4. Redelivered: the ledger skips every object.
    let t = Instant::now();
    let skipped = w.load(&p, &batch).await.map_err(|e| e.to_string())?;
    let redelivered = t.elapsed();

    // 5. The same rows in new objects: all duplicates.
    let t = Instant::now();
    let dups = w.load(&p, &again).await.map_err(|e| e.to_string())?;
    let reloaded = t.elapsed();
    if dups.inserted != 0 || dups.duplicates_skipped != rows as u64 {
        return Err(format!("reload: {dups:?}"));
    }

    println!();
    println!(
        "| step (PostgreSQL, {rows} rows, {} objects) | time | rate |",
        batch.messages.len()
    );
    println!("|---|---|---|");
    println!(
        "| decode only (gunzip, JSON, COPY text) | {} | {} |",
        secs(decode),
        rate(rows, decode)
    );
    println!(
        "| plain COPY into the table | {} | {} |",
        secs(plain_copy),
        rate(rows, plain_copy)
    );
    println!(
        "| dedupe load (1 transaction) | {} | {} |",
        secs(dedupe),
        rate(rows, dedupe)
    );
    println!(
        "| same batch redelivered ({} objects skipped) | {} | |",
        skipped.objects_skipped,
        secs(redelivered)
    );
    println!(
        "| same rows in new objects (0 inserted, {} duplicates) | {} | {} |",
        dups.duplicates_skipped,
        secs(reloaded),
        rate(rows, reloaded)
    );
    println!();
    println!(
        "dedupe load / plain COPY = {:.2}",
        dedupe.as_secs_f64() / plain_copy.as_secs_f64().max(1e-9)
    );

    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .map_err(|e| e.to_string())?;
    client
        .execute(
            "DELETE FROM loglift.loglift_load_ledger WHERE target_table = $1",
            &[&p.table],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
