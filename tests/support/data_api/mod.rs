//! A Redshift Data API test server backed by PostgreSQL (moto's redshift-data answers are not
//! parsable by the Rust SDK and its statements never finish).
//!
//! Flow: the SDK posts awsJson1_1 requests (`X-Amz-Target: RedshiftData.<Operation>`) to
//! [`DataApiServer::url`]. `ExecuteStatement` and `BatchExecuteStatement` record a statement and
//! run it in the background on its own PostgreSQL connection (a Data API session), the batch's
//! statements in order in one transaction; `DescribeStatement` shows SUBMITTED, then STARTED,
//! then the outcome (FINISHED with `ResultRows` per sub-statement `uuid:N`, FAILED with `Error`,
//! ABORTED); `GetStatementResult` pages the typed records with `NextToken`; `CancelStatement`
//! aborts; a repeated `ClientToken` returns the first statement without running anything.
//! Faults ([`Fault`], [`DataApiServer::throttle`]) are queued on the server.
//!
//! Redshift-only syntax is mapped to PostgreSQL by this table, and nothing else:
//!
//! | Redshift | PostgreSQL |
//! |---|---|
//! | `COPY t [(cols)] FROM 's3://b/manifest' MANIFEST FORMAT AS JSON 'auto' GZIP IAM_ROLE '…'` | the manifest's entries read from S3 (a missing `mandatory` one fails), gunzipped, each JSON value matched to a column by name (exactly for `'auto'`, ignoring case for `'auto ignorecase'`; absent keys are NULL, extra keys ignored, objects and arrays as JSON text), then `COPY t (cols) FROM STDIN`; a failure reads `Load into table 't' failed. Check 'stl_load_errors' …` |
//! | `COPY … FROM 's3://b/prefix'` without `MANIFEST` | every object under the prefix |
//! | `COPY t FROM … MANIFEST FORMAT AS PARQUET` | each object read with arrow-rs's Parquet reader (not loglift's): as many columns as the table, each type compatible with the table column at its position (`columnar.rs`), every manifest entry with `meta.content_length` equal to the object's size; rows then `COPY t FROM STDIN` |
//! | `JSON_PARSE(text)` | a function of the server's schema: `$1::jsonb` (refuses what is not JSON, as Redshift does) |
//! | `SUPER` | `JSONB` |
//! | `VARCHAR(n)` column (`CREATE TABLE`, `ADD COLUMN`) | `VARCHAR(n) CONSTRAINT "rs_varchar_<n>_<col>" CHECK (octet_length(col) <= n)`: Redshift counts bytes, PostgreSQL characters; a violation reads `value too long for type character varying(n)` |
//! | `VARCHAR(MAX)` | `VARCHAR(65535)` (with the byte check in a column definition) |
//! | `PRIMARY KEY`, `UNIQUE`, `FOREIGN KEY … REFERENCES …`, `REFERENCES …` (table DDL) | dropped: Redshift accepts them and enforces none, so no unique index exists (a plan that inserts a second row for a key shows a duplicate, not an error) |
//! | `DISTSTYLE x`, `DISTKEY(…)`, `[COMPOUND \| INTERLEAVED] SORTKEY(…)`, column `DISTKEY` / `SORTKEY`, `ENCODE x`, `BACKUP YES \| NO` | dropped |
//! | `GETDATE()`, `SYSDATE` | `now()` |
//! | `svv_columns` (catalog view) | `information_schema.columns` (same column names) |
//! | `:name` parameters | quoted literals, which PostgreSQL types from their context as Redshift converts parameters |
//!
//! Before PostgreSQL runs anything, every statement is checked against what Redshift refuses
//! (a refusal reads `ERROR: <Redshift's words>` then a `Detail:` naming the check; the batch
//! rolls back and ends FAILED, as on Redshift). Never stricter than Redshift, except where a row
//! says "not covered".
//!
//! | check | Redshift's rule | how |
//! |---|---|---|
//! | parse | every statement but `LOCK` and COPY from S3 must parse with sqlparser's `RedshiftSqlDialect` (after the mapping table), one statement per SQL text | a statement it cannot read is refused, not run unchecked |
//! | `INSERT … ON CONFLICT` / `ON DUPLICATE KEY` | no such clause (*INSERT*) | parse |
//! | `RETURNING` (INSERT, UPDATE, DELETE) | no such clause | parse |
//! | `SELECT DISTINCT ON` | no such clause | tokens |
//! | `CREATE [UNIQUE] INDEX` | Redshift has no indexes | parse |
//! | `MERGE` shape | target without alias; source a table (not a subquery); `ON` only equality predicates between columns; exactly `WHEN MATCHED THEN UPDATE\|DELETE` then `WHEN NOT MATCHED THEN INSERT`, no `AND` conditions (*MERGE*) | parse |
//! | `MERGE` source uniqueness | a target row matched by more than one source row fails the MERGE (*MERGE*, usage notes) | a count of such target rows before the MERGE runs |
//! | `VARCHAR(n)` | values of at most n **bytes** (*Character types*); at most 65535 | the CHECK constraint above, on every INSERT, UPDATE and COPY |
//! | SUPER values | a string (or key) of at most 65,535 bytes, an object of at most 16 MB (*Limitations – SUPER*) | COPY input, per SUPER column |
//! | COPY JSON object | at most 4 MB per object before parsing (*Using COPY to load data into SUPER columns*; read as 4 MiB) | COPY input |
//! | transaction block | `VACUUM`, `CREATE DATABASE`, `DROP DATABASE`, `CREATE EXTERNAL TABLE`, `ALTER TABLE … APPEND`, `ALTER TABLE … ALTER COLUMN … TYPE` cannot run inside one, and a BatchExecuteStatement is one | tokens: refused in a batch with `<what> cannot run inside a transaction block`; alone: not covered |
//! | `LOCK` | `LOCK [TABLE] name [, …]` only: no `IN … MODE`, no `NOWAIT` (always ACCESS EXCLUSIVE) | tokens |
//! | COPY options | the options listed below only, each once (`conflicting or redundant options`); exactly one authorization: `IAM_ROLE`, or `ACCESS_KEY_ID` with `SECRET_ACCESS_KEY` (and `SESSION_TOKEN`), or `CREDENTIALS`; `FORMAT AS JSON 'auto'` or `'auto ignorecase'`; `MAXERROR` 0 | [`parse_copy`] |
//!
//! | columnar COPY | `FORMAT AS PARQUET` takes only `MANIFEST`, the authorization and `STATUPDATE`, and no column list (*COPY from columnar data formats*) | [`parse_copy`] |
//!
//! COPY options read: `MANIFEST`, `GZIP`, `FORMAT [AS] JSON`, `FORMAT [AS] PARQUET`, `IAM_ROLE`, `CREDENTIALS`,
//! `ACCESS_KEY_ID`, `SECRET_ACCESS_KEY`, `SESSION_TOKEN`, `REGION`, `TIMEFORMAT`, `DATEFORMAT`
//! (ignored: the values are read as PostgreSQL reads them), `ACCEPTINVCHARS`, `BLANKSASNULL`,
//! `EMPTYASNULL`, `ACCEPTANYDATE`, `COMPUPDATE`, `STATUPDATE`, `MAXERROR 0`.
//!
//! Not covered: COPY of CSV, ORC or JSONPaths files, Parquet nested types and `SERIALIZETOJSON`,
//! `MAXERROR` above 0, `TRUNCATECOLUMNS` and other COPY options; `stl_load_errors` itself;
//! Redshift-only functions other than `JSON_PARSE` (`JSON_EXTRACT_PATH_TEXT`, …), `IDENTITY` columns and `MERGE … REMOVE DUPLICATES`; statements
//! that cannot run in a transaction block sent alone; the byte check of `CHAR(n)`, `TEXT`
//! (Redshift's `VARCHAR(256)`) and of tables made with `CREATE TABLE … (LIKE …)`; SUPER limits
//! of values written by INSERT or UPDATE; the exact wording of Redshift's errors beyond the
//! `ERROR:` line; sessions (`SessionId`), `ListStatements`, `DescribeTable`,
//! `GetStatementResultV2` and result size limits. A column named like a dropped keyword followed
//! by a word (`encode varchar`) is mangled.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`DataApiServer`] (start, client, faults, direct PostgreSQL reads), statements and their state |
//! | `http.rs` | HTTP/1.1 and the operations: submit, describe, results, cancel |
//! | `execution.rs` | running a statement or a batch on PostgreSQL |
//! | `copy.rs` | COPY from S3 (manifest or prefix) with Redshift's limits |
//! | `columnar.rs` | the Parquet files of a columnar COPY, matched to the table by position |
//! | `checks.rs` | the refusals (second table above) |
//! | `translate.rs` | the tokenizer, the mapping table (first table above), COPY options |

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;
use futures_util::SinkExt as _;
use serde_json::{json, Map, Value};
use sqlparser::ast::{
    BinaryOperator, Expr, MergeAction, MergeClause, MergeClauseKind, Statement as Parsed,
    TableFactor,
};
use sqlparser::dialect::RedshiftSqlDialect;
use sqlparser::parser::Parser;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_postgres::types::Type;
use tokio_postgres::NoTls;

