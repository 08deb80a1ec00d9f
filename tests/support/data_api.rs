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
//! COPY options read: `MANIFEST`, `GZIP`, `FORMAT [AS] JSON`, `IAM_ROLE`, `CREDENTIALS`,
//! `ACCESS_KEY_ID`, `SECRET_ACCESS_KEY`, `SESSION_TOKEN`, `REGION`, `TIMEFORMAT`, `DATEFORMAT`
//! (ignored: the values are read as PostgreSQL reads them), `ACCEPTINVCHARS`, `BLANKSASNULL`,
//! `EMPTYASNULL`, `ACCEPTANYDATE`, `COMPUPDATE`, `STATUPDATE`, `MAXERROR 0`.
//!
//! Not covered: COPY of CSV, Parquet or JSONPaths files, `MAXERROR` above 0, `TRUNCATECOLUMNS`
//! and other COPY options; `stl_load_errors` itself; Redshift-only functions (`JSON_PARSE`,
//! `JSON_EXTRACT_PATH_TEXT`, …), `IDENTITY` columns and `MERGE … REMOVE DUPLICATES`; statements
//! that cannot run in a transaction block sent alone; the byte check of `CHAR(n)`, `TEXT`
//! (Redshift's `VARCHAR(256)`) and of tables made with `CREATE TABLE … (LIKE …)`; SUPER limits
//! of values written by INSERT or UPDATE; the exact wording of Redshift's errors beyond the
//! `ERROR:` line; sessions (`SessionId`), `ListStatements`, `DescribeTable`,
//! `GetStatementResultV2` and result size limits. A column named like a dropped keyword followed
//! by a word (`encode varchar`) is mangled.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
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

use crate::{unique_name, PgEnv, REGION};

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
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "test",
                "test",
                None,
                None,
                "loglift-tests",
            )))
            .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(20)))
            .endpoint_url(&self.url)
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

// ---------------------------------------------------------------------------------------------
// HTTP/1.1, as the SDK's client speaks it: keep-alive, `Content-Length` bodies.

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut length = 0usize;
        let mut target = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("x-amz-target") {
                    target = value.to_owned();
                }
            }
        }
        let (status, body) = if length > MAX_BODY {
            error(400, "ValidationException", "request body too large")
        } else {
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).await.is_err() {
                return;
            }
            handle(&shared, &target, &body).await
        };
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            _ => "Internal Server Error",
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nx-amzn-RequestId: {}\r\n\r\n",
            body.len(),
            new_uuid()
        );
        if write.write_all(head.as_bytes()).await.is_err()
            || write.write_all(body.as_bytes()).await.is_err()
        {
            return;
        }
    }
}

fn error(status: u16, kind: &str, message: &str) -> (u16, String) {
    let body = json!({"__type": kind, "message": message, "Message": message});
    (status, body.to_string())
}

fn not_found(id: &str, message: &str) -> (u16, String) {
    let body = json!({
        "__type": "ResourceNotFoundException",
        "message": message,
        "Message": message,
        "ResourceId": id,
    });
    (400, body.to_string())
}

fn ok(body: Value) -> (u16, String) {
    (200, body.to_string())
}

async fn handle(shared: &Arc<Shared>, target: &str, body: &[u8]) -> (u16, String) {
    let op = target.strip_prefix("RedshiftData.").unwrap_or(target);
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return error(400, "SerializationException", &e.to_string()),
    };
    {
        let mut state = shared.lock();
        state.requests.push((op.to_owned(), request.clone()));
        if let Some(entry) = state
            .throttles
            .iter_mut()
            .find(|(o, left)| (o == op || o == "*") && *left > 0)
        {
            entry.1 -= 1;
            return error(400, "ThrottlingException", "Rate exceeded");
        }
    }
    match op {
        "ExecuteStatement" | "BatchExecuteStatement" => submit(shared, op, &request),
        "DescribeStatement" => describe(shared, &request),
        "GetStatementResult" => get_result(shared, &request),
        "CancelStatement" => cancel(shared, &request),
        _ => error(
            400,
            "UnknownOperationException",
            &format!("{op} is not served by the test server"),
        ),
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A random UUID in the lowercase form the Data API uses.
fn new_uuid() -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u16(..0x1000),
        fastrand::u16(0x8000..0xc000),
        fastrand::u64(..1 << 48)
    )
}

fn str_field<'a>(request: &'a Value, name: &str) -> Option<&'a str> {
    request.get(name).and_then(Value::as_str)
}

fn submit(shared: &Arc<Shared>, op: &str, request: &Value) -> (u16, String) {
    let batch = op == "BatchExecuteStatement";
    let sqls: Vec<String> = if batch {
        request
            .get("Sqls")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        str_field(request, "Sql")
            .map(|s| vec![s.to_owned()])
            .unwrap_or_default()
    };
    if sqls.is_empty() || sqls.len() > MAX_BATCH {
        return error(
            400,
            "ValidationException",
            &format!("1 to {MAX_BATCH} SQL statements are needed"),
        );
    }
    if let Some(big) = sqls.iter().find(|s| s.len() > MAX_SQL_BYTES) {
        return error(
            400,
            "ValidationException",
            &format!("statement of {} bytes is over 100 KB", big.len()),
        );
    }
    let workgroup = str_field(request, "WorkgroupName");
    let cluster = str_field(request, "ClusterIdentifier");
    if workgroup.is_some() == cluster.is_some() {
        return error(
            400,
            "ValidationException",
            "exactly one of WorkgroupName and ClusterIdentifier is required",
        );
    }
    if workgroup.is_some() && request.get("DbUser").is_some() {
        return error(
            400,
            "ValidationException",
            "DbUser is for provisioned clusters",
        );
    }
    if str_field(request, "Database").is_none_or(str::is_empty) {
        return error(400, "ValidationException", "Database is required");
    }
    let mut params = Vec::new();
    for p in request
        .get("Parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match (str_field(p, "name"), str_field(p, "value")) {
            (Some(n), Some(v)) if !v.is_empty() => params.push((n.to_owned(), v.to_owned())),
            _ => {
                return error(
                    400,
                    "ValidationException",
                    "parameters need a name and a non-empty value",
                )
            }
        }
    }
    let mut echo = Map::new();
    for key in [
        "Database",
        "WorkgroupName",
        "ClusterIdentifier",
        "DbUser",
        "SecretArn",
    ] {
        if let Some(v) = request.get(key) {
            echo.insert(key.to_owned(), v.clone());
        }
    }
    let token = str_field(request, "ClientToken").map(str::to_owned);

    let mut state = shared.lock();
    if let Some(id) = token.as_ref().and_then(|t| state.tokens.get(t)) {
        let id = id.clone();
        if let Some(existing) = state.statements.get(&id) {
            let mut answer = existing.echo.clone();
            answer.insert("Id".to_owned(), json!(id));
            answer.insert("CreatedAt".to_owned(), json!(existing.created_at));
            return ok(Value::Object(answer));
        }
    }
    let id = new_uuid();
    let fault = state.faults.pop_front();
    let created_at = now_secs();
    let hang = fault == Some(Fault::Hang);
    state.statements.insert(
        id.clone(),
        Statement {
            sqls: sqls.clone(),
            batch,
            echo: echo.clone(),
            created_at,
            updated_at: created_at,
            describes: 0,
            phase: if hang { Phase::Hanging } else { Phase::Running },
            cancel_requested: false,
        },
    );
    if let Some(token) = token {
        state.tokens.insert(token, id.clone());
    }
    drop(state);
    if !hang {
        tokio::spawn(execute(
            Arc::clone(shared),
            id.clone(),
            sqls,
            params,
            fault,
            batch,
        ));
    }
    let mut answer = echo;
    answer.insert("Id".to_owned(), json!(id));
    answer.insert("CreatedAt".to_owned(), json!(created_at));
    ok(Value::Object(answer))
}

/// Split `uuid:N` into the statement id and N (0 for a bare id).
fn split_id(id: &str) -> (&str, usize) {
    match id.rsplit_once(':') {
        Some((base, n)) => match n.parse() {
            Ok(n) => (base, n),
            Err(_) => (id, 0),
        },
        None => (id, 0),
    }
}

