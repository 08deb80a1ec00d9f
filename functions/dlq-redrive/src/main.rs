//! The dlq-redrive Lambda: wiring only. Configuration, the spec and the clients are set up once at
//! init, each configured dead-letter queue is paired with its source queue
//! (`ListDeadLetterSourceQueues`); each invocation's JSON command goes to
//! `loglift_stages::redrive::command::run` and its counts are the response.

use lambda_runtime::{service_fn, LambdaEvent};
use loglift_aws::{KinesisReader, S3Store, SqsQueue};
use loglift_ports::SystemClock;
use loglift_stages::config::{CommonConfig, RedriveConfig};
use loglift_stages::diagnostic::Failure;
use loglift_stages::ingest::IngestDeps;
use loglift_stages::obs::init_or_exit;
use loglift_stages::redrive::command::{run, Command, RedriveDeps};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    loglift_stages::obs::init_tracing();
    let common = init_or_exit(CommonConfig::from_env());
    let config = init_or_exit(RedriveConfig::from_env());
    let sdk = loglift_aws::sdk_config().await;
    let store = S3Store::new(loglift_aws::s3_client(&sdk));
    let queue = SqsQueue::new(loglift_aws::sqs_client(&sdk));
    let spec = init_or_exit(common.load_spec(&store).await);
    let dlqs = init_or_exit(loglift_runtime::dlq::pair_dlqs(&queue, &config.dlqs).await);
    let deps = RedriveDeps {
        ingest: IngestDeps::new(spec, common.layout, store, SystemClock),
        streams: KinesisReader::new(loglift_aws::kinesis_client(&sdk)),
        queue,
        transform_queue: config.transform_queue.unwrap_or_default(),
        dlqs,
        kinesis_failure_queue: config.kinesis_failure_queue,
        firehose_sources: config.firehose_sources,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let deps = &deps;
        async move {
            let bytes = serde_json::to_vec(&event.payload)?;
            let command = Command::parse(&bytes)?;
            let report = run(deps, command).await?;
            tracing::info!(
                moved = report.moved,
                skipped = report.skipped,
                failed = report.failed,
                unrecoverable = report.unrecoverable,
                dry_run = report.dry_run,
                "Invocation summary"
            );
            Ok::<_, Failure>(report)
        }
    }))
    .await
}