use crate::{unique_name, PgEnv};

/// The most statements in a batch and the SQL size the service accepts.
const MAX_BATCH: usize = 40;
const MAX_SQL_BYTES: usize = 100 * 1024;
/// Request bodies and decompressed COPY objects above these are refused.
const MAX_BODY: usize = 16 * 1024 * 1024;
const MAX_OBJECT: usize = 256 * 1024 * 1024;

/// What the next submitted statement or batch does instead of its normal course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Run, roll back, end FAILED with this `Error` text (e.g. `ERROR: 1023 …`).
    Fail(String),
    /// Run, roll back, end ABORTED.
    Abort,
    /// Never run: STARTED until cancelled.
    Hang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Submitted,
    Started,
    Finished,
    Failed,
    Aborted,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "SUBMITTED",
            Status::Started => "STARTED",
            Status::Finished => "FINISHED",
            Status::Failed => "FAILED",
            Status::Aborted => "ABORTED",
        }
    }
}

#[derive(Debug, Clone)]
struct ColumnMeta {
    name: String,
    type_name: String,
}

/// One sub-statement's outcome.
#[derive(Debug, Clone)]
struct Sub {
    sql: String,
    status: Status,
    result_rows: i64,
    has_result_set: bool,
    columns: Vec<ColumnMeta>,
    /// Each field as the Data API writes it (`{"longValue": 1}`, `{"isNull": true}`, …).
    rows: Vec<Vec<Value>>,
    error: Option<String>,
}

