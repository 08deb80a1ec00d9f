//! The ingest Lambda: wiring only. Configuration and the spec are read once at init (a missing
//! `LOGLIFT_SPEC` fails the init with a clear error); each invocation's bytes go to
//! `loglift_stages::ingest::handle_payload`, which detects Kinesis or Firehose from the payload.
//! The event is taken as raw JSON (`RawValue`): no `serde_json::Value` of a 6 MB batch is built.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use loglift_ports::{Clock, SystemClock};
use loglift_stages::config::{CommonConfig, IngestConfig};
use loglift_stages::diagnostic::Failure;
use loglift_stages::ingest::{handle_payload, IngestDeps};
use loglift_stages::obs::{init_or_exit, MetricsId};
use serde_json::value::RawValue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    loglift_stages::obs::init_tracing();
    let metrics = MetricsId::from_env("ingest");
    let config = init_or_exit(CommonConfig::from_env());
    let sdk = loglift_aws::sdk_config().await;
    let store = loglift_aws::S3Store::new(loglift_aws::s3_client(&sdk));
    let spec = init_or_exit(config.load_spec(&store).await);
    let deps = IngestDeps {
        gzip_delivery_streams: IngestConfig::from_env().gzip_delivery_streams,
        ..IngestDeps::new(spec, config.layout, store, SystemClock)
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Box<RawValue>>| {
        let (deps, metrics) = (&deps, &metrics);
        async move {
            let (response, tally) = handle_payload(deps, event.payload.get().as_bytes()).await?;
            tally.report(metrics, deps.clock.now().timestamp_millis());
            Ok::<_, Failure>(response)
        }
    }))
    .await
}
