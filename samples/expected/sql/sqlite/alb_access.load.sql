-- 1. lock
BEGIN IMMEDIATE;

-- 2. skip_loaded_objects (objects_skipped)
SELECT 1 FROM main."loglift_load_ledger" WHERE "object_key" = ?1 AND "object_version" = ?2;

-- 3. create_temp
CREATE TEMP TABLE "loglift_stage" (
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
    "event_id" TEXT,
    "event_time" TEXT,
    "source_object" TEXT,
    "spec_version" INTEGER,
    "ingested_at" TEXT,
    "loglift_ord" INTEGER NOT NULL
);

-- 4. stage (rows_staged)
INSERT INTO temp."loglift_stage" ("time", "request_type", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time", "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request_method", "request_url", "request_protocol", "user_agent", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "error_reason", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", "loglift_ord") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30);

-- 5. insert (inserted)
INSERT INTO main."logs__alb_access" ("time", "request_type", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time", "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request_method", "request_url", "request_protocol", "user_agent", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "error_reason", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "time", "request_type", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time", "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request_method", "request_url", "request_protocol", "user_agent", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "error_reason", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at"
FROM (SELECT "time", "request_type", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time", "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request_method", "request_url", "request_protocol", "user_agent", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "error_reason", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", ROW_NUMBER() OVER (PARTITION BY "event_id" ORDER BY "ingested_at", "loglift_ord") AS "loglift_rn" FROM temp."loglift_stage")
WHERE "loglift_rn" = 1
ON CONFLICT ("event_id") DO NOTHING;

-- 6. ledger
INSERT INTO main."loglift_load_ledger" ("target_table", "object_key", "object_version", "source_object", "pipeline", "row_count", "loaded_at") VALUES ('logs.alb_access', ?1, ?2, ?3, 'alb_access', ?4, '2026-11-21 10:00:00.000000');

-- 7. cleanup
DROP TABLE temp."loglift_stage";
