//! loglift's stage handlers, written once and generic over the ports, plus what every function
//! shares: typed configuration ([`config`]), spec loading and the one logging and metrics voice
//! ([`obs`]).
//!
//! Data flow: ingest (Kinesis / Firehose batches → raw objects, rejects) → transform (S3 events
//! via SQS → curated objects, rejects, loader messages) → load (loader messages → warehouse, in
//! one transaction with the ledger) → redrive (DLQs, on-failure records, error output → back in).
//! The mains in `functions/*` and the `loglift` CLI only wire adapters to these handlers.

pub mod audit;
pub mod compact;
pub mod config;
pub mod diagnostic;
pub mod esm;
pub mod failure;
pub mod firehose;
pub mod ingest;
pub mod load;
pub mod obs;
pub mod priority;
pub mod redrive;
pub mod smoke;
pub mod status;
pub mod transform;
