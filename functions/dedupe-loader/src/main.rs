//! The dedupe-loader Lambda: wiring only. Configuration, the spec and the warehouse (Redshift
//! through the Data API, or PostgreSQL over TLS with credentials from the URL or a Secrets Manager
//! secret) are set up once at init; each SQS batch of loader messages goes to
//! `loglift_stages::load::handle_sqs`, whose partial batch response is returned.

use std::time::Duration;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use loglift_aws::S3Store;
use loglift_ports::{Clock, Ledger, SystemClock, Warehouse};
use loglift_stages::config::{CommonConfig, LoadConfig};
use loglift_stages::diagnostic::Failure;
use loglift_stages::load::{handle_sqs, LoadDeps};
use loglift_stages::obs::{init_or_exit, MetricsId};
use serde_json::Value;

/// Time kept back from the Lambda deadline for the response.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), Error> {
    loglift_stages::obs::init_tracing();
    let metrics = MetricsId::from_env("dedupe-loader");
    let common = init_or_exit(CommonConfig::from_env());
    let config = init_or_exit(LoadConfig::from_env());
    let sdk = loglift_aws::sdk_config().await;
    let store = S3Store::new(loglift_aws::s3_client(&sdk));
    let spec = init_or_exit(common.load_spec(&store).await);
    let retention = chrono::TimeDelta::days(config.ledger_retention_days);
    let warehouse = init_or_exit(
        loglift_runtime::warehouse::connect(
            &sdk,
            &store,
            &common.layout.curated.bucket,
            config,
            DEADLINE_MARGIN,
        )
        .await,
    );
    let mut deps = LoadDeps::new(spec, common.layout, warehouse, store, SystemClock);
    deps.ledger_retention = retention;
    serve(deps, &metrics).await
}

async fn serve<W: Warehouse + Ledger>(
    deps: LoadDeps<W, S3Store, SystemClock>,
    metrics: &MetricsId,
) -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let deps = &deps;
        async move {
            let bytes = serde_json::to_vec(&event.payload)?;
            let (response, loaded) = handle_sqs(deps, &bytes).await?;
            loaded
                .tally
                .report(metrics, deps.clock.now().timestamp_millis());
            Ok::<_, Failure>(response)
        }
    }))
    .await
}
