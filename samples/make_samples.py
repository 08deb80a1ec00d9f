#!/usr/bin/env python3
"""Write the sample Lambda events under samples/events/.

Python standard library only. The output is deterministic (fixed ids, gzip mtime 0), so running
it again rewrites the same bytes; samples/README.md says what each file shows and what loglift
must do with it, and crates/loglift-core/tests/samples.rs checks exactly that.

    python3 samples/make_samples.py
"""

import base64
import gzip
import hashlib
import json
import pathlib
import uuid
import zlib

OUT = pathlib.Path(__file__).resolve().parent / "events"
ACCOUNT = "123456789012"
REGION = "us-east-1"
NS = uuid.UUID("6f0c2a52-4a53-4d0e-9a63-2f1d3b4c5d6e")

# 2020-06-01T00:00:24Z, the seed's request_timestamp.
BASE_MS = 1590969624000


def uid(name):
    return str(uuid.uuid5(NS, name))


def b64(data):
    return base64.b64encode(data).decode("ascii")


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def js(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def seq(n):
    """A 56-digit Kinesis sequence number."""
    return "49607050521458412286813347312654836264498760544383" + f"{n:06d}"


# --- seed-002 payloads --------------------------------------------------------------------------

TOPICS = [
    "dolphin_cms.wizard.step.color_palette.set",
    "dolphin_cms.wizard.step.industry.set",
    "dolphin_cms.editor.page.published",
    "dolphin_cms.wizard.step.font.set",
    "dolphin_cms.editor.section.added",
]


def user_event(i):
    message = {
        "isAffiliate": False,
        "language": "es",
        "isRecommendedPalette": True,
        "color": "#6d8d79",
        "paletteIndex": str(i % 4),
        "workspaceId": uid(f"workspace-{i % 2}"),
    }
    return {
        "request_id": uid(f"request-{i}"),
        "request_timestamp": f"2020-06-01 00:00:{24 + i:02d}.000000",
        "cookie_id": uid(f"cookie-{i % 3}"),
        "topic": TOPICS[i % len(TOPICS)],
        "message": json.dumps(message, separators=(",", ":")),
        "environment": "dolphin_cms",
        "website_id": None,
        "user_account_id": uid(f"account-{i % 3}"),
        "location": "https://cms.data.com/wizard/color-palette/",
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:76.0) Gecko/20100101 Firefox/76.0",
        "referrer": "https://register.data.com/es/product",
    }


def utm(i):
    return [
        {
            "request_id": uid("utm-0"),
            "source": "adwords",
            "medium": "cpc",
            "campaign": "Campaign Brand FR",
            "content": None,
            "term": "data",
            "matchtype": "e",
            "network": "g",
            "ad_id": "12063526619",
            "ad_pos": "1t1",
            "placement": None,
            "placement_category": None,
            "testgroup": None,
            "device": "c",
        },
        {
            "request_id": uid("utm-1"),
            "source": "facebook",
            "medium": "social",
            "campaign": "Summer Launch ES",
            "content": None,
            "term": None,
            "matchtype": None,
            "network": "fb",
            "ad_id": "23845671234560042",
            "ad_pos": None,
            "placement": "feed",
            "placement_category": "mobile_feed",
            "testgroup": "b",
            "device": "m",
        },
        {
            "request_id": uid("utm-2"),
            "source": "bing",
            "medium": "cpc",
            "campaign": "Generic Website Builder DE",
            "content": None,
            "term": "homepage erstellen",
            "matchtype": "p",
            "network": "o",
            "ad_id": "77309411337",
            "ad_pos": "1s2",
            "placement": None,
            "placement_category": None,
            "testgroup": "a",
            "device": "t",
        },
    ][i]


# --- login.gov events.log (CloudWatch Logs) ------------------------------------------------------


def idp_event(i, name, event_properties):
    return {
        "name": name,
        "properties": {
            "event_properties": event_properties,
            "new_event": i == 0,
            "path": "/",
            "session_duration": 0.5 + i,
            "user_id": uid(f"idp-user-{i % 2}"),
            "locale": "en",
            "user_ip": f"10.0.0.{10 + i}",
            "hostname": "idp.int.identitysandbox.gov",
            "pid": 4100 + i,
            "service_provider": "urn:gov:gsa:openidconnect:sp:sinatra",
            "trace_id": None,
            "git_sha": "5a8e2f1",
            "git_branch": "main",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/83.0 Safari/537.36",
            "browser_name": "Chrome",
            "browser_version": "83.0",
            "os_name": "Linux",
        },
        "time": f"2020-06-01T00:01:{10 + i:02d}.{120 + i:03d}Z",
        "id": uid(f"idp-event-{i}"),
        "visitor_id": uid(f"idp-visitor-{i % 2}"),
        "visit_id": uid(f"idp-visit-{i % 2}"),
        "log_filename": "events.log",
    }


