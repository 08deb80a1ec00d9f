-- 1. lock
LOCK TABLE "tracking"."events" IN SHARE ROW EXCLUSIVE MODE;

-- 2. skip_loaded_objects (objects_skipped)
SELECT l."object_key", l."object_version" FROM "loglift"."loglift_load_ledger" AS l JOIN unnest($1::text[], $2::text[]) AS o("k", "v") ON l."object_key" = o."k" AND l."object_version" = o."v";

-- 3. create_temp
CREATE TEMP TABLE "loglift_stage" (
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
    "event_id" TEXT,
    "event_time" TIMESTAMP,
    "source_object" TEXT,
    "spec_version" BIGINT,
    "ingested_at" TIMESTAMP,
    "loglift_ord" BIGINT NOT NULL
) ON COMMIT DROP;

-- 4. stage (rows_staged)
COPY "loglift_stage" ("request_id", "request_timestamp", "cookie_id", "topic", "message", "environment", "website_id", "user_account_id", "location", "user_agent", "referrer", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", "loglift_ord") FROM STDIN;

-- 5. insert (inserted)
INSERT INTO "tracking"."events" ("request_id", "request_timestamp", "cookie_id", "topic", "message", "environment", "website_id", "user_account_id", "location", "user_agent", "referrer", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "request_id", "request_timestamp", "cookie_id", "topic", "message", "environment", "website_id", "user_account_id", "location", "user_agent", "referrer", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at" FROM "loglift_stage" ORDER BY "ingested_at", "loglift_ord"
ON CONFLICT ("event_id") DO NOTHING;

-- 6. ledger
INSERT INTO "loglift"."loglift_load_ledger" ("target_table", "object_key", "object_version", "source_object", "pipeline", "row_count", "loaded_at")
SELECT 'tracking.events', o."k", o."v", o."s", 'user_events', o."n", '2026-11-21 10:00:00.000000'::timestamp FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS o("k", "v", "s", "n");
