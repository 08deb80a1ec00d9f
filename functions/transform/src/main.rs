//! The transform Lambda: wiring only. Configuration and the spec are read once at init; each SQS
//! batch goes to `loglift_stages::transform::handle_sqs`, whose partial batch response is returned
//! (the mapping needs `ReportBatchItemFailures`).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use loglift_ports::{Clock, SystemClock};
use loglift_stages::config::{CommonConfig, TransformConfig};
use loglift_stages::diagnostic::Failure;
use loglift_stages::obs::{init_or_exit, MetricsId};
use loglift_stages::priority::PriorityCache;
use loglift_stages::transform::{handle_sqs, TransformDeps};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    loglift_stages::obs::init_tracing();
    let metrics = MetricsId::from_env("transform");
    let common = init_or_exit(CommonConfig::from_env());
    let config = init_or_exit(TransformConfig::from_env());
    let sdk = loglift_aws::sdk_config().await;
    let store = loglift_aws::S3Store::new(loglift_aws::s3_client(&sdk));
    let spec = init_or_exit(common.load_spec(&store).await);
    let deps = TransformDeps {
        spec,
        layout: common.layout,
        store,
        queue: loglift_aws::SqsQueue::new(loglift_aws::sqs_client(&sdk)),
        clock: SystemClock,
        loader_queue: config.loader_queue,
        limits: config.limits,
        priorities: PriorityCache::new(loglift_aws::DynamoLookup::new(
            loglift_aws::dynamodb_client(&sdk),
        )),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (deps, metrics) = (&deps, &metrics);
        async move {
            let bytes = serde_json::to_vec(&event.payload)?;
            let (response, tally) = handle_sqs(deps, &bytes).await?;
            tally.report(metrics, deps.clock.now().timestamp_millis());
            Ok::<_, Failure>(response)
        }
    }))
    .await
}
