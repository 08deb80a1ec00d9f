//! The Redshift Data API client (`loglift_aws::redshift::DataApi`) end to end through the Data
//! API test server (`loglift_tests::data_api`), executing on the harness PostgreSQL and reading
//! COPY sources from moto S3; and the server's Redshift rules, each refusal with a test: no
//! unique index, `ON CONFLICT` and other PostgreSQL-only syntax, MERGE's source uniqueness,
//! `VARCHAR(n)` in bytes, SUPER and COPY object sizes, transaction-block statements.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use aws_sdk_redshiftdata::types::StatusString;
use loglift_aws::redshift::{
    client_token, DataApi, DataApiConfig, DataApiError, Target, Value, MAX_BATCH_STATEMENTS,
};
use loglift_tests::data_api::{DataApiServer, Fault};
use loglift_tests::MotoEnv;

const POLL_MAX: Duration = Duration::from_millis(50);

struct Env {
    server: DataApiServer,
    api: DataApi,
    moto: MotoEnv,
}

fn config(target: Target) -> DataApiConfig {
    DataApiConfig {
        poll_initial: Duration::from_millis(10),
        poll_max: POLL_MAX,
        ..DataApiConfig::new(target, "dev")
    }
}

fn serverless() -> Target {
    Target::Serverless {
        workgroup: "loglift-test".to_owned(),
    }
}

