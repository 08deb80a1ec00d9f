//! The Data API over HTTP/1.1 as the SDK speaks it: the operations, statements and their phases, results.

use super::*;

// ---------------------------------------------------------------------------------------------
// HTTP/1.1, as the SDK's client speaks it: keep-alive, `Content-Length` bodies.

pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
    }
}

pub(super) async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut length = 0usize;
        let mut target = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("x-amz-target") {
                    target = value.to_owned();
                }
            }
        }
        let (status, body) = if length > MAX_BODY {
            error(400, "ValidationException", "request body too large")
        } else {
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).await.is_err() {
                return;
            }
            handle(&shared, &target, &body).await
        };
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            _ => "Internal Server Error",
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nx-amzn-RequestId: {}\r\n\r\n",
            body.len(),
            new_uuid()
        );
        if write.write_all(head.as_bytes()).await.is_err()
            || write.write_all(body.as_bytes()).await.is_err()
        {
            return;
        }
    }
}

pub(super) fn error(status: u16, kind: &str, message: &str) -> (u16, String) {
    let body = json!({"__type": kind, "message": message, "Message": message});
    (status, body.to_string())
}

pub(super) fn not_found(id: &str, message: &str) -> (u16, String) {
    let body = json!({
        "__type": "ResourceNotFoundException",
        "message": message,
        "Message": message,
        "ResourceId": id,
    });
    (400, body.to_string())
}

pub(super) fn ok(body: Value) -> (u16, String) {
    (200, body.to_string())
}

pub(super) async fn handle(shared: &Arc<Shared>, target: &str, body: &[u8]) -> (u16, String) {
    let op = target.strip_prefix("RedshiftData.").unwrap_or(target);
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return error(400, "SerializationException", &e.to_string()),
    };
    {
        let mut state = shared.lock();
        state.requests.push((op.to_owned(), request.clone()));
        if let Some(entry) = state
            .throttles
            .iter_mut()
            .find(|(o, left)| (o == op || o == "*") && *left > 0)
        {
            entry.1 -= 1;
            return error(400, "ThrottlingException", "Rate exceeded");
        }
    }
    match op {
        "ExecuteStatement" | "BatchExecuteStatement" => submit(shared, op, &request),
        "DescribeStatement" => describe(shared, &request),
        "GetStatementResult" => get_result(shared, &request),
        "CancelStatement" => cancel(shared, &request),
        _ => error(
            400,
            "UnknownOperationException",
            &format!("{op} is not served by the test server"),
        ),
    }
}

pub(super) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A random UUID in the lowercase form the Data API uses.
pub(super) fn new_uuid() -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u16(..0x1000),
        fastrand::u16(0x8000..0xc000),
        fastrand::u64(..1 << 48)
    )
}

pub(super) fn str_field<'a>(request: &'a Value, name: &str) -> Option<&'a str> {
    request.get(name).and_then(Value::as_str)
}

pub(super) fn submit(shared: &Arc<Shared>, op: &str, request: &Value) -> (u16, String) {
    let batch = op == "BatchExecuteStatement";
    let sqls: Vec<String> = if batch {
        request
            .get("Sqls")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        str_field(request, "Sql")
            .map(|s| vec![s.to_owned()])
            .unwrap_or_default()
    };
    if sqls.is_empty() || sqls.len() > MAX_BATCH {
        return error(
            400,
            "ValidationException",
            &format!("1 to {MAX_BATCH} SQL statements are needed"),
        );
    }
    if let Some(big) = sqls.iter().find(|s| s.len() > MAX_SQL_BYTES) {
        return error(
            400,
            "ValidationException",
            &format!("statement of {} bytes is over 100 KB", big.len()),
        );
    }
    let workgroup = str_field(request, "WorkgroupName");
    let cluster = str_field(request, "ClusterIdentifier");
    if workgroup.is_some() == cluster.is_some() {
        return error(
            400,
            "ValidationException",
            "exactly one of WorkgroupName and ClusterIdentifier is required",
        );
    }
    if workgroup.is_some() && request.get("DbUser").is_some() {
        return error(
            400,
            "ValidationException",
            "DbUser is for provisioned clusters",
        );
    }
    if str_field(request, "Database").is_none_or(str::is_empty) {
        return error(400, "ValidationException", "Database is required");
    }
    let mut params = Vec::new();
    for p in request
        .get("Parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match (str_field(p, "name"), str_field(p, "value")) {
            (Some(n), Some(v)) if !v.is_empty() => params.push((n.to_owned(), v.to_owned())),
            _ => {
                return error(
                    400,
                    "ValidationException",
                    "parameters need a name and a non-empty value",
                )
            }
        }
    }
    let mut echo = Map::new();
    for key in [
        "Database",
        "WorkgroupName",
        "ClusterIdentifier",
        "DbUser",
        "SecretArn",
    ] {
        if let Some(v) = request.get(key) {
            echo.insert(key.to_owned(), v.clone());
        }
    }
    let token = str_field(request, "ClientToken").map(str::to_owned);

    let mut state = shared.lock();
    if let Some(id) = token.as_ref().and_then(|t| state.tokens.get(t)) {
        let id = id.clone();
        if let Some(existing) = state.statements.get(&id) {
            let mut answer = existing.echo.clone();
            answer.insert("Id".to_owned(), json!(id));
            answer.insert("CreatedAt".to_owned(), json!(existing.created_at));
            return ok(Value::Object(answer));
        }
    }
    let id = new_uuid();
    let fault = state.faults.pop_front();
    let created_at = now_secs();
    let hang = fault == Some(Fault::Hang);
    state.statements.insert(
        id.clone(),
        Statement {
            sqls: sqls.clone(),
            batch,
            echo: echo.clone(),
            created_at,
            updated_at: created_at,
            describes: 0,
            phase: if hang { Phase::Hanging } else { Phase::Running },
            cancel_requested: false,
        },
    );
    if let Some(token) = token {
        state.tokens.insert(token, id.clone());
    }
    drop(state);
    if !hang {
        tokio::spawn(execute(
            Arc::clone(shared),
            id.clone(),
            sqls,
            params,
            fault,
            batch,
        ));
    }
    let mut answer = echo;
    answer.insert("Id".to_owned(), json!(id));
    answer.insert("CreatedAt".to_owned(), json!(created_at));
    ok(Value::Object(answer))
}

