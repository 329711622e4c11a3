"""Real AWS clients against `weir serve`: boto3 and the AWS CLI, with dummy credentials.

- TestEventPattern on every AWS-verified case of tests/data/conformance/eventbridge-aws.json,
  through boto3 and through `aws events test-event-pattern`: every verdict and every error
  (code and first line of the message) agrees with what AWS answered;
- PutRule / PutTargets / PutEvents reaching a function;
- event buses (CreateEventBus, ListEventBuses, DescribeEventBus, DeleteEventBus) and a rule on
  one with an SQS queue target: the queue of a weir.toml, and a Redis queue with `--redis`,
  the message read back through an event source mapping;
- Invoke in its three invocation types (RequestResponse, Event, DryRun) and its errors.

Run by scripts/test-all: WEIR_BIN names the weir binary; the server is started on a free port
for the session and stopped at its end.
"""

import concurrent.futures
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import time

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

ROOT = pathlib.Path(__file__).resolve().parents[4]
CASES = json.loads((ROOT / "tests/data/conformance/eventbridge-aws.json").read_text())["cases"]
AWS = shutil.which("aws", path=os.path.dirname(os.path.realpath(__import__("sys").executable)))

ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_MAX_ATTEMPTS": "1",
    "AWS_PAGER": "",
}
os.environ.update(ENV)


