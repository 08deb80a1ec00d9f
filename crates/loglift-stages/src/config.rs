//! Typed configuration from environment variables (`from_lookup` makes it testable), and loading
//! the pipeline spec a function runs with. A function without a spec fails its init with a clear
//! error: it never falls back to the samples' spec.

use std::collections::BTreeMap;

use loglift_core::spec::{Spec, SpecError};
use loglift_core::storage::{Layout, LayoutError};
use loglift_ports::ObjectStore;
use tokio::io::AsyncReadExt;

/// The largest spec file read (a spec is a few KB; this bounds a wrong pointer).
const MAX_SPEC_BYTES: u64 = 4 * 1024 * 1024;

/// Why a function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not set: {hint}")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("cannot read the spec from {location}: {reason}")]
    SpecUnreadable { location: String, reason: String },
    #[error("the spec at {location} is invalid:\n{}", errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    SpecInvalid {
        location: String,
        errors: Vec<SpecError>,
    },
}

/// Where the spec is: a local path, or an S3 object (terraform uploads it and passes its version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecSource {
    Path(std::path::PathBuf),
    S3 { bucket: String, key: String },
}

impl SpecSource {
    /// `s3://bucket/key` or a path.
    pub fn parse(value: &str) -> Result<SpecSource, ConfigError> {
        if value.is_empty() {
            return Err(spec_missing());
        }
        if !value.starts_with("s3://") {
            return Ok(SpecSource::Path(value.into()));
        }
        match loglift_core::address::S3Url::parse(value) {
            Some(url) if !url.key.is_empty() => Ok(SpecSource::S3 {
                bucket: url.bucket.to_owned(),
                key: url.key.to_owned(),
            }),
            _ => Err(ConfigError::Invalid {
                name: "LOGLIFT_SPEC",
                value: value.to_owned(),
                reason: "expected s3://bucket/key".into(),
            }),
        }
    }

    /// Read and check the spec.
    pub async fn load<S: ObjectStore>(&self, store: &S) -> Result<Spec, ConfigError> {
        let location = self.to_string();
        let unreadable = |reason: String| ConfigError::SpecUnreadable {
            location: location.clone(),
            reason,
        };
        let text = match self {
            SpecSource::Path(path) => {
                let meta = tokio::fs::metadata(path)
                    .await
                    .map_err(|e| unreadable(e.to_string()))?;
                if meta.len() > MAX_SPEC_BYTES {
                    return Err(unreadable(format!(
                        "{} bytes is more than a spec can be",
                        meta.len()
                    )));
                }
                tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| unreadable(e.to_string()))?
            }
            SpecSource::S3 { bucket, key } => {
                let object = store
                    .get(bucket, key)
                    .await
                    .map_err(|e| unreadable(e.to_string()))?;
                let mut text = String::new();
                object
                    .body
                    .take(MAX_SPEC_BYTES)
                    .read_to_string(&mut text)
                    .await
                    .map_err(|e| unreadable(e.to_string()))?;
                text
            }
        };
        Spec::parse(&text).map_err(|errors| ConfigError::SpecInvalid { location, errors })
    }
}

impl std::fmt::Display for SpecSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpecSource::Path(p) => write!(f, "{}", p.display()),
            SpecSource::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

fn spec_missing() -> ConfigError {
    ConfigError::Missing {
        name: "LOGLIFT_SPEC",
        hint: "set it to the pipeline spec (s3://bucket/key or a path); terraform sets it from var.spec_file",
    }
}

/// `a=b,c=d` (spaces around names ignored, empty items skipped) as pairs, in order; `shape`
/// names the two sides in the error (`spec-stream=deployed-stream`).
pub fn name_pairs(
    name: &'static str,
    shape: &str,
    value: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() => {
                Ok((a.trim().to_owned(), b.trim().to_owned()))
            }
            _ => Err(ConfigError::Invalid {
                name,
                value: pair.to_owned(),
                reason: format!("write {shape} pairs, comma-separated"),
            }),
        })
        .collect()
}

