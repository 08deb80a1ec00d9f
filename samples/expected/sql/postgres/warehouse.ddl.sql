-- loglift warehouse DDL (postgres), spec version 1

-- the load ledger
CREATE SCHEMA IF NOT EXISTS "loglift";

CREATE TABLE IF NOT EXISTS "loglift"."loglift_load_ledger" (
    "target_table" TEXT NOT NULL,
    "object_key" TEXT NOT NULL,
    "object_version" TEXT NOT NULL,
    "source_object" TEXT NOT NULL,
    "pipeline" TEXT NOT NULL,
    "row_count" BIGINT NOT NULL,
    "loaded_at" TIMESTAMP NOT NULL,
    UNIQUE ("object_key", "object_version")
);

CREATE INDEX IF NOT EXISTS "loglift_load_ledger_loaded_at" ON "loglift"."loglift_load_ledger" ("loaded_at");

-- pipeline user_events
CREATE SCHEMA IF NOT EXISTS "tracking";

CREATE TABLE IF NOT EXISTS "tracking"."events" (
    "request_id" TEXT,
    "request_timestamp" TIMESTAMP,
    "cookie_id" TEXT,
    "topic" TEXT,
    "message" TEXT,
    "environment" TEXT,
    "website_id" TEXT,
    "user_account_id" TEXT,
    "location" TEXT,
    "user_agent" TEXT,
    "referrer" TEXT,
    "extra" JSONB,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TIMESTAMP,
    "source_object" TEXT NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
);

-- pipeline user_utm
CREATE SCHEMA IF NOT EXISTS "tracking";

CREATE TABLE IF NOT EXISTS "tracking"."utm" (
    "request_id" TEXT,
    "source" TEXT,
    "medium" TEXT,
    "campaign" TEXT,
    "content" TEXT,
    "term" TEXT,
    "matchtype" TEXT,
    "network" TEXT,
    "ad_id" TEXT,
    "ad_pos" TEXT,
    "placement" TEXT,
    "placement_category" TEXT,
    "testgroup" TEXT,
    "device" TEXT,
    "extra" JSONB,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TIMESTAMP,
    "source_object" TEXT NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
);

-- pipeline app_logs
CREATE SCHEMA IF NOT EXISTS "logs";

CREATE TABLE IF NOT EXISTS "logs"."events" (
    "id" TEXT,
    "name" TEXT,
    "time" TIMESTAMP,
    "visitor_id" TEXT,
    "visit_id" TEXT,
    "user_id" TEXT,
    "properties" JSONB,
    "extra" JSONB,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TIMESTAMP,
    "source_object" TEXT NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
);

-- pipeline hit_data
CREATE SCHEMA IF NOT EXISTS "analytics";

CREATE TABLE IF NOT EXISTS "analytics"."hits" (
    "hit_time_gmt" TIMESTAMP,
    "date_time" TEXT,
    "user_agent" TEXT,
    "ip" TEXT,
    "event_list" TEXT,
    "geo_city" TEXT,
    "geo_region" TEXT,
    "geo_country" TEXT,
    "pagename" TEXT,
    "page_url" TEXT,
    "product_list" TEXT,
    "referrer" TEXT,
    "extra" JSONB,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TIMESTAMP,
    "source_object" TEXT NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
);

-- pipeline partner_catalog
CREATE SCHEMA IF NOT EXISTS "catalog";

CREATE TABLE IF NOT EXISTS "catalog"."partner_accommodations" (
    "partner_name" TEXT,
    "accommodation_id" TEXT,
    "accommodation_data" JSONB,
    "extra" JSONB,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TIMESTAMP,
    "source_object" TEXT NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
);

-- pipeline lambda_logs
CREATE SCHEMA IF NOT EXISTS "logs";

CREATE TABLE IF NOT EXISTS "logs"."lambda" (
    "logged_at" TIMESTAMP,
    "record_type" TEXT,
    "request_id" TEXT,
    "level" TEXT,
    "duration_ms" DOUBLE PRECISION,
    "billed_duration_ms" BIGINT,
    "memory_size_mb" BIGINT,
    "max_memory_used_mb" BIGINT,
    "init_duration_ms" DOUBLE PRECISION,
    "message" TEXT,
    "extra" JSONB,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TIMESTAMP,
    "source_object" TEXT NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
);

-- pipeline alb_access
CREATE SCHEMA IF NOT EXISTS "logs";

CREATE TABLE IF NOT EXISTS "logs"."alb_access" (
    "time" TIMESTAMP,
    "request_type" TEXT,
    "elb" TEXT,
    "client_ip" TEXT,
    "client_port" BIGINT,
    "target_ip" TEXT,
    "target_port" BIGINT,
    "request_processing_time" DOUBLE PRECISION,
    "target_processing_time" DOUBLE PRECISION,
    "response_processing_time" DOUBLE PRECISION,
    "elb_status_code" BIGINT,
    "target_status_code" BIGINT,
    "received_bytes" BIGINT,
    "sent_bytes" BIGINT,
    "request_method" TEXT,
    "request_url" TEXT,
    "request_protocol" TEXT,
    "user_agent" TEXT,
    "ssl_protocol" TEXT,
    "target_group_arn" TEXT,
    "trace_id" TEXT,
    "domain_name" TEXT,
    "error_reason" TEXT,
    "extra" JSONB,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TIMESTAMP,
    "source_object" TEXT NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
);