/// A server in a fresh schema and a client on it; `None` (skipped) without the services.
async fn env() -> Option<Env> {
    let moto = loglift_tests::moto()?;
    let pg = loglift_tests::postgres()?;
    let server = DataApiServer::start_in_new_schema(&pg, moto.s3_client())
        .await
        .unwrap();
    let api = DataApi::new(server.client(), config(serverless()));
    Some(Env { server, api, moto })
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

fn sqls(statements: &[&str]) -> Vec<String> {
    statements.iter().map(|s| (*s).to_owned()).collect()
}

async fn count(server: &DataApiServer, table: &str) -> i64 {
    server
        .pg_scalar(&format!("SELECT count(*) FROM {table}"))
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn batch_runs_in_order_in_one_transaction_and_reports_result_rows() {
    let Some(Env { server, api, .. }) = env().await else {
        return;
    };
    let batch = sqls(&[
        "CREATE TEMP TABLE stage (id BIGINT ENCODE az64, name VARCHAR(16) ENCODE zstd, extra SUPER) DISTSTYLE AUTO SORTKEY(id)",
        "INSERT INTO stage VALUES (1, 'a', NULL), (2, 'b', NULL), (3, 'c', NULL)",
        "DELETE FROM stage WHERE id = 3",
        "SELECT count(*) AS n, max(name) AS last, GETDATE() IS NOT NULL AS dated FROM stage",
    ]);
    let token = client_token("happy", 1);
    let outcome = api.run_batch(&batch, &token, soon()).await.unwrap();
    assert_eq!(outcome.result_rows, vec![-1, 3, 1, 1]);

    let result = api
        .fetch_result(&outcome.sub_statement_id(3), soon())
        .await
        .unwrap();
    assert_eq!(result.columns, ["n", "last", "dated"]);
    assert_eq!(
        result.rows,
        vec![vec![
            Value::Long(2),
            Value::String("b".into()),
            Value::Bool(true)
        ]]
    );

    let sent = server.requests("BatchExecuteStatement");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["WorkgroupName"], "loglift-test");
    assert_eq!(sent[0]["Database"], "dev");
    assert_eq!(sent[0]["ClientToken"], token.as_str());
    assert!(sent[0].get("ClusterIdentifier").is_none());
    assert_eq!(sent[0]["Sqls"].as_array().unwrap().len(), 4);
    // SUBMITTED, STARTED, then the outcome: at least three polls.
    assert!(server.request_count("DescribeStatement") >= 3);
}

#[tokio::test]
async fn cluster_target_sends_cluster_db_user_and_secret() {
    let Some(Env { server, .. }) = env().await else {
        return;
    };
    let mut cfg = config(Target::Cluster {
        cluster_id: "loglift-cluster".into(),
        db_user: Some("loader".into()),
    });
    cfg.secret_arn = Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:rs".into());
    let api = DataApi::new(server.client(), cfg);
    let result = api.query("SELECT 1 AS one", &[], soon()).await.unwrap();
    assert_eq!(result.rows, vec![vec![Value::Long(1)]]);
    let sent = &server.requests("ExecuteStatement")[0];
    assert_eq!(sent["ClusterIdentifier"], "loglift-cluster");
    assert_eq!(sent["DbUser"], "loader");
    assert_eq!(
        sent["SecretArn"],
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:rs"
    );
    assert!(sent.get("WorkgroupName").is_none());
}

#[tokio::test]
async fn a_failing_statement_rolls_the_batch_back_as_poison() {
    let Some(Env { server, api, .. }) = env().await else {
        return;
    };
    server
        .pg_execute("CREATE TABLE events (id BIGINT)")
        .await
        .unwrap();
    let batch = sqls(&[
        "INSERT INTO events VALUES (1), (2)",
        "INSERT INTO no_such_table VALUES (1)",
        "INSERT INTO events VALUES (3)",
    ]);
    let err = api
        .run_batch(&batch, &client_token("poison", 1), soon())
        .await
        .unwrap_err();
    let DataApiError::Failed {
        message, retryable, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(message.contains("no_such_table"), "{message}");
    assert!(!retryable, "{message}");
    assert!(!err.is_retryable());
    assert_eq!(count(&server, "events").await, 0, "rolled back");
}

#[tokio::test]
async fn failed_fault_is_retryable_for_serialization_conflicts_and_rolls_back() {
    let Some(Env { server, api, .. }) = env().await else {
        return;
    };
    server
        .pg_execute("CREATE TABLE events (id BIGINT)")
        .await
        .unwrap();
    let conflict = "ERROR: 1023 DETAIL: Serializable isolation violation on table - 119371, transactions forming the cycle are: 1745830, 1745762 (pid:15021)";
    server.inject(Fault::Fail(conflict.to_owned()));
    let batch = sqls(&["LOCK events", "INSERT INTO events VALUES (1), (2)"]);
    let err = api
        .run_batch(&batch, &client_token("conflict", 1), soon())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DataApiError::Failed { message, retryable: true, .. } if message.contains("Serializable isolation violation")),
        "{err:?}"
    );
    assert!(err.reason().contains("1023"), "{}", err.reason());
    assert_eq!(count(&server, "events").await, 0, "rolled back");

    // A COPY error from the service is poison, with its text as the reason.
    server.inject(Fault::Fail(
        "ERROR: Load into table 'stage' failed. Check 'stl_load_errors' system table for details."
            .to_owned(),
    ));
    let err = api
        .run_batch(&batch, &client_token("conflict", 2), soon())
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert!(err.reason().contains("stl_load_errors"), "{}", err.reason());
    assert_eq!(count(&server, "events").await, 0);
}