/// The pairs of `LOGLIFT_STREAM_NAMES` and `LOGLIFT_FIREHOSE_SOURCE_STREAMS`.
pub const STREAM_NAMES_SHAPE: &str = "spec-stream=deployed-stream";
pub const FIREHOSE_SOURCES_SHAPE: &str = "delivery-stream=kinesis-stream";

/// What every function needs: the spec's location, the lake layout, and the deployed stream names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonConfig {
    pub spec: SpecSource,
    pub layout: Layout,
    /// `LOGLIFT_STREAM_NAMES`: `spec-stream=deployed-stream,…` (terraform prefixes every stream
    /// with the deployment name; routing compares the spec's names).
    pub stream_names: BTreeMap<String, String>,
}

impl CommonConfig {
    pub fn from_env() -> Result<CommonConfig, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<CommonConfig, ConfigError> {
        let spec = SpecSource::parse(&lookup("LOGLIFT_SPEC").ok_or_else(spec_missing)?)?;
        let layout = Layout::from_lookup(&lookup)?;
        let stream_names = match lookup("LOGLIFT_STREAM_NAMES") {
            Some(v) => name_pairs("LOGLIFT_STREAM_NAMES", STREAM_NAMES_SHAPE, &v)?
                .into_iter()
                .collect(),
            None => BTreeMap::new(),
        };
        Ok(CommonConfig {
            spec,
            layout,
            stream_names,
        })
    }

    /// Read the spec, as deployed (stream names mapped, [`Spec::with_deployed_streams`]).
    pub async fn load_spec<S: ObjectStore>(&self, store: &S) -> Result<Spec, ConfigError> {
        let spec = self.spec.load(store).await?;
        Ok(spec.with_deployed_streams(&self.stream_names))
    }
}

/// The ingest function's settings besides [`CommonConfig`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestConfig {
    /// `LOGLIFT_FIREHOSE_GZIP_STREAMS`: delivery streams (comma-separated names) whose `Ok`
    /// records ingest answers as gzip members. Their Firehose delivers UNCOMPRESSED, so each raw
    /// object is the members concatenated: one multi-member gzip object. Terraform sets it for
    /// the streams that carry CloudWatch Logs, whose decompressed events would not fit the 6 MB
    /// response otherwise.
    pub gzip_delivery_streams: std::collections::BTreeSet<String>,
}

impl IngestConfig {
    pub fn from_env() -> IngestConfig {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> IngestConfig {
        let gzip_delivery_streams = lookup("LOGLIFT_FIREHOSE_GZIP_STREAMS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        IngestConfig {
            gzip_delivery_streams,
        }
    }
}

/// The transform function's settings besides [`CommonConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformConfig {
    /// `LOGLIFT_LOADER_QUEUE`: where loader messages go (an SQS URL).
    pub loader_queue: String,
    /// `LOGLIFT_CURATED_TARGET_BYTES` (uncompressed bytes per curated part, default 64 MiB) and
    /// `LOGLIFT_TRANSFORM_BUFFER_BYTES` (compressed bytes held before the largest open part is
    /// flushed, default 48 MiB).
    pub limits: loglift_core::transform::Limits,
}

impl TransformConfig {
    pub fn from_env() -> Result<TransformConfig, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<TransformConfig, ConfigError> {
        let loader_queue = lookup("LOGLIFT_LOADER_QUEUE")
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError::Missing {
                name: "LOGLIFT_LOADER_QUEUE",
                hint: "set it to the loader queue's URL; terraform sets it",
            })?;
        let defaults = loglift_core::transform::Limits::default();
        let limits = loglift_core::transform::Limits {
            target_part_bytes: parse_var(
                &lookup,
                "LOGLIFT_CURATED_TARGET_BYTES",
                defaults.target_part_bytes,
            )?
            .max(1024),
            buffer_budget: parse_var(
                &lookup,
                "LOGLIFT_TRANSFORM_BUFFER_BYTES",
                defaults.buffer_budget,
            )?,
            ..defaults
        };
        Ok(TransformConfig {
            loader_queue,
            limits,
        })
    }
}

