//! The dedupe-loader's warehouse, built from [`LoadConfig`]: the Lambda loads through it, the CLI
//! (`audit`, `smoke`, `status`) reads its ledger and rows through the same value.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use loglift_aws::redshift::{DataApiConfig, Target};
use loglift_aws::{DataApi, RedshiftWarehouse, S3Store, SecretsManager};
use loglift_core::spec::Pipeline;
use loglift_core::storage::{LoadBatch, LoadReport, Location};
use loglift_ports::{EventRows, Ledger, LedgerSource, LedgerTable, PortResult, Warehouse};
use loglift_postgres::{PgConnectOptions, PgWarehouse};
use loglift_stages::config::{LoadConfig, RedshiftEndpoint, WarehouseTarget};

/// Why the warehouse could not be set up (a configuration or connection problem at init).
#[derive(Debug, thiserror::Error)]
pub enum WarehouseInitError {
    #[error("PostgreSQL configuration: {0}")]
    Postgres(#[from] loglift_postgres::PgConfigError),
    #[error("PostgreSQL connection: {0}")]
    Connect(#[from] loglift_ports::PortError),
}

/// The configured warehouse: Redshift (Data API) or PostgreSQL.
pub enum AnyWarehouse {
    Redshift(RedshiftWarehouse<S3Store>),
    Postgres(PgWarehouse<S3Store>),
}

/// Build the warehouse `config` names. `curated_bucket` holds the COPY manifests (under
/// `config.manifest_prefix`); Data API polling stops `deadline_margin` before
/// `config.load_timeout`, so a Lambda still has time to answer.
pub async fn connect(
    sdk: &SdkConfig,
    store: &S3Store,
    curated_bucket: &str,
    config: LoadConfig,
    deadline_margin: Duration,
) -> Result<AnyWarehouse, WarehouseInitError> {
    Ok(match config.target {
        WarehouseTarget::Redshift {
            endpoint,
            secret_arn,
            database,
            copy_role_arn,
        } => AnyWarehouse::Redshift(RedshiftWarehouse::new(
            DataApi::new(
                loglift_aws::data_api_client(sdk),
                data_api_config(endpoint, secret_arn, database),
            ),
            store.clone(),
            Location::new(curated_bucket.to_owned(), config.manifest_prefix),
            copy_role_arn,
            config.load_timeout.saturating_sub(deadline_margin),
        )),
        WarehouseTarget::Postgres {
            url,
            secret_arn,
            ca_file,
        } => {
            let secrets = SecretsManager::new(loglift_aws::secrets_client(sdk));
            let options = PgConnectOptions::resolve(
                url.as_deref(),
                secret_arn.as_deref(),
                ca_file.as_deref(),
                &secrets,
            )
            .await?;
            AnyWarehouse::Postgres(PgWarehouse::connect_with(options, store.clone()).await?)
        }
    })
}

/// The configured endpoint as the Data API addresses it.
pub fn data_api_config(
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

impl Warehouse for AnyWarehouse {
    async fn ensure_table(&self, pipeline: &Pipeline) -> PortResult<()> {
        match self {
            AnyWarehouse::Redshift(w) => w.ensure_table(pipeline).await,
            AnyWarehouse::Postgres(w) => w.ensure_table(pipeline).await,
        }
    }
    async fn load(&self, pipeline: &Pipeline, batch: &LoadBatch) -> PortResult<LoadReport> {
        match self {
            AnyWarehouse::Redshift(w) => w.load(pipeline, batch).await,
            AnyWarehouse::Postgres(w) => w.load(pipeline, batch).await,
        }
    }
}

impl Ledger for AnyWarehouse {
    async fn prune_ledger(&self, before: DateTime<Utc>) -> PortResult<u64> {
        match self {
            AnyWarehouse::Redshift(w) => w.prune_ledger(before).await,
            AnyWarehouse::Postgres(w) => w.prune_ledger(before).await,
        }
    }
    async fn ledger_sources(
        &self,
        pipeline: &str,
        from: &str,
        to: &str,
    ) -> PortResult<Vec<LedgerSource>> {
        match self {
            AnyWarehouse::Redshift(w) => w.ledger_sources(pipeline, from, to).await,
            AnyWarehouse::Postgres(w) => w.ledger_sources(pipeline, from, to).await,
        }
    }
    async fn ledger_tables(&self, since: DateTime<Utc>) -> PortResult<Vec<LedgerTable>> {
        match self {
            AnyWarehouse::Redshift(w) => w.ledger_tables(since).await,
            AnyWarehouse::Postgres(w) => w.ledger_tables(since).await,
        }
    }
}

impl EventRows for AnyWarehouse {
    async fn count_events(
        &self,
        table: &str,
        event_ids: &[String],
    ) -> PortResult<BTreeMap<String, u64>> {
        match self {
            AnyWarehouse::Redshift(w) => w.count_events(table, event_ids).await,
            AnyWarehouse::Postgres(w) => w.count_events(table, event_ids).await,
        }
    }
    async fn delete_events(&self, table: &str, event_ids: &[String]) -> PortResult<u64> {
        match self {
            AnyWarehouse::Redshift(w) => w.delete_events(table, event_ids).await,
            AnyWarehouse::Postgres(w) => w.delete_events(table, event_ids).await,
        }
    }
}
