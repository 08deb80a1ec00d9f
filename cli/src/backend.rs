//! Where the operational commands (`redrive`, `replay`, `dlq`, `status`, `audit`) act: AWS with
//! the user's credentials (the SDK's own chain; `AWS_ENDPOINT_URL` points it at moto), or local
//! mode's data directory with `--local`. Commands match on [`Backend`] and call the same generic
//! stage function with either set of adapters.

use std::time::Duration;

use loglift_aws::{KinesisReader, S3Store, SqsQueue};
use loglift_core::spec::Spec;
use loglift_core::storage::Layout;
pub use loglift_runtime::warehouse::AnyWarehouse;
use loglift_stages::config::{LoadConfig, RedriveConfig};
use loglift_stages::status::WatchedQueue;

use crate::local::{self, Local, LocalOpts};

/// `--local` and its data directory, or AWS.
#[derive(Debug, clap::Args)]
pub struct Where {
    /// Act on local mode's data directory (queues.db, s3/, warehouse.db) instead of AWS.
    #[arg(long)]
    pub local: bool,
    #[command(flatten)]
    pub opts: LocalOpts,
}

/// The AWS side: adapters over the user's credentials, the layout from `LOGLIFT_LAKE_BUCKET`
/// (and `LOGLIFT_<AREA>_BUCKET/PREFIX`), the spec from `--spec` / `LOGLIFT_SPEC` (a path; default
/// the shipped one).
pub struct Aws {
    pub sdk: aws_config::SdkConfig,
    pub spec: Spec,
    pub layout: Layout,
    pub store: S3Store,
    pub queue: SqsQueue,
    pub streams: KinesisReader,
}

pub enum Backend {
    Local(Box<Local>),
    Aws(Box<Aws>),
}

impl Backend {
    pub async fn open(place: &Where) -> Result<Backend, String> {
        if place.local {
            return Ok(Backend::Local(Box::new(local::open(&place.opts)?)));
        }
        // As deployed: terraform prefixes stream names (`LOGLIFT_STREAM_NAMES`).
        let stream_names = match std::env::var("LOGLIFT_STREAM_NAMES") {
            Ok(v) => loglift_stages::config::name_pairs(
                "LOGLIFT_STREAM_NAMES",
                loglift_stages::config::STREAM_NAMES_SHAPE,
                &v,
            )
            .map_err(|e| e.to_string())?,
            Err(_) => Vec::new(),
        };
        let spec = local::load_spec(place.opts.spec.as_deref())?
            .with_deployed_streams(stream_names.iter().map(|(a, b)| (a, b)));
        let layout = Layout::from_lookup(|name| std::env::var(name).ok()).map_err(|e| {
            format!("{e} (set LOGLIFT_LAKE_BUCKET to the lake bucket, or use --local)")
        })?;
        let sdk = loglift_aws::sdk_config().await;
        Ok(Backend::Aws(Box::new(Aws {
            store: S3Store::new(loglift_aws::s3_client(&sdk)),
            queue: SqsQueue::new(loglift_aws::sqs_client(&sdk)),
            streams: KinesisReader::new(loglift_aws::kinesis_client(&sdk)),
            sdk,
            spec,
            layout,
        })))
    }
}

impl Aws {
    /// An AWS queue variable (`LOGLIFT_TRANSFORM_QUEUE`, …): a URL, or a name resolved with
    /// `GetQueueUrl`.
    pub async fn queue_from_env(&self, variable: &str) -> Result<Option<String>, String> {
        match std::env::var(variable)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            None => Ok(None),
            Some(v) => self
                .queue
                .queue_url(v.trim())
                .await
                .map(Some)
                .map_err(|e| format!("{variable}={v}: {e}")),
        }
    }

    /// The queues `status` and `audit` watch: `LOGLIFT_TRANSFORM_QUEUE`, `LOGLIFT_LOADER_QUEUE`
    /// and the dead-letter queues in `LOGLIFT_DLQS` (comma-separated), as terraform outputs them.
    pub async fn watched_queues(&self) -> Result<Vec<WatchedQueue>, String> {
        let mut queues = Vec::new();
        for (label, variable) in [
            ("transform", "LOGLIFT_TRANSFORM_QUEUE"),
            ("loader", "LOGLIFT_LOADER_QUEUE"),
        ] {
            if let Some(address) = self.queue_from_env(variable).await? {
                queues.push(WatchedQueue {
                    label: label.to_owned(),
                    address,
                    dead_letter: false,
                });
            }
        }
        for dlq in self.dead_letter_queues()? {
            queues.push(WatchedQueue {
                label: loglift_aws::queue_name(&dlq).to_owned(),
                address: dlq,
                dead_letter: true,
            });
        }
        if queues.is_empty() {
            return Err("no queues configured: set LOGLIFT_TRANSFORM_QUEUE, LOGLIFT_LOADER_QUEUE and LOGLIFT_DLQS (terraform outputs them), or use --local".into());
        }
        Ok(queues)
    }

    /// The dead-letter queues' URLs (`LOGLIFT_DLQS`).
    pub fn dead_letter_queues(&self) -> Result<Vec<String>, String> {
        Ok(RedriveConfig::from_env().map_err(|e| e.to_string())?.dlqs)
    }

    /// The warehouse the dedupe-loader loads, from the same variables (`LOGLIFT_WAREHOUSE`, …).
    pub async fn warehouse(&self) -> Result<AnyWarehouse, String> {
        let config = LoadConfig::from_env().map_err(|e| e.to_string())?;
        loglift_runtime::warehouse::connect(
            &self.sdk,
            &self.store,
            &self.layout.curated.bucket,
            config,
            Duration::ZERO,
        )
        .await
        .map_err(|e| e.to_string())
    }
}

/// The local queues `status` and `audit` watch.
pub fn local_watched_queues() -> Vec<WatchedQueue> {
    [local::TRANSFORM_QUEUE, local::LOADER_QUEUE]
        .into_iter()
        .flat_map(|q| {
            [
                WatchedQueue {
                    label: q.to_owned(),
                    address: q.to_owned(),
                    dead_letter: false,
                },
                WatchedQueue {
                    label: format!("{q}-dlq"),
                    address: format!("{q}-dlq"),
                    dead_letter: true,
                },
            ]
        })
        .collect()
}
