################################################################################
# The four functions: provided.al2023 zips from scripts/package, one least-privilege role each,
# JSON logs with retention, and their triggers (event source mappings, redrive schedule).
################################################################################

locals {
  lake_arn = aws_s3_bucket.lake.arn

  # Every function: where the spec is and which version (a new spec object version changes the
  # configuration, so Lambda starts fresh containers that read it), and the lake layout.
  common_environment = {
    LOGLIFT_SPEC           = "s3://${aws_s3_bucket.lake.id}/${aws_s3_object.spec.key}"
    LOGLIFT_SPEC_VERSION   = "${local.spec_version}/${coalesce(aws_s3_object.spec.version_id, aws_s3_object.spec.etag)}"
    LOGLIFT_LAKE_BUCKET    = aws_s3_bucket.lake.id
    LOGLIFT_LANDING_PREFIX = local.areas.landing
    LOGLIFT_RAW_PREFIX     = local.areas.raw
    LOGLIFT_CURATED_PREFIX = local.areas.curated
    LOGLIFT_ERRORS_PREFIX  = local.areas.errors
    LOGLIFT_REPORTS_PREFIX = local.areas.reports
  }

  # Routing by match.stream: the spec's stream names and this deployment's (ingest and redrive).
  stream_environment = { LOGLIFT_STREAM_NAMES = local.stream_names_env }

  # Optional variables are left out by conditions on configuration only, never by a null test
  # on a value known only after apply (which would make the set of variables unknown).
  function_environment = {
    ingest = merge(
      local.common_environment,
      local.stream_environment,
      length(local.firehose_gzip_streams) > 0 ? { LOGLIFT_FIREHOSE_GZIP_STREAMS = join(",", local.firehose_gzip_streams) } : {},
    )
    transform = merge(
      local.common_environment,
      { LOGLIFT_LOADER_QUEUE = aws_sqs_queue.loader.url },
      var.transform_settings.curated_target_bytes == null ? {} : { LOGLIFT_CURATED_TARGET_BYTES = tostring(var.transform_settings.curated_target_bytes) },
      var.transform_settings.buffer_bytes == null ? {} : { LOGLIFT_TRANSFORM_BUFFER_BYTES = tostring(var.transform_settings.buffer_bytes) },
    )
    "dedupe-loader" = merge(local.common_environment, local.warehouse_environment, {
      LOGLIFT_MANIFEST_PREFIX       = local.manifest_prefix
      LOGLIFT_LOAD_TIMEOUT_SECONDS  = tostring(var.functions.dedupe_loader.timeout)
      LOGLIFT_LEDGER_RETENTION_DAYS = tostring(var.ledger_retention_days)
    })
    "dlq-redrive" = merge(
      local.common_environment,
      local.stream_environment,
      {
        LOGLIFT_TRANSFORM_QUEUE = aws_sqs_queue.transform.url
        LOGLIFT_DLQS            = join(",", [aws_sqs_queue.transform_dlq.url, aws_sqs_queue.loader_dlq.url])
      },
      local.kinesis_failure_queue ? { LOGLIFT_KINESIS_FAILURE_QUEUE = aws_sqs_queue.kinesis_failures[0].url } : {},
      length(local.firehose_streams) > 0 ? { LOGLIFT_FIREHOSE_SOURCE_STREAMS = local.firehose_sources_env } : {},
    )
  }

  # The concurrency this deployment can claim from the region's Lambda quota (L-B99A9384) at its
  # busiest: the SQS mappings' maximum_concurrency, a Kinesis consumer per shard (x the mapping's
  # parallelization factor; an on-demand stream starts with 4 shards and grows with traffic) and
  # one redrive. Firehose invokes the processor about once per shard as well (an estimate).
  claimed_concurrency = (
    var.transform_mapping.maximum_concurrency + var.loader_mapping.maximum_concurrency + 1 +
    sum(concat([0], [for s, c in local.lambda_streams : (c.mode == "ON_DEMAND" ? 4 : c.shard_count) * var.kinesis_mapping.parallelization_factor])) +
    sum(concat([0], [for s, c in local.firehose_streams : c.mode == "ON_DEMAND" ? 4 : c.shard_count]))
  )

  # Queue ARNs per role.
  dlq_arns    = [aws_sqs_queue.transform_dlq.arn, aws_sqs_queue.loader_dlq.arn]
  source_arns = [aws_sqs_queue.transform.arn, aws_sqs_queue.loader.arn]
  stream_arns = [for s in aws_kinesis_stream.this : s.arn]
}

