################################################################################
# Firehose: Kinesis source → ingest (processor) → raw/ with dynamic partitioning
# (partition keys {pipeline, dt, hour} from the processor), error output under errors/firehose/;
# optionally a second delivery stream into OpenSearch (seed 000).
################################################################################

locals {
  opensearch_streams = var.opensearch.enabled ? toset(coalesce(var.opensearch.streams, local.has_log_pipeline ? [var.log_stream_name] : [])) : toset([])
  firehose_role      = length(local.firehose_streams) + length(local.opensearch_streams) > 0
  firehose_log_group = "/aws/kinesisfirehose/${var.name}"

  # Lambda processor parameters besides LambdaArn, only where they differ from Firehose's defaults
  # (NumberOfRetries 3, BufferIntervalInSeconds 60, BufferSizeInMBs 1): the provider leaves a
  # parameter equal to its default out of the state, so setting one would show a change on every
  # plan (hashicorp/terraform-provider-aws #14943, #35137; Firehose API ProcessorParameter).
  processor_defaults = { BufferSizeInMBs = "1", BufferIntervalInSeconds = "60", NumberOfRetries = "3" }
  processor_parameters = {
    for s, c in local.firehose_streams : s => {
      for k, v in {
        # CloudWatch Logs: ingest answers gzip members (LOGLIFT_FIREHOSE_GZIP_STREAMS); a 3 MB
        # batch measured a 5.0 MB response. At most 1 MB in keeps room for logs whose headers
        # outweigh their messages.
        BufferSizeInMBs         = tostring(c.carries_logs ? min(var.firehose.processor_buffer_size_mb, 1) : var.firehose.processor_buffer_size_mb)
        BufferIntervalInSeconds = tostring(var.firehose.processor_buffer_interval_seconds)
      } : k => v if v != local.processor_defaults[k]
    }
  }
}

resource "aws_cloudwatch_log_group" "firehose" {
  count = local.firehose_role ? 1 : 0

  name              = local.firehose_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = local.tags
}

resource "aws_cloudwatch_log_stream" "firehose" {
  for_each = toset(concat(
    [for s in keys(local.firehose_streams) : "${s}-s3"],
    [for s in local.opensearch_streams : "${s}-opensearch"],
  ))

  name           = each.key
  log_group_name = aws_cloudwatch_log_group.firehose[0].name
}

data "aws_iam_policy_document" "firehose_assume" {
  count = local.firehose_role ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "firehose" {
  count = local.firehose_role ? 1 : 0

  statement {
    sid       = "ReadSourceStreams"
    actions   = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"]
    resources = [for s in setunion(keys(local.firehose_streams), local.opensearch_streams) : aws_kinesis_stream.this[s].arn]
  }
  statement {
    sid       = "BucketLevel"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.lake.arn]
  }
  statement {
    sid     = "WriteRawAndErrors"
    actions = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = [
      "${aws_s3_bucket.lake.arn}/${local.areas.raw}*",
      "${aws_s3_bucket.lake.arn}/${local.areas.errors}firehose/*",
      "${aws_s3_bucket.lake.arn}/${local.areas.errors}opensearch/*",
    ]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [local.kms_key_arn]
  }
  dynamic "statement" {
    for_each = length(local.firehose_streams) > 0 ? [1] : []
    content {
      sid       = "InvokeIngestProcessor"
      actions   = ["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"]
      resources = [aws_lambda_function.this["ingest"].arn, "${aws_lambda_function.this["ingest"].arn}:*"]
    }
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.firehose[0].arn}:log-stream:*"]
  }
  dynamic "statement" {
    for_each = var.opensearch.enabled ? [1] : []
    content {
      sid       = "OpenSearch"
      actions   = ["es:DescribeDomain", "es:DescribeDomains", "es:DescribeDomainConfig", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpGet"]
      resources = [var.opensearch.domain_arn, "${var.opensearch.domain_arn}/*"]
    }
  }
}

