//! The built-in formats: each reads one line into named, typed fields, taken from the format's
//! own documentation (cited in docs/spec.md, "Plain-text logs"). `-` (and an empty field) is
//! NULL: the field is left out of the row. Numbers that do not parse and times in another
//! syntax are kept as text, so the column's type check rejects them like any other value.

use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};

use super::time::{self, Syntax};
use super::tokenize;

/// How a field's text becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    /// An integer when it reads as one, else a float.
    Num,
    Time(Syntax),
}

/// What one line gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Row(Map<String, Value>),
    /// A header or comment line (CloudFront `#Version` / `#Fields`, a VPC flow log header).
    Skip,
    /// The line is not in the format; why.
    NoMatch(String),
}

/// Header-defined field lists and the reference time, per file (or per log event).
#[derive(Debug, Clone)]
pub struct State {
    pub fields: Option<Vec<(String, Kind)>>,
    pub reference: DateTime<Utc>,
}

/// Put `raw` under `name` as `kind`, unless it is `-` or empty (NULL).
pub fn put(map: &mut Map<String, Value>, name: &str, raw: &str, kind: Kind) {
    if raw.is_empty() || raw == "-" {
        return;
    }
    map.insert(name.to_owned(), value(raw, kind));
}

fn value(raw: &str, kind: Kind) -> Value {
    match kind {
        Kind::Str => Value::String(raw.to_owned()),
        Kind::Num => raw
            .parse::<i64>()
            .ok()
            .map(Number::from)
            .or_else(|| raw.parse::<f64>().ok().and_then(Number::from_f64))
            .map_or_else(|| Value::String(raw.to_owned()), Value::Number),
        Kind::Time(syntax) => time::parse(raw, syntax).map_or_else(
            || Value::String(raw.to_owned()),
            |t| Value::String(time::write(t)),
        ),
    }
}

/// `ip:port` into two fields (`-` leaves both out).
fn put_address(map: &mut Map<String, Value>, ip: &str, port: &str, raw: &str) {
    match raw.rsplit_once(':') {
        Some((addr, p)) if !addr.is_empty() => {
            put(map, ip, addr, Kind::Str);
            put(map, port, p, Kind::Num);
        }
        _ => put(map, ip, raw, Kind::Str),
    }
}

/// The HTTP request line into `request` and its method, URL and protocol.
fn put_request(map: &mut Map<String, Value>, raw: &str) {
    put(map, "request", raw, Kind::Str);
    let mut parts = raw.splitn(3, ' ');
    for name in ["request_method", "request_url", "request_protocol"] {
        if let Some(part) = parts.next() {
            put(map, name, part, Kind::Str);
        }
    }
}

fn too_few(found: usize, needed: usize) -> Parsed {
    Parsed::NoMatch(format!("{found} fields, at least {needed} expected"))
}

// ---------------------------------------------------------------------------------------------
// Lambda platform lines.

/// The fields of [`lambda_platform`].
pub const LAMBDA_FIELDS: &[&str] = &[
    "type",
    "request_id",
    "version",
    "duration_ms",
    "billed_duration_ms",
    "memory_size_mb",
    "max_memory_used_mb",
    "init_duration_ms",
    "restore_duration_ms",
    "billed_restore_duration_ms",
    "timestamp",
    "level",
    "message",
];

/// `START RequestId: … Version: …`, `END RequestId: …`, `REPORT RequestId: …\tDuration: 1.2 ms\t…`
/// (type START / END / REPORT), and the runtimes' own text lines `2019-06-07T19:11:20.562Z\t<id>\t
/// INFO\t<message>` (Node.js) or `[INFO]\t<time>\t<id>\t<message>` (Python) as type LOG.
pub fn lambda_platform(line: &str) -> Parsed {
    let line = line.trim_end();
    let mut map = Map::new();
    if let Some(rest) = line.strip_prefix("START RequestId: ") {
        let mut words = rest.split_whitespace();
        let Some(id) = words.next() else {
            return Parsed::NoMatch("START without a request id".into());
        };
        map.insert("type".into(), "START".into());
        put(&mut map, "request_id", id, Kind::Str);
        if let (Some("Version:"), Some(version)) = (words.next(), words.next()) {
            put(&mut map, "version", version, Kind::Str);
        }
        return Parsed::Row(map);
    }
    if let Some(rest) = line.strip_prefix("END RequestId: ") {
        let id = rest.trim();
        if id.is_empty() || id.contains(char::is_whitespace) {
            return Parsed::NoMatch("END without a single request id".into());
        }
        map.insert("type".into(), "END".into());
        put(&mut map, "request_id", id, Kind::Str);
        return Parsed::Row(map);
    }
    if let Some(rest) = line.strip_prefix("REPORT RequestId: ") {
        return report(rest.trim_start(), map);
    }
    runtime_line(line, map)
}

