//! Test harness support: which services the test command started, clients pointed at them, and
//! fixtures shared by the integration suites in `tests/tests/`.
//!
//! Flow: `scripts/test` starts moto and a throwaway PostgreSQL (TLS on), exports
//! `LOGLIFT_TEST_HARNESS=1`, `LOGLIFT_TEST_MOTO_URL`, `LOGLIFT_TEST_PG_URL` and the CA files
//! `LOGLIFT_TEST_PG_CA`/`LOGLIFT_TEST_PG_OTHER_CA`, then runs `cargo test`. A test asks [`moto`]
//! (or [`postgres`], [`postgres_tls`]) for its service: present → it runs against it; absent under
//! the harness → the test fails (a harness that promised a service must deliver it); absent
//! without the harness (a plain `cargo test`) → the test prints `skipped: ...` and returns. Every
//! test names its own buckets and queues with [`unique_name`], since parallel tests share one moto.

pub mod data_api;
pub mod emulate;
pub mod faults;
pub mod runtime_api;

use std::future::Future;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use loglift_aws::{KinesisReader, S3Store, SqsQueue};
use loglift_local::SqliteQueue;
use loglift_ports::{PortResult, Queue, Redrive};

/// Set to `1` by `scripts/test`: the services below are promised.
pub const HARNESS_VAR: &str = "LOGLIFT_TEST_HARNESS";
/// The moto server's base URL, e.g. `http://127.0.0.1:5123`.
pub const MOTO_URL_VAR: &str = "LOGLIFT_TEST_MOTO_URL";
/// A PostgreSQL connection URL to the throwaway `loglift` database.
pub const PG_URL_VAR: &str = "LOGLIFT_TEST_PG_URL";
/// The PEM file of the throwaway CA that signed the harness PostgreSQL's certificate (valid for
/// `127.0.0.1`, `::1` and `localhost`; the server runs with `ssl=on`).
pub const PG_CA_VAR: &str = "LOGLIFT_TEST_PG_CA";
/// The PEM file of a CA unrelated to the harness PostgreSQL's certificate.
pub const PG_OTHER_CA_VAR: &str = "LOGLIFT_TEST_PG_OTHER_CA";
/// The harness PostgreSQL's role whose members log in with a password (SCRAM) over TLS only
/// (`hostssl … scram-sha-256`; plaintext is rejected); everyone else is trusted, TLS or not.
pub const PG_PASSWORD_GROUP: &str = "loglift_password";

/// The region every harness client uses.
pub const REGION: &str = "us-east-1";

/// Whether the test command promised the services.
pub fn under_harness() -> bool {
    std::env::var(HARNESS_VAR).is_ok_and(|v| v == "1")
}

/// The name of the running test (the test harness names each test's thread after it).
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_owned()
}

/// Look up a service URL: `Some` when set; `None` after printing a skip notice when not running
/// under the harness; a panic (a failed test) when the harness promised it.
#[allow(clippy::panic)] // test support: failing the calling test is the point
fn service(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if under_harness() => panic!(
            "{HARNESS_VAR}=1 but {var} is not set: the test harness promised {what} to {}; run the tests with scripts/test",
            test_name()
        ),
        _ => {
            // Written to the stderr handle, not `eprintln!`, so the test harness's output
            // capture does not swallow the notice of a test that passes by skipping.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {} needs {what} (run scripts/test)",
                test_name()
            );
            None
        }
    }
}

/// The moto server of the harness, if there is one (see the crate docs for what happens if not).
pub fn moto() -> Option<MotoEnv> {
    service(MOTO_URL_VAR, "moto").map(|url| MotoEnv { url })
}

/// The PostgreSQL of the harness, if there is one (see the crate docs for what happens if not).
pub fn postgres() -> Option<PgEnv> {
    service(PG_URL_VAR, "PostgreSQL").map(|url| PgEnv { url })
}

/// A throwaway PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgEnv {
    pub url: String,
}

/// The harness PostgreSQL with its TLS material, if there is one (see the crate docs for what
/// happens if not).
pub fn postgres_tls() -> Option<PgTlsEnv> {
    let pg = postgres()?;
    let ca = service(PG_CA_VAR, "the CA of PostgreSQL's certificate")?;
    let other_ca = service(
        PG_OTHER_CA_VAR,
        "a CA unrelated to PostgreSQL's certificate",
    )?;
    Some(PgTlsEnv {
        pg,
        ca: ca.into(),
        other_ca: other_ca.into(),
    })
}

/// The harness PostgreSQL over TLS: [`PG_CA_VAR`] and [`PG_OTHER_CA_VAR`].
#[derive(Debug, Clone)]
pub struct PgTlsEnv {
    pub pg: PgEnv,
    pub ca: std::path::PathBuf,
    pub other_ca: std::path::PathBuf,
}

/// A moto server, and SDK clients pointed at it.
#[derive(Debug, Clone)]
pub struct MotoEnv {
    pub url: String,
}

/// Region us-east-1, static credentials `test`/`test`, `endpoint` as the endpoint: an SDK
/// configuration for a local stand-in that no environment setting can redirect.
pub fn test_sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test",
            "test",
            None,
            None,
            "loglift-tests",
        )))
        .endpoint_url(endpoint)
        .build()
}

