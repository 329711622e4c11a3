"""The Python API: Pattern, Matcher, FilterCriteria, verdicts, errors, pickling, explain."""

import json
import copy
import pickle

import pytest

import weir

RUNNING = {"detail": {"state": ["running"]}}
BIG = '{"detail": {"size": [{"numeric": [">", 10]}]}}'


def test_pattern_from_text_bytes_and_dict():
    a = weir.Pattern('{"detail": {"state": ["running"]}}')
    b = weir.Pattern(b'{"detail": {"state": ["running"]}}')
    c = weir.Pattern(RUNNING)
    assert a == b and hash(a) == hash(b)
    assert str(c) == '{"detail":{"state":["running"]}}' == c.text
    assert a != c  # different text
    assert a != weir.Pattern(str(a), lambda_strict=True)
    assert a != "not a pattern"
    assert repr(a) == "Pattern('{\"detail\": {\"state\": [\"running\"]}}')"
    assert "lambda_strict=True" in repr(weir.Pattern(RUNNING, lambda_strict=True))
    assert c.paths() == ["detail.state"]
    for p in (a, b, c):
        assert p.matches({"detail": {"state": "running"}})
        assert p.matches('{"detail": {"state": "running"}}')
        assert p.matches(b'{"detail": {"state": ["x", "running"]}}')
        assert p.matches(bytearray(b'{"detail": {"state": "running"}}'))
        assert p.matches(memoryview(b'{"detail": {"state": "running"}}'))
        assert not p.matches({"detail": {"state": "stopped"}})
    assert len({a, b, c}) == 2


def test_pattern_options():
    wildcard = '{"a": [{"wildcard": "x*"}]}'
    assert weir.Pattern(wildcard).matches({"a": "xy"})
    with pytest.raises(weir.PatternError) as e:
        weir.Pattern(wildcard, lambda_strict=True)
    assert e.value.kind == "unsupported"
    p = weir.Pattern('{"n": [300]}', numbers_as_strings=True)
    assert p.numbers_as_strings and not p.lambda_strict
    assert p.matches('{"n": 300}') and not p.matches('{"n": 300.0}')
    assert weir.Pattern('{"n": [300]}').matches('{"n": 300.0}')


def test_pickle_and_copy():
    for p in (
        weir.Pattern(RUNNING),
        weir.Pattern(BIG, lambda_strict=True),
        weir.Pattern('{"n": [1]}', numbers_as_strings=True),
    ):
        for proto in range(2, pickle.HIGHEST_PROTOCOL + 1):
            q = pickle.loads(pickle.dumps(p, protocol=proto))
            assert q == p and hash(q) == hash(p)
            assert (q.lambda_strict, q.numbers_as_strings) == (p.lambda_strict, p.numbers_as_strings)
        assert copy.deepcopy(p) == p
    m = weir.Matcher({"r": [RUNNING, BIG], "big": BIG}, lazy=True)
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.names() == ["r", "big"] and m2.patterns("r") == m.patterns("r") and m2.lazy
    event = {"detail": {"size": 11}}
    assert m2.matching_rules(event) == m.matching_rules(event) == ["r", "big"]
    err = pytest.raises(weir.PatternError, weir.Pattern, '{"a": []}').value
    err2 = pickle.loads(pickle.dumps(err))
    assert (err2.reason, err2.offset, err2.path, str(err2)) == (err.reason, err.offset, err.path, str(err))
    for v in (weir.Delivered, weir.FilteredOut, weir.Dropped("why", "not_json", 1)):
        assert pickle.loads(pickle.dumps(v)) == v


