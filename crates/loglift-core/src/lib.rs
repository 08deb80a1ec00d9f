//! loglift's pure core: bytes in, domain values out. No tokio, no AWS SDK, no Lambda runtime.
//!
//! Data flow: a Lambda event's records are read from their wire form ([`wire`]), each record's
//! bytes are unwrapped ([`envelope`]: base64 already done by serde, then KPL aggregation, gzip or
//! zlib with a cap ([`compress`]), CloudWatch Logs payloads, JSON / NDJSON / JSON arrays) into
//! events; each event is routed to a pipeline of the [`spec`] ([`route`]) and given its id
//! ([`identity`]); it becomes a [`record::RawEvent`] line in raw storage, whose keys and messages
//! the [`storage`] contract computes. Whatever cannot be decoded or routed becomes a
//! [`reject::RejectRecord`] with its position and a stable reason code. [`metrics`] formats the
//! Embedded Metric Format lines every function prints.

pub mod address;
pub mod audit;
pub mod columnar;
pub mod compact;
pub mod compress;
pub mod curate;
pub mod cwlogs;
pub mod envelope;
pub mod event_json;
pub mod failures;
pub mod identity;
pub mod ingest;
pub mod jobs;
pub mod jsonarray;
pub mod jsonstr;
pub mod kpl;
pub mod message_filter;
pub mod metrics;
pub mod ndjson;
pub mod record;
pub mod reject;
pub mod route;
pub mod s3event;
pub mod smoke;
pub mod spec;
pub mod sql;
pub mod storage;
pub mod textlog;
pub mod timefmt;
pub mod transform;
pub mod wire;
