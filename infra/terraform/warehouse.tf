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
  # be output for the CLI. Only the variables that apply are present (no nulls).
  warehouse_settings = merge(
    { LOGLIFT_WAREHOUSE = local.is_redshift ? "redshift" : "postgres" },
    local.is_redshift ? {
      LOGLIFT_REDSHIFT_DATABASE = local.wh.database
      LOGLIFT_COPY_ROLE_ARN     = aws_iam_role.copy[0].arn
    } : {},
    local.is_redshift && local.wh.kind != "redshift_cluster" ? { LOGLIFT_REDSHIFT_WORKGROUP = local.rs_workgroup } : {},
    local.wh.kind == "redshift_cluster" ? { LOGLIFT_REDSHIFT_CLUSTER = local.wh.cluster_identifier } : {},
    local.wh.kind == "redshift_cluster" && local.wh.db_user != null ? { LOGLIFT_REDSHIFT_DB_USER = local.wh.db_user } : {},
    local.is_redshift && local.wh.secret_arn != null ? { LOGLIFT_REDSHIFT_SECRET_ARN = local.wh.secret_arn } : {},
    !local.is_redshift && var.postgres_secret_arn != null ? { LOGLIFT_POSTGRES_SECRET_ARN = var.postgres_secret_arn } : {},
    !local.is_redshift && var.postgres_ca_file != null ? { LOGLIFT_POSTGRES_CA_FILE = var.postgres_ca_file } : {},
  )
  warehouse_environment = merge(
    local.warehouse_settings,
    # Whether a URL is given is not secret (the URL is): the rest of the environment stays readable
    # in the plan.
    !local.is_redshift && nonsensitive(var.postgres_url != null) ? { LOGLIFT_POSTGRES_URL = var.postgres_url } : {},
  )

  warehouse_loader_policies = concat(
    local.is_redshift ? [data.aws_iam_policy_document.loader_redshift[0].json] : [],
    !local.is_redshift && var.postgres_secret_arn != null ? [data.aws_iam_policy_document.loader_postgres_secret[0].json] : [],
  )

  # The loader's database user on Redshift: IAMR:<role> when it authenticates with its IAM role
  # (Serverless GetCredentials), the configured db_user on a cluster, unknown with a secret.
  loader_db_user = (
    !local.is_redshift || local.wh.secret_arn != null ? null :
    local.wh.kind == "redshift_cluster" ? local.wh.db_user :
    "IAMR:${local.function_names["dedupe-loader"]}"
  )
  # What an administrator runs once, in this order, before the first load: the user must exist
  # before it can be granted anything (it appears on its own only at its first login), and it
  # creates its schemas, tables and ledger itself. CREATE USER fails if the user already exists
  # (the loader logged in before): then skip it. Schemas that already exist (an existing warehouse)
  # need USAGE and CREATE for the loader; the statements create them if missing.
  warehouse_schemas = distinct(concat(["loglift"], [for p in local.spec.pipelines : split(".", p.table)[0] if length(split(".", p.table)) > 1]))
  warehouse_setup_sql = local.loader_db_user == null ? null : concat(
    [
      "CREATE USER \"${local.loader_db_user}\" PASSWORD DISABLE;",
      "GRANT CREATE ON DATABASE \"${local.wh.database}\" TO \"${local.loader_db_user}\";",
    ],
    flatten([for schema in local.warehouse_schemas : [
      "CREATE SCHEMA IF NOT EXISTS \"${schema}\";",
      "GRANT USAGE, CREATE ON SCHEMA \"${schema}\" TO \"${local.loader_db_user}\";",
    ]]),
  )
}

data "aws_redshiftserverless_workgroup" "existing" {
  count = local.wh.kind == "redshift_workgroup" ? 1 : 0

  workgroup_name = local.wh.workgroup_name
}

################################################################################
# The COPY role: reads curated objects and the loader's manifests
################################################################################

# The two service principals and nothing else, as the Redshift Serverless documentation asks
# ("Granting permissions to Amazon Redshift Serverless"); nothing documents that Redshift sets
# aws:SourceAccount when it assumes the role for COPY, and a condition it does not meet fails the
# first COPY ("Not authorized to get credentials of role"). The role may only read curated/ and
# manifests/ of this lake.
data "aws_iam_policy_document" "copy_assume" {
  count = local.is_redshift ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"]
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
# PostgreSQL credentials from Secrets Manager (LOGLIFT_POSTGRES_SECRET_ARN): that one secret only
################################################################################

data "aws_iam_policy_document" "loader_postgres_secret" {
  count = !local.is_redshift && var.postgres_secret_arn != null ? 1 : 0

  statement {
    sid       = "ReadPostgresSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.postgres_secret_arn]
  }
  # A secret under a customer-managed key (RDS-managed secrets may be): decrypt through Secrets
  # Manager only.
  dynamic "statement" {
    for_each = var.postgres_secret_kms_key_arn != null ? [1] : []
    content {
      sid       = "DecryptPostgresSecret"
      actions   = ["kms:Decrypt"]
      resources = [var.postgres_secret_kms_key_arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
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
