"""Python values given as events or patterns become JSON without losing what JSON can carry;
what it cannot carry raises TypeError/ValueError naming the path, and never crashes."""

import decimal
import json
import math
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import weir


def test_exact_values():
    assert weir.to_json({"a": 10**30, "b": -(2**64), "c": 2**63 - 1}) == (
        '{"a":1000000000000000000000000000000,"b":-18446744073709551616,"c":9223372036854775807}'
    )
    assert weir.to_json([1e16, 1e-05, 0.0001, 1.0, -0.0, 0.1, 123456789.125, 5e-324]) == (
        "[1e+16,1e-05,0.0001,1.0,-0.0,0.1,123456789.125,5e-324]"
    )
    assert weir.to_json({"é": "ü\u2028\x00\x1f\"\\/\t", "emoji": "😀"}) == (
        '{"é":"ü\u2028\\u0000\\u001f\\"\\\\/\\t","emoji":"😀"}'
    )
    assert weir.to_json([True, False, None, (1, 2), []]) == "[true,false,null,[1,2],[]]"
    assert weir.to_json(decimal.Decimal("1.10")) == "1.10"
    assert weir.to_json(decimal.Decimal("1e400")) == "1E+400"


def test_big_numbers_match_by_value():
    p = weir.Pattern({"n": [{"numeric": [">", 1e15]}]})
    assert p.matches({"n": 10**16})
    assert not p.matches({"n": 10**14})
    # An int beyond 64 bits is written in digits and compared as AWS compares it.
    exact = weir.Pattern('{"n": [123456789012345678901234567890]}')
    assert exact.matches({"n": 123456789012345678901234567890}) == exact.matches(
        '{"n": 123456789012345678901234567890}'
    )
    assert weir.Pattern('{"n": [1e400]}').matches({"n": decimal.Decimal("1e400")})


class MyInt(int):
    def __str__(self):
        return "not digits"


class MyFloat(float):
    def __repr__(self):
        return "nope"


def test_subclasses_write_their_value():
    assert weir.to_json([MyInt(5), MyInt(10**20), MyFloat(0.5)]) == "[5,100000000000000000000,0.5]"
    import collections

    assert weir.to_json(collections.OrderedDict(a=1)) == '{"a":1}'


@pytest.mark.parametrize(
    "value, error, where",
    [
        ({"a": {1, 2}}, TypeError, "event.a: set is not JSON"),
        ({"a": [b"x"]}, TypeError, "event.a[0]: bytes is not JSON"),
        ({"a": float("nan")}, ValueError, "event.a: NaN is not a JSON number"),
        ({"a": {"b": float("inf")}}, ValueError, "event.a.b: inf is not a JSON number"),
        ({"a": -float("inf")}, ValueError, "event.a: -inf is not a JSON number"),
        ({"a": {1: "x"}}, TypeError, "event.a: key 1 (int) is not a str"),
        ({"a b": {"c.d": object()}}, TypeError, 'event["a b"]["c.d"]: object is not JSON'),
        ({"s": "\ud800"}, ValueError, "event.s: the string holds a lone surrogate"),
        ({"\udc00": 1}, ValueError, "event: the string holds a lone surrogate"),
        ({"d": decimal.Decimal("NaN")}, ValueError, "event.d: Decimal NaN is not a JSON number"),
        ({"c": 1 + 2j}, TypeError, "event.c: complex is not JSON"),
    ],
)
def test_unsupported_values_name_the_path(value, error, where):
    p = weir.Pattern({"a": [{"exists": True}]})
    with pytest.raises(error) as e:
        p.matches(value)
    assert str(e.value).startswith(where), str(e.value)
    m = weir.Matcher({"r": p})
    with pytest.raises(error) as e:
        m.filter([{}, value])
    assert str(e.value).startswith(where.replace("event", "events[1]", 1))
    assert m.filter([{"a": 1}, value, {"a": 2}], errors="skip") == [0, 2]


