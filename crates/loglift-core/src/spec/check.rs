//! What a spec must hold beyond its shape: identifiers, stream names, paths, matches, columns, identities and jobs, each error located in the YAML.

use super::*;

/// `[a-z_][a-z0-9_]*`, at most 127 bytes: safe to splice into SQL and S3 keys unquoted.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && s.len() <= 127
}

pub(super) fn is_stream_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

pub(super) fn is_dotted_path(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(|part| !part.is_empty())
}

/// The checks serde cannot make. Returns `(path, message)` pairs.
pub(super) fn check(spec: &Spec) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut err = |path: String, message: String| errors.push((path, message));
    if spec.version == 0 {
        err("version".into(), "must be 1 or more".into());
    }
    if spec.pipelines.is_empty() {
        err("pipelines".into(), "at least one pipeline is needed".into());
    }
    let mut names = BTreeSet::new();
    let mut prefixes: Vec<(usize, &str)> = Vec::new();
    let mut tables: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, p) in spec.pipelines.iter().enumerate() {
        let at = |field: &str| format!("pipelines[{i}].{field}");
        if !is_identifier(&p.name) || p.name.len() > 63 {
            err(at("name"), format!("`{}` must be lowercase letters, digits and `_`, starting with a letter or `_`, at most 63 bytes", p.name));
        }
        if !names.insert(p.name.as_str()) {
            err(
                at("name"),
                format!("pipeline `{}` is declared twice", p.name),
            );
        }
        let table_parts: Vec<&str> = p.table.split('.').collect();
        if table_parts.len() > 2 || !table_parts.iter().all(|part| is_identifier(part)) {
            err(
                at("table"),
                format!(
                    "`{}` must be `schema.table` or `table` of lowercase identifiers",
                    p.table
                ),
            );
        }
        if let Some(other) = tables.insert(p.table.as_str(), i) {
            err(
                at("table"),
                format!(
                    "table `{}` is already the destination of pipelines[{other}]",
                    p.table
                ),
            );
        }
        check_match(p, &at, &mut err);
        if let Some(prefix) = p.matcher.s3_prefix.as_deref() {
            for (j, other) in &prefixes {
                if prefix.starts_with(other) || other.starts_with(prefix) {
                    err(at("match.s3_prefix"), format!("`{prefix}` overlaps pipelines[{j}]'s `{other}`: S3 notification filters must not overlap"));
                }
            }
            prefixes.push((i, prefix));
        }
        check_columns(p, &at, &mut err);
        check_identity(p, &at, &mut err);
        crate::textlog::check(p, &at, &mut err);
        if let Some(et) = p.event_time.as_deref() {
            match p.column(et) {
                None => err(
                    at("event_time"),
                    format!("`{et}` is not a column of this pipeline"),
                ),
                Some(c) if c.kind != ColumnType::Timestamp => err(
                    at("event_time"),
                    format!("column `{et}` must have type timestamp"),
                ),
                Some(_) => {}
            }
        }
        for (j, job) in p.jobs.iter().enumerate() {
            let at_job = |field: &str| at(&format!("jobs[{j}].{field}"));
            match job {
                Job::SearchKeywordRevenue { .. } => {
                    if p.format != Format::Tsv {
                        err(at_job("kind"), "search_keyword_revenue reads hit-level TSV: the pipeline's format must be tsv".into());
                    }
                    for needed in [
                        "hit_time_gmt",
                        "ip",
                        "event_list",
                        "page_url",
                        "product_list",
                        "referrer",
                    ] {
                        if p.columns.iter().all(|c| c.source_path() != needed) {
                            err(
                                at_job("kind"),
                                format!(
                                    "search_keyword_revenue needs a column with source `{needed}`"
                                ),
                            );
                        }
                    }
                }
                Job::ConsolidateByPriority {
                    key,
                    partner_field,
                    priority,
                    max_file_bytes,
                } => {
                    for (field, value) in [("key", key), ("partner_field", partner_field)] {
                        if !is_dotted_path(value) {
                            err(at_job(field), "must be a field name or dotted path".into());
                        }
                    }
                    if *max_file_bytes < 1024 {
                        err(at_job("max_file_bytes"), "must be at least 1024".into());
                    }
                    match priority {
                        PrioritySource::List(list) if list.is_empty() => err(
                            at_job("priority"),
                            "the priority list is empty: no partner could win".into(),
                        ),
                        PrioritySource::Dynamodb {
                            table,
                            attribute,
                            key_name,
                            ..
                        } if table.is_empty() || attribute.is_empty() || key_name.is_empty() => {
                            err(
                                at_job("priority"),
                                "dynamodb needs table, key_name, key_value and attribute".into(),
                            )
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    errors
}

pub(super) fn check_match(
    p: &Pipeline,
    at: &dyn Fn(&str) -> String,
    err: &mut dyn FnMut(String, String),
) {
    let m = &p.matcher;
    if m.stream.is_none() && m.topic.is_none() && m.log_group.is_none() && m.s3_prefix.is_none() {
        err(
            at("match"),
            "give at least one of stream, topic, log_group, s3_prefix".into(),
        );
    }
    if let Some(stream) = m.stream.as_deref() {
        if !is_stream_name(stream) {
            err(
                at("match.stream"),
                format!("`{stream}` is not a Kinesis stream name ([A-Za-z0-9_.-], 1-128)"),
            );
        }
    }
    if let Some(topic) = &m.topic {
        if !is_dotted_path(&topic.field) {
            err(
                at("match.topic.field"),
                "must be a field name or dotted path".into(),
            );
        }
        if let Err(e) = glob::Pattern::new(&topic.glob) {
            err(at("match.topic.glob"), format!("not a valid glob: {e}"));
        }
    }
    if let Some(group) = m.log_group.as_deref() {
        if let Err(e) = glob::Pattern::new(group) {
            err(at("match.log_group"), format!("not a valid glob: {e}"));
        }
        if p.format != Format::CloudwatchLogs {
            err(
                at("format"),
                "a pipeline matched by log_group must have format cloudwatch_logs".into(),
            );
        }
    }
    if let Some(prefix) = m.s3_prefix.as_deref() {
        let ok = prefix.ends_with('/')
            && !prefix.starts_with('/')
            && prefix
                .split('/')
                .filter(|s| !s.is_empty())
                .all(|s| s != ".." && s != ".")
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '='));
        if !ok {
            err(
                at("match.s3_prefix"),
                format!(
                    "`{prefix}` must be a relative key prefix ending in `/` ([A-Za-z0-9_.=/-])"
                ),
            );
        }
        if m.stream.is_some() || m.log_group.is_some() {
            err(
                at("match"),
                "s3_prefix matches files; it cannot be combined with stream or log_group".into(),
            );
        }
    } else if p.format == Format::Tsv {
        err(
            at("format"),
            "tsv is read from files only: the pipeline needs match.s3_prefix".into(),
        );
    }
    if p.format == Format::CloudwatchLogs && m.log_group.is_none() {
        err(
            at("match.log_group"),
            "format cloudwatch_logs needs a log_group glob".into(),
        );
    }
}

pub(super) fn check_columns(
    p: &Pipeline,
    at: &dyn Fn(&str) -> String,
    err: &mut dyn FnMut(String, String),
) {
    if p.columns.is_empty() {
        err(at("columns"), "at least one column is needed".into());
    }
    let mut seen = BTreeSet::new();
    for (k, c) in p.columns.iter().enumerate() {
        let at_col = |field: &str| at(&format!("columns[{k}].{field}"));
        if !is_identifier(&c.name) {
            err(
                at_col("name"),
                format!(
                    "`{}` must be a lowercase identifier ([a-z_][a-z0-9_]*, at most 127 bytes)",
                    c.name
                ),
            );
        }
        if SYSTEM_COLUMNS.contains(&c.name.as_str()) {
            err(
                at_col("name"),
                format!(
                    "`{}` is a system column of every curated row; rename it and set source: {}",
                    c.name, c.name
                ),
            );
        }
        if !seen.insert(c.name.as_str()) {
            err(
                at_col("name"),
                format!("column `{}` is declared twice", c.name),
            );
        }
        if let Some(source) = c.source.as_deref() {
            if !is_dotted_path(source) {
                err(
                    at_col("source"),
                    "must be a field name or dotted path".into(),
                );
            }
        }
        match (c.kind, c.max_bytes) {
            (ColumnType::String, Some(n)) if n == 0 || n > MAX_VARCHAR_BYTES => err(
                at_col("max_bytes"),
                format!("must be 1 to {MAX_VARCHAR_BYTES} for a string column"),
            ),
            (ColumnType::Json, Some(n)) if n == 0 || n > p.curated.format.max_json_bytes() => {
                let most = p.curated.format.max_json_bytes();
                let why = match p.curated.format {
                    CuratedFormat::Parquet => " of a parquet pipeline (Redshift stages its JSON text in VARCHAR(65535); `curated: { format: ndjson }` takes up to 4000000)",
                    CuratedFormat::Ndjson => "",
                };
                err(
                    at_col("max_bytes"),
                    format!("must be 1 to {most} for a json column{why}"),
                )
            }
            (
                ColumnType::Int | ColumnType::Float | ColumnType::Bool | ColumnType::Timestamp,
                Some(_),
            ) => err(
                at_col("max_bytes"),
                "only string and json columns take max_bytes".into(),
            ),
            _ => {}
        }
        if c.time_format.is_some() && c.kind != ColumnType::Timestamp {
            err(
                at_col("time_format"),
                "only timestamp columns take time_format".into(),
            );
        }
    }
}

pub(super) fn check_identity(
    p: &Pipeline,
    at: &dyn Fn(&str) -> String,
    err: &mut dyn FnMut(String, String),
) {
    match &p.identity {
        Identity::Field(path) if !is_dotted_path(path) => err(
            at("identity.field"),
            "must be a field name or dotted path".into(),
        ),
        Identity::Hash(fields) if fields.is_empty() => {
            err(at("identity.hash"), "list at least one field".into())
        }
        Identity::Hash(fields) if fields.iter().any(|f| !is_dotted_path(f)) => err(
            at("identity.hash"),
            "every entry must be a field name or dotted path".into(),
        ),
        Identity::LogEventId if p.format != Format::CloudwatchLogs => err(
            at("identity"),
            "log_event_id needs format cloudwatch_logs".into(),
        ),
        _ => {}
    }
}

/// Find the line of a field path (`pipelines[2].columns[0].type`) in block-style YAML, falling back
/// to the nearest enclosing item found. Best effort: the path is always reported as well.
pub(super) fn locate(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let is_content = |l: &str| {
        let t = l.trim_start();
        !t.is_empty() && !t.starts_with('#')
    };
    // Current search window [start, end) of lines and the line found so far.
    let (mut start, mut end, mut found) = (0usize, lines.len(), None);
    for segment in path.split('.') {
        let (key, index) = match segment.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        // The key's line: the first line in the window whose text starts with `key:` (possibly
        // after `- ` or inside a flow mapping `{ key: ... }`).
        let key_line = (start..end).find(|&n| {
            lines.get(n).is_some_and(|l| {
                let t = l.trim_start().trim_start_matches("- ").trim_start();
                t.starts_with(&format!("{key}:"))
                    || l.contains(&format!("{{ {key}:"))
                    || l.contains(&format!(", {key}:"))
            })
        });
        let Some(kl) = key_line else {
            return found.map(|n: usize| n + 1);
        };
        found = Some(kl);
        let key_indent = lines.get(kl).map(|l| indent(l)).unwrap_or(0);
        // The key's block ends at the next content line indented no deeper than the key.
        let block_end = (kl + 1..end)
            .find(|&n| {
                lines.get(n).is_some_and(|l| {
                    is_content(l) && indent(l) <= key_indent && !l.trim_start().starts_with("- ")
                })
            })
            .unwrap_or(end);
        let block_end = block_end.max(kl + 1);
        match index {
            None => {
                start = kl;
                end = block_end;
            }
            Some(i) => {
                // Items: lines starting with `- ` at the shallowest indent within the block.
                let items: Vec<usize> = (kl + 1..block_end)
                    .filter(|&n| {
                        lines
                            .get(n)
                            .is_some_and(|l| l.trim_start().starts_with("- "))
                    })
                    .collect();
                let item_indent = items
                    .iter()
                    .filter_map(|&n| lines.get(n).map(|l| indent(l)))
                    .min();
                let items: Vec<usize> = items
                    .into_iter()
                    .filter(|&n| lines.get(n).map(|l| indent(l)) == item_indent)
                    .collect();
                let Some(&item) = items.get(i) else {
                    return found.map(|n| n + 1);
                };
                found = Some(item);
                start = item;
                end = items.get(i + 1).copied().unwrap_or(block_end);
            }
        }
    }
    found.map(|n| n + 1)
}