def test_matcher_rules():
    m = weir.Matcher({"running": RUNNING, "big": weir.Pattern(BIG)})
    assert len(m) == 2 and "running" in m and "nope" not in m and 3 not in m
    assert m.names() == ["running", "big"]
    event = {"detail": {"state": "running", "size": 42}}
    assert m.matching_rules(event) == ["running", "big"]
    m.add("running", '{"detail": {"state": ["pending"]}}')  # ORed
    assert m.matching_rules({"detail": {"state": "pending"}}) == ["running"]
    assert len(m.patterns("running")) == 2
    m.remove("big")
    with pytest.raises(KeyError):
        m.remove("big")
    assert not m.discard("big") and m.discard("running") and len(m) == 0
    assert m.matching_rules(event) == []
    with pytest.raises(KeyError):
        m.patterns("running")
    with pytest.raises(KeyError):
        m.explain("running", event)
    assert "0 rules" in repr(m)
    with pytest.raises(TypeError):
        weir.Matcher([("a", RUNNING)])  # not a mapping


def test_matcher_refuses_a_bad_rule_whole():
    m = weir.Matcher({"ok": RUNNING})
    with pytest.raises(weir.PatternError) as e:
        m.add("two", [BIG, '{"a": []}'])
    assert e.value.rule == "two" and e.value.path == "a"
    assert m.names() == ["ok"]
    with pytest.raises(weir.PatternError):
        weir.Matcher({"w": '{"a": [{"wildcard": "*"}]}'}, lambda_strict=True)


def test_batches():
    m = weir.Matcher({"running": RUNNING, "big": BIG})
    events = [
        {"detail": {"size": 1}},
        b'{"detail": {"size": 11}}',
        '{"detail": {"state": "running", "size": 20}}',
        {},
    ]
    assert m.filter(events) == [1, 2]
    assert m.match_many(events) == [[], ["big"], ["running", "big"], []]
    assert m.filter(iter(events)) == [1, 2]
    assert m.filter(tuple(events)) == [1, 2]
    assert m.filter([]) == [] and m.match_many([]) == []
    jsonl = b'{"detail": {"size": 11}}\n\n  \n{"detail": {"state": "running"}}\r\n{}'
    assert m.filter(jsonl) == [0, 1]
    assert m.match_many(jsonl.decode()) == [["big"], ["running"], []]
    assert m.filter(bytearray(jsonl)) == [0, 1]
    with pytest.raises(TypeError):
        m.filter({"detail": {}})
    with pytest.raises(TypeError):
        m.filter(42)
    with pytest.raises(ValueError):
        m.filter(events, errors="return")
    with pytest.raises(ValueError):
        m.match_many(events, errors="ignore")


def test_batch_errors():
    m = weir.Matcher({"big": BIG})
    events = ['{"detail": {"size": 11}}', "{oops", {"detail": {"size": {1}}}, {"detail": {"size": 12}}]
    with pytest.raises(weir.EventError) as e:
        m.filter(events)
    assert e.value.index == 1 and e.value.buffer_line is None and e.value.offset == 1
    assert str(e.value).startswith("event 1: invalid event: expected a string key")
    assert m.filter(events, errors="skip") == [0, 3]
    assert m.match_many(events, errors="skip") == [["big"], [], [], ["big"]]
    got = m.match_many(events, errors="return")
    assert got[0] == ["big"] and got[3] == ["big"]
    assert isinstance(got[1], weir.EventError) and got[1].index == 1
    assert isinstance(got[2], TypeError) and "events[2].detail.size" in str(got[2])
    with pytest.raises(TypeError, match=r"events\[0\]\.detail\.size: set is not JSON"):
        m.match_many(events[2:])
    jsonl = b'{"detail": {"size": 11}}\n\n{"detail": \n{"detail": {"size": 13}}\n'
    with pytest.raises(weir.EventError) as e:
        m.filter(jsonl)
    assert (e.value.index, e.value.buffer_line) == (1, 3)
    assert e.value.kind == "unexpected_end"
    assert m.filter(jsonl, errors="skip") == [0, 2]
    got = m.match_many(jsonl, errors="return")
    assert got[0] == ["big"] and got[2] == ["big"] and got[1].buffer_line == 3

    def failing():
        yield {"detail": {"size": 11}}
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        m.filter(failing())