#[tokio::test]
async fn aborted_statement_is_retryable_and_applies_nothing() {
    let Some(Env { server, api, .. }) = env().await else {
        return;
    };
    server
        .pg_execute("CREATE TABLE events (id BIGINT)")
        .await
        .unwrap();
    server.inject(Fault::Abort);
    let err = api
        .run_batch(
            &sqls(&["INSERT INTO events VALUES (1)"]),
            &client_token("abort", 1),
            soon(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DataApiError::Aborted { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(count(&server, "events").await, 0);
}

#[tokio::test]
async fn throttled_requests_are_retried_then_reported_as_retryable() {
    let Some(Env { server, api, .. }) = env().await else {
        return;
    };
    server
        .pg_execute("CREATE TABLE events (id BIGINT)")
        .await
        .unwrap();
    let batch = sqls(&["INSERT INTO events VALUES (1)"]);

    // Two throttles: the SDK's standard retries get through on the third attempt.
    server.throttle("BatchExecuteStatement", 2);
    api.run_batch(&batch, &client_token("throttle", 1), soon())
        .await
        .unwrap();
    assert_eq!(server.request_count("BatchExecuteStatement"), 3);
    assert_eq!(count(&server, "events").await, 1);

    // Throttled polls: the client keeps polling.
    server.throttle("DescribeStatement", 4);
    api.run_batch(&batch, &client_token("throttle", 2), soon())
        .await
        .unwrap();
    assert_eq!(count(&server, "events").await, 2);

    // Three throttles exhaust the SDK's three attempts: Throttled, retryable, nothing run.
    server.throttle("BatchExecuteStatement", 3);
    let before = server.executions();
    let err = api
        .run_batch(&batch, &client_token("throttle", 3), soon())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DataApiError::Throttled { message, .. } if message.contains("ThrottlingException")),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(server.executions(), before);
    assert_eq!(count(&server, "events").await, 2);
}

#[tokio::test]
async fn a_statement_that_never_finishes_stops_at_the_deadline() {
    let Some(Env { server, api, .. }) = env().await else {
        return;
    };
    server.inject(Fault::Hang);
    let deadline = Instant::now() + Duration::from_millis(400);
    let err = api
        .run_batch(&sqls(&["SELECT 1"]), &client_token("hang", 1), deadline)
        .await
        .unwrap_err();
    let returned = Instant::now();
    let DataApiError::Deadline { id: Some(id) } = &err else {
        panic!("{err:?}")
    };
    assert!(err.is_retryable());
    assert!(returned >= deadline, "returned before the deadline");
    assert!(
        returned <= deadline + POLL_MAX,
        "returned {:?} after the deadline",
        returned - deadline
    );
    // Left running by default.
    assert_eq!(server.status(id), Some("STARTED"));
    assert_eq!(server.request_count("CancelStatement"), 0);

    // With cancel_on_deadline the statement is cancelled.
    let mut cfg = config(serverless());
    cfg.cancel_on_deadline = true;
    let cancelling = DataApi::new(server.client(), cfg);
    server.inject(Fault::Hang);
    let err = cancelling
        .run_batch(
            &sqls(&["SELECT 1"]),
            &client_token("hang", 2),
            Instant::now() + Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    let id = err.statement_id().unwrap();
    assert_eq!(server.status(id), Some("ABORTED"));
}

#[tokio::test]
async fn the_same_client_token_runs_the_batch_once() {
    let Some(Env { server, api, .. }) = env().await else {
        return;
    };
    server
        .pg_execute("CREATE TABLE events (id BIGINT)")
        .await
        .unwrap();
    let batch = sqls(&["INSERT INTO events VALUES (1), (2), (3)"]);
    let token = client_token("events|k1", 1);
    let first = api.run_batch(&batch, &token, soon()).await.unwrap();
    let second = api.run_batch(&batch, &token, soon()).await.unwrap();
    assert_eq!(first.statement_id, second.statement_id);
    assert_eq!(second.result_rows, vec![3]);
    assert_eq!(count(&server, "events").await, 3, "executed once");
    assert_eq!(server.executions(), 1);
}

#[tokio::test]
async fn a_retry_after_failed_with_the_next_receive_count_runs_again() {
    let Some(Env { server, api, .. }) = env().await else {
        return;
    };
    server
        .pg_execute("CREATE TABLE events (id BIGINT)")
        .await
        .unwrap();
    let batch = sqls(&["LOCK events", "INSERT INTO events VALUES (1), (2)"]);
    server.inject(Fault::Fail(
        "ERROR: 1023 DETAIL: Serializable isolation violation on table".to_owned(),
    ));
    let first = api
        .run_batch(&batch, &client_token("events|k1", 1), soon())
        .await
        .unwrap_err();
    assert!(first.is_retryable(), "{first:?}");

    // The same receive's token returns the same failed statement: nothing runs again.
    let again = api
        .run_batch(&batch, &client_token("events|k1", 1), soon())
        .await
        .unwrap_err();
    assert_eq!(again.statement_id(), first.statement_id());
    assert_eq!(server.executions(), 1);

    // The next receive gets a new statement, which runs.
    let retry = api
        .run_batch(&batch, &client_token("events|k1", 2), soon())
        .await
        .unwrap();
    assert_ne!(Some(retry.statement_id.as_str()), first.statement_id());
    assert_eq!(retry.result_rows, vec![-1, 2]);
    assert_eq!(count(&server, "events").await, 2);
}

#[tokio::test]
async fn limits_are_checked_without_a_request() {
    let Some(Env { server, api, .. }) = env().await else {
        return;
    };
    let too_many = vec!["SELECT 1".to_owned(); MAX_BATCH_STATEMENTS + 1];
    let err = api
        .run_batch(&too_many, &client_token("big", 1), soon())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DataApiError::TooLarge { size: 41, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    let huge = format!("SELECT '{}'", "x".repeat(100 * 1024));
    let err = api
        .run_batch(
            &["SELECT 1".to_owned(), huge.clone()],
            &client_token("big", 2),
            soon(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DataApiError::TooLarge { .. }), "{err:?}");
    let err = api.run(&huge, &[], None, soon()).await.unwrap_err();
    assert!(matches!(err, DataApiError::TooLarge { .. }), "{err:?}");

    assert_eq!(server.request_count("BatchExecuteStatement"), 0);
    assert_eq!(server.request_count("ExecuteStatement"), 0);
    // 40 statements is within the limit.
    let forty = vec!["SELECT 1".to_owned(); MAX_BATCH_STATEMENTS];
    let ok = api
        .run_batch(&forty, &client_token("big", 3), soon())
        .await
        .unwrap();
    assert_eq!(ok.result_rows.len(), 40);
}

#[tokio::test]
async fn results_come_typed_and_paged_with_next_token() {
    let Some(Env { server, api, .. }) = env().await else {
        return;
    };
    server.set_page_size(7);
    let result = api
        .query(
            "SELECT g AS n, 'row ' || g AS label, g % 2 = 0 AS even, g::float8 / 4 AS q, NULL::int AS nothing, (g * 1.5)::numeric(10,2) AS dec FROM generate_series(1, 25) g ORDER BY g",
            &[],
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(
        result.columns,
        ["n", "label", "even", "q", "nothing", "dec"]
    );
    assert_eq!(result.rows.len(), 25);
    for (i, row) in result.rows.iter().enumerate() {
        let g = i as i64 + 1;
        assert_eq!(
            row,
            &vec![
                Value::Long(g),
                Value::String(format!("row {g}")),
                Value::Bool(g % 2 == 0),
                Value::Double(g as f64 / 4.0),
                Value::Null,
                Value::String(format!("{:.2}", g as f64 * 1.5)),
            ],
            "row {i}"
        );
    }
    // 25 rows in pages of 7: four requests, chained by NextToken.
    let pages = server.requests("GetStatementResult");
    assert_eq!(pages.len(), 4);
    assert!(pages[0].get("NextToken").is_none());
    assert_eq!(pages[3]["NextToken"], "21");
}

#[tokio::test]
async fn named_parameters_are_bound_as_values() {
    let Some(Env { server, api, .. }) = env().await else {
        return;
    };
    let params = [
        ("n".to_owned(), "41".to_owned()),
        ("name".to_owned(), "O'Brien; DROP TABLE x".to_owned()),
    ];
    let result = api
        .query(
            "SELECT :n::int + 1 AS answer, :name AS name",
            &params,
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(
        result.rows,
        vec![vec![
            Value::Long(42),
            Value::String("O'Brien; DROP TABLE x".into())
        ]]
    );
    let sent = &server.requests("ExecuteStatement")[0];
    assert_eq!(sent["Parameters"][0]["name"], "n");
    assert_eq!(sent["Parameters"][0]["value"], "41");
}

#[tokio::test]
async fn copy_loads_gzip_json_lines_listed_in_a_manifest() {
    let Some(Env { server, api, moto }) = env().await else {
        return;
    };
    let s3 = moto.s3_client();
    let bucket = moto.new_bucket("data-api-copy").await.unwrap();
    let objects = [
        (
            "curated/a.ndjson.gz",
            "{\"event_id\":\"e1\",\"n\":1,\"extra\":{\"k\":[1,true]},\"ignored\":\"x\"}\n{\"event_id\":\"e2\",\"n\":2,\"note\":\"tab\\there\"}\n",
        ),
        (
            "curated/b.ndjson.gz",
            "{\"event_id\":\"e3\",\"n\":null,\"Note\":\"upper-case key\"}\n",
        ),
    ];
    let mut entries = Vec::new();
    for (key, body) in objects {
        let gz = loglift_core::compress::gzip(body.as_bytes());
        entries.push(serde_json::json!({
            "url": format!("s3://{bucket}/{key}"), "mandatory": true,
            "meta": {"content_length": gz.len()},
        }));
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(gz.into())
            .send()
            .await
            .unwrap();
    }
    let manifest = serde_json::json!({ "entries": entries }).to_string();
    s3.put_object()
        .bucket(&bucket)
        .key("loads/batch-1.manifest")
        .body(manifest.into_bytes().into())
        .send()
        .await
        .unwrap();

    let copy = |table: &str, mode: &str| {
        format!(
            "COPY {table} FROM 's3://{bucket}/loads/batch-1.manifest' IAM_ROLE 'arn:aws:iam::123456789012:role/loader' MANIFEST FORMAT AS JSON '{mode}' GZIP TIMEFORMAT 'auto'"
        )
    };
    let batch = vec![
        "CREATE TEMP TABLE stage (event_id VARCHAR(256), n BIGINT, note VARCHAR(MAX), extra SUPER) DISTSTYLE AUTO".to_owned(),
        copy("stage", "auto"),
        "CREATE TEMP TABLE stage_ci (LIKE stage)".to_owned(),
        copy("stage_ci", "auto ignorecase"),
        "SELECT s.event_id, s.n, s.note, s.extra::text AS extra, c.note AS note_ci FROM stage s JOIN stage_ci c USING (event_id) ORDER BY s.event_id".to_owned(),
    ];
    let outcome = api
        .run_batch(&batch, &client_token("copy", 1), soon())
        .await
        .unwrap();
    // COPY reports 0 rows, as the real Data API has been reported to (aws/aws-sdk#333, #356);
    // the SELECT shows the three rows are there.
    assert_eq!(outcome.result_rows, vec![-1, 0, -1, 0, 3]);
    let result = api
        .fetch_result(&outcome.sub_statement_id(4), soon())
        .await
        .unwrap();
    let s = |v: &str| Value::String(v.to_owned());
    assert_eq!(
        result.rows,
        vec![
            vec![
                s("e1"),
                Value::Long(1),
                Value::Null,
                s("{\"k\": [1, true]}"),
                Value::Null
            ],
            vec![
                s("e2"),
                Value::Long(2),
                s("tab\there"),
                Value::Null,
                s("tab\there")
            ],
            // 'auto' matches keys exactly: "Note" loads only under 'auto ignorecase'.
            vec![
                s("e3"),
                Value::Null,
                Value::Null,
                Value::Null,
                s("upper-case key")
            ],
        ]
    );
    assert_eq!(server.executions(), 1);
}

#[tokio::test]
async fn copy_of_a_bad_row_fails_the_load_as_poison() {
    let Some(Env { server, api, moto }) = env().await else {
        return;
    };
    server
        .pg_execute("CREATE TABLE events (event_id VARCHAR(256), n BIGINT)")
        .await
        .unwrap();
    let s3 = moto.s3_client();
    let bucket = moto.new_bucket("data-api-bad").await.unwrap();
    let gz = loglift_core::compress::gzip(
        b"{\"event_id\":\"e1\",\"n\":1}\n{\"event_id\":\"e2\",\"n\":\"two\"}\n",
    );
    s3.put_object()
        .bucket(&bucket)
        .key("curated/bad.ndjson.gz")
        .body(gz.into())
        .send()
        .await
        .unwrap();
    let manifest = format!(
        "{{\"entries\":[{{\"url\":\"s3://{bucket}/curated/bad.ndjson.gz\",\"mandatory\":true}},{{\"url\":\"s3://{bucket}/curated/gone.ndjson.gz\",\"mandatory\":false}}]}}"
    );
    s3.put_object()
        .bucket(&bucket)
        .key("m.manifest")
        .body(manifest.into_bytes().into())
        .send()
        .await
        .unwrap();
    let batch = vec![
        "INSERT INTO events VALUES ('before', 0)".to_owned(),
        format!("COPY events FROM 's3://{bucket}/m.manifest' IAM_ROLE default MANIFEST FORMAT AS JSON 'auto' GZIP"),
    ];
    let err = api
        .run_batch(&batch, &client_token("bad-copy", 1), soon())
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert!(
        err.reason().contains("Load into table 'events' failed"),
        "{}",
        err.reason()
    );
    assert_eq!(
        count(&server, "events").await,
        0,
        "the whole batch rolled back"
    );
}

#[tokio::test]
async fn describe_goes_submitted_started_finished_with_sub_statements() {
    let Some(Env { server, .. }) = env().await else {
        return;
    };
    let client = server.client();
    let submitted = client
        .batch_execute_statement()
        .workgroup_name("loglift-test")
        .database("dev")
        .sqls("SELECT 1")
        .sqls("SELECT 2 UNION ALL SELECT 3")
        .send()
        .await
        .unwrap();
    let id = submitted.id().unwrap().to_owned();
    let mut statuses = Vec::new();
    let finished = loop {
        let d = client.describe_statement().id(&id).send().await.unwrap();
        let status = d.status().cloned().unwrap();
        statuses.push(status.clone());
        if status == StatusString::Finished || statuses.len() > 100 {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(statuses[0], StatusString::Submitted);
    assert_eq!(statuses[1], StatusString::Started);
    assert_eq!(statuses.last(), Some(&StatusString::Finished));
    let subs = finished.sub_statements();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0].id(), format!("{id}:1"));
    assert_eq!(subs[1].id(), format!("{id}:2"));
    assert_eq!(subs[1].result_rows(), 2);
    assert_eq!(subs[1].has_result_set(), Some(true));
    assert_eq!(finished.has_result_set(), Some(true));

    // A finished statement cannot be cancelled; an unknown one is not found.
    let err = client.cancel_statement().id(&id).send().await.unwrap_err();
    assert!(
        format!("{:?}", err).contains("ValidationException"),
        "{err:?}"
    );
    let err = client
        .describe_statement()
        .id("00000000-0000-4000-8000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{err:?}"
    );
}

/// The FAILED error of a batch, after checking nothing of it was applied to `table`.
async fn refused(env: &Env, batch: &[String], token: &str, table: &str) -> String {
    let err = env
        .api
        .run_batch(batch, &client_token(token, 1), soon())
        .await
        .unwrap_err();
    let DataApiError::Failed { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(!err.is_retryable(), "{message}");
    assert!(message.starts_with("ERROR: "), "{message}");
    assert_eq!(count(&env.server, table).await, 0, "rolled back: {message}");
    message.clone()
}

#[tokio::test]
async fn tables_get_no_unique_index_as_on_redshift() {
    let Some(env) = env().await else {
        return;
    };
    // Redshift accepts PRIMARY KEY and UNIQUE and enforces neither.
    let batch = sqls(&[
        "CREATE TABLE keyed (id VARCHAR(8) NOT NULL PRIMARY KEY, v BIGINT UNIQUE, UNIQUE (id, v)) DISTSTYLE AUTO",
        "INSERT INTO keyed VALUES ('a', 1), ('a', 1)",
    ]);
    env.api
        .run_batch(&batch, &client_token("keyed", 1), soon())
        .await
        .unwrap();
    assert_eq!(count(&env.server, "keyed").await, 2);
    let indexes = env
        .server
        .pg_scalar(&format!(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = '{}' AND tablename = 'keyed'",
            env.server.schema()
        ))
        .await
        .unwrap();
    assert_eq!(indexes.as_deref(), Some("0"));
    // NOT NULL is enforced, as on Redshift.
    let err = env
        .api
        .run_batch(
            &sqls(&["INSERT INTO keyed VALUES (NULL, 1)"]),
            &client_token("keyed-null", 1),
            soon(),
        )
        .await
        .unwrap_err();
    assert!(err.reason().contains("null value"), "{err}");
}

#[tokio::test]
async fn on_conflict_and_other_postgresql_only_syntax_is_refused() {
    let Some(env) = env().await else {
        return;
    };
    env.server
        .pg_execute("CREATE TABLE pg_only (id VARCHAR(8) PRIMARY KEY, v BIGINT)")
        .await
        .unwrap();
    for (sql, needle) in [
        (
            "INSERT INTO pg_only VALUES ('a', 1) ON CONFLICT (id) DO NOTHING",
            "syntax error at or near \"ON\"",
        ),
        (
            "INSERT INTO pg_only VALUES ('a', 1) RETURNING id",
            "\"RETURNING\"",
        ),
        (
            "INSERT INTO pg_only SELECT DISTINCT ON (id) id, v FROM pg_only",
            "\"ON\"",
        ),
    ] {
        let batch = sqls(&["INSERT INTO pg_only VALUES ('z', 0)", sql]);
        let message = refused(&env, &batch, sql, "pg_only").await;
        assert!(message.contains(needle), "{sql}: {message}");
    }
}

#[tokio::test]
async fn merge_whose_source_matches_a_target_row_twice_fails() {
    let Some(env) = env().await else {
        return;
    };
    let setup = sqls(&[
        "CREATE TABLE merged (id VARCHAR(8), v BIGINT)",
        "INSERT INTO merged VALUES ('a', 0)",
    ]);
    env.api
        .run_batch(&setup, &client_token("merge-setup", 1), soon())
        .await
        .unwrap();
    let merge = "MERGE INTO merged USING src AS s ON merged.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)";
    // Two source rows for `a` (in the target): refused, nothing applied.
    let batch = sqls(&[
        "CREATE TEMP TABLE src (id VARCHAR(8), v BIGINT)",
        "INSERT INTO src VALUES ('a', 1), ('a', 2), ('b', 3)",
        "INSERT INTO merged VALUES ('c', 9)",
        merge,
    ]);
    let err = env
        .api
        .run_batch(&batch, &client_token("merge-dup", 1), soon())
        .await
        .unwrap_err();
    assert!(
        err.reason()
            .contains("Found multiple matches to update the same tuple"),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert_eq!(count(&env.server, "merged").await, 1, "rolled back");
    // Duplicates of an id the target lacks match nothing: Redshift inserts both.
    let batch = sqls(&[
        "CREATE TEMP TABLE src (id VARCHAR(8), v BIGINT)",
        "INSERT INTO src VALUES ('a', 1), ('b', 2), ('b', 3)",
        merge,
    ]);
    let outcome = env
        .api
        .run_batch(&batch, &client_token("merge-ok", 1), soon())
        .await
        .unwrap();
    assert_eq!(outcome.result_rows[2], 3);
    assert_eq!(count(&env.server, "merged").await, 3);
}

#[tokio::test]
async fn varchar_counts_bytes_in_insert_update_and_copy() {
    let Some(env) = env().await else {
        return;
    };
    let setup = sqls(&[
        "CREATE TABLE bytes4 (id BIGINT, s VARCHAR(4) ENCODE zstd, extra SUPER) DISTSTYLE AUTO",
        "INSERT INTO bytes4 VALUES (1, 'éé', NULL), (2, 'abcd', NULL)",
    ]);
    env.api
        .run_batch(&setup, &client_token("bytes-setup", 1), soon())
        .await
        .unwrap();
    for (i, sql) in [
        // 3 characters, 6 bytes: PostgreSQL's VARCHAR(4) would take it.
        "INSERT INTO bytes4 VALUES (3, 'ééé', NULL)",
        "UPDATE bytes4 SET s = s || 'x' WHERE id = 1",
    ]
    .into_iter()
    .enumerate()
    {
        let err = env
            .api
            .run_batch(
                &sqls(&[sql]),
                &client_token(&format!("bytes-{i}"), 1),
                soon(),
            )
            .await
            .unwrap_err();
        assert!(
            err.reason()
                .contains("value too long for type character varying(4)"),
            "{sql}: {err}"
        );
        assert!(!err.is_retryable(), "{err}");
    }
    assert_eq!(count(&env.server, "bytes4").await, 2);

    // COPY: the same limit, and SUPER's (65,535-byte strings, 4 MB objects).
    let s3 = env.moto.s3_client();
    let bucket = env.moto.new_bucket("data-api-limits").await.unwrap();
    let long = "x".repeat(65_536);
    let big = format!("[\"{}\"]", "y".repeat(60_000));
    let huge: Vec<String> = (0..70).map(|_| "y".repeat(60_000)).collect();
    let cases = [
        (
            "ok",
            "{\"id\":5,\"s\":\"éé\",\"extra\":{\"k\":\"v\"}}\n".to_owned(),
            None,
        ),
        (
            "varchar",
            "{\"id\":6,\"s\":\"ééé\"}\n".to_owned(),
            Some("value too long for type character varying(4)"),
        ),
        (
            "super-string",
            format!("{{\"id\":7,\"extra\":{{\"k\":\"{long}\"}}}}\n"),
            Some("a string of 65536 bytes in a SUPER value"),
        ),
        (
            "object",
            format!("{{\"id\":8,\"extra\":{}}}\n", serde_json::json!(huge)),
            Some("a JSON object of"),
        ),
        ("under", format!("{{\"id\":9,\"extra\":{big}}}\n"), None),
    ];
    for (name, body, want) in cases {
        let key = format!("curated/{name}.ndjson.gz");
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .body(loglift_core::compress::gzip(body.as_bytes()).into())
            .send()
            .await
            .unwrap();
        let copy = format!(
            "COPY bytes4 FROM 's3://{bucket}/{key}' IAM_ROLE 'arn:aws:iam::123456789012:role/loader' FORMAT AS JSON 'auto' GZIP"
        );
        let result = env
            .api
            .run_batch(std::slice::from_ref(&copy), &client_token(name, 1), soon())
            .await;
        match want {
            None => assert!(result.is_ok(), "{name}: {result:?}"),
            Some(needle) => {
                let err = result.unwrap_err();
                assert!(
                    err.reason().contains("Load into table 'bytes4' failed"),
                    "{name}: {err}"
                );
                assert!(err.reason().contains(needle), "{name}: {err}");
                assert!(!err.is_retryable());
            }
        }
    }
    assert_eq!(count(&env.server, "bytes4").await, 4);
}

#[tokio::test]
async fn statements_that_cannot_run_in_a_transaction_block_fail_in_a_batch() {
    let Some(env) = env().await else {
        return;
    };
    env.server
        .pg_execute("CREATE TABLE tx (id BIGINT, note VARCHAR(8))")
        .await
        .unwrap();
    for (sql, needle) in [
        ("VACUUM tx", "VACUUM cannot run inside a transaction block"),
        (
            "ALTER TABLE tx ALTER COLUMN note TYPE VARCHAR(16)",
            "ALTER TABLE ALTER COLUMN cannot run inside a transaction block",
        ),
        ("CREATE DATABASE other", "CREATE DATABASE cannot run"),
    ] {
        let batch = sqls(&["INSERT INTO tx VALUES (1, 'a')", sql]);
        let message = refused(&env, &batch, sql, "tx").await;
        assert!(message.contains(needle), "{sql}: {message}");
    }
    // ADD COLUMN may run in a transaction block.
    env.api
        .run_batch(
            &sqls(&[
                "ALTER TABLE tx ADD COLUMN more VARCHAR(4)",
                "INSERT INTO tx (id, more) VALUES (1, 'ab')",
            ]),
            &client_token("add-column", 1),
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(count(&env.server, "tx").await, 1);
}
