################################################################################
# Catalog: a Glue table per pipeline over curated/, tables over the rejects and the Firehose
# error output (seed 001 watched its error partition), all with partition projection (no
# crawler, no MSCK REPAIR); an Athena workgroup with its own results bucket.
################################################################################

locals {
  glue_database = replace(var.name, "-", "_")

  # Spec column types → Hive types, the same for both curated formats: Parquet parts hold typed
  # columns (INT64, DOUBLE, BOOLEAN, INT64 TIMESTAMP micros UTC, UTF-8 strings; json columns and
  # `extra` as their JSON text); NDJSON parts hold `YYYY-MM-DD HH:MM:SS.ffffff` UTC timestamps,
  # which the OpenX SerDe reads as timestamp.
  glue_types = { string = "string", int = "bigint", float = "double", bool = "boolean", timestamp = "timestamp", json = "string" }
  system_columns = [
    { name = "extra", type = "string", comment = "fields the schema does not name (JSON object)" },
    { name = "event_id", type = "string", comment = "identity, the dedupe key" },
    { name = "event_time", type = "timestamp", comment = "the event-time column, UTC" },
    { name = "source_object", type = "string", comment = "s3://bucket/key#version of the raw or landing object" },
    { name = "spec_version", type = "bigint", comment = "spec version the row was validated with" },
    { name = "ingested_at", type = "timestamp", comment = "when transform wrote it" },
  ]
  date_projection = {
    "projection.enabled"          = "true"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "2020-01-01,NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "projection.hour.type"        = "integer"
    "projection.hour.range"       = "0,23"
    "projection.hour.digits"      = "2"
  }
  json_table_parameters = {
    classification  = "json"
    compressionType = "gzip"
    EXTERNAL        = "TRUE"
  }
  # The curated format of each pipeline (`curated: { format: … }` in the spec; Parquet by default)
  # and how Glue/Athena read it: the Parquet SerDe (compression is in the files' column chunks),
  # or the OpenX JSON SerDe over gzip text.
  curated_formats = { for k, v in local.pipelines : k => try(v.curated.format, "parquet") }
  curated_storage = {
    parquet = {
      parameters    = { classification = "parquet", EXTERNAL = "TRUE" }
      input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
      output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
      serde         = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      serde_params  = { "serialization.format" = "1" }
      compressed    = false
    }
    ndjson = {
      parameters    = local.json_table_parameters
      input_format  = "org.apache.hadoop.mapred.TextInputFormat"
      output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
      serde         = "org.openx.data.jsonserde.JsonSerDe"
      serde_params  = { "ignore.malformed.json" = "true" }
      compressed    = true
    }
  }
  lake_url = "s3://${local.lake_bucket}"

  # Values of !{firehose:error-output-type} the error table projects.
  firehose_error_types = ["processing-failed", "partitioning-failed", "format-conversion-failed"]
}

resource "aws_glue_catalog_database" "this" {
  count = var.create_catalog ? 1 : 0

  name        = local.glue_database
  description = "loglift ${var.name}: curated tables per pipeline, rejects, Firehose errors"
  tags        = local.tags
}