fn report(rest: &str, mut map: Map<String, Value>) -> Parsed {
    let (id, mut rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if id.is_empty() {
        return Parsed::NoMatch("REPORT without a request id".into());
    }
    map.insert("type".into(), "REPORT".into());
    put(&mut map, "request_id", id, Kind::Str);
    // `Label: value unit` segments, tab-separated (spaces in copies of the docs).
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let Some((label, after)) = rest.split_once(": ") else {
            return Parsed::NoMatch(format!(
                "REPORT segment `{rest}` has no `label: value unit`"
            ));
        };
        let mut words = after.trim_start().splitn(3, char::is_whitespace);
        let (Some(number), Some(unit)) = (words.next(), words.next()) else {
            return Parsed::NoMatch(format!("REPORT `{label}` has no value and unit"));
        };
        if number.parse::<f64>().is_err() || !matches!(unit, "ms" | "MB") {
            return Parsed::NoMatch(format!("REPORT `{label}: {number} {unit}` is not a figure"));
        }
        let name = match label.trim() {
            "Duration" => Some("duration_ms"),
            "Billed Duration" => Some("billed_duration_ms"),
            "Memory Size" => Some("memory_size_mb"),
            "Max Memory Used" => Some("max_memory_used_mb"),
            "Init Duration" => Some("init_duration_ms"),
            "Restore Duration" => Some("restore_duration_ms"),
            "Billed Restore Duration" => Some("billed_restore_duration_ms"),
            _ => None,
        };
        if let Some(name) = name {
            put(&mut map, name, number, Kind::Num);
        }
        rest = words.next().unwrap_or_default();
    }
    for needed in [
        "duration_ms",
        "billed_duration_ms",
        "memory_size_mb",
        "max_memory_used_mb",
    ] {
        if !map.contains_key(needed) {
            return Parsed::NoMatch(format!("REPORT line without {needed}"));
        }
    }
    Parsed::Row(map)
}

fn runtime_line(line: &str, mut map: Map<String, Value>) -> Parsed {
    let mut parts = line.splitn(4, '\t');
    let (a, b, c, d) = (parts.next(), parts.next(), parts.next(), parts.next());
    let (time, id, level, message) = match (a, b, c, d) {
        // Python: [LEVEL]\ttime\tid\tmessage
        (Some(level), Some(time), Some(id), message)
            if level.starts_with('[') && level.ends_with(']') =>
        {
            (
                time,
                id,
                level.trim_start_matches('[').trim_end_matches(']'),
                message,
            )
        }
        // Node.js: time\tid\tLEVEL\tmessage
        (Some(time), Some(id), Some(level), message) => (time, id, level, message),
        _ => return Parsed::NoMatch("not a START, END, REPORT or runtime log line".into()),
    };
    if time::parse(time, Syntax::Rfc3339).is_none() || id.is_empty() {
        return Parsed::NoMatch("not a START, END, REPORT or runtime log line".into());
    }
    map.insert("type".into(), "LOG".into());
    put(&mut map, "timestamp", time, Kind::Time(Syntax::Rfc3339));
    put(&mut map, "request_id", id, Kind::Str);
    put(&mut map, "level", level, Kind::Str);
    if let Some(message) = message {
        put(&mut map, "message", message, Kind::Str);
    }
    Parsed::Row(map)
}

// ---------------------------------------------------------------------------------------------
// Application Load Balancer access logs.

