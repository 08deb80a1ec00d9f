################################################################################
# loglift: the whole pipeline (docs/architecture.md), per-pipeline resources from the spec.
#
#   streams ─► ingest (mapping) ─────────────► raw/ ─┐ S3 → SQS (transform queue)
#   streams ─► Firehose ─► ingest (processor) ► raw/ ─┤
#   clients ──────────────────────────────► landing/ ─┘ ─► transform ─► curated/, errors/, reports/
#   loader queue ◄─ transform ; loader queue ─► dedupe-loader ─► Redshift (Data API) | PostgreSQL
#   DLQs, Kinesis on-failure queue, Firehose errors ─► dlq-redrive (schedule, disabled by default)
#
# Files: main.tf (spec, names, KMS), lake.tf, queues.tf, ingress.tf, firehose.tf, functions.tf,
# warehouse.tf, catalog.tf, monitoring.tf.
################################################################################

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  tags = merge(var.tags, { "loglift:deployment" = var.name })

  ##############################################################################
  # The spec: the same file the functions read (uploaded below, LOGLIFT_SPEC).
  ##############################################################################
  spec_text    = file(var.spec_file)
  spec         = yamldecode(local.spec_text)
  spec_version = tostring(local.spec.version)
  pipelines    = { for p in local.spec.pipelines : p.name => p }

  # Streams named in match.stream; log-group globs of cloudwatch_logs pipelines; landing prefixes.
  spec_streams     = distinct(compact([for p in local.spec.pipelines : try(p.match.stream, null)]))
  log_globs        = { for p in local.spec.pipelines : p.name => p.match.log_group if try(p.match.log_group, null) != null }
  has_log_pipeline = length(local.log_globs) > 0 || anytrue([for p in local.spec.pipelines : try(p.format, "") == "cloudwatch_logs"])
  landing_prefixes = { for p in local.spec.pipelines : p.name => "${local.areas.landing}${p.match.s3_prefix}" if try(p.match.s3_prefix, null) != null }

  # A glob as the ingest router reads it: `*` matches anything (also `/`, also nothing), `?` one character.
  log_glob_regexes = {
    for name, glob in local.log_globs : name => format("^%s$", replace(replace(
      replace(glob, "/([.+()\\[\\]{}|^$\\\\])/", "\\$1"),
    "*", ".*"), "?", "."))
  }
  # Log groups to subscribe: the listed ones and every glob that names exactly one group.
  log_group_names = distinct(concat(
    var.log_group_names,
    [for glob in values(local.log_globs) : glob if length(regexall("[*?]", glob)) == 0],
  ))
  unmatched_log_groups = [
    for g in local.log_group_names : g if !anytrue([for re in values(local.log_glob_regexes) : can(regex(re, g))])
  ]

  # DynamoDB tables consolidate_by_priority jobs read their priority list from (transform reads them).
  priority_tables = distinct(flatten([
    for p in local.spec.pipelines : [for j in try(p.jobs, []) : j.priority.dynamodb.table if try(j.priority.dynamodb.table, null) != null]
  ]))

  ##############################################################################
  # The storage contract: one lake bucket, the areas as prefixes.
  ##############################################################################
  lake_bucket = coalesce(var.lake_bucket_name, "${var.name}-lake-${local.account_id}")
  areas       = var.area_prefixes
  area_list   = values(local.areas)
  overlapping_areas = flatten([
    for i, a in local.area_list : [for j, b in local.area_list : "${a} and ${b}" if i != j && startswith(a, b)]
  ])
  firehose_prefix       = "${local.areas.raw}pipeline=!{partitionKeyFromLambda:pipeline}/dt=!{partitionKeyFromLambda:dt}/hour=!{partitionKeyFromLambda:hour}/"
  firehose_error_prefix = "${local.areas.errors}firehose/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
  manifest_prefix       = "manifests/"
  spec_key              = "config/loglift/pipelines.yaml"

  # S3 → transform queue filters, as `loglift spec layout` prints them: raw/ and every landing
  # pipeline's prefix. One aws_s3_bucket_notification holds them all (the provider keeps one per bucket).
  notification_filters = merge(
    { "raw" = { prefix = local.areas.raw, pipeline = null } },
    { for name, prefix in local.landing_prefixes : "landing:${name}" => { prefix = prefix, pipeline = name } },
  )
  overlapping_filters = flatten([
    for a, fa in local.notification_filters : [
      for b, fb in local.notification_filters : "${fa.prefix} (${a}) and ${fb.prefix} (${b})" if a != b && startswith(fa.prefix, fb.prefix)
    ]
  ])

  ##############################################################################
  # Streams and who consumes them.
  ##############################################################################
  stream_names = distinct(concat(
    local.spec_streams,
    local.has_log_pipeline ? [var.log_stream_name] : [],
    keys(var.streams),
  ))
  streams = {
    for s in local.stream_names : s => {
      consumer        = coalesce(try(var.streams[s].consumer, null), var.stream_defaults.consumer)
      mode            = coalesce(try(var.streams[s].mode, null), var.stream_defaults.mode)
      shard_count     = coalesce(try(var.streams[s].shard_count, null), var.stream_defaults.shard_count)
      retention_hours = coalesce(try(var.streams[s].retention_hours, null), var.stream_defaults.retention_hours)
      # CloudWatch Logs payloads grow about 10x once decompressed: smaller processor batches.
      carries_logs = local.has_log_pipeline && s == var.log_stream_name
    }
  }
  lambda_streams   = { for s, c in local.streams : s => c if c.consumer == "lambda" }
  firehose_streams = { for s, c in local.streams : s => c if c.consumer == "firehose" }

  # What each stream is called in AWS: the deployment's name in front of the spec's name, so two
  # deployments (or an existing `logs` stream) coexist in one account and region. The functions
  # route by the spec's name: LOGLIFT_STREAM_NAMES (`spec-name=deployed-name,...`) maps one to
  # the other. The Firehose delivery stream that reads a stream has the same name.
  kinesis_names    = { for s in local.stream_names : s => "${var.name}-${s}" }
  firehose_names   = { for s in keys(local.firehose_streams) : s => "${var.name}-${s}" }
  stream_names_env = join(",", [for s in local.stream_names : "${s}=${local.kinesis_names[s]}"])
  # LOGLIFT_FIREHOSE_SOURCE_STREAMS: `delivery-stream=kinesis-stream,...`, the stream each delivery
  # stream reads (Firehose error output does not record it; redrive routes by match.stream).
  firehose_sources_env = join(",", [for s in keys(local.firehose_streams) : "${local.firehose_names[s]}=${local.kinesis_names[s]}"])
  # LOGLIFT_FIREHOSE_GZIP_STREAMS: the delivery streams that carry CloudWatch Logs. Ingest answers
  # their records as gzip members (decompressed log events would overflow the 6 MB response) and
  # Firehose delivers them UNCOMPRESSED: each raw object is the members concatenated, one
  # multi-member gzip object.
  firehose_gzip_streams = [for s, c in local.firehose_streams : local.firehose_names[s] if c.carries_logs]

  ##############################################################################
  # Functions: names, artefacts (scripts/package), settings.
  ##############################################################################
  artifacts    = jsondecode(file("${var.artifacts_dir}/artifacts.json"))
  architecture = local.artifacts.architecture
  function_settings = {
    ingest          = var.functions.ingest
    transform       = var.functions.transform
    "dedupe-loader" = var.functions.dedupe_loader
    "dlq-redrive"   = var.functions.dlq_redrive
  }
  function_names = { for f in keys(local.function_settings) : f => "${var.name}-${f}" }

  # Visibility timeout of each queue: 6 x its consumer's timeout (AWS's advice for SQS mappings).
  transform_visibility = 6 * var.functions.transform.timeout
  loader_visibility    = 6 * var.functions.dedupe_loader.timeout

  kms_key_arn = var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.this[0].arn
}

################################################################################
# KMS: one customer-managed key for the lake, streams, topic, logs and environments
################################################################################

data "aws_iam_policy_document" "kms" {
  count = var.kms_key_arn == null ? 1 : 0

  # The account administers the key; IAM policies grant its use to the roles below.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # S3 event notifications into queues encrypted with this key (queue_encryption = kms).
  statement {
    sid       = "S3PublishesToEncryptedQueues"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # CloudWatch alarms publish to the encrypted SNS topic.
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # CloudWatch Logs encrypts the log groups of this deployment.
  statement {
    sid       = "CloudWatchLogsEncrypts"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }
}

resource "aws_kms_key" "this" {
  count = var.kms_key_arn == null ? 1 : 0

  description             = "loglift ${var.name}: lake, streams, queues, topic, logs, function environments"
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.kms[0].json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  count = var.kms_key_arn == null ? 1 : 0

  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this[0].key_id
}
