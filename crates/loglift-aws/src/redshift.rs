//! The Redshift Data API transport the Redshift warehouse runs its load plan through.
//!
//! Flow: [`DataApi::run_batch`] checks the batch locally (at most [`MAX_BATCH_STATEMENTS`]
//! statements, each under [`MAX_SQL_BYTES`]), submits it with `BatchExecuteStatement` (one
//! transaction) under a [`client_token`] derived from the batch and its receive count, then polls
//! `DescribeStatement` with capped exponential backoff and full jitter until the statement ends or
//! the caller's deadline comes. FAILED and ABORTED statements and SDK errors become a
//! [`DataApiError`] whose [`is_retryable`](DataApiError::is_retryable) says whether to leave the
//! message for a retry (serialization conflicts, throttling, lost connections, the deadline) or to
//! give up on it (SQL and COPY errors), and whose text records why.
//!
//! At the deadline the statement is left running unless [`DataApiConfig::cancel_on_deadline`]
//! is set: the load plan locks its target first, so a retry queues behind it, and the ledger
//! makes the retry a no-op if it committed; cancelling would throw that work away.

use std::time::{Duration, Instant};

use aws_sdk_redshiftdata::config::http::HttpResponse;
use aws_sdk_redshiftdata::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput;
use aws_sdk_redshiftdata::types::{Field, SqlParameter, StatusString};
use loglift_ports::PortError;
use sha2::{Digest, Sha256};

/// Most statements in one `BatchExecuteStatement` (the service's limit).
pub const MAX_BATCH_STATEMENTS: usize = 40;
/// SQL texts must be shorter than this many bytes (the service's "100 KB", read conservatively).
pub const MAX_SQL_BYTES: usize = 100_000;
/// Most characters in a `ClientToken` (the service model's limit).
pub const MAX_CLIENT_TOKEN_CHARS: usize = 64;

/// Where statements run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Redshift Serverless workgroup (name or ARN).
    Serverless { workgroup: String },
    /// A provisioned cluster; `db_user` for temporary credentials as that user, `None` to use
    /// the IAM identity or [`DataApiConfig::secret_arn`].
    Cluster {
        cluster_id: String,
        db_user: Option<String>,
    },
}

/// How to reach the warehouse and how to wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataApiConfig {
    pub target: Target,
    /// A Secrets Manager secret with the database credentials, for either target.
    pub secret_arn: Option<String>,
    pub database: String,
    /// The first `DescribeStatement` back-off ceiling; it doubles up to `poll_max`.
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// Send `CancelStatement` (bounded by one second) when the deadline comes.
    pub cancel_on_deadline: bool,
}

impl DataApiConfig {
    /// Polling from 100 ms up to 2 s, no secret, statements left running at the deadline.
    pub fn new(target: Target, database: impl Into<String>) -> Self {
        DataApiConfig {
            target,
            secret_arn: None,
            database: database.into(),
            poll_initial: Duration::from_millis(100),
            poll_max: Duration::from_secs(2),
            cancel_on_deadline: false,
        }
    }
}

/// A finished batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub statement_id: String,
    /// `ResultRows` of each sub-statement, in submission order: rows affected or returned; -1
    /// when not applicable. The load plans read only those of UPDATE, DELETE and INSERT: COPY's
    /// has been reported as 0 (aws/aws-sdk#333, #356) and MERGE's is undocumented.
    pub result_rows: Vec<i64>,
}

impl BatchOutcome {
    /// The id of sub-statement `index` (0-based), for [`DataApi::fetch_result`].
    pub fn sub_statement_id(&self, index: usize) -> String {
        format!("{}:{}", self.statement_id, index + 1)
    }
}

/// A finished single statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementOutcome {
    pub statement_id: String,
    /// Rows affected or returned; -1 when not applicable.
    pub result_rows: i64,
    pub has_result_set: bool,
}

