-- loglift warehouse DDL (sqlite), spec version 1

-- the load ledger
CREATE TABLE IF NOT EXISTS main."loglift_load_ledger" (
    "target_table" TEXT NOT NULL,
    "object_key" TEXT NOT NULL,
    "object_version" TEXT NOT NULL,
    "source_object" TEXT NOT NULL,
    "pipeline" TEXT NOT NULL,
    "row_count" INTEGER NOT NULL,
    "loaded_at" TEXT NOT NULL,
    UNIQUE ("object_key", "object_version")
) STRICT;

CREATE INDEX IF NOT EXISTS main."loglift_load_ledger_loaded_at" ON "loglift_load_ledger" ("loaded_at");

-- pipeline user_events
CREATE TABLE IF NOT EXISTS main."tracking__events" (
    "request_id" TEXT,
    "request_timestamp" TEXT,
    "cookie_id" TEXT,
    "topic" TEXT,
    "message" TEXT,
    "environment" TEXT,
    "website_id" TEXT,
    "user_account_id" TEXT,
    "location" TEXT,
    "user_agent" TEXT,
    "referrer" TEXT,
    "extra" TEXT,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TEXT,
    "source_object" TEXT NOT NULL,
    "spec_version" INTEGER NOT NULL,
    "ingested_at" TEXT NOT NULL
) STRICT;

-- pipeline user_utm
CREATE TABLE IF NOT EXISTS main."tracking__utm" (
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
    "extra" TEXT,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TEXT,
    "source_object" TEXT NOT NULL,
    "spec_version" INTEGER NOT NULL,
    "ingested_at" TEXT NOT NULL
) STRICT;

-- pipeline app_logs
CREATE TABLE IF NOT EXISTS main."logs__events" (
    "id" TEXT,
    "name" TEXT,
    "time" TEXT,
    "visitor_id" TEXT,
    "visit_id" TEXT,
    "user_id" TEXT,
    "properties" TEXT,
    "extra" TEXT,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TEXT,
    "source_object" TEXT NOT NULL,
    "spec_version" INTEGER NOT NULL,
    "ingested_at" TEXT NOT NULL
) STRICT;

-- pipeline hit_data
CREATE TABLE IF NOT EXISTS main."analytics__hits" (
    "hit_time_gmt" TEXT,
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
    "extra" TEXT,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TEXT,
    "source_object" TEXT NOT NULL,
    "spec_version" INTEGER NOT NULL,
    "ingested_at" TEXT NOT NULL
) STRICT;

-- pipeline partner_catalog
CREATE TABLE IF NOT EXISTS main."catalog__partner_accommodations" (
    "partner_name" TEXT,
    "accommodation_id" TEXT,
    "accommodation_data" TEXT,
    "extra" TEXT,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TEXT,
    "source_object" TEXT NOT NULL,
    "spec_version" INTEGER NOT NULL,
    "ingested_at" TEXT NOT NULL
) STRICT;

-- pipeline lambda_logs
CREATE TABLE IF NOT EXISTS main."logs__lambda" (
    "logged_at" TEXT,
    "record_type" TEXT,
    "request_id" TEXT,
    "level" TEXT,
    "duration_ms" REAL,
    "billed_duration_ms" INTEGER,
    "memory_size_mb" INTEGER,
    "max_memory_used_mb" INTEGER,
    "init_duration_ms" REAL,
    "message" TEXT,
    "extra" TEXT,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TEXT,
    "source_object" TEXT NOT NULL,
    "spec_version" INTEGER NOT NULL,
    "ingested_at" TEXT NOT NULL
) STRICT;

-- pipeline alb_access
CREATE TABLE IF NOT EXISTS main."logs__alb_access" (
    "time" TEXT,
    "request_type" TEXT,
    "elb" TEXT,
    "client_ip" TEXT,
    "client_port" INTEGER,
    "target_ip" TEXT,
    "target_port" INTEGER,
    "request_processing_time" REAL,
    "target_processing_time" REAL,
    "response_processing_time" REAL,
    "elb_status_code" INTEGER,
    "target_status_code" INTEGER,
    "received_bytes" INTEGER,
    "sent_bytes" INTEGER,
    "request_method" TEXT,
    "request_url" TEXT,
    "request_protocol" TEXT,
    "user_agent" TEXT,
    "ssl_protocol" TEXT,
    "target_group_arn" TEXT,
    "trace_id" TEXT,
    "domain_name" TEXT,
    "error_reason" TEXT,
    "extra" TEXT,
    "event_id" TEXT NOT NULL UNIQUE,
    "event_time" TEXT,
    "source_object" TEXT NOT NULL,
    "spec_version" INTEGER NOT NULL,
    "ingested_at" TEXT NOT NULL
) STRICT;