def test_pattern_error_shapes():
    with pytest.raises(weir.PatternError) as e:
        weir.Pattern('{"detail": {"state": []}}')
    err = e.value
    assert isinstance(err, ValueError)
    assert (err.reason, err.kind, err.path) == ("Empty arrays are not allowed", "invalid", "detail.state")
    assert (err.line, err.column, err.offset) == (1, 22, 21)
    assert err.filter_index is None and err.rule is None
    assert str(err) == (
        "Empty arrays are not allowed\n"
        "  --> line 1, column 22 (byte 21), at detail.state\n"
        "  |\n"
        '1 | {"detail": {"state": []}}\n'
        "  |                      ^^"
    )
    assert err.aws_message == "Event pattern is not valid. Reason: Empty arrays are not allowed"
    # A syntax error on a later line, columns in characters.
    with pytest.raises(weir.PatternError) as e:
        weir.Pattern('{\n  "é": [1,\n}')
    assert e.value.kind == "syntax" and e.value.line == 3 and e.value.column == 1
    # Limits.
    with pytest.raises(weir.PatternError) as e:
        weir.Pattern({"a": ["x" * 5000]})
    assert e.value.kind == "limit"
    # Not UTF-8.
    with pytest.raises(weir.PatternError) as e:
        weir.Pattern(b'{"a": ["\xff"]}')
    assert e.value.kind == "syntax" and e.value.offset == 8
    # In a FilterCriteria: the filter's index, positions inside its pattern.
    with pytest.raises(weir.PatternError) as e:
        weir.FilterCriteria({"Filters": [{"Pattern": '{"a": [1]}'}, {"Pattern": '{"a": []}'}]})
    assert e.value.filter_index == 1 and e.value.offset == 6 and "filter 1" in str(e.value)
    with pytest.raises(weir.PatternError) as e:
        weir.FilterCriteria('{"Filters": [{"pattern": "{}"}]}')
    assert e.value.kind == "filter_criteria" and e.value.offset == 14
    with pytest.raises(weir.PatternError) as e:
        weir.FilterCriteria({"Filters": [{"Pattern": '{"a": [1]}'}] * 6})
    assert e.value.kind == "filter_criteria"
    assert len(weir.FilterCriteria({"Filters": [{"Pattern": '{"a": [1]}'}] * 6}, max_filters=10)) == 6


def test_event_error_shapes():
    p = weir.Pattern(RUNNING)
    with pytest.raises(weir.EventError) as e:
        p.matches('{"detail":\n  {"state": "x",}}')
    err = e.value
    assert isinstance(err, ValueError)
    assert (err.line, err.column, err.offset) == (2, 17, 27)
    assert err.reason == "expected a string key" and err.kind == "syntax"
    assert err.index is None
    assert "^" in str(err)
    for bad, kind in [
        (b"{", "unexpected_end"),
        (b'{"a": "\xff"}', "invalid_utf8"),
        (b'{"a": "\\x"}', "invalid_escape"),
        (b"{} x", "trailing_content"),
        (b"[" * 200 + b"]" * 200, "too_deep"),
        (b"", "unexpected_end"),
        (b"not json", "syntax"),
    ]:
        with pytest.raises(weir.EventError) as e:
            p.matches(bad)
        assert e.value.kind == kind, bad


