//! Each built-in format with lines from its documentation (cited in docs/spec.md), empty (`-`)
//! fields, quoted fields with spaces and escaped quotes, and a truncated line.

use chrono::TimeZone;
use serde_json::{json, Value};

use super::*;
use crate::spec::Spec;

fn pipeline(text: &str, format: &str, columns: &str) -> Spec {
    let matcher = if format == "text" {
        "{ s3_prefix: logs/ }"
    } else {
        "{ log_group: \"/aws/lambda/*\" }"
    };
    let yaml = format!(
        "version: 1\npipelines:\n  - name: p\n    match: {matcher}\n    format: {format}\n    \
         table: t.p\n    identity: {{ hash: [x] }}\n    text: {text}\n    columns:\n{columns}"
    );
    Spec::parse(&yaml).unwrap_or_else(|e| panic!("{yaml}\n{e:?}"))
}

fn reference() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Read `lines` with a built-in (a pipeline holding one `message` column, unless `unmatched`).
fn read(format: &str, lines: &[&str]) -> Vec<Line> {
    let field = serde_json::from_value::<TextFormat>(json!(format))
        .ok()
        .and_then(TextFormat::fields)
        .and_then(|f| f.into_iter().next())
        .unwrap_or_else(|| "message".into());
    let spec = pipeline(
        &format!("{{ format: {format} }}"),
        "text",
        &format!("      - {{ name: c, type: string, source: {field} }}\n"),
    );
    read_with(&spec, lines)
}

fn read_with(spec: &Spec, lines: &[&str]) -> Vec<Line> {
    let p = &spec.pipelines[0];
    let text = p.text.as_ref().unwrap();
    let parser = text.parser(p).unwrap();
    let mut reader = parser.reader(reference());
    lines.iter().map(|l| reader.line(l)).collect()
}

fn row(line: &Line) -> Value {
    match line {
        Line::Row(map) => Value::Object(map.clone()),
        other => panic!("expected a row, got {other:?}"),
    }
}

fn assert_no_match(line: &Line, input: &str) {
    match line {
        Line::Reject(r) => assert_eq!(r.reason, Reason::NoMatch, "{input}: {r:?}"),
        other => panic!("{input}: expected no_match, got {other:?}"),
    }
}

#[test]
fn lambda_platform_lines() {
    // docs.aws.amazon.com/lambda/latest/dg/python-logging.html and nodejs-logging.html.
    let lines = [
        "START RequestId: 8f507cfc-xmpl-4697-b07a-ac58fc914c95 Version: $LATEST\n",
        "END RequestId: 8f507cfc-xmpl-4697-b07a-ac58fc914c95\n",
        "REPORT RequestId: 8f507cfc-xmpl-4697-b07a-ac58fc914c95\tDuration: 15.74 ms\tBilled Duration: 147 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\tInit Duration: 130.49 ms\t\n",
        "REPORT RequestId: 8f507cfc-xmpl-4697-b07a-ac58fc914c95  Duration: 15.74 ms  Billed Duration: 16 ms Memory Size: 128 MB Max Memory Used: 56 MB",
        "2019-06-07T19:11:20.562Z\tc793869b-ee49-115b-a5b6-4fd21e8dedac\tINFO\tENVIRONMENT VARIABLES \"quoted\"",
        "[WARNING]\t2019-06-07T19:11:20.564Z\tc793869b-ee49-115b-a5b6-4fd21e8dedac\tEvent not processed.",
        "REPORT RequestId: 8f507cfc-xmpl-4697-b07a-ac58fc914c95\tDuration: 15.74 ms\tBilled Dur",
        "## EVENT",
    ];
    let out = read("lambda_platform", &lines);
    assert_eq!(
        row(&out[0]),
        json!({"type": "START", "request_id": "8f507cfc-xmpl-4697-b07a-ac58fc914c95", "version": "$LATEST"})
    );
    assert_eq!(
        row(&out[1]),
        json!({"type": "END", "request_id": "8f507cfc-xmpl-4697-b07a-ac58fc914c95"})
    );
    assert_eq!(
        row(&out[2]),
        json!({"type": "REPORT", "request_id": "8f507cfc-xmpl-4697-b07a-ac58fc914c95",
               "duration_ms": 15.74, "billed_duration_ms": 147, "memory_size_mb": 128,
               "max_memory_used_mb": 56, "init_duration_ms": 130.49})
    );
    assert_eq!(
        row(&out[3])["billed_duration_ms"],
        json!(16),
        "space-separated copy"
    );
    assert_eq!(
        row(&out[4]),
        json!({"type": "LOG", "timestamp": "2019-06-07T19:11:20.562Z",
               "request_id": "c793869b-ee49-115b-a5b6-4fd21e8dedac", "level": "INFO",
               "message": "ENVIRONMENT VARIABLES \"quoted\""})
    );
    assert_eq!(row(&out[5])["level"], json!("WARNING"));
    assert_no_match(&out[6], lines[6]);
    assert_no_match(&out[7], lines[7]);
}

