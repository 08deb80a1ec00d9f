CREATE SCHEMA IF NOT EXISTS "logs";

CREATE TABLE IF NOT EXISTS "logs"."alb_access" (
    "time" TIMESTAMP,
    "request_type" VARCHAR(8),
    "elb" VARCHAR(255),
    "client_ip" VARCHAR(45),
    "client_port" BIGINT,
    "target_ip" VARCHAR(45),
    "target_port" BIGINT,
    "request_processing_time" DOUBLE PRECISION,
    "target_processing_time" DOUBLE PRECISION,
    "response_processing_time" DOUBLE PRECISION,
    "elb_status_code" BIGINT,
    "target_status_code" BIGINT,
    "received_bytes" BIGINT,
    "sent_bytes" BIGINT,
    "request_method" VARCHAR(16),
    "request_url" VARCHAR(8192),
    "request_protocol" VARCHAR(16),
    "user_agent" VARCHAR(1024),
    "ssl_protocol" VARCHAR(32),
    "target_group_arn" VARCHAR(255),
    "trace_id" VARCHAR(128),
    "domain_name" VARCHAR(255),
    "error_reason" VARCHAR(64),
    "extra" SUPER,
    "event_id" VARCHAR(256) NOT NULL,
    "event_time" TIMESTAMP,
    "source_object" VARCHAR(4096) NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
)
DISTSTYLE AUTO
SORTKEY ("event_time")
ENCODE AUTO;
