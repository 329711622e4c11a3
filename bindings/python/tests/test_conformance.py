"""Every AWS-verified case of tests/data/conformance through Pattern, Matcher and
FilterCriteria: as text and as dicts, one event at a time and in batches."""

import base64
import json

import pytest

import weir

AWS_PREFIX = "Event pattern is not valid. Reason: "


def text_of(case, raw, parsed):
    return case[raw] if raw in case else json.dumps(case[parsed])


def is_envelope_case(case):
    return case.get("aws_error_message") == "Parameter Event is not valid."


def test_case_counts(eventbridge_cases, lambda_cases):
    assert len(eventbridge_cases) == 166
    assert len(lambda_cases) == 26


def test_error_cases_fail_with_aws_reason(eventbridge_cases):
    checked = 0
    for c in eventbridge_cases:
        if c["expected"] != "error" or is_envelope_case(c):
            continue
        want = c["aws_error_message"][len(AWS_PREFIX):].splitlines()[0]
        sources = [text_of(c, "pattern_raw", "pattern")]
        if "pattern_raw" not in c:
            sources.append(c["pattern"])  # the dict form fails the same way
        for source in sources:
            with pytest.raises(weir.PatternError) as e:
                weir.Pattern(source)
            assert e.value.reason == want, c["name"]
            assert e.value.aws_message.splitlines()[0] == c["aws_error_message"].splitlines()[0]
            assert e.value.offset is not None and e.value.line >= 1, c["name"]
            assert want in str(e.value) and "^" in str(e.value), c["name"]
            with pytest.raises(weir.PatternError) as e3:
                weir.FilterCriteria({"Filters": [{"Pattern": source}]}, lambda_strict=False)
            assert e3.value.reason == want and e3.value.filter_index == 0, c["name"]
            m = weir.Matcher()
            with pytest.raises(weir.PatternError) as e2:
                m.add(c["name"], source)
            assert e2.value.reason == want
            assert e2.value.rule == c["name"]
            assert len(m) == 0
        checked += 1
    assert checked == 42


def test_envelope_cases(eventbridge_cases):
    envelope = [c for c in eventbridge_cases if is_envelope_case(c)]
    assert len(envelope) == 3
    for c in envelope:
        weir.Pattern(text_of(c, "pattern_raw", "pattern"))
        with pytest.raises(weir.EventError):
            weir.check_envelope(text_of(c, "event_raw", "event"))


def verdict_cases(cases):
    return [c for c in cases if c["expected"] != "error"]


def test_match_cases_in_every_engine(eventbridge_cases):
    cases = verdict_cases(eventbridge_cases)
    assert len(cases) == 121
    multi = weir.Matcher()
    for c in cases:
        want = c["expected"] == "match"
        pattern_text = text_of(c, "pattern_raw", "pattern")
        event_text = text_of(c, "event_raw", "event")
        weir.check_envelope(event_text)
        p = weir.Pattern(pattern_text)
        events = [event_text, event_text.encode()]
        patterns = [p, weir.Pattern(pattern_text.encode())]
        if "event_raw" not in c:
            events.append(c["event"])
        if "pattern_raw" not in c:
            patterns.append(weir.Pattern(c["pattern"]))
        for pattern in patterns:
            for event in events:
                assert pattern.matches(event) is want, (c["name"], pattern, event)
        assert p.explain(event_text).matched is want, c["name"]
        # As a Lambda filter on a plain event (EventBridge's operators: not Lambda-strict).
        fc = weir.FilterCriteria({"Filters": [{"Pattern": pattern_text}]}, lambda_strict=False)
        for event in events:
            assert fc.matches(event) is want, c["name"]
        assert weir.FilterCriteria([p], lambda_strict=False).matches(event_text) is want
        m = weir.Matcher({c["name"]: p})
        for event in events:
            assert m.matching_rules(event) == ([c["name"]] if want else []), c["name"]
            assert m.is_match(event) is want
            assert m.explain(c["name"], event).matched is want
        # Batches: a list of every form, and a JSONL buffer.
        assert m.filter(events) == (list(range(len(events))) if want else [])
        assert m.match_many(events) == [[c["name"]] if want else [] for _ in events]
        multi.add(c["name"], pattern_text)
    # All rules in one matcher: each event matches its own rule iff expected, and every rule
    # it matches agrees with that rule's Pattern alone.
    alone = {c["name"]: weir.Pattern(text_of(c, "pattern_raw", "pattern")) for c in cases}
    texts = [text_of(c, "event_raw", "event") for c in cases]
    for c, event in zip(cases, texts):
        got = multi.matching_rules(event)
        assert (c["name"] in got) is (c["expected"] == "match"), c["name"]
        assert got == [name for name, p in alone.items() if p.matches(event)], c["name"]
    by_one = [multi.matching_rules(e) for e in texts]
    assert multi.match_many(texts) == by_one
    jsonl = "\n".join(json.dumps(json.loads(t)) for t in texts) + "\n"
    assert multi.match_many(jsonl) == by_one
    assert multi.match_many(jsonl.encode()) == by_one
    assert multi.filter(jsonl.encode()) == [i for i, r in enumerate(by_one) if r]
    dicts = [json.loads(t) for t in texts]
    assert multi.match_many(dicts) == by_one
    assert multi.match_many(iter(dicts)) == by_one


