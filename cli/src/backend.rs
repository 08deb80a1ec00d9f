//! Where the operational commands (`redrive`, `replay`, `dlq`, `status`, `audit`) act: AWS with
//! the user's credentials (the SDK's own chain; `AWS_ENDPOINT_URL` points it at moto), or local
//! mode's data directory with `--local`. Commands match on [`Backend`] and call the same generic
//! stage function with either set of adapters.

use loglift_aws::{KinesisReader, S3Store, SqsQueue};
use loglift_core::spec::Spec;
use loglift_core::storage::Layout;

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
            return Ok(Backend::Local(Box::new(Local::open(&place.opts)?)));
        }
        let spec = local::load_spec(place.opts.spec.as_deref())?;
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