/// Where the dedupe-loader loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarehouseTarget {
    /// Amazon Redshift through the Data API.
    Redshift {
        endpoint: RedshiftEndpoint,
        /// `LOGLIFT_REDSHIFT_SECRET_ARN`: credentials from Secrets Manager instead of a DbUser.
        secret_arn: Option<String>,
        /// `LOGLIFT_REDSHIFT_DATABASE` (default `dev`).
        database: String,
        /// `LOGLIFT_COPY_ROLE_ARN`: the IAM role COPY assumes to read the curated objects.
        copy_role_arn: String,
    },
    /// PostgreSQL (RDS, Aurora). At least one of the URL and the secret is set.
    Postgres {
        /// `LOGLIFT_POSTGRES_URL`: libpq's URL, with `sslmode` and `sslrootcert` if wanted
        /// (`verify-full` is the default for a remote host); with a secret, where and how
        /// (host, port, database, options) when the secret does not say.
        url: Option<String>,
        /// `LOGLIFT_POSTGRES_SECRET_ARN`: an RDS database secret in Secrets Manager (`username`,
        /// `password`, optionally `host`, `port`, `dbname`), read at init; its user and password
        /// replace the URL's.
        secret_arn: Option<String>,
        /// `LOGLIFT_POSTGRES_CA_FILE`: a PEM bundle to trust instead of the platform's roots
        /// (the RDS bundle, say), unless the URL's `sslrootcert` names one.
        ca_file: Option<std::path::PathBuf>,
    },
}

/// Which Redshift the Data API talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedshiftEndpoint {
    /// `LOGLIFT_REDSHIFT_WORKGROUP`: a Serverless workgroup.
    Workgroup(String),
    /// `LOGLIFT_REDSHIFT_CLUSTER`: a provisioned cluster, with `LOGLIFT_REDSHIFT_DB_USER` for
    /// temporary credentials (or none when a secret is given).
    Cluster { id: String, db_user: Option<String> },
}

/// The dedupe-loader's settings besides [`CommonConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadConfig {
    /// `LOGLIFT_WAREHOUSE`: `redshift` (default) or `postgres`.
    pub target: WarehouseTarget,
    /// `LOGLIFT_LEDGER_RETENTION_DAYS` (default 30): ledger rows older than this are pruned.
    pub ledger_retention_days: i64,
    /// `LOGLIFT_MANIFEST_PREFIX` (default `manifests/`, in the curated bucket): COPY manifests.
    pub manifest_prefix: String,
    /// `LOGLIFT_LOAD_TIMEOUT_SECONDS` (default 300): the function's timeout; Redshift polling
    /// stops before it.
    pub load_timeout: std::time::Duration,
}