/// ALB fields in order; `client:port`, `target:port` and `request` are split further.
const ALB: &[(&str, Kind)] = &[
    ("type", Kind::Str),
    ("time", Kind::Time(Syntax::Rfc3339)),
    ("elb", Kind::Str),
    ("client:port", Kind::Str),
    ("target:port", Kind::Str),
    ("request_processing_time", Kind::Num),
    ("target_processing_time", Kind::Num),
    ("response_processing_time", Kind::Num),
    ("elb_status_code", Kind::Num),
    ("target_status_code", Kind::Num),
    ("received_bytes", Kind::Num),
    ("sent_bytes", Kind::Num),
    ("request", Kind::Str),
    ("user_agent", Kind::Str),
    ("ssl_cipher", Kind::Str),
    ("ssl_protocol", Kind::Str),
    ("target_group_arn", Kind::Str),
    ("trace_id", Kind::Str),
    ("domain_name", Kind::Str),
    ("chosen_cert_arn", Kind::Str),
    ("matched_rule_priority", Kind::Num),
    ("request_creation_time", Kind::Time(Syntax::Rfc3339)),
    ("actions_executed", Kind::Str),
    ("redirect_url", Kind::Str),
    ("error_reason", Kind::Str),
    ("target_port_list", Kind::Str),
    ("target_status_code_list", Kind::Str),
    ("classification", Kind::Str),
    ("classification_reason", Kind::Str),
    ("conn_trace_id", Kind::Str),
];

/// Fields every ALB line has (through `classification_reason`); `conn_trace_id` and fields AWS
/// appends later are optional.
const ALB_REQUIRED: usize = 29;

/// The field names [`alb`] writes.
pub fn alb_fields() -> Vec<&'static str> {
    let mut names = vec![
        "client_ip",
        "client_port",
        "target_ip",
        "target_port",
        "request_method",
        "request_url",
        "request_protocol",
    ];
    names.extend(ALB.iter().map(|(n, _)| *n).filter(|n| !n.contains(':')));
    names
}

pub fn alb(line: &str) -> Parsed {
    let tokens = match tokenize::split(line) {
        Ok(t) => t,
        Err(e) => return Parsed::NoMatch(e.to_string()),
    };
    if tokens.len() < ALB_REQUIRED {
        return too_few(tokens.len(), ALB_REQUIRED);
    }
    let mut map = Map::new();
    for ((name, kind), raw) in ALB.iter().zip(tokens.iter()) {
        match *name {
            "client:port" => put_address(&mut map, "client_ip", "client_port", raw),
            "target:port" => put_address(&mut map, "target_ip", "target_port", raw),
            "request" => put_request(&mut map, raw),
            _ => put(&mut map, name, raw, *kind),
        }
    }
    Parsed::Row(map)
}

// ---------------------------------------------------------------------------------------------
// S3 server access logs.

const S3_ACCESS: &[(&str, Kind)] = &[
    ("bucket_owner", Kind::Str),
    ("bucket", Kind::Str),
    ("time", Kind::Time(Syntax::Clf)),
    ("remote_ip", Kind::Str),
    ("requester", Kind::Str),
    ("request_id", Kind::Str),
    ("operation", Kind::Str),
    ("key", Kind::Str),
    ("request_uri", Kind::Str),
    ("http_status", Kind::Num),
    ("error_code", Kind::Str),
    ("bytes_sent", Kind::Num),
    ("object_size", Kind::Num),
    ("total_time", Kind::Num),
    ("turn_around_time", Kind::Num),
    ("referer", Kind::Str),
    ("user_agent", Kind::Str),
    ("version_id", Kind::Str),
    ("host_id", Kind::Str),
    ("signature_version", Kind::Str),
    ("cipher_suite", Kind::Str),
    ("authentication_type", Kind::Str),
    ("host_header", Kind::Str),
    ("tls_version", Kind::Str),
    ("access_point_arn", Kind::Str),
    ("acl_required", Kind::Str),
    ("source_region", Kind::Str),
];

/// Through `version_id`: the fields older log files already had.
const S3_REQUIRED: usize = 18;

pub fn s3_access_fields() -> Vec<&'static str> {
    S3_ACCESS.iter().map(|(n, _)| *n).collect()
}

pub fn s3_access(line: &str) -> Parsed {
    positional(line, S3_ACCESS, S3_REQUIRED)
}

fn positional(line: &str, fields: &[(&str, Kind)], required: usize) -> Parsed {
    let tokens = match tokenize::split(line) {
        Ok(t) => t,
        Err(e) => return Parsed::NoMatch(e.to_string()),
    };
    if tokens.len() < required {
        return too_few(tokens.len(), required);
    }
    let mut map = Map::new();
    for ((name, kind), raw) in fields.iter().zip(tokens.iter()) {
        if *name == "request" {
            put_request(&mut map, raw);
        } else {
            put(&mut map, name, raw, *kind);
        }
    }
    Parsed::Row(map)
}

