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

variable "postgres_url" {
  description = "postgres://user:password@host:5432/db when warehouse.kind = postgres."
  type        = string
  default     = null
  sensitive   = true
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