fn describe(shared: &Arc<Shared>, request: &Value) -> (u16, String) {
    let Some(id) = str_field(request, "Id") else {
        return error(400, "ValidationException", "Id is required");
    };
    let (base, n) = split_id(id);
    let mut state = shared.lock();
    let Some(st) = state.statements.get_mut(base) else {
        return not_found(id, "Query does not exist.");
    };
    let mut answer = st.echo.clone();
    answer.insert("CreatedAt".to_owned(), json!(st.created_at));
    answer.insert("UpdatedAt".to_owned(), json!(st.updated_at));
    answer.insert("RedshiftPid".to_owned(), json!(1073741824));
    answer.insert("ResultSize".to_owned(), json!(-1));
    if n > 0 {
        // A sub-statement: its own state, without advancing the parent's.
        let sub = match &st.phase {
            Phase::Done(d) => d.subs.get(n - 1).cloned(),
            _ => st
                .sqls
                .get(n - 1)
                .map(|sql| Sub::ended(sql, Status::Started, None)),
        };
        let Some(sub) = sub else {
            return not_found(id, "Query does not exist.");
        };
        answer.insert("Id".to_owned(), json!(id));
        answer.extend(sub_fields(&sub));
        return ok(Value::Object(answer));
    }
    let step = st.describes;
    st.describes = st.describes.saturating_add(1);
    let visible = match (&st.phase, step) {
        (_, 0) => Status::Submitted,
        (Phase::Done(d), s) if s >= 2 => d.status,
        _ => Status::Started,
    };
    answer.insert("Id".to_owned(), json!(base));
    answer.insert("Status".to_owned(), json!(visible.as_str()));
    let done = match &st.phase {
        Phase::Done(d) if visible == d.status => Some(d),
        _ => None,
    };
    if !st.batch {
        answer.insert(
            "QueryString".to_owned(),
            json!(st.sqls.first().cloned().unwrap_or_default()),
        );
    }
    answer.insert(
        "HasResultSet".to_owned(),
        json!(done.is_some_and(|d| d.subs.iter().any(|s| s.has_result_set))),
    );
    let rows = match done {
        Some(d) if !st.batch => d.subs.first().map_or(-1, |s| s.result_rows),
        _ => -1,
    };
    answer.insert("ResultRows".to_owned(), json!(rows));
    answer.insert(
        "Duration".to_owned(),
        json!(done.map_or(-1, |d| d.duration_ns)),
    );
    if let Some(err) = done.and_then(|d| d.error.as_ref()) {
        answer.insert("Error".to_owned(), json!(err));
    }
    if st.batch {
        let subs: Vec<Value> = match done {
            Some(d) => d
                .subs
                .iter()
                .enumerate()
                .map(|(i, s)| sub_json(base, i, s, st.created_at))
                .collect(),
            None => st
                .sqls
                .iter()
                .enumerate()
                .map(|(i, sql)| {
                    sub_json(
                        base,
                        i,
                        &Sub::ended(sql, Status::Submitted, None),
                        st.created_at,
                    )
                })
                .collect(),
        };
        answer.insert("SubStatements".to_owned(), Value::Array(subs));
    }
    ok(Value::Object(answer))
}

fn sub_fields(sub: &Sub) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("Status".to_owned(), json!(sub.status.as_str()));
    m.insert("QueryString".to_owned(), json!(sub.sql));
    m.insert("ResultRows".to_owned(), json!(sub.result_rows));
    m.insert("HasResultSet".to_owned(), json!(sub.has_result_set));
    if let Some(err) = &sub.error {
        m.insert("Error".to_owned(), json!(err));
    }
    m
}

fn sub_json(base: &str, index: usize, sub: &Sub, created_at: f64) -> Value {
    let mut m = sub_fields(sub);
    m.insert("Id".to_owned(), json!(format!("{base}:{}", index + 1)));
    m.insert("CreatedAt".to_owned(), json!(created_at));
    m.insert("UpdatedAt".to_owned(), json!(now_secs()));
    m.insert("ResultSize".to_owned(), json!(-1));
    Value::Object(m)
}

fn get_result(shared: &Arc<Shared>, request: &Value) -> (u16, String) {
    const NO_RESULT: &str =
        "Query does not have result. Please check query status with DescribeStatement API.";
    let Some(id) = str_field(request, "Id") else {
        return error(400, "ValidationException", "Id is required");
    };
    let (base, n) = split_id(id);
    let state = shared.lock();
    let page_size = state.page_size;
    let Some(st) = state.statements.get(base) else {
        return not_found(id, "Query does not exist.");
    };
    let Phase::Done(done) = &st.phase else {
        return not_found(id, NO_RESULT);
    };
    if done.status != Status::Finished {
        return not_found(id, NO_RESULT);
    }
    let sub = match (n, st.batch) {
        (0, true) => {
            return error(
                400,
                "ValidationException",
                "a batch's results are read by sub-statement Id (uuid:N)",
            )
        }
        (0, false) => done.subs.first(),
        (n, _) => done.subs.get(n - 1),
    };
    let Some(sub) = sub.filter(|s| s.has_result_set) else {
        return not_found(id, NO_RESULT);
    };
    let offset: usize = match str_field(request, "NextToken") {
        None => 0,
        Some(token) => match token.parse() {
            Ok(o) => o,
            Err(_) => return error(400, "ValidationException", "invalid NextToken"),
        },
    };
    let records: Vec<Value> = sub
        .rows
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|r| Value::Array(r.clone()))
        .collect();
    let columns: Vec<Value> = sub
        .columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "label": c.name, "typeName": c.type_name, "nullable": 1,
                "isCaseSensitive": false, "isCurrency": false, "isSigned": false,
                "length": 0, "precision": 0, "scale": 0, "schemaName": "", "tableName": "",
            })
        })
        .collect();
    let mut answer = json!({
        "Records": records,
        "ColumnMetadata": columns,
        "TotalNumRows": sub.rows.len(),
    });
    let end = offset.saturating_add(page_size);
    if end < sub.rows.len() {
        if let Some(obj) = answer.as_object_mut() {
            obj.insert("NextToken".to_owned(), json!(end.to_string()));
        }
    }
    ok(answer)
}

fn cancel(shared: &Arc<Shared>, request: &Value) -> (u16, String) {
    let Some(id) = str_field(request, "Id") else {
        return error(400, "ValidationException", "Id is required");
    };
    let (base, _) = split_id(id);
    let mut state = shared.lock();
    let Some(st) = state.statements.get_mut(base) else {
        return not_found(id, "Query does not exist.");
    };
    match &st.phase {
        Phase::Hanging => {
            st.phase = Phase::Done(Done {
                status: Status::Aborted,
                error: None,
                subs: st
                    .sqls
                    .iter()
                    .map(|sql| Sub::ended(sql, Status::Aborted, None))
                    .collect(),
                duration_ns: -1,
            });
            st.updated_at = now_secs();
        }
        Phase::Running => st.cancel_requested = true,
        Phase::Done(d) => {
            return error(
                400,
                "ValidationException",
                &format!(
                    "Could not cancel a query that is already in {} state.",
                    d.status.as_str()
                ),
            )
        }
    }
    ok(json!({"Status": true}))
}

// ---------------------------------------------------------------------------------------------
// Execution on PostgreSQL.

async fn execute(
    shared: Arc<Shared>,
    id: String,
    sqls: Vec<String>,
    params: Vec<(String, String)>,
    fault: Option<Fault>,
    batch: bool,
) {
    let started = Instant::now();
    let mut done = run_on_pg(&shared, &id, &sqls, &params, fault.as_ref(), batch).await;
    done.duration_ns = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
    let mut state = shared.lock();
    state.executions += 1;
    if let Some(st) = state.statements.get_mut(&id) {
        st.phase = Phase::Done(done);
        st.updated_at = now_secs();
    }
}

fn failed(error: String, subs: Vec<Sub>) -> Done {
    Done {
        status: Status::Failed,
        error: Some(error),
        subs,
        duration_ns: -1,
    }
}

async fn run_on_pg(
    shared: &Arc<Shared>,
    id: &str,
    sqls: &[String],
    params: &[(String, String)],
    fault: Option<&Fault>,
    batch: bool,
) -> Done {
    let client = match connect(shared).await {
        Ok(c) => c,
        Err(e) => {
            let subs = sqls
                .iter()
                .map(|sql| Sub::ended(sql, Status::Aborted, None))
                .collect();
            return failed(format!("ERROR: could not connect to server: {e}"), subs);
        }
    };
    if let Err(e) = client.batch_execute("BEGIN").await {
        return failed(pg_error(&e), Vec::new());
    }
    let mut subs = Vec::with_capacity(sqls.len());
    for (i, sql) in sqls.iter().enumerate() {
        match run_one(shared, &client, sql, params, batch).await {
            Ok(sub) => subs.push(sub),
            Err(message) => {
                let _ = client.batch_execute("ROLLBACK").await;
                subs.push(Sub::ended(sql, Status::Failed, Some(message.clone())));
                subs.extend(
                    sqls.iter()
                        .skip(i + 1)
                        .map(|rest| Sub::ended(rest, Status::Aborted, None)),
                );
                return failed(message, subs);
            }
        }
    }
    let cancelled = shared
        .lock()
        .statements
        .get(id)
        .is_some_and(|s| s.cancel_requested);
    match fault {
        Some(Fault::Fail(message)) => {
            let _ = client.batch_execute("ROLLBACK").await;
            if let Some(last) = subs.last_mut() {
                last.status = Status::Failed;
                last.error = Some(message.clone());
            }
            return failed(message.clone(), subs);
        }
        Some(Fault::Abort) => {}
        _ if cancelled => {}
        _ => {
            return match client.batch_execute("COMMIT").await {
                Ok(()) => Done {
                    status: Status::Finished,
                    error: None,
                    subs,
                    duration_ns: -1,
                },
                Err(e) => {
                    let message = pg_error(&e);
                    if let Some(last) = subs.last_mut() {
                        last.status = Status::Failed;
                        last.error = Some(message.clone());
                    }
                    failed(message, subs)
                }
            };
        }
    }
    // Aborted (by fault or cancel): nothing applied.
    let _ = client.batch_execute("ROLLBACK").await;
    for sub in &mut subs {
        sub.status = Status::Aborted;
    }
    Done {
        status: Status::Aborted,
        error: None,
        subs,
        duration_ns: -1,
    }
}