/// One value of a result set.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    /// Text, and what the Data API returns as text (DECIMAL, dates, timestamps, SUPER).
    String(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Long(v) => Some(*v),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// A whole result set, every page fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub statement_id: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Why a statement did not finish, with its disposition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataApiError {
    /// The statement ended FAILED; `retryable` from [`retryable_statement_error`].
    #[error("statement {id} failed: {message}")]
    Failed {
        id: String,
        message: String,
        retryable: bool,
    },
    /// The statement ended ABORTED (cancelled). Retryable.
    #[error("statement {id} was aborted")]
    Aborted { id: String },
    /// The deadline came first; `id` is `None` when the submission itself did not return in
    /// time. The statement may still finish. Retryable.
    #[error("{}", deadline_text(.id.as_deref()))]
    Deadline { id: Option<String> },
    /// The service throttled a request after the SDK's own retries. Retryable.
    #[error("{op} throttled: {message}")]
    Throttled { op: &'static str, message: String },
    /// Any other request failure: 5xx, network and timeouts are retryable; validation and
    /// access errors are not.
    #[error("{op}: {message}")]
    Request {
        op: &'static str,
        message: String,
        retryable: bool,
    },
    /// Over a service limit; checked before any request. Not retryable.
    #[error("{what} is {size}, over the limit of {limit}")]
    TooLarge {
        what: String,
        size: usize,
        limit: usize,
    },
    /// A request the service would refuse (no statements, a bad client token or parameter);
    /// checked before any request. Not retryable.
    #[error("invalid request: {message}")]
    Invalid { message: String },
}

fn deadline_text(id: Option<&str>) -> String {
    match id {
        Some(id) => format!("statement {id} still running at the deadline"),
        None => "deadline reached before the statement was submitted".to_owned(),
    }
}

impl DataApiError {
    /// Whether to leave the message for a retry (true) or give up on it (false).
    pub fn is_retryable(&self) -> bool {
        match self {
            DataApiError::Failed { retryable, .. } | DataApiError::Request { retryable, .. } => {
                *retryable
            }
            DataApiError::Aborted { .. }
            | DataApiError::Deadline { .. }
            | DataApiError::Throttled { .. } => true,
            DataApiError::TooLarge { .. } | DataApiError::Invalid { .. } => false,
        }
    }

    /// The text to record as the failure reason.
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// The statement this is about, when one was submitted.
    pub fn statement_id(&self) -> Option<&str> {
        match self {
            DataApiError::Failed { id, .. } | DataApiError::Aborted { id } => Some(id),
            DataApiError::Deadline { id } => id.as_deref(),
            _ => None,
        }
    }
}

impl From<DataApiError> for PortError {
    fn from(err: DataApiError) -> PortError {
        let target = err.statement_id().unwrap_or("").to_owned();
        PortError::classified(err.is_retryable(), "redshift-data", target, err.reason())
            .with_source(err)
    }
}

/// The `ClientToken` of a batch at a receive count: `ll-` + 48 hex digits of SHA-256 over
/// `batch_fingerprint` + `-r<receive_count>` (at most 63 characters, within the service's 64).
///
/// The same batch resubmitted within one receive gets the same token, so the service returns
/// the same statement instead of running it again; the next receive (a retry after FAILED or a
/// timeout) gets a new token and a new statement. `batch_fingerprint` should name the batch's
/// content, e.g. the table and its sorted ledger keys.
pub fn client_token(batch_fingerprint: &str, receive_count: u32) -> String {
    let digest = hex::encode(Sha256::digest(batch_fingerprint.as_bytes()));
    let head = digest.get(..48).unwrap_or(&digest);
    format!("ll-{head}-r{receive_count}")
}

/// Error texts of statements that may succeed when run again: serialization conflicts
/// (Redshift error 1023), lock conflicts, throttling and lost or refused connections.
const RETRYABLE_MARKERS: &[&str] = &[
    "serializable isolation violation",
    "could not serialize access",
    "conflict with concurrent transaction",
    "deadlock detected",
    "could not obtain lock",
    "lock timeout",
    "throttl",
    "rate exceeded",
    "please reduce your request rate",
    "too many connections",
    "too many clients",
    "remaining connection slots",
    "could not connect to server",
    "connection reset",
    "connection refused",
    "connection timed out",
    "server closed the connection",
    "terminating connection",
    "ssl syscall error",
];

/// Error texts that fail the same way every time, checked first: COPY errors (whose
/// `stl_load_errors` rows are not worth another attempt) and SQL errors.
const POISON_MARKERS: &[&str] = &[
    "load into table",
    "stl_load_errors",
    "sys_load_error_detail",
    "syntax error",
    "does not exist",
    "permission denied",
    "invalid input syntax",
    "value too long",
    "string length exceeds ddl length",
    "violates",
    "not supported",
];

/// Whether a FAILED statement's `Error` text is worth a retry: poison markers (COPY and SQL
/// errors) first, then retryable markers and the bare error code 1023; anything unknown is
/// poison, with its text kept as the reason.
pub fn retryable_statement_error(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    if POISON_MARKERS.iter().any(|m| lower.contains(m)) {
        return false;
    }
    RETRYABLE_MARKERS.iter().any(|m| lower.contains(m)) || has_code(&lower, "1023")
}

/// Whether `code` appears in `text` as a number of its own (not inside a longer word or number).
fn has_code(text: &str, code: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices(code).any(|(at, _)| {
        let before = at
            .checked_sub(1)
            .and_then(|i| bytes.get(i))
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        let after = bytes
            .get(at + code.len())
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        !before && !after
    })
}

/// How an SDK error should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestClass {
    Throttled,
    Retryable,
    Poison,
}

