"""Property: Pattern.matches, Matcher.matching_rules, .filter and .match_many (on dicts, on
text, on a JSONL buffer) agree on generated patterns and events."""

import json

from hypothesis import given, settings
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


@settings(max_examples=300, deadline=None)
@given(st.lists(patterns, min_size=1, max_size=4), st.lists(event_dicts, min_size=1, max_size=6))
def test_every_engine_agrees(pattern_dicts, events):
    compiled = []
    for p in pattern_dicts:
        try:
            compiled.append(weir.Pattern(p))
        except weir.PatternError:
            continue
    if not compiled:
        return
    names = [f"r{i}" for i in range(len(compiled))]
    m = weir.Matcher(dict(zip(names, compiled)))
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
