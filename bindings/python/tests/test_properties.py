"""Property: Pattern.matches, Matcher.matching_rules, .filter and .match_many (on dicts, on
text, on a JSONL buffer) agree on generated patterns and events."""

import json

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import weir

KEYS = ["a", "b", "c"]
scalars = st.one_of(
    st.sampled_from(["x", "y", "xy", "Y", ""]),
    st.integers(-3, 3),
    st.sampled_from([0.5, 1.0, 2.5, -1.5]),
    st.booleans(),
    st.none(),
)


def condition():
    return st.one_of(
        scalars,
        st.builds(lambda p: {"prefix": p}, st.sampled_from(["x", "", "Y"])),
        st.builds(lambda s: {"suffix": s}, st.sampled_from(["y", "x"])),
        st.builds(lambda e: {"exists": e}, st.booleans()),
        st.builds(lambda v: {"anything-but": v}, st.sampled_from(["x", 1, ["x", "y"]])),
        st.builds(lambda op, n: {"numeric": [op, n]}, st.sampled_from(["<", ">=", "="]), st.integers(-2, 2)),
        st.builds(lambda s: {"equals-ignore-case": s}, st.sampled_from(["x", "XY"])),
        st.builds(lambda w: {"wildcard": w}, st.sampled_from(["x*", "*y", "*"])),
    )


leaf = st.lists(condition(), min_size=1, max_size=3)
objects = st.recursive(
    st.dictionaries(st.sampled_from(KEYS), leaf, min_size=1, max_size=2),
    lambda inner: st.dictionaries(st.sampled_from(KEYS), inner | leaf, min_size=1, max_size=2),
    max_leaves=4,
)
# Some with an `$or` of two objects beside their fields.
patterns = objects | st.builds(
    lambda base, alts: {**base, "$or": alts}, objects, st.lists(objects, min_size=2, max_size=2)
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(KEYS), children, max_size=3),
    max_leaves=8,
)
event_dicts = st.dictionaries(st.sampled_from(KEYS), values, max_size=3)
# Bad events, each one line: text that is not JSON, and JSON (text or a Python value) that is
# not an object.
BAD_TEXTS = ["nope", '{"a": }', "[1]", "1", "null", '"s"']
bad_events = st.sampled_from(BAD_TEXTS) | st.sampled_from([[1], 3, None, "x"])
event_items = st.one_of(event_dicts, event_dicts, bad_events)


def is_good(e):
    return isinstance(e, dict)


@settings(max_examples=300, deadline=None)
@given(st.lists(patterns, min_size=1, max_size=4), st.lists(event_items, min_size=1, max_size=6))
def test_every_engine_agrees(pattern_dicts, items):
    compiled = []
    for p in pattern_dicts:
        try:
            compiled.append(weir.Pattern(p))
        except weir.PatternError:
            event("a pattern refused")
            continue
    # A case whose patterns are all refused checks nothing: it does not count.
    assume(compiled)
    names = [f"r{i}" for i in range(len(compiled))]
    m = weir.Matcher(dict(zip(names, compiled)))
    good = [i for i, e in enumerate(items) if is_good(e)]
    event(f"{len(items) - len(good)} bad events")
    events = [items[i] for i in good]
    want = [[n for n, p in zip(names, compiled) if p.matches(e)] for e in events]
    assert [m.matching_rules(e) for e in events] == want
    assert [m.is_match(e) for e in events] == [bool(w) for w in want]
    assert m.match_many(events) == want
    texts = [json.dumps(e) for e in events]
    assert m.match_many(texts) == want
    assert m.match_many("\n".join(texts)) == want
    assert m.filter(events) == [i for i, w in enumerate(want) if w]
    assert m.filter("\n".join(texts).encode()) == [i for i, w in enumerate(want) if w]
    lazy = weir.Matcher(dict(zip(names, compiled)), lazy=True)
    assert lazy.match_many(events) == want
    for n, p in zip(names, compiled):
        for e, w in zip(events, want):
            assert p.explain(e).matched == (n in w)
    # The patterns as the filters of one FilterCriteria: any filter matching.
    fc = weir.FilterCriteria(compiled, lambda_strict=False)
    assert [fc.matches(e) for e in events] == [bool(w) for w in want]

    # With the bad events in place: each bad event is an error at its own index, and every
    # good event keeps its answer.
    full = dict(zip(good, want))
    bad = [i for i in range(len(items)) if i not in full]
    skipped = [full.get(i, []) for i in range(len(items))]
    # As Python values, and as one JSONL buffer (a good event first, so the buffer is
    # read as JSONL whatever comes next; its answer is dropped).
    lines = ["{}"] + [json.dumps(e) if is_good(e) else e if isinstance(e, str) else json.dumps(e)
                      for e in items]
    for batch, offset in ((items, 0), ("\n".join(lines), 1)):
        got = m.match_many(batch, errors="skip")[offset:]
        assert got == skipped
        returned = m.match_many(batch, errors="return")[offset:]
        for i, r in enumerate(returned):
            if i in full:
                assert r == full[i]
            else:
                assert isinstance(r, weir.EventError), (i, items[i], r)
                assert r.index == i + offset
        filtered = [i - offset for i in m.filter(batch, errors="skip") if i >= offset]
        assert filtered == [i for i in range(len(items)) if skipped[i]]
        if bad:
            try:
                m.match_many(batch)
            except weir.EventError as e:
                assert e.index == bad[0] + offset
            else:
                raise AssertionError("a bad event raised nothing")