# ---- Lambda event source mappings ----


def criteria(pattern):
    return weir.FilterCriteria({"Filters": [{"Pattern": json.dumps(pattern)}]})


def sqs_record(n, body):
    return {
        "messageId": f"0000000{n}-0000-4000-8000-000000000000",
        "receiptHandle": f"handle-{n}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1700000000001",
        },
        "messageAttributes": {},
        "md5OfBody": "0",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue",
        "awsRegion": "us-east-1",
    }


def body_is_json(body):
    try:
        return isinstance(json.loads(body), (dict, list))
    except ValueError:
        return False


def test_sqs_records(lambda_cases):
    checked = 0
    for c in lambda_cases:
        if c["source"] != "sqs" or "records" not in c:
            continue
        assert c["aws_validated"] is True
        fc = criteria(c["pattern"])
        as_dict = weir.FilterCriteria({"Filters": [{"Pattern": c["pattern"]}]})
        records = [sqs_record(n, r["body"]) for n, r in enumerate(c["records"])]
        verdicts = fc.evaluate(records, source="sqs")
        assert verdicts == as_dict.evaluate(records, source="sqs")
        assert verdicts == fc.evaluate({"Records": records}, source="sqs")
        assert verdicts == fc.evaluate([json.dumps(r) for r in records], source="sqs")
        assert verdicts == fc.evaluate("\n".join(json.dumps(r) for r in records), "sqs")
        for r, record, v in zip(c["records"], records, verdicts):
            body = r["body"]
            if r["expected"] == "match":
                assert v is weir.Delivered, (c["id"], body)
            elif body_is_json(body):
                assert v == weir.FilteredOut, (c["id"], body)
            else:
                assert isinstance(v, weir.Dropped), (c["id"], body, v)
                assert v.reason_kind == "json_pattern_on_text" and v.filter_index == 0
            # The plain-JSON form: the body already decoded.
            plain = dict(record)
            if body_is_json(body):
                plain["body"] = json.loads(body)
            assert fc.matches(plain) is (r["expected"] == "match"), (c["id"], body)
            checked += 1
    assert checked == 18


def test_sqs_plain_string_pattern_is_refused(lambda_cases):
    (c,) = [c for c in lambda_cases if "skipped_upstream" in c]
    with pytest.raises(weir.PatternError) as e:
        criteria(c["pattern"])
    assert e.value.reason == '"body" must be an object or an array'
    assert e.value.kind == "invalid"
    assert e.value.filter_index == 0
    assert e.value.path == "body"
    assert e.value.offset is not None


