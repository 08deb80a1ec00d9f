//! The narrow ports loglift's stage handlers depend on.
//!
//! Each trait is one capability: [`ObjectStore`] (S3 or a directory), [`Queue`] (SQS or the local
//! SQLite queue), [`StreamReader`] (Kinesis shards), [`Warehouse`] (Redshift Data API, PostgreSQL,
//! SQLite) and [`Clock`]; for `loglift smoke`, [`StreamWriter`] (Kinesis and Firehose puts) and
//! [`EventRows`] (rows by event id). Handlers are generic over them (native `async fn` in traits, no
//! `Box<dyn>`); adapters live in `loglift-aws` and `loglift-local`. Errors carry a disposition:
//! [`PortError::is_retryable`] tells a handler whether to retry the batch or give up on the item.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::io::AsyncRead;

/// A streamed object body: read it, never hold it whole.
pub type ByteReader = Pin<Box<dyn AsyncRead + Send + Unpin>>;

/// What the store knows of one object version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// The entity tag without its quotes.
    pub etag: String,
    /// Set when the bucket is versioned.
    pub version_id: Option<String>,
    pub last_modified: Option<DateTime<Utc>>,
}

impl ObjectMeta {
    /// The version identity the loader ledger and curated names use: the version id when the
    /// bucket is versioned, else the etag.
    pub fn version_or_etag(&self) -> &str {
        self.version_id.as_deref().unwrap_or(&self.etag)
    }
}

/// An object opened for reading.
pub struct Object {
    pub meta: ObjectMeta,
    pub body: ByteReader,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// One page of a listing, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectMeta>,
    /// Pass back to get the next page; `None` at the end.
    pub next: Option<String>,
}

/// What a [`PortError`] was caused by (the SDK's, the database driver's or the file system's
/// error), kept for `Error::source` and the logs.
pub type ErrorSource = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// A port failure with its disposition, and the error it came from where there was one.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The object, queue or shard does not exist. Retrying will not help.
    #[error("{what} not found")]
    NotFound {
        what: String,
        #[source]
        source: Option<ErrorSource>,
    },
    /// The request was refused as malformed or not allowed. Retrying will not help.
    #[error("{op} {target}: {message}")]
    Rejected {
        op: &'static str,
        target: String,
        message: String,
        #[source]
        source: Option<ErrorSource>,
    },
    /// A transient failure (network, throttling, 5xx): retry the batch.
    #[error("{op} {target}: {message}")]
    Transient {
        op: &'static str,
        target: String,
        message: String,
        #[source]
        source: Option<ErrorSource>,
    },
}

impl PortError {
    /// A failure whose disposition the adapter decided: `Transient` (retry) or `Rejected`.
    pub fn classified(
        retryable: bool,
        op: &'static str,
        target: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let (target, message) = (target.into(), message.into());
        if retryable {
            PortError::Transient {
                op,
                target,
                message,
                source: None,
            }
        } else {
            PortError::Rejected {
                op,
                target,
                message,
                source: None,
            }
        }
    }

    /// The same failure, caused by `cause`.
    pub fn with_source(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        let cause: ErrorSource = std::sync::Arc::new(cause);
        match &mut self {
            PortError::NotFound { source, .. }
            | PortError::Rejected { source, .. }
            | PortError::Transient { source, .. } => *source = Some(cause),
        }
        self
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, PortError::Transient { .. })
    }
    pub fn is_not_found(&self) -> bool {
        matches!(self, PortError::NotFound { .. })
    }
}

pub type PortResult<T> = Result<T, PortError>;

/// Objects by bucket and key: S3, or a directory tree locally.
pub trait ObjectStore: Send + Sync {
    /// Write a whole object; returns what the store recorded (etag, version id).
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> impl Future<Output = PortResult<ObjectMeta>> + Send;
    /// Open an object for streaming. `NotFound` when it is gone.
    fn get(&self, bucket: &str, key: &str) -> impl Future<Output = PortResult<Object>> + Send;
    /// Metadata of an object, `None` when it does not exist.
    fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = PortResult<Option<ObjectMeta>>> + Send;
    /// One page of the keys under `prefix`, in key order; `continuation` is a previous page's `next`.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
    ) -> impl Future<Output = PortResult<ListPage>> + Send;
    /// Delete an object; deleting a missing object succeeds (as S3 does).
    fn delete(&self, bucket: &str, key: &str) -> impl Future<Output = PortResult<()>> + Send;
}

