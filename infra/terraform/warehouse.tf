################################################################################
# Warehouse: Redshift Serverless (created, or an existing workgroup or cluster) or PostgreSQL;
# the role COPY assumes to read curated objects and manifests; Data API rights for the loader only.
################################################################################

locals {
  wh           = var.warehouse
  is_redshift  = local.wh.kind != "postgres"
  create_rs    = local.wh.kind == "redshift_serverless"
  rs_workgroup = local.create_rs ? "${var.name}" : local.wh.workgroup_name

  # The ARN the Data API authorises ExecuteStatement / BatchExecuteStatement on.
  redshift_target_arn = (
    local.create_rs ? aws_redshiftserverless_workgroup.this[0].arn :
    local.wh.kind == "redshift_workgroup" ? data.aws_redshiftserverless_workgroup.existing[0].arn :
    local.wh.kind == "redshift_cluster" ? "arn:${local.partition}:redshift:${local.region}:${local.account_id}:cluster:${local.wh.cluster_identifier}" :
    null
  )

  # The loader's warehouse settings; the PostgreSQL URL (sensitive) is added apart, so these can
  # be output for the CLI.
  warehouse_settings = local.is_redshift ? {
    LOGLIFT_WAREHOUSE           = "redshift"
    LOGLIFT_REDSHIFT_WORKGROUP  = local.wh.kind == "redshift_cluster" ? null : local.rs_workgroup
    LOGLIFT_REDSHIFT_CLUSTER    = local.wh.kind == "redshift_cluster" ? local.wh.cluster_identifier : null
    LOGLIFT_REDSHIFT_DB_USER    = local.wh.kind == "redshift_cluster" ? local.wh.db_user : null
    LOGLIFT_REDSHIFT_SECRET_ARN = local.wh.secret_arn
    LOGLIFT_REDSHIFT_DATABASE   = local.wh.database
    LOGLIFT_COPY_ROLE_ARN       = aws_iam_role.copy[0].arn
    } : {
    LOGLIFT_WAREHOUSE           = "postgres"
    LOGLIFT_REDSHIFT_WORKGROUP  = null
    LOGLIFT_REDSHIFT_CLUSTER    = null
    LOGLIFT_REDSHIFT_DB_USER    = null
    LOGLIFT_REDSHIFT_SECRET_ARN = null
    LOGLIFT_REDSHIFT_DATABASE   = null
    LOGLIFT_COPY_ROLE_ARN       = null
  }
  warehouse_environment = merge(local.warehouse_settings, local.is_redshift ? {} : { LOGLIFT_POSTGRES_URL = var.postgres_url })

  warehouse_loader_policies = local.is_redshift ? [data.aws_iam_policy_document.loader_redshift[0].json] : []
}

data "aws_redshiftserverless_workgroup" "existing" {
  count = local.wh.kind == "redshift_workgroup" ? 1 : 0

  workgroup_name = local.wh.workgroup_name
}

################################################################################
# The COPY role: reads curated objects and the loader's manifests
################################################################################

data "aws_iam_policy_document" "copy_assume" {
  count = local.is_redshift ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "copy" {
  count = local.is_redshift ? 1 : 0

  statement {
    sid       = "BucketLevel"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.lake.arn]
  }
  statement {
    sid       = "ReadCuratedAndManifests"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.lake.arn}/${local.areas.curated}*", "${aws_s3_bucket.lake.arn}/${local.manifest_prefix}*"]
  }
  statement {
    sid       = "Decrypt"
    actions   = ["kms:Decrypt"]
    resources = [local.kms_key_arn]
  }
}

resource "aws_iam_role" "copy" {
  count = local.is_redshift ? 1 : 0

  name               = "${var.name}-redshift-copy"
  assume_role_policy = data.aws_iam_policy_document.copy_assume[0].json
  tags               = local.tags
}

resource "aws_iam_role_policy" "copy" {
  count = local.is_redshift ? 1 : 0

  name   = "read-curated"
  role   = aws_iam_role.copy[0].id
  policy = data.aws_iam_policy_document.copy[0].json
}

################################################################################
# The loader's Data API rights (no other function gets them)
################################################################################

data "aws_iam_policy_document" "loader_redshift" {
  count = local.is_redshift ? 1 : 0

  statement {
    sid       = "RunStatements"
    actions   = ["redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement"]
    resources = [local.redshift_target_arn]
  }
  # Statement ids are not resources: restrict to the statements this role submitted.
  statement {
    sid       = "FollowOwnStatements"
    actions   = ["redshift-data:DescribeStatement", "redshift-data:GetStatementResult", "redshift-data:CancelStatement"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "redshift-data:statement-owner-iam-userid"
      values   = ["$${aws:userid}"]
    }
  }
  dynamic "statement" {
    for_each = local.wh.kind != "redshift_cluster" && local.wh.secret_arn == null ? [1] : []
    content {
      sid       = "ServerlessCredentials"
      actions   = ["redshift-serverless:GetCredentials"]
      resources = [local.redshift_target_arn]
    }
  }
  dynamic "statement" {
    for_each = local.wh.kind == "redshift_cluster" && local.wh.secret_arn == null ? [1] : []
    content {
      sid     = "ClusterCredentials"
      actions = ["redshift:GetClusterCredentials"]
      resources = [
        "arn:${local.partition}:redshift:${local.region}:${local.account_id}:dbuser:${local.wh.cluster_identifier}/${coalesce(local.wh.db_user, "none")}",
        "arn:${local.partition}:redshift:${local.region}:${local.account_id}:dbname:${local.wh.cluster_identifier}/${local.wh.database}",
      ]
    }
  }
  dynamic "statement" {
    for_each = local.wh.secret_arn != null ? [1] : []
    content {
      sid       = "SecretCredentials"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [local.wh.secret_arn]
    }
  }
}

################################################################################
# Redshift Serverless, when created here
################################################################################

resource "aws_redshiftserverless_namespace" "this" {
  count = local.create_rs ? 1 : 0

  namespace_name        = var.name
  db_name               = local.wh.database
  admin_username        = "loglift_admin"
  manage_admin_password = true
  kms_key_id            = local.kms_key_arn
  iam_roles             = [aws_iam_role.copy[0].arn]
  default_iam_role_arn  = aws_iam_role.copy[0].arn
  log_exports           = ["userlog", "connectionlog", "useractivitylog"]
  tags                  = local.tags
}

resource "aws_redshiftserverless_workgroup" "this" {
  count = local.create_rs ? 1 : 0

  namespace_name      = aws_redshiftserverless_namespace.this[0].namespace_name
  workgroup_name      = var.name
  base_capacity       = local.wh.base_capacity
  max_capacity        = local.wh.max_capacity
  subnet_ids          = local.wh.subnet_ids
  security_group_ids  = local.wh.security_group_ids
  publicly_accessible = false
  tags                = local.tags
}