// ---------------------------------------------------------------------------------------------
// Apache / nginx combined.

const COMBINED: &[(&str, Kind)] = &[
    ("remote_addr", Kind::Str),
    ("remote_logname", Kind::Str),
    ("remote_user", Kind::Str),
    ("time", Kind::Time(Syntax::Clf)),
    ("request", Kind::Str),
    ("status", Kind::Num),
    ("body_bytes_sent", Kind::Num),
    ("http_referer", Kind::Str),
    ("http_user_agent", Kind::Str),
];

pub fn combined_fields() -> Vec<&'static str> {
    let mut names: Vec<&str> = COMBINED.iter().map(|(n, _)| *n).collect();
    names.extend(["request_method", "request_url", "request_protocol"]);
    names
}

/// `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`; fields after these (nginx's `main`
/// adds `"$http_x_forwarded_for"`) are ignored.
pub fn combined(line: &str) -> Parsed {
    positional(line, COMBINED, COMBINED.len())
}

// ---------------------------------------------------------------------------------------------
// CloudFront standard logs (tab-separated, `#Version` / `#Fields` headers).

const CLOUDFRONT: &[&str] = &[
    "date",
    "time",
    "x_edge_location",
    "sc_bytes",
    "c_ip",
    "cs_method",
    "cs_host",
    "cs_uri_stem",
    "sc_status",
    "cs_referer",
    "cs_user_agent",
    "cs_uri_query",
    "cs_cookie",
    "x_edge_result_type",
    "x_edge_request_id",
    "x_host_header",
    "cs_protocol",
    "cs_bytes",
    "time_taken",
    "x_forwarded_for",
    "ssl_protocol",
    "ssl_cipher",
    "x_edge_response_result_type",
    "cs_protocol_version",
    "fle_status",
    "fle_encrypted_fields",
    "c_port",
    "time_to_first_byte",
    "x_edge_detailed_result_type",
    "sc_content_type",
    "sc_content_len",
    "sc_range_start",
    "sc_range_end",
];

pub fn cloudfront_fields() -> Vec<&'static str> {
    let mut names = CLOUDFRONT.to_vec();
    names.push("timestamp");
    names
}

fn cloudfront_kind(name: &str) -> Kind {
    match name {
        "sc_bytes"
        | "sc_status"
        | "cs_bytes"
        | "time_taken"
        | "fle_encrypted_fields"
        | "c_port"
        | "time_to_first_byte"
        | "sc_content_len"
        | "sc_range_start"
        | "sc_range_end" => Kind::Num,
        _ => Kind::Str,
    }
}

/// `cs(User-Agent)` → `cs_user_agent`, `x-edge-location` → `x_edge_location`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '-' | '(' => out.push('_'),
            ')' => {}
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

pub fn cloudfront(state: &mut State, line: &str) -> Parsed {
    if let Some(header) = line.strip_prefix('#') {
        if let Some(list) = header.strip_prefix("Fields:") {
            state.fields = Some(
                list.split_whitespace()
                    .map(|f| {
                        let name = snake(f);
                        let kind = cloudfront_kind(&name);
                        (name, kind)
                    })
                    .collect(),
            );
        }
        return Parsed::Skip;
    }
    let line = line.strip_suffix('\r').unwrap_or(line);
    let values: Vec<&str> = line.split('\t').collect();
    let mut map = Map::new();
    let mut date_time = (None, None);
    let mut read = |name: &str, raw: &str, map: &mut Map<String, Value>| {
        match name {
            "date" => date_time.0 = Some(raw.to_owned()),
            "time" => date_time.1 = Some(raw.to_owned()),
            _ => {}
        }
        put(map, name, raw, cloudfront_kind(name));
    };
    match &state.fields {
        Some(fields) => {
            if values.len() < fields.len() {
                return too_few(values.len(), fields.len());
            }
            for ((name, _), raw) in fields.iter().zip(&values) {
                read(name, raw, &mut map);
            }
        }
        None => {
            if values.len() < CLOUDFRONT.len() {
                return too_few(values.len(), CLOUDFRONT.len());
            }
            for (name, raw) in CLOUDFRONT.iter().zip(&values) {
                read(name, raw, &mut map);
            }
        }
    }
    if let (Some(d), Some(t)) = date_time {
        match time::date_and_time(&d, &t) {
            Some(ts) => map.insert("timestamp".into(), Value::String(time::write(ts))),
            None => map.insert("timestamp".into(), Value::String(format!("{d} {t}"))),
        };
    }
    Parsed::Row(map)
}