resource "aws_glue_catalog_table" "curated" {
  for_each = { for k, v in local.pipelines : k => v if var.create_catalog }

  name          = each.key
  database_name = aws_glue_catalog_database.this[0].name
  description   = "Curated rows of pipeline ${each.key} (warehouse table ${each.value.table}), ${local.curated_formats[each.key]}"
  table_type    = "EXTERNAL_TABLE"

  parameters = merge(local.curated_storage[local.curated_formats[each.key]].parameters, local.date_projection, {
    "storage.location.template" = "${local.lake_url}/${local.areas.curated}pipeline=${each.key}/dt=$${dt}/hour=$${hour}/"
  })

  partition_keys {
    name = "dt"
    type = "string"
  }
  partition_keys {
    name = "hour"
    type = "string"
  }

  storage_descriptor {
    location      = "${local.lake_url}/${local.areas.curated}pipeline=${each.key}/"
    input_format  = local.curated_storage[local.curated_formats[each.key]].input_format
    output_format = local.curated_storage[local.curated_formats[each.key]].output_format
    compressed    = local.curated_storage[local.curated_formats[each.key]].compressed

    ser_de_info {
      serialization_library = local.curated_storage[local.curated_formats[each.key]].serde
      parameters            = local.curated_storage[local.curated_formats[each.key]].serde_params
    }

    dynamic "columns" {
      for_each = concat(
        [for c in each.value.columns : { name = c.name, type = local.glue_types[c.type], comment = try(c.description, "") }],
        local.system_columns,
      )
      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }
}

resource "aws_glue_catalog_table" "rejects" {
  count = var.create_catalog ? 1 : 0

  name          = "rejects"
  database_name = aws_glue_catalog_database.this[0].name
  description   = "Reject records of every stage (docs/architecture.md, The reject record)"
  table_type    = "EXTERNAL_TABLE"

  parameters = merge(local.json_table_parameters, local.date_projection, {
    "projection.p_stage.type"      = "enum"
    "projection.p_stage.values"    = "ingest,transform,load,redrive"
    "projection.p_pipeline.type"   = "enum"
    "projection.p_pipeline.values" = join(",", concat(keys(local.pipelines), ["_unknown"]))
    "storage.location.template"    = "${local.lake_url}/${local.areas.errors}rejects/stage=$${p_stage}/pipeline=$${p_pipeline}/dt=$${dt}/hour=$${hour}/"
  })

  partition_keys {
    name = "p_stage"
    type = "string"
  }
  partition_keys {
    name = "p_pipeline"
    type = "string"
  }
  partition_keys {
    name = "dt"
    type = "string"
  }
  partition_keys {
    name = "hour"
    type = "string"
  }

  storage_descriptor {
    location      = "${local.lake_url}/${local.areas.errors}rejects/"
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    compressed    = true

    ser_de_info {
      serialization_library = "org.openx.data.jsonserde.JsonSerDe"
      parameters            = { "ignore.malformed.json" = "true" }
    }

    dynamic "columns" {
      for_each = [
        { name = "stage", type = "string" },
        { name = "pipeline", type = "string" },
        { name = "source", type = "struct<kind:string,bucket:string,key:string,version:string,stream:string,shard:string,sequence:string,delivery_stream:string,record_id:string,queue:string,message_id:string>" },
        { name = "position", type = "struct<record:bigint,event:bigint,line:bigint>" },
        { name = "reason", type = "string" },
        { name = "message", type = "string" },
        { name = "raw", type = "string" },
        { name = "raw_bytes", type = "bigint" },
        { name = "raw_truncated", type = "boolean" },
        { name = "time", type = "string" },
      ]
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

resource "aws_glue_catalog_table" "firehose_errors" {
  count = var.create_catalog ? 1 : 0

  name          = "firehose_errors"
  database_name = aws_glue_catalog_database.this[0].name
  description   = "Firehose error output: records the ingest processor answered ProcessingFailed, or that failed partitioning or delivery"
  table_type    = "EXTERNAL_TABLE"

  parameters = merge(local.json_table_parameters, local.date_projection, {
    "projection.error_type.type"   = "enum"
    "projection.error_type.values" = join(",", local.firehose_error_types)
    "storage.location.template"    = "${local.lake_url}/${local.areas.errors}firehose/$${error_type}/dt=$${dt}/hour=$${hour}/"
  })

  partition_keys {
    name = "error_type"
    type = "string"
  }
  partition_keys {
    name = "dt"
    type = "string"
  }
  partition_keys {
    name = "hour"
    type = "string"
  }

  storage_descriptor {
    location      = "${local.lake_url}/${local.areas.errors}firehose/"
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    compressed    = true

    ser_de_info {
      serialization_library = "org.openx.data.jsonserde.JsonSerDe"
      parameters            = { "ignore.malformed.json" = "true", "case.insensitive" = "true" }
    }

    dynamic "columns" {
      for_each = [
        { name = "attemptsmade", type = "bigint" },
        { name = "arrivaltimestamp", type = "bigint" },
        { name = "errorcode", type = "string" },
        { name = "errormessage", type = "string" },
        { name = "attemptendingtimestamp", type = "bigint" },
        { name = "rawdata", type = "string" },
        { name = "lambdaarn", type = "string" },
      ]
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

################################################################################
# Athena: a workgroup whose results go to their own bucket
################################################################################

resource "aws_s3_bucket" "athena_results" {
  #checkov:skip=CKV_AWS_144: query results are disposable (expire after 30 days); no replication.
  #checkov:skip=CKV_AWS_18: access to results is logged by Athena's own CloudTrail events; a log bucket per deployment is not worth it here.
  #checkov:skip=CKV2_AWS_62: nothing reacts to new query results.

  count = var.create_catalog ? 1 : 0

  bucket        = "${var.name}-athena-${local.account_id}"
  force_destroy = true
  tags          = local.tags
}

resource "aws_s3_bucket_ownership_controls" "athena_results" {
  count = var.create_catalog ? 1 : 0

  bucket = aws_s3_bucket.athena_results[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "athena_results" {
  count = var.create_catalog ? 1 : 0

  bucket                  = aws_s3_bucket.athena_results[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "athena_results" {
  count = var.create_catalog ? 1 : 0

  bucket = aws_s3_bucket.athena_results[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "athena_results" {
  count = var.create_catalog ? 1 : 0

  bucket = aws_s3_bucket.athena_results[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "athena_results" {
  count = var.create_catalog ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.athena_results[0].arn, "${aws_s3_bucket.athena_results[0].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "athena_results" {
  count = var.create_catalog ? 1 : 0

  bucket = aws_s3_bucket.athena_results[0].id
  policy = data.aws_iam_policy_document.athena_results[0].json

  depends_on = [aws_s3_bucket_public_access_block.athena_results]
}

resource "aws_s3_bucket_lifecycle_configuration" "athena_results" {
  count = var.create_catalog ? 1 : 0

  bucket = aws_s3_bucket.athena_results[0].id

  rule {
    id     = "expire-results"
    status = "Enabled"
    filter {}
    expiration {
      days = 30
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.athena_results]
}

resource "aws_athena_workgroup" "this" {
  count = var.create_catalog ? 1 : 0

  name          = var.name
  description   = "loglift ${var.name}: query curated tables, rejects and Firehose errors"
  force_destroy = true

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff

    result_configuration {
      output_location = "s3://${aws_s3_bucket.athena_results[0].id}/results/"
      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = local.kms_key_arn
      }
    }
  }

  tags = local.tags
}