def test_invalid_patterns_are_errors(lambda_cases):
    checked = 0
    for c in lambda_cases:
        if c.get("expected") != "error":
            continue
        assert c["aws_error_message"] == "Invalid filter pattern definition."
        raw = c["pattern_raw"]
        with pytest.raises(weir.PatternError) as e:
            weir.FilterCriteria({"Filters": [{"Pattern": raw}]})
        assert e.value.kind != "filter_criteria", c["id"]
        assert e.value.filter_index == 0
        assert e.value.offset is not None and e.value.offset <= len(raw.encode())
        with pytest.raises(weir.PatternError) as bare:
            weir.Pattern(raw)
        assert bare.value.reason == e.value.reason
        checked += 1
    assert checked == 6


class Table:
    """A DynamoDB table keyed on `id`, turning puts into NEW_AND_OLD_IMAGES stream records."""

    def __init__(self):
        self.items = {}
        self.sequence = 0

    def put(self, item):
        key = json.dumps(item["id"], sort_keys=True)
        old = self.items.get(key)
        self.items[key] = item
        if old is None:
            event_name = "INSERT"
        elif old == item:
            return None
        else:
            event_name = "MODIFY"
        self.sequence += 1
        dynamodb = {
            "ApproximateCreationDateTime": 1_700_000_000 + self.sequence,
            "Keys": {"id": item["id"]},
            "NewImage": item,
            "SequenceNumber": f"{self.sequence}00000000000000000000",
            "SizeBytes": len(json.dumps(item)),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if old is not None:
            dynamodb["OldImage"] = old
        return {
            "eventID": f"event-{self.sequence}",
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": dynamodb,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024",
        }


def test_dynamodb_stream_invocations(lambda_cases):
    checked = 0
    for c in lambda_cases:
        if c["source"] != "dynamodb" or c.get("expected") == "error":
            continue
        fc = criteria(c["pattern"])
        table = Table()
        records = [r for r in (table.put(c["item_put_1"]), table.put(c["item_put_2"])) if r]
        assert records, c["id"]
        verdicts = fc.evaluate(records, source="dynamodb")
        for r, v in zip(records, verdicts):
            assert v in (weir.Delivered, weir.FilteredOut), (c["id"], v)
            assert fc.matches(r) is v.delivered, c["id"]
        assert sum(v.delivered for v in verdicts) == c["expected_invocations"], c["id"]
        checked += 1
    assert checked == 9


def test_kinesis_records_reach_their_mappings(lambda_cases):
    checked = 0
    for c in lambda_cases:
        if c["source"] != "kinesis":
            continue
        mappings = {name: criteria(p) for name, p in c["patterns_by_mapping"].items()}
        for n, r in enumerate(c["records"]):
            data = r["data_json"]
            encoded = base64.b64encode(json.dumps(data).encode()).decode()
            inner = {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": f"pk-{n}",
                "sequenceNumber": f"4959{n}",
                "data": encoded,
                "approximateArrivalTimestamp": 1_700_000_000.5,
            }
            shaped = {
                "kinesis": inner,
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:4959{n}",
                "eventName": "aws:kinesis:record",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s",
            }
            for record in (inner, shaped):
                got = [
                    name
                    for name, fc in mappings.items()
                    if fc.evaluate([record], source="kinesis")[0] is weir.Delivered
                ]
                assert got == r["delivered_to"], (c["id"], n)
            plain = {"partitionKey": "pk", "data": data}
            got = [name for name, fc in mappings.items() if fc.matches(plain)]
            assert got == r["delivered_to"], (c["id"], n)
            checked += 1
    assert checked == 2


def test_every_lambda_case_is_covered(lambda_cases):
    for c in lambda_cases:
        covered = (
            c.get("expected") == "error"
            or "skipped_upstream" in c
            or (c["source"] == "sqs" and "records" in c)
            or (c["source"] == "dynamodb" and "expected_invocations" in c)
            or (c["source"] == "kinesis" and "patterns_by_mapping" in c)
        )
        assert covered, c["id"]