// ---------------------------------------------------------------------------------------------
// VPC flow logs.

/// The default (version 2) format.
const VPC_DEFAULT: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// Names a VPC header line is recognised by.
const VPC_KNOWN: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "region",
    "az-id",
    "flow-direction",
    "traffic-path",
];

pub fn vpc_flow_fields() -> Vec<String> {
    VPC_DEFAULT.iter().map(|n| snake(n)).collect()
}

fn vpc_kind(name: &str) -> Kind {
    match name {
        "version" | "srcport" | "dstport" | "protocol" | "packets" | "bytes" | "tcp_flags"
        | "traffic_path" | "sublocation_id" => Kind::Num,
        "start" | "end" => Kind::Time(Syntax::EpochSeconds),
        _ => Kind::Str,
    }
}

fn is_vpc_header(tokens: &[&str]) -> bool {
    tokens.iter().all(|t| {
        t.starts_with(|c: char| c.is_ascii_lowercase())
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }) && tokens.iter().any(|t| VPC_KNOWN.contains(t))
}

/// Space-separated, no quoting; a header line (`version account-id …`, written first in files
/// delivered to S3) names the fields of the lines after it.
pub fn vpc_flow(state: &mut State, line: &str) -> Parsed {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    if is_vpc_header(&tokens) {
        state.fields = Some(
            tokens
                .iter()
                .map(|t| {
                    let name = snake(t);
                    let kind = vpc_kind(&name);
                    (name, kind)
                })
                .collect(),
        );
        return Parsed::Skip;
    }
    let mut map = Map::new();
    match &state.fields {
        Some(fields) => {
            if tokens.len() != fields.len() {
                return Parsed::NoMatch(format!(
                    "{} fields, the header names {}",
                    tokens.len(),
                    fields.len()
                ));
            }
            for ((name, kind), raw) in fields.iter().zip(&tokens) {
                put(&mut map, name, raw, *kind);
            }
        }
        None => {
            if tokens.len() != VPC_DEFAULT.len() {
                return Parsed::NoMatch(format!(
                    "{} fields, the default format has {}",
                    tokens.len(),
                    VPC_DEFAULT.len()
                ));
            }
            for (name, raw) in VPC_DEFAULT.iter().zip(&tokens) {
                let name = snake(name);
                let kind = vpc_kind(&name);
                put(&mut map, &name, raw, kind);
            }
        }
    }
    Parsed::Row(map)
}

// ---------------------------------------------------------------------------------------------
// Syslog.

pub const SYSLOG_5424_FIELDS: &[&str] = &[
    "facility",
    "severity",
    "version",
    "timestamp",
    "hostname",
    "app_name",
    "procid",
    "msgid",
    "structured_data",
    "message",
];

pub const SYSLOG_3164_FIELDS: &[&str] = &[
    "facility",
    "severity",
    "timestamp",
    "hostname",
    "app_name",
    "procid",
    "message",
];

/// `<PRI>` at the start: (facility, severity, rest).
fn priority(line: &str) -> Option<(u8, u8, &str)> {
    let rest = line.strip_prefix('<')?;
    let (digits, rest) = rest.split_once('>')?;
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pri: u8 = digits.parse().ok().filter(|p| *p <= 191)?;
    Some((pri / 8, pri % 8, rest))
}

fn put_priority(map: &mut Map<String, Value>, facility: u8, severity: u8) {
    map.insert("facility".into(), facility.into());
    map.insert("severity".into(), severity.into());
}

