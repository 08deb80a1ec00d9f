################################################################################
# General
################################################################################

variable "name" {
  description = "The deployment's name: the prefix of every named resource (streams, delivery streams, buckets, queues, functions, roles, log groups, alarms, the dashboard, the Glue database with `_` for `-`, the Redshift namespace and workgroup) and of the functions' metric dimension, so deployments with different names coexist in one account and region. Unique per account, not only per region: IAM role names are global to the account, and the lake bucket (<name>-lake-<account id>) to S3. Lowercase letters, digits and hyphens."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "spec_file" {
  description = "Path of the pipeline spec (spec/pipelines.yaml). Terraform reads it with yamldecode for the per-pipeline resources and uploads it for the functions (LOGLIFT_SPEC)."
  type        = string
}

variable "artifacts_dir" {
  description = "Directory written by scripts/package: <function>.zip for ingest, transform, dedupe-loader and dlq-redrive, and artifacts.json with their architecture."
  type        = string
}

variable "kms_key_arn" {
  description = "An existing customer-managed KMS key for the lake, streams, topics, logs and function environments. Null creates one whose policy lets S3, CloudWatch Logs and CloudWatch alarms use it."
  type        = string
  default     = null
}

variable "kms_key_deletion_window_in_days" {
  description = "Waiting period before a created KMS key is deleted."
  type        = number
  default     = 30
}

variable "force_destroy" {
  description = "Let terraform destroy delete buckets that still hold objects (tests and sandboxes only)."
  type        = bool
  default     = false
}

################################################################################
# Lake (storage contract: docs/architecture.md)
################################################################################

variable "lake_bucket_name" {
  description = "Name of the lake bucket holding every area. Null: <name>-lake-<account id>."
  type        = string
  default     = null
}

variable "area_prefixes" {
  description = "Key prefix of each area in the lake bucket (LOGLIFT_<AREA>_PREFIX). Areas may not overlap: transform listens on landing and raw and must not hear its own writes."
  type = object({
    landing = optional(string, "landing/")
    raw     = optional(string, "raw/")
    curated = optional(string, "curated/")
    errors  = optional(string, "errors/")
    reports = optional(string, "reports/")
  })
  default = {}

  validation {
    condition = alltrue([
      for p in values(var.area_prefixes) : can(regex("^[a-z0-9][a-z0-9_./-]*/$", p))
    ])
    error_message = "Every area prefix must be non-empty, lowercase and end with '/'."
  }
}

variable "lifecycle_days" {
  description = "Lifecycle of the lake, in days (null = keep forever): expiry of landing, raw and errors objects, the move of curated objects to Intelligent-Tiering, the expiry of noncurrent versions and of incomplete multipart uploads. Raw is the replay source of `loglift replay --since`: keep it at least as long as you may want to replay."
  type = object({
    landing_expiration        = optional(number, 90)
    raw_expiration            = optional(number, 365)
    errors_expiration         = optional(number, 90)
    curated_to_tiering        = optional(number, 30)
    noncurrent_version_expiry = optional(number, 30)
    abort_multipart_upload    = optional(number, 7)
  })
  default = {}
}

################################################################################
# Ingress: Kinesis streams, CloudWatch Logs subscriptions, API Gateway
################################################################################

variable "stream_defaults" {
  description = "Settings of each Kinesis stream the spec names (match.stream) and of the log stream. consumer: `lambda` (the ingest function through an event source mapping) or `firehose` (a delivery stream with ingest as its processor, dynamic partitioning into raw/)."
  type = object({
    consumer        = optional(string, "lambda")
    mode            = optional(string, "ON_DEMAND")
    shard_count     = optional(number, 1)
    retention_hours = optional(number, 24)
  })
  default = {}

  validation {
    condition     = contains(["lambda", "firehose"], var.stream_defaults.consumer) && contains(["ON_DEMAND", "PROVISIONED"], var.stream_defaults.mode)
    error_message = "consumer is lambda or firehose; mode is ON_DEMAND or PROVISIONED."
  }
}

variable "streams" {
  description = "Per-stream overrides of stream_defaults, keyed by the spec's stream name (the stream is created as <name>-<key>). A name the spec does not mention adds a stream (route its events with match.topic or match.log_group)."
  type = map(object({
    consumer        = optional(string)
    mode            = optional(string)
    shard_count     = optional(number)
    retention_hours = optional(number)
  }))
  default = {}

  validation {
    condition = alltrue([
      for s in values(var.streams) : contains(["lambda", "firehose"], coalesce(s.consumer, "lambda")) && contains(["ON_DEMAND", "PROVISIONED"], coalesce(s.mode, "ON_DEMAND"))
    ])
    error_message = "consumer is lambda or firehose; mode is ON_DEMAND or PROVISIONED."
  }
}

variable "log_stream_name" {
  description = "The Kinesis stream CloudWatch Logs subscriptions deliver into, as the spec would name it (created as <name>-<log_stream_name>); created when the spec has a cloudwatch_logs pipeline."
  type        = string
  default     = "logs"
}

variable "log_group_names" {
  description = "CloudWatch log groups to subscribe to the log stream (they must exist). Each must match a spec pipeline's match.log_group glob; globs without `*` are subscribed without being listed here."
  type        = list(string)
  default     = []
}

variable "log_subscription_filter_pattern" {
  description = "Filter pattern of the CloudWatch Logs subscriptions (empty = every event)."
  type        = string
  default     = ""
}

variable "api_gateway" {
  description = <<-EOT
    Optional REST API front door (seed 002): POST /streams/<stream> (the spec's stream name) puts the JSON body as one record into this deployment's stream of that name (PutRecord), after request validation (a non-empty JSON object body), with IAM or API-key authorisation, stage throttling and an optional WAF web ACL. streams: null = every match.stream of the spec.
    account_logging_role: stage access logs (/aws/apigateway/<name>) need the CloudWatch role in API Gateway's account settings, ONE setting per account and region (`aws apigateway get-account` shows cloudwatchRoleArn); a stage with access logs cannot be created in a region where it is not set. "none" (default): no access logs, nothing account-wide touched. "existing": the region's setting already names a role; access logs on. "create": create <name>-apigateway-cloudwatch and set it as the region's role, access logs on. "create" OVERWRITES a role already set there (other APIs in the region then log through this one), and the setting stays after `terraform destroy` (the API has no delete), naming a role that no longer exists: use it in one deployment per region, "existing" in the others.
  EOT
  type = object({
    enabled              = optional(bool, false)
    streams              = optional(list(string))
    authorization        = optional(string, "AWS_IAM")
    stage_name           = optional(string, "v1")
    rate_limit           = optional(number, 500)
    burst_limit          = optional(number, 1000)
    web_acl_arn          = optional(string)
    account_logging_role = optional(string, "none")
  })
  default = {}

  validation {
    condition     = contains(["AWS_IAM", "API_KEY"], var.api_gateway.authorization)
    error_message = "api_gateway.authorization is AWS_IAM or API_KEY."
  }

  validation {
    condition     = contains(["none", "existing", "create"], var.api_gateway.account_logging_role)
    error_message = "api_gateway.account_logging_role is none (no access logs), existing (the region's API Gateway account settings already name a CloudWatch role) or create."
  }
}

################################################################################
# Mappings and queues
################################################################################

variable "kinesis_mapping" {
  description = "The ingest function's Kinesis event source mappings: ReportBatchItemFailures and bisect on error are always on; retries and record age are bounded so one poison record cannot block a shard; the on-failure destination is `sqs` (metadata, replayed by `loglift redrive kinesis` while the records are in the stream) or `s3` (the whole invocation payload, in the lake bucket under aws/lambda/)."
  type = object({
    batch_size                         = optional(number, 1000)
    maximum_batching_window_in_seconds = optional(number, 5)
    parallelization_factor             = optional(number, 1)
    maximum_retry_attempts             = optional(number, 5)
    maximum_record_age_in_seconds      = optional(number, 21600)
    starting_position                  = optional(string, "TRIM_HORIZON")
    on_failure                         = optional(string, "sqs")
  })
  default = {}

  validation {
    condition     = contains(["sqs", "s3"], var.kinesis_mapping.on_failure) && var.kinesis_mapping.maximum_retry_attempts >= 0 && var.kinesis_mapping.maximum_record_age_in_seconds >= 60
    error_message = "on_failure is sqs or s3; maximum_retry_attempts must be bounded (>= 0, not -1) and maximum_record_age_in_seconds at least 60."
  }
}

variable "transform_mapping" {
  description = "The transform function's SQS mapping (ReportBatchItemFailures always on). maximum_concurrency limits it without reserved concurrency, whose throttled receives would count toward maxReceiveCount. It must fit in the region's Lambda concurrency quota with the other functions' (see lambda_concurrency_quota)."
  type = object({
    batch_size                         = optional(number, 10)
    maximum_batching_window_in_seconds = optional(number, 5)
    maximum_concurrency                = optional(number, 20)
  })
  default = {}
}

variable "loader_mapping" {
  description = "The dedupe-loader's SQS mapping: large batches (one transaction per table) and a small maximum_concurrency (Redshift serializes writers to one table; conflicts are retried)."
  type = object({
    batch_size                         = optional(number, 100)
    maximum_batching_window_in_seconds = optional(number, 30)
    maximum_concurrency                = optional(number, 2)
  })
  default = {}

  validation {
    condition     = var.loader_mapping.maximum_concurrency >= 2 && (var.loader_mapping.batch_size <= 10 || var.loader_mapping.maximum_batching_window_in_seconds >= 1)
    error_message = "maximum_concurrency is at least 2 (the API's minimum); a batch_size above 10 needs a batching window of at least 1 second."
  }
}

variable "lambda_concurrency_quota" {
  description = <<-EOT
    The region's Lambda concurrent executions quota (Service Quotas code L-B99A9384; `aws lambda get-account-settings --query AccountLimit.ConcurrentExecutions`). A prerequisite, not something this module can set: new accounts get a reduced quota (as low as 10) that AWS raises with usage, while the mappings here can claim about 35 concurrent executions with the defaults (transform 20, loader 2, 4 per on-demand stream, redrive 1; output claimed_concurrency). When the functions are throttled, the SQS mappings' receives still count toward maxReceiveCount, so messages end in the DLQs. Set this to the quota and the plan fails if the mappings can claim more; null skips the check. Raise the quota with `aws service-quotas request-service-quota-increase --service-code lambda --quota-code L-B99A9384 --desired-value 1000`.
  EOT
  type        = number
  default     = null
}

variable "max_receive_count" {
  description = "Receives before a message moves to its queue's DLQ (redrive policy)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 5
    error_message = "Use at least 5: a short outage should not send messages to the DLQ."
  }
}

variable "queue_message_retention_seconds" {
  description = "How long queues and DLQs keep messages (maximum 14 days)."
  type        = number
  default     = 1209600
}

variable "queue_encryption" {
  description = "`sqs` for SSE-SQS, or `kms` for the module's customer-managed key (its policy lets S3 publish). Never alias/aws/sqs: S3 cannot publish to a queue under that key."
  type        = string
  default     = "sqs"

  validation {
    condition     = contains(["sqs", "kms"], var.queue_encryption)
    error_message = "queue_encryption is sqs or kms."
  }
}

################################################################################
# Functions
################################################################################

variable "functions" {
  description = "Memory (MB) and timeout (seconds) of each function. Queue visibility timeouts follow: 6 x the consumer's timeout. The Firehose processor (ingest) may run at most 300 s."
  type = object({
    ingest        = optional(object({ memory_size = optional(number, 1024), timeout = optional(number, 120) }), {})
    transform     = optional(object({ memory_size = optional(number, 1769), timeout = optional(number, 900) }), {})
    dedupe_loader = optional(object({ memory_size = optional(number, 512), timeout = optional(number, 300) }), {})
    dlq_redrive   = optional(object({ memory_size = optional(number, 512), timeout = optional(number, 900) }), {})
  })
  default = {}

  validation {
    condition     = var.functions.ingest.timeout <= 300
    error_message = "ingest is the Firehose processor: its timeout may not exceed 300 seconds."
  }
}

variable "log_level" {
  description = "Application log level of the functions (Lambda advanced logging, JSON format: Lambda drops every application log line below it, and reads a JSON line without `level` as INFO). The functions' metric lines (Embedded Metric Format: the loglift metrics the audit-imbalance alarm and the dashboard read) carry this level (INFO at least, crates/loglift-core/src/metrics.rs, from AWS_LAMBDA_LOG_LEVEL), so any level keeps the metrics; above INFO the per-invocation summary lines are dropped."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level is one of Lambda's application log levels: TRACE, DEBUG, INFO, WARN, ERROR or FATAL (metric lines carry the level, so none drops them)."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions', Firehose's and API Gateway's log groups."
  type        = number
  default     = 365
}

variable "tracing_mode" {
  description = "X-Ray tracing of the functions: Active or PassThrough."
  type        = string
  default     = "PassThrough"
}

variable "transform_settings" {
  description = "Optional LOGLIFT_CURATED_TARGET_BYTES and LOGLIFT_TRANSFORM_BUFFER_BYTES (null = the function's defaults: 64 MiB, 48 MiB)."
  type = object({
    curated_target_bytes = optional(number)
    buffer_bytes         = optional(number)
  })
  default = {}
}

variable "redrive_schedule" {
  description = "EventBridge Scheduler schedule of the dlq-redrive function, sending {\"source\":\"dlqs\",\"max\":<max>}: disabled by default (turn it on once the cause of the failures is fixed, or redrive by hand with `loglift redrive`)."
  type = object({
    enabled    = optional(bool, false)
    expression = optional(string, "rate(1 hour)")
    max        = optional(number, 10000)
  })
  default = {}
}

################################################################################
# Firehose
################################################################################

variable "firehose" {
  description = "Delivery streams of streams whose consumer is firehose: processor buffer (0.2-3 MB; streams fed by CloudWatch Logs are capped at 1 MB: ingest answers their records as gzip members, and a 3 MB batch already takes about 5 MB of the 6 MB response), destination buffer (at least 64 MiB with dynamic partitioning) and interval."
  type = object({
    processor_buffer_size_mb           = optional(number, 3)
    processor_buffer_interval_seconds  = optional(number, 60)
    buffering_size_mb                  = optional(number, 128)
    buffering_interval_seconds         = optional(number, 300)
    dynamic_partitioning_retry_seconds = optional(number, 300)
  })
  default = {}

  validation {
    condition     = var.firehose.processor_buffer_size_mb >= 0.2 && var.firehose.processor_buffer_size_mb <= 3 && var.firehose.buffering_size_mb >= 64 && var.firehose.buffering_size_mb <= 128
    error_message = "processor_buffer_size_mb is 0.2-3; buffering_size_mb is 64-128 (dynamic partitioning needs at least 64)."
  }
}

variable "opensearch" {
  description = "Optional second delivery stream per listed stream (default: the log stream) into an existing OpenSearch domain (seed 000: full-text search of the logs); CloudWatch Logs payloads are decompressed and their messages extracted by Firehose; failed documents go to errors/opensearch/."
  type = object({
    enabled               = optional(bool, false)
    domain_arn            = optional(string)
    index_name            = optional(string, "loglift")
    index_rotation_period = optional(string, "OneDay")
    streams               = optional(list(string))
  })
  default = {}

  validation {
    condition     = !var.opensearch.enabled || var.opensearch.domain_arn != null
    error_message = "opensearch.enabled needs opensearch.domain_arn."
  }
}

################################################################################
# Warehouse
################################################################################

variable "warehouse" {
  description = "Where the dedupe-loader loads. kind: `redshift_serverless` (a namespace and workgroup created here), `redshift_workgroup` (an existing Serverless workgroup_name), `redshift_cluster` (an existing cluster_identifier with db_user or secret_arn) or `postgres` (var.postgres_secret_arn and/or var.postgres_url)."
  type = object({
    kind               = optional(string, "redshift_serverless")
    database           = optional(string, "dev")
    base_capacity      = optional(number, 8)
    max_capacity       = optional(number)
    subnet_ids         = optional(list(string))
    security_group_ids = optional(list(string))
    workgroup_name     = optional(string)
    cluster_identifier = optional(string)
    db_user            = optional(string)
    secret_arn         = optional(string)
  })
  default = {}

  validation {
    condition     = contains(["redshift_serverless", "redshift_workgroup", "redshift_cluster", "postgres"], var.warehouse.kind)
    error_message = "warehouse.kind is redshift_serverless, redshift_workgroup, redshift_cluster or postgres."
  }

  validation {
    condition     = var.warehouse.kind != "redshift_workgroup" || var.warehouse.workgroup_name != null
    error_message = "warehouse.kind = redshift_workgroup needs warehouse.workgroup_name."
  }

  validation {
    condition     = var.warehouse.kind != "redshift_cluster" || (var.warehouse.cluster_identifier != null && (var.warehouse.db_user != null || var.warehouse.secret_arn != null))
    error_message = "warehouse.kind = redshift_cluster needs cluster_identifier and db_user or secret_arn."
  }
}

variable "postgres_url" {
  description = "LOGLIFT_POSTGRES_URL for warehouse.kind = postgres: postgres://user:password@host:5432/db[?sslmode=...] (TLS: verify-full unless sslmode says otherwise, for any host but localhost). A password here sits in the loader's environment (encrypted with the KMS key) and in the terraform state: prefer postgres_secret_arn. With a secret, a URL without user and password may still give the host and database the secret lacks."
  type        = string
  default     = null
  sensitive   = true
}

variable "postgres_secret_arn" {
  description = "LOGLIFT_POSTGRES_SECRET_ARN for warehouse.kind = postgres: a Secrets Manager secret (JSON with username, password, host, port, dbname, the format of Secrets Manager's RDS credentials) the loader reads at start; it may read that secret (secretsmanager:GetSecretValue on this ARN) and nothing else. The password stays out of the environment and the state. With loader_vpc_config, the subnets need a route to Secrets Manager (an interface endpoint or NAT)."
  type        = string
  default     = null

  validation {
    condition     = var.postgres_secret_arn == null || can(regex("^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.postgres_secret_arn))
    error_message = "postgres_secret_arn is the full ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>)."
  }
}

variable "postgres_secret_kms_key_arn" {
  description = "The customer-managed KMS key postgres_secret_arn is encrypted with, if any (RDS-managed secrets may use one): the loader gets kms:Decrypt on it through Secrets Manager only. Null for the aws/secretsmanager key."
  type        = string
  default     = null
}

variable "postgres_ca_file" {
  description = "LOGLIFT_POSTGRES_CA_FILE: path, inside the loader's filesystem (/var/task/... in its zip, /opt/... in a layer), of the CA bundle that verifies the PostgreSQL server. RDS certificates are signed by RDS's own CAs (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem), which the platform's trust store may lack. Null: the platform's roots."
  type        = string
  default     = null
}

variable "loader_vpc_config" {
  description = "Subnets and security groups of the dedupe-loader, when its warehouse is reachable only inside a VPC (PostgreSQL on RDS: without it the loader runs outside the VPC, its connections time out and every loader message ends in the DLQ). The subnets need a route to S3, SQS and, with postgres_secret_arn, Secrets Manager (endpoints or NAT); the security groups must reach the database's port."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null
}

variable "ledger_retention_days" {
  description = "LOGLIFT_LEDGER_RETENTION_DAYS: load-ledger rows older than this are pruned."
  type        = number
  default     = 30
}

################################################################################
# Catalog and monitoring
################################################################################

variable "create_catalog" {
  description = "Create the Glue database, a table per pipeline over curated/, tables over the rejects and the Firehose error output (partition projection), and an Athena workgroup with its results bucket."
  type        = bool
  default     = true
}

variable "athena_bytes_scanned_cutoff" {
  description = "Per-query scan limit of the Athena workgroup, in bytes."
  type        = number
  default     = 107374182400
}

variable "create_monitoring" {
  description = "Create the alarms, their SNS topic and the dashboard."
  type        = bool
  default     = true
}

variable "alarm_emails" {
  description = "Email addresses subscribed to the alarm topic (each must confirm)."
  type        = list(string)
  default     = []
}

variable "alarm_thresholds" {
  description = "Alarm thresholds: Kinesis iterator age (ms), Firehose delivery freshness (s), the audit imbalance (share of curated rows not loaded over audit_period seconds, two periods in a row)."
  type = object({
    iterator_age_ms    = optional(number, 600000)
    firehose_freshness = optional(number, 900)
    audit_imbalance    = optional(number, 0.05)
    audit_period       = optional(number, 21600)
  })
  default = {}
}
