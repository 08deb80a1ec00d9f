//! `loglift replay` (rejects after a spec fix; backfill of a range) and `loglift audit`.

use std::process::ExitCode;

/// `loglift replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub place: crate::backend::Where,
}

/// `loglift audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub place: crate::backend::Where,
}

pub fn replay(_args: ReplayArgs) -> Result<ExitCode, String> {
    Err("not built yet".into())
}

pub fn audit(_args: AuditArgs) -> Result<ExitCode, String> {
    Err("not built yet".into())
}
