# The smallest useful deployment: the shipped spec's streams read by the ingest function, the
# lake, queues, functions, catalog and alarms, loading into an existing PostgreSQL (or pass
# another `warehouse`, e.g. { kind = "redshift_cluster", cluster_identifier = "...", db_user = "..." }).
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

  warehouse    = var.warehouse
  postgres_url = var.postgres_url

  alarm_emails = var.alarm_emails
  tags         = var.tags
}