impl MotoEnv {
    /// Region us-east-1, static credentials `test`/`test`, endpoint the moto URL. Built without
    /// reading the environment so a developer's own AWS settings cannot leak in.
    pub fn sdk_config(&self) -> SdkConfig {
        test_sdk_config(&self.url)
    }

    /// An S3 client (path-style, through [`loglift_aws::s3_client`]).
    pub fn s3_client(&self) -> aws_sdk_s3::Client {
        loglift_aws::s3_client(&self.sdk_config())
    }

    pub fn sqs_client(&self) -> aws_sdk_sqs::Client {
        loglift_aws::sqs_client(&self.sdk_config())
    }

    pub fn kinesis_client(&self) -> aws_sdk_kinesis::Client {
        loglift_aws::kinesis_client(&self.sdk_config())
    }

    pub fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        loglift_aws::dynamodb_client(&self.sdk_config())
    }

    pub fn secrets_client(&self) -> aws_sdk_secretsmanager::Client {
        loglift_aws::secrets_client(&self.sdk_config())
    }

    pub fn dynamo_lookup(&self) -> loglift_aws::DynamoLookup {
        loglift_aws::DynamoLookup::new(self.dynamodb_client())
    }

    pub fn s3_store(&self) -> S3Store {
        S3Store::new(self.s3_client())
    }

    pub fn sqs_queue(&self) -> SqsQueue {
        SqsQueue::new(self.sqs_client())
    }

    pub fn kinesis_reader(&self) -> KinesisReader {
        KinesisReader::new(self.kinesis_client())
    }

    /// Create a one-shard Kinesis stream with a fresh name starting with `prefix` and wait until
    /// it is active; returns its name and ARN.
    pub async fn new_stream(&self, prefix: &str) -> Result<(String, String), String> {
        let client = self.kinesis_client();
        let stream = unique_name(prefix);
        client
            .create_stream()
            .stream_name(&stream)
            .shard_count(1)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "CreateStream {stream}: {}",
                    aws_sdk_kinesis::error::DisplayErrorContext(e)
                )
            })?;
        for _ in 0..100 {
            let d = client
                .describe_stream_summary()
                .stream_name(&stream)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "DescribeStreamSummary {stream}: {}",
                        aws_sdk_kinesis::error::DisplayErrorContext(e)
                    )
                })?;
            if let Some(summary) = d.stream_description_summary() {
                if summary.stream_status() == &aws_sdk_kinesis::types::StreamStatus::Active {
                    return Ok((stream, summary.stream_arn().to_owned()));
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("stream {stream} did not become active in 10 s"))
    }

    /// Create a bucket with a fresh name starting with `prefix`; returns its name.
    pub async fn new_bucket(&self, prefix: &str) -> Result<String, String> {
        let bucket = unique_name(prefix);
        self.s3_client()
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "CreateBucket {bucket}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )
            })?;
        Ok(bucket)
    }
}

/// A name no other test (or earlier run) uses: `prefix`, then the process id, a counter and the
/// clock. Lowercase letters, digits and `-` only, at most 63 characters: valid for buckets,
/// queues and streams.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000_000);
    let prefix: String = prefix
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(24)
        .collect::<String>()
        .to_lowercase();
    format!(
        "{prefix}-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Queue creation for both queue adapters, so one suite can set up its queues on either.
pub trait TestQueues: Queue {
    /// Create a queue named `name`; returns its address (a local name, or an SQS URL). The
    /// redrive's `dead_letter_queue` is such an address.
    fn create(
        &self,
        name: &str,
        visibility: Duration,
        redrive: Option<Redrive>,
    ) -> impl Future<Output = PortResult<String>> + Send;
}

impl TestQueues for SqliteQueue {
    async fn create(
        &self,
        name: &str,
        visibility: Duration,
        redrive: Option<Redrive>,
    ) -> PortResult<String> {
        self.create_queue(name, visibility, redrive)?;
        Ok(name.to_owned())
    }
}

impl TestQueues for SqsQueue {
    async fn create(
        &self,
        name: &str,
        visibility: Duration,
        redrive: Option<Redrive>,
    ) -> PortResult<String> {
        self.create_queue(name, visibility, redrive.as_ref()).await
    }
}

/// Create a dead-letter queue and a queue redriving to it after `max_receive_count` receives;
/// returns the addresses `(queue, dead_letter_queue)`.
pub async fn create_queue_with_dlq<Q: TestQueues>(
    queues: &Q,
    name: &str,
    visibility: Duration,
    max_receive_count: u32,
) -> PortResult<(String, String)> {
    let dlq = queues
        .create(&format!("{name}-dlq"), visibility, None)
        .await?;
    let redrive = Redrive {
        dead_letter_queue: dlq.clone(),
        max_receive_count,
    };
    let queue = queues.create(name, visibility, Some(redrive)).await?;
    Ok((queue, dlq))
}

/// Run `futures` concurrently on the current task (no spawning, so they may borrow) and return
/// their outputs in order. For bounded fan-out in tests, e.g. many small puts.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *output = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