const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "ActiveStatementsExceededException",
    "ActiveSessionsExceededException",
    "ActiveWaitingRequestsExceededException",
];

const RETRYABLE_CODES: &[&str] = &[
    "InternalServerException",
    "InternalFailure",
    "ServiceUnavailable",
    "DatabaseConnectionException",
    "ExecuteStatementException",
    "BatchExecuteStatementException",
    "QueryTimeoutException",
    "RequestTimeout",
    "RequestTimeoutException",
];

fn classify_request(code: Option<&str>, status: Option<u16>) -> RequestClass {
    if code.is_some_and(|c| THROTTLING_CODES.contains(&c)) || status == Some(429) {
        RequestClass::Throttled
    } else if code.is_some_and(|c| RETRYABLE_CODES.contains(&c)) || status.is_some_and(|s| s >= 500)
    {
        RequestClass::Retryable
    } else {
        RequestClass::Poison
    }
}

fn request_error<E>(op: &'static str, err: SdkError<E, HttpResponse>) -> DataApiError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let class = match &err {
        SdkError::ServiceError(service) => {
            classify_request(err.code(), Some(service.raw().status().as_u16()))
        }
        SdkError::ConstructionFailure(_) => RequestClass::Poison,
        // Timeouts, dispatch (connection) failures and unreadable responses.
        _ => RequestClass::Retryable,
    };
    let message = match (&err, err.code()) {
        (SdkError::ServiceError(_), Some(code)) => {
            format!("{code}: {}", err.message().unwrap_or("no message"))
        }
        _ => DisplayErrorContext(&err).to_string(),
    };
    match class {
        RequestClass::Throttled => DataApiError::Throttled { op, message },
        RequestClass::Retryable => DataApiError::Request {
            op,
            message,
            retryable: true,
        },
        RequestClass::Poison => DataApiError::Request {
            op,
            message,
            retryable: false,
        },
    }
}

/// The back-off ceiling before poll `attempt` (0-based): `initial * 2^attempt`, capped at `max`.
fn backoff_ceiling(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(16));
    initial.saturating_mul(factor).min(max)
}

/// Full jitter: uniformly random in `[0, ceiling]`.
fn full_jitter(ceiling: Duration) -> Duration {
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=nanos))
}

fn check_sql(sql: &str, what: impl FnOnce() -> String) -> Result<(), DataApiError> {
    if sql.len() >= MAX_SQL_BYTES {
        return Err(DataApiError::TooLarge {
            what: what(),
            size: sql.len(),
            limit: MAX_SQL_BYTES,
        });
    }
    if sql.trim().is_empty() {
        return Err(DataApiError::Invalid {
            message: format!("{} is empty", what()),
        });
    }
    Ok(())
}

fn check_batch(statements: &[String]) -> Result<(), DataApiError> {
    if statements.is_empty() {
        return Err(DataApiError::Invalid {
            message: "a batch needs at least one statement".to_owned(),
        });
    }
    if statements.len() > MAX_BATCH_STATEMENTS {
        return Err(DataApiError::TooLarge {
            what: "the batch's statement count".to_owned(),
            size: statements.len(),
            limit: MAX_BATCH_STATEMENTS,
        });
    }
    for (i, sql) in statements.iter().enumerate() {
        check_sql(sql, || format!("statement {} of the batch (bytes)", i + 1))?;
    }
    Ok(())
}