def text_of(case, raw, parsed):
    return case[raw] if raw in case else json.dumps(case[parsed])


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="session")
def endpoint(workdir):
    weir = os.environ.get("WEIR_BIN") or str(ROOT / "target/debug/weir")
    record = f"f=$(mktemp -p {workdir} event.XXXXXX); cat > \"$f\"; echo null"
    proc = subprocess.Popen(
        [
            weir, "serve", "--port", "0",
            "--function", "echo=cat",
            "--function", "fail=echo '{\"errorMessage\":\"no\"}'; exit 1",
            "--function", f"record={record}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"weir serve did not start: {url!r} {proc.stderr.read()}")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def client(service, endpoint):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def expected_error(case):
    return (
        case.get("aws_error_code", "InvalidEventPatternException"),
        case["aws_error_message"].splitlines()[0],
    )


def test_boto3_test_event_pattern_agrees_on_every_case(endpoint):
    events = client("events", endpoint)
    counts = {"match": 0, "no_match": 0, "error": 0}
    for case in CASES:
        pattern = text_of(case, "pattern_raw", "pattern")
        event = text_of(case, "event_raw", "event")
        expected = case["expected"]
        counts[expected] += 1
        if expected == "error":
            with pytest.raises(ClientError) as raised:
                events.test_event_pattern(EventPattern=pattern, Event=event)
            error = raised.value.response["Error"]
            got = (error["Code"], error["Message"].splitlines()[0])
            assert got == expected_error(case), case["name"]
        else:
            result = events.test_event_pattern(EventPattern=pattern, Event=event)
            assert result["Result"] is (expected == "match"), case["name"]
    assert counts == {"match": 70, "no_match": 51, "error": 45}


def aws_cli(endpoint, *args):
    return subprocess.run(
        [AWS, "--endpoint-url", endpoint, "--output", "json", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_aws_cli_test_event_pattern_agrees_on_every_case(endpoint):
    assert AWS, "the aws command is not installed next to this Python"

    def run(case):
        result = aws_cli(
            endpoint, "events", "test-event-pattern",
            "--event-pattern", text_of(case, "pattern_raw", "pattern"),
            "--event", text_of(case, "event_raw", "event"),
        )
        return case, result

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, CASES))
    assert len(results) == len(CASES) == 166
    for case, result in results:
        name = case["name"]
        if case["expected"] == "error":
            assert result.returncode != 0, name
            code, first_line = expected_error(case)
            prefix = f"An error occurred ({code}) when calling the TestEventPattern operation: "
            line = result.stderr.strip().splitlines()[0]
            assert line == prefix + first_line, (name, result.stderr)
        else:
            assert result.returncode == 0, (name, result.stderr)
            assert json.loads(result.stdout) == {"Result": case["expected"] == "match"}, name


def delivered(workdir, count, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        files = sorted(workdir.glob("event.*"))
        if len(files) >= count and all(f.stat().st_size > 0 for f in files):
            return [json.loads(f.read_text()) for f in files]
        time.sleep(0.05)
    return [json.loads(f.read_text()) for f in sorted(workdir.glob("event.*")) if f.stat().st_size]


def test_put_events_reaches_a_function(endpoint, workdir):
    for f in workdir.glob("event.*"):
        f.unlink()
    events = client("events", endpoint)
    arn = events.put_rule(
        Name="orders",
        EventPattern=json.dumps({"source": ["shop"], "detail": {"amount": [{"numeric": [">", 100]}]}}),
    )["RuleArn"]
    assert arn == "arn:aws:events:us-east-1:000000000000:rule/orders"
    put = events.put_targets(
        Rule="orders",
        Targets=[{"Id": "t", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:record"}],
    )
    assert put["FailedEntryCount"] == 0
    assert [r["Name"] for r in events.list_rules()["Rules"]] == ["orders"]
    response = events.put_events(
        Entries=[
            {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"amount": 150})},
            {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"amount": 5})},
            {"Source": "shop", "DetailType": "order", "Detail": "not json"},
        ]
    )
    assert response["FailedEntryCount"] == 1
    assert response["Entries"][2] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    got = delivered(workdir, 1)
    assert got[0]["id"] == response["Entries"][0]["EventId"]
    assert got[0]["detail"] == {"amount": 150}
    assert got[0]["source"] == "shop"
    # The AWS CLI's put-events reaches it too.
    result = aws_cli(
        endpoint, "events", "put-events", "--entries",
        json.dumps([{"Source": "shop", "DetailType": "cli", "Detail": json.dumps({"amount": 101})}]),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["FailedEntryCount"] == 0
    # The later event arrived: the non-matching one, put before it, was not delivered.
    got = delivered(workdir, 2)
    assert sorted(e["detail-type"] for e in got) == ["cli", "order"]
    assert sorted(e["detail"]["amount"] for e in got) == [101, 150], "only the matching events"
    with pytest.raises(ClientError) as raised:
        events.delete_rule(Name="orders")
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    events.remove_targets(Rule="orders", Ids=["t"])
    events.delete_rule(Name="orders")
    assert events.list_rules()["Rules"] == []


def test_invoke_in_all_three_invocation_types(endpoint, workdir):
    lam = client("lambda", endpoint)
    ok = lam.invoke(FunctionName="echo", Payload=b'{"x": 1}')
    assert ok["StatusCode"] == 200
    assert ok["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in ok
    assert json.loads(ok["Payload"].read()) == {"x": 1}

    failed = lam.invoke(FunctionName="fail", InvocationType="RequestResponse", Payload=b"{}")
    assert failed["StatusCode"] == 200
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "Runtime.ExitError"

    for f in workdir.glob("event.*"):
        f.unlink()
    queued = lam.invoke(FunctionName="record", InvocationType="Event", Payload=b'{"n": 7}')
    assert queued["StatusCode"] == 202
    assert delivered(workdir, 1) == [{"n": 7}]

    dry = lam.invoke(FunctionName="record", InvocationType="DryRun", Payload=b'{"n": 8}')
    assert dry["StatusCode"] == 204
    # A later invocation arrives: the DryRun before it ran nothing.
    lam.invoke(FunctionName="record", InvocationType="Event", Payload=b'{"n": 9}')
    assert sorted(e["n"] for e in delivered(workdir, 2)) == [7, 9], "DryRun invokes nothing"

    with pytest.raises(lam.exceptions.ResourceNotFoundException) as raised:
        lam.invoke(FunctionName="nope", Payload=b"{}")
    assert raised.value.response["Error"]["Message"] == (
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"
    )
    with pytest.raises(lam.exceptions.RequestTooLargeException):
        lam.invoke(FunctionName="echo", Payload=b"1" + b" " * (6 * 1024 * 1024))
    with pytest.raises(lam.exceptions.InvalidRequestContentException):
        lam.invoke(FunctionName="echo", Payload=b"{not json")


def test_aws_cli_lambda_invoke(endpoint, tmp_path):
    out = tmp_path / "out.json"
    result = aws_cli(endpoint, "lambda", "invoke", "--function-name", "echo",
                     "--payload", '{"cli": true}', str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    assert json.loads(out.read_text()) == {"cli": True}
    result = aws_cli(endpoint, "lambda", "invoke", "--function-name", "fail", str(out))
    assert json.loads(result.stdout)["FunctionError"] == "Unhandled"
    result = aws_cli(endpoint, "lambda", "invoke", "--function-name", "echo",
                     "--invocation-type", "DryRun", str(out))
    assert json.loads(result.stdout)["StatusCode"] == 204


@pytest.fixture
def redis_url(tmp_path):
    """A redis-server of the test's own on a free loopback port (never 6379), with AOF."""
    import socket

    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    assert os.path.exists(server), "redis-server is required (scripts/test-all installs it)"
    for _ in range(5):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port == 6379:
            continue
        proc = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 10
        while time.time() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as c:
                    c.sendall(b"PING\r\n")
                    if c.recv(7) == b"+PONG\r\n":
                        break
            except OSError:
                time.sleep(0.05)
        else:
            proc.kill()
            proc.wait()
            continue
        yield f"redis://127.0.0.1:{port}/"
        proc.terminate()
        proc.wait(timeout=10)
        return
    raise RuntimeError("could not start redis-server")


def start_serve(*args):
    weir = os.environ.get("WEIR_BIN") or str(ROOT / "target/debug/weir")
    proc = subprocess.Popen([weir, "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), proc.stderr.read()
    return proc, url


def test_an_accepted_event_survives_weir_killed_mid_invocation(redis_url, tmp_path):
    out = tmp_path / "ran"
    started = tmp_path / "started"
    # The first weir's function is slow: weir is killed while it runs.
    first, url = start_serve("--redis", redis_url, "--timeout", "1",
                             "--function", f"job=touch {started}; sleep 2")
    try:
        lam = client("lambda", url)
        assert lam.invoke(FunctionName="job", InvocationType="Event",
                          Payload=b'{"kept": 1}')["StatusCode"] == 202
        deadline = time.time() + 10
        while time.time() < deadline and not started.exists():
            time.sleep(0.05)
        assert started.exists(), "the invocation started"
    finally:
        first.kill()  # SIGKILL
        first.wait()
    second, _ = start_serve("--redis", redis_url, "--timeout", "1",
                            "--function", f"job=cat > {out}")
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not (out.exists() and out.stat().st_size):
            time.sleep(0.1)
        assert json.loads(out.read_text()) == {"kept": 1}
    finally:
        second.terminate()
        second.wait(timeout=10)


def test_boto3_event_source_mappings_on_a_redis_queue(redis_url, tmp_path):
    import socket

    out = tmp_path / "batches"
    out.mkdir()
    record = f"f=$(mktemp -p {out} batch.XXXXXX); cat > \"$f\"; echo null"
    proc, url = start_serve("--redis", redis_url, "--function", f"consume={record}")
    try:
        lam = client("lambda", url)
        created = lam.create_event_source_mapping(
            EventSourceArn="arn:aws:sqs:us-east-1:000000000000:jobs",
            FunctionName="consume",
            BatchSize=10,
            FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"ok": [True]}})}]},
        )
        assert created["State"] == "Creating"
        uuid = created["UUID"]
        listed = lam.list_event_source_mappings(FunctionName="consume")["EventSourceMappings"]
        assert [m["UUID"] for m in listed] == [uuid]
        assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled"
        # Messages sent with plain Redis commands (XADD jobs * body ...).
        host, port = redis_url[len("redis://"):].rstrip("/").split(":")
        with socket.create_connection((host, int(port))) as conn:
            for n in range(6):
                body = json.dumps({"n": n, "ok": n % 2 == 0})
                args = ["XADD", "jobs", "*", "body", body]
                conn.sendall(f"*{len(args)}\r\n".encode() + b"".join(
                    f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args))
                conn.recv(64)
        deadline = time.time() + 15
        seen = []
        while time.time() < deadline and len(seen) < 3:
            seen = [json.loads(r["body"])["n"]
                    for f in out.glob("batch.*") if f.stat().st_size
                    for r in json.loads(f.read_text())["Records"]]
            time.sleep(0.1)
        assert sorted(seen) == [0, 2, 4]
        assert lam.delete_event_source_mapping(UUID=uuid)["State"] == "Deleting"
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.get_event_source_mapping(UUID=uuid)
        with pytest.raises(lam.exceptions.InvalidParameterValueException):
            lam.create_event_source_mapping(
                EventSourceArn="arn:aws:sqs:us-east-1:000000000000:jobs",
                FunctionName="consume", BatchSize=0 + 20)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_boto3_stream_mapping_settings_on_a_redis_stream(redis_url, tmp_path):
    proc, url = start_serve("--redis", redis_url, "--function", "consume=cat > /dev/null; echo null")
    try:
        lam = client("lambda", url)
        arn = "arn:aws:kinesis:us-east-1:000000000000:stream/clicks"
        created = lam.create_event_source_mapping(
            EventSourceArn=arn,
            FunctionName="consume",
            StartingPosition="TRIM_HORIZON",
            BisectBatchOnFunctionError=True,
            ParallelizationFactor=4,
            MaximumRecordAgeInSeconds=120,
            MaximumBatchingWindowInSeconds=2,
            FunctionResponseTypes=["ReportBatchItemFailures"],
        )
        got = lam.get_event_source_mapping(UUID=created["UUID"])
        for mapping in (created, got):
            assert mapping["BisectBatchOnFunctionError"] is True
            assert mapping["ParallelizationFactor"] == 4
            assert mapping["MaximumRecordAgeInSeconds"] == 120
            assert mapping["MaximumBatchingWindowInSeconds"] == 2
            assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as refused:
            lam.create_event_source_mapping(
                EventSourceArn=arn, FunctionName="consume", StartingPosition="LATEST",
                MaximumRecordAgeInSeconds=30)
        assert "MaximumRecordAgeInSeconds must be -1 or between 60 and 604800" in str(refused.value)
        with pytest.raises(lam.exceptions.InvalidParameterValueException):
            lam.create_event_source_mapping(
                EventSourceArn="arn:aws:sqs:us-east-1:000000000000:jobs",
                FunctionName="consume", ParallelizationFactor=2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_weir_serve_with_a_weir_toml_routes_put_events_through_its_rules(tmp_path):
    out = tmp_path / "got"
    out.mkdir()
    (tmp_path / "weir.toml").write_text(f'''
[Resources.Keep]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "keep", Timeout = 5 }}
Weir = {{ Command = ["sh", "-c", 'f=$(mktemp -p {out} ev.XXXXXX); cat > "$f"; echo null'] }}

[Resources.Big]
Type = "AWS::Events::Rule"
[Resources.Big.Properties]
EventPattern = {{ source = ["shop"], detail = {{ total = [{{ numeric = [">", 100] }}] }} }}
Targets = [{{ Id = "keep", Arn = {{ "Fn::GetAtt" = ["Keep", "Arn"] }} }}]
''')
    proc, url = start_serve("--config", str(tmp_path / "weir.toml"))
    try:
        events = client("events", url)
        put = events.put_events(Entries=[
            {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"total": 250})},
            {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"total": 5})},
        ])
        assert put["FailedEntryCount"] == 0
        got = delivered_in(out, 1)
        assert got[0]["detail"] == {"total": 250}
        assert got[0]["id"] == put["Entries"][0]["EventId"]
        # A later matching event arrives: the non-matching one, put before it, did not.
        later = events.put_events(Entries=[
            {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"total": 300})},
        ])
        assert later["FailedEntryCount"] == 0
        got = delivered_in(out, 2)
        assert sorted(e["detail"]["total"] for e in got) == [250, 300], "only the matching events"
        # The config's function is invocable too.
        lam = client("lambda", url)
        assert lam.invoke(FunctionName="keep", Payload=b'{"direct": 1}')["StatusCode"] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def delivered_in(directory, count, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        files = [f for f in directory.glob("ev.*") if f.stat().st_size]
        if len(files) >= count:
            return [json.loads(f.read_text()) for f in sorted(files)]
        time.sleep(0.05)
    return [json.loads(f.read_text()) for f in directory.glob("ev.*") if f.stat().st_size]


def batches_in(directory, count, timeout=15):
    """The Records of the batch files a recording function wrote, once there are `count`."""
    deadline = time.time() + timeout
    while True:
        records = [r for f in sorted(directory.glob("batch.*")) if f.stat().st_size
                   for r in json.loads(f.read_text())["Records"]]
        if len(records) >= count or time.time() >= deadline:
            return records
        time.sleep(0.05)


def test_boto3_event_bus_with_a_rule_whose_sqs_target_is_a_weir_toml_queue(tmp_path):
    out = tmp_path / "got"
    out.mkdir()
    record = f'f=$(mktemp -p {out} batch.XXXXXX); cat > "$f"; echo null'
    (tmp_path / "weir.toml").write_text(f'''
[Resources.Inbox]
Type = "AWS::SQS::Queue"
Properties = {{ QueueName = "inbox", VisibilityTimeout = 30 }}

[Resources.Read]
Type = "AWS::Lambda::Function"
Properties = {{ FunctionName = "read", Timeout = 5 }}
Weir = {{ Command = ["sh", "-c", '{record}'] }}

[Resources.ReadInbox]
Type = "AWS::Lambda::EventSourceMapping"
Properties = {{ FunctionName = {{ Ref = "Read" }}, EventSourceArn = {{ "Fn::GetAtt" = ["Inbox", "Arn"] }}, BatchSize = 10 }}

[Resources.Failed]
Type = "AWS::SQS::Queue"
Properties = {{ QueueName = "failed", VisibilityTimeout = 30 }}

[Resources.ReadFailed]
Type = "AWS::Lambda::EventSourceMapping"
Properties = {{ FunctionName = {{ Ref = "Read" }}, EventSourceArn = {{ "Fn::GetAtt" = ["Failed", "Arn"] }}, BatchSize = 10 }}
''')
    proc, url = start_serve("--config", str(tmp_path / "weir.toml"))
    try:
        events = client("events", url)
        arn = events.create_event_bus(Name="shop", Description="the shop")["EventBusArn"]
        assert arn == "arn:aws:events:us-east-1:000000000000:event-bus/shop"
        with pytest.raises(events.exceptions.ResourceAlreadyExistsException):
            events.create_event_bus(Name="shop")
        buses = events.list_event_buses()["EventBuses"]
        assert [b["Name"] for b in buses] == ["default", "shop"]
        described = events.describe_event_bus(Name="shop")
        assert described["Description"] == "the shop"
        assert described["CreationTime"].year >= 2024  # a timestamp boto3 parsed
        rule_arn = events.put_rule(
            Name="big", EventBusName="shop",
            EventPattern=json.dumps({"detail": {"total": [{"numeric": [">", 100]}]}}),
        )["RuleArn"]
        assert rule_arn == "arn:aws:events:us-east-1:000000000000:rule/shop/big"
        put = events.put_targets(Rule="big", EventBusName="shop", Targets=[{
            "Id": "inbox",
            "Arn": "arn:aws:sqs:us-east-1:000000000000:inbox",
            "InputTransformer": {
                "InputPathsMap": {"total": "$.detail.total", "who": "$.detail.customer"},
                "InputTemplate": '{"customer": <who>, "total": <total>, "rule": <aws.events.rule-name>}',
            },
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
        }, {
            # No such function: the event goes to the dead-letter queue at once.
            "Id": "missing",
            "Arn": "arn:aws:lambda:us-east-1:000000000000:function:missing",
            "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:000000000000:failed"},
        }])
        assert put["FailedEntryCount"] == 0
        listed = events.list_targets_by_rule(Rule="big", EventBusName="shop")["Targets"]
        assert listed[0]["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600}
        with pytest.raises(events.exceptions.ResourceNotFoundException):
            events.list_rules(EventBusName="nope")
        response = events.put_events(Entries=[
            {"Source": "shop", "DetailType": "order", "EventBusName": arn,
             "Detail": json.dumps({"total": 250, "customer": "ann"})},
            {"Source": "shop", "DetailType": "order", "EventBusName": "shop",
             "Detail": json.dumps({"total": 5, "customer": "bo"})},
            {"Source": "shop", "DetailType": "order", "EventBusName": "nope", "Detail": "{}"},
        ])
        assert response["FailedEntryCount"] == 1
        assert response["Entries"][2]["ErrorCode"] == "ResourceNotFoundException"
        # A later matching event: once it is read from both queues, the non-matching one put
        # before it would have been read too.
        later = events.put_events(Entries=[
            {"Source": "shop", "DetailType": "order", "EventBusName": "shop",
             "Detail": json.dumps({"total": 400, "customer": "cy"})},
        ])
        assert later["FailedEntryCount"] == 0
        records = batches_in(out, 4)
        by_queue = {}
        for r in records:
            by_queue.setdefault(r["eventSourceARN"].rsplit(":", 1)[1], []).append(r)
        assert sorted(by_queue) == ["failed", "inbox"]
        # (The batch files' names are random: compared in order of total, or as sets.)
        assert sorted((json.loads(r["body"]) for r in by_queue["inbox"]), key=lambda b: b["total"]) == [
            {"customer": "ann", "total": 250, "rule": "big"},
            {"customer": "cy", "total": 400, "rule": "big"},
        ], "only the matching events"
        first = response["Entries"][0]["EventId"]
        dead_by_id = {json.loads(r["body"])["id"]: r for r in by_queue["failed"]}
        assert sorted(dead_by_id) == sorted([first, later["Entries"][0]["EventId"]])
        dead = dead_by_id[first]
        attributes = {k: v["stringValue"] for k, v in dead["messageAttributes"].items()}
        assert attributes["ERROR_CODE"] == "ResourceNotFoundException"
        assert attributes["RULE_ARN"] == rule_arn
        assert attributes["TARGET_ARN"] == "arn:aws:lambda:us-east-1:000000000000:function:missing"
        assert attributes["RETRY_ATTEMPTS"] == "0"
        # The AWS CLI sees the bus; deleting it takes its rule; default cannot be deleted.
        result = aws_cli(url, "events", "list-event-buses", "--name-prefix", "sh")
        assert result.returncode == 0, result.stderr
        assert [b["Name"] for b in json.loads(result.stdout)["EventBuses"]] == ["shop"]
        with pytest.raises(ClientError) as raised:
            events.delete_event_bus(Name="default")
        assert raised.value.response["Error"]["Message"] == "Cannot delete event bus default."
        events.delete_event_bus(Name="shop")
        with pytest.raises(events.exceptions.ResourceNotFoundException):
            events.describe_event_bus(Name="shop")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_boto3_event_bus_rule_with_a_redis_queue_target_and_a_dead_letter_queue(redis_url, tmp_path):
    out = tmp_path / "batches"
    out.mkdir()
    record = f'f=$(mktemp -p {out} batch.XXXXXX); cat > "$f"; echo null'
    proc, url = start_serve("--redis", redis_url, "--function", f"consume={record}")
    try:
        events = client("events", url)
        lam = client("lambda", url)
        events.create_event_bus(Name="orders")
        events.put_rule(Name="paid", EventBusName="orders",
                        EventPattern=json.dumps({"detail-type": ["paid"]}))
        put = events.put_targets(Rule="paid", EventBusName="orders", Targets=[
            {"Id": "jobs", "Arn": "arn:aws:sqs:us-east-1:000000000000:jobs", "InputPath": "$.detail"},
            {"Id": "missing", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:missing",
             "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:000000000000:dead"}},
        ])
        assert put["FailedEntryCount"] == 0
        # Both queues are Redis queues, read here through event source mappings.
        for queue in ["jobs", "dead"]:
            lam.create_event_source_mapping(
                EventSourceArn=f"arn:aws:sqs:us-east-1:000000000000:{queue}",
                FunctionName="consume", BatchSize=10)
        response = events.put_events(Entries=[
            {"Source": "shop", "DetailType": "paid", "EventBusName": "orders",
             "Detail": json.dumps({"order": 7})},
        ])
        assert response["FailedEntryCount"] == 0
        records = batches_in(out, 2)
        by_queue = {r["eventSourceARN"].rsplit(":", 1)[1]: r for r in records}
        assert sorted(by_queue) == ["dead", "jobs"]
        assert json.loads(by_queue["jobs"]["body"]) == {"order": 7}
        dead = json.loads(by_queue["dead"]["body"])
        assert dead["id"] == response["Entries"][0]["EventId"]
        assert dead["detail"] == {"order": 7}
        # The dead letter's attributes come back as SQS message attributes, with the body's MD5.
        attributes = {k: v["stringValue"] for k, v in by_queue["dead"]["messageAttributes"].items()}
        assert attributes["ERROR_CODE"] == "ResourceNotFoundException"
        assert attributes["TARGET_ARN"] == "arn:aws:lambda:us-east-1:000000000000:function:missing"
        for r in by_queue.values():
            assert r["md5OfBody"] == hashlib.md5(r["body"].encode()).hexdigest()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
