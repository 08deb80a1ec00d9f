//! Reading an object's rows: NDJSON lines, a JSON array element by element, TSV with its header, text lines.

use super::*;

pub(super) fn read_lines<'r, R, S, F>(
    reader: R,
    max_line: usize,
    run: &mut Run<'r>,
    sink: &mut S,
    mut handle: F,
) -> Step<S::Error>
where
    R: BufRead,
    S: Sink,
    F: FnMut(&mut Run<'r>, &mut S, u64, &[u8]) -> Step<S::Error>,
{
    let mut lines = LineReader::new(reader, max_line);
    loop {
        match lines.next_line().map_err(Stop::Read)? {
            None => return Ok(()),
            Some(Line::Text { number, bytes }) => {
                run.last_line = number;
                run.outcome.bytes_in += bytes.len() as u64 + 1;
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                handle(run, sink, number, bytes)?;
            }
            Some(Line::TooLong { number, len, head }) => {
                too_long(run, sink, max_line, number, len, head)?;
            }
        }
    }
}

/// A line over `max` bytes: counted, and rejected with the start of it.
fn too_long<S: Sink>(
    run: &mut Run<'_>,
    sink: &mut S,
    max: usize,
    number: u64,
    len: u64,
    head: &[u8],
) -> Step<S::Error> {
    run.last_line = number;
    run.outcome.bytes_in += len + 1;
    let rejection = Rejection::new(
        Reason::TooLarge,
        format!("line is {len} bytes, over the {max}-byte limit"),
    );
    run.reject(sink, Position::line(number), &rejection, head)
}

pub(super) fn read_array<R: BufRead, S: Sink>(
    reader: R,
    run: &mut Run<'_>,
    sink: &mut S,
) -> Step<S::Error> {
    let max = run.ctx.limits.max_line;
    let mut elements = ArrayReader::new(reader, max);
    loop {
        match elements.next_element().map_err(Stop::Read)? {
            None => return Ok(()),
            Some(Element::Value { index, bytes }) => {
                run.outcome.bytes_in += bytes.len() as u64;
                run.last_line = index + 1;
                let position = Position::default().event(saturate(index));
                match parse_object(bytes) {
                    Ok(event) => run.landing_event(sink, position, index + 1, event, bytes)?,
                    Err(rejection) => run.reject(sink, position, &rejection, bytes)?,
                }
            }
            Some(Element::TooLong { index, bytes }) => {
                run.outcome.bytes_in += bytes;
                let rejection = Rejection::new(
                    Reason::TooLarge,
                    format!("array element is {bytes} bytes, over the {max}-byte limit"),
                );
                run.reject(
                    sink,
                    Position::default().event(saturate(index)),
                    &rejection,
                    &[],
                )?;
            }
            Some(Element::Malformed { index, message }) => {
                let rejection = Rejection::new(Reason::InvalidJson, message);
                run.reject(
                    sink,
                    Position::default().event(saturate(index)),
                    &rejection,
                    &[],
                )?;
            }
        }
    }
}

pub(super) fn read_tsv<R: BufRead, S: Sink>(
    reader: R,
    run: &mut Run<'_>,
    sink: &mut S,
) -> Step<S::Error> {
    let max = run.ctx.limits.max_line;
    let mut lines = LineReader::new(reader, max);
    let mut header: Option<Vec<String>> = None;
    loop {
        let (number, bytes) = match lines.next_line().map_err(Stop::Read)? {
            None => return Ok(()),
            Some(Line::Text { number, bytes }) => (number, bytes),
            Some(Line::TooLong { number, len, head }) => {
                too_long(run, sink, max, number, len, head)?;
                continue;
            }
        };
        run.last_line = number;
        run.outcome.bytes_in += bytes.len() as u64 + 1;
        let Some(names) = header.as_ref() else {
            match parse_header(bytes) {
                Ok(names) => header = Some(names),
                Err(rejection) => {
                    // Without a header no line can be read: one reject for the file.
                    run.reject(sink, Position::line(number), &rejection, bytes)?;
                    return Ok(());
                }
            }
            continue;
        };
        if bytes.is_empty() {
            continue;
        }
        match tsv_row(names, bytes) {
            Ok(event) => run.landing_event(sink, Position::line(number), number, event, bytes)?,
            Err(rejection) => run.reject(sink, Position::line(number), &rejection, bytes)?,
        }
    }
}

pub(super) fn parse_header(bytes: &[u8]) -> Result<Vec<String>, Rejection> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Rejection::new(Reason::InvalidUtf8, format!("TSV header: {e}")))?;
    let names: Vec<String> = text
        .trim_start_matches('\u{feff}')
        .split('\t')
        .map(|s| s.trim().to_owned())
        .collect();
    let mut seen = std::collections::HashSet::new();
    for name in &names {
        if name.is_empty() || !seen.insert(name.as_str()) {
            return Err(Rejection::new(
                Reason::BadTsv,
                format!("TSV header names must be unique and non-empty; `{name}` is not"),
            ));
        }
    }
    Ok(names)
}

pub(super) fn tsv_row(names: &[String], bytes: &[u8]) -> Result<Map<String, Value>, Rejection> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Rejection::new(Reason::InvalidUtf8, e.to_string()))?;
    let fields = text.split('\t').count();
    if fields != names.len() {
        return Err(Rejection::new(
            Reason::BadTsv,
            format!("{fields} fields, the header has {}", names.len()),
        ));
    }
    Ok(names
        .iter()
        .zip(text.split('\t'))
        .map(|(name, value)| (name.clone(), Value::String(value.to_owned())))
        .collect())
}

pub(super) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Rejection::new(
            Reason::InvalidJson,
            format!("expected a JSON object, got {}", json_kind(&other)),
        )),
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            Err(Rejection::new(Reason::InvalidJson, e.to_string()))
        }
        Err(e) => match std::str::from_utf8(bytes) {
            Err(utf8) => Err(Rejection::new(Reason::InvalidUtf8, utf8.to_string())),
            Ok(_) => Err(Rejection::new(Reason::InvalidJson, e.to_string())),
        },
    }
}

pub(super) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn saturate(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