IDP_EVENTS = [
    ("Sign in page visited", {"flash": None, "stored_location": None}),
    ("Email and Password Authentication", {"success": True, "user_locked_out": False, "remember_device": False}),
    ("Multi-Factor Authentication", {"success": True, "multi_factor_auth_method": "totp", "area_code": None}),
    ("Sign in page visited", {"flash": None, "stored_location": "/openid_connect/authorize"}),
    ("Logout Initiated", {"sp_initiated": True, "oidc": True}),
]


def cw_payload(log_group, log_stream, start, count):
    events = []
    for i in range(start, start + count):
        name, props = IDP_EVENTS[i]
        events.append(
            {
                "id": f"3553299834877{i:02d}0000000000000000000000000000000000000000",
                "timestamp": BASE_MS + 46000 + i * 1000,
                "message": json.dumps(idp_event(i, name, props), separators=(",", ":")),
            }
        )
    return {
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": ["idp-events-to-firehose"],
        "logEvents": events,
    }


CW_CONTROL = {
    "messageType": "CONTROL_MESSAGE",
    "owner": "CloudwatchLogs",
    "logGroup": "",
    "logStream": "",
    "subscriptionFilters": [],
    "logEvents": [
        {
            "id": "",
            "timestamp": BASE_MS + 40000,
            "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose.",
        }
    ],
}


# --- KPL aggregation (protobuf by hand) ----------------------------------------------------------


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(tag, wire_type, payload):
    key = varint(tag << 3 | wire_type)
    if wire_type == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def kpl_aggregate(user_records):
    """user_records: [(partition_key, explicit_hash_key or None, data bytes)]."""
    pks, ehks = [], []
    body = b""
    records = b""
    for pk, ehk, data in user_records:
        if pk not in pks:
            pks.append(pk)
        record = field(1, 0, pks.index(pk))
        if ehk is not None:
            if ehk not in ehks:
                ehks.append(ehk)
            record += field(2, 0, ehks.index(ehk))
        record += field(3, 2, data)
        records += field(3, 2, record)
    for pk in pks:
        body += field(1, 2, pk.encode())
    for ehk in ehks:
        body += field(2, 2, ehk.encode())
    body += records
    return b"\xf3\x89\x9a\xc2" + body + hashlib.md5(body).digest()


# --- event builders ------------------------------------------------------------------------------


def firehose(delivery_stream, records, source_stream=None):
    event = {
        "invocationId": uid(f"invocation-{delivery_stream}"),
        "deliveryStreamArn": f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{delivery_stream}",
        "region": REGION,
    }
    if source_stream:
        event["sourceKinesisStreamArn"] = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{source_stream}"
    event["records"] = records
    return event


def kinesis(stream, datas, shard="shardId-000000000000", first_seq=1):
    records = []
    for i, data in enumerate(datas):
        sequence = seq(first_seq + i)
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": uid(f"{stream}-pk-{i}"),
                    "sequenceNumber": sequence,
                    "data": data if isinstance(data, str) else b64(data),
                    "approximateArrivalTimestamp": (BASE_MS + i * 250) / 1000,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard}:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/loglift-ingest",
                "awsRegion": REGION,
                "eventSourceARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}",
            }
        )
    return {"Records": records}


def firehose_user_events():
    payloads = [js(user_event(i)) for i in range(3)]
    payloads.append(payloads[0])  # an exact duplicate (same request_id) of the first
    records = []
    for i, data in enumerate(payloads):
        arrival = BASE_MS + 1000 + i * 40
        records.append(
            {
                "recordId": f"{seq(100 + i)}{i:06d}",
                "approximateArrivalTimestamp": arrival,
                "data": b64(data),
                "kinesisRecordMetadata": {
                    "shardId": "shardId-000000000001",
                    "partitionKey": uid(f"firehose-pk-{i}"),
                    "approximateArrivalTimestamp": arrival,
                    "sequenceNumber": seq(100 + i),
                    "subsequenceNumber": 0,
                },
            }
        )
    return firehose("user-events-to-s3", records, source_stream="user-events")


