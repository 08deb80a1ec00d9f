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

variable "force_destroy" {
  description = "Let destroy delete a non-empty lake (sandboxes only)."
  type        = bool
  default     = false
}

variable "warehouse" {
  description = "Where the dedupe-loader loads (see the module's variable)."
  type        = any
  default     = { kind = "postgres" }
}

variable "postgres_secret_arn" {
  description = "Secrets Manager secret with the PostgreSQL credentials (username, password, host, port, dbname) when warehouse.kind = postgres: the way to pass them (see the module's variable)."
  type        = string
  default     = null
}

variable "postgres_secret_kms_key_arn" {
  description = "The customer-managed KMS key of postgres_secret_arn, if it has one."
  type        = string
  default     = null
}

variable "postgres_url" {
  description = "postgres://user:password@host:5432/db when warehouse.kind = postgres and no secret is used (the password then sits in the state and the function's environment)."
  type        = string
  default     = null
  sensitive   = true
}

variable "postgres_ca_file" {
  description = "Path of the CA bundle in the loader's filesystem that verifies the server (RDS: its global bundle); null: the platform's roots."
  type        = string
  default     = null
}

variable "loader_vpc_config" {
  description = "Subnets and security groups of the dedupe-loader, for a database reachable only inside its VPC (RDS). The subnets need routes to S3, SQS and Secrets Manager (VPC endpoints or NAT)."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null
}

variable "lambda_concurrency_quota" {
  description = "The region's Lambda concurrent executions quota (L-B99A9384): the plan fails if the mappings can claim more. Null skips the check."
  type        = number
  default     = null
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
