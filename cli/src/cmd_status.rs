//! `loglift status`: per pipeline, queue and DLQ depths, oldest message age, last load per table.

use std::process::ExitCode;

use loglift_ports::SystemClock;
use loglift_stages::status::{status as read_status, Status};

use crate::backend::{local_watched_queues, Backend, Where};

/// `loglift status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub place: Where,
}

/// Exit 0 when every dead-letter queue is empty, 3 when one holds messages (for cron and CI).
pub fn status(args: StatusArgs) -> Result<ExitCode, String> {
    crate::runtime()?.block_on(async {
        let status: Status = match Backend::open(&args.place).await? {
            Backend::Local(local) => read_status(
                &local.load.spec,
                &local.transform.queue,
                &local_watched_queues(),
                &local.load.warehouse,
                &SystemClock,
            )
            .await
            .map_err(|e| e.to_string())?,
            Backend::Aws(aws) => {
                let queues = aws.watched_queues().await?;
                let warehouse = aws.warehouse().await?;
                read_status(&aws.spec, &aws.queue, &queues, &warehouse, &SystemClock)
                    .await
                    .map_err(|e| e.to_string())?
            }
        };
        crate::output::print(&status, args.json)?;
        Ok(if status.needs_attention() {
            ExitCode::from(3)
        } else {
            ExitCode::SUCCESS
        })
    })
}
