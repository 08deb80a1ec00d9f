-- loglift warehouse DDL (redshift), spec version 1

-- the load ledger
CREATE SCHEMA IF NOT EXISTS "loglift";

CREATE TABLE IF NOT EXISTS "loglift"."loglift_load_ledger" (
    "target_table" VARCHAR(255) NOT NULL,
    "object_key" VARCHAR(1024) NOT NULL,
    "object_version" VARCHAR(1024) NOT NULL,
    "source_object" VARCHAR(4096) NOT NULL,
    "pipeline" VARCHAR(255) NOT NULL,
    "row_count" BIGINT NOT NULL,
    "loaded_at" TIMESTAMP NOT NULL,
    UNIQUE ("object_key", "object_version")
)
DISTSTYLE AUTO
SORTKEY ("loaded_at")
ENCODE AUTO;

-- pipeline user_events
CREATE SCHEMA IF NOT EXISTS "tracking";

CREATE TABLE IF NOT EXISTS "tracking"."events" (
    "request_id" VARCHAR(36),
    "request_timestamp" TIMESTAMP,
    "cookie_id" VARCHAR(36),
    "topic" VARCHAR(1024),
    "message" VARCHAR(3128),
    "environment" VARCHAR(30),
    "website_id" VARCHAR(36),
    "user_account_id" VARCHAR(36),
    "location" VARCHAR(5000),
    "user_agent" VARCHAR(1024),
    "referrer" VARCHAR(500),
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

-- pipeline user_utm
CREATE SCHEMA IF NOT EXISTS "tracking";

CREATE TABLE IF NOT EXISTS "tracking"."utm" (
    "request_id" VARCHAR(56),
    "source" VARCHAR(255),
    "medium" VARCHAR(255),
    "campaign" VARCHAR(255),
    "content" VARCHAR(255),
    "term" VARCHAR(255),
    "matchtype" VARCHAR(255),
    "network" VARCHAR(255),
    "ad_id" VARCHAR(255),
    "ad_pos" VARCHAR(255),
    "placement" VARCHAR(255),
    "placement_category" VARCHAR(255),
    "testgroup" VARCHAR(255),
    "device" VARCHAR(255),
    "extra" SUPER,
    "event_id" VARCHAR(256) NOT NULL,
    "event_time" TIMESTAMP,
    "source_object" VARCHAR(4096) NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
)
DISTSTYLE AUTO
ENCODE AUTO;

-- pipeline app_logs
CREATE SCHEMA IF NOT EXISTS "logs";

CREATE TABLE IF NOT EXISTS "logs"."events" (
    "id" VARCHAR(64),
    "name" VARCHAR(255),
    "time" TIMESTAMP,
    "visitor_id" VARCHAR(64),
    "visit_id" VARCHAR(64),
    "user_id" VARCHAR(64),
    "properties" SUPER,
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

-- pipeline hit_data
CREATE SCHEMA IF NOT EXISTS "analytics";

CREATE TABLE IF NOT EXISTS "analytics"."hits" (
    "hit_time_gmt" TIMESTAMP,
    "date_time" VARCHAR(32),
    "user_agent" VARCHAR(1024),
    "ip" VARCHAR(45),
    "event_list" VARCHAR(1024),
    "geo_city" VARCHAR(255),
    "geo_region" VARCHAR(255),
    "geo_country" VARCHAR(64),
    "pagename" VARCHAR(1024),
    "page_url" VARCHAR(4096),
    "product_list" VARCHAR(4096),
    "referrer" VARCHAR(4096),
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

-- pipeline partner_catalog
CREATE SCHEMA IF NOT EXISTS "catalog";

CREATE TABLE IF NOT EXISTS "catalog"."partner_accommodations" (
    "partner_name" VARCHAR(255),
    "accommodation_id" VARCHAR(255),
    "accommodation_data" SUPER,
    "extra" SUPER,
    "event_id" VARCHAR(256) NOT NULL,
    "event_time" TIMESTAMP,
    "source_object" VARCHAR(4096) NOT NULL,
    "spec_version" BIGINT NOT NULL,
    "ingested_at" TIMESTAMP NOT NULL
)
DISTSTYLE AUTO
ENCODE AUTO;

-- pipeline lambda_logs
CREATE SCHEMA IF NOT EXISTS "logs";

CREATE TABLE IF NOT EXISTS "logs"."lambda" (
    "logged_at" TIMESTAMP,
    "record_type" VARCHAR(8),
    "request_id" VARCHAR(64),
    "level" VARCHAR(16),
    "duration_ms" DOUBLE PRECISION,
    "billed_duration_ms" BIGINT,
    "memory_size_mb" BIGINT,
    "max_memory_used_mb" BIGINT,
    "init_duration_ms" DOUBLE PRECISION,
    "message" VARCHAR(65535),
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

-- pipeline alb_access
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
