//! COPY from S3: the manifest or prefix read from moto, each JSON value matched to a column, SUPER and object limits, then COPY FROM STDIN.

use super::*;

// ---------------------------------------------------------------------------------------------
// COPY from S3.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CopySpec {
    /// The table as written.
    pub(super) table: String,
    pub(super) columns: Option<Vec<String>>,
    pub(super) source: String,
    pub(super) manifest: bool,
    pub(super) gzip: bool,
    pub(super) ignore_case: bool,
    /// `FORMAT AS PARQUET`: columns by position, manifest entries with `meta.content_length`.
    pub(super) parquet: bool,
}

pub(super) fn s3_url(url: &str) -> Result<(String, String), String> {
    url.strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(b, k)| (b.to_owned(), k.to_owned()))
        .ok_or_else(|| format!("ERROR: invalid S3 URL {url:?}"))
}

pub(super) async fn get_object(
    shared: &Shared,
    bucket: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, String> {
    match shared.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out
            .body
            .collect()
            .await
            .map(|b| Some(b.into_bytes().to_vec()))
            .map_err(|e| format!("ERROR: S3ServiceException: reading s3://{bucket}/{key}: {e}")),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
        Err(e) => Err(format!(
            "ERROR: S3ServiceException: s3://{bucket}/{key}: {}",
            aws_sdk_s3::error::DisplayErrorContext(e)
        )),
    }
}

/// The objects a COPY reads: (bucket, key, mandatory, the manifest's `meta.content_length`).
pub(super) async fn copy_sources(
    shared: &Shared,
    spec: &CopySpec,
) -> Result<Vec<(String, String, bool, Option<u64>)>, String> {
    let (bucket, key) = s3_url(&spec.source)?;
    if spec.manifest {
        let manifest = get_object(shared, &bucket, &key).await?.ok_or_else(|| {
            format!("ERROR: S3ServiceException:The specified key does not exist.,Status 404,Error NoSuchKey (manifest {})", spec.source)
        })?;
        let manifest: Value = serde_json::from_slice(&manifest)
            .map_err(|e| format!("ERROR: Manifest file is not in correct json format: {e}"))?;
        let entries = manifest
            .get("entries")
            .and_then(Value::as_array)
            .ok_or("ERROR: Manifest file is not in correct json format: no entries")?;
        let mut sources = Vec::new();
        for entry in entries {
            let url = str_field(entry, "url")
                .ok_or("ERROR: Manifest file is not in correct json format: entry without url")?;
            let (b, k) = s3_url(url)?;
            let mandatory = entry
                .get("mandatory")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let length = entry
                .get("meta")
                .and_then(|m| m.get("content_length"))
                .and_then(Value::as_u64);
            sources.push((b, k, mandatory, length));
        }
        Ok(sources)
    } else {
        let mut sources = Vec::new();
        let mut continuation = None;
        loop {
            let page = shared
                .s3
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(&key)
                .set_continuation_token(continuation.take())
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "ERROR: S3ServiceException: {}",
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    )
                })?;
            for object in page.contents() {
                if let Some(k) = object.key() {
                    let size = object.size().and_then(|s| u64::try_from(s).ok());
                    sources.push((bucket.clone(), k.to_owned(), true, size));
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => continuation = Some(t.to_owned()),
                _ => break,
            }
        }
        if sources.is_empty() {
            return Err(format!(
                "ERROR: The specified S3 prefix '{key}' does not exist"
            ));
        }
        Ok(sources)
    }
}

/// The largest JSON object COPY reads: "4 MB" (*Using COPY to load data into SUPER columns*),
/// read generously as 4 MiB so the server is never stricter than Redshift.
pub(super) const MAX_COPY_JSON_OBJECT: usize = 4 * 1024 * 1024;
/// The longest string inside a SUPER value (*Limitations – SUPER*, without
/// `enable_large_strings_opt_in`), and the largest SUPER object.
pub(super) const MAX_SUPER_STRING: usize = 65_535;
pub(super) const MAX_SUPER_OBJECT: usize = 16 * 1024 * 1024;

/// Why Redshift could not load `value` into a SUPER column, if it could not.
pub(super) fn super_value_problem(value: &Value) -> Option<String> {
    fn long_string(value: &Value) -> Option<usize> {
        let over = |s: &str| (s.len() > MAX_SUPER_STRING).then_some(s.len());
        match value {
            Value::String(s) => over(s),
            Value::Array(items) => items.iter().find_map(long_string),
            Value::Object(map) => map
                .iter()
                .find_map(|(k, v)| over(k).or_else(|| long_string(v))),
            _ => None,
        }
    }
    if let Some(n) = long_string(value) {
        return Some(format!(
            "a string of {n} bytes in a SUPER value, over {MAX_SUPER_STRING}"
        ));
    }
    let size = value.to_string().len();
    (size > MAX_SUPER_OBJECT)
        .then(|| format!("a SUPER value of {size} bytes, over {MAX_SUPER_OBJECT}"))
}

