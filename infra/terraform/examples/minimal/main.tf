# The smallest useful deployment: the shipped spec's streams read by the ingest function, the
# lake, queues, functions, catalog and alarms, loading into an existing PostgreSQL (or pass
# another `warehouse`, e.g. { kind = "redshift_cluster", cluster_identifier = "...", db_user = "..." }).
# PostgreSQL on RDS: the credentials come from a Secrets Manager secret (postgres_secret_arn) and
# the loader runs in the database's VPC (loader_vpc_config), over TLS verified against the host.
#
#   scripts/package
#   terraform -chdir=infra/terraform/examples/minimal init
#   terraform -chdir=infra/terraform/examples/minimal apply -var-file=my.tfvars

provider "aws" {
  region = var.region
}

locals {
  repo = "${path.module}/../../../.."
}

module "loglift" {
  source = "../.."

  name          = var.name
  spec_file     = coalesce(var.spec_file, "${local.repo}/spec/pipelines.yaml")
  artifacts_dir = coalesce(var.artifacts_dir, "${local.repo}/dist/lambda")
  force_destroy = var.force_destroy

  warehouse                   = var.warehouse
  postgres_secret_arn         = var.postgres_secret_arn
  postgres_secret_kms_key_arn = var.postgres_secret_kms_key_arn
  postgres_url                = var.postgres_url
  postgres_ca_file            = var.postgres_ca_file
  loader_vpc_config           = var.loader_vpc_config

  lambda_concurrency_quota = var.lambda_concurrency_quota

  alarm_emails = var.alarm_emails
  tags         = var.tags
}