/// A message attribute as SQS keeps it: its data type (`String`, `Number`, `Binary`, or one of
/// them with a custom suffix such as `Number.float`) and its value, text or bytes. Adapters carry
/// both unchanged, so a message moved between queues keeps every attribute as it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAttribute {
    pub data_type: String,
    pub value: AttributeValue,
}

/// The value of a [`MessageAttribute`]: `Binary` types carry bytes, the others text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    Text(String),
    Binary(Bytes),
}

impl MessageAttribute {
    /// A `String` attribute.
    pub fn string(value: impl Into<String>) -> Self {
        Self::text("String", value)
    }

    /// A `Number` attribute (SQS keeps numbers as their text).
    pub fn number(value: impl Into<String>) -> Self {
        Self::text("Number", value)
    }

    /// A `Binary` attribute.
    pub fn binary(value: impl Into<Bytes>) -> Self {
        MessageAttribute {
            data_type: "Binary".to_owned(),
            value: AttributeValue::Binary(value.into()),
        }
    }

    /// A text attribute of any data type (`String.custom`, `Number.float`, …).
    pub fn text(data_type: impl Into<String>, value: impl Into<String>) -> Self {
        MessageAttribute {
            data_type: data_type.into(),
            value: AttributeValue::Text(value.into()),
        }
    }

    /// The text of a `String` or `Number` attribute; `None` for bytes.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            AttributeValue::Text(text) => Some(text),
            AttributeValue::Binary(_) => None,
        }
    }

    /// Whether the data type is `Binary` (or `Binary.<custom>`), whose value is bytes.
    pub fn is_binary_type(&self) -> bool {
        base_type(&self.data_type) == "Binary"
    }
}

/// The SQS base type of a data type: `Number.float` → `Number`.
pub fn base_type(data_type: &str) -> &str {
    data_type
        .split_once('.')
        .map_or(data_type, |(base, _)| base)
}

impl std::fmt::Display for MessageAttribute {
    /// `value` for text, `<n bytes>` for bytes, with the data type when it is not `String`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.value, self.data_type.as_str()) {
            (AttributeValue::Text(text), "String") => write!(f, "{text}"),
            (AttributeValue::Text(text), data_type) => write!(f, "{text} ({data_type})"),
            (AttributeValue::Binary(bytes), data_type) => {
                write!(f, "<{} bytes> ({data_type})", bytes.len())
            }
        }
    }
}

/// A message to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    /// Message attributes of any data type.
    pub attributes: BTreeMap<String, MessageAttribute>,
}

impl OutgoingMessage {
    pub fn new(body: impl Into<String>) -> Self {
        OutgoingMessage {
            body: body.into(),
            attributes: BTreeMap::new(),
        }
    }
}

/// A received message, invisible to others until its visibility timeout ends or it is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub attributes: BTreeMap<String, MessageAttribute>,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Approximate counts, as SQS reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
}

/// A queue's dead-letter policy, as SQS's `RedrivePolicy`: a message received
/// `max_receive_count` times without being deleted moves to `dead_letter_queue` (addressed as the
/// adapter addresses queues: a queue URL, or a local queue name) on its next receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    pub dead_letter_queue: String,
    pub max_receive_count: u32,
}