#[test]
fn unmatched_message_keeps_the_line() {
    let spec = pipeline(
        "{ format: lambda_platform, unmatched: message }",
        "cloudwatch_logs",
        "      - { name: message, type: string }\n",
    );
    let out = read_with(&spec, &["## EVENT"]);
    assert_eq!(row(&out[0]), json!({"message": "## EVENT"}));
}

const ALB_DOC: &str = r#"http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90"#;

#[test]
fn alb_access_log_lines() {
    // docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html
    let quoted_agent = ALB_DOC.replace(
        r#""curl/7.46.0""#,
        r#""Mozilla/5.0 (X11; \"quoted\" agent)""#,
    );
    let error_line = r#"https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 - -1 -1 -1 502 - 34 366 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2018-07-02T22:22:48.364000Z "forward" "-" "LambdaInvalidResponse" "-" "-" "-" "-""#;
    let truncated = &ALB_DOC[..180];
    let out = read(
        "alb",
        &[ALB_DOC, &quoted_agent, error_line, truncated, "http 2018 x"],
    );
    let first = row(&out[0]);
    assert_eq!(first["time"], json!("2018-07-02T22:23:00.186641Z"));
    assert_eq!(first["client_ip"], json!("192.168.131.39"));
    assert_eq!(first["client_port"], json!(2817));
    assert_eq!(first["target_port"], json!(80));
    assert_eq!(first["request_processing_time"], json!(0.0));
    assert_eq!(first["elb_status_code"], json!(200));
    assert_eq!(first["sent_bytes"], json!(366));
    assert_eq!(
        first["request"],
        json!("GET http://www.example.com:80/ HTTP/1.1")
    );
    assert_eq!(first["request_method"], json!("GET"));
    assert_eq!(first["request_url"], json!("http://www.example.com:80/"));
    assert_eq!(first["request_protocol"], json!("HTTP/1.1"));
    assert_eq!(first["user_agent"], json!("curl/7.46.0"));
    assert_eq!(first["conn_trace_id"], json!("TID_1234abcd5678ef90"));
    assert!(first.get("ssl_cipher").is_none(), "`-` is NULL: {first}");
    assert!(first.get("domain_name").is_none(), "quoted `-` is NULL too");
    assert_eq!(
        row(&out[1])["user_agent"],
        json!(r#"Mozilla/5.0 (X11; "quoted" agent)"#)
    );
    let error = row(&out[2]);
    assert_eq!(error["target_processing_time"], json!(-1));
    assert!(error.get("target_ip").is_none() && error.get("target_status_code").is_none());
    assert_eq!(error["error_reason"], json!("LambdaInvalidResponse"));
    assert!(
        error.get("conn_trace_id").is_none(),
        "older lines end earlier"
    );
    assert_no_match(&out[3], truncated);
    assert_no_match(&out[4], "http 2018 x");
}

#[test]
fn s3_server_access_log_lines() {
    // docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html
    let doc = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /amzn-s3-demo-bucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com TLSV1.2 arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP Yes us-east-1"#;
    let spaced = doc.replace(
        r#""S3Console/0.4""#,
        r#""aws-cli/2.0 Python/3.8 \"quoted\"""#,
    );
    let truncated = &doc[..120];
    let out = read("s3_access", &[doc, &spaced, truncated]);
    let first = row(&out[0]);
    assert_eq!(first["time"], json!("2019-02-06T00:00:38Z"));
    assert_eq!(first["http_status"], json!(200));
    assert_eq!(first["bytes_sent"], json!(113));
    assert_eq!(first["total_time"], json!(7));
    assert_eq!(
        first["request_uri"],
        json!("GET /amzn-s3-demo-bucket1?versioning HTTP/1.1")
    );
    assert_eq!(first["source_region"], json!("us-east-1"));
    for empty in ["key", "error_code", "object_size", "referer", "version_id"] {
        assert!(first.get(empty).is_none(), "{empty} is `-`: {first}");
    }
    assert_eq!(
        row(&out[1])["user_agent"],
        json!(r#"aws-cli/2.0 Python/3.8 "quoted""#)
    );
    assert_no_match(&out[2], truncated);
}

#[test]
fn combined_access_log_lines() {
    // httpd.apache.org/docs/2.4/logs.html#combined; nginx.org/en/docs/http/ngx_http_log_module.html
    let doc = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
    let nginx = r#"192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "POST /q?a=\"b\" HTTP/1.1" 404 - "-" "curl/8.0" "203.0.113.9""#;
    let truncated = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTT"#;
    let out = read("combined", &[doc, nginx, truncated]);
    assert_eq!(
        row(&out[0]),
        json!({"remote_addr": "127.0.0.1", "remote_user": "frank",
               "time": "2000-10-10T20:55:36Z", "request": "GET /apache_pb.gif HTTP/1.0",
               "request_method": "GET", "request_url": "/apache_pb.gif",
               "request_protocol": "HTTP/1.0", "status": 200, "body_bytes_sent": 2326,
               "http_referer": "http://www.example.com/start.html",
               "http_user_agent": "Mozilla/4.08 [en] (Win98; I ;Nav)"})
    );
    let second = row(&out[1]);
    assert_eq!(second["request_url"], json!(r#"/q?a="b""#));
    assert!(second.get("body_bytes_sent").is_none() && second.get("http_referer").is_none());
    assert_no_match(&out[2], truncated);
}

#[test]
fn cloudfront_standard_log_lines() {
    // docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logs-reference.html
    let doc = "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\tMozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)\t-\t-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\td111111abcdef8.cloudfront.net\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-";
    let lines = [
        "#Version: 1.0",
        "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end",
        doc,
        "2019-12-04\t21:02:31\tLAX1\t392",
    ];
    let out = read("cloudfront", &lines);
    assert_eq!(out[0], Line::Skip);
    assert_eq!(out[1], Line::Skip);
    let first = row(&out[2]);
    assert_eq!(first["timestamp"], json!("2019-12-04T21:02:31Z"));
    assert_eq!(first["sc_bytes"], json!(392));
    assert_eq!(first["cs_host"], json!("d111111abcdef8.cloudfront.net"));
    assert_eq!(
        first["cs_user_agent"],
        json!("Mozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)")
    );
    assert_eq!(first["time_taken"], json!(0.001));
    assert_eq!(first["c_port"], json!(11040));
    assert!(first.get("cs_referer").is_none() && first.get("sc_range_end").is_none());
    assert_no_match(&out[3], lines[3]);
    // Without a #Fields header: the documented 33 fields.
    let out = read("cloudfront", &[doc]);
    assert_eq!(row(&out[0])["sc_content_len"], json!(78));
}

#[test]
fn vpc_flow_log_lines() {
    // docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html
    let default = [
        "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
        "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
        "2 123456789010 eni-1235b8ca123456789 172.31.16.139",
    ];
    let out = read("vpc_flow", &default);
    assert_eq!(
        row(&out[0]),
        json!({"version": 2, "account_id": "123456789010", "interface_id": "eni-1235b8ca123456789",
               "srcaddr": "172.31.16.139", "dstaddr": "172.31.16.21", "srcport": 20641,
               "dstport": 22, "protocol": 6, "packets": 20, "bytes": 4249,
               "start": "2014-12-14T04:06:50Z", "end": "2014-12-14T04:07:50Z",
               "action": "ACCEPT", "log_status": "OK"})
    );
    assert_eq!(
        row(&out[1]),
        json!({"version": 2, "account_id": "123456789010", "interface_id": "eni-1235b8ca123456789",
               "start": "2015-05-10T18:01:16Z", "end": "2015-05-10T18:02:14Z", "log_status": "NODATA"})
    );
    assert_no_match(&out[2], default[2]);
    // A custom format, named by the header line of the file.
    let custom = [
        "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status",
        "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789012 IPv4 52.213.180.42 10.0.0.62 43416 5001 52.213.180.42 10.0.0.62 6 568 8 1566848875 1566848933 ACCEPT 2 OK",
    ];
    let out = read("vpc_flow", &custom);
    assert_eq!(out[0], Line::Skip);
    let row1 = row(&out[1]);
    assert_eq!(row1["vpc_id"], json!("vpc-abcdefab012345678"));
    assert_eq!(row1["tcp_flags"], json!(2));
    assert_eq!(row1["pkt_srcaddr"], json!("52.213.180.42"));
}

#[test]
fn syslog_5424_lines() {
    // RFC 5424 section 6.5, examples 1, 3 and 4.
    let lines = [
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{feff}'su root' failed for lonvick on /dev/pts/8",
        r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application \"x\" ]" eventID="1011"] An application event log entry..."#,
        r#"<165>1 2003-10-11T22:14:15.003000-07:00 mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3"][examplePriority@32473 class="high"]"#,
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su",
        r#"<165>1 2003-10-11T22:14:15.003Z host app - ID47 [exampleSDID@32473 iut="3""#,
    ];
    let out = read("syslog_5424", &lines);
    assert_eq!(
        row(&out[0]),
        json!({"facility": 4, "severity": 2, "version": 1, "timestamp": "2003-10-11T22:14:15.003Z",
               "hostname": "mymachine.example.com", "app_name": "su", "msgid": "ID47",
               "message": "'su root' failed for lonvick on /dev/pts/8"})
    );
    let second = row(&out[1]);
    assert_eq!(
        second["structured_data"],
        json!(r#"[exampleSDID@32473 iut="3" eventSource="Application \"x\" ]" eventID="1011"]"#)
    );
    assert_eq!(
        second["message"],
        json!("An application event log entry...")
    );
    let third = row(&out[2]);
    assert_eq!(third["timestamp"], json!("2003-10-12T05:14:15.003Z"));
    assert!(third.get("message").is_none());
    assert_no_match(&out[3], lines[3]);
    assert_no_match(&out[4], lines[4]);
}

#[test]
fn syslog_3164_lines() {
    // RFC 3164 section 5.4.
    let lines = [
        "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
        "<13>Feb  5 17:32:18 10.0.0.99 sshd[4721]: Accepted publickey for \"ops\"",
        "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
        "<34>Oct 11 22:14",
    ];
    let out = read("syslog_3164", &lines);
    assert_eq!(
        row(&out[0]),
        json!({"facility": 4, "severity": 2, "timestamp": "2025-10-11T22:14:15Z",
               "hostname": "mymachine", "app_name": "su",
               "message": "'su root' failed for lonvick on /dev/pts/8"})
    );
    let second = row(&out[1]);
    assert_eq!(second["timestamp"], json!("2026-02-05T17:32:18Z"));
    assert_eq!(second["procid"], json!("4721"));
    assert_eq!(second["message"], json!("Accepted publickey for \"ops\""));
    assert_eq!(row(&out[2])["message"], json!("Use the BFG!"));
    assert_no_match(&out[3], lines[3]);
}

#[test]
fn regex_captures_are_typed_by_their_columns() {
    let spec = pipeline(
        r#"{ format: regex, pattern: '^(?P<at>\S+(?: [-+]\d{4})?) (?P<level>[A-Z]+) took (?P<ms>\d+)ms(?: (?P<note>.*))?$' }"#,
        "text",
        "      - { name: at, type: timestamp }\n      - { name: level, type: string }\n      - { name: ms, type: int }\n      - { name: note, type: string }\n",
    );
    let out = read_with(
        &spec,
        &[
            "yesterday INFO took 12ms",
            "2024-01-02T03:04:05+01:00 WARN took 7ms slow disk",
            "10/Oct/2000:13:55:36 -0700 INFO took 1ms",
            "garbage",
        ],
    );
    assert_eq!(
        row(&out[0]),
        json!({"at": "yesterday", "level": "INFO", "ms": 12}),
        "a time in no known syntax stays text: the column check rejects it"
    );
    assert_eq!(
        row(&out[1]),
        json!({"at": "2024-01-02T02:04:05Z", "level": "WARN", "ms": 7, "note": "slow disk"})
    );
    assert_eq!(row(&out[2])["at"], json!("2000-10-10T20:55:36Z"));
    assert_no_match(&out[3], "garbage");
}

fn spec_errors(text: &str, format: &str, columns: &str) -> Vec<String> {
    let matcher = if format == "text" {
        "{ s3_prefix: logs/ }"
    } else {
        "{ log_group: \"/aws/lambda/*\" }"
    };
    let yaml = format!(
        "version: 1\npipelines:\n  - name: web\n    match: {matcher}\n    format: {format}\n    \
         table: t.p\n    identity: {{ hash: [x] }}\n    text: {text}\n    columns:\n{columns}"
    );
    match Spec::parse(&yaml) {
        Ok(_) => panic!("expected errors:\n{yaml}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn spec_check_explains_text_problems() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            r#"{ format: regex, pattern: '(?P<a>[0-9' }"#,
            "text",
            "      - { name: a, type: int }\n",
            "pipelines[0].text.pattern: not a valid regular expression for pipeline `web`: regex parse error",
        ),
        (
            r#"{ format: regex, pattern: '(?P<a>\d+) (?P<b>\w+)' }"#,
            "text",
            "      - { name: a, type: int }\n",
            "capture `b` is not a column of pipeline `web`",
        ),
        (
            "{ format: regex }",
            "text",
            "      - { name: a, type: int }\n",
            "format regex needs a pattern",
        ),
        (
            "{ format: alb, pattern: 'x' }",
            "text",
            "      - { name: elb, type: string }\n",
            "pattern is for format regex",
        ),
        (
            "{ format: alb }",
            "text",
            "      - { name: elb_status, type: int }\n",
            "pipelines[0].columns[0].source: text format alb has no field `elb_status`",
        ),
        (
            "{ format: lambda_platform, unmatched: message }",
            "cloudwatch_logs",
            "      - { name: request_id, type: string }\n",
            "add a column with name or source `message`",
        ),
        (
            "{ format: xml }",
            "text",
            "      - { name: a, type: int }\n",
            "unknown variant `xml`",
        ),
    ];
    for (text, format, columns, expect) in cases {
        let errors = spec_errors(text, format, columns);
        assert!(
            errors.iter().any(|e| e.contains(expect)),
            "{text}: expected {expect:?} in {errors:?}"
        );
        assert!(
            errors.iter().all(|e| e.starts_with("line ")),
            "{text}: every error has a line: {errors:?}"
        );
    }
}

#[test]
fn format_text_needs_text_and_files() {
    let yaml = "version: 1\npipelines:\n  - name: web\n    match: { stream: s }\n    format: text\n    table: t.p\n    identity: { hash: [x] }\n    columns:\n      - { name: x, type: string }\n";
    let errors: Vec<String> = match Spec::parse(yaml) {
        Ok(_) => panic!("format text without text must fail"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    };
    assert!(
        errors
            .iter()
            .any(|e| e.contains("format text needs `text:")),
        "{errors:?}"
    );
}

#[test]
fn arbitrary_lines_never_panic() {
    let formats = [
        "lambda_platform",
        "alb",
        "cloudfront",
        "s3_access",
        "vpc_flow",
        "combined",
        "syslog_5424",
        "syslog_3164",
    ];
    let samples = [
        "",
        "\"",
        "[",
        "<",
        "<999>",
        "<1>",
        "<1>1 ",
        "\t\t\t",
        "REPORT RequestId: ",
        "REPORT RequestId: x Duration:",
        "é\"[\\",
        "#Fields:",
        "a\\",
        "\"\\",
        "<13>Feb 29 17:32:18 h x",
    ];
    for format in formats {
        for (i, line) in samples.iter().enumerate() {
            let _ = read(format, &[line]);
            // Every prefix of a documented line, too.
            let cut: String = ALB_DOC.chars().take(i * 23).collect();
            let _ = read(format, &[&cut]);
        }
    }
}