################################################################################
# Roles
################################################################################

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.function_names

  name               = each.value
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = local.tags
}

# What every function does: write its logs, read the spec, use the key.
data "aws_iam_policy_document" "common" {
  for_each = local.function_names

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }
  statement {
    sid       = "ReadSpec"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.lake_arn}/${local.spec_key}"]
  }
  statement {
    sid       = "Key"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
  }
  dynamic "statement" {
    for_each = var.tracing_mode == "Active" ? [1] : []
    content {
      sid       = "Tracing"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"] # X-Ray has no resource-level permissions.
    }
  }
}

data "aws_iam_policy_document" "ingest" {
  source_policy_documents = [data.aws_iam_policy_document.common["ingest"].json]

  dynamic "statement" {
    for_each = length(local.lambda_streams) > 0 ? [1] : []
    content {
      sid       = "ReadStreams"
      actions   = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"]
      resources = [for s in keys(local.lambda_streams) : aws_kinesis_stream.this[s].arn]
    }
  }
  statement {
    sid       = "WriteRawAndRejects"
    actions   = ["s3:PutObject"]
    resources = ["${local.lake_arn}/${local.areas.raw}*", "${local.lake_arn}/${local.areas.errors}*"]
  }
  dynamic "statement" {
    for_each = local.kinesis_failure_queue ? [1] : []
    content {
      sid       = "OnFailureQueue"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.kinesis_failures[0].arn]
    }
  }
  dynamic "statement" {
    for_each = var.kinesis_mapping.on_failure == "s3" && length(local.lambda_streams) > 0 ? [1] : []
    content {
      sid       = "OnFailureBucket"
      actions   = ["s3:PutObject", "s3:ListBucket"]
      resources = [local.lake_arn, "${local.lake_arn}/aws/lambda/*"]
    }
  }
}

data "aws_iam_policy_document" "transform" {
  source_policy_documents = [data.aws_iam_policy_document.common["transform"].json]

  statement {
    sid       = "ConsumeTransformQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
    resources = [aws_sqs_queue.transform.arn]
  }
  statement {
    sid       = "SendLoaderMessages"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.loader.arn]
  }
  # ListBucket makes a vanished object a 404 (acknowledged) rather than a 403 (retried).
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [local.lake_arn]
  }
  statement {
    sid       = "ReadLandingAndRaw"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.lake_arn}/${local.areas.landing}*", "${local.lake_arn}/${local.areas.raw}*"]
  }
  statement {
    sid       = "WriteCuratedRejectsReports"
    actions   = ["s3:PutObject"]
    resources = ["${local.lake_arn}/${local.areas.curated}*", "${local.lake_arn}/${local.areas.errors}*", "${local.lake_arn}/${local.areas.reports}*"]
  }
  dynamic "statement" {
    for_each = length(local.priority_tables) > 0 ? [1] : []
    content {
      sid       = "PriorityLists"
      actions   = ["dynamodb:GetItem"]
      resources = [for t in local.priority_tables : "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${t}"]
    }
  }
}

data "aws_iam_policy_document" "dedupe_loader" {
  source_policy_documents = concat(
    [data.aws_iam_policy_document.common["dedupe-loader"].json],
    local.warehouse_loader_policies,
  )

  statement {
    sid       = "ConsumeLoaderQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
    resources = [aws_sqs_queue.loader.arn]
  }
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [local.lake_arn]
  }
  statement {
    sid       = "ReadCurated"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.lake_arn}/${local.areas.curated}*"]
  }
  statement {
    sid       = "WriteManifestsAndFailures"
    actions   = ["s3:PutObject"]
    resources = ["${local.lake_arn}/${local.manifest_prefix}*", "${local.lake_arn}/${local.areas.errors}failures/*"]
  }
}

