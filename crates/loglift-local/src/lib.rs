//! Local adapters for loglift's ports, so the same stage handlers run on a laptop.
//!
//! Data flow in local mode: the CLI builds an [`FsObjectStore`] (S3 buckets become directories
//! under one root, object `k` of bucket `b` is the file `root/b/k`) and a [`SqliteQueue`] (SQS
//! queues, with visibility timeouts and dead-letter redrive, in one SQLite file), and hands them to
//! the stage handlers in place of the AWS adapters of `loglift-aws`. Raw objects written by ingest
//! are files a person can open; queue messages survive restarts. [`MemoryStore`] is the same
//! object store contract in memory, for benchmarks and tests that must not touch a disk.
//!
//! Key mapping: each `/`-separated key segment is one path component, kept as written (spaces,
//! `+`, `=`, emoji) except that `%` and control characters are percent-encoded and the segments a
//! filesystem cannot name are spelled `%` (empty, as in `a//b` or a trailing `/`), `%2E` (`.`)
//! and `%2E%2E` (`..`). The mapping is reversible, so listings give back the exact keys.

mod fs_store;
mod keypath;
mod memory_store;
mod sqlite_queue;
mod sqlite_warehouse;
mod static_lookup;

pub use fs_store::{FsObjectStore, LIST_PAGE_SIZE};
pub use loglift_ports::Redrive;
pub use memory_store::MemoryStore;
pub use sqlite_queue::{SqliteQueue, MAX_ATTRIBUTES, MAX_MESSAGE_BYTES, MAX_VISIBILITY};
pub use sqlite_warehouse::SqliteWarehouse;
pub use static_lookup::StaticLookup;
