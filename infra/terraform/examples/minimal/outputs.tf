output "lake_bucket" {
  description = "The lake bucket."
  value       = module.loglift.lake_bucket
}

output "streams" {
  description = "Kinesis streams by the spec's name: deployed name, ARN and consumer."
  value       = module.loglift.streams
}

output "notification_filters" {
  description = "S3 → transform-queue notification filters."
  value       = module.loglift.notification_filters
}

output "transform_queue_url" {
  description = "The transform queue."
  value       = module.loglift.transform_queue_url
}

output "loader_queue_url" {
  description = "The loader queue."
  value       = module.loglift.loader_queue_url
}

output "dlq_urls" {
  description = "The DLQs."
  value       = module.loglift.dlq_urls
}

output "kinesis_failure_queue_url" {
  description = "The Kinesis on-failure queue."
  value       = module.loglift.kinesis_failure_queue_url
}

output "functions" {
  description = "The functions."
  value       = module.loglift.functions
}

output "event_source_mappings" {
  description = "Event source mapping UUIDs."
  value       = module.loglift.event_source_mappings
}

output "spec_uri" {
  description = "LOGLIFT_SPEC."
  value       = module.loglift.spec_uri
}

output "spec_version" {
  description = "LOGLIFT_SPEC_VERSION."
  value       = module.loglift.spec_version
}

output "redrive_schedule_arn" {
  description = "The dlq-redrive schedule."
  value       = module.loglift.redrive_schedule_arn
}

output "cli_environment" {
  description = "Environment for the loglift CLI against this deployment."
  value       = module.loglift.cli_environment
}

output "glue_database" {
  description = "Glue database for Athena."
  value       = module.loglift.glue_database
}

output "athena_workgroup" {
  description = "Athena workgroup."
  value       = module.loglift.athena_workgroup
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.loglift.alarm_topic_arn
}

output "warehouse" {
  description = "The warehouse target and the loader's database user."
  value       = module.loglift.warehouse
}

output "warehouse_setup_sql" {
  description = "Redshift: what an administrator runs once, in order, before the first load."
  value       = module.loglift.warehouse_setup_sql
}

output "claimed_concurrency" {
  description = "Concurrent executions the mappings can claim (compare with the region's Lambda quota)."
  value       = module.loglift.claimed_concurrency
}

output "transform_dlq_url" {
  description = "The transform queue's DLQ."
  value       = module.loglift.transform_dlq_url
}

output "loader_dlq_url" {
  description = "The loader queue's DLQ."
  value       = module.loglift.loader_dlq_url
}
