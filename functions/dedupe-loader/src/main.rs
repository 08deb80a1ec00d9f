//! The dedupe-loader Lambda: wiring only. Configuration, the spec and the warehouse (Redshift
//! through the Data API, or PostgreSQL over TLS with credentials from the URL or a Secrets Manager
//! secret) are set up once at init; each SQS batch of loader messages goes to
//! `loglift_stages::load::handle_sqs`, whose partial batch response is returned.

use std::time::Duration;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use loglift_aws::redshift::{DataApiConfig, Target};
use loglift_aws::{DataApi, RedshiftWarehouse, S3Store, SecretsManager};
use loglift_core::storage::Location;
use loglift_ports::{Clock, SystemClock, Warehouse};
use loglift_postgres::{PgConnectOptions, PgWarehouse};
use loglift_stages::config::{CommonConfig, LoadConfig, RedshiftEndpoint, WarehouseTarget};
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
    match config.target {
        WarehouseTarget::Redshift {
            endpoint,
            secret_arn,
            database,
            copy_role_arn,
        } => {
            let warehouse = RedshiftWarehouse::new(
                DataApi::new(
                    loglift_aws::data_api_client(&sdk),
                    data_api_config(endpoint, secret_arn, database),
                ),
                store.clone(),
                Location::new(common.layout.curated.bucket.clone(), config.manifest_prefix),
                copy_role_arn,
                config.load_timeout.saturating_sub(DEADLINE_MARGIN),
            );
            let mut deps = LoadDeps::new(spec, common.layout, warehouse, store, SystemClock);
            deps.ledger_retention = retention;
            serve(deps, &metrics).await
        }
        WarehouseTarget::Postgres {
            url,
            secret_arn,
            ca_file,
        } => {
            let secrets = SecretsManager::new(loglift_aws::secrets_client(&sdk));
            let options = init_or_exit(
                PgConnectOptions::resolve(
                    url.as_deref(),
                    secret_arn.as_deref(),
                    ca_file.as_deref(),
                    &secrets,
                )
                .await,
            );
            let warehouse = init_or_exit(PgWarehouse::connect_with(options, store.clone()).await);
            let mut deps = LoadDeps::new(spec, common.layout, warehouse, store, SystemClock);
            deps.ledger_retention = retention;
            serve(deps, &metrics).await
        }
    }
}

/// The configured endpoint as the Data API addresses it.
fn data_api_config(
    endpoint: RedshiftEndpoint,
    secret_arn: Option<String>,
    database: String,
) -> DataApiConfig {
    let target = match endpoint {
        RedshiftEndpoint::Workgroup(workgroup) => Target::Serverless { workgroup },
        RedshiftEndpoint::Cluster { id, db_user } => Target::Cluster {
            cluster_id: id,
            db_user,
        },
    };
    let mut config = DataApiConfig::new(target, database);
    config.secret_arn = secret_arn;
    config
}

async fn serve<W: Warehouse>(
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
