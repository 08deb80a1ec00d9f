################################################################################
# Lake bucket: every area of the storage contract as a prefix (docs/architecture.md)
################################################################################

resource "aws_s3_bucket" "lake" {
  #checkov:skip=CKV_AWS_144: cross-region replication needs a second bucket in another region, a disaster-recovery choice of the deployer (add an aws_s3_bucket_replication_configuration where raw/ must survive a region).
  #checkov:skip=CKV_AWS_18: server access logs would need a second bucket per deployment; CloudTrail S3 data events (account-wide) are the audit trail for the lake.

  bucket        = local.lake_bucket
  force_destroy = var.force_destroy
  tags          = local.tags

  lifecycle {
    precondition {
      condition     = length(local.overlapping_areas) == 0
      error_message = "Areas in one bucket may not overlap: ${join(", ", local.overlapping_areas)}."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "lake" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.lake.arn,
      "${aws_s3_bucket.lake.arn}/*",
    ]
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

resource "aws_s3_bucket_policy" "lake" {
  bucket = aws_s3_bucket.lake.id
  policy = data.aws_iam_policy_document.lake.json

  depends_on = [aws_s3_bucket_public_access_block.lake]
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id

  # Every object: incomplete uploads and old versions (a redelivery overwrites curated keys).
  rule {
    id     = "versions-and-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = var.lifecycle_days.abort_multipart_upload
    }
    dynamic "noncurrent_version_expiration" {
      for_each = var.lifecycle_days.noncurrent_version_expiry == null ? [] : [1]
      content {
        noncurrent_days = var.lifecycle_days.noncurrent_version_expiry
      }
    }
  }

  dynamic "rule" {
    for_each = {
      for area, days in {
        landing = var.lifecycle_days.landing_expiration
        raw     = var.lifecycle_days.raw_expiration
        errors  = var.lifecycle_days.errors_expiration
      } : area => days if days != null
    }
    content {
      id     = "expire-${rule.key}"
      status = "Enabled"
      filter {
        prefix = local.areas[rule.key]
      }
      expiration {
        days = rule.value
      }
      abort_incomplete_multipart_upload {
        days_after_initiation = var.lifecycle_days.abort_multipart_upload
      }
    }
  }

  dynamic "rule" {
    for_each = var.lifecycle_days.curated_to_tiering == null ? [] : [1]
    content {
      id     = "curated-to-intelligent-tiering"
      status = "Enabled"
      filter {
        prefix = local.areas.curated
      }
      transition {
        days          = var.lifecycle_days.curated_to_tiering
        storage_class = "INTELLIGENT_TIERING"
      }
      abort_incomplete_multipart_upload {
        days_after_initiation = var.lifecycle_days.abort_multipart_upload
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.lake]
}

# S3 → transform queue: raw/ and each landing pipeline's prefix, in the bucket's one notification.
resource "aws_s3_bucket_notification" "lake" {
  bucket = aws_s3_bucket.lake.id

  dynamic "queue" {
    for_each = local.notification_filters
    content {
      id            = replace(queue.key, ":", "-")
      queue_arn     = aws_sqs_queue.transform.arn
      events        = ["s3:ObjectCreated:*"]
      filter_prefix = queue.value.prefix
    }
  }

  lifecycle {
    precondition {
      condition     = length(local.overlapping_filters) == 0
      error_message = "Notification prefixes overlap (S3 refuses that): ${join(", ", local.overlapping_filters)}."
    }
  }

  depends_on = [aws_sqs_queue_policy.transform]
}

# The spec the functions read (LOGLIFT_SPEC); its version id is in every function's environment,
# so a changed spec updates every function and reaches every running container.
resource "aws_s3_object" "spec" {
  bucket       = aws_s3_bucket.lake.id
  key          = local.spec_key
  content      = local.spec_text
  content_type = "application/yaml"
  kms_key_id   = local.kms_key_arn
  tags         = local.tags

  depends_on = [aws_s3_bucket_versioning.lake, aws_s3_bucket_server_side_encryption_configuration.lake]
}