fn check_token(token: &str) -> Result<(), DataApiError> {
    let chars = token.chars().count();
    if chars == 0 || chars > MAX_CLIENT_TOKEN_CHARS {
        return Err(DataApiError::Invalid {
            message: format!(
                "a client token has 1 to {MAX_CLIENT_TOKEN_CHARS} characters, not {chars}"
            ),
        });
    }
    Ok(())
}

fn check_params(params: &[(String, String)]) -> Result<Vec<SqlParameter>, DataApiError> {
    params
        .iter()
        .map(|(name, value)| {
            let name_ok =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !name_ok {
                return Err(DataApiError::Invalid {
                    message: format!("parameter name {name:?} is not [0-9a-zA-Z_]+"),
                });
            }
            if value.is_empty() {
                return Err(DataApiError::Invalid {
                    message: format!("parameter {name} is empty (the service needs 1+ characters)"),
                });
            }
            SqlParameter::builder()
                .name(name)
                .value(value)
                .build()
                .map_err(|e| DataApiError::Invalid {
                    message: format!("parameter {name}: {e}"),
                })
        })
        .collect()
}

/// The message of a FAILED statement: its `Error`, plus each failed sub-statement's error when
/// it says something else.
fn failure_message(d: &DescribeStatementOutput) -> String {
    let mut message = d.error().unwrap_or("").trim().to_owned();
    for sub in d.sub_statements() {
        if let Some(err) = sub.error().map(str::trim).filter(|e| !e.is_empty()) {
            if !message.contains(err) {
                if !message.is_empty() {
                    message.push_str("; ");
                }
                message.push_str(&format!("{}: {err}", sub.id()));
            }
        }
    }
    if message.is_empty() {
        message = "no error text".to_owned();
    }
    message
}