async fn connect_plain(
    url: &str,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("connect to PostgreSQL: {e}"))?;
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, task))
}

/// A session: a new connection with the server's schema first on the search path.
async fn connect(shared: &Shared) -> Result<tokio_postgres::Client, String> {
    let (client, _task) = connect_plain(&shared.pg_url).await?;
    client
        .batch_execute(&format!(
            "SET search_path TO {}, public",
            quote_ident(&shared.schema)
        ))
        .await
        .map_err(|e| pg_error(&e))?;
    Ok(client)
}

/// An error as Redshift words it: `ERROR: message`, then the detail. A violated
/// [`varchar_constraint`] is Redshift's `value too long for type character varying(n)`.
fn pg_error(e: &tokio_postgres::Error) -> String {
    let varchar = e.as_db_error().and_then(|db| {
        let name = db.constraint()?.strip_prefix(VARCHAR_CHECK)?;
        let (n, column) = name.split_once('_')?;
        Some(format!(
            "ERROR: value too long for type character varying({n})\n  Detail: column {column} of {} holds more than {n} bytes (Data API test server check)",
            db.table().unwrap_or("?")
        ))
    });
    if let Some(message) = varchar {
        return message;
    }
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("ERROR: {}\n  Detail: {detail}", db.message()),
            None => format!("ERROR: {}", db.message()),
        },
        None => format!("ERROR: {e}"),
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Statements whose `ResultRows` is a count (others report -1).
fn counts_rows(first_word: &str) -> bool {
    [
        "INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "SELECT", "WITH", "VALUES", "TABLE",
    ]
    .iter()
    .any(|w| first_word.eq_ignore_ascii_case(w))
}

async fn run_one(
    shared: &Shared,
    client: &tokio_postgres::Client,
    sql: &str,
    params: &[(String, String)],
    in_batch: bool,
) -> Result<Sub, String> {
    let translated = translate(sql, params)?;
    let text = match &translated {
        Translated::Sql { text, .. } => Some(text.as_str()),
        Translated::Copy(_) => None,
    };
    let checked = check_statement(sql, text, in_batch)?;
    if let Some(query) = &checked.merge_duplicates {
        let messages = client.simple_query(query).await.map_err(|e| pg_error(&e))?;
        let duplicates = messages.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        });
        if duplicates.as_deref().is_some_and(|n| n != "0") {
            return Err(refuse(
                "Found multiple matches to update the same tuple.",
                "a target row is matched by more than one source row; Redshift's MERGE refuses that",
            ));
        }
    }
    match translated {
        Translated::Copy(spec) => {
            copy_from_s3(shared, client, &spec).await?;
            // As the real Data API has been reported to (aws/aws-sdk#333, #356): a COPY's
            // `ResultRows` is 0, whatever it loaded. The loader must not count on it.
            Ok(Sub {
                result_rows: 0,
                ..Sub::ended(sql, Status::Finished, None)
            })
        }
        Translated::Sql { text, first_word } => {
            let prepared = client.prepare(&text).await.map_err(|e| pg_error(&e))?;
            let types: Vec<Type> = prepared
                .columns()
                .iter()
                .map(|c| c.type_().clone())
                .collect();
            let columns: Vec<ColumnMeta> = prepared
                .columns()
                .iter()
                .map(|c| ColumnMeta {
                    name: c.name().to_owned(),
                    type_name: c.type_().name().to_owned(),
                })
                .collect();
            let messages = client.simple_query(&text).await.map_err(|e| pg_error(&e))?;
            let mut rows = Vec::new();
            let mut count = 0u64;
            for message in &messages {
                match message {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        rows.push(
                            (0..row.len())
                                .map(|i| field(row.get(i), types.get(i)))
                                .collect(),
                        );
                    }
                    tokio_postgres::SimpleQueryMessage::CommandComplete(n) => count = *n,
                    _ => {}
                }
            }
            let has_result_set = !columns.is_empty();
            let result_rows = if has_result_set {
                i64::try_from(rows.len()).unwrap_or(i64::MAX)
            } else if counts_rows(&first_word) {
                i64::try_from(count).unwrap_or(i64::MAX)
            } else {
                -1
            };
            Ok(Sub {
                result_rows,
                has_result_set,
                columns,
                rows,
                ..Sub::ended(sql, Status::Finished, None)
            })
        }
    }
}

/// A text value as the Data API types it.
fn field(value: Option<&str>, ty: Option<&Type>) -> Value {
    let Some(v) = value else {
        return json!({"isNull": true});
    };
    let is = |types: &[Type]| ty.is_some_and(|t| types.contains(t));
    if is(&[Type::INT2, Type::INT4, Type::INT8, Type::OID]) {
        if let Ok(n) = v.parse::<i64>() {
            return json!({"longValue": n});
        }
    } else if is(&[Type::FLOAT4, Type::FLOAT8]) {
        if let Some(x) = v.parse::<f64>().ok().filter(|x| x.is_finite()) {
            return json!({"doubleValue": x});
        }
    } else if is(&[Type::BOOL]) {
        return json!({"booleanValue": v == "t"});
    }
    json!({"stringValue": v})
}

// ---------------------------------------------------------------------------------------------
// COPY from S3.

#[derive(Debug, Clone, PartialEq, Eq)]
struct CopySpec {
    /// The table as written.
    table: String,
    columns: Option<Vec<String>>,
    source: String,
    manifest: bool,
    gzip: bool,
    ignore_case: bool,
}

fn s3_url(url: &str) -> Result<(String, String), String> {
    url.strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(b, k)| (b.to_owned(), k.to_owned()))
        .ok_or_else(|| format!("ERROR: invalid S3 URL {url:?}"))
}

async fn get_object(shared: &Shared, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
    match shared.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out
            .body
            .collect()
            .await
            .map(|b| Some(b.into_bytes().to_vec()))
            .map_err(|e| format!("ERROR: S3ServiceException: reading s3://{bucket}/{key}: {e}")),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
        Err(e) => Err(format!(
            "ERROR: S3ServiceException: s3://{bucket}/{key}: {}",
            aws_sdk_s3::error::DisplayErrorContext(e)
        )),
    }
}

/// The objects a COPY reads: (bucket, key, mandatory).
async fn copy_sources(
    shared: &Shared,
    spec: &CopySpec,
) -> Result<Vec<(String, String, bool)>, String> {
    let (bucket, key) = s3_url(&spec.source)?;
    if spec.manifest {
        let manifest = get_object(shared, &bucket, &key).await?.ok_or_else(|| {
            format!("ERROR: S3ServiceException:The specified key does not exist.,Status 404,Error NoSuchKey (manifest {})", spec.source)
        })?;
        let manifest: Value = serde_json::from_slice(&manifest)
            .map_err(|e| format!("ERROR: Manifest file is not in correct json format: {e}"))?;
        let entries = manifest
            .get("entries")
            .and_then(Value::as_array)
            .ok_or("ERROR: Manifest file is not in correct json format: no entries")?;
        let mut sources = Vec::new();
        for entry in entries {
            let url = str_field(entry, "url")
                .ok_or("ERROR: Manifest file is not in correct json format: entry without url")?;
            let (b, k) = s3_url(url)?;
            let mandatory = entry
                .get("mandatory")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            sources.push((b, k, mandatory));
        }
        Ok(sources)
    } else {
        let mut sources = Vec::new();
        let mut continuation = None;
        loop {
            let page = shared
                .s3
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(&key)
                .set_continuation_token(continuation.take())
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "ERROR: S3ServiceException: {}",
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    )
                })?;
            for object in page.contents() {
                if let Some(k) = object.key() {
                    sources.push((bucket.clone(), k.to_owned(), true));
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => continuation = Some(t.to_owned()),
                _ => break,
            }
        }
        if sources.is_empty() {
            return Err(format!(
                "ERROR: The specified S3 prefix '{key}' does not exist"
            ));
        }
        Ok(sources)
    }
}

/// The largest JSON object COPY reads: "4 MB" (*Using COPY to load data into SUPER columns*),
/// read generously as 4 MiB so the server is never stricter than Redshift.
const MAX_COPY_JSON_OBJECT: usize = 4 * 1024 * 1024;
/// The longest string inside a SUPER value (*Limitations – SUPER*, without
/// `enable_large_strings_opt_in`), and the largest SUPER object.
const MAX_SUPER_STRING: usize = 65_535;
const MAX_SUPER_OBJECT: usize = 16 * 1024 * 1024;

