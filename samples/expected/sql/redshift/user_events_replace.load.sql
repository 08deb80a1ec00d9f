-- 1. lock
LOCK "loglift"."loglift_load_ledger";

-- 2. lock
LOCK "tracking"."events";

-- 3. create_temp
CREATE TEMP TABLE "loglift_stage" (
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
    "event_id" VARCHAR(256),
    "event_time" TIMESTAMP,
    "source_object" VARCHAR(4096),
    "spec_version" BIGINT,
    "ingested_at" TIMESTAMP
);

-- 6. register_objects
INSERT INTO "loglift_objects" ("ord", "source_object", "object_key", "object_version", "row_count") VALUES
    (0, 's3://lake/raw/pipeline=user_events/dt=2020-06-01/hour=00/0a1b.ndjson.gz#v-0a1b', 'curated/pipeline=user_events/dt=2020-06-01/hour=00/0a1b-00000.parquet', 'etag0a1b0', 10),
    (0, 's3://lake/raw/pipeline=user_events/dt=2020-06-01/hour=00/0a1b.ndjson.gz#v-0a1b', 'curated/pipeline=user_events/dt=2020-06-01/hour=01/0a1b-00001.parquet', 'etag0a1b1', 10),
    (1, 's3://lake/raw/pipeline=user_events/dt=2020-06-01/hour=00/2c3d.ndjson.gz#v-2c3d', 'curated/pipeline=user_events/dt=2020-06-01/hour=00/2c3d-00000.parquet', 'etag2c3d0', 10);

-- 7. create_temp
CREATE TEMP TABLE "loglift_copied" (
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
INSERT INTO "loglift_stage" ("request_id", "request_timestamp", "cookie_id", "topic", "message", "environment", "website_id", "user_account_id", "location", "user_agent", "referrer", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "request_id", "request_timestamp", "cookie_id", "topic", "message", "environment", "website_id", "user_account_id", "location", "user_agent", "referrer", JSON_PARSE("extra"), "event_id", "event_time", "source_object", "spec_version", "ingested_at" FROM "loglift_copied";

-- 10. skip_loaded_objects (objects_skipped)
DELETE FROM "loglift_objects" USING "loglift"."loglift_load_ledger" AS l WHERE "loglift_objects"."object_key" = l."object_key" AND "loglift_objects"."object_version" = l."object_version";

-- 11. tag_rows (rows_staged)
UPDATE "loglift_stage" SET "loglift_ord" = o."ord" FROM (SELECT DISTINCT "ord", "source_object" FROM "loglift_objects") AS o WHERE "loglift_stage"."source_object" = o."source_object";

-- 12. drop_loaded_rows
DELETE FROM "loglift_stage" WHERE "loglift_ord" IS NULL;

-- 13. dedupe
INSERT INTO "loglift_dedup" ("request_id", "request_timestamp", "cookie_id", "topic", "message", "environment", "website_id", "user_account_id", "location", "user_agent", "referrer", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "request_id", "request_timestamp", "cookie_id", "topic", "message", "environment", "website_id", "user_account_id", "location", "user_agent", "referrer", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at"
FROM (SELECT "request_id", "request_timestamp", "cookie_id", "topic", "message", "environment", "website_id", "user_account_id", "location", "user_agent", "referrer", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", ROW_NUMBER() OVER (PARTITION BY "event_id" ORDER BY "event_time" DESC NULLS LAST, "ingested_at" DESC, "loglift_ord" DESC NULLS LAST) AS "loglift_rn" FROM "loglift_stage") AS ranked
WHERE "loglift_rn" = 1;

-- 14. drop_stale
DELETE FROM "loglift_dedup" USING "tracking"."events" AS t WHERE "loglift_dedup"."event_id" = t."event_id" AND NOT (("loglift_dedup"."event_time" > t."event_time" OR ("loglift_dedup"."event_time" = t."event_time" AND "loglift_dedup"."ingested_at" >= t."ingested_at")));

-- 15. replace (replaced)
UPDATE "tracking"."events" SET "request_id" = d."request_id", "request_timestamp" = d."request_timestamp", "cookie_id" = d."cookie_id", "topic" = d."topic", "message" = d."message", "environment" = d."environment", "website_id" = d."website_id", "user_account_id" = d."user_account_id", "location" = d."location", "user_agent" = d."user_agent", "referrer" = d."referrer", "extra" = d."extra", "event_time" = d."event_time", "source_object" = d."source_object", "spec_version" = d."spec_version", "ingested_at" = d."ingested_at"
FROM "loglift_dedup" AS d
WHERE "tracking"."events"."event_id" = d."event_id";

-- 16. drop_existing
DELETE FROM "loglift_dedup" USING "tracking"."events" AS t WHERE "loglift_dedup"."event_id" = t."event_id";

-- 17. insert (inserted)
INSERT INTO "tracking"."events" ("request_id", "request_timestamp", "cookie_id", "topic", "message", "environment", "website_id", "user_account_id", "location", "user_agent", "referrer", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "request_id", "request_timestamp", "cookie_id", "topic", "message", "environment", "website_id", "user_account_id", "location", "user_agent", "referrer", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at" FROM "loglift_dedup";

-- 18. ledger
INSERT INTO "loglift"."loglift_load_ledger" ("target_table", "object_key", "object_version", "source_object", "pipeline", "row_count", "loaded_at")
SELECT 'tracking.events', "object_key", "object_version", "source_object", 'user_events', "row_count", '2026-11-21 10:00:00.000000'::timestamp FROM "loglift_objects";

-- 19. cleanup
DROP TABLE "loglift_stage", "loglift_objects", "loglift_dedup", "loglift_copied";