resource "aws_iam_role" "firehose" {
  count = local.firehose_role ? 1 : 0

  name               = "${var.name}-firehose"
  assume_role_policy = data.aws_iam_policy_document.firehose_assume[0].json
  tags               = local.tags
}

resource "aws_iam_role_policy" "firehose" {
  count = local.firehose_role ? 1 : 0

  name   = "deliver"
  role   = aws_iam_role.firehose[0].id
  policy = data.aws_iam_policy_document.firehose[0].json
}

resource "aws_kinesis_firehose_delivery_stream" "raw" {
  for_each = local.firehose_streams

  name        = local.firehose_names[each.key]
  destination = "extended_s3"

  kinesis_source_configuration {
    kinesis_stream_arn = aws_kinesis_stream.this[each.key].arn
    role_arn           = aws_iam_role.firehose[0].arn
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose[0].arn
    bucket_arn          = aws_s3_bucket.lake.arn
    prefix              = local.firehose_prefix
    error_output_prefix = local.firehose_error_prefix
    file_extension      = ".ndjson.gz"
    # Streams that carry CloudWatch Logs get gzip members from ingest (LOGLIFT_FIREHOSE_GZIP_STREAMS):
    # concatenated as they are, they are already a gzip object.
    compression_format = each.value.carries_logs ? "UNCOMPRESSED" : "GZIP"
    kms_key_arn        = local.kms_key_arn
    # Dynamic partitioning needs a destination buffer of at least 64 MiB.
    buffering_size     = var.firehose.buffering_size_mb
    buffering_interval = var.firehose.buffering_interval_seconds

    dynamic_partitioning_configuration {
      enabled        = true
      retry_duration = var.firehose.dynamic_partitioning_retry_seconds
    }

    processing_configuration {
      enabled = true
      processors {
        type = "Lambda"
        parameters {
          parameter_name  = "LambdaArn"
          parameter_value = "${aws_lambda_function.this["ingest"].arn}:$LATEST"
        }
        dynamic "parameters" {
          for_each = local.processor_parameters[each.key]
          content {
            parameter_name  = parameters.key
            parameter_value = parameters.value
          }
        }
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose[0].name
      log_stream_name = aws_cloudwatch_log_stream.firehose["${each.key}-s3"].name
    }
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.firehose]
}

resource "aws_kinesis_firehose_delivery_stream" "opensearch" {
  for_each = local.opensearch_streams

  name        = "${var.name}-${each.key}-opensearch"
  destination = "opensearch"

  kinesis_source_configuration {
    kinesis_stream_arn = aws_kinesis_stream.this[each.key].arn
    role_arn           = aws_iam_role.firehose[0].arn
  }

  opensearch_configuration {
    domain_arn            = var.opensearch.domain_arn
    role_arn              = aws_iam_role.firehose[0].arn
    index_name            = var.opensearch.index_name
    index_rotation_period = var.opensearch.index_rotation_period
    s3_backup_mode        = "FailedDocumentsOnly"

    s3_configuration {
      role_arn           = aws_iam_role.firehose[0].arn
      bucket_arn         = aws_s3_bucket.lake.arn
      prefix             = "${local.areas.errors}opensearch/${each.key}/"
      compression_format = "GZIP"
      kms_key_arn        = local.kms_key_arn
    }

    # CloudWatch Logs payloads (gzip) → one document per log event.
    processing_configuration {
      enabled = true
      processors {
        type = "Decompression"
        parameters {
          parameter_name  = "CompressionFormat"
          parameter_value = "GZIP"
        }
      }
      processors {
        type = "CloudWatchLogProcessing"
        parameters {
          parameter_name  = "DataMessageExtraction"
          parameter_value = "true"
        }
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose[0].name
      log_stream_name = aws_cloudwatch_log_stream.firehose["${each.key}-opensearch"].name
    }
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.firehose]
}