/// A queue addressed by an opaque string: an SQS queue URL, or a local queue name.
pub trait Queue: Send + Sync {
    fn send(
        &self,
        queue: &str,
        message: &OutgoingMessage,
    ) -> impl Future<Output = PortResult<String>> + Send;
    /// Receive up to `max` (1..=10) messages, waiting up to `wait` for the first.
    fn receive(
        &self,
        queue: &str,
        max: u32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> impl Future<Output = PortResult<Vec<ReceivedMessage>>> + Send;
    fn delete(
        &self,
        queue: &str,
        receipt_handle: &str,
    ) -> impl Future<Output = PortResult<()>> + Send;
    fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> impl Future<Output = PortResult<()>> + Send;
    fn depth(&self, queue: &str) -> impl Future<Output = PortResult<QueueDepth>> + Send;
}

/// One record read from a stream shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub sequence_number: String,
    pub partition_key: String,
    pub data: Bytes,
    pub approximate_arrival: DateTime<Utc>,
}

/// Where to start reading a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardPosition {
    AtSequence(String),
    AfterSequence(String),
    TrimHorizon,
}

/// A page of records read from one shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardRead {
    pub records: Vec<StreamRecord>,
    /// Milliseconds the reader is behind the tip of the shard; 0 at the tip.
    pub millis_behind: u64,
}

/// Reads Kinesis shards by position (used to replay on-failure ranges and in tests).
pub trait StreamReader: Send + Sync {
    fn shards(&self, stream: &str) -> impl Future<Output = PortResult<Vec<String>>> + Send;
    fn read(
        &self,
        stream: &str,
        shard: &str,
        from: &ShardPosition,
        max_records: u32,
    ) -> impl Future<Output = PortResult<ShardRead>> + Send;
}

/// Dead-letter queue administration: naming queues and pairing a DLQ with the queues that feed
/// it (SQS, or local mode's SQLite queues). Moving messages is the [`Queue`] port's.
pub trait DeadLetters: Send + Sync {
    /// The address of a queue given by name or address (SQS: its URL; local: its name).
    /// `NotFound` when there is no such queue.
    fn address(&self, name_or_address: &str) -> impl Future<Output = PortResult<String>> + Send;
    /// The addresses of the queues whose redrive policy names `dlq`, sorted
    /// (`ListDeadLetterSourceQueues`).
    fn sources(&self, dlq: &str) -> impl Future<Output = PortResult<Vec<String>>> + Send;
}

/// A warehouse that loads curated objects exactly once (Redshift Data API, PostgreSQL, SQLite).
/// The SQL is `loglift_core::sql`'s; errors: `Transient` to retry (connection, serialization
/// failure, lock timeout), `Rejected` for poison (bad SQL, a row the table refuses, a curated
/// object missing from the store), with the reason in the message.
pub trait Warehouse: Send + Sync {
    /// Create the pipeline's table (and the load ledger) if missing; add the spec's columns the
    /// table lacks (`ADD COLUMN`, never a drop). Running it again is a no-op.
    fn ensure_table(
        &self,
        pipeline: &loglift_core::spec::Pipeline,
    ) -> impl Future<Output = PortResult<()>> + Send;
    /// Load one batch of loader messages for the pipeline's table in ONE transaction: lock,
    /// stage, skip objects the ledger holds, dedupe, apply the duplicate policy, record the
    /// objects in the ledger, commit. A retry after a commit is a no-op.
    fn load(
        &self,
        pipeline: &loglift_core::spec::Pipeline,
        batch: &loglift_core::storage::LoadBatch,
    ) -> impl Future<Output = PortResult<loglift_core::storage::LoadReport>> + Send;
}

/// The load ledger a [`Warehouse`] writes in each load's transaction, read apart from loading:
/// what `audit` and `status` ask, and the loader's pruning. A warehouse adapter implements both
/// ports on one connection; a reader of the ledger needs only this one.
pub trait Ledger: Send + Sync {
    /// Delete ledger rows loaded before `before`; returns how many (0 when there is no ledger
    /// yet).
    fn prune_ledger(&self, before: DateTime<Utc>) -> impl Future<Output = PortResult<u64>> + Send;
    /// The ledger per source object of `pipeline`, for source objects (`s3://bucket/key#version`)
    /// in `[from, to)` by string order (raw keys sort by their `dt=/hour=` partition, so an hour
    /// range is a string range): curated objects loaded and their rows (before row dedupe).
    /// Empty when the ledger does not exist yet.
    fn ledger_sources(
        &self,
        pipeline: &str,
        from: &str,
        to: &str,
    ) -> impl Future<Output = PortResult<Vec<LedgerSource>>> + Send;
    /// Per target table: the last load time and the objects and rows loaded since `since`.
    fn ledger_tables(
        &self,
        since: DateTime<Utc>,
    ) -> impl Future<Output = PortResult<Vec<LedgerTable>>> + Send;
}

