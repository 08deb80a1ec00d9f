//! `loglift compact`: merge a pipeline's small curated Parquet parts into files of a target size.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use loglift_core::compact::DEFAULT_TARGET_BYTES;
use loglift_stages::compact::{compact, CompactDeps, CompactOptions, CompactReport};

use crate::backend::{Backend, Where};
use crate::cmd_replay::parse_time;
use crate::progress::Bar;

/// `loglift compact`.
#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Per hour partition of [since, until) (curated/pipeline=P/dt=…/hour=…/): the \
Parquet parts under the target size are packed, in key order, into files of at most the target \
size (`compacted-<hash of the inputs>.parquet`); a partition already compacted is left as it is, \
so a second run does nothing. Only parts whose rows the load ledger holds are merged (a loader \
message still on its way names its parts) and were written at least --min-age ago (default 1h:
a loader message may be delivered again shortly after its load); the others are left alone.

Each merge writes the new file, reads it back (the row count must match), writes a record to \
reports/compaction/pipeline=P/dt=…/hour=…/<file>.json, then deletes the inputs. A lake reader \
(Athena, DuckDB) listing the partition between the write and the deletes sees those rows twice, \
never none. Compaction never asks the loader to load: the warehouse is untouched.

AWS: the lake from LOGLIFT_LAKE_BUCKET, the ledger from the dedupe-loader's variables \
(LOGLIFT_WAREHOUSE, …). --local: local mode's lake and warehouse.

Times are UTC: RFC 3339, YYYY-MM-DDTHH or YYYY-MM-DD."
)]
pub struct CompactArgs {
    #[arg(long)]
    pub pipeline: String,
    /// Start of the range (inclusive).
    #[arg(long, value_parser = parse_time)]
    pub since: DateTime<Utc>,
    /// End of the range (exclusive).
    #[arg(long, value_parser = parse_time)]
    pub until: DateTime<Utc>,
    /// Size of a merged file, in bytes (default 128 MiB).
    #[arg(long, default_value_t = DEFAULT_TARGET_BYTES)]
    pub target_bytes: u64,
    /// Leave parts younger than this alone (a redelivered loader message may still name them).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::cmd_sqs::parse_duration)]
    pub min_age: std::time::Duration,
    /// Change nothing; print what would be merged.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub place: Where,
}

pub fn run(args: CompactArgs) -> Result<ExitCode, String> {
    crate::runtime()?.block_on(async {
        let options = CompactOptions {
            pipeline: args.pipeline.clone(),
            since: args.since,
            until: args.until,
            target_bytes: args.target_bytes.max(1),
            dry_run: args.dry_run,
            min_age: chrono::TimeDelta::from_std(args.min_age).map_err(|e| e.to_string())?,
        };
        let bar = Bar::new("partitions");
        let now = Utc::now();
        let report: Result<CompactReport, String> = match Backend::open(&args.place).await? {
            Backend::Local(local) => {
                let deps = CompactDeps {
                    spec: &local.transform.spec,
                    layout: &local.transform.layout,
                    store: &local.transform.store,
                    warehouse: &local.load.warehouse,
                    now,
                };
                compact(&deps, &options, &bar)
                    .await
                    .map_err(|e| e.to_string())
            }
            Backend::Aws(aws) => {
                let warehouse = aws.warehouse().await?;
                let deps = CompactDeps {
                    spec: &aws.spec,
                    layout: &aws.layout,
                    store: &aws.store,
                    warehouse: &warehouse,
                    now,
                };
                compact(&deps, &options, &bar)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        bar.finish();
        crate::output::print(&report?, args.json)?;
        Ok(ExitCode::SUCCESS)
    })
}
