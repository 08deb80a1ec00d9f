-- 1. lock
LOCK TABLE "logs"."alb_access" IN SHARE ROW EXCLUSIVE MODE;

-- 2. skip_loaded_objects (objects_skipped)
SELECT l."object_key", l."object_version" FROM "loglift"."loglift_load_ledger" AS l JOIN unnest($1::text[], $2::text[]) AS o("k", "v") ON l."object_key" = o."k" AND l."object_version" = o."v";

-- 3. create_temp
CREATE TEMP TABLE "loglift_stage" (
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
    "event_id" TEXT,
    "event_time" TIMESTAMP,
    "source_object" TEXT,
    "spec_version" BIGINT,
    "ingested_at" TIMESTAMP,
    "loglift_ord" BIGINT NOT NULL
) ON COMMIT DROP;

-- 4. stage (rows_staged)
COPY "loglift_stage" ("time", "request_type", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time", "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request_method", "request_url", "request_protocol", "user_agent", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "error_reason", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", "loglift_ord") FROM STDIN;

-- 5. insert (inserted)
INSERT INTO "logs"."alb_access" ("time", "request_type", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time", "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request_method", "request_url", "request_protocol", "user_agent", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "error_reason", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "time", "request_type", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time", "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request_method", "request_url", "request_protocol", "user_agent", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "error_reason", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at" FROM "loglift_stage" ORDER BY "ingested_at", "loglift_ord"
ON CONFLICT ("event_id") DO NOTHING;

-- 6. ledger
INSERT INTO "loglift"."loglift_load_ledger" ("target_table", "object_key", "object_version", "source_object", "pipeline", "row_count", "loaded_at")
SELECT 'logs.alb_access', o."k", o."v", o."s", 'alb_access', o."n", '2026-11-21 10:00:00.000000'::timestamp FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS o("k", "v", "s", "n");