/// The ledger's view of one source object (raw or landing): what was loaded from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSource {
    /// `s3://bucket/key#version-or-etag`, as in the curated rows' `source_object`.
    pub source_object: String,
    pub objects: u64,
    /// Rows of the loaded curated objects, duplicates included (the loader dedupes them).
    pub rows: u64,
}

/// The ledger's view of one target table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerTable {
    pub table: String,
    pub last_loaded_at: Option<DateTime<Utc>>,
    pub objects_since: u64,
    pub rows_since: u64,
}

/// One record to put into a Kinesis stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRecord {
    pub partition_key: String,
    pub data: Bytes,
}

/// Where a Firehose delivery stream takes its records from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliverySource {
    /// Producers call `PutRecordBatch` on the delivery stream itself.
    DirectPut,
    /// The delivery stream reads this Kinesis stream (name and ARN); Firehose refuses
    /// `PutRecord`/`PutRecordBatch` on it: producers put into the stream.
    KinesisStream { name: String, arn: String },
}

/// Sends records into the deployment's entries: Kinesis streams (`PutRecords`) and Firehose
/// delivery streams (`PutRecordBatch`). Used by `loglift smoke`; the functions never send.
pub trait StreamWriter: Send + Sync {
    /// Put records into a Kinesis stream, in order; records the service refused are retried a
    /// few times, then the call fails naming the refusal.
    fn put_records(
        &self,
        stream: &str,
        records: &[OutgoingRecord],
    ) -> impl Future<Output = PortResult<()>> + Send;
    /// Put records into a DirectPut delivery stream (at most 500 per request).
    fn put_record_batch(
        &self,
        delivery_stream: &str,
        records: &[Bytes],
    ) -> impl Future<Output = PortResult<()>> + Send;
    /// Where the delivery stream reads from (`DescribeDeliveryStream`).
    fn delivery_source(
        &self,
        delivery_stream: &str,
    ) -> impl Future<Output = PortResult<DeliverySource>> + Send;
}

/// Rows of a warehouse table looked up and removed by `event_id` (the smoke test's tagged
/// events). The SQL is `loglift_core::smoke`'s; a table that does not exist yet holds no rows.
pub trait EventRows: Send + Sync {
    /// The number of rows per event id of `event_ids` in `table` (`schema.table` as the spec
    /// writes it); ids without rows are absent from the map.
    fn count_events(
        &self,
        table: &str,
        event_ids: &[String],
    ) -> impl Future<Output = PortResult<BTreeMap<String, u64>>> + Send;
    /// Delete the rows of these event ids; returns how many were deleted.
    fn delete_events(
        &self,
        table: &str,
        event_ids: &[String],
    ) -> impl Future<Output = PortResult<u64>> + Send;
}

/// Secret strings (Secrets Manager), read once at init: the PostgreSQL loader's credentials.
/// Implementations never log or quote the value.
pub trait SecretSource: Send + Sync {
    /// The current string value of the secret `id` (a name or an ARN).
    fn secret_string(&self, id: &str) -> impl Future<Output = PortResult<String>> + Send;
}

/// Small configuration values kept outside the spec (DynamoDB items).
pub trait ConfigLookup: Send + Sync {
    /// The string list in `attribute` of the item whose key `key_name` is `key_value`, in order;
    /// `None` when the item does not exist.
    fn string_list(
        &self,
        table: &str,
        key_name: &str,
        key_value: &str,
        attribute: &str,
    ) -> impl Future<Output = PortResult<Option<Vec<String>>>> + Send;
}

/// The time, as a port so tests can fix it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that always says the same time.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}
