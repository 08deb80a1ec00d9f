-- 1. lock
LOCK "loglift"."loglift_load_ledger";

-- 2. lock
LOCK "catalog"."partner_accommodations";

-- 3. create_temp
CREATE TEMP TABLE "loglift_stage" (
    "partner_name" VARCHAR(255),
    "accommodation_id" VARCHAR(255),
    "accommodation_data" SUPER,
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
    "partner_name" VARCHAR(255),
    "accommodation_id" VARCHAR(255),
    "accommodation_data" SUPER,
    "extra" SUPER,
    "event_id" VARCHAR(256),
    "event_time" TIMESTAMP,
    "source_object" VARCHAR(4096),
    "spec_version" BIGINT,
    "ingested_at" TIMESTAMP
);

-- 6. register_objects
INSERT INTO "loglift_objects" ("ord", "source_object", "object_key", "object_version", "row_count") VALUES
    (0, 's3://lake/raw/pipeline=partner_catalog/dt=2020-06-01/hour=00/0a1b.ndjson.gz#v-0a1b', 'curated/pipeline=partner_catalog/dt=2020-06-01/hour=00/0a1b-00000.parquet', 'etag0a1b0', 10),
    (0, 's3://lake/raw/pipeline=partner_catalog/dt=2020-06-01/hour=00/0a1b.ndjson.gz#v-0a1b', 'curated/pipeline=partner_catalog/dt=2020-06-01/hour=01/0a1b-00001.parquet', 'etag0a1b1', 10),
    (1, 's3://lake/raw/pipeline=partner_catalog/dt=2020-06-01/hour=00/2c3d.ndjson.gz#v-2c3d', 'curated/pipeline=partner_catalog/dt=2020-06-01/hour=00/2c3d-00000.parquet', 'etag2c3d0', 10);

-- 7. create_temp
CREATE TEMP TABLE "loglift_copied" (
    "partner_name" VARCHAR(255),
    "accommodation_id" VARCHAR(255),
    "accommodation_data" VARCHAR(65535),
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
INSERT INTO "loglift_stage" ("partner_name", "accommodation_id", "accommodation_data", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "partner_name", "accommodation_id", JSON_PARSE("accommodation_data"), JSON_PARSE("extra"), "event_id", "event_time", "source_object", "spec_version", "ingested_at" FROM "loglift_copied";

-- 10. skip_loaded_objects (objects_skipped)
DELETE FROM "loglift_objects" USING "loglift"."loglift_load_ledger" AS l WHERE "loglift_objects"."object_key" = l."object_key" AND "loglift_objects"."object_version" = l."object_version";

-- 11. tag_rows (rows_staged)
UPDATE "loglift_stage" SET "loglift_ord" = o."ord" FROM (SELECT DISTINCT "ord", "source_object" FROM "loglift_objects") AS o WHERE "loglift_stage"."source_object" = o."source_object";

-- 12. drop_loaded_rows
DELETE FROM "loglift_stage" WHERE "loglift_ord" IS NULL;

-- 13. dedupe
INSERT INTO "loglift_dedup" ("partner_name", "accommodation_id", "accommodation_data", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "partner_name", "accommodation_id", "accommodation_data", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at"
FROM (SELECT "partner_name", "accommodation_id", "accommodation_data", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at", ROW_NUMBER() OVER (PARTITION BY "event_id" ORDER BY "ingested_at" DESC, "loglift_ord" DESC NULLS LAST) AS "loglift_rn" FROM "loglift_stage") AS ranked
WHERE "loglift_rn" = 1;

-- 14. drop_stale
DELETE FROM "loglift_dedup" USING "catalog"."partner_accommodations" AS t WHERE "loglift_dedup"."event_id" = t."event_id" AND NOT ("loglift_dedup"."ingested_at" >= t."ingested_at");

-- 15. replace (replaced)
UPDATE "catalog"."partner_accommodations" SET "partner_name" = d."partner_name", "accommodation_id" = d."accommodation_id", "accommodation_data" = d."accommodation_data", "extra" = d."extra", "event_time" = d."event_time", "source_object" = d."source_object", "spec_version" = d."spec_version", "ingested_at" = d."ingested_at"
FROM "loglift_dedup" AS d
WHERE "catalog"."partner_accommodations"."event_id" = d."event_id";

-- 16. drop_existing
DELETE FROM "loglift_dedup" USING "catalog"."partner_accommodations" AS t WHERE "loglift_dedup"."event_id" = t."event_id";

-- 17. insert (inserted)
INSERT INTO "catalog"."partner_accommodations" ("partner_name", "accommodation_id", "accommodation_data", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at")
SELECT "partner_name", "accommodation_id", "accommodation_data", "extra", "event_id", "event_time", "source_object", "spec_version", "ingested_at" FROM "loglift_dedup";

-- 18. ledger
INSERT INTO "loglift"."loglift_load_ledger" ("target_table", "object_key", "object_version", "source_object", "pipeline", "row_count", "loaded_at")
SELECT 'catalog.partner_accommodations', "object_key", "object_version", "source_object", 'partner_catalog', "row_count", '2026-11-21 10:00:00.000000'::timestamp FROM "loglift_objects";

-- 19. cleanup
DROP TABLE "loglift_stage", "loglift_objects", "loglift_dedup", "loglift_copied";
