//! `loglift status`: per pipeline, queue and DLQ depths, oldest message age, last load per table.

use std::process::ExitCode;

/// `loglift status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub place: crate::backend::Where,
}

pub fn status(_args: StatusArgs) -> Result<ExitCode, String> {
    Err("not built yet".into())
}
