//! Execution on PostgreSQL: a batch in one transaction, a statement at a time, typed result fields.

use super::*;

// ---------------------------------------------------------------------------------------------
// Execution on PostgreSQL.

pub(super) async fn execute(
    shared: Arc<Shared>,
    id: String,
    sqls: Vec<String>,
    params: Vec<(String, String)>,
    fault: Option<Fault>,
    batch: bool,
) {
    let started = Instant::now();
    let mut done = run_on_pg(&shared, &id, &sqls, &params, fault.as_ref(), batch).await;
    done.duration_ns = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
    let mut state = shared.lock();
    state.executions += 1;
    if let Some(st) = state.statements.get_mut(&id) {
        st.phase = Phase::Done(done);
        st.updated_at = now_secs();
    }
}

pub(super) fn failed(error: String, subs: Vec<Sub>) -> Done {
    Done {
        status: Status::Failed,
        error: Some(error),
        subs,
        duration_ns: -1,
    }
}

pub(super) async fn run_on_pg(
    shared: &Arc<Shared>,
    id: &str,
    sqls: &[String],
    params: &[(String, String)],
    fault: Option<&Fault>,
    batch: bool,
) -> Done {
    let client = match connect(shared).await {
        Ok(c) => c,
        Err(e) => {
            let subs = sqls
                .iter()
                .map(|sql| Sub::ended(sql, Status::Aborted, None))
                .collect();
            return failed(format!("ERROR: could not connect to server: {e}"), subs);
        }
    };
    if let Err(e) = client.batch_execute("BEGIN").await {
        return failed(pg_error(&e), Vec::new());
    }
    let mut subs = Vec::with_capacity(sqls.len());
    for (i, sql) in sqls.iter().enumerate() {
        match run_one(shared, &client, sql, params, batch).await {
            Ok(sub) => subs.push(sub),
            Err(message) => {
                let _ = client.batch_execute("ROLLBACK").await;
                subs.push(Sub::ended(sql, Status::Failed, Some(message.clone())));
                subs.extend(
                    sqls.iter()
                        .skip(i + 1)
                        .map(|rest| Sub::ended(rest, Status::Aborted, None)),
                );
                return failed(message, subs);
            }
        }
    }
    let cancelled = shared
        .lock()
        .statements
        .get(id)
        .is_some_and(|s| s.cancel_requested);
    match fault {
        Some(Fault::Fail(message)) => {
            let _ = client.batch_execute("ROLLBACK").await;
            if let Some(last) = subs.last_mut() {
                last.status = Status::Failed;
                last.error = Some(message.clone());
            }
            return failed(message.clone(), subs);
        }
        Some(Fault::Abort) => {}
        _ if cancelled => {}
        _ => {
            return match client.batch_execute("COMMIT").await {
                Ok(()) => Done {
                    status: Status::Finished,
                    error: None,
                    subs,
                    duration_ns: -1,
                },
                Err(e) => {
                    let message = pg_error(&e);
                    if let Some(last) = subs.last_mut() {
                        last.status = Status::Failed;
                        last.error = Some(message.clone());
                    }
                    failed(message, subs)
                }
            };
        }
    }
    // Aborted (by fault or cancel): nothing applied.
    let _ = client.batch_execute("ROLLBACK").await;
    for sub in &mut subs {
        sub.status = Status::Aborted;
    }
    Done {
        status: Status::Aborted,
        error: None,
        subs,
        duration_ns: -1,
    }
}

pub(super) async fn connect_plain(
    url: &str,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("connect to PostgreSQL: {e}"))?;
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, task))
}

/// A session: a new connection with the server's schema first on the search path.
pub(super) async fn connect(shared: &Shared) -> Result<tokio_postgres::Client, String> {
    let (client, _task) = connect_plain(&shared.pg_url).await?;
    client
        .batch_execute(&format!(
            "SET search_path TO {}, public",
            quote_ident(&shared.schema)
        ))
        .await
        .map_err(|e| pg_error(&e))?;
    Ok(client)
}