def test_explain():
    p = weir.Pattern('{"detail": {"size": [{"numeric": [">", 10]}]}}')
    why = p.explain({"detail": {"size": 3}})
    assert not why.matched and why.pattern == p.text
    assert str(why) == (
        "no match\n"
        "  detail.size: 3 at 18..19, fails\n"
        "    numeric (10, +inf): does not hold\n"
    )
    f = why.group.fields[0]
    assert (f.path, f.held, f.used) == ("detail.size", False, None)
    assert f.values[0].text == "3" and f.values[0].span == (18, 19)
    assert f.conditions[0].condition == "numeric (10, +inf)" and not f.conditions[0].held
    d = why.to_dict()
    assert d["matched"] is False and d["group"]["fields"][0]["path"] == "detail.size"
    import json

    assert json.loads(why.to_json()) == d
    # $or and arrays.
    p = weir.Pattern('{"e": {"f": ["Anna"], "l": ["Jones"]}, "$or": [{"b": [2]}, {"c": [3]}]}')
    why = p.explain({"e": [{"f": "Anna", "l": "Smith"}, {"f": "Peter", "l": "Jones"}], "c": 3})
    assert not why.matched
    a = why.group.arrays[0]
    assert a.path == "e" and a.satisfied_by is None
    assert [el.lacks for el in a.elements] == [["e.l"], ["e.f"]]
    assert why.group.ors[0].alternatives[1].held
    m = weir.Matcher({"r": ['{"a": [1]}', '{"b": [2]}']})
    r = m.explain("r", {"b": 2})
    assert r.rule == "r" and r.matched
    assert [x.matched for x in r.patterns] == [False, True]
    assert r.to_dict()["rule"] == "r" and "r" in str(r)
    with pytest.raises(weir.EventError):
        p.explain("{")


def test_filter_criteria():
    fc = weir.FilterCriteria([{"body": {"a": [1]}}, weir.Pattern('{"body": {"b": [2]}}')])
    assert len(fc) == 2 and fc.lambda_strict
    assert fc.patterns() == ['{"body":{"a":[1]}}', '{"body": {"b": [2]}}']
    records = [{"body": '{"a": 1}'}, {"body": '{"b": 2}'}, {"body": '{"c": 3}'}, {"body": "text"}, "{oops"]
    got = fc.evaluate(records)
    assert got[:3] == [weir.Delivered, weir.Delivered, weir.FilteredOut]
    assert isinstance(got[3], weir.Dropped) and got[3].reason_kind == "json_pattern_on_text"
    assert isinstance(got[4], weir.Dropped) and got[4].reason_kind == "not_json"
    assert got[4].kind == "dropped" and not got[4].delivered
    assert "not valid JSON" in got[4].reason
    assert repr(weir.Delivered) == "weir.Delivered" and repr(got[4]).startswith("weir.Dropped(")
    assert weir.Verdict("delivered") == weir.Delivered != weir.FilteredOut
    with pytest.raises(ValueError):
        weir.Verdict("dropped")
    assert fc.matches({"body": {"a": 1}}) and not fc.matches({"body": {"a": 2}})
    with pytest.raises(ValueError):
        fc.evaluate(records, source="sns")
    plain = weir.FilterCriteria({"Filters": [{"Pattern": {"data": ["t=x"]}}]})
    plain.check_for("sqs")
    with pytest.raises(weir.PatternError) as e:
        plain.check_for("kinesis")
    assert e.value.kind == "unsupported" and e.value.filter_index == 0
    with pytest.raises(weir.PatternError):
        plain.evaluate([{"data": "eA=="}], source="kinesis")
    with pytest.raises(weir.PatternError):
        weir.FilterCriteria({"Filters": [{"Pattern": {"a": [{"wildcard": "*"}]}}]})
    assert weir.FilterCriteria({}).evaluate([{"body": "x"}]) == [weir.Delivered]
    assert weir.FilterCriteria({}).matches({}) is True
    with pytest.raises(TypeError, match=r"^records\[1\]\.body: set is not JSON"):
        fc.evaluate([{"body": "{}"}, {"body": {1, 2}}])
    with pytest.raises(TypeError):
        fc.evaluate({"records": []})


