################################################################################
# Monitoring: alarms (DLQ depth, Kinesis iterator age, function errors and throttles, Firehose
# freshness, audit imbalance) into one SNS topic; a dashboard.
################################################################################

locals {
  monitored_dlqs = merge(
    { transform = aws_sqs_queue.transform_dlq.name, loader = aws_sqs_queue.loader_dlq.name },
    local.kinesis_failure_queue ? { kinesis-failures = aws_sqs_queue.kinesis_failures[0].name } : {},
  )
  alarm_actions = var.create_monitoring ? [aws_sns_topic.alarms[0].arn] : []
  # The loglift EMF metrics (crates/loglift-core/src/metrics.rs) carry the function's deployed
  # name (<name>-<role>, Lambda's AWS_LAMBDA_FUNCTION_NAME) as the Function dimension, so two
  # deployments' series and alarms stay apart.
  emf_namespace = "loglift"
}

resource "aws_sns_topic" "alarms" {
  count = var.create_monitoring ? 1 : 0

  name              = "${var.name}-alarms"
  kms_master_key_id = local.kms_key_arn
  tags              = local.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = var.create_monitoring ? toset(var.alarm_emails) : toset([])

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = each.key
}

# Anything in a DLQ or in the Kinesis on-failure queue needs a look (`loglift dlq inspect`).
resource "aws_cloudwatch_metric_alarm" "dlq" {
  for_each = { for k, v in local.monitored_dlqs : k => v if var.create_monitoring }

  alarm_name          = "${var.name}-${each.key}-dlq-not-empty"
  alarm_description   = "Messages wait in ${each.value}: see `loglift dlq inspect`, fix the cause, then `loglift redrive sqs`."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  for_each = { for k, v in local.streams : k => v if var.create_monitoring }

  alarm_name          = "${var.name}-${each.key}-iterator-age"
  alarm_description   = "Stream ${each.key} is read more than ${var.alarm_thresholds.iterator_age_ms} ms behind: its consumer (${each.value.consumer}) fails or is too slow; records expire after ${each.value.retention_hours} h."
  namespace           = "AWS/Kinesis"
  metric_name         = "GetRecords.IteratorAgeMilliseconds"
  dimensions          = { StreamName = aws_kinesis_stream.this[each.key].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_thresholds.iterator_age_ms
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "function" {
  for_each = {
    for pair in setproduct(keys(local.function_names), ["Errors", "Throttles"]) : "${pair[0]}-${lower(pair[1])}" => { function = pair[0], metric = pair[1] }
    if var.create_monitoring
  }

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = "${each.value.metric} of ${local.function_names[each.value.function]}: see its log group /aws/lambda/${local.function_names[each.value.function]}."
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = aws_lambda_function.this[each.value.function].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "firehose_freshness" {
  for_each = { for k, v in aws_kinesis_firehose_delivery_stream.raw : k => v if var.create_monitoring }

  alarm_name          = "${var.name}-${each.key}-firehose-freshness"
  alarm_description   = "The oldest record in ${each.value.name} is older than ${var.alarm_thresholds.firehose_freshness} s: delivery to raw/ is failing (errors/firehose/) or the processor is slow."
  namespace           = "AWS/Firehose"
  metric_name         = "DeliveryToS3.DataFreshness"
  dimensions          = { DeliveryStreamName = each.value.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_thresholds.firehose_freshness
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

# Curated rows transform wrote vs rows the loader read, over a long period: what does not arrive
# sits in the loader queue, its DLQ or failures/ (`loglift audit` accounts for it per hour).
resource "aws_cloudwatch_metric_alarm" "audit_imbalance" {
  count = var.create_monitoring ? 1 : 0

  alarm_name          = "${var.name}-audit-imbalance"
  alarm_description   = "More than ${var.alarm_thresholds.audit_imbalance * 100} % of curated rows were not loaded over ${var.alarm_thresholds.audit_period} s, twice in a row: run `loglift audit` and `loglift status`."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_thresholds.audit_imbalance
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags

  metric_query {
    id          = "imbalance"
    expression  = "IF(curated > 0, (curated - loaded) / curated, 0)"
    label       = "share of curated rows not loaded"
    return_data = true
  }
  metric_query {
    id = "curated"
    metric {
      namespace   = local.emf_namespace
      metric_name = "RecordsOut"
      dimensions  = { Function = local.function_names["transform"] }
      stat        = "Sum"
      period      = var.alarm_thresholds.audit_period
    }
  }
  metric_query {
    id = "loaded"
    metric {
      namespace   = local.emf_namespace
      metric_name = "RecordsIn"
      dimensions  = { Function = local.function_names["dedupe-loader"] }
      stat        = "Sum"
      period      = var.alarm_thresholds.audit_period
    }
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_monitoring ? 1 : 0

  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title = "Events per stage (RecordsIn / RecordsOut / Rejected)", region = local.region, stat = "Sum", period = 300, view = "timeSeries"
          metrics = flatten([for f in ["ingest", "transform", "dedupe-loader"] : [
            [local.emf_namespace, "RecordsIn", "Function", local.function_names[f]],
            [local.emf_namespace, "RecordsOut", "Function", local.function_names[f]],
            [local.emf_namespace, "Rejected", "Function", local.function_names[f]],
          ]])
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title   = "Freshness (now - oldest event time, ms)", region = local.region, stat = "Maximum", period = 300, view = "timeSeries"
          metrics = [for f in ["ingest", "transform", "dedupe-loader"] : [local.emf_namespace, "FreshnessMs", "Function", local.function_names[f]]]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Queue depth", region = local.region, stat = "Maximum", period = 300, view = "timeSeries"
          metrics = [for q in concat([aws_sqs_queue.transform.name, aws_sqs_queue.loader.name], values(local.monitored_dlqs)) : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "Kinesis iterator age (ms)", region = local.region, stat = "Maximum", period = 300, view = "timeSeries"
          metrics = [for s in keys(local.streams) : ["AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "StreamName", local.kinesis_names[s]]]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title = "Function errors and throttles", region = local.region, stat = "Sum", period = 300, view = "timeSeries"
          metrics = flatten([for f, n in local.function_names : [
            ["AWS/Lambda", "Errors", "FunctionName", n],
            ["AWS/Lambda", "Throttles", "FunctionName", n],
          ]])
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title   = "Firehose delivery freshness (s)", region = local.region, stat = "Maximum", period = 300, view = "timeSeries"
          metrics = length(local.firehose_streams) == 0 ? [["AWS/Firehose", "DeliveryToS3.DataFreshness"]] : [for s in keys(local.firehose_streams) : ["AWS/Firehose", "DeliveryToS3.DataFreshness", "DeliveryStreamName", local.firehose_names[s]]]
        }
      },
    ]
  })
}