/// An error as Redshift words it: `ERROR: message`, then the detail. A violated
/// [`varchar_constraint`] is Redshift's `value too long for type character varying(n)`.
pub(super) fn pg_error(e: &tokio_postgres::Error) -> String {
    let varchar = e.as_db_error().and_then(|db| {
        let name = db.constraint()?.strip_prefix(VARCHAR_CHECK)?;
        let (n, column) = name.split_once('_')?;
        Some(format!(
            "ERROR: value too long for type character varying({n})\n  Detail: column {column} of {} holds more than {n} bytes (Data API test server check)",
            db.table().unwrap_or("?")
        ))
    });
    if let Some(message) = varchar {
        return message;
    }
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("ERROR: {}\n  Detail: {detail}", db.message()),
            None => format!("ERROR: {}", db.message()),
        },
        None => format!("ERROR: {e}"),
    }
}

pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(super) fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Statements whose `ResultRows` is a count (others report -1).
pub(super) fn counts_rows(first_word: &str) -> bool {
    [
        "INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "SELECT", "WITH", "VALUES", "TABLE",
    ]
    .iter()
    .any(|w| first_word.eq_ignore_ascii_case(w))
}

pub(super) async fn run_one(
    shared: &Shared,
    client: &tokio_postgres::Client,
    sql: &str,
    params: &[(String, String)],
    in_batch: bool,
) -> Result<Sub, String> {
    let translated = translate(sql, params)?;
    let text = match &translated {
        Translated::Sql { text, .. } => Some(text.as_str()),
        Translated::Copy(_) => None,
    };
    let checked = check_statement(sql, text, in_batch)?;
    if let Some(query) = &checked.merge_duplicates {
        let messages = client.simple_query(query).await.map_err(|e| pg_error(&e))?;
        let duplicates = messages.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        });
        if duplicates.as_deref().is_some_and(|n| n != "0") {
            return Err(refuse(
                "Found multiple matches to update the same tuple.",
                "a target row is matched by more than one source row; Redshift's MERGE refuses that",
            ));
        }
    }
    match translated {
        Translated::Copy(spec) => {
            copy_from_s3(shared, client, &spec).await?;
            // As the real Data API has been reported to (aws/aws-sdk#333, #356): a COPY's
            // `ResultRows` is 0, whatever it loaded. The loader must not count on it.
            Ok(Sub {
                result_rows: 0,
                ..Sub::ended(sql, Status::Finished, None)
            })
        }
        Translated::Sql { text, first_word } => {
            let prepared = client.prepare(&text).await.map_err(|e| pg_error(&e))?;
            let types: Vec<Type> = prepared
                .columns()
                .iter()
                .map(|c| c.type_().clone())
                .collect();
            let columns: Vec<ColumnMeta> = prepared
                .columns()
                .iter()
                .map(|c| ColumnMeta {
                    name: c.name().to_owned(),
                    type_name: c.type_().name().to_owned(),
                })
                .collect();
            let messages = client.simple_query(&text).await.map_err(|e| pg_error(&e))?;
            let mut rows = Vec::new();
            let mut count = 0u64;
            for message in &messages {
                match message {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        rows.push(
                            (0..row.len())
                                .map(|i| field(row.get(i), types.get(i)))
                                .collect(),
                        );
                    }
                    tokio_postgres::SimpleQueryMessage::CommandComplete(n) => count = *n,
                    _ => {}
                }
            }
            let has_result_set = !columns.is_empty();
            let result_rows = if has_result_set {
                i64::try_from(rows.len()).unwrap_or(i64::MAX)
            } else if counts_rows(&first_word) {
                i64::try_from(count).unwrap_or(i64::MAX)
            } else {
                -1
            };
            Ok(Sub {
                result_rows,
                has_result_set,
                columns,
                rows,
                ..Sub::ended(sql, Status::Finished, None)
            })
        }
    }
}

/// A text value as the Data API types it.
pub(super) fn field(value: Option<&str>, ty: Option<&Type>) -> Value {
    let Some(v) = value else {
        return json!({"isNull": true});
    };
    let is = |types: &[Type]| ty.is_some_and(|t| types.contains(t));
    if is(&[Type::INT2, Type::INT4, Type::INT8, Type::OID]) {
        if let Ok(n) = v.parse::<i64>() {
            return json!({"longValue": n});
        }
    } else if is(&[Type::FLOAT4, Type::FLOAT8]) {
        if let Some(x) = v.parse::<f64>().ok().filter(|x| x.is_finite()) {
            return json!({"doubleValue": x});
        }
    } else if is(&[Type::BOOL]) {
        return json!({"booleanValue": v == "t"});
    }
    json!({"stringValue": v})
}
