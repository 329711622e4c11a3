"""AWS EventBridge and Lambda event-filter patterns, with AWS's exact semantics, at native speed.

>>> import weir
>>> p = weir.Pattern({"detail": {"state": ["running"]}})
>>> p.matches({"detail": {"state": "running"}})
True
>>> m = weir.Matcher({"running": p, "big": '{"detail": {"size": [{"numeric": [">", 10]}]}}'})
>>> m.matching_rules('{"detail": {"state": "running", "size": 42}}')
['running', 'big']

Everything is implemented by the Rust library weir (the extension module ``weir._weir``):
``Pattern``, ``Matcher``, ``FilterCriteria``, the explain reports, the verdicts and the
exceptions ``PatternError`` and ``EventError`` (both ``ValueError`` subclasses).
"""

from ._weir import (
    MAX_EVENT_DEPTH,
    ArrayReport,
    ConditionReport,
    Delivered,
    Dropped,
    ElementReport,
    EventError,
    EventValue,
    Explanation,
    FieldReport,
    FilterCriteria,
    FilteredOut,
    GroupReport,
    Matcher,
    OrReport,
    Pattern,
    PatternError,
    RuleExplanation,
    Verdict,
    __version__,
    check_envelope,
    to_json,
)

__all__ = [
    "MAX_EVENT_DEPTH",
    "ArrayReport",
    "ConditionReport",
    "Delivered",
    "Dropped",
    "ElementReport",
    "EventError",
    "EventValue",
    "Explanation",
    "FieldReport",
    "FilterCriteria",
    "FilteredOut",
    "GroupReport",
    "Matcher",
    "OrReport",
    "Pattern",
    "PatternError",
    "RuleExplanation",
    "Verdict",
    "__version__",
    "check_envelope",
    "to_json",
]
