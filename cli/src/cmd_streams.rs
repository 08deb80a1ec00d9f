//! `loglift redrive kinesis` and `loglift redrive firehose`: Kinesis on-failure records and
//! Firehose error output back through ingest.

use std::process::ExitCode;

/// `loglift redrive kinesis`.
#[derive(Debug, clap::Args)]
pub struct KinesisArgs {
    #[command(flatten)]
    pub place: crate::backend::Where,
}

/// `loglift redrive firehose`.
#[derive(Debug, clap::Args)]
pub struct FirehoseArgs {
    #[command(flatten)]
    pub place: crate::backend::Where,
}

pub fn kinesis(_args: KinesisArgs) -> Result<ExitCode, String> {
    Err("not built yet".into())
}

pub fn firehose(_args: FirehoseArgs) -> Result<ExitCode, String> {
    Err("not built yet".into())
}