impl Sub {
    fn ended(sql: &str, status: Status, error: Option<String>) -> Sub {
        Sub {
            sql: sql.to_owned(),
            status,
            result_rows: -1,
            has_result_set: false,
            columns: Vec::new(),
            rows: Vec::new(),
            error,
        }
    }
}

#[derive(Debug, Clone)]
struct Done {
    status: Status,
    error: Option<String>,
    subs: Vec<Sub>,
    duration_ns: i64,
}

#[derive(Debug, Clone)]
enum Phase {
    Running,
    Hanging,
    Done(Done),
}

#[derive(Debug, Clone)]
struct Statement {
    sqls: Vec<String>,
    batch: bool,
    /// Database and target fields of the request, echoed in answers.
    echo: Map<String, Value>,
    created_at: f64,
    updated_at: f64,
    describes: u32,
    phase: Phase,
    cancel_requested: bool,
}

#[derive(Debug)]
struct State {
    statements: HashMap<String, Statement>,
    tokens: HashMap<String, String>,
    faults: VecDeque<Fault>,
    /// (operation or `*`, requests left to throttle).
    throttles: Vec<(String, u32)>,
    requests: Vec<(String, Value)>,
    executions: u32,
    page_size: usize,
}

#[derive(Debug)]
struct Shared {
    pg_url: String,
    schema: String,
    s3: aws_sdk_s3::Client,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The server; it stops accepting when dropped.
#[derive(Debug)]
pub struct DataApiServer {
    url: String,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for DataApiServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl DataApiServer {
    /// Serve on a free local port, executing in `schema` (created if missing) of the database at
    /// `pg_url`, reading COPY sources through `s3`.
    pub async fn start(
        pg_url: &str,
        schema: &str,
        s3: aws_sdk_s3::Client,
    ) -> Result<DataApiServer, String> {
        let shared = Arc::new(Shared {
            pg_url: pg_url.to_owned(),
            schema: schema.to_owned(),
            s3,
            state: Mutex::new(State {
                statements: HashMap::new(),
                tokens: HashMap::new(),
                faults: VecDeque::new(),
                throttles: Vec::new(),
                requests: Vec::new(),
                executions: 0,
                page_size: 1000,
            }),
        });
        let (client, _conn) = connect_plain(pg_url).await?;
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                quote_ident(schema)
            ))
            .await
            .map_err(|e| format!("create schema {schema}: {}", pg_error(&e)))?;
        // Redshift's JSON_PARSE (VARCHAR → SUPER; SUPER is JSONB here): refuses what is not JSON.
        client
            .batch_execute(&format!(
                "CREATE OR REPLACE FUNCTION {}.json_parse(text) RETURNS jsonb LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT $1::jsonb $$",
                quote_ident(schema)
            ))
            .await
            .map_err(|e| format!("create json_parse in {schema}: {}", pg_error(&e)))?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind: {e}"))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("local address: {e}"))?;
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(DataApiServer {
            url: format!("http://{address}"),
            shared,
            accept,
        })
    }

