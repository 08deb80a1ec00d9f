-- 1. lock
LOCK "loglift"."loglift_load_ledger";

-- 2. lock
LOCK "logs"."alb_access";

-- 3. create_temp
CREATE TEMP TABLE "loglift_stage" (
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
    "event_id" VARCHAR(256),
    "event_time" TIMESTAMP,
    "source_object" VARCHAR(4096),
    "spec_version" BIGINT,
    "ingested_at" TIMESTAMP,
    "loglift_ord" INTEGER
);

-- 4. create_temp
CREATE TEMP TABLE "loglift_objects" ("ord" INTEGER, "source_object" VARCHAR(4096), "object_key" VARCHAR(1024), "object_version" VARCHAR(1024), "row_count" BIGINT);

-- 5. create_temp
CREATE TEMP TABLE "loglift_dedup" (
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
    "event_id" VARCHAR(256),
    "event_time" TIMESTAMP,
    "source_object" VARCHAR(4096),
    "spec_version" BIGINT,
    "ingested_at" TIMESTAMP
);

-- 6. register_objects
INSERT INTO "loglift_objects" ("ord", "source_object", "object_key", "object_version", "row_count") VALUES
    (0, 's3://lake/raw/pipeline=alb_access/dt=2020-06-01/hour=00/0a1b.ndjson.gz#v-0a1b', 'curated/pipeline=alb_access/dt=2020-06-01/hour=00/0a1b-00000.parquet', 'etag0a1b0', 10),
    (0, 's3://lake/raw/pipeline=alb_access/dt=2020-06-01/hour=00/0a1b.ndjson.gz#v-0a1b', 'curated/pipeline=alb_access/dt=2020-06-01/hour=01/0a1b-00001.parquet', 'etag0a1b1', 10),
    (1, 's3://lake/raw/pipeline=alb_access/dt=2020-06-01/hour=00/2c3d.ndjson.gz#v-2c3d', 'curated/pipeline=alb_access/dt=2020-06-01/hour=00/2c3d-00000.parquet', 'etag2c3d0', 10);

-- 7. create_temp
CREATE TEMP TABLE "loglift_copied" (
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
    "extra" VARCHAR(65535),
    "event_id" VARCHAR(256),
    "event_time" TIMESTAMP,
    "source_object" VARCHAR(4096),
    "spec_version" BIGINT,
    "ingested_at" TIMESTAMP
);

-- 8. stage
COPY "loglift_copied" FROM 's3://lake/manifests/loader/batch-0001.json' IAM_ROLE 'arn:aws:iam::123456789012:role/loglift-redshift-copy' MANIFEST FORMAT AS PARQUET STATUPDATE OFF;

-- 9. stage
INSERT INTO "loglift_stage" ("time", "request_type", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time", "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request_method", "request_url", "request_protocol", "user_agent", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "error_reason", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "time", "request_type", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time", "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request_method", "request_url", "request_protocol", "user_agent", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "error_reason", JSON_PARSE("extra"), "event_id", "event_time", "source_object", "spec_version", "ingested_at" FROM "loglift_copied";

-- 10. skip_loaded_objects (objects_skipped)
DELETE FROM "loglift_objects" USING "loglift"."loglift_load_ledger" AS l WHERE "loglift_objects"."object_key" = l."object_key" AND "loglift_objects"."object_version" = l."object_version";

-- 11. tag_rows (rows_staged)
UPDATE "loglift_stage" SET "loglift_ord" = o."ord" FROM (SELECT DISTINCT "ord", "source_object" FROM "loglift_objects") AS o WHERE "loglift_stage"."source_object" = o."source_object";

-- 12. drop_loaded_rows
DELETE FROM "loglift_stage" WHERE "loglift_ord" IS NULL;

-- 13. dedupe
INSERT INTO "loglift_dedup" ("time", "request_type", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time", "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request_method", "request_url", "request_protocol", "user_agent", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "error_reason", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "time", "request_type", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time", "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request_method", "request_url", "request_protocol", "user_agent", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "error_reason", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at"
FROM (SELECT "time", "request_type", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time", "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request_method", "request_url", "request_protocol", "user_agent", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "error_reason", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", ROW_NUMBER() OVER (PARTITION BY "event_id" ORDER BY "ingested_at" ASC, "loglift_ord" ASC NULLS LAST) AS "loglift_rn" FROM "loglift_stage") AS ranked
WHERE "loglift_rn" = 1;

-- 14. drop_existing
DELETE FROM "loglift_dedup" USING "logs"."alb_access" AS t WHERE "loglift_dedup"."event_id" = t."event_id";

-- 15. insert (inserted)
INSERT INTO "logs"."alb_access" ("time", "request_type", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time", "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request_method", "request_url", "request_protocol", "user_agent", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "error_reason", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "time", "request_type", "elb", "client_ip", "client_port", "target_ip", "target_port", "request_processing_time", "target_processing_time", "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes", "request_method", "request_url", "request_protocol", "user_agent", "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "error_reason", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at" FROM "loglift_dedup";

-- 16. ledger
INSERT INTO "loglift"."loglift_load_ledger" ("target_table", "object_key", "object_version", "source_object", "pipeline", "row_count", "loaded_at")
SELECT 'logs.alb_access', "object_key", "object_version", "source_object", 'alb_access', "row_count", '2026-11-21 10:00:00.000000'::timestamp FROM "loglift_objects";

-- 17. cleanup
DROP TABLE "loglift_stage", "loglift_objects", "loglift_dedup", "loglift_copied";
