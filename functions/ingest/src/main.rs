//! The ingest Lambda: wiring only. Configuration and the spec are read once at init (a missing
//! `LOGLIFT_SPEC` fails the init with a clear error); each invocation goes to
//! `loglift_stages::ingest::handle_event`, which detects Kinesis or Firehose from the payload.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use loglift_ports::{Clock, SystemClock};
use loglift_stages::config::CommonConfig;
use loglift_stages::diagnostic::Failure;
use loglift_stages::ingest::{handle_event, IngestDeps};
use loglift_stages::obs::{init_or_exit, MetricsId};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    loglift_stages::obs::init_tracing();
    let metrics = MetricsId::from_env("ingest");
    let config = init_or_exit(CommonConfig::from_env());
    let sdk = loglift_aws::sdk_config().await;
    let store = loglift_aws::S3Store::new(loglift_aws::s3_client(&sdk));
    let spec = init_or_exit(config.load_spec(&store).await);
    let deps = IngestDeps::new(spec, config.layout, store, SystemClock);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (deps, metrics) = (&deps, &metrics);
        async move {
            let (response, tally) = handle_event(deps, event.payload).await?;
            tally.report(metrics, deps.clock.now().timestamp_millis());
            Ok::<_, Failure>(response)
        }
    }))
    .await
}