data "aws_iam_policy_document" "dlq_redrive" {
  source_policy_documents = [data.aws_iam_policy_document.common["dlq-redrive"].json]

  statement {
    sid = "MoveMessages"
    actions = [
      "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
      "sqs:ChangeMessageVisibility", "sqs:ListDeadLetterSourceQueues",
      "sqs:StartMessageMoveTask", "sqs:ListMessageMoveTasks", "sqs:CancelMessageMoveTask",
    ]
    resources = concat(local.dlq_arns, local.source_arns, local.kinesis_failure_queue ? [aws_sqs_queue.kinesis_failures[0].arn] : [])
  }
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = [local.lake_arn]
  }
  statement {
    sid     = "ReadSources"
    actions = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = [
      "${local.lake_arn}/${local.areas.landing}*", "${local.lake_arn}/${local.areas.raw}*",
      "${local.lake_arn}/${local.areas.errors}*", "${local.lake_arn}/aws/lambda/*",
    ]
  }
  statement {
    sid       = "WriteRawAndArchive"
    actions   = ["s3:PutObject"]
    resources = ["${local.lake_arn}/${local.areas.raw}*", "${local.lake_arn}/${local.areas.errors}*"]
  }
  # Replayed Firehose error output and Kinesis on-failure payloads (aws/lambda/) move to
  # errors/*-archive/ so a second run does not replay them.
  statement {
    sid       = "MoveErrorsToArchive"
    actions   = ["s3:DeleteObject"]
    resources = ["${local.lake_arn}/${local.areas.errors}*", "${local.lake_arn}/aws/lambda/*"]
  }
  statement {
    sid       = "ReReadStreams"
    actions   = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords"]
    resources = local.stream_arns
  }
}