def firehose_console_sample():
    return firehose(
        "user-events",
        [
            {
                "recordId": "49546986683135544286507457936321625675700192471156785154",
                "approximateArrivalTimestamp": "2020-06-01T00:00:25.511Z",
                "data": b64(js(user_event(3))),
                "kinesisRecordMetadata": {
                    "shardId": "shardId-000000000000",
                    "partitionKey": "4d1ad2b9-24f8-4b9d-a088-76e9947c317a",
                    "approximateArrivalTimestamp": "2020-06-01T00:00:25.511Z",
                    "sequenceNumber": "49546986683135544286507457936321625675700192471156785154",
                    "subsequenceNumber": "",
                },
            },
            {
                "recordId": "49546986683135544286507457936321625675700192471156785155",
                "approximateArrivalTimestamp": "2020-06-01T00:00:26.020Z",
                "data": b64(js(user_event(4))),
            },
        ],
    )


def firehose_cloudwatch_logs():
    group_a = "prod_/srv/idp/shared/log/events.log"
    group_b = "/srv/idp/shared/log/events.log"
    datas = [
        gz(js(CW_CONTROL)),
        gz(js(cw_payload(group_a, "idp-i-0a1b2c3d4e5f60718.prod.login.gov", 0, 3))),
        zlib.compress(js(cw_payload(group_b, "idp-i-0f1e2d3c4b5a69788.int.login.gov", 3, 2))),
    ]
    records = [
        {
            "recordId": f"{seq(200 + i)}{i:06d}",
            "approximateArrivalTimestamp": BASE_MS + 47000 + i * 10,
            "data": b64(data),
        }
        for i, data in enumerate(datas)
    ]
    return firehose("idp-events-to-s3", records)


def kinesis_user_events():
    wrong_type = user_event(7)
    wrong_type["cookie_id"] = 4815162342
    missing = user_event(8)
    del missing["topic"]
    ndjson = js(user_event(5)) + b"\n" + js(user_event(6)) + b"\n"
    return kinesis(
        "user-events",
        [js(user_event(0)), ndjson, js(wrong_type), js(missing), gz(js(user_event(9)))],
    )


def kinesis_user_utm():
    return kinesis("user-utm", [js(utm(i)) for i in range(3)], shard="shardId-000000000003", first_seq=500)


def kinesis_kpl_aggregate():
    users = [
        (uid("kpl-pk-a"), None, js(user_event(10))),
        (uid("kpl-pk-b"), "170141183460469231731687303715884105728", js(user_event(11))),
        (uid("kpl-pk-a"), None, js(user_event(12))),
    ]
    good = kpl_aggregate(users)
    corrupt = bytearray(kpl_aggregate(users[:2]))
    corrupt[-1] ^= 0xFF  # the MD5 trailer no longer matches
    return kinesis("user-events", [good, bytes(corrupt)], first_seq=700)