/// Split `uuid:N` into the statement id and N (0 for a bare id).
pub(super) fn split_id(id: &str) -> (&str, usize) {
    match id.rsplit_once(':') {
        Some((base, n)) => match n.parse() {
            Ok(n) => (base, n),
            Err(_) => (id, 0),
        },
        None => (id, 0),
    }
}

pub(super) fn describe(shared: &Arc<Shared>, request: &Value) -> (u16, String) {
    let Some(id) = str_field(request, "Id") else {
        return error(400, "ValidationException", "Id is required");
    };
    let (base, n) = split_id(id);
    let mut state = shared.lock();
    let Some(st) = state.statements.get_mut(base) else {
        return not_found(id, "Query does not exist.");
    };
    let mut answer = st.echo.clone();
    answer.insert("CreatedAt".to_owned(), json!(st.created_at));
    answer.insert("UpdatedAt".to_owned(), json!(st.updated_at));
    answer.insert("RedshiftPid".to_owned(), json!(1073741824));
    answer.insert("ResultSize".to_owned(), json!(-1));
    if n > 0 {
        // A sub-statement: its own state, without advancing the parent's.
        let sub = match &st.phase {
            Phase::Done(d) => d.subs.get(n - 1).cloned(),
            _ => st
                .sqls
                .get(n - 1)
                .map(|sql| Sub::ended(sql, Status::Started, None)),
        };
        let Some(sub) = sub else {
            return not_found(id, "Query does not exist.");
        };
        answer.insert("Id".to_owned(), json!(id));
        answer.extend(sub_fields(&sub));
        return ok(Value::Object(answer));
    }
    let step = st.describes;
    st.describes = st.describes.saturating_add(1);
    let visible = match (&st.phase, step) {
        (_, 0) => Status::Submitted,
        (Phase::Done(d), s) if s >= 2 => d.status,
        _ => Status::Started,
    };
    answer.insert("Id".to_owned(), json!(base));
    answer.insert("Status".to_owned(), json!(visible.as_str()));
    let done = match &st.phase {
        Phase::Done(d) if visible == d.status => Some(d),
        _ => None,
    };
    if !st.batch {
        answer.insert(
            "QueryString".to_owned(),
            json!(st.sqls.first().cloned().unwrap_or_default()),
        );
    }
    answer.insert(
        "HasResultSet".to_owned(),
        json!(done.is_some_and(|d| d.subs.iter().any(|s| s.has_result_set))),
    );
    let rows = match done {
        Some(d) if !st.batch => d.subs.first().map_or(-1, |s| s.result_rows),
        _ => -1,
    };
    answer.insert("ResultRows".to_owned(), json!(rows));
    answer.insert(
        "Duration".to_owned(),
        json!(done.map_or(-1, |d| d.duration_ns)),
    );
    if let Some(err) = done.and_then(|d| d.error.as_ref()) {
        answer.insert("Error".to_owned(), json!(err));
    }
    if st.batch {
        let subs: Vec<Value> = match done {
            Some(d) => d
                .subs
                .iter()
                .enumerate()
                .map(|(i, s)| sub_json(base, i, s, st.created_at))
                .collect(),
            None => st
                .sqls
                .iter()
                .enumerate()
                .map(|(i, sql)| {
                    sub_json(
                        base,
                        i,
                        &Sub::ended(sql, Status::Submitted, None),
                        st.created_at,
                    )
                })
                .collect(),
        };
        answer.insert("SubStatements".to_owned(), Value::Array(subs));
    }
    ok(Value::Object(answer))
}

