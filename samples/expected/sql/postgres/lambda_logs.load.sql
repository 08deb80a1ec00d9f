-- 1. lock
LOCK TABLE "logs"."lambda" IN SHARE ROW EXCLUSIVE MODE;

-- 2. skip_loaded_objects (objects_skipped)
SELECT l."object_key", l."object_version" FROM "loglift"."loglift_load_ledger" AS l JOIN unnest($1::text[], $2::text[]) AS o("k", "v") ON l."object_key" = o."k" AND l."object_version" = o."v";

-- 3. create_temp
CREATE TEMP TABLE "loglift_stage" (
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
    "event_id" TEXT,
    "event_time" TIMESTAMP,
    "source_object" TEXT,
    "spec_version" BIGINT,
    "ingested_at" TIMESTAMP,
    "loglift_ord" BIGINT NOT NULL
) ON COMMIT DROP;

-- 4. stage (rows_staged)
COPY "loglift_stage" ("logged_at", "record_type", "request_id", "level", "duration_ms", "billed_duration_ms", "memory_size_mb", "max_memory_used_mb", "init_duration_ms", "message", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", "loglift_ord") FROM STDIN;

-- 5. insert (inserted)
INSERT INTO "logs"."lambda" ("logged_at", "record_type", "request_id", "level", "duration_ms", "billed_duration_ms", "memory_size_mb", "max_memory_used_mb", "init_duration_ms", "message", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "logged_at", "record_type", "request_id", "level", "duration_ms", "billed_duration_ms", "memory_size_mb", "max_memory_used_mb", "init_duration_ms", "message", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at" FROM "loglift_stage" ORDER BY "ingested_at", "loglift_ord"
ON CONFLICT ("event_id") DO NOTHING;

-- 6. ledger
INSERT INTO "loglift"."loglift_load_ledger" ("target_table", "object_key", "object_version", "source_object", "pipeline", "row_count", "loaded_at")
SELECT 'logs.lambda', o."k", o."v", o."s", 'lambda_logs', o."n", '2026-11-21 10:00:00.000000'::timestamp FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS o("k", "v", "s", "n");