/// Append one field in PostgreSQL's COPY text format.
pub(super) fn push_copy_field(out: &mut String, value: Option<&Value>) {
    let text = match value {
        None | Some(Value::Null) => {
            out.push_str("\\N");
            return;
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    push_copy_text(out, &text);
}

/// Append `text` escaped for PostgreSQL's COPY text format.
pub(super) fn push_copy_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
}

pub(super) async fn copy_from_s3(
    shared: &Shared,
    client: &tokio_postgres::Client,
    spec: &CopySpec,
) -> Result<i64, String> {
    let load_error = |detail: &str| {
        format!(
            "ERROR: Load into table '{}' failed. Check 'stl_load_errors' system table for details.\n  Detail: {detail}",
            spec.table.trim_matches('"')
        )
    };
    let select = match &spec.columns {
        Some(c) => c
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", "),
        None => "*".to_owned(),
    };
    let prepared = client
        .prepare(&format!("SELECT {select} FROM {} LIMIT 0", spec.table))
        .await
        .map_err(|e| pg_error(&e))?;
    let columns: Vec<String> = match &spec.columns {
        Some(c) => c.clone(),
        None => prepared
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect(),
    };
    // SUPER columns (JSONB here) and their value limits.
    let is_super: Vec<bool> = prepared
        .columns()
        .iter()
        .map(|c| *c.type_() == Type::JSONB)
        .collect();
    let mut data = String::new();
    for (bucket, key, mandatory, length) in copy_sources(shared, spec).await? {
        let Some(bytes) = get_object(shared, &bucket, &key).await? else {
            if mandatory {
                return Err(format!("ERROR: S3ServiceException:The specified key does not exist.,Status 404,Error NoSuchKey (mandatory manifest entry s3://{bucket}/{key})"));
            }
            continue;
        };
        if spec.parquet {
            let types: Vec<Type> = prepared
                .columns()
                .iter()
                .map(|c| c.type_().clone())
                .collect();
            super::columnar::copy_rows(&bucket, &key, bytes, length, &columns, &types, &mut data)
                .map_err(|detail| load_error(&detail))?;
            continue;
        }
        let text = if spec.gzip {
            if loglift_core::compress::sniff(&bytes) != loglift_core::compress::Compression::Gzip {
                return Err(load_error(&format!(
                    "s3://{bucket}/{key}: gzip: invalid header"
                )));
            }
            loglift_core::compress::decompress_within(&bytes, MAX_OBJECT)
                .map_err(|e| load_error(&format!("s3://{bucket}/{key}: {e}")))?
                .into_owned()
        } else {
            bytes
        };
        let mut stream = serde_json::Deserializer::from_slice(&text).into_iter::<Value>();
        let mut line = 0usize;
        let mut object_start = 0usize;
        while let Some(value) = stream.next() {
            let object_end = stream.byte_offset();
            let raw_bytes = text
                .get(object_start..object_end)
                .map_or(0, |b| b.trim_ascii().len());
            object_start = object_end;
            let value = value.map_err(|e| {
                load_error(&format!("s3://{bucket}/{key} object {}: {e}", line + 1))
            })?;
            if raw_bytes > MAX_COPY_JSON_OBJECT {
                return Err(load_error(&format!(
                    "s3://{bucket}/{key} object {}: a JSON object of {raw_bytes} bytes, over the {MAX_COPY_JSON_OBJECT} COPY reads (Data API test server check)",
                    line + 1
                )));
            }
            let Value::Object(object) = value else {
                return Err(load_error(&format!(
                    "s3://{bucket}/{key} object {}: not a JSON object",
                    line + 1
                )));
            };
            for (i, column) in columns.iter().enumerate() {
                if i > 0 {
                    data.push('\t');
                }
                let found = object.get(column).or_else(|| {
                    spec.ignore_case
                        .then(|| {
                            object
                                .iter()
                                .find(|(k, _)| k.to_lowercase() == column.to_lowercase())
                                .map(|(_, v)| v)
                        })
                        .flatten()
                });
                if is_super.get(i).copied().unwrap_or(false) {
                    if let Some(why) = found.and_then(super_value_problem) {
                        return Err(load_error(&format!(
                            "s3://{bucket}/{key} object {}: column {column}: {why} (Data API test server check)",
                            line + 1
                        )));
                    }
                }
                push_copy_field(&mut data, found);
            }
            data.push('\n');
            line += 1;
        }
    }
    let column_list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let copy = format!(
        "COPY {} ({}) FROM STDIN",
        spec.table,
        column_list.join(", ")
    );
    let sink = client
        .copy_in::<_, bytes::Bytes>(&copy)
        .await
        .map_err(|e| load_error(&pg_error(&e)))?;
    let mut sink = std::pin::pin!(sink);
    sink.send(bytes::Bytes::from(data))
        .await
        .map_err(|e| load_error(&pg_error(&e)))?;
    let rows = sink
        .as_mut()
        .finish()
        .await
        .map_err(|e| load_error(&pg_error(&e)))?;
    Ok(i64::try_from(rows).unwrap_or(i64::MAX))
}
