################################################################################
# Kinesis streams: every match.stream of the spec, the log stream, var.streams
################################################################################

resource "aws_kinesis_stream" "this" {
  for_each = local.streams

  name             = local.kinesis_names[each.key]
  shard_count      = each.value.mode == "PROVISIONED" ? each.value.shard_count : null
  retention_period = each.value.retention_hours
  encryption_type  = "KMS"
  kms_key_id       = local.kms_key_arn

  stream_mode_details {
    stream_mode = each.value.mode
  }

  tags = merge(local.tags, { "loglift:consumer" = each.value.consumer })

  lifecycle {
    precondition {
      condition     = each.value.consumer != "lambda" || var.kinesis_mapping.maximum_record_age_in_seconds < each.value.retention_hours * 3600
      error_message = "kinesis_mapping.maximum_record_age_in_seconds must be below the retention of stream ${each.key}: the on-failure record is only useful while its records can still be re-read."
    }
  }
}

################################################################################
# CloudWatch Logs subscriptions into the log stream (seed 000)
################################################################################

data "aws_iam_policy_document" "logs_assume" {
  count = length(local.log_group_names) > 0 ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["logs.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:*"]
    }
  }
}

data "aws_iam_policy_document" "logs_to_kinesis" {
  count = length(local.log_group_names) > 0 ? 1 : 0

  statement {
    actions   = ["kinesis:PutRecord", "kinesis:PutRecords"]
    resources = [aws_kinesis_stream.this[var.log_stream_name].arn]
  }
  statement {
    actions   = ["kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
  }
}

resource "aws_iam_role" "logs_subscription" {
  count = length(local.log_group_names) > 0 ? 1 : 0

  name               = "${var.name}-logs-subscription"
  assume_role_policy = data.aws_iam_policy_document.logs_assume[0].json
  tags               = local.tags
}

resource "aws_iam_role_policy" "logs_subscription" {
  count = length(local.log_group_names) > 0 ? 1 : 0

  name   = "put-into-log-stream"
  role   = aws_iam_role.logs_subscription[0].id
  policy = data.aws_iam_policy_document.logs_to_kinesis[0].json
}

resource "aws_cloudwatch_log_subscription_filter" "this" {
  for_each = toset(local.log_group_names)

  name            = "${var.name}-to-${var.log_stream_name}"
  log_group_name  = each.key
  filter_pattern  = var.log_subscription_filter_pattern
  destination_arn = aws_kinesis_stream.this[var.log_stream_name].arn
  role_arn        = aws_iam_role.logs_subscription[0].arn
  distribution    = "Random"

  lifecycle {
    precondition {
      condition     = length(local.unmatched_log_groups) == 0
      error_message = "Log groups no cloudwatch_logs pipeline matches (its events would be unknown_pipeline rejects): ${join(", ", local.unmatched_log_groups)}."
    }
  }

  depends_on = [aws_iam_role_policy.logs_subscription]
}

################################################################################
# API Gateway front door (seed 002): POST /streams/<stream> → Kinesis PutRecord
################################################################################

locals {
  api_streams = var.api_gateway.enabled ? toset(coalesce(var.api_gateway.streams, local.spec_streams)) : toset([])
}

resource "aws_api_gateway_rest_api" "this" {
  count = var.api_gateway.enabled ? 1 : 0

  name        = var.name
  description = "loglift ${var.name}: events into Kinesis (PutRecord)"
  endpoint_configuration {
    types = ["REGIONAL"]
  }
  tags = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_request_validator" "this" {
  count = var.api_gateway.enabled ? 1 : 0

  name                        = "json-object-body"
  rest_api_id                 = aws_api_gateway_rest_api.this[0].id
  validate_request_body       = true
  validate_request_parameters = true
}

resource "aws_api_gateway_model" "event" {
  count = var.api_gateway.enabled ? 1 : 0

  rest_api_id  = aws_api_gateway_rest_api.this[0].id
  name         = "Event"
  description  = "One event: a JSON object (its fields are validated by transform against the spec)."
  content_type = "application/json"
  schema = jsonencode({
    "$schema"     = "http://json-schema.org/draft-04/schema#"
    title         = "Event"
    type          = "object"
    minProperties = 1
  })
}

resource "aws_api_gateway_resource" "streams" {
  count = var.api_gateway.enabled ? 1 : 0

  rest_api_id = aws_api_gateway_rest_api.this[0].id
  parent_id   = aws_api_gateway_rest_api.this[0].root_resource_id
  path_part   = "streams"
}

resource "aws_api_gateway_resource" "stream" {
  for_each = local.api_streams

  rest_api_id = aws_api_gateway_rest_api.this[0].id
  parent_id   = aws_api_gateway_resource.streams[0].id
  path_part   = each.key

  lifecycle {
    precondition {
      condition     = contains(keys(local.streams), each.key)
      error_message = "api_gateway.streams names ${each.key}, which is not one of this deployment's streams."
    }
  }
}

resource "aws_api_gateway_method" "put" {
  for_each = local.api_streams

  rest_api_id          = aws_api_gateway_rest_api.this[0].id
  resource_id          = aws_api_gateway_resource.stream[each.key].id
  http_method          = "POST"
  authorization        = var.api_gateway.authorization == "AWS_IAM" ? "AWS_IAM" : "NONE"
  api_key_required     = var.api_gateway.authorization == "API_KEY"
  request_validator_id = aws_api_gateway_request_validator.this[0].id
  request_models       = { "application/json" = aws_api_gateway_model.event[0].name }
}

# No aws:SourceAccount / aws:SourceArn condition: API Gateway does not set them when it assumes an
# integration's credentials role, so such a condition makes every request fail with "API Gateway
# does not have permission to assume the provided role" (a 500). The role's only right is
# PutRecord on this deployment's streams (and the key).
data "aws_iam_policy_document" "apigateway_assume" {
  count = var.api_gateway.enabled ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "apigateway" {
  count = var.api_gateway.enabled ? 1 : 0

  statement {
    actions   = ["kinesis:PutRecord"]
    resources = [for s in local.api_streams : aws_kinesis_stream.this[s].arn]
  }
  statement {
    actions   = ["kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
  }
}

resource "aws_iam_role" "apigateway" {
  count = var.api_gateway.enabled ? 1 : 0

  name               = "${var.name}-apigateway"
  assume_role_policy = data.aws_iam_policy_document.apigateway_assume[0].json
  tags               = local.tags
}

resource "aws_iam_role_policy" "apigateway" {
  count = var.api_gateway.enabled ? 1 : 0

  name   = "put-record"
  role   = aws_iam_role.apigateway[0].id
  policy = data.aws_iam_policy_document.apigateway[0].json
}

resource "aws_api_gateway_integration" "put" {
  for_each = local.api_streams

  rest_api_id             = aws_api_gateway_rest_api.this[0].id
  resource_id             = aws_api_gateway_resource.stream[each.key].id
  http_method             = aws_api_gateway_method.put[each.key].http_method
  type                    = "AWS"
  integration_http_method = "POST"
  uri                     = "arn:${local.partition}:apigateway:${local.region}:kinesis:action/PutRecord"
  credentials             = aws_iam_role.apigateway[0].arn
  passthrough_behavior    = "NEVER"
  # The body becomes one record; the request id spreads records over the shards. The path names
  # the stream as the spec does; the record goes to this deployment's stream of that name.
  request_templates = {
    "application/json" = jsonencode({
      StreamName   = local.kinesis_names[each.key]
      Data         = "$util.base64Encode($input.json('$'))"
      PartitionKey = "$context.requestId"
    })
  }
}

resource "aws_api_gateway_method_response" "put" {
  for_each = { for pair in setproduct(local.api_streams, ["200", "400", "503"]) : "${pair[0]}/${pair[1]}" => { stream = pair[0], status = pair[1] } }

  rest_api_id     = aws_api_gateway_rest_api.this[0].id
  resource_id     = aws_api_gateway_resource.stream[each.value.stream].id
  http_method     = aws_api_gateway_method.put[each.value.stream].http_method
  status_code     = each.value.status
  response_models = { "application/json" = "Empty" }
}

resource "aws_api_gateway_integration_response" "put" {
  for_each = { for pair in setproduct(local.api_streams, ["200", "400", "503"]) : "${pair[0]}/${pair[1]}" => { stream = pair[0], status = pair[1] } }

  rest_api_id       = aws_api_gateway_rest_api.this[0].id
  resource_id       = aws_api_gateway_resource.stream[each.value.stream].id
  http_method       = aws_api_gateway_method.put[each.value.stream].http_method
  status_code       = each.value.status
  selection_pattern = { "200" = null, "400" = "4\\d{2}", "503" = "5\\d{2}" }[each.value.status]
  response_templates = {
    "application/json" = each.value.status == "200" ? "{\"sequence_number\":\"$input.path('$.SequenceNumber')\",\"shard\":\"$input.path('$.ShardId')\"}" : "{\"error\":\"$input.path('$.__type')\",\"message\":\"$util.escapeJavaScript($input.path('$.message'))\"}"
  }

  depends_on = [aws_api_gateway_integration.put, aws_api_gateway_method_response.put]
}

resource "aws_api_gateway_deployment" "this" {
  count = var.api_gateway.enabled ? 1 : 0

  rest_api_id = aws_api_gateway_rest_api.this[0].id
  triggers = {
    redeployment = sha1(jsonencode([
      [for s in local.api_streams : aws_api_gateway_resource.stream[s].id],
      [for m in aws_api_gateway_method.put : [m.id, m.authorization, m.api_key_required]],
      [for i in aws_api_gateway_integration.put : [i.id, i.request_templates]],
      [for r in aws_api_gateway_integration_response.put : [r.id, r.response_templates]],
      aws_api_gateway_model.event[0].schema,
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "apigateway" {
  count = local.apigateway_access_logs ? 1 : 0

  name              = "/aws/apigateway/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = local.tags
}

# Stage access logs need the account-level CloudWatch role of API Gateway: one setting per account
# and region, which a stage with access logs cannot be created without ("CloudWatch Logs role ARN
# must be set in account settings to enable logging"). api_gateway.account_logging_role says
# whether it is created here ("create": overwrites the region's setting), already set
# ("existing") or absent ("none": the stage has no access logs).
locals {
  apigateway_access_logs = var.api_gateway.enabled && var.api_gateway.account_logging_role != "none"
  apigateway_set_account = var.api_gateway.enabled && var.api_gateway.account_logging_role == "create"
}

data "aws_iam_policy_document" "apigateway_logs_assume" {
  count = local.apigateway_set_account ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "apigateway_logs" {
  count = local.apigateway_set_account ? 1 : 0

  name               = "${var.name}-apigateway-cloudwatch"
  assume_role_policy = data.aws_iam_policy_document.apigateway_logs_assume[0].json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "apigateway_logs" {
  count = local.apigateway_set_account ? 1 : 0

  role       = aws_iam_role.apigateway_logs[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count = local.apigateway_set_account ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.apigateway_logs[0].arn

  depends_on = [aws_iam_role_policy_attachment.apigateway_logs]
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120: every method is a POST that writes a record: nothing to cache.
  #checkov:skip=CKV2_AWS_51: client certificates authenticate API Gateway to HTTP backends; the integration is the Kinesis API, called with the stage's IAM role.
  #checkov:skip=CKV2_AWS_4: execution logging needs the account-wide API Gateway CloudWatch role (aws_api_gateway_account), which a module must not take over unasked; access logs are on whenever api_gateway.account_logging_role says the role exists or is created here.
  #checkov:skip=CKV2_AWS_29: a WAF web ACL is a per-account choice: pass it as api_gateway.web_acl_arn and it is associated with the stage.
  #checkov:skip=CKV2_AWS_77: the web ACL (and its rule groups, such as the Log4j AMR) belongs to the deployer, who passes it in api_gateway.web_acl_arn.
  count = var.api_gateway.enabled ? 1 : 0

  rest_api_id          = aws_api_gateway_rest_api.this[0].id
  deployment_id        = aws_api_gateway_deployment.this[0].id
  stage_name           = var.api_gateway.stage_name
  xray_tracing_enabled = var.tracing_mode == "Active"

  dynamic "access_log_settings" {
    for_each = local.apigateway_access_logs ? [1] : []
    content {
      destination_arn = aws_cloudwatch_log_group.apigateway[0].arn
      format = jsonencode({
        requestId       = "$context.requestId", ip = "$context.identity.sourceIp", caller = "$context.identity.caller",
        requestTime     = "$context.requestTime", httpMethod = "$context.httpMethod", resourcePath = "$context.resourcePath",
        status          = "$context.status", responseLength = "$context.responseLength", integrationError = "$context.integration.error",
        validationError = "$context.error.validationErrorString"
      })
    }
  }

  tags = local.tags

  depends_on = [aws_api_gateway_account.this]
}

resource "aws_api_gateway_method_settings" "this" {
  #checkov:skip=CKV_AWS_225: every method is a POST that writes a record: nothing to cache.
  count = var.api_gateway.enabled ? 1 : 0

  rest_api_id = aws_api_gateway_rest_api.this[0].id
  stage_name  = aws_api_gateway_stage.this[0].stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    throttling_rate_limit  = var.api_gateway.rate_limit
    throttling_burst_limit = var.api_gateway.burst_limit
  }
}

resource "aws_wafv2_web_acl_association" "api" {
  count = var.api_gateway.enabled && var.api_gateway.web_acl_arn != null ? 1 : 0

  resource_arn = aws_api_gateway_stage.this[0].arn
  web_acl_arn  = var.api_gateway.web_acl_arn
}

resource "aws_api_gateway_api_key" "this" {
  count = var.api_gateway.enabled && var.api_gateway.authorization == "API_KEY" ? 1 : 0

  name = var.name
  tags = local.tags
}

resource "aws_api_gateway_usage_plan" "this" {
  count = var.api_gateway.enabled && var.api_gateway.authorization == "API_KEY" ? 1 : 0

  name = var.name
  api_stages {
    api_id = aws_api_gateway_rest_api.this[0].id
    stage  = aws_api_gateway_stage.this[0].stage_name
  }
  throttle_settings {
    rate_limit  = var.api_gateway.rate_limit
    burst_limit = var.api_gateway.burst_limit
  }
  tags = local.tags
}

resource "aws_api_gateway_usage_plan_key" "this" {
  count = var.api_gateway.enabled && var.api_gateway.authorization == "API_KEY" ? 1 : 0

  key_id        = aws_api_gateway_api_key.this[0].id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.this[0].id
}