    /// [`start`](Self::start) in a new schema named `data_api_<unique>`.
    pub async fn start_in_new_schema(
        pg: &PgEnv,
        s3: aws_sdk_s3::Client,
    ) -> Result<DataApiServer, String> {
        let schema = unique_name("data-api").replace('-', "_");
        DataApiServer::start(&pg.url, &schema, s3).await
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn schema(&self) -> &str {
        &self.shared.schema
    }

    /// Region us-east-1, static test credentials, the server as endpoint, and the SDK's
    /// standard retries with a 20 ms initial back-off (so throttling tests stay fast).
    pub fn sdk_config(&self) -> SdkConfig {
        crate::test_sdk_config(&self.url)
            .to_builder()
            .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(20)))
            .build()
    }

    /// A Data API client pointed at the server (through [`loglift_aws::data_api_client`]).
    pub fn client(&self) -> aws_sdk_redshiftdata::Client {
        loglift_aws::data_api_client(&self.sdk_config())
    }

    /// Queue a fault for the next submitted statement or batch (faults apply in order).
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push_back(fault);
    }

    /// Answer the next `times` requests of `operation` (`*` for any) with a 400
    /// `ThrottlingException`.
    pub fn throttle(&self, operation: &str, times: u32) {
        self.shared
            .lock()
            .throttles
            .push((operation.to_owned(), times));
    }

    /// Rows per `GetStatementResult` page (default 1000).
    pub fn set_page_size(&self, rows: usize) {
        self.shared.lock().page_size = rows.max(1);
    }

    /// The request bodies received for `operation`, throttled ones included, in order.
    pub fn requests(&self, operation: &str) -> Vec<Value> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|(op, _)| op == operation)
            .map(|(_, body)| body.clone())
            .collect()
    }

    pub fn request_count(&self, operation: &str) -> usize {
        self.requests(operation).len()
    }

    /// How many statements or batches were run on PostgreSQL.
    pub fn executions(&self) -> u32 {
        self.shared.lock().executions
    }

    /// The actual status of a statement (`FINISHED`, `STARTED`, …), however far its describes got.
    pub fn status(&self, id: &str) -> Option<&'static str> {
        let state = self.shared.lock();
        state.statements.get(id).map(|s| match &s.phase {
            Phase::Running | Phase::Hanging => Status::Started.as_str(),
            Phase::Done(d) => d.status.as_str(),
        })
    }

    /// Run SQL directly on PostgreSQL in the server's schema (setup and checks).
    pub async fn pg_execute(&self, sql: &str) -> Result<(), String> {
        let client = connect(&self.shared).await?;
        client.batch_execute(sql).await.map_err(|e| pg_error(&e))
    }

    /// Every row of `sql`, each column as text (`None` for NULL), run directly on PostgreSQL.
    pub async fn pg_rows(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        let client = connect(&self.shared).await?;
        let messages = client.simple_query(sql).await.map_err(|e| pg_error(&e))?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    /// The first column of the first row of `sql`, as text, run directly on PostgreSQL.
    pub async fn pg_scalar(&self, sql: &str) -> Result<Option<String>, String> {
        let client = connect(&self.shared).await?;
        let messages = client.simple_query(sql).await.map_err(|e| pg_error(&e))?;
        let first_row = messages.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        });
        Ok(first_row.and_then(|row| row.get(0)).map(str::to_owned))
    }
}

mod checks;
mod columnar;
mod copy;
mod execution;
mod http;
mod translate;

use checks::*;
use copy::*;
use execution::*;
use http::*;
use translate::*;

#[cfg(test)]
mod tests;
