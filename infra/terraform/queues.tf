################################################################################
# Queues: transform (S3 notifications) and loader (loader messages), each with a DLQ;
# the Kinesis mappings' on-failure queue. Encryption S3 can publish under: SSE-SQS or the
# module's customer-managed key (never alias/aws/sqs).
################################################################################

locals {
  queue_kms = var.queue_encryption == "kms" ? {
    kms_master_key_id                 = local.kms_key_arn
    kms_data_key_reuse_period_seconds = 300
    sqs_managed_sse_enabled           = null
    } : {
    kms_master_key_id                 = null
    kms_data_key_reuse_period_seconds = null
    sqs_managed_sse_enabled           = true
  }
  kinesis_failure_queue = var.kinesis_mapping.on_failure == "sqs" && length(local.lambda_streams) > 0
}

resource "aws_sqs_queue" "transform_dlq" {
  name                              = "${var.name}-transform-dlq"
  message_retention_seconds         = var.queue_message_retention_seconds
  kms_master_key_id                 = local.queue_kms.kms_master_key_id
  kms_data_key_reuse_period_seconds = local.queue_kms.kms_data_key_reuse_period_seconds
  sqs_managed_sse_enabled           = local.queue_kms.sqs_managed_sse_enabled
  tags                              = local.tags
}

resource "aws_sqs_queue" "transform" {
  name                              = "${var.name}-transform"
  visibility_timeout_seconds        = local.transform_visibility
  message_retention_seconds         = var.queue_message_retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = local.queue_kms.kms_master_key_id
  kms_data_key_reuse_period_seconds = local.queue_kms.kms_data_key_reuse_period_seconds
  sqs_managed_sse_enabled           = local.queue_kms.sqs_managed_sse_enabled
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.transform_dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = local.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "transform_dlq" {
  queue_url = aws_sqs_queue.transform_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.transform.arn]
  })
}

data "aws_iam_policy_document" "transform_queue" {
  statement {
    sid       = "S3Publishes"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.transform.arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.lake.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "transform" {
  queue_url = aws_sqs_queue.transform.id
  policy    = data.aws_iam_policy_document.transform_queue.json
}

resource "aws_sqs_queue" "loader_dlq" {
  name                              = "${var.name}-loader-dlq"
  message_retention_seconds         = var.queue_message_retention_seconds
  kms_master_key_id                 = local.queue_kms.kms_master_key_id
  kms_data_key_reuse_period_seconds = local.queue_kms.kms_data_key_reuse_period_seconds
  sqs_managed_sse_enabled           = local.queue_kms.sqs_managed_sse_enabled
  tags                              = local.tags
}

resource "aws_sqs_queue" "loader" {
  name                              = "${var.name}-loader"
  visibility_timeout_seconds        = local.loader_visibility
  message_retention_seconds         = var.queue_message_retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = local.queue_kms.kms_master_key_id
  kms_data_key_reuse_period_seconds = local.queue_kms.kms_data_key_reuse_period_seconds
  sqs_managed_sse_enabled           = local.queue_kms.sqs_managed_sse_enabled
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.loader_dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = local.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "loader_dlq" {
  queue_url = aws_sqs_queue.loader_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.loader.arn]
  })
}

# Where the Kinesis mappings send a batch's metadata (shard, sequence range) once retries and
# record age are exhausted; `loglift redrive kinesis` / dlq-redrive re-read the range.
resource "aws_sqs_queue" "kinesis_failures" {
  count = local.kinesis_failure_queue ? 1 : 0

  name                              = "${var.name}-kinesis-failures"
  message_retention_seconds         = var.queue_message_retention_seconds
  kms_master_key_id                 = local.queue_kms.kms_master_key_id
  kms_data_key_reuse_period_seconds = local.queue_kms.kms_data_key_reuse_period_seconds
  sqs_managed_sse_enabled           = local.queue_kms.sqs_managed_sse_enabled
  tags                              = local.tags
}
