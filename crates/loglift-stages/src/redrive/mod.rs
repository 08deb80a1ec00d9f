//! The ways back: every place a failure ends up, and the handler that returns it to the pipeline.
//!
//! | source | module | how |
//! |---|---|---|
//! | SQS dead-letter queues (transform, loader) | [`sqs`] | receive → send to the source (or a named target) → delete after the send; filters, rate, dry run |
//! | Kinesis on-failure records (SQS metadata or S3 payload) | [`kinesis`] | re-read the sequence range (or the kept payload) and run it through ingest again |
//! | Firehose error output (`errors/firehose/…`) | [`firehose`] | decode `rawData`, re-ingest into raw, archive the error object |
//! | reject records (`errors/rejects/…`) | [`rejects`] | feed their raw bytes back through transform after a spec fix |
//! | a range of raw or landing objects | [`backfill`] | re-announce them to the transform queue |
//!
//! Moves are at-least-once (send, then delete or archive): the loader's dedupe absorbs a replayed
//! duplicate. Every handler reports [`RedriveReport`] counts and takes a [`Progress`] so the CLI can
//! draw a bar and the Lambda can stay quiet.

pub mod backfill;
pub mod command;
pub mod firehose;
pub mod kinesis;
pub mod rejects;
pub mod sqs;

use serde::Serialize;

/// What one redrive or replay did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RedriveReport {
    /// Messages, records or objects sent back (or that would be, in a dry run).
    pub moved: u64,
    /// Looked at and left where they are (filtered out, already replayed, over `max`).
    pub skipped: u64,
    /// Could not be moved this time (the reason is logged); they stay where they were.
    pub failed: u64,
    /// Gone for good (for example Kinesis records past the stream's retention), by count.
    pub unrecoverable: u64,
    pub dry_run: bool,
    /// One line per notable item: what would move in a dry run, what failed and why, the
    /// unrecoverable ranges.
    pub details: Vec<String>,
}

impl RedriveReport {
    /// Add another report's counts and details to this one.
    pub fn absorb(&mut self, other: RedriveReport) {
        self.moved += other.moved;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.unrecoverable += other.unrecoverable;
        self.dry_run |= other.dry_run;
        self.details.extend(other.details);
    }

    /// An object listed at `at` that could not be read: gone since the listing (skipped), or
    /// left in place for the next run (failed).
    pub fn unreadable(&mut self, at: &str, e: &loglift_ports::PortError) {
        if e.is_not_found() {
            self.skipped += 1;
            self.details.push(format!("{at}: gone since the listing"));
        } else {
            self.failed += 1;
            self.details.push(format!("{at}: {e}; left in place"));
        }
    }
}

/// Progress of a long redrive: the CLI draws a bar, the Lambda passes [`NoProgress`].
pub trait Progress: Send + Sync {
    /// The total, when known (queue depth, objects listed).
    fn set_total(&self, _total: u64) {}
    /// `n` more items handled.
    fn advance(&self, _n: u64) {}
    /// What is going on now (a bar shows it next to the count).
    fn message(&self, _text: &str) {}
}

/// No progress output.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