impl LoadConfig {
    pub fn from_env() -> Result<LoadConfig, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<LoadConfig, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let kind = get("LOGLIFT_WAREHOUSE").unwrap_or_else(|| "redshift".to_owned());
        let target = match kind.trim() {
            "redshift" => {
                let db_user = get("LOGLIFT_REDSHIFT_DB_USER");
                let secret_arn = get("LOGLIFT_REDSHIFT_SECRET_ARN");
                let endpoint = match (
                    get("LOGLIFT_REDSHIFT_WORKGROUP"),
                    get("LOGLIFT_REDSHIFT_CLUSTER"),
                ) {
                    (Some(workgroup), None) => RedshiftEndpoint::Workgroup(workgroup),
                    (None, Some(_)) if db_user.is_none() && secret_arn.is_none() => {
                        return Err(ConfigError::Missing {
                            name: "LOGLIFT_REDSHIFT_DB_USER",
                            hint: "a provisioned cluster needs LOGLIFT_REDSHIFT_DB_USER or LOGLIFT_REDSHIFT_SECRET_ARN",
                        });
                    }
                    (None, Some(id)) => RedshiftEndpoint::Cluster {
                        id,
                        db_user: db_user.clone(),
                    },
                    _ => {
                        return Err(ConfigError::Missing {
                            name: "LOGLIFT_REDSHIFT_WORKGROUP",
                            hint: "set exactly one of LOGLIFT_REDSHIFT_WORKGROUP (Serverless) and LOGLIFT_REDSHIFT_CLUSTER (provisioned)",
                        });
                    }
                };
                WarehouseTarget::Redshift {
                    endpoint,
                    secret_arn,
                    database: get("LOGLIFT_REDSHIFT_DATABASE").unwrap_or_else(|| "dev".to_owned()),
                    copy_role_arn: get("LOGLIFT_COPY_ROLE_ARN").ok_or(ConfigError::Missing {
                        name: "LOGLIFT_COPY_ROLE_ARN",
                        hint: "the IAM role Redshift assumes for COPY; terraform sets it",
                    })?,
                }
            }
            "postgres" => {
                let url = get("LOGLIFT_POSTGRES_URL");
                let secret_arn = get("LOGLIFT_POSTGRES_SECRET_ARN");
                if url.is_none() && secret_arn.is_none() {
                    return Err(ConfigError::Missing {
                        name: "LOGLIFT_POSTGRES_URL",
                        hint: "postgres://user@host:5432/database?sslmode=verify-full, or LOGLIFT_POSTGRES_SECRET_ARN (an RDS database secret)",
                    });
                }
                WarehouseTarget::Postgres {
                    url,
                    secret_arn,
                    ca_file: get("LOGLIFT_POSTGRES_CA_FILE").map(std::path::PathBuf::from),
                }
            }
            other => {
                return Err(ConfigError::Invalid {
                    name: "LOGLIFT_WAREHOUSE",
                    value: other.to_owned(),
                    reason: "use redshift or postgres".to_owned(),
                })
            }
        };
        Ok(LoadConfig {
            target,
            ledger_retention_days: parse_var(&lookup, "LOGLIFT_LEDGER_RETENTION_DAYS", 30i64)?
                .max(1),
            manifest_prefix: get("LOGLIFT_MANIFEST_PREFIX")
                .unwrap_or_else(|| "manifests/".to_owned()),
            load_timeout: std::time::Duration::from_secs(
                parse_var(&lookup, "LOGLIFT_LOAD_TIMEOUT_SECONDS", 300u64)?.clamp(30, 900),
            ),
        })
    }
}

/// The dlq-redrive function's settings besides [`CommonConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RedriveConfig {
    /// `LOGLIFT_TRANSFORM_QUEUE`: where backfills and reject replays announce objects.
    pub transform_queue: Option<String>,
    /// `LOGLIFT_DLQS`: comma-separated dead-letter queue URLs that `{"source":"dlqs"}` moves
    /// back to their source queues (found with `ListDeadLetterSourceQueues` at init).
    pub dlqs: Vec<String>,
    /// `LOGLIFT_KINESIS_FAILURE_QUEUE`: the Kinesis mappings' on-failure SQS destination.
    pub kinesis_failure_queue: Option<String>,
    /// `LOGLIFT_FIREHOSE_SOURCE_STREAMS`: `delivery=stream,…`, the Kinesis stream each delivery
    /// stream reads (Firehose error output does not record it).
    pub firehose_sources: BTreeMap<String, String>,
}

