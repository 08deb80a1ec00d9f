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
//! | `VARCHAR(MAX)` | `VARCHAR` |
//! | `DISTSTYLE x`, `DISTKEY(…)`, `[COMPOUND \| INTERLEAVED] SORTKEY(…)`, column `DISTKEY` / `SORTKEY`, `ENCODE x`, `BACKUP YES \| NO` | dropped |
//! | `GETDATE()`, `SYSDATE` | `now()` |
//! | `svv_columns` (catalog view) | `information_schema.columns` (same column names) |
//! | `:name` parameters | quoted literals, which PostgreSQL types from their context as Redshift converts parameters |
//!
//! Not covered: COPY of CSV, Parquet or JSONPaths files, `MAXERROR` above 0, `TRUNCATECOLUMNS`
//! and other COPY options beyond credentials, formats and `TIMEFORMAT`/`DATEFORMAT` (ignored);
//! `stl_load_errors` itself; Redshift-only functions (`JSON_PARSE`, `JSON_EXTRACT_PATH_TEXT`,
//! …), `IDENTITY` columns and `MERGE … REMOVE DUPLICATES`; `VARCHAR(n)` counting bytes
//! (PostgreSQL counts characters); statements that cannot run in a transaction block (`VACUUM`);
//! sessions (`SessionId`), `ListStatements`, `DescribeTable`, `GetStatementResultV2` and result
//! size limits. A column named like a dropped keyword followed by a word (`encode varchar`) is
//! mangled.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use futures_util::SinkExt as _;
use serde_json::{json, Map, Value};
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
        tokio::spawn(execute(Arc::clone(shared), id.clone(), sqls, params, fault));
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
) {
    let started = Instant::now();
    let mut done = run_on_pg(&shared, &id, &sqls, &params, fault.as_ref()).await;
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
        match run_one(shared, &client, sql, params).await {
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

/// An error as Redshift words it: `ERROR: message`, then the detail.
fn pg_error(e: &tokio_postgres::Error) -> String {
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
) -> Result<Sub, String> {
    match translate(sql, params)? {
        Translated::Copy(spec) => {
            let rows = copy_from_s3(shared, client, &spec).await?;
            Ok(Sub {
                result_rows: rows,
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
    let columns: Vec<String> = match &spec.columns {
        Some(c) => c.clone(),
        None => client
            .prepare(&format!("SELECT * FROM {} LIMIT 0", spec.table))
            .await
            .map_err(|e| pg_error(&e))?
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect(),
    };
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
        let stream = serde_json::Deserializer::from_slice(&text).into_iter::<Value>();
        for (line, value) in stream.enumerate() {
            let value = value.map_err(|e| {
                load_error(&format!("s3://{bucket}/{key} object {}: {e}", line + 1))
            })?;
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
                push_copy_field(&mut data, found);
            }
            data.push('\n');
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

fn translate(sql: &str, params: &[(String, String)]) -> Result<Translated, String> {
    let toks = tokenize(sql);
    let first_sig = toks.iter().position(|t| !matches!(t, Tok::Space(_)));
    let first_word = match first_sig.and_then(|i| toks.get(i)) {
        Some(Tok::Word(w)) => w.clone(),
        _ => String::new(),
    };
    if first_word.eq_ignore_ascii_case("COPY") {
        if let Some(spec) = parse_copy(&toks)? {
            return Ok(Translated::Copy(spec));
        }
    }
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
        } else if word("VARCHAR") && next_tok.is_some_and(|t| t.is_punct("(")) {
            out.push(tok.clone());
            let max = next.and_then(|j| next_sig(&toks, j));
            let close = max.and_then(|j| next_sig(&toks, j));
            let is_max = max
                .and_then(|j| toks.get(j))
                .is_some_and(|t| t.is_word("MAX"))
                && close
                    .and_then(|j| toks.get(j))
                    .is_some_and(|t| t.is_punct(")"));
            if is_max {
                i = close.unwrap_or(i);
            }
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
        match word.to_ascii_uppercase().as_str() {
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
    Ok(Some(spec))
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
                "CREATE TABLE IF NOT EXISTS tracking.events (event_id VARCHAR(256) NOT NULL , extra JSONB, t TIMESTAMP )",
            ),
            (
                "CREATE TABLE u (k VARCHAR(MAX) DISTKEY, v int SORTKEY) DISTSTYLE KEY INTERLEAVED SORTKEY (k) BACKUP NO",
                "CREATE TABLE u (k VARCHAR , v int )",
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