pub(super) fn sub_fields(sub: &Sub) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("Status".to_owned(), json!(sub.status.as_str()));
    m.insert("QueryString".to_owned(), json!(sub.sql));
    m.insert("ResultRows".to_owned(), json!(sub.result_rows));
    m.insert("HasResultSet".to_owned(), json!(sub.has_result_set));
    if let Some(err) = &sub.error {
        m.insert("Error".to_owned(), json!(err));
    }
    m
}

pub(super) fn sub_json(base: &str, index: usize, sub: &Sub, created_at: f64) -> Value {
    let mut m = sub_fields(sub);
    m.insert("Id".to_owned(), json!(format!("{base}:{}", index + 1)));
    m.insert("CreatedAt".to_owned(), json!(created_at));
    m.insert("UpdatedAt".to_owned(), json!(now_secs()));
    m.insert("ResultSize".to_owned(), json!(-1));
    Value::Object(m)
}

pub(super) fn get_result(shared: &Arc<Shared>, request: &Value) -> (u16, String) {
    const NO_RESULT: &str =
        "Query does not have result. Please check query status with DescribeStatement API.";
    let Some(id) = str_field(request, "Id") else {
        return error(400, "ValidationException", "Id is required");
    };
    let (base, n) = split_id(id);
    let state = shared.lock();
    let page_size = state.page_size;
    let Some(st) = state.statements.get(base) else {
        return not_found(id, "Query does not exist.");
    };
    let Phase::Done(done) = &st.phase else {
        return not_found(id, NO_RESULT);
    };
    if done.status != Status::Finished {
        return not_found(id, NO_RESULT);
    }
    let sub = match (n, st.batch) {
        (0, true) => {
            return error(
                400,
                "ValidationException",
                "a batch's results are read by sub-statement Id (uuid:N)",
            )
        }
        (0, false) => done.subs.first(),
        (n, _) => done.subs.get(n - 1),
    };
    let Some(sub) = sub.filter(|s| s.has_result_set) else {
        return not_found(id, NO_RESULT);
    };
    let offset: usize = match str_field(request, "NextToken") {
        None => 0,
        Some(token) => match token.parse() {
            Ok(o) => o,
            Err(_) => return error(400, "ValidationException", "invalid NextToken"),
        },
    };
    let records: Vec<Value> = sub
        .rows
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|r| Value::Array(r.clone()))
        .collect();
    let columns: Vec<Value> = sub
        .columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "label": c.name, "typeName": c.type_name, "nullable": 1,
                "isCaseSensitive": false, "isCurrency": false, "isSigned": false,
                "length": 0, "precision": 0, "scale": 0, "schemaName": "", "tableName": "",
            })
        })
        .collect();
    let mut answer = json!({
        "Records": records,
        "ColumnMetadata": columns,
        "TotalNumRows": sub.rows.len(),
    });
    let end = offset.saturating_add(page_size);
    if end < sub.rows.len() {
        if let Some(obj) = answer.as_object_mut() {
            obj.insert("NextToken".to_owned(), json!(end.to_string()));
        }
    }
    ok(answer)
}

pub(super) fn cancel(shared: &Arc<Shared>, request: &Value) -> (u16, String) {
    let Some(id) = str_field(request, "Id") else {
        return error(400, "ValidationException", "Id is required");
    };
    let (base, _) = split_id(id);
    let mut state = shared.lock();
    let Some(st) = state.statements.get_mut(base) else {
        return not_found(id, "Query does not exist.");
    };
    match &st.phase {
        Phase::Hanging => {
            st.phase = Phase::Done(Done {
                status: Status::Aborted,
                error: None,
                subs: st
                    .sqls
                    .iter()
                    .map(|sql| Sub::ended(sql, Status::Aborted, None))
                    .collect(),
                duration_ns: -1,
            });
            st.updated_at = now_secs();
        }
        Phase::Running => st.cancel_requested = true,
        Phase::Done(d) => {
            return error(
                400,
                "ValidationException",
                &format!(
                    "Could not cancel a query that is already in {} state.",
                    d.status.as_str()
                ),
            )
        }
    }
    ok(json!({"Status": true}))
}
