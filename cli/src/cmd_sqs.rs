//! `loglift redrive sqs` and `loglift dlq …`: SQS dead-letter queues.

use std::process::ExitCode;

/// `loglift redrive sqs`.
#[derive(Debug, clap::Args)]
pub struct RedriveArgs {
    #[command(flatten)]
    pub place: crate::backend::Where,
}

/// `loglift dlq …`.
#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// Show a queue's messages without consuming them, next to their recorded failure reasons.
    Inspect {
        /// The queue (name or URL).
        queue: String,
        #[command(flatten)]
        place: crate::backend::Where,
    },
}

pub fn redrive(_args: RedriveArgs) -> Result<ExitCode, String> {
    Err("not built yet".into())
}

pub fn dlq(_cmd: DlqCommand) -> Result<ExitCode, String> {
    Err("not built yet".into())
}
