-- 1. lock
LOCK TABLE "tracking"."utm" IN SHARE ROW EXCLUSIVE MODE;

-- 2. skip_loaded_objects (objects_skipped)
SELECT l."object_key", l."object_version" FROM "loglift"."loglift_load_ledger" AS l JOIN unnest($1::text[], $2::text[]) AS o("k", "v") ON l."object_key" = o."k" AND l."object_version" = o."v";

-- 3. create_temp
CREATE TEMP TABLE "loglift_stage" (
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
    "event_id" TEXT,
    "event_time" TIMESTAMP,
    "source_object" TEXT,
    "spec_version" BIGINT,
    "ingested_at" TIMESTAMP,
    "loglift_ord" BIGINT NOT NULL
) ON COMMIT DROP;

-- 4. stage (rows_staged)
COPY "loglift_stage" ("request_id", "source", "medium", "campaign", "content", "term", "matchtype", "network", "ad_id", "ad_pos", "placement", "placement_category", "testgroup", "device", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", "loglift_ord") FROM STDIN;

-- 5. dedupe
CREATE TEMP TABLE "loglift_dedup" ON COMMIT DROP AS
SELECT DISTINCT ON ("event_id") "request_id", "source", "medium", "campaign", "content", "term", "matchtype", "network", "ad_id", "ad_pos", "placement", "placement_category", "testgroup", "device", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at" FROM "loglift_stage" ORDER BY "event_id", "ingested_at" DESC, "loglift_ord" DESC NULLS LAST;

-- 6. replace (replaced)
UPDATE "tracking"."utm" AS t SET "request_id" = d."request_id", "source" = d."source", "medium" = d."medium", "campaign" = d."campaign", "content" = d."content", "term" = d."term", "matchtype" = d."matchtype", "network" = d."network", "ad_id" = d."ad_id", "ad_pos" = d."ad_pos", "placement" = d."placement", "placement_category" = d."placement_category", "testgroup" = d."testgroup", "device" = d."device", "extra" = d."extra", "event_time" = d."event_time", "source_object" = d."source_object", "spec_version" = d."spec_version", "ingested_at" = d."ingested_at"
FROM "loglift_dedup" AS d
WHERE t."event_id" = d."event_id" AND d."ingested_at" >= t."ingested_at";

-- 7. insert (inserted)
INSERT INTO "tracking"."utm" ("request_id", "source", "medium", "campaign", "content", "term", "matchtype", "network", "ad_id", "ad_pos", "placement", "placement_category", "testgroup", "device", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "request_id", "source", "medium", "campaign", "content", "term", "matchtype", "network", "ad_id", "ad_pos", "placement", "placement_category", "testgroup", "device", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at" FROM "loglift_dedup"
ON CONFLICT ("event_id") DO NOTHING;

-- 8. ledger
INSERT INTO "loglift"."loglift_load_ledger" ("target_table", "object_key", "object_version", "source_object", "pipeline", "row_count", "loaded_at")
SELECT 'tracking.utm', o."k", o."v", o."s", 'user_utm', o."n", '2026-11-21 10:00:00.000000'::timestamp FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS o("k", "v", "s", "n");
