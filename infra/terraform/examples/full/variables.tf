variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "loglift"
}

variable "spec_file" {
  description = "The pipeline spec. Null: the repository's spec/pipelines.yaml."
  type        = string
  default     = null
}

variable "artifacts_dir" {
  description = "Output of scripts/package. Null: the repository's dist/lambda."
  type        = string
  default     = null
}

variable "log_group_names" {
  description = "Existing CloudWatch log groups to subscribe (each must match a spec log_group glob), e.g. [\"prod_/srv/idp/shared/log/events.log\"]."
  type        = list(string)
  default     = []
}

variable "opensearch_domain_arn" {
  description = "An existing OpenSearch domain for the logs' second delivery stream; null leaves it off."
  type        = string
  default     = null
}

variable "redshift_subnet_ids" {
  description = "Subnets of the Redshift Serverless workgroup (at least three AZs); null: the default VPC's."
  type        = list(string)
  default     = null
}

variable "redshift_security_group_ids" {
  description = "Security groups of the workgroup; null: the VPC's default."
  type        = list(string)
  default     = null
}

variable "api_gateway_account_logging_role" {
  description = "The stage's access logs need API Gateway's CloudWatch role, ONE setting per account and region (`aws apigateway get-account`). \"create\" (default, so a first deploy works in a region without one): create <name>-apigateway-cloudwatch and set it, which OVERWRITES a role already set there and stays set after destroy; \"existing\": the region already has one (another deployment set it), access logs on; \"none\": no access logs."
  type        = string
  default     = "create"
}

variable "lambda_concurrency_quota" {
  description = "The region's Lambda concurrent executions quota (L-B99A9384; new accounts may have 10): the plan fails if the mappings can claim more. Null skips the check."
  type        = number
  default     = null
}

variable "redrive_schedule_enabled" {
  description = "Run the DLQ redrive every hour."
  type        = bool
  default     = false
}

variable "alarm_emails" {
  description = "Email addresses for the alarms."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
