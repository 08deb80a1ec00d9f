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
  description = "Kinesis streams by name: ARN and consumer (lambda or firehose)."
  value       = { for s, c in local.streams : s => { arn = try(aws_kinesis_stream.this[s].arn, null), consumer = c.consumer } }
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
  description = "Environment for the `loglift` CLI against this deployment (redrive, replay, dlq, status, audit): the functions' layout and warehouse settings, the queues, the local spec file. A PostgreSQL URL is left out: export LOGLIFT_POSTGRES_URL yourself."
  value = merge(
    { for k, v in local.common_environment : k => v if k != "LOGLIFT_SPEC" && k != "LOGLIFT_SPEC_VERSION" },
    { for k, v in local.warehouse_settings : k => v if v != null },
    {
      for k, v in {
        LOGLIFT_SPEC                  = abspath(var.spec_file)
        LOGLIFT_TRANSFORM_QUEUE       = try(aws_sqs_queue.transform.url, null)
        LOGLIFT_LOADER_QUEUE          = try(aws_sqs_queue.loader.url, null)
        LOGLIFT_DLQS                  = try(local.function_environment["dlq-redrive"].LOGLIFT_DLQS, null)
        LOGLIFT_KINESIS_FAILURE_QUEUE = try(aws_sqs_queue.kinesis_failures[0].url, null)
        LOGLIFT_MANIFEST_PREFIX       = local.manifest_prefix
        LOGLIFT_LOAD_TIMEOUT_SECONDS  = tostring(var.functions.dedupe_loader.timeout)
        AWS_REGION                    = local.region
      } : k => v if v != null
    },
  )
}

################################################################################
# Warehouse, catalog, monitoring
################################################################################

output "warehouse" {
  description = "Warehouse target of the dedupe-loader; for Redshift with IAM credentials, grant the loader's database user (IAMR:<role>) CREATE on the database."
  value = {
    kind               = var.warehouse.kind
    database           = var.warehouse.database
    workgroup          = local.is_redshift && var.warehouse.kind != "redshift_cluster" ? local.rs_workgroup : null
    cluster            = var.warehouse.kind == "redshift_cluster" ? var.warehouse.cluster_identifier : null
    copy_role_arn      = try(aws_iam_role.copy[0].arn, null)
    loader_db_user     = local.is_redshift && var.warehouse.secret_arn == null && var.warehouse.kind != "redshift_cluster" ? "IAMR:${local.function_names["dedupe-loader"]}" : try(var.warehouse.db_user, null)
    admin_secret_arn   = try(aws_redshiftserverless_namespace.this[0].admin_password_secret_arn, null)
    workgroup_endpoint = try(aws_redshiftserverless_workgroup.this[0].endpoint[0].address, null)
  }
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
