-- 1. lock
LOCK "tracking"."utm";

-- 2. create_temp
CREATE TEMP TABLE "loglift_stage" (
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
    "event_id" VARCHAR(256),
    "event_time" TIMESTAMP,
    "source_object" VARCHAR(4096),
    "spec_version" BIGINT,
    "ingested_at" TIMESTAMP,
    "loglift_ord" INTEGER
);

-- 3. create_temp
CREATE TEMP TABLE "loglift_objects" ("ord" INTEGER, "source_object" VARCHAR(4096), "object_key" VARCHAR(1024), "object_version" VARCHAR(1024), "row_count" BIGINT);

-- 4. create_temp
CREATE TEMP TABLE "loglift_dedup" (
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
    "event_id" VARCHAR(256),
    "event_time" TIMESTAMP,
    "source_object" VARCHAR(4096),
    "spec_version" BIGINT,
    "ingested_at" TIMESTAMP,
    "loglift_matched" BOOLEAN
);

-- 5. register_objects
INSERT INTO "loglift_objects" ("ord", "source_object", "object_key", "object_version", "row_count") VALUES
    (0, 's3://lake/raw/pipeline=user_utm/dt=2020-06-01/hour=00/0a1b.ndjson.gz#v-0a1b', 'curated/pipeline=user_utm/dt=2020-06-01/hour=00/0a1b-00000.ndjson.gz', 'etag0a1b0', 10),
    (0, 's3://lake/raw/pipeline=user_utm/dt=2020-06-01/hour=00/0a1b.ndjson.gz#v-0a1b', 'curated/pipeline=user_utm/dt=2020-06-01/hour=01/0a1b-00001.ndjson.gz', 'etag0a1b1', 10),
    (1, 's3://lake/raw/pipeline=user_utm/dt=2020-06-01/hour=00/2c3d.ndjson.gz#v-2c3d', 'curated/pipeline=user_utm/dt=2020-06-01/hour=00/2c3d-00000.ndjson.gz', 'etag2c3d0', 10);

-- 6. stage (rows_staged)
COPY "loglift_stage" FROM 's3://lake/manifests/loader/batch-0001.json' IAM_ROLE 'arn:aws:iam::123456789012:role/loglift-redshift-copy' MANIFEST FORMAT AS JSON 'auto' GZIP TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF;

-- 7. tag_rows
UPDATE "loglift_stage" SET "loglift_ord" = o."ord" FROM (SELECT DISTINCT "ord", "source_object" FROM "loglift_objects") AS o WHERE "loglift_stage"."source_object" = o."source_object";

-- 8. skip_loaded_objects (objects_skipped)
DELETE FROM "loglift_objects" USING "loglift"."loglift_load_ledger" AS l WHERE "loglift_objects"."object_key" = l."object_key" AND "loglift_objects"."object_version" = l."object_version";

-- 9. drop_loaded_rows (rows_unstaged)
DELETE FROM "loglift_stage" WHERE "loglift_ord" NOT IN (SELECT "ord" FROM "loglift_objects");

-- 10. dedupe
INSERT INTO "loglift_dedup" ("request_id", "source", "medium", "campaign", "content", "term", "matchtype", "network", "ad_id", "ad_pos", "placement", "placement_category", "testgroup", "device", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "request_id", "source", "medium", "campaign", "content", "term", "matchtype", "network", "ad_id", "ad_pos", "placement", "placement_category", "testgroup", "device", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at"
FROM (SELECT "request_id", "source", "medium", "campaign", "content", "term", "matchtype", "network", "ad_id", "ad_pos", "placement", "placement_category", "testgroup", "device", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", ROW_NUMBER() OVER (PARTITION BY "event_id" ORDER BY "ingested_at" DESC, "loglift_ord" DESC NULLS LAST) AS "loglift_rn" FROM "loglift_stage") AS ranked
WHERE "loglift_rn" = 1;

-- 11. drop_stale
DELETE FROM "loglift_dedup" USING "tracking"."utm" AS t WHERE "loglift_dedup"."event_id" = t."event_id" AND NOT ("loglift_dedup"."ingested_at" >= t."ingested_at");

-- 12. mark_existing (replaced)
UPDATE "loglift_dedup" SET "loglift_matched" = TRUE FROM "tracking"."utm" AS t WHERE "loglift_dedup"."event_id" = t."event_id";

-- 13. merge (applied)
MERGE INTO "tracking"."utm"
USING "loglift_dedup" AS s
ON "tracking"."utm"."event_id" = s."event_id"
WHEN MATCHED THEN UPDATE SET "request_id" = s."request_id", "source" = s."source", "medium" = s."medium", "campaign" = s."campaign", "content" = s."content", "term" = s."term", "matchtype" = s."matchtype", "network" = s."network", "ad_id" = s."ad_id", "ad_pos" = s."ad_pos", "placement" = s."placement", "placement_category" = s."placement_category", "testgroup" = s."testgroup", "device" = s."device", "extra" = s."extra", "event_time" = s."event_time", "source_object" = s."source_object", "spec_version" = s."spec_version", "ingested_at" = s."ingested_at"
WHEN NOT MATCHED THEN INSERT ("request_id", "source", "medium", "campaign", "content", "term", "matchtype", "network", "ad_id", "ad_pos", "placement", "placement_category", "testgroup", "device", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at") VALUES (s."request_id", s."source", s."medium", s."campaign", s."content", s."term", s."matchtype", s."network", s."ad_id", s."ad_pos", s."placement", s."placement_category", s."testgroup", s."device", s."extra", s."event_id", s."event_time", s."source_object", s."spec_version", s."ingested_at");

-- 14. ledger
INSERT INTO "loglift"."loglift_load_ledger" ("target_table", "object_key", "object_version", "source_object", "pipeline", "row_count", "loaded_at")
SELECT 'tracking.utm', "object_key", "object_version", "source_object", 'user_utm', "row_count", '2026-11-21 10:00:00.000000'::timestamp FROM "loglift_objects";

-- 15. cleanup
DROP TABLE "loglift_stage", "loglift_objects", "loglift_dedup";
