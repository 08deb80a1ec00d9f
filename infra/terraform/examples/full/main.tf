# Everything on: Redshift Serverless created here, Firehose delivery for the event stream and the
# CloudWatch Logs stream, the API Gateway front door (seed 002), CloudWatch Logs subscriptions
# (seed 000), an optional OpenSearch delivery stream, queues under the customer-managed key,
# X-Ray tracing, the redrive schedule (disabled until you enable it), alarms by email.
#
#   scripts/package
#   terraform -chdir=infra/terraform/examples/full init
#   terraform -chdir=infra/terraform/examples/full apply -var-file=my.tfvars

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

locals {
  repo = "${path.module}/../../../.."
}

module "loglift" {
  source = "../.."

  name          = var.name
  spec_file     = coalesce(var.spec_file, "${local.repo}/spec/pipelines.yaml")
  artifacts_dir = coalesce(var.artifacts_dir, "${local.repo}/dist/lambda")

  # Ingress: user-events through Firehose (buffered, dynamic partitioning), user-utm through the
  # ingest mapping, the log stream through Firehose (its processor buffer is capped at 1 MB).
  stream_defaults = { consumer = "lambda", mode = "ON_DEMAND", retention_hours = 48 }
  streams = {
    "user-events" = { consumer = "firehose" }
    "logs"        = { consumer = "firehose" }
  }
  log_group_names = var.log_group_names
  api_gateway = {
    enabled              = true
    authorization        = "AWS_IAM"
    rate_limit           = 1000
    burst_limit          = 2000
    account_logging_role = var.api_gateway_account_logging_role
  }
  opensearch = { enabled = var.opensearch_domain_arn != null, domain_arn = var.opensearch_domain_arn }

  kinesis_mapping  = { maximum_retry_attempts = 10, maximum_record_age_in_seconds = 43200, on_failure = "sqs" }
  queue_encryption = "kms"
  tracing_mode     = "Active"
  redrive_schedule = { enabled = var.redrive_schedule_enabled, expression = "rate(1 hour)" }

  warehouse = {
    kind               = "redshift_serverless"
    database           = "dev"
    base_capacity      = 8
    max_capacity       = 64
    subnet_ids         = var.redshift_subnet_ids
    security_group_ids = var.redshift_security_group_ids
  }

  lambda_concurrency_quota = var.lambda_concurrency_quota

  alarm_emails = var.alarm_emails
  tags         = var.tags
}
