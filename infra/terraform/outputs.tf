################################################################################
# Lake and spec
################################################################################

output "lake_bucket" {
  description = "The lake bucket (LOGLIFT_LAKE_BUCKET)."
  value       = try(aws_s3_bucket.lake.id, null)
}

output "lake_bucket_arn" {
  description = "ARN of the lake bucket."
  value       = try(aws_s3_bucket.lake.arn, null)
}

output "area_prefixes" {
  description = "Key prefix of each area in the lake bucket."
  value       = local.areas
}

output "notification_filters" {
  description = "S3 → transform-queue notification filters, as `loglift spec layout` prints them (pipeline null = raw/)."
  value       = [for k, f in local.notification_filters : { bucket = try(aws_s3_bucket.lake.id, null), prefix = f.prefix, pipeline = f.pipeline }]
}

output "spec_uri" {
  description = "Where the functions read the spec (LOGLIFT_SPEC)."
  value       = try("s3://${aws_s3_bucket.lake.id}/${aws_s3_object.spec.key}", null)
}

output "spec_version" {
  description = "LOGLIFT_SPEC_VERSION in every function: the spec's version and the S3 object version."
  value       = try(local.common_environment.LOGLIFT_SPEC_VERSION, null)
}

output "kms_key_arn" {
  description = "The customer-managed KMS key."
  value       = local.kms_key_arn
}

################################################################################
# Ingress
################################################################################

output "streams" {
  description = "Kinesis streams by the spec's name: the deployed name (<name>-<stream>, what `aws kinesis put-record --stream-name` takes), ARN and consumer (lambda or firehose)."
  value       = { for s, c in local.streams : s => { name = local.kinesis_names[s], arn = try(aws_kinesis_stream.this[s].arn, null), consumer = c.consumer } }
}

output "firehose_delivery_streams" {
  description = "Delivery streams into raw/ by source stream."
  value       = { for s, d in aws_kinesis_firehose_delivery_stream.raw : s => try(d.name, null) }
}

output "opensearch_delivery_streams" {
  description = "Delivery streams into OpenSearch by source stream."
  value       = { for s, d in aws_kinesis_firehose_delivery_stream.opensearch : s => try(d.name, null) }
}

output "log_subscriptions" {
  description = "CloudWatch log groups subscribed to the log stream."
  value       = [for f in aws_cloudwatch_log_subscription_filter.this : try(f.log_group_name, null)]
}

output "api_invoke_url" {
  description = "Base URL of the API front door: POST <url>/streams/<stream>."
  value       = try(aws_api_gateway_stage.this[0].invoke_url, null)
}

output "api_key_id" {
  description = "Id of the API key when api_gateway.authorization = API_KEY (`aws apigateway get-api-key --include-value --api-key <id>`)."
  value       = try(aws_api_gateway_api_key.this[0].id, null)
}

################################################################################
# Queues
################################################################################

output "transform_queue_url" {
  description = "The transform queue (S3 notifications)."
  value       = try(aws_sqs_queue.transform.url, null)
}

output "transform_dlq_url" {
  description = "The transform queue's DLQ."
  value       = try(aws_sqs_queue.transform_dlq.url, null)
}

output "loader_queue_url" {
  description = "The loader queue (LOGLIFT_LOADER_QUEUE)."
  value       = try(aws_sqs_queue.loader.url, null)
}

output "loader_dlq_url" {
  description = "The loader queue's DLQ."
  value       = try(aws_sqs_queue.loader_dlq.url, null)
}

output "kinesis_failure_queue_url" {
  description = "The Kinesis mappings' on-failure queue (null when the destination is S3 or no stream is read by a mapping)."
  value       = try(aws_sqs_queue.kinesis_failures[0].url, null)
}

output "dlq_urls" {
  description = "DLQs the scheduled redrive moves back (LOGLIFT_DLQS)."
  value       = [try(aws_sqs_queue.transform_dlq.url, null), try(aws_sqs_queue.loader_dlq.url, null)]
}

################################################################################
# Functions
################################################################################

output "functions" {
  description = "Functions by role: name, ARN, log group, architecture."
  value = {
    for f, n in local.function_names : f => {
      name         = try(aws_lambda_function.this[f].function_name, null)
      arn          = try(aws_lambda_function.this[f].arn, null)
      role_arn     = try(aws_iam_role.function[f].arn, null)
      log_group    = try(aws_cloudwatch_log_group.function[f].name, null)
      architecture = local.architecture
    }
  }
}