/// Sub-statement number of an id `uuid:N` (0 when there is none).
fn sub_number(id: &str) -> u32 {
    id.rsplit_once(':')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

fn to_value(field: &Field) -> Value {
    match field {
        Field::IsNull(_) => Value::Null,
        Field::BooleanValue(b) => Value::Bool(*b),
        Field::LongValue(v) => Value::Long(*v),
        Field::DoubleValue(v) => Value::Double(*v),
        Field::StringValue(s) => Value::String(s.clone()),
        Field::BlobValue(b) => Value::Blob(b.as_ref().to_vec()),
        _ => Value::Null,
    }
}

/// Sets the target, database and secret on any of the submitting builders.
macro_rules! targeted {
    ($builder:expr, $config:expr) => {{
        let config: &DataApiConfig = $config;
        let builder = $builder
            .database(&config.database)
            .set_secret_arn(config.secret_arn.clone());
        match &config.target {
            Target::Serverless { workgroup } => builder.workgroup_name(workgroup),
            Target::Cluster {
                cluster_id,
                db_user,
            } => builder
                .cluster_identifier(cluster_id)
                .set_db_user(db_user.clone()),
        }
    }};
}

/// The Data API client: submits, polls and classifies.
#[derive(Debug, Clone)]
pub struct DataApi {
    client: aws_sdk_redshiftdata::Client,
    config: DataApiConfig,
}

impl DataApi {
    pub fn new(client: aws_sdk_redshiftdata::Client, config: DataApiConfig) -> Self {
        DataApi { client, config }
    }

    pub fn config(&self) -> &DataApiConfig {
        &self.config
    }

    /// Run `statements` in order as one transaction (`BatchExecuteStatement`) and wait for the
    /// end. Over 40 statements or a statement of 100 KB or more is an error before any request.
    pub async fn run_batch(
        &self,
        statements: &[String],
        client_token: &str,
        deadline: Instant,
    ) -> Result<BatchOutcome, DataApiError> {
        check_batch(statements)?;
        check_token(client_token)?;
        let submit = targeted!(self.client.batch_execute_statement(), &self.config)
            .set_sqls(Some(statements.to_vec()))
            .client_token(client_token)
            .send();
        let submitted = within(deadline, None, submit)
            .await?
            .map_err(|e| request_error("BatchExecuteStatement", e))?;
        let id = submitted
            .id()
            .ok_or_else(|| DataApiError::Request {
                op: "BatchExecuteStatement",
                message: "the answer has no statement Id".to_owned(),
                retryable: true,
            })?
            .to_owned();
        tracing::debug!(statement_id = %id, statements = statements.len(), "Batch submitted");
        let described = self.wait(&id, deadline).await?;
        let mut subs: Vec<_> = described
            .sub_statements()
            .iter()
            .map(|s| (sub_number(s.id()), s.result_rows()))
            .collect();
        subs.sort_by_key(|(n, _)| *n);
        Ok(BatchOutcome {
            statement_id: id,
            result_rows: subs.into_iter().map(|(_, rows)| rows).collect(),
        })
    }

    /// Run one statement (`ExecuteStatement`) with named parameters (`:name` in `sql`, values as
    /// text the warehouse converts) and wait for the end. Without a client token the SDK makes
    /// a fresh one.
    pub async fn run(
        &self,
        sql: &str,
        params: &[(String, String)],
        client_token: Option<&str>,
        deadline: Instant,
    ) -> Result<StatementOutcome, DataApiError> {
        check_sql(sql, || "the statement (bytes)".to_owned())?;
        if let Some(token) = client_token {
            check_token(token)?;
        }
        let parameters = check_params(params)?;
        let submit = targeted!(self.client.execute_statement(), &self.config)
            .sql(sql)
            .set_parameters((!parameters.is_empty()).then_some(parameters))
            .set_client_token(client_token.map(str::to_owned))
            .send();
        let submitted = within(deadline, None, submit)
            .await?
            .map_err(|e| request_error("ExecuteStatement", e))?;
        let id = submitted
            .id()
            .ok_or_else(|| DataApiError::Request {
                op: "ExecuteStatement",
                message: "the answer has no statement Id".to_owned(),
                retryable: true,
            })?
            .to_owned();
        tracing::debug!(statement_id = %id, "Statement submitted");
        let described = self.wait(&id, deadline).await?;
        Ok(StatementOutcome {
            statement_id: id,
            result_rows: described.result_rows(),
            has_result_set: described.has_result_set().unwrap_or(false),
        })
    }

    /// Run one statement and fetch its whole result set (for status commands and tests).
    pub async fn query(
        &self,
        sql: &str,
        params: &[(String, String)],
        deadline: Instant,
    ) -> Result<QueryResult, DataApiError> {
        let outcome = self.run(sql, params, None, deadline).await?;
        self.fetch_result(&outcome.statement_id, deadline).await
    }

    /// Every page of a finished statement's result set (`GetStatementResult` with `NextToken`);
    /// a batch's sub-statement is addressed as [`BatchOutcome::sub_statement_id`].
    pub async fn fetch_result(
        &self,
        statement_id: &str,
        deadline: Instant,
    ) -> Result<QueryResult, DataApiError> {
        let mut result = QueryResult {
            statement_id: statement_id.to_owned(),
            columns: Vec::new(),
            rows: Vec::new(),
        };
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .get_statement_result()
                .id(statement_id)
                .set_next_token(next.take())
                .send();
            let page = within(deadline, Some(statement_id), page)
                .await?
                .map_err(|e| request_error("GetStatementResult", e))?;
            if result.columns.is_empty() {
                result.columns = page
                    .column_metadata()
                    .iter()
                    .map(|c| c.name().or(c.label()).unwrap_or("").to_owned())
                    .collect();
            }
            result.rows.extend(
                page.records()
                    .iter()
                    .map(|r| r.iter().map(to_value).collect()),
            );
            match page.next_token().filter(|t| !t.is_empty()) {
                Some(token) => next = Some(token.to_owned()),
                None => return Ok(result),
            }
        }
    }

    /// Poll until the statement ends or the deadline comes.
    async fn wait(
        &self,
        id: &str,
        deadline: Instant,
    ) -> Result<DescribeStatementOutput, DataApiError> {
        let mut attempt = 0u32;
        loop {
            if Instant::now() >= deadline {
                return Err(self.at_deadline(id).await);
            }
            let describe = self.client.describe_statement().id(id).send();
            let Ok(described) = within(deadline, Some(id), describe).await else {
                return Err(self.at_deadline(id).await);
            };
            match described {
                Ok(d) => match d.status() {
                    Some(StatusString::Finished) => return Ok(d),
                    Some(StatusString::Failed) => {
                        let message = failure_message(&d);
                        let retryable = retryable_statement_error(&message);
                        tracing::debug!(statement_id = %id, retryable, "Statement failed");
                        return Err(DataApiError::Failed {
                            id: id.to_owned(),
                            message,
                            retryable,
                        });
                    }
                    Some(StatusString::Aborted) => {
                        return Err(DataApiError::Aborted { id: id.to_owned() })
                    }
                    // SUBMITTED, PICKED, STARTED, and states newer than this SDK.
                    _ => {}
                },
                Err(e) => {
                    let err = request_error("DescribeStatement", e);
                    if !err.is_retryable() {
                        return Err(err);
                    }
                    tracing::debug!(statement_id = %id, error = %err, "Describe failed; polling on");
                }
            }
            let ceiling = backoff_ceiling(attempt, self.config.poll_initial, self.config.poll_max);
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(full_jitter(ceiling).min(left)).await;
            attempt = attempt.saturating_add(1);
        }
    }

    async fn at_deadline(&self, id: &str) -> DataApiError {
        if self.config.cancel_on_deadline {
            let cancel = self.client.cancel_statement().id(id).send();
            match tokio::time::timeout(Duration::from_secs(1), cancel).await {
                Ok(Ok(_)) => {
                    tracing::debug!(statement_id = %id, "Statement cancelled at the deadline")
                }
                Ok(Err(e)) => {
                    tracing::warn!(statement_id = %id, error = %DisplayErrorContext(&e), "Cancel at the deadline failed")
                }
                Err(_) => tracing::warn!(statement_id = %id, "Cancel at the deadline timed out"),
            }
        }
        DataApiError::Deadline {
            id: Some(id.to_owned()),
        }
    }
}