/// Why Redshift could not load `value` into a SUPER column, if it could not.
fn super_value_problem(value: &Value) -> Option<String> {
    fn long_string(value: &Value) -> Option<usize> {
        let over = |s: &str| (s.len() > MAX_SUPER_STRING).then_some(s.len());
        match value {
            Value::String(s) => over(s),
            Value::Array(items) => items.iter().find_map(long_string),
            Value::Object(map) => map
                .iter()
                .find_map(|(k, v)| over(k).or_else(|| long_string(v))),
            _ => None,
        }
    }
    if let Some(n) = long_string(value) {
        return Some(format!(
            "a string of {n} bytes in a SUPER value, over {MAX_SUPER_STRING}"
        ));
    }
    let size = value.to_string().len();
    (size > MAX_SUPER_OBJECT)
        .then(|| format!("a SUPER value of {size} bytes, over {MAX_SUPER_OBJECT}"))
}

/// Append one field in PostgreSQL's COPY text format.
fn push_copy_field(out: &mut String, value: Option<&Value>) {
    let text = match value {
        None | Some(Value::Null) => {
            out.push_str("\\N");
            return;
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
}

async fn copy_from_s3(
    shared: &Shared,
    client: &tokio_postgres::Client,
    spec: &CopySpec,
) -> Result<i64, String> {
    let load_error = |detail: &str| {
        format!(
            "ERROR: Load into table '{}' failed. Check 'stl_load_errors' system table for details.\n  Detail: {detail}",
            spec.table.trim_matches('"')
        )
    };
    let select = match &spec.columns {
        Some(c) => c
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", "),
        None => "*".to_owned(),
    };
    let prepared = client
        .prepare(&format!("SELECT {select} FROM {} LIMIT 0", spec.table))
        .await
        .map_err(|e| pg_error(&e))?;
    let columns: Vec<String> = match &spec.columns {
        Some(c) => c.clone(),
        None => prepared
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect(),
    };
    // SUPER columns (JSONB here) and their value limits.
    let is_super: Vec<bool> = prepared
        .columns()
        .iter()
        .map(|c| *c.type_() == Type::JSONB)
        .collect();
    let mut data = String::new();
    for (bucket, key, mandatory) in copy_sources(shared, spec).await? {
        let Some(bytes) = get_object(shared, &bucket, &key).await? else {
            if mandatory {
                return Err(format!("ERROR: S3ServiceException:The specified key does not exist.,Status 404,Error NoSuchKey (mandatory manifest entry s3://{bucket}/{key})"));
            }
            continue;
        };
        let text = if spec.gzip {
            if loglift_core::compress::sniff(&bytes) != loglift_core::compress::Compression::Gzip {
                return Err(load_error(&format!(
                    "s3://{bucket}/{key}: gzip: invalid header"
                )));
            }
            loglift_core::compress::decompress_within(&bytes, MAX_OBJECT)
                .map_err(|e| load_error(&format!("s3://{bucket}/{key}: {e}")))?
                .into_owned()
        } else {
            bytes
        };
        let mut stream = serde_json::Deserializer::from_slice(&text).into_iter::<Value>();
        let mut line = 0usize;
        let mut object_start = 0usize;
        while let Some(value) = stream.next() {
            let object_end = stream.byte_offset();
            let raw_bytes = text
                .get(object_start..object_end)
                .map_or(0, |b| b.trim_ascii().len());
            object_start = object_end;
            let value = value.map_err(|e| {
                load_error(&format!("s3://{bucket}/{key} object {}: {e}", line + 1))
            })?;
            if raw_bytes > MAX_COPY_JSON_OBJECT {
                return Err(load_error(&format!(
                    "s3://{bucket}/{key} object {}: a JSON object of {raw_bytes} bytes, over the {MAX_COPY_JSON_OBJECT} COPY reads (Data API test server check)",
                    line + 1
                )));
            }
            let Value::Object(object) = value else {
                return Err(load_error(&format!(
                    "s3://{bucket}/{key} object {}: not a JSON object",
                    line + 1
                )));
            };
            for (i, column) in columns.iter().enumerate() {
                if i > 0 {
                    data.push('\t');
                }
                let found = object.get(column).or_else(|| {
                    spec.ignore_case
                        .then(|| {
                            object
                                .iter()
                                .find(|(k, _)| k.to_lowercase() == column.to_lowercase())
                                .map(|(_, v)| v)
                        })
                        .flatten()
                });
                if is_super.get(i).copied().unwrap_or(false) {
                    if let Some(why) = found.and_then(super_value_problem) {
                        return Err(load_error(&format!(
                            "s3://{bucket}/{key} object {}: column {column}: {why} (Data API test server check)",
                            line + 1
                        )));
                    }
                }
                push_copy_field(&mut data, found);
            }
            data.push('\n');
            line += 1;
        }
    }
    let column_list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let copy = format!(
        "COPY {} ({}) FROM STDIN",
        spec.table,
        column_list.join(", ")
    );
    let sink = client
        .copy_in::<_, bytes::Bytes>(&copy)
        .await
        .map_err(|e| load_error(&pg_error(&e)))?;
    let mut sink = std::pin::pin!(sink);
    sink.send(bytes::Bytes::from(data))
        .await
        .map_err(|e| load_error(&pg_error(&e)))?;
    let rows = sink
        .as_mut()
        .finish()
        .await
        .map_err(|e| load_error(&pg_error(&e)))?;
    Ok(i64::try_from(rows).unwrap_or(i64::MAX))
}

// ---------------------------------------------------------------------------------------------
// Redshift's rules, checked before PostgreSQL runs anything (the module docs' second table).

/// What a statement needs at run time besides its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Checked {
    /// A MERGE: a query counting the target rows more than one source row matches.
    merge_duplicates: Option<String>,
}

/// A refusal shaped like Redshift's error (`ERROR: …`), then what the test server checked.
fn refuse(redshift: &str, detail: &str) -> String {
    format!("ERROR: {redshift}\n  Detail: {detail} (Data API test server check)")
}

/// The statement kinds Redshift refuses inside a transaction block (a whole
/// BatchExecuteStatement is one).
fn no_transaction_block(sig: &[&Tok]) -> Option<&'static str> {
    let w = |i: usize, word: &str| sig.get(i).is_some_and(|t| t.is_word(word));
    if w(0, "VACUUM") {
        Some("VACUUM")
    } else if w(0, "CREATE") && w(1, "DATABASE") {
        Some("CREATE DATABASE")
    } else if w(0, "DROP") && w(1, "DATABASE") {
        Some("DROP DATABASE")
    } else if w(0, "CREATE") && w(1, "EXTERNAL") && w(2, "TABLE") {
        Some("CREATE EXTERNAL TABLE")
    } else if w(0, "ALTER") && w(1, "TABLE") {
        let rest = || sig.iter().skip(3);
        if rest().any(|t| t.is_word("APPEND")) {
            Some("ALTER TABLE APPEND")
        } else if rest().any(|t| t.is_word("ALTER")) && rest().any(|t| t.is_word("TYPE")) {
            Some("ALTER TABLE ALTER COLUMN")
        } else {
            None
        }
    } else {
        None
    }
}

/// Check `sql` (as sent) against Redshift's rules; `translated` is the PostgreSQL text (none
/// for a COPY from S3, checked by [`parse_copy`]). `in_batch`: inside BatchExecuteStatement.
fn check_statement(sql: &str, translated: Option<&str>, in_batch: bool) -> Result<Checked, String> {
    let toks = tokenize(sql);
    let sig: Vec<&Tok> = toks
        .iter()
        .filter(|t| !matches!(t, Tok::Space(_)))
        .collect();
    if let Some(what) = no_transaction_block(&sig) {
        return Err(if in_batch {
            refuse(
                &format!("{what} cannot run inside a transaction block"),
                "BatchExecuteStatement runs its statements as one transaction",
            )
        } else {
            format!("ERROR: {what} is not covered by the Data API test server")
        });
    }
    if sig.first().is_some_and(|t| t.is_word("LOCK")) {
        // LOCK [ TABLE ] table_name [, ...]: always ACCESS EXCLUSIVE, no mode, no NOWAIT.
        if let Some(bad) = sig.iter().skip(1).find(|t| {
            ["IN", "MODE", "NOWAIT", "ONLY"]
                .iter()
                .any(|w| t.is_word(w))
        }) {
            return Err(refuse(
                &format!("syntax error at or near \"{}\"", bad.text()),
                "Redshift's LOCK takes table names only (always ACCESS EXCLUSIVE)",
            ));
        }
        return Ok(Checked::default());
    }
    for pair in sig.windows(2) {
        if let [a, b] = pair {
            if a.is_word("DISTINCT") && b.is_word("ON") {
                return Err(refuse(
                    "syntax error at or near \"ON\"",
                    "Redshift has no SELECT DISTINCT ON",
                ));
            }
        }
    }
    match translated {
        Some(text) => check_parsed(text),
        None => Ok(Checked::default()),
    }
}