locals {
  function_policies = {
    ingest          = data.aws_iam_policy_document.ingest.json
    transform       = data.aws_iam_policy_document.transform.json
    "dedupe-loader" = data.aws_iam_policy_document.dedupe_loader.json
    "dlq-redrive"   = data.aws_iam_policy_document.dlq_redrive.json
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.function_names

  name   = "${each.key}-least-privilege"
  role   = aws_iam_role.function[each.key].id
  policy = local.function_policies[each.key]
}

resource "aws_iam_role_policy_attachment" "loader_vpc" {
  count = var.loader_vpc_config != null ? 1 : 0

  role       = aws_iam_role.function["dedupe-loader"].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

################################################################################
# Functions
################################################################################

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.function_names

  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = local.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_115: concurrency is bounded by each SQS mapping's maximum_concurrency (reserved concurrency would throttle receives, which count toward maxReceiveCount) and by Kinesis shards.
  #checkov:skip=CKV_AWS_116: no asynchronous invocations: failures go to the queues' DLQs and the Kinesis on-failure destination; the schedule's failures are retried by the next run.
  #checkov:skip=CKV_AWS_272: code signing needs an AWS Signer profile and signed uploads to S3; artefacts are built and hashed by scripts/package and deployed from source_code_hash.

  for_each = local.function_names

  function_name    = each.value
  description      = "loglift ${each.key} (${var.name})"
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [local.architecture]
  filename         = "${var.artifacts_dir}/${each.key}.zip"
  source_code_hash = filebase64sha256("${var.artifacts_dir}/${each.key}.zip")
  memory_size      = local.function_settings[each.key].memory_size
  timeout          = local.function_settings[each.key].timeout
  kms_key_arn      = local.kms_key_arn

  environment {
    variables = local.function_environment[each.key]
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function[each.key].name
    application_log_level = var.log_level
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = var.tracing_mode
  }

  dynamic "vpc_config" {
    for_each = each.key == "dedupe-loader" && var.loader_vpc_config != null ? [var.loader_vpc_config] : []
    content {
      subnet_ids         = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = contains(["x86_64", "arm64"], local.architecture)
      error_message = "artifacts.json in ${var.artifacts_dir} names architecture ${local.architecture}; run scripts/package."
    }
    precondition {
      condition     = each.key != "dedupe-loader" || local.is_redshift || nonsensitive(var.postgres_url != null) || var.postgres_secret_arn != null
      error_message = "warehouse.kind = postgres needs postgres_secret_arn (a Secrets Manager secret with username, password, host, port, dbname) or postgres_url."
    }
    precondition {
      condition     = each.key != "transform" || var.lambda_concurrency_quota == null || local.claimed_concurrency <= coalesce(var.lambda_concurrency_quota, 0)
      error_message = "This deployment's mappings can claim ${local.claimed_concurrency} concurrent executions, more than lambda_concurrency_quota (${coalesce(var.lambda_concurrency_quota, 0)}): throttled SQS receives count toward maxReceiveCount and end in the DLQs. Raise the region's quota L-B99A9384 (Service Quotas) or lower the mappings' maximum_concurrency."
    }
  }

  depends_on = [aws_iam_role_policy.function, aws_iam_role_policy_attachment.loader_vpc]
}

################################################################################
# Triggers
################################################################################

# Kinesis → ingest: partial batch responses, bisect on error, bounded retries and record age,
# an on-failure destination (the batch's shard and sequence range, or its payload in S3).
resource "aws_lambda_event_source_mapping" "kinesis" {
  for_each = local.lambda_streams

  function_name                      = aws_lambda_function.this["ingest"].arn
  event_source_arn                   = aws_kinesis_stream.this[each.key].arn
  starting_position                  = var.kinesis_mapping.starting_position
  batch_size                         = var.kinesis_mapping.batch_size
  maximum_batching_window_in_seconds = var.kinesis_mapping.maximum_batching_window_in_seconds
  parallelization_factor             = var.kinesis_mapping.parallelization_factor
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.kinesis_mapping.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.kinesis_mapping.maximum_record_age_in_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = local.kinesis_failure_queue ? aws_sqs_queue.kinesis_failures[0].arn : local.lake_arn
    }
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.function]
}

# Transform queue → transform.
resource "aws_lambda_event_source_mapping" "transform" {
  function_name                      = aws_lambda_function.this["transform"].arn
  event_source_arn                   = aws_sqs_queue.transform.arn
  batch_size                         = var.transform_mapping.batch_size
  maximum_batching_window_in_seconds = var.transform_mapping.maximum_batching_window_in_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.transform_mapping.maximum_concurrency
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.function]
}

# Loader queue → dedupe-loader: big batches, few concurrent loaders (not reserved concurrency).
resource "aws_lambda_event_source_mapping" "loader" {
  function_name                      = aws_lambda_function.this["dedupe-loader"].arn
  event_source_arn                   = aws_sqs_queue.loader.arn
  batch_size                         = var.loader_mapping.batch_size
  maximum_batching_window_in_seconds = var.loader_mapping.maximum_batching_window_in_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.loader_mapping.maximum_concurrency
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.function]
}

# The redrive schedule: {"source":"dlqs"} moves DLQ messages back to their source queues.
data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.this["dlq-redrive"].arn]
  }
  # The schedule's target input is encrypted with the key.
  statement {
    actions   = ["kms:Decrypt"]
    resources = [local.kms_key_arn]
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-redrive-schedule"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-dlq-redrive"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "redrive" {
  name                = "${var.name}-dlq-redrive"
  description         = "loglift ${var.name}: redrive the DLQs into their source queues"
  schedule_expression = var.redrive_schedule.expression
  state               = var.redrive_schedule.enabled ? "ENABLED" : "DISABLED"
  kms_key_arn         = local.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.this["dlq-redrive"].arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ source = "dlqs", max = var.redrive_schedule.max })

    retry_policy {
      maximum_retry_attempts = 0
    }
  }
}
