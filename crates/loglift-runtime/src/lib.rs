//! The floor above the adapters that the four functions and the CLI share: what turns typed
//! configuration (`loglift_stages::config`) into adapters, written once.
//!
//! - [`warehouse`]: the dedupe-loader's warehouse (Redshift through the Data API, or PostgreSQL
//!   over TLS with credentials from the URL or Secrets Manager) from a `LoadConfig`.
//! - [`dlq`]: each dead-letter queue paired with the one queue that dead-letters into it.
//! - [`local`]: local mode — the handlers on a filesystem lake, SQLite queues and warehouse;
//!   S3 notifications and the event source mappings emulated; a run's summary.
//!
//! Function mains and CLI commands call these and keep only wiring, printing and progress.

pub mod dlq;
pub mod local;
pub mod warehouse;