/// The checks on sqlparser's Redshift-dialect parse of the translated text (which differs from
/// what was sent only by the mapping table: same statement shape).
fn check_parsed(text: &str) -> Result<Checked, String> {
    let statements = Parser::parse_sql(&RedshiftSqlDialect {}, text).map_err(|e| {
        refuse(
            &format!("syntax error: {e}"),
            "sqlparser's Redshift dialect cannot read the statement, so nothing of it is checked or run",
        )
    })?;
    let statement = match statements.as_slice() {
        [one] => one,
        _ => {
            return Err(format!(
                "ERROR: {} statements in one SQL text are not covered by the Data API test server",
                statements.len()
            ))
        }
    };
    let returning = || {
        Err(refuse(
            "syntax error at or near \"RETURNING\"",
            "Redshift has no RETURNING",
        ))
    };
    match statement {
        Parsed::Insert(insert) => {
            if insert.on.is_some() {
                return Err(refuse(
                    "syntax error at or near \"ON\"",
                    "Redshift has no INSERT … ON CONFLICT (and enforces no unique key to conflict on)",
                ));
            }
            if insert.returning.is_some() {
                return returning();
            }
        }
        Parsed::Update {
            returning: Some(_), ..
        } => return returning(),
        Parsed::Delete(delete) if delete.returning.is_some() => return returning(),
        Parsed::CreateIndex(_) => {
            return Err(refuse(
                "syntax error at or near \"INDEX\"",
                "Redshift has no indexes (sort and distribution keys instead)",
            ))
        }
        Parsed::Merge {
            table,
            source,
            on,
            clauses,
            ..
        } => return check_merge(table, source, on, clauses),
        _ => {}
    }
    Ok(Checked::default())
}

fn is_column(e: &Expr) -> bool {
    match e {
        Expr::Nested(inner) => is_column(inner),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        _ => false,
    }
}

/// Whether `e` is `col = col [AND col = col …]`.
fn equality_predicates(e: &Expr) -> bool {
    match e {
        Expr::Nested(inner) => equality_predicates(inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => equality_predicates(left) && equality_predicates(right),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => is_column(left) && is_column(right),
        _ => false,
    }
}

/// Redshift's MERGE: `MERGE INTO target USING source [[AS] alias] ON match_condition WHEN
/// MATCHED THEN {UPDATE SET … | DELETE} WHEN NOT MATCHED THEN INSERT …` (*MERGE*): the target
/// takes no alias, the source is a table, the match condition is equality predicates between
/// source and target columns, both clauses without extra conditions; and a target row may not be
/// matched by more than one source row (checked when it runs, by the query returned).
fn check_merge(
    table: &TableFactor,
    source: &TableFactor,
    on: &Expr,
    clauses: &[MergeClause],
) -> Result<Checked, String> {
    let target = match table {
        TableFactor::Table {
            name, alias: None, ..
        } => name,
        TableFactor::Table {
            alias: Some(alias), ..
        } => {
            return Err(refuse(
                &format!("syntax error at or near \"{}\"", alias.name),
                "Redshift's MERGE target table takes no alias",
            ))
        }
        _ => {
            return Err(refuse(
                "syntax error at or near \"(\"",
                "Redshift's MERGE target is a table",
            ))
        }
    };
    let source = match source {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => match alias {
            Some(alias) => format!("{name} AS {alias}"),
            None => name.to_string(),
        },
        _ => {
            return Err(refuse(
                "syntax error at or near \"(\"",
                "Redshift's MERGE source_table can't be a view or a subquery",
            ))
        }
    };
    if !equality_predicates(on) {
        return Err(refuse(
            &format!("MERGE match condition {on} is not supported"),
            "Redshift's match_condition is equality predicates between source and target columns",
        ));
    }
    let shape_ok = match clauses {
        [matched, not_matched] => {
            matched.clause_kind == MergeClauseKind::Matched
                && matched.predicate.is_none()
                && matches!(
                    matched.action,
                    MergeAction::Update { .. } | MergeAction::Delete
                )
                && not_matched.clause_kind == MergeClauseKind::NotMatched
                && not_matched.predicate.is_none()
                && matches!(not_matched.action, MergeAction::Insert(_))
        }
        _ => false,
    };
    if !shape_ok {
        let redshift = if clauses.len() == 1 {
            "MERGE statement with a single WHEN clause is not enabled.".to_owned()
        } else {
            "syntax error at or near \"WHEN\"".to_owned()
        };
        return Err(refuse(
            &redshift,
            "Redshift's MERGE takes WHEN MATCHED THEN UPDATE|DELETE then WHEN NOT MATCHED THEN INSERT, without AND conditions",
        ));
    }
    Ok(Checked {
        merge_duplicates: Some(format!(
            "SELECT count(*) FROM (SELECT 1 FROM {target} JOIN {source} ON {on} GROUP BY {target}.ctid HAVING count(*) > 1) AS loglift_duplicate_matches"
        )),
    })
}

// ---------------------------------------------------------------------------------------------
// Translation: a small tokenizer and the mapping table of the module docs.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    /// A string literal, quotes included.
    Str(String),
    /// A quoted identifier, quotes included.
    Ident(String),
    /// Whitespace and comments.
    Space(String),
    /// `:name`, without the colon.
    Param(String),
    Punct(String),
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Word(s) | Tok::Str(s) | Tok::Ident(s) | Tok::Space(s) | Tok::Punct(s) => s.clone(),
            Tok::Param(name) => format!(":{name}"),
        }
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self, Tok::Word(w) if w.eq_ignore_ascii_case(word))
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self, Tok::Punct(x) if x == p)
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

fn tokenize(sql: &str) -> Vec<Tok> {
    let chars: Vec<char> = sql.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        let start = i;
        let tok = if c.is_whitespace() {
            while at(i).is_some_and(char::is_whitespace) {
                i += 1;
            }
            Tok::Space(chars_text(&chars, start, i))
        } else if c == '-' && at(i + 1) == Some('-') {
            while at(i).is_some_and(|c| c != '\n') {
                i += 1;
            }
            Tok::Space(chars_text(&chars, start, i))
        } else if c == '/' && at(i + 1) == Some('*') {
            i += 2;
            while at(i).is_some() && !(at(i) == Some('*') && at(i + 1) == Some('/')) {
                i += 1;
            }
            i = (i + 2).min(chars.len());
            Tok::Space(chars_text(&chars, start, i))
        } else if c == '\'' || c == '"' {
            i += 1;
            loop {
                match at(i) {
                    None => break,
                    Some(q) if q == c => {
                        i += 1;
                        if at(i) == Some(c) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    Some(_) => i += 1,
                }
            }
            let text = chars_text(&chars, start, i);
            if c == '\'' {
                Tok::Str(text)
            } else {
                Tok::Ident(text)
            }
        } else if c == ':' && at(i + 1) == Some(':') {
            i += 2;
            Tok::Punct("::".to_owned())
        } else if c == ':' && at(i + 1).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            i += 1;
            while at(i).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                i += 1;
            }
            Tok::Param(chars_text(&chars, start + 1, i))
        } else if is_word_char(c) {
            while at(i).is_some_and(is_word_char) {
                i += 1;
            }
            Tok::Word(chars_text(&chars, start, i))
        } else {
            i += 1;
            Tok::Punct(c.to_string())
        };
        toks.push(tok);
    }
    toks
}

fn chars_text(chars: &[char], from: usize, to: usize) -> String {
    chars
        .iter()
        .skip(from)
        .take(to.saturating_sub(from))
        .collect()
}

/// The index of the next token after `i` that is not space.
fn next_sig(toks: &[Tok], i: usize) -> Option<usize> {
    (i + 1..toks.len()).find(|&j| !matches!(toks.get(j), Some(Tok::Space(_))))
}