def kinesis_bad_records():
    truncated = gz(js(user_event(13)))
    truncated = truncated[: len(truncated) // 2]
    bomb = gz(b" " * (20 * 1024 * 1024))  # 20 MiB of spaces, about 20 KB packed
    invalid_utf8 = b'{"request_id":"' + uid("request-14").encode() + b'","topic":"caf\xe9"}'
    return kinesis(
        "user-events",
        [
            "not base64 at all!",
            truncated,
            bomb,
            js(user_event(15)),
            invalid_utf8,
            b"request_id=abc&topic=oops",
            "",
        ],
        first_seq=900,
    )


def kinesis_unknown_stream():
    datas = [js({"id": uid("nobody-0"), "kind": "heartbeat"}), js({"id": uid("nobody-1"), "kind": "heartbeat"})]
    return kinesis("nobody-routes-this", datas, shard="shardId-000000000002", first_seq=1000)


# --- plain-text logs (docs/spec.md, "Plain-text logs") ---------------------------------------------


def lambda_payload(function, log_stream, first_id, lines):
    """A CloudWatch Logs DATA_MESSAGE of a Lambda function's log group, one event per line."""
    events = [
        {
            "id": f"{first_id + i:056d}",
            "timestamp": BASE_MS + 50000 + i * 7,
            "message": line,
        }
        for i, line in enumerate(lines)
    ]
    return {
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": f"/aws/lambda/{function}",
        "logStream": log_stream,
        "subscriptionFilters": ["loglift-to-logs"],
        "logEvents": events,
    }


def kinesis_lambda_logs():
    """Lambda platform and runtime lines, written from the Lambda developer guide's examples
    (python-logging.html, nodejs-logging.html): START / END / REPORT, a Node.js `console.info`
    line, lines a function prints itself, and a REPORT with Init Duration (a cold start)."""
    node = "c793869b-ee49-115b-a5b6-4fd21e8dedac"
    python = "8f507cfc-xmpl-4697-b07a-ac58fc914c95"
    checkout = lambda_payload(
        "checkout-api",
        "2020/06/01/[$LATEST]e6f4a0c4241adcd70c262d34c0bbc85c",
        3595,
        [
            f"START RequestId: {node} Version: $LATEST\n",
            f"2020-06-01T00:01:14.562Z\t{node}\tINFO\tEVENT {{\"key\": \"value\"}}\n",
            f"2020-06-01T00:01:14.563Z\t{node}\tWARN\tEvent not processed.\n",
            f"END RequestId: {node}\n",
            f"REPORT RequestId: {node}\tDuration: 2.89 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 76 MB\t\n",
        ],
    )
    resize = lambda_payload(
        "resize-image",
        "2020/06/01/[$LATEST]3893xmpl7fac4485b47bb75b671a283c",
        3695,
        [
            f"START RequestId: {python} Version: $LATEST\n",
            "## EVENT\n",
            "{'key': 'value'}\n",
            f"[ERROR]\t2020-06-01T00:01:14.600Z\t{python}\tthumbnail failed: \"image/heic\" is not supported\n",
            f"END RequestId: {python}\n",
            f"REPORT RequestId: {python}\tDuration: 15.74 ms\tBilled Duration: 147 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\tInit Duration: 130.49 ms\t\n",
        ],
    )
    return kinesis("logs", [gz(js(checkout)), gz(js(resize))], shard="shardId-000000000004", first_seq=1100)


# ALB access log lines, written from the Elastic Load Balancing guide's examples
# (load-balancer-access-logs.html#access-log-entry-examples): an HTTP entry, an HTTPS entry, an
# HTTP/2 entry with a quoted user agent holding spaces and escaped quotes, a Lambda target's error
# (`-` target, -1 times), and one truncated line (a `no_match` reject).
ALB_LINES = [
    'http 2020-06-01T00:00:23.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2020-06-01T00:00:23.164000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef90',
    'https 2020-06-01T00:00:24.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337281-1d84f3d73c47ec4e58577259" "www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" 1 2020-06-01T00:00:24.100000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-" TID_1234abcd5678ef91',
    'h2 2020-06-01T00:00:25.186641Z app/my-loadbalancer/50dc6c495c0c9188 10.0.1.252:48160 10.0.0.66:9000 0.000 0.002 0.000 200 200 5 257 "GET https://10.0.2.105:773/search?q=%22shoes%22 HTTP/2.0" "Mozilla/5.0 (X11; Linux x86_64) \\"quoted\\" build" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337327-72bd00b0343d75b906739c42" "-" "-" 1 2020-06-01T00:00:25.180000Z "redirect" "https://example.com:80/" "-" "10.0.0.66:9000" "200" "-" "-" TID_1234abcd5678ef92',
    'https 2020-06-01T00:00:26.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 - -1 -1 -1 502 - 34 366 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337364-23a8c76965a2ef7629b185e3" "-" "-" 0 2020-06-01T00:00:26.164000Z "forward" "-" "LambdaInvalidResponse" "-" "-" "-" "-" TID_1234abcd5678ef93',
    'http 2020-06-01T00:00:27.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTT',
]

ALB_FILE = "alb/123456789012_elasticloadbalancing_us-east-2_app.my-loadbalancer.50dc6c495c0c9188_20200601T0000Z_10.0.0.1_2ne2rrtu.log.gz"


def write_landing():
    path = OUT.parent / "landing" / ALB_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    body = ("\n".join(ALB_LINES) + "\n").encode()
    data = gzip.compress(body, mtime=0)
    path.write_bytes(data)
    print(f"{len(data):>8}  landing/{ALB_FILE}")


SAMPLES = {
    "firehose-user-events.json": firehose_user_events,
    "firehose-console-sample.json": firehose_console_sample,
    "firehose-cloudwatch-logs.json": firehose_cloudwatch_logs,
    "firehose-empty.json": lambda: firehose("user-events-to-s3", [], source_stream="user-events"),
    "kinesis-user-events.json": kinesis_user_events,
    "kinesis-user-utm.json": kinesis_user_utm,
    "kinesis-kpl-aggregate.json": kinesis_kpl_aggregate,
    "kinesis-bad-records.json": kinesis_bad_records,
    "kinesis-unknown-stream.json": kinesis_unknown_stream,
    "kinesis-empty.json": lambda: {"Records": []},
    "kinesis-lambda-logs.json": kinesis_lambda_logs,
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, build in SAMPLES.items():
        text = json.dumps(build(), indent=2) + "\n"
        (OUT / name).write_text(text)
        print(f"{len(text):>8}  {name}")
    write_landing()


if __name__ == "__main__":
    main()
