output "lake_bucket" {
  description = "The lake bucket."
  value       = module.loglift.lake_bucket
}

output "api_invoke_url" {
  description = "POST <url>/streams/<stream> with a JSON object (SigV4-signed)."
  value       = module.loglift.api_invoke_url
}

output "streams" {
  description = "Kinesis streams: ARN and consumer."
  value       = module.loglift.streams
}

output "firehose_delivery_streams" {
  description = "Delivery streams into raw/."
  value       = module.loglift.firehose_delivery_streams
}

output "functions" {
  description = "The functions."
  value       = module.loglift.functions
}

output "warehouse" {
  description = "The Redshift Serverless workgroup, COPY role, the loader's database user, the admin secret."
  value       = module.loglift.warehouse
}

output "warehouse_setup_sql" {
  description = "What an administrator runs once, in order, in the workgroup before the first load (as the admin_secret_arn user)."
  value       = module.loglift.warehouse_setup_sql
}

output "claimed_concurrency" {
  description = "Concurrent executions the mappings can claim (compare with the region's Lambda quota)."
  value       = module.loglift.claimed_concurrency
}

output "glue_database" {
  description = "Glue database for Athena."
  value       = module.loglift.glue_database
}

output "athena_workgroup" {
  description = "Athena workgroup."
  value       = module.loglift.athena_workgroup
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.loglift.dashboard_name
}

output "cli_environment" {
  description = "Environment for the loglift CLI against this deployment."
  value       = module.loglift.cli_environment
}