def test_deep_nesting_and_cycles():
    deep = {}
    node = deep
    for _ in range(weir.MAX_EVENT_DEPTH - 2):
        node["d"] = {}
        node = node["d"]
    p = weir.Pattern({"a": [{"exists": True}]})
    assert p.matches({"a": 1, "d": deep})  # 127 levels: as deep as weir reads
    node["d"] = {}
    with pytest.raises(ValueError, match="event.d.d.d.*: nesting deeper than 127"):
        p.matches({"a": 1, "d": deep})
    cycle = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="nesting deeper"):
        p.matches({"a": cycle})
    looped = {}
    looped["a"] = looped
    with pytest.raises(ValueError, match="nesting deeper"):
        weir.Matcher({"r": p}).filter([looped])
    # Far deeper than any recursion limit, as text: a clear error too.
    with pytest.raises(weir.EventError) as e:
        p.matches("[" * 100_000)
    assert e.value.kind == "too_deep"


def test_huge_values():
    old = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else None
    if old is not None:
        with pytest.raises(ValueError, match="event.n: this int cannot be written"):
            weir.Pattern({"n": [1]}).matches({"n": 10**5000})
    big = {"k": "x" * 5_000_000}
    assert weir.Pattern({"k": [{"prefix": "xx"}]}).matches(big)


def test_patterns_from_dicts_name_their_path():
    with pytest.raises(TypeError) as e:
        weir.Pattern({"detail": {"tags": [{1, 2}]}})
    assert str(e.value).startswith("pattern.detail.tags[0]: set is not JSON")
    with pytest.raises(TypeError) as e:
        weir.Matcher({"r": {"a": [b"x"]}})
    assert str(e.value).startswith('rules["r"].a[0]: bytes is not JSON')


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_written_json_reads_back_equal(value):
    text = weir.to_json(value)
    assert json.loads(text) == value
    assert text == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_are_written_as_repr(x):
    assert weir._weir._float_repr(x) == repr(x)
    assert float(weir.to_json(x)) == x or (math.isnan(x))


def test_a_decimal_subclass_is_written_as_a_decimal():
    class Injecting(decimal.Decimal):
        def __str__(self):
            return '1, "injected": true'

        def is_finite(self):
            return True

    event = {"n": Injecting("2")}
    assert weir.to_json(event) == '{"n":2}'
    assert not weir.Pattern('{"injected": [true]}').matches(event)
    assert weir.Pattern('{"n": [2]}').matches(event)
    for bad in ("NaN", "sNaN", "Infinity", "-Infinity"):
        with pytest.raises(ValueError, match=r"^event\.a\[1\]: Decimal .* is not a JSON number"):
            weir.Pattern('{"n": [2]}').matches({"a": [1, Injecting(bad)]})


def test_a_dict_changed_while_it_is_written():
    # Python code run while a dict is written (an int subclass's __int__) may change the
    # dict: the dict as it was when writing began is written, and nothing crashes.
    event = {"a": 1}

    class Growing(int):
        def __int__(self):
            event.clear()
            event.update({"x": 1, "y": 2, "z": 3})
            return int.__int__(self)

    event["big"] = Growing(2**70)
    event["c"] = 3
    assert json.loads(weir.to_json(event)) == {"a": 1, "big": 2**70, "c": 3}
    event2 = {"a": 1}

    class Swapping(int):
        def __int__(self):
            del event2["a"]
            event2["b"] = 2
            return int.__int__(self)

    event2["big"] = Swapping(2**70)
    assert json.loads(weir.to_json(event2)) == {"a": 1, "big": 2**70}
    event3 = {"a": 1}

    class Clearing(int):
        def __int__(self):
            event3.clear()
            return int.__int__(self)

    event3["big"] = Clearing(2**70)
    assert weir.Matcher({"r": {"a": [1]}}).match_many([event3, {"a": 1}]) == [["r"], ["r"]]