output "event_source_mappings" {
  description = "Event source mapping UUIDs: kinesis:<stream>, transform, loader."
  value = merge(
    { for s, m in aws_lambda_event_source_mapping.kinesis : "kinesis:${s}" => try(m.uuid, null) },
    { transform = try(aws_lambda_event_source_mapping.transform.uuid, null), loader = try(aws_lambda_event_source_mapping.loader.uuid, null) },
  )
}

output "redrive_schedule_arn" {
  description = "The dlq-redrive schedule (disabled unless redrive_schedule.enabled)."
  value       = try(aws_scheduler_schedule.redrive.arn, null)
}

output "cli_environment" {
  description = "Environment for the `loglift` CLI against this deployment (redrive, replay, dlq, status, audit, smoke): the functions' layout and warehouse settings, the queues, the stream names, the local spec file. A PostgreSQL URL is left out (export LOGLIFT_POSTGRES_URL yourself); a secret's ARN is in."
  value = merge(
    { for k, v in local.common_environment : k => v if k != "LOGLIFT_SPEC" && k != "LOGLIFT_SPEC_VERSION" },
    local.warehouse_settings,
    local.stream_environment,
    {
      LOGLIFT_SPEC                 = abspath(var.spec_file)
      LOGLIFT_TRANSFORM_QUEUE      = try(aws_sqs_queue.transform.url, null)
      LOGLIFT_LOADER_QUEUE         = try(aws_sqs_queue.loader.url, null)
      LOGLIFT_DLQS                 = local.function_environment["dlq-redrive"].LOGLIFT_DLQS
      LOGLIFT_MANIFEST_PREFIX      = local.manifest_prefix
      LOGLIFT_LOAD_TIMEOUT_SECONDS = tostring(var.functions.dedupe_loader.timeout)
      AWS_REGION                   = local.region
      # The spec's name of the stream CloudWatch Logs subscriptions deliver into (loglift smoke).
      LOGLIFT_LOG_STREAM = var.log_stream_name
    },
    local.kinesis_failure_queue ? { LOGLIFT_KINESIS_FAILURE_QUEUE = try(aws_sqs_queue.kinesis_failures[0].url, null) } : {},
    length(local.firehose_streams) > 0 ? { LOGLIFT_FIREHOSE_SOURCE_STREAMS = local.firehose_sources_env } : {},
  )
}

################################################################################
# Warehouse, catalog, monitoring
################################################################################

output "warehouse" {
  description = "Warehouse target of the dedupe-loader: workgroup or cluster, the COPY role, the loader's database user on Redshift (IAMR:<loader role> with IAM credentials), the admin secret, and setup_sql, what an administrator runs once before the first load (see warehouse_setup_sql)."
  value = {
    kind               = var.warehouse.kind
    database           = var.warehouse.database
    workgroup          = local.is_redshift && var.warehouse.kind != "redshift_cluster" ? local.rs_workgroup : null
    cluster            = var.warehouse.kind == "redshift_cluster" ? var.warehouse.cluster_identifier : null
    copy_role_arn      = try(aws_iam_role.copy[0].arn, null)
    loader_db_user     = local.loader_db_user
    postgres_secret    = var.postgres_secret_arn
    admin_secret_arn   = try(aws_redshiftserverless_namespace.this[0].admin_password_secret_arn, null)
    workgroup_endpoint = try(aws_redshiftserverless_workgroup.this[0].endpoint[0].address, null)
    setup_sql          = local.warehouse_setup_sql
  }
}

output "warehouse_setup_sql" {
  description = "Redshift: the statements an administrator (the admin secret's user) runs once, in this order, before the first load (`terraform output -raw warehouse_setup_sql`): CREATE USER for the loader's database user (IAMR:<loader role>; skip it if the loader already logged in once and the user exists), CREATE on the database, USAGE and CREATE on the schemas the spec's tables use and on `loglift` (the ledger). With an existing workgroup or cluster, also associate copy_role_arn with it. Null for PostgreSQL and for a Redshift secret (its user is not known here)."
  value       = local.warehouse_setup_sql == null ? null : join("\n", local.warehouse_setup_sql)
}

output "claimed_concurrency" {
  description = "Concurrent executions this deployment's mappings can claim at their busiest (compare with the region's Lambda quota L-B99A9384; see lambda_concurrency_quota)."
  value       = local.claimed_concurrency
}

output "glue_database" {
  description = "Glue database: a table per pipeline, rejects, firehose_errors."
  value       = try(aws_glue_catalog_database.this[0].name, null)
}

output "athena_workgroup" {
  description = "Athena workgroup to query the catalog."
  value       = try(aws_athena_workgroup.this[0].name, null)
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = try(aws_sns_topic.alarms[0].arn, null)
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = try(aws_cloudwatch_dashboard.this[0].dashboard_name, null)
}
