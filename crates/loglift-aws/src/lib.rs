//! AWS adapters for loglift's ports: [`S3Store`] ([`ObjectStore`](loglift_ports::ObjectStore)),
//! [`SqsQueue`] ([`Queue`](loglift_ports::Queue)), [`KinesisReader`]
//! ([`StreamReader`](loglift_ports::StreamReader)) and [`DynamoLookup`]
//! ([`ConfigLookup`](loglift_ports::ConfigLookup)), [`AwsStreamWriter`]
//! ([`StreamWriter`](loglift_ports::StreamWriter): Kinesis and Firehose puts for `loglift smoke`);
//! [`DataApi`] ([`redshift`]), the Redshift Data API transport of the Redshift warehouse; and
//! [`SecretsManager`], which reads the PostgreSQL loader's credentials at init.
//!
//! Data flow: a main calls [`sdk_config`] once (region, credentials and endpoints from the SDK's own
//! environment/profile chain, so `AWS_ENDPOINT_URL` points everything at moto or LocalStack),
//! builds clients with [`s3_client`], [`sqs_client`], [`kinesis_client`], wraps them in the
//! adapters and hands those to the generic stage handlers. Every SDK error goes through one mapping
//! to a [`PortError`](loglift_ports::PortError) whose disposition (not found, rejected, transient)
//! tells the handler whether to retry, and whose text names the operation and its target.

mod dynamodb;
mod error;
mod kinesis;
pub mod redshift;
mod redshift_warehouse;
mod s3;
mod secrets;
mod sqs;
mod stream_writer;
mod time;

pub use dynamodb::DynamoLookup;
pub use kinesis::KinesisReader;
pub use loglift_ports::Redrive;
pub use redshift::{DataApi, DataApiConfig, DataApiError};
pub use redshift_warehouse::RedshiftWarehouse;
pub use s3::S3Store;
pub use secrets::SecretsManager;
pub use sqs::{queue_name, MoveTask, MoveTaskStatus, SqsQueue, MAX_MOVE_RATE};
pub use stream_writer::AwsStreamWriter;

use aws_config::{BehaviorVersion, SdkConfig};

/// The shared SDK configuration from the environment and profile chain (`AWS_REGION`,
/// credentials, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// An S3 client. When an endpoint URL is configured (moto, LocalStack, MinIO), addressing is
/// path-style: those endpoints do not resolve `bucket.host` names.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config);
    // `AWS_ENDPOINT_URL_S3` reaches the S3 config without showing in `SdkConfig::endpoint_url`.
    if config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some() {
        builder = builder.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// An SQS client.
pub fn sqs_client(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

/// A Kinesis client.
pub fn kinesis_client(config: &SdkConfig) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::new(config)
}

/// A Firehose client (for [`AwsStreamWriter`]).
pub fn firehose_client(config: &SdkConfig) -> aws_sdk_firehose::Client {
    aws_sdk_firehose::Client::new(config)
}

/// A DynamoDB client.
pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// A Secrets Manager client (for [`SecretsManager`]).
pub fn secrets_client(config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(config)
}

/// A Redshift Data API client (for [`DataApi`]).
pub fn data_api_client(config: &SdkConfig) -> aws_sdk_redshiftdata::Client {
    aws_sdk_redshiftdata::Client::new(config)
}