impl RedriveConfig {
    pub fn from_env() -> Result<RedriveConfig, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<RedriveConfig, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let list = |name: &str| -> Vec<String> {
            get(name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let firehose_sources = name_pairs(
            "LOGLIFT_FIREHOSE_SOURCE_STREAMS",
            FIREHOSE_SOURCES_SHAPE,
            &get("LOGLIFT_FIREHOSE_SOURCE_STREAMS").unwrap_or_default(),
        )?
        .into_iter()
        .collect();
        Ok(RedriveConfig {
            transform_queue: get("LOGLIFT_TRANSFORM_QUEUE"),
            dlqs: list("LOGLIFT_DLQS"),
            kinesis_failure_queue: get("LOGLIFT_KINESIS_FAILURE_QUEUE"),
            firehose_sources,
        })
    }
}

/// Read an optional typed variable.
pub fn parse_var<T: std::str::FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match lookup(name) {
        None => Ok(default),
        Some(value) if value.trim().is_empty() => Ok(default),
        Some(value) => value
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid {
                name,
                value,
                reason: e.to_string(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn a_function_without_a_spec_fails_with_a_clear_error() {
        let err = CommonConfig::from_lookup(lookup(&[("LOGLIFT_LAKE_BUCKET", "lake")])).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.starts_with("LOGLIFT_SPEC is not set"), "{text}");
    }

    #[test]
    fn spec_sources() {
        assert_eq!(
            SpecSource::parse("s3://cfg/spec/pipelines.yaml").ok(),
            Some(SpecSource::S3 {
                bucket: "cfg".into(),
                key: "spec/pipelines.yaml".into()
            })
        );
        assert!(matches!(
            SpecSource::parse("s3://cfg"),
            Err(ConfigError::Invalid { .. })
        ));
        assert_eq!(
            SpecSource::parse("spec/p.yaml").ok(),
            Some(SpecSource::Path("spec/p.yaml".into()))
        );
        let ok = CommonConfig::from_lookup(lookup(&[
            ("LOGLIFT_SPEC", "s3://cfg/p.yaml"),
            ("LOGLIFT_LAKE_BUCKET", "lake"),
        ]));
        assert_eq!(
            ok.ok().map(|c| c.layout.raw.bucket),
            Some("lake".to_owned())
        );
    }

    #[test]
    fn deployed_stream_names_are_read_as_spec_to_deployed_pairs() {
        let c = CommonConfig::from_lookup(lookup(&[
            ("LOGLIFT_SPEC", "s3://cfg/p.yaml"),
            ("LOGLIFT_LAKE_BUCKET", "lake"),
            (
                "LOGLIFT_STREAM_NAMES",
                "user-events=prod-user-events, logs=prod-logs",
            ),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.stream_names.get("user-events").map(String::as_str),
            Some("prod-user-events")
        );
        assert_eq!(c.stream_names.len(), 2);
        let e = CommonConfig::from_lookup(lookup(&[
            ("LOGLIFT_SPEC", "s3://cfg/p.yaml"),
            ("LOGLIFT_LAKE_BUCKET", "lake"),
            ("LOGLIFT_STREAM_NAMES", "user-events"),
        ]))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("spec-stream=deployed-stream"), "{e}");
    }

    #[test]
    fn typed_variables() {
        let l = lookup(&[("N", " 12 "), ("BAD", "twelve"), ("EMPTY", "")]);
        assert_eq!(parse_var(&l, "N", 1u32).ok(), Some(12));
        assert_eq!(parse_var(&l, "EMPTY", 1u32).ok(), Some(1));
        assert_eq!(parse_var(&l, "ABSENT", 7u32).ok(), Some(7));
        let err = parse_var(&l, "BAD", 1u32)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("BAD=\"twelve\" is invalid"), "{err}");
    }

    #[test]
    fn redrive_config_reads_lists_and_pairs() {
        let c = RedriveConfig::from_lookup(lookup(&[
            ("LOGLIFT_DLQS", " https://q/a-dlq, ,https://q/b-dlq "),
            (
                "LOGLIFT_FIREHOSE_SOURCE_STREAMS",
                "logs-fh=logs, events-fh = events",
            ),
            ("LOGLIFT_TRANSFORM_QUEUE", "https://q/transform"),
        ]))
        .unwrap();
        assert_eq!(c.dlqs, vec!["https://q/a-dlq", "https://q/b-dlq"]);
        assert_eq!(
            c.firehose_sources.get("events-fh").map(String::as_str),
            Some("events")
        );
        assert_eq!(c.transform_queue.as_deref(), Some("https://q/transform"));
        assert_eq!(c.kinesis_failure_queue, None);
        let e = RedriveConfig::from_lookup(lookup(&[("LOGLIFT_FIREHOSE_SOURCE_STREAMS", "x")]))
            .unwrap_err();
        assert!(
            e.to_string().contains("delivery-stream=kinesis-stream"),
            "{e}"
        );
    }

    #[test]
    fn load_config_names_what_is_missing() {
        let e = LoadConfig::from_lookup(lookup(&[])).unwrap_err();
        assert!(e.to_string().contains("LOGLIFT_REDSHIFT_WORKGROUP"), "{e}");
        let e =
            LoadConfig::from_lookup(lookup(&[("LOGLIFT_REDSHIFT_WORKGROUP", "wg")])).unwrap_err();
        assert!(e.to_string().contains("LOGLIFT_COPY_ROLE_ARN"), "{e}");
        let e = LoadConfig::from_lookup(lookup(&[
            ("LOGLIFT_REDSHIFT_CLUSTER", "c"),
            ("LOGLIFT_COPY_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("LOGLIFT_REDSHIFT_DB_USER"), "{e}");
        let ok = LoadConfig::from_lookup(lookup(&[
            ("LOGLIFT_REDSHIFT_WORKGROUP", "wg"),
            ("LOGLIFT_COPY_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ]))
        .unwrap();
        assert_eq!(ok.ledger_retention_days, 30);
        assert_eq!(ok.load_timeout, std::time::Duration::from_secs(300));
        assert!(matches!(
            ok.target,
            WarehouseTarget::Redshift { endpoint: RedshiftEndpoint::Workgroup(ref w), .. } if w == "wg"
        ));
        let cluster = LoadConfig::from_lookup(lookup(&[
            ("LOGLIFT_REDSHIFT_CLUSTER", "c1"),
            ("LOGLIFT_REDSHIFT_DB_USER", "loader"),
            ("LOGLIFT_COPY_ROLE_ARN", "arn:aws:iam::1:role/r"),
            ("LOGLIFT_LOAD_TIMEOUT_SECONDS", "600"),
        ]))
        .unwrap();
        assert!(matches!(
            cluster.target,
            WarehouseTarget::Redshift {
                endpoint: RedshiftEndpoint::Cluster { ref id, db_user: Some(ref u) }, ..
            } if id == "c1" && u == "loader"
        ));
        assert_eq!(cluster.load_timeout, std::time::Duration::from_secs(600));
        let both = LoadConfig::from_lookup(lookup(&[
            ("LOGLIFT_REDSHIFT_CLUSTER", "c1"),
            ("LOGLIFT_REDSHIFT_WORKGROUP", "wg"),
            ("LOGLIFT_COPY_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ]))
        .unwrap_err();
        assert!(both.to_string().contains("exactly one"), "{both}");
        let pg = LoadConfig::from_lookup(lookup(&[
            ("LOGLIFT_WAREHOUSE", "postgres"),
            ("LOGLIFT_POSTGRES_URL", "postgres://h/db"),
        ]))
        .unwrap();
        assert_eq!(
            pg.target,
            WarehouseTarget::Postgres {
                url: Some("postgres://h/db".into()),
                secret_arn: None,
                ca_file: None,
            }
        );
        const SECRET: &str = "arn:aws:secretsmanager:us-east-1:1:secret:rds-db-AbCdEf";
        let pg = LoadConfig::from_lookup(lookup(&[
            ("LOGLIFT_WAREHOUSE", "postgres"),
            ("LOGLIFT_POSTGRES_SECRET_ARN", SECRET),
            (
                "LOGLIFT_POSTGRES_CA_FILE",
                "/var/task/rds-global-bundle.pem",
            ),
        ]))
        .unwrap();
        assert_eq!(
            pg.target,
            WarehouseTarget::Postgres {
                url: None,
                secret_arn: Some(SECRET.into()),
                ca_file: Some("/var/task/rds-global-bundle.pem".into()),
            }
        );
        let e = LoadConfig::from_lookup(lookup(&[
            ("LOGLIFT_WAREHOUSE", "postgres"),
            ("LOGLIFT_POSTGRES_URL", " "),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("LOGLIFT_POSTGRES_SECRET_ARN"), "{e}");
        let e = LoadConfig::from_lookup(lookup(&[("LOGLIFT_WAREHOUSE", "mysql")])).unwrap_err();
        assert!(e.to_string().contains("use redshift or postgres"), "{e}");
    }
}