/// RFC 5424: `<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`.
pub fn syslog_5424(line: &str) -> Parsed {
    let no = |why: &str| Parsed::NoMatch(format!("not RFC 5424 syslog: {why}"));
    let Some((facility, severity, rest)) = priority(line) else {
        return no("no <PRI> (0-191)");
    };
    let Some((version, mut rest)) = rest.split_once(' ') else {
        return no("no VERSION");
    };
    if version.is_empty()
        || version.starts_with('0')
        || !version.bytes().all(|b| b.is_ascii_digit())
    {
        return no("VERSION is not a number from 1");
    }
    let mut map = Map::new();
    put_priority(&mut map, facility, severity);
    put(&mut map, "version", version, Kind::Num);
    for name in ["timestamp", "hostname", "app_name", "procid", "msgid"] {
        let Some((field, after)) = rest.split_once(' ') else {
            return no(&format!("the header ends before {name}"));
        };
        if field.is_empty() {
            return no(&format!("{name} is empty"));
        }
        if name == "timestamp" {
            put(&mut map, name, field, Kind::Time(Syntax::Rfc3339));
        } else {
            put(&mut map, name, field, Kind::Str);
        }
        rest = after;
    }
    let (sd, rest) = match structured_data(rest) {
        Ok(split) => split,
        Err(why) => return no(why),
    };
    put(&mut map, "structured_data", sd, Kind::Str);
    match rest.strip_prefix(' ') {
        Some(message) => {
            let message = message.strip_prefix('\u{feff}').unwrap_or(message);
            put(&mut map, "message", message, Kind::Str);
        }
        None if rest.is_empty() => {}
        None => return no("STRUCTURED-DATA is not followed by a space"),
    }
    Parsed::Row(map)
}

/// `-` or one or more `[id param="value" …]` elements (`\"`, `\\` and `\]` escaped in values):
/// the raw text and what follows it.
fn structured_data(text: &str) -> Result<(&str, &str), &'static str> {
    if let Some(rest) = text.strip_prefix('-') {
        return Ok(("-", rest));
    }
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'[') {
        return Err("STRUCTURED-DATA is neither `-` nor `[…]`");
    }
    let mut i = 0;
    while bytes.get(i) == Some(&b'[') {
        let mut quoted = false;
        i += 1;
        loop {
            match bytes.get(i) {
                None => return Err("a STRUCTURED-DATA element is never closed"),
                Some(b'\\') if quoted => i += 2,
                Some(b'"') => {
                    quoted = !quoted;
                    i += 1;
                }
                Some(b']') if !quoted => {
                    i += 1;
                    break;
                }
                Some(_) => i += 1,
            }
        }
    }
    Ok((
        text.get(..i).unwrap_or_default(),
        text.get(i..).unwrap_or_default(),
    ))
}

/// RFC 3164: `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`. The time has no year or zone: the
/// year is the reference's (see [`time::bsd`]), the zone UTC. A line without a `TAG:` keeps all
/// of its content as the message.
pub fn syslog_3164(state: &State, line: &str) -> Parsed {
    let no = |why: &str| Parsed::NoMatch(format!("not RFC 3164 syslog: {why}"));
    let Some((facility, severity, rest)) = priority(line) else {
        return no("no <PRI> (0-191)");
    };
    let (Some(stamp), Some(rest)) = (rest.get(..15), rest.get(15..)) else {
        return no("no `Mmm dd hh:mm:ss` TIMESTAMP");
    };
    let Some(t) = time::bsd(stamp, state.reference) else {
        return no("no `Mmm dd hh:mm:ss` TIMESTAMP");
    };
    let Some(rest) = rest.strip_prefix(' ') else {
        return no("no HOSTNAME");
    };
    let (host, content) = rest.split_once(' ').unwrap_or((rest, ""));
    if host.is_empty() {
        return no("no HOSTNAME");
    }
    let mut map = Map::new();
    put_priority(&mut map, facility, severity);
    map.insert("timestamp".into(), Value::String(time::write(t)));
    put(&mut map, "hostname", host, Kind::Str);
    let tag_end = content
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')))
        .unwrap_or(content.len());
    let (tag, after) = content.split_at(tag_end);
    let (pid, after) = match after.strip_prefix('[').and_then(|a| a.split_once(']')) {
        Some((pid, after)) => (Some(pid), after),
        None => (None, after),
    };
    match after.strip_prefix(':') {
        Some(message) if !tag.is_empty() => {
            put(&mut map, "app_name", tag, Kind::Str);
            if let Some(pid) = pid {
                put(&mut map, "procid", pid, Kind::Str);
            }
            put(
                &mut map,
                "message",
                message.strip_prefix(' ').unwrap_or(message),
                Kind::Str,
            );
        }
        _ => put(&mut map, "message", content, Kind::Str),
    }
    Parsed::Row(map)
}