def test_matcher_reads_an_added_pattern_with_its_own_options():
    # A Pattern made with other options is read again with the matcher's: the rule matches
    # the same before and after pickling.
    m = weir.Matcher()
    m.add("r", weir.Pattern('{"n": [300]}', numbers_as_strings=True))
    assert m.matching_rules({"n": 300.0}) == ["r"]
    assert pickle.loads(pickle.dumps(m)).matching_rules({"n": 300.0}) == ["r"]
    text = weir.Matcher(numbers_as_strings=True)
    text.add("r", weir.Pattern('{"n": [300]}'))
    assert text.matching_rules({"n": 300.0}) == []
    assert pickle.loads(pickle.dumps(text)).matching_rules({"n": 300.0}) == []
    # A pattern the matcher's options refuse is refused, naming the rule.
    strict = weir.Matcher(lambda_strict=True)
    with pytest.raises(weir.PatternError) as e:
        strict.add("w", weir.Pattern('{"a": [{"wildcard": "x*"}]}'))
    assert e.value.kind == "unsupported" and e.value.rule == "w"
    assert len(strict) == 0
    with pytest.raises(weir.PatternError):
        weir.Matcher({"w": [weir.Pattern('{"a": ["x"]}'), weir.Pattern('{"a": [{"wildcard": "x*"}]}')]},
                     lambda_strict=True)


def test_filter_criteria_from_a_list_is_read_as_the_document():
    wildcard = '{"a": [{"wildcard": "x*"}]}'
    with pytest.raises(weir.PatternError) as e:
        weir.FilterCriteria([weir.Pattern(wildcard)])
    assert e.value.kind == "unsupported" and e.value.filter_index == 0
    with pytest.raises(weir.PatternError):
        weir.FilterCriteria([{"b": ["y"]}, wildcard])
    assert weir.FilterCriteria([weir.Pattern(wildcard)], lambda_strict=False).matches({"a": "xy"})
    nine = [{"a": [i]} for i in range(9)]
    with pytest.raises(weir.PatternError) as listed:
        weir.FilterCriteria(nine)
    with pytest.raises(weir.PatternError) as document:
        weir.FilterCriteria({"Filters": [{"Pattern": p} for p in nine]})
    assert listed.value.reason == document.value.reason
    assert "at most 5" in listed.value.reason
    assert listed.value.filter_index == document.value.filter_index == 5
    assert len(weir.FilterCriteria(nine, max_filters=10)) == 9