/// Run a request, giving up at the deadline.
async fn within<F: std::future::Future>(
    deadline: Instant,
    id: Option<&str>,
    request: F,
) -> Result<F::Output, DataApiError> {
    tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), request)
        .await
        .map_err(|_| DataApiError::Deadline {
            id: id.map(str::to_owned),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Error texts as Redshift (or PostgreSQL under it) reports them, from public issue threads.
    #[test]
    fn classifies_statement_errors() {
        let cases: &[(&str, bool)] = &[
            // snowplow/snowplow-rdb-loader#557
            ("ERROR: 1023 \nDetails: Serializable isolation violation on table - 100167, transactions forming the cycle are: 55705701, 55705754 (pid:16606);", true),
            // aws/aws-sdk-pandas#665
            ("ERROR: 1023 DETAIL: Serializable isolation violation on table - 119371, transactions forming the cycle are: 1745830, 1745762 (pid:15021)", true),
            // estuary/connectors#5218
            ("ERROR: 1023 (SQLSTATE XX000)", true),
            ("ERROR: could not serialize access due to concurrent update", true),
            ("ERROR: could not complete because of conflict with concurrent transaction", true),
            // ArctosDB/arctos#4042
            ("ERROR: deadlock detected Detail: Process 27522 waits for ShareLock on transaction 445880817; blocked by process 26725.", true),
            ("ERROR: could not obtain lock on relation \"events\"", true),
            // snowplow/snowplow#386
            ("could not connect to server: Connection timed out", true),
            ("FATAL: sorry, too many clients already", true),
            ("ThrottlingException: Rate exceeded", true),
            ("ERROR: S3ServiceException:Please reduce your request rate.,Status 503,Error SlowDown", true),
            // blaze/odo#298
            ("Load into table 'tmp0' failed.  Check 'stl_load_errors' system table for details.", false),
            // databricks/spark-redshift#53: a 1023 inside a name is not the error code
            ("ERROR: Load into table 'error_message_when_string_too_long_3596907251636891354' failed.  Check 'stl_load_errors' system table for details.", false),
            ("ERROR: Load into table 't_1023' failed. Check 'sys_load_error_detail' system table for details.", false),
            // dataform-co/dataform#505
            ("ERROR: relation \"svv_external_tables\" does not exist", false),
            // dbcrossbar/dbcrossbar#41
            ("ERROR: syntax error at or near \"(\"", false),
            // databricks/spark-redshift#178
            ("ERROR: Specified types or functions (one per INFO message) not supported on Redshift tables.", false),
            ("ERROR: value too long for type character varying(16)", false),
            ("", false),
        ];
        for (text, want) in cases {
            assert_eq!(retryable_statement_error(text), *want, "{text:?}");
        }
    }

    #[test]
    fn classifies_request_errors() {
        let cases = [
            (
                Some("ThrottlingException"),
                Some(400),
                RequestClass::Throttled,
            ),
            (
                Some("ActiveStatementsExceededException"),
                Some(400),
                RequestClass::Throttled,
            ),
            (None, Some(429), RequestClass::Throttled),
            (
                Some("InternalServerException"),
                Some(500),
                RequestClass::Retryable,
            ),
            (
                Some("DatabaseConnectionException"),
                Some(500),
                RequestClass::Retryable,
            ),
            (None, Some(503), RequestClass::Retryable),
            (Some("ValidationException"), Some(400), RequestClass::Poison),
            (
                Some("ResourceNotFoundException"),
                Some(400),
                RequestClass::Poison,
            ),
            (
                Some("AccessDeniedException"),
                Some(403),
                RequestClass::Poison,
            ),
        ];
        for (code, status, want) in cases {
            assert_eq!(
                classify_request(code, status),
                want,
                "code {code:?} status {status:?}"
            );
        }
    }

    #[test]
    fn client_tokens_follow_the_batch_and_its_receive() {
        let a1 = client_token("events|k1,k2", 1);
        assert_eq!(a1, client_token("events|k1,k2", 1));
        assert_ne!(a1, client_token("events|k1,k2", 2));
        assert_ne!(a1, client_token("events|k1,k3", 1));
        let max = client_token(&"x".repeat(10_000), u32::MAX);
        assert!(max.len() <= MAX_CLIENT_TOKEN_CHARS, "{max}");
        assert!(check_token(&max).is_ok());
        assert!(a1.starts_with("ll-") && a1.ends_with("-r1"), "{a1}");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_under_it() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(2));
        let ceilings: Vec<_> = (0..8).map(|a| backoff_ceiling(a, initial, max)).collect();
        assert_eq!(ceilings[0], Duration::from_millis(100));
        assert_eq!(ceilings[1], Duration::from_millis(200));
        assert_eq!(ceilings[4], Duration::from_millis(1600));
        assert_eq!(ceilings[5], max);
        assert_eq!(backoff_ceiling(u32::MAX, initial, max), max);
        for _ in 0..1000 {
            assert!(full_jitter(Duration::from_millis(50)) <= Duration::from_millis(50));
        }
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn batches_are_checked_before_any_request() {
        let ok = vec!["SELECT 1".to_owned(); MAX_BATCH_STATEMENTS];
        assert!(check_batch(&ok).is_ok());
        let too_many = vec!["SELECT 1".to_owned(); MAX_BATCH_STATEMENTS + 1];
        assert!(matches!(
            check_batch(&too_many),
            Err(DataApiError::TooLarge { size: 41, .. })
        ));
        let big = format!("SELECT '{}'", "x".repeat(MAX_SQL_BYTES));
        let err = check_batch(&["SELECT 1".to_owned(), big]).unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.reason().contains("statement 2"), "{err}");
        assert!(matches!(
            check_batch(&[]),
            Err(DataApiError::Invalid { .. })
        ));
        assert!(check_params(&[("a b".into(), "1".into())]).is_err());
        assert!(check_params(&[("a".into(), String::new())]).is_err());
        assert_eq!(
            check_params(&[("a_1".into(), "x".into())]).unwrap().len(),
            1
        );
    }

    #[test]
    fn errors_map_to_port_errors_by_disposition() {
        let retry: PortError = DataApiError::Deadline {
            id: Some("abc".into()),
        }
        .into();
        assert!(retry.is_retryable());
        assert!(retry.to_string().contains("abc"), "{retry}");
        let poison: PortError = DataApiError::Failed {
            id: "abc".into(),
            message: "Load into table 'x' failed".into(),
            retryable: false,
        }
        .into();
        assert!(!poison.is_retryable());
        assert!(poison.to_string().contains("Load into table"), "{poison}");
    }
}