/// The index of the `)` closing the `(` at `open`.
fn closing_paren(toks: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, tok) in toks.iter().enumerate().skip(open) {
        if tok.is_punct("(") {
            depth += 1;
        } else if tok.is_punct(")") {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return Some(j);
            }
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Translated {
    Sql { text: String, first_word: String },
    Copy(CopySpec),
}

/// The index of the last token before `i` that is not space.
fn prev_sig(toks: &[Tok], i: usize) -> Option<usize> {
    (0..i)
        .rev()
        .find(|&j| !matches!(toks.get(j), Some(Tok::Space(_))))
}

/// The name of the CHECK constraint standing for `VARCHAR(n)`'s byte limit on `column`
/// (PostgreSQL's `VARCHAR(n)` counts characters; Redshift's counts bytes).
fn varchar_constraint(n: u32, column: &str) -> String {
    let column: String = column
        .trim_matches('"')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let name = format!("{VARCHAR_CHECK}{n}_{column}");
    name.chars().take(63).collect()
}

/// The prefix of [`varchar_constraint`] names.
const VARCHAR_CHECK: &str = "rs_varchar_";

/// Drop the constraint clause starting at `toks[i]` (`UNIQUE`, `PRIMARY KEY`, `FOREIGN KEY`,
/// `REFERENCES`, with their column lists and a `CONSTRAINT name` before them); returns the index
/// of its last token. A table constraint also takes the comma before it out of `out`.
fn drop_constraint(toks: &[Tok], i: usize, out: &mut Vec<Tok>) -> usize {
    let mut end = i;
    let skip_list = |from: usize| -> usize {
        match next_sig(toks, from) {
            Some(open) if toks.get(open).is_some_and(|t| t.is_punct("(")) => {
                closing_paren(toks, open).unwrap_or(open)
            }
            _ => from,
        }
    };
    let tok = toks.get(i);
    if tok.is_some_and(|t| t.is_word("PRIMARY") || t.is_word("FOREIGN")) {
        end = next_sig(toks, end).unwrap_or(end); // KEY
    }
    let table_level = next_sig(toks, end)
        .and_then(|j| toks.get(j))
        .is_some_and(|t| t.is_punct("("))
        && !tok.is_some_and(|t| t.is_word("REFERENCES"));
    if tok.is_some_and(|t| t.is_word("REFERENCES")) {
        end = next_sig(toks, end).unwrap_or(end); // the table
    }
    end = skip_list(end);
    if tok.is_some_and(|t| t.is_word("FOREIGN")) {
        // REFERENCES table [(cols)]
        if let Some(r) =
            next_sig(toks, end).filter(|&j| toks.get(j).is_some_and(|t| t.is_word("REFERENCES")))
        {
            end = next_sig(toks, r).unwrap_or(r);
            end = skip_list(end);
        }
    }
    // `CONSTRAINT name` before it, then (table level) the comma.
    let trim = |out: &mut Vec<Tok>| {
        while matches!(out.last(), Some(Tok::Space(_))) {
            out.pop();
        }
    };
    trim(out);
    if matches!(out.last(), Some(Tok::Word(_) | Tok::Ident(_))) {
        let name = out.len().saturating_sub(1);
        if prev_sig(out, name)
            .and_then(|j| out.get(j))
            .is_some_and(|t| t.is_word("CONSTRAINT"))
        {
            let keep = prev_sig(out, name).unwrap_or(name);
            out.truncate(keep);
            trim(out);
        }
    }
    if table_level && out.last().is_some_and(|t| t.is_punct(",")) {
        out.pop();
    }
    out.push(Tok::Space(" ".to_owned()));
    end
}

fn translate(sql: &str, params: &[(String, String)]) -> Result<Translated, String> {
    let toks = tokenize(sql);
    let sig: Vec<&Tok> = toks
        .iter()
        .filter(|t| !matches!(t, Tok::Space(_)))
        .collect();
    let first_word = match sig.first() {
        Some(Tok::Word(w)) => w.clone(),
        _ => String::new(),
    };
    if first_word.eq_ignore_ascii_case("COPY") {
        if let Some(spec) = parse_copy(&toks)? {
            return Ok(Translated::Copy(spec));
        }
    }
    // Table DDL: CREATE [TEMP] TABLE, ALTER TABLE.
    let table_ddl = (first_word.eq_ignore_ascii_case("CREATE")
        || first_word.eq_ignore_ascii_case("ALTER"))
        && sig.iter().take(4).any(|t| t.is_word("TABLE"));
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while let Some(tok) = toks.get(i) {
        let next = next_sig(&toks, i);
        let next_tok = next.and_then(|j| toks.get(j));
        let word = |w: &str| tok.is_word(w);
        if word("SUPER") {
            out.push(Tok::Word("JSONB".to_owned()));
        } else if word("GETDATE") {
            out.push(Tok::Word("now".to_owned()));
        } else if word("svv_columns") {
            out.push(Tok::Word("information_schema.columns".to_owned()));
        } else if word("SYSDATE") {
            out.push(Tok::Word("now()".to_owned()));
        } else if ((word("DISTSTYLE") || word("ENCODE")) && matches!(next_tok, Some(Tok::Word(_))))
            || (word("BACKUP") && next_tok.is_some_and(|t| t.is_word("YES") || t.is_word("NO")))
        {
            // The keyword and its argument are dropped.
            i = next.unwrap_or(i);
        } else if (word("COMPOUND") || word("INTERLEAVED"))
            && next_tok.is_some_and(|t| t.is_word("SORTKEY"))
        {
            // dropped; SORTKEY follows
        } else if word("SORTKEY") || word("DISTKEY") {
            if let Some(open) = next.filter(|_| next_tok.is_some_and(|t| t.is_punct("("))) {
                i = closing_paren(&toks, open).unwrap_or(open);
            }
        } else if table_ddl
            && (word("UNIQUE")
                || word("REFERENCES")
                || (word("PRIMARY") && next_tok.is_some_and(|t| t.is_word("KEY")))
                || (word("FOREIGN") && next_tok.is_some_and(|t| t.is_word("KEY"))))
        {
            // Redshift accepts these and enforces none of them: neither does the translation.
            i = drop_constraint(&toks, i, &mut out);
        } else if word("VARCHAR") && next_tok.is_some_and(|t| t.is_punct("(")) {
            let open = next.unwrap_or(i);
            let close = closing_paren(&toks, open).unwrap_or(open);
            let inner: Vec<&Tok> = toks
                .iter()
                .take(close)
                .skip(open + 1)
                .filter(|t| !matches!(t, Tok::Space(_)))
                .collect();
            let n: Option<u32> = match inner.as_slice() {
                [t] if t.is_word("MAX") => Some(65_535),
                [Tok::Word(w)] => w.parse().ok(),
                _ => None,
            };
            let Some(n) = n else {
                return Err(format!(
                    "ERROR: syntax error at or near \"{}\"",
                    inner.first().map_or(String::new(), |t| t.text())
                ));
            };
            if !(1..=65_535).contains(&n) {
                return Err(format!(
                    "ERROR: length for type varchar cannot exceed 65535\n  Detail: VARCHAR({n})"
                ));
            }
            out.push(Tok::Word(format!("VARCHAR({n})")));
            // A column definition: `( name VARCHAR(n)`, `, name VARCHAR(n)`, `COLUMN name …`.
            let name = prev_sig(&toks, i).filter(|_| table_ddl);
            let before = name
                .and_then(|j| prev_sig(&toks, j))
                .and_then(|j| toks.get(j));
            if let Some(column @ (Tok::Ident(_) | Tok::Word(_))) = name.and_then(|j| toks.get(j)) {
                if before.is_some_and(|t| {
                    t.is_punct("(") || t.is_punct(",") || t.is_word("COLUMN") || t.is_word("ADD")
                }) {
                    out.push(Tok::Space(" ".to_owned()));
                    out.push(Tok::Word(format!(
                        "CONSTRAINT \"{}\" CHECK (octet_length({}) <= {n})",
                        varchar_constraint(n, &column.text()),
                        column.text()
                    )));
                }
            }
            i = close;
        } else if let Tok::Param(name) = tok {
            match params.iter().find(|(n, _)| n == name) {
                Some((_, value)) => out.push(Tok::Str(quote_literal(value))),
                None => out.push(tok.clone()),
            }
        } else {
            out.push(tok.clone());
        }
        i += 1;
    }
    Ok(Translated::Sql {
        text: out.iter().map(Tok::text).collect(),
        first_word,
    })
}

/// Parse `COPY table [(cols)] FROM 's3://…' options`; `None` when the source is not S3.
fn parse_copy(toks: &[Tok]) -> Result<Option<CopySpec>, String> {
    let sig: Vec<&Tok> = toks
        .iter()
        .filter(|t| !matches!(t, Tok::Space(_)))
        .collect();
    let mut it = sig.iter().skip(1).peekable();
    let mut table = String::new();
    while let Some(tok) = it.peek() {
        if tok.is_word("FROM") || tok.is_punct("(") {
            break;
        }
        table.push_str(&tok.text());
        it.next();
    }
    let mut columns = None;
    if it.peek().is_some_and(|t| t.is_punct("(")) {
        it.next();
        let mut list = Vec::new();
        for tok in it.by_ref() {
            match tok {
                Tok::Punct(p) if p == ")" => break,
                Tok::Punct(p) if p == "," => {}
                Tok::Word(w) => list.push(w.to_lowercase()),
                Tok::Ident(q) => list.push(q.trim_matches('"').replace("\"\"", "\"")),
                other => return Err(format!("ERROR: syntax error at or near {}", other.text())),
            }
        }
        columns = Some(list);
    }
    if !it.next().is_some_and(|t| t.is_word("FROM")) {
        return Err("ERROR: syntax error: COPY without FROM".to_owned());
    }
    let source = match it.next() {
        Some(Tok::Str(s)) if s.starts_with("'s3://") => s.trim_matches('\'').replace("''", "'"),
        _ => return Ok(None),
    };
    let mut spec = CopySpec {
        table,
        columns,
        source,
        manifest: false,
        gzip: false,
        ignore_case: false,
    };
    let mut json = false;
    let mut seen: Vec<String> = Vec::new();
    while let Some(tok) = it.next() {
        let Tok::Word(word) = tok else {
            if tok.is_punct(";") {
                continue;
            }
            return Err(format!(
                "ERROR: COPY option {} is not covered by the Data API test server",
                tok.text()
            ));
        };
        let upper = word.to_ascii_uppercase();
        // `FORMAT AS JSON`: FORMAT and AS are noise words before the format.
        if !matches!(upper.as_str(), "FORMAT" | "AS") {
            if seen.contains(&upper) {
                return Err(refuse(
                    "conflicting or redundant options",
                    &format!("COPY option {upper} is given twice"),
                ));
            }
            seen.push(upper.clone());
        }
        match upper.as_str() {
            "MANIFEST" => spec.manifest = true,
            "GZIP" => spec.gzip = true,
            "FORMAT" | "AS" => {}
            "JSON" => {
                json = true;
                if let Some(Tok::Str(arg)) = it.peek() {
                    let arg = arg.trim_matches('\'').to_ascii_lowercase();
                    match arg.as_str() {
                        "auto" => {}
                        "auto ignorecase" => spec.ignore_case = true,
                        other => {
                            return Err(format!(
                                "ERROR: COPY JSON '{other}' (JSONPaths) is not covered by the Data API test server"
                            ))
                        }
                    }
                    it.next();
                }
            }
            "IAM_ROLE" | "CREDENTIALS" | "ACCESS_KEY_ID" | "SECRET_ACCESS_KEY"
            | "SESSION_TOKEN" | "REGION" | "TIMEFORMAT" | "DATEFORMAT" => {
                if it.peek().is_some_and(|t| t.is_word("AS")) {
                    it.next();
                }
                it.next();
            }
            "ACCEPTINVCHARS" => {
                if it.peek().is_some_and(|t| t.is_word("AS")) {
                    it.next();
                }
                if matches!(it.peek(), Some(Tok::Str(_))) {
                    it.next();
                }
            }
            "BLANKSASNULL" | "EMPTYASNULL" | "ACCEPTANYDATE" => {}
            "COMPUPDATE" | "STATUPDATE" => {
                if it.peek().is_some_and(|t| {
                    ["ON", "OFF", "TRUE", "FALSE", "PRESET"]
                        .iter()
                        .any(|w| t.is_word(w))
                }) {
                    it.next();
                }
            }
            "MAXERROR" => {
                if it.peek().is_some_and(|t| t.is_word("AS")) {
                    it.next();
                }
                if !it.next().is_some_and(|t| t.is_word("0")) {
                    return Err(
                        "ERROR: COPY MAXERROR above 0 is not covered by the Data API test server"
                            .to_owned(),
                    );
                }
            }
            _ => {
                return Err(format!(
                    "ERROR: COPY option {word} is not covered by the Data API test server"
                ))
            }
        }
    }
    if !json {
        return Err(
            "ERROR: COPY without FORMAT AS JSON is not covered by the Data API test server"
                .to_owned(),
        );
    }
    check_copy_authorization(&seen)?;
    Ok(Some(spec))
}

/// COPY's authorization (*Authorization parameters*): an IAM role (`IAM_ROLE`), or key-based
/// credentials (`ACCESS_KEY_ID` with `SECRET_ACCESS_KEY`, `SESSION_TOKEN` only with them), or
/// the `CREDENTIALS` string; exactly one of the three.
fn check_copy_authorization(seen: &[String]) -> Result<(), String> {
    let has = |o: &str| seen.iter().any(|s| s == o);
    let kinds = [
        has("IAM_ROLE"),
        has("ACCESS_KEY_ID") || has("SECRET_ACCESS_KEY") || has("SESSION_TOKEN"),
        has("CREDENTIALS"),
    ];
    let given = kinds.iter().filter(|k| **k).count();
    if given == 0 {
        return Err(refuse(
            "COPY needs an IAM_ROLE, CREDENTIALS or ACCESS_KEY_ID and SECRET_ACCESS_KEY",
            "COPY without authorization",
        ));
    }
    if given > 1 {
        return Err(refuse(
            "conflicting or redundant options",
            "COPY takes one kind of authorization: IAM_ROLE, CREDENTIALS, or ACCESS_KEY_ID and SECRET_ACCESS_KEY",
        ));
    }
    if (has("ACCESS_KEY_ID") || has("SECRET_ACCESS_KEY") || has("SESSION_TOKEN"))
        && !(has("ACCESS_KEY_ID") && has("SECRET_ACCESS_KEY"))
    {
        return Err(refuse(
            "ACCESS_KEY_ID and SECRET_ACCESS_KEY go together",
            "COPY with half a key pair",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn squeeze(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The translation, whitespace runs squeezed (dropped clauses leave their spaces).
    fn sql(text: &str) -> String {
        match translate(text, &[]).unwrap() {
            Translated::Sql { text, .. } => squeeze(&text),
            Translated::Copy(spec) => panic!("not plain SQL: {spec:?}"),
        }
    }

    #[test]
    fn maps_redshift_ddl() {
        let cases = [
            (
                "CREATE TABLE IF NOT EXISTS tracking.events (event_id VARCHAR(256) NOT NULL ENCODE zstd, extra SUPER, t TIMESTAMP ENCODE az64) DISTSTYLE AUTO COMPOUND SORTKEY(t, event_id) ENCODE AUTO",
                "CREATE TABLE IF NOT EXISTS tracking.events (event_id VARCHAR(256) CONSTRAINT \"rs_varchar_256_event_id\" CHECK (octet_length(event_id) <= 256) NOT NULL , extra JSONB, t TIMESTAMP )",
            ),
            (
                "CREATE TABLE u (k VARCHAR(MAX) DISTKEY, v int SORTKEY) DISTSTYLE KEY INTERLEAVED SORTKEY (k) BACKUP NO",
                "CREATE TABLE u (k VARCHAR(65535) CONSTRAINT \"rs_varchar_65535_k\" CHECK (octet_length(k) <= 65535) , v int )",
            ),
            // Constraints Redshift does not enforce are dropped; casts keep VARCHAR(n) unchecked.
            (
                "CREATE TABLE \"l\" (\"k\" VARCHAR(8) NOT NULL PRIMARY KEY, \"v\" BIGINT UNIQUE, \"p\" BIGINT REFERENCES parent (id), CONSTRAINT l_kv UNIQUE (\"k\", \"v\"), FOREIGN KEY (\"p\") REFERENCES parent (id))",
                "CREATE TABLE \"l\" (\"k\" VARCHAR(8) CONSTRAINT \"rs_varchar_8_k\" CHECK (octet_length(\"k\") <= 8) NOT NULL , \"v\" BIGINT , \"p\" BIGINT )",
            ),
            (
                "ALTER TABLE \"s\".\"t\" ADD COLUMN \"note\" VARCHAR(30)",
                "ALTER TABLE \"s\".\"t\" ADD COLUMN \"note\" VARCHAR(30) CONSTRAINT \"rs_varchar_30_note\" CHECK (octet_length(\"note\") <= 30)",
            ),
            (
                "SELECT CAST(MAX(x) AS VARCHAR(32)) FROM t",
                "SELECT CAST(MAX(x) AS VARCHAR(32)) FROM t",
            ),
            ("SELECT GETDATE(), SYSDATE", "SELECT now(), now()"),
            // Quoted text and identifiers are left alone; encode() the function is kept.
            (
                "SELECT 'SUPER DISTSTYLE AUTO', \"super\", encode(x, 'hex') FROM t -- SUPER",
                "SELECT 'SUPER DISTSTYLE AUTO', \"super\", encode(x, 'hex') FROM t -- SUPER",
            ),
            (
                "INSERT INTO t SELECT x::int FROM s",
                "INSERT INTO t SELECT x::int FROM s",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(sql(input), want, "{input}");
        }
    }

    /// The check of `sql` as the server runs it (translation, then Redshift's rules).
    fn checked(sql: &str, in_batch: bool) -> Result<Checked, String> {
        let translated = translate(sql, &[])?;
        let text = match &translated {
            Translated::Sql { text, .. } => Some(text.as_str()),
            Translated::Copy(_) => None,
        };
        check_statement(sql, text, in_batch)
    }

    #[test]
    fn refuses_what_redshift_refuses_with_its_error() {
        let copy = "COPY t FROM 's3://b/m' MANIFEST FORMAT AS JSON 'auto' GZIP";
        let cases: Vec<(String, &str)> = vec![
            ("INSERT INTO t (a) SELECT a FROM s ON CONFLICT (a) DO NOTHING".into(), "syntax error at or near \"ON\""),
            ("INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING".into(), "syntax error at or near \"ON\""),
            ("INSERT INTO t (a) VALUES (1) RETURNING a".into(), "\"RETURNING\""),
            ("UPDATE t SET a = 1 RETURNING a".into(), "\"RETURNING\""),
            ("DELETE FROM t WHERE a = 1 RETURNING a".into(), "\"RETURNING\""),
            ("SELECT DISTINCT ON (a) a, b FROM t ORDER BY a".into(), "syntax error at or near \"ON\""),
            ("INSERT INTO t SELECT * FROM (SELECT DISTINCT ON (a) a FROM s) x".into(), "syntax error at or near \"ON\""),
            ("CREATE UNIQUE INDEX i ON t (a)".into(), "\"INDEX\""),
            ("CREATE INDEX i ON t (a)".into(), "\"INDEX\""),
            // MERGE as Redshift has it, and not otherwise.
            ("MERGE INTO t AS x USING s ON x.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)".into(), "syntax error at or near \"x\""),
            ("MERGE INTO t USING (SELECT * FROM s) AS s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)".into(), "can't be a view or a subquery"),
            ("MERGE INTO t USING s ON t.id = s.id AND t.at BETWEEN '2020-01-01' AND '2020-01-02' WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)".into(), "equality predicates"),
            ("MERGE INTO t USING s ON t.id = s.id AND t.at > s.at WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)".into(), "equality predicates"),
            ("MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)".into(), "single WHEN clause is not enabled"),
            ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND s.v > 1 THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)".into(), "syntax error at or near \"WHEN\""),
            // Statements that cannot run inside a transaction block, in a batch.
            ("VACUUM DELETE ONLY t".into(), "VACUUM cannot run inside a transaction block"),
            ("CREATE DATABASE d".into(), "CREATE DATABASE cannot run inside a transaction block"),
            ("DROP DATABASE d".into(), "DROP DATABASE cannot run inside a transaction block"),
            ("CREATE EXTERNAL TABLE s.t (a int) STORED AS PARQUET LOCATION 's3://b/p/'".into(), "CREATE EXTERNAL TABLE cannot run"),
            ("ALTER TABLE \"s\".\"t\" APPEND FROM u".into(), "ALTER TABLE APPEND cannot run"),
            ("ALTER TABLE \"s\".\"t\" ALTER COLUMN \"note\" TYPE VARCHAR(300)".into(), "ALTER TABLE ALTER COLUMN cannot run inside a transaction block"),
            // LOCK takes names only.
            ("LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE".into(), "syntax error at or near \"IN\""),
            ("LOCK t NOWAIT".into(), "\"NOWAIT\""),
            // COPY options and their combinations.
            (format!("{copy} IAM_ROLE default GZIP"), "conflicting or redundant options"),
            (format!("{copy} IAM_ROLE default CREDENTIALS 'aws_iam_role=arn:aws:iam::1:role/r'"), "conflicting or redundant options"),
            (format!("{copy} IAM_ROLE default ACCESS_KEY_ID 'AKIA' SECRET_ACCESS_KEY 's'"), "conflicting or redundant options"),
            (copy.to_owned(), "COPY needs an IAM_ROLE"),
            (format!("{copy} ACCESS_KEY_ID 'AKIA'"), "go together"),
            (format!("{copy} IAM_ROLE default MAXERROR 10"), "MAXERROR above 0"),
            (format!("{copy} IAM_ROLE default BZIP2"), "BZIP2"),
            // What sqlparser's Redshift dialect cannot read is not run.
            ("SELEKT 1".into(), "syntax error"),
            ("SELECT 1; SELECT 2".into(), "2 statements in one SQL text"),
        ];
        for (sql, needle) in &cases {
            let err = checked(sql, true).expect_err(sql);
            assert!(err.starts_with("ERROR: "), "{sql}: {err}");
            assert!(err.contains(needle), "{sql}: {err}");
        }
        // What Redshift accepts passes.
        for sql in [
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)",
            "MERGE INTO \"a\".\"t\" USING \"s\" AS s ON \"a\".\"t\".\"id\" = s.\"id\" AND (\"a\".\"t\".\"k\" = s.\"k\") WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)",
            "LOCK \"loglift\".\"loglift_load_ledger\"",
            "LOCK TABLE a, b",
            "ALTER TABLE t ADD COLUMN c VARCHAR(10)",
            "SELECT DISTINCT a, b FROM t",
            "INSERT INTO t (a) VALUES ('ON CONFLICT')",
        ] {
            let ok = checked(sql, true);
            assert!(ok.is_ok(), "{sql}: {ok:?}");
        }
        // Outside a batch, the transaction-block kinds are not refused as Redshift refuses them.
        let alone = checked("VACUUM t", false).unwrap_err();
        assert!(alone.contains("not covered"), "{alone}");
        // A MERGE carries the source-uniqueness check to run.
        let merge = checked("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)", true).unwrap();
        assert_eq!(
            merge.merge_duplicates.as_deref(),
            Some("SELECT count(*) FROM (SELECT 1 FROM t JOIN s ON t.id = s.id GROUP BY t.ctid HAVING count(*) > 1) AS loglift_duplicate_matches")
        );
    }

    /// Every statement loglift sends to Redshift (DDL, ledger, loads of every shipped pipeline
    /// under both policies, the prune and the ledger queries) passes the checks in a batch.
    #[test]
    fn the_loaders_statements_pass() {
        use loglift_core::sql::{self, Dialect, RedshiftSource};
        use loglift_core::storage::{CuratedObject, LoadBatch, LoaderMessage, ObjectVersion};
        let d = Dialect::Redshift;
        let spec =
            loglift_core::spec::Spec::parse(include_str!("../../spec/pipelines.yaml")).unwrap();
        let at = chrono::Utc::now();
        let mut all: Vec<String> = sql::ledger_statements(d);
        all.push(sql::lock_ledger_sql(d));
        all.push(sql::prune_ledger_sql(d, at).unwrap());
        all.push(sql::ledger_sources_sql(d, "p", "s3://a/", "s3://a0").unwrap());
        all.push(sql::ledger_tables_sql(d, at).unwrap());
        let mut pipelines = spec.pipelines.clone();
        for p in &spec.pipelines {
            let mut other = p.clone();
            other.duplicates = match p.duplicates {
                loglift_core::spec::DuplicatePolicy::KeepFirst => {
                    loglift_core::spec::DuplicatePolicy::Replace
                }
                loglift_core::spec::DuplicatePolicy::Replace => {
                    loglift_core::spec::DuplicatePolicy::KeepFirst
                }
            };
            pipelines.push(other);
        }
        for p in &pipelines {
            all.extend(sql::create_table_statements(d, p).unwrap());
            all.extend(sql::add_column_statements(d, p, &["event_id".to_owned()]).unwrap());
            all.push(sql::existing_columns_query(d, p).unwrap());
            let batch = LoadBatch {
                attempt: 1,
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
                    objects: vec![CuratedObject {
                        bucket: "lake".into(),
                        key: "curated/a.ndjson.gz".into(),
                        version: "e1".into(),
                        bytes: 10,
                        rows: 1,
                        min_event_time: p
                            .event_time
                            .as_ref()
                            .map(|_| "2020-06-01 00:00:00.000000".into()),
                        max_event_time: p
                            .event_time
                            .as_ref()
                            .map(|_| "2020-06-01 00:00:01.000000".into()),
                    }],
                    rejected: 0,
                }],
            };
            let source = RedshiftSource {
                manifest_url: "s3://lake/manifests/m.json".into(),
                iam_role: "arn:aws:iam::123456789012:role/copy".into(),
            };
            let plan = sql::redshift_load_plan(p, &batch, &source, at).unwrap();
            all.extend(plan.statements.into_iter().map(|s| s.sql));
        }
        assert!(all.len() > 100, "{}", all.len());
        for sql in &all {
            let ok = checked(sql, true);
            assert!(ok.is_ok(), "{sql}: {ok:?}");
        }
    }

    #[test]
    fn binds_named_parameters_as_literals() {
        let params = [
            ("id".to_owned(), "42".to_owned()),
            ("name".to_owned(), "O'Brien :id".to_owned()),
        ];
        let Translated::Sql { text, first_word } = translate(
            "SELECT * FROM t WHERE id = :id::int AND name = :name AND note = ':id' AND x = :missing",
            &params,
        )
        .unwrap() else {
            panic!("copy")
        };
        assert_eq!(
            text,
            "SELECT * FROM t WHERE id = '42'::int AND name = 'O''Brien :id' AND note = ':id' AND x = :missing"
        );
        assert_eq!(first_word, "SELECT");
    }

    #[test]
    fn parses_copy_from_a_manifest() {
        let Translated::Copy(spec) = translate(
            "COPY \"stage\" (event_id, \"Extra\") FROM 's3://lake/loads/m.manifest' IAM_ROLE 'arn:aws:iam::1:role/r' MANIFEST FORMAT AS JSON 'auto ignorecase' GZIP TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF;",
            &[],
        )
        .unwrap() else {
            panic!("not a copy")
        };
        assert_eq!(
            spec,
            CopySpec {
                table: "\"stage\"".into(),
                columns: Some(vec!["event_id".into(), "Extra".into()]),
                source: "s3://lake/loads/m.manifest".into(),
                manifest: true,
                gzip: true,
                ignore_case: true,
            }
        );
        let err =
            translate("COPY t FROM 's3://b/k' IAM_ROLE default FORMAT AS CSV", &[]).unwrap_err();
        assert!(err.contains("CSV"), "{err}");
        let err = translate("COPY t FROM 's3://b/k' JSON 's3://b/paths'", &[]).unwrap_err();
        assert!(err.contains("JSONPaths"), "{err}");
        assert!(translate("COPY t FROM 's3://b/k' JSON 'auto' MAXERROR 10", &[]).is_err());
    }

    #[test]
    fn copy_text_fields_are_escaped() {
        let mut out = String::new();
        for v in [
            Some(json!("a\tb\\c\nd")),
            None,
            Some(Value::Null),
            Some(json!(12)),
            Some(json!({"k": [1, true]})),
        ] {
            push_copy_field(&mut out, v.as_ref());
            out.push('|');
        }
        assert_eq!(out, "a\\tb\\\\c\\nd|\\N|\\N|12|{\"k\":[1,true]}|");
    }

    #[test]
    fn ids_have_the_data_api_shape() {
        let id = new_uuid();
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
        assert!(id
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_lowercase()));
        assert_eq!(split_id(&format!("{id}:3")), (id.as_str(), 3));
        assert_eq!(split_id(&id), (id.as_str(), 0));
    }
}