LAYOUTS = {
    "one value": '{"a": 1}',
    "one pretty value": json.dumps({"a": 1}, indent=2),
    "array": '[{"a": 1}, {"a": 2}, {"a": 1}]',
    "pretty array": json.dumps([{"a": 1}, {"a": 2}, {"a": 1}], indent=2),
    "jsonl": '{"a": 1}\n\n{"a": 2}\n{"a": 1}\n',
    "pretty stream": "\n".join(json.dumps(e, indent=2) for e in [{"a": 1}, {"a": 2}, {"a": 1}]),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_buffer_is_read_in_any_layout(layout):
    text = LAYOUTS[layout]
    want = [["one"] if e["a"] == 1 else [] for e in (
        [json.loads(text)] if layout.startswith("one") else
        json.loads(text) if "array" in layout else [{"a": 1}, {"a": 2}, {"a": 1}])]
    m = weir.Matcher({"one": {"a": [1]}})
    for buffer in (text, text.encode()):
        assert m.match_many(buffer) == want
        assert m.filter(buffer) == [i for i, w in enumerate(want) if w]
    fc = weir.FilterCriteria([{"body": {"a": [1]}}])
    records = [{"body": json.dumps({"a": e}), "messageId": str(e)} for e in (1, 2, 1)]
    for dumped in (json.dumps(records, indent=2), json.dumps(records[0], indent=2),
                   "\n".join(json.dumps(r) for r in records)):
        verdicts = fc.evaluate(dumped, "sqs")
        assert all(v is weir.Delivered or v is weir.FilteredOut for v in verdicts), verdicts
    assert fc.evaluate(json.dumps(records, indent=2), "sqs") == [
        weir.Delivered, weir.FilteredOut, weir.Delivered]
    assert fc.evaluate(json.dumps(records[1], indent=2), "sqs") == [weir.FilteredOut]


def test_a_buffer_that_cannot_be_cut_names_the_event():
    m = weir.Matcher({"one": {"a": [1]}})
    out = m.match_many('[{"a": 1},, {"a": 1}]', errors="return")
    assert isinstance(out[1], weir.EventError) and out[1].index == 1
    assert out[0] == ["one"] and out[-1] == ["one"]
    with pytest.raises(weir.EventError) as e:
        m.filter('{"a": 1}\n{"a": x}\n{"a": 1}\n')
    assert e.value.index == 1 and e.value.buffer_line == 2 and e.value.column == 7
    assert m.filter('{"a": 1}\n{"a": x}\n{"a": 1}\n', errors="skip") == [0, 2]


NOT_OBJECTS = ["[1]", "1", '"a"', "true", "null", " [ ]"]


@pytest.mark.parametrize("event", NOT_OBJECTS)
def test_an_event_must_be_an_object(event):
    p = weir.Pattern('{"a": [{"exists": false}]}')
    m = weir.Matcher({"r": p})
    fc = weir.FilterCriteria([p.text])
    calls = [p.matches, p.explain, m.matching_rules, m.is_match,
             lambda e: m.explain("r", e), fc.matches]
    for call in calls:
        value = json.loads(event)  # a str value is text to read, not the JSON string
        for form in (event, event.encode()) + (() if isinstance(value, str) else (value,)):
            with pytest.raises(weir.EventError) as e:
                call(form)
            assert e.value.kind == "not_an_object", (call, form)
            assert "must be a JSON object" in e.value.reason
    # Batches: the bad event is an error in its place, the others are matched.
    events = [{}, event, "{}"]
    with pytest.raises(weir.EventError) as e:
        m.match_many(events)
    assert e.value.kind == "not_an_object" and e.value.index == 1
    assert m.match_many(events, errors="skip") == [["r"], [], ["r"]]
    out = m.match_many(events, errors="return")
    assert out[0] == out[2] == ["r"] and out[1].kind == "not_an_object"
    assert m.filter(events, errors="skip") == [0, 2]
    buffer = "{}\n" + event.strip() + "\n{}\n"
    out = m.match_many(buffer, errors="return")
    assert out[1].kind == "not_an_object" and out[1].buffer_line == 2
    assert m.filter(buffer, errors="skip") == [0, 2]
    # A Lambda record that is not an object is dropped, as Lambda does.
    (v,) = fc.evaluate([event], "sqs")
    assert isinstance(v, weir.Dropped) and v.reason_kind == "not_an_object"


def test_verdict_equality_and_pickling():
    assert weir.Delivered.__eq__("delivered") is NotImplemented
    assert weir.Delivered != "delivered" and weir.Delivered == weir.Verdict("delivered")
    a = weir.Dropped("why", "not_json", 0)
    assert a == weir.Dropped("why", "not_json", 0)
    assert hash(a) == hash(weir.Dropped("why", "not_json", 0))
    assert a != weir.Dropped("why", "invalid_base64", 0)
    assert a != weir.Dropped("why", "not_json", 1)
    assert a != weir.Dropped("why", "not_json")
    for v in (weir.Delivered, weir.FilteredOut, weir.Verdict("filtered_out")):
        for copied in (pickle.loads(pickle.dumps(v)), copy.copy(v), copy.deepcopy(v)):
            assert copied == v
            if v is weir.Delivered or v is weir.FilteredOut:
                assert copied is v
    back = pickle.loads(pickle.dumps(a))
    assert type(back) is weir.Dropped and back == a
    assert (back.reason, back.reason_kind, back.filter_index) == ("why", "not_json", 0)


def test_a_rule_needs_a_pattern():
    m = weir.Matcher()
    for empty in ([], ()):
        with pytest.raises(ValueError, match="at least one pattern"):
            m.add("r", empty)
        with pytest.raises(ValueError, match="at least one pattern"):
            weir.Matcher({"r": empty})
    assert len(m) == 0
