//! Every operator's edge cases, each checked through both engines: the
//! reference interpreter (`weir_reference`) and the compiled `Matcher` (single event,
//! and a batch of all the table's events at once). A table reports every case that goes
//! wrong, naming the engine, before failing.

use weir::{BatchResults, Matcher, Options, Pattern};

/// Runs `pattern` against every `(event, expected)` pair in both engines and fails listing
/// every disagreement with the expected verdict.
fn table(pattern: &str, cases: &[(&str, bool)]) {
    table_with(&Options::new(), pattern, cases);
}

fn table_with(options: &Options, pattern: &str, cases: &[(&str, bool)]) {
    let parsed = Pattern::parse_with(pattern, options)
        .unwrap_or_else(|e| panic!("pattern {pattern} refused: {e}"));
    let mut m = Matcher::with_options(options.clone());
    m.add_rule("r", pattern)
        .unwrap_or_else(|e| panic!("pattern {pattern} refused by the matcher: {e}"));
    let mut failures = Vec::new();
    for &(event, want) in cases {
        match weir_reference::matches_text(&parsed, event.as_bytes()) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!("reference: {event} -> {got}, want {want}")),
            Err(e) => failures.push(format!("reference: {event} -> error {e}")),
        }
        match m.is_match(event.as_bytes()) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!("matcher: {event} -> {got}, want {want}")),
            Err(e) => failures.push(format!("matcher: {event} -> error {e}")),
        }
    }
    // The batch path must give the same verdicts as the single-event path.
    let mut results = BatchResults::new();
    m.match_batch(cases.iter().map(|(e, _)| e.as_bytes()), &mut results);
    assert_eq!(results.len(), cases.len());
    for ((event, want), r) in cases.iter().zip(results.iter()) {
        match r {
            Ok(ids) if ids.is_empty() != *want => {}
            Ok(ids) => failures.push(format!("batch: {event} -> {ids:?}, want {want}")),
            Err(e) => failures.push(format!("batch: {event} -> error {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "pattern {pattern}:\n  {}",
        failures.join("\n  ")
    );
}

/// The reason `pattern` is refused with.
fn refused(pattern: &str) -> String {
    match Pattern::parse(pattern) {
        Ok(p) => panic!("pattern {pattern} accepted: {p}"),
        Err(e) => e.reason().to_string(),
    }
}

// ---------------------------------------------------------------- literals

#[test]
fn exact_strings_are_byte_exact() {
    table(
        r#"{"s": ["Hello"]}"#,
        &[
            (r#"{"s": "Hello"}"#, true),
            (r#"{"s": "hello"}"#, false),
            (r#"{"s": "Hello "}"#, false),
            (r#"{"s": "Hell"}"#, false),
            (r#"{"s": "\u0048ello"}"#, true),
            (r#"{"s": ["x", "Hello"]}"#, true),
            (r#"{"t": "Hello"}"#, false),
            (r#"{}"#, false),
        ],
    );
    // No Unicode normalisation: precomposed é is not e + combining acute.
    table(
        r#"{"s": ["caf\u00e9"]}"#,
        &[
            (r#"{"s": "café"}"#, true),
            ("{\"s\": \"cafe\u{301}\"}", false),
            (r#"{"s": "CAFÉ"}"#, false),
        ],
    );
}

#[test]
fn numbers_compare_numerically() {
    table(
        r#"{"n": [300]}"#,
        &[
            (r#"{"n": 300}"#, true),
            (r#"{"n": 300.0}"#, true),
            (r#"{"n": 3e2}"#, true),
            (r#"{"n": 3E+2}"#, true),
            (r#"{"n": 30000e-2}"#, true),
            (r#"{"n": 300.000000}"#, true),
            (r#"{"n": 301}"#, false),
            (r#"{"n": 299.99999}"#, false),
            (r#"{"n": -300}"#, false),
            (r#"{"n": "300"}"#, false),
            (r#"{"n": [1, 2, 300.0]}"#, true),
        ],
    );
    table(
        r#"{"n": [3e2]}"#,
        &[(r#"{"n": 300}"#, true), (r#"{"n": 3}"#, false)],
    );
    table(
        r#"{"n": [0]}"#,
        &[
            (r#"{"n": 0}"#, true),
            (r#"{"n": -0}"#, true),
            (r#"{"n": 0.0e10}"#, true),
            (r#"{"n": false}"#, false),
            (r#"{"n": null}"#, false),
            (r#"{"n": "0"}"#, false),
        ],
    );
    table(
        r#"{"n": [-1.5]}"#,
        &[
            (r#"{"n": -1.50}"#, true),
            (r#"{"n": -15e-1}"#, true),
            (r#"{"n": 1.5}"#, false),
        ],
    );
}

#[test]
fn strings_and_numbers_never_match_each_other() {
    table(
        r#"{"n": ["3"]}"#,
        &[
            (r#"{"n": 3}"#, false),
            (r#"{"n": "3"}"#, true),
            (r#"{"n": 3.0}"#, false),
        ],
    );
    table(
        r#"{"n": [3]}"#,
        &[(r#"{"n": "3"}"#, false), (r#"{"n": 3}"#, true)],
    );
}

#[test]
fn inexact_decimals_compare_by_text() {
    // 0.10000000000000001 names no double exactly: no numeric match with 0.1, text equality only.
    table(
        r#"{"n": [0.10000000000000001]}"#,
        &[
            (r#"{"n": 0.1}"#, false),
            (r#"{"n": 0.10000000000000001}"#, true),
            (r#"{"n": "0.10000000000000001"}"#, false),
        ],
    );
    table(
        r#"{"n": [0.1]}"#,
        &[
            (r#"{"n": 0.1}"#, true),
            (r#"{"n": 0.10}"#, true),
            (r#"{"n": 1e-1}"#, true),
            (r#"{"n": 0.10000000000000001}"#, false),
        ],
    );
    // Integers above 2^53 that are not doubles.
    table(
        r#"{"n": [9007199254740993]}"#,
        &[
            (r#"{"n": 9007199254740993}"#, true),
            (r#"{"n": 9007199254740992}"#, false),
            (r#"{"n": 9007199254740994}"#, false),
        ],
    );
    table(
        r#"{"n": [9007199254740992]}"#,
        &[
            (r#"{"n": 9007199254740992.0}"#, true),
            (r#"{"n": 9007199254740993}"#, false),
        ],
    );
    // Beyond the double range: text equality only.
    table(
        r#"{"n": [1e400]}"#,
        &[
            (r#"{"n": 1e400}"#, true),
            (r#"{"n": 1e300}"#, false),
            (r#"{"n": 2e400}"#, false),
        ],
    );
}

/// Compared by text, `1E400`, `1e400` and `1e+400` are one spelling: both engines compare
/// number texts with the exponent written `e+`/`e-` (the reference interpreter reads events
/// with serde_json, which respells them so).
#[test]
fn exponent_spelling_in_text_comparisons() {
    table(
        r#"{"n": [1e400]}"#,
        &[
            (r#"{"n": 1E400}"#, true),
            (r#"{"n": 1e+400}"#, true),
            (r#"{"n": 1E+400}"#, true),
            (r#"{"n": 1e-400}"#, false),
            (r#"{"n": 10e399}"#, false),
        ],
    );
    table(
        r#"{"n": [{"anything-but": "x"}, 1E+400]}"#,
        &[(r#"{"n": 1e400}"#, true), (r#"{"n": "x"}"#, false)],
    );
    // `anything-but` refuses a number that names no double.
    assert_eq!(
        refused(r#"{"n": [{"anything-but": 1E+400}]}"#),
        "Cannot compare number : 1E+400"
    );
    let text = Options::new().numbers_as_strings(true);
    table_with(
        &text,
        r#"{"n": [3e2]}"#,
        &[
            (r#"{"n": 3E2}"#, true),
            (r#"{"n": 3e+2}"#, true),
            (r#"{"n": 300}"#, false),
            (r#"{"n": 3.0e2}"#, false),
        ],
    );
    table_with(
        &text,
        r#"{"n": [1.5E-3]}"#,
        &[(r#"{"n": 1.5e-3}"#, true), (r#"{"n": 0.0015}"#, false)],
    );
}

#[test]
fn numbers_as_strings_option_compares_text() {
    let o = Options::new().numbers_as_strings(true);
    table_with(
        &o,
        r#"{"n": [300]}"#,
        &[
            (r#"{"n": 300}"#, true),
            (r#"{"n": 300.0}"#, false),
            (r#"{"n": 3e2}"#, false),
            (r#"{"n": "300"}"#, false),
        ],
    );
    table_with(
        &o,
        r#"{"n": [3e2, 1.50]}"#,
        &[
            (r#"{"n": 3e2}"#, true),
            (r#"{"n": 1.50}"#, true),
            (r#"{"n": 1.5}"#, false),
            (r#"{"n": 300}"#, false),
        ],
    );
    table_with(
        &o,
        r#"{"n": [{"anything-but": [300]}]}"#,
        &[
            (r#"{"n": 300}"#, false),
            (r#"{"n": 300.0}"#, true),
            (r#"{"n": "300"}"#, true),
        ],
    );
    // Numeric ranges still compare values.
    table_with(
        &o,
        r#"{"n": [{"numeric": ["=", 300]}]}"#,
        &[(r#"{"n": 3e2}"#, true), (r#"{"n": 301}"#, false)],
    );
}

#[test]
fn null_missing_empty_string_and_empty_array_are_distinct() {
    table(
        r#"{"a": [null]}"#,
        &[
            (r#"{"a": null}"#, true),
            (r#"{"a": [null]}"#, true),
            (r#"{"a": [1, null]}"#, true),
            (r#"{}"#, false),
            (r#"{"a": ""}"#, false),
            (r#"{"a": []}"#, false),
            (r#"{"a": {}}"#, false),
            (r#"{"a": "null"}"#, false),
            (r#"{"a": 0}"#, false),
            (r#"{"a": false}"#, false),
        ],
    );
    table(
        r#"{"a": [""]}"#,
        &[
            (r#"{"a": ""}"#, true),
            (r#"{"a": null}"#, false),
            (r#"{}"#, false),
            (r#"{"a": []}"#, false),
            (r#"{"a": " "}"#, false),
            (r#"{"a": [""]}"#, true),
        ],
    );
}

#[test]
fn booleans_match_booleans_only() {
    table(
        r#"{"b": [true]}"#,
        &[
            (r#"{"b": true}"#, true),
            (r#"{"b": false}"#, false),
            (r#"{"b": "true"}"#, false),
            (r#"{"b": 1}"#, false),
            (r#"{"b": [false, true]}"#, true),
        ],
    );
    table(
        r#"{"b": ["true"]}"#,
        &[(r#"{"b": true}"#, false), (r#"{"b": "true"}"#, true)],
    );
    table(
        r#"{"b": [false]}"#,
        &[
            (r#"{"b": false}"#, true),
            (r#"{"b": 0}"#, false),
            (r#"{"b": null}"#, false),
        ],
    );
}

#[test]
fn ip_address_literals_compare_as_addresses() {
    table(
        r#"{"ip": ["10.0.0.1"]}"#,
        &[
            (r#"{"ip": "10.0.0.1"}"#, true),
            (r#"{"ip": "010.000.000.001"}"#, true),
            (r#"{"ip": "10.0.0.01"}"#, true),
            (r#"{"ip": "10.0.0.2"}"#, false),
            (r#"{"ip": "10.0.0"}"#, false),
            (r#"{"ip": "10.0.0.1 "}"#, false),
            (r#"{"ip": "10.0.0.256"}"#, false),
        ],
    );
    table(
        r#"{"ip": ["010.000.000.001"]}"#,
        &[
            (r#"{"ip": "10.0.0.1"}"#, true),
            (r#"{"ip": "10.0.0.10"}"#, false),
        ],
    );
    table(
        r#"{"ip": ["2001:db8::1"]}"#,
        &[
            (r#"{"ip": "2001:db8::1"}"#, true),
            (r#"{"ip": "2001:DB8::1"}"#, true),
            (r#"{"ip": "2001:0db8:0000:0000:0000:0000:0000:0001"}"#, true),
            (r#"{"ip": "2001:db8:0:0::1"}"#, true),
            (r#"{"ip": "2001:db8::2"}"#, false),
            (r#"{"ip": "2001:db8::1::"}"#, false),
        ],
    );
    // A string that is not an address keeps plain byte equality.
    table(
        r#"{"ip": ["10.0.0.1x"]}"#,
        &[
            (r#"{"ip": "10.0.0.1x"}"#, true),
            (r#"{"ip": "10.0.0.1"}"#, false),
        ],
    );
}

// ---------------------------------------------------------------- arrays and structure

#[test]
fn event_arrays_match_any_element_and_flatten() {
    table(
        r#"{"a": [1]}"#,
        &[
            (r#"{"a": [0, 1]}"#, true),
            (r#"{"a": [[0], [[1]]]}"#, true),
            (r#"{"a": [0, 2]}"#, false),
            (r#"{"a": []}"#, false),
            (r#"{"a": [[]]}"#, false),
            (r#"{"a": [[], [[]]]}"#, false),
        ],
    );
    table(
        r#"{"a": {"b": ["x"]}}"#,
        &[
            (r#"{"a": [{"b": "y"}, {"b": "x"}]}"#, true),
            (r#"{"a": [{"b": ["y", "x"]}]}"#, true),
            (r#"{"a": [[{"b": "x"}]]}"#, true),
            (r#"{"a": []}"#, false),
            (r#"{"a": [{"c": "x"}]}"#, false),
        ],
    );
}

#[test]
fn array_consistency() {
    let pattern = r#"{"e": {"f": ["Anna"], "l": ["Jones"]}}"#;
    table(
        pattern,
        &[
            (
                r#"{"e": [{"f": "Anna", "l": "Smith"}, {"f": "Peter", "l": "Jones"}]}"#,
                false,
            ),
            (
                r#"{"e": [{"f": "Anna", "l": "Smith"}, {"f": "Anna", "l": "Jones"}]}"#,
                true,
            ),
            (r#"{"e": {"f": "Anna", "l": "Jones"}}"#, true),
            // Scalars under one element are in the same element, whatever their own arrays.
            (
                r#"{"e": [{"f": ["Peter", "Anna"], "l": ["Smith", "Jones"]}]}"#,
                true,
            ),
            // Deeper: the two leaves sit in different elements of the inner array.
            (r#"{"e": [[{"f": "Anna"}, {"l": "Jones"}]]}"#, false),
            (r#"{"e": [[{"f": "Anna", "l": "Jones"}]]}"#, true),
        ],
    );
    // Three levels, consistency on the outer array only.
    table(
        r#"{"o": {"m": {"f": ["Anna"], "l": ["Jones"]}}}"#,
        &[
            (r#"{"o": [{"m": [{"f": "Anna"}, {"l": "Jones"}]}]}"#, false),
            (
                r#"{"o": [{"m": {"f": "Anna"}}, {"m": {"l": "Jones"}}]}"#,
                false,
            ),
            (
                r#"{"o": [{"m": {"f": "x"}}, {"m": {"f": "Anna", "l": "Jones"}}]}"#,
                true,
            ),
        ],
    );
    // Leaves under different arrays are independent.
    table(
        r#"{"a": {"x": [1]}, "b": {"y": [2]}}"#,
        &[
            (
                r#"{"a": [{"x": 0}, {"x": 1}], "b": [{"y": 2}, {"y": 0}]}"#,
                true,
            ),
            (r#"{"a": [{"x": 0}], "b": [{"y": 2}]}"#, false),
        ],
    );
    // A parent leaf and a child leaf in the same array element.
    table(
        r#"{"e": {"id": [1], "tags": {"k": ["v"]}}}"#,
        &[
            (
                r#"{"e": [{"id": 1, "tags": [{"k": "w"}]}, {"id": 2, "tags": [{"k": "v"}]}]}"#,
                false,
            ),
            (
                r#"{"e": [{"id": 2, "tags": [{"k": "v"}]}, {"id": 1, "tags": [{"k": "w"}, {"k": "v"}]}]}"#,
                true,
            ),
        ],
    );
}

#[test]
fn objects_and_scalars_do_not_match_each_other() {
    table(
        r#"{"a": {"b": [1]}}"#,
        &[
            (r#"{"a": 1}"#, false),
            (r#"{"a": "b"}"#, false),
            (r#"{"a": [1]}"#, false),
            (r#"{"a": {"b": 1}}"#, true),
            (r#"{"a": {"b": {"c": 1}}}"#, false),
        ],
    );
    table(
        r#"{"a": [1]}"#,
        &[
            (r#"{"a": {"b": 1}}"#, false),
            (r#"{"a": {}}"#, false),
            (r#"{"a": [{"b": 1}]}"#, false),
        ],
    );
}

#[test]
fn dot_joined_keys_both_ways() {
    table(
        r#"{"a.b": [1]}"#,
        &[
            (r#"{"a": {"b": 1}}"#, true),
            (r#"{"a.b": 1}"#, true),
            (r#"{"a": {"c": 1}}"#, false),
        ],
    );
    table(
        r#"{"a": {"b": [1]}}"#,
        &[
            (r#"{"a.b": 1}"#, true),
            (r#"{"a": {"b": 1}}"#, true),
            (r#"{"a.c": 1}"#, false),
        ],
    );
    table(
        r#"{"a": {"b.c": {"d": [1]}}}"#,
        &[
            (r#"{"a.b": {"c.d": 1}}"#, true),
            (r#"{"a": {"b": {"c": {"d": 1}}}}"#, true),
            (r#"{"a.b.c.d": 1}"#, true),
            (r#"{"a.b.c.d": 2}"#, false),
        ],
    );
}

/// Empty keys follow event-ruler's path joining. In a pattern, a key under an empty path adds
/// no dot (`{"": {"b": ..}}` is the path `b`); in an event every key is joined (`{"": {"b":
/// ..}}` is `.b`). An event key that is exactly `""` is read only when a path of the pattern
/// names an empty step (its steps are the path split on `.`, trailing empty pieces dropped).
#[test]
fn empty_keys_follow_event_ruler_path_joining() {
    table(
        r#"{"": {"b": ["v"]}}"#,
        &[
            (r#"{"b": "v"}"#, true),
            (r#"{"": {"b": "v"}}"#, false),
            (r#"{".b": "v"}"#, false),
            (r#"{"": {"": {"b": "v"}}}"#, false),
        ],
    );
    // Two empty keys: the pattern path is `..b`, which names an empty step.
    table(
        r#"{"": {"": {"b": ["v"]}}}"#,
        &[
            (r#"{"": {"": {"b": "v"}}}"#, true),
            (r#"{"..b": "v"}"#, true),
            (r#"{"": {".b": "v"}}"#, true),
            (r#"{".": {"b": "v"}}"#, true),
            (r#"{"": {"b": "v"}}"#, false),
            (r#"{"b": "v"}"#, false),
        ],
    );
    table(
        r#"{"": ["v"]}"#,
        &[
            (r#"{"": "v"}"#, true),
            (r#"{"": ["x", "v"]}"#, true),
            (r#""v""#, false),
            (r#"["v"]"#, false),
            (r#"{"a": "v"}"#, false),
        ],
    );
    // `a.` names the step `a` only: an event key `""` is not read, a dotted key is.
    for pattern in [r#"{"a": {"": ["v"]}}"#, r#"{"a.": ["v"]}"#] {
        table(
            pattern,
            &[
                (r#"{"a.": "v"}"#, true),
                (r#"{"a": {".": "v"}}"#, false),
                (r#"{"a": {"": "v"}}"#, false),
                (r#"{"a": "v"}"#, false),
            ],
        );
    }
    table(
        r#"{"a": {"": [{"exists": false}]}}"#,
        &[
            (r#"{"a": {"": "v"}}"#, true),
            (r#"{"a.": "v"}"#, false),
            (r#"{}"#, true),
        ],
    );
    // A pattern path naming an empty step makes every empty key readable: `x..y` here (a
    // key under a non-empty path is joined with a dot, even an empty one).
    table(
        r#"{"a.": ["v"], "x": {"": {"y": [1]}}}"#,
        &[
            (r#"{"a": {"": "v"}, "x": {"": {"y": 1}}}"#, true),
            (r#"{"a.": "v", "x..y": 1}"#, true),
            (r#"{"a.": "v", "x.y": 1}"#, false),
        ],
    );
    table(
        r#"{"a.": ["v"], "": [1]}"#,
        &[
            (r#"{"a": {"": "v"}, "": 1}"#, true),
            (r#"{"a.": "v", "": 1}"#, true),
            (r#"{"a": {"": "v"}}"#, false),
        ],
    );
}

#[test]
fn values_stay_strings_even_when_they_look_like_json() {
    table(r#"{"a": {"b": [1]}}"#, &[(r#"{"a": "{\"b\": 1}"}"#, false)]);
    table(
        r#"{"a": ["{\"b\": 1}"]}"#,
        &[(r#"{"a": "{\"b\": 1}"}"#, true)],
    );
}

#[test]
fn sibling_keys_and_and_values_or() {
    table(
        r#"{"a": [1, 2], "b": ["x"]}"#,
        &[
            (r#"{"a": 2, "b": "x"}"#, true),
            (r#"{"a": 3, "b": "x"}"#, false),
            (r#"{"a": 1}"#, false),
            (r#"{"b": "x"}"#, false),
            (r#"{"a": 1, "b": "x", "c": 0}"#, true),
        ],
    );
    // A pattern with no leaves is refused; the condition-free pattern matches every event.
    assert_eq!(refused("{}"), "Empty objects are not allowed");
    for event in [r#"{}"#, r#"{"a": 1}"#] {
        assert!(
            Pattern::match_all().matches(event.as_bytes()).unwrap()
                && weir_reference::matches_text(&Pattern::match_all(), event.as_bytes()).unwrap()
        );
    }
}

#[test]
fn repeated_event_keys_keep_the_last_value() {
    table(
        r#"{"a": [1]}"#,
        &[
            (r#"{"a": 1, "a": 2}"#, false),
            (r#"{"a": 2, "a": 1}"#, true),
            // Keys compare unescaped, as JSON readers compare them: these repeat `a` too.
            (r#"{"a": 1, "\u0061": 2}"#, false),
            (r#"{"\u0061": 1, "a": 2}"#, false),
            (r#"{"\u0061": 2, "\u0061": 1}"#, true),
            (r#"{"a": 2, "\u0061": 1}"#, true),
            (r#"{"\u0061": 1, "b": 0}"#, true),
        ],
    );
    table(
        r#"{"o": {"k": ["x"]}}"#,
        &[
            (r#"{"o": {"k": "x", "\u006b": "y"}}"#, false),
            (r#"{"\u006f": {"k": "y"}, "o": {"k": "x"}}"#, true),
            (r#"{"o": {"k": "x"}, "\u006f": {"k": "y"}}"#, false),
        ],
    );
}

// ---------------------------------------------------------------- prefix / suffix

#[test]
fn prefix() {
    table(
        r#"{"a": [{"prefix": "us-"}]}"#,
        &[
            (r#"{"a": "us-east-1"}"#, true),
            (r#"{"a": "us-"}"#, true),
            (r#"{"a": "us"}"#, false),
            (r#"{"a": "US-east"}"#, false),
            (r#"{"a": "eu-us-"}"#, false),
            (r#"{"a": ["eu", "us-x"]}"#, true),
            (r#"{"a": null}"#, false),
            (r#"{}"#, false),
        ],
    );
    table(
        r#"{"a": [{"prefix": "1"}]}"#,
        &[
            (r#"{"a": 123}"#, false),
            (r#"{"a": "123"}"#, true),
            (r#"{"a": 1}"#, false),
        ],
    );
    table(
        r#"{"a": [{"prefix": ""}]}"#,
        &[
            (r#"{"a": ""}"#, true),
            (r#"{"a": "x"}"#, true),
            (r#"{"a": 0}"#, false),
            (r#"{"a": true}"#, false),
            (r#"{"a": null}"#, false),
            (r#"{"a": []}"#, false),
            (r#"{}"#, false),
        ],
    );
    table(
        r#"{"a": [{"prefix": "é"}]}"#,
        &[
            (r#"{"a": "été"}"#, true),
            (r#"{"a": "\u00e9t"}"#, true),
            (r#"{"a": "Été"}"#, false),
        ],
    );
}

#[test]
fn prefix_and_suffix_ignoring_case() {
    table(
        r#"{"a": [{"prefix": {"equals-ignore-case": "EvB"}}]}"#,
        &[
            (r#"{"a": "evbridge"}"#, true),
            (r#"{"a": "EVB"}"#, true),
            (r#"{"a": "eVb-x"}"#, true),
            (r#"{"a": "ev"}"#, false),
            (r#"{"a": "xevb"}"#, false),
            (r#"{"a": 1}"#, false),
        ],
    );
    table(
        r#"{"a": [{"prefix": {"equals-ignore-case": "É"}}]}"#,
        &[
            (r#"{"a": "été"}"#, true),
            (r#"{"a": "Été"}"#, true),
            (r#"{"a": "e"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"suffix": {"equals-ignore-case": ".PNG"}}]}"#,
        &[
            (r#"{"a": "x.png"}"#, true),
            (r#"{"a": "x.Png"}"#, true),
            (r#"{"a": "x.PNG"}"#, true),
            (r#"{"a": "x.jpg"}"#, false),
            (r#"{"a": "png"}"#, false),
        ],
    );
}

#[test]
fn suffix() {
    table(
        r#"{"a": [{"suffix": ".png"}]}"#,
        &[
            (r#"{"a": "a.png"}"#, true),
            (r#"{"a": ".png"}"#, true),
            (r#"{"a": "a.PNG"}"#, false),
            (r#"{"a": "a.png.bak"}"#, false),
            (r#"{"a": "png"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"suffix": ""}]}"#,
        &[
            (r#"{"a": ""}"#, true),
            (r#"{"a": "x"}"#, true),
            (r#"{"a": 1}"#, false),
            (r#"{}"#, false),
        ],
    );
    table(
        r#"{"a": [{"suffix": "3"}]}"#,
        &[(r#"{"a": 123}"#, false), (r#"{"a": "123"}"#, true)],
    );
}

#[test]
fn prefix_and_suffix_operands_must_be_strings() {
    assert_eq!(
        refused(r#"{"a": [{"prefix": 1}]}"#),
        "prefix match pattern must be a string"
    );
    assert_eq!(
        refused(r#"{"a": [{"suffix": null}]}"#),
        "suffix match pattern must be a string"
    );
}

// ---------------------------------------------------------------- equals-ignore-case

#[test]
fn equals_ignore_case() {
    table(
        r#"{"a": [{"equals-ignore-case": "alice"}]}"#,
        &[
            (r#"{"a": "alice"}"#, true),
            (r#"{"a": "ALICE"}"#, true),
            (r#"{"a": "aLiCe"}"#, true),
            (r#"{"a": "alice "}"#, false),
            (r#"{"a": "alic"}"#, false),
            (r#"{"a": ["bob", "Alice"]}"#, true),
            (r#"{"a": null}"#, false),
        ],
    );
    table(
        r#"{"a": [{"equals-ignore-case": "É"}]}"#,
        &[
            (r#"{"a": "é"}"#, true),
            (r#"{"a": "É"}"#, true),
            (r#"{"a": "e"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"equals-ignore-case": "ÉTÉ"}]}"#,
        &[
            (r#"{"a": "été"}"#, true),
            (r#"{"a": "Été"}"#, true),
            (r#"{"a": "ete"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"equals-ignore-case": ""}]}"#,
        &[
            (r#"{"a": ""}"#, true),
            (r#"{"a": " "}"#, false),
            (r#"{"a": null}"#, false),
            (r#"{}"#, false),
        ],
    );
    table(
        r#"{"a": [{"equals-ignore-case": "1"}]}"#,
        &[(r#"{"a": 1}"#, false), (r#"{"a": "1"}"#, true)],
    );
}

// ---------------------------------------------------------------- wildcard

#[test]
fn wildcard() {
    table(
        r#"{"a": [{"wildcard": "dir/*.png"}]}"#,
        &[
            (r#"{"a": "dir/a.png"}"#, true),
            (r#"{"a": "dir/.png"}"#, true),
            (r#"{"a": "dir/a/b.png"}"#, true),
            (r#"{"a": "dir/a.png.png"}"#, true),
            (r#"{"a": "dir/a.jpg"}"#, false),
            (r#"{"a": "xdir/a.png"}"#, false),
            (r#"{"a": "dir/a.pngx"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"wildcard": "*"}]}"#,
        &[
            (r#"{"a": ""}"#, true),
            (r#"{"a": "anything"}"#, true),
            (r#"{"a": 1}"#, false),
            (r#"{"a": null}"#, false),
        ],
    );
    table(
        r#"{"a": [{"wildcard": "*.png"}]}"#,
        &[
            (r#"{"a": ".png"}"#, true),
            (r#"{"a": "x.png"}"#, true),
            (r#"{"a": "x.pn"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"wildcard": "img*"}]}"#,
        &[
            (r#"{"a": "img"}"#, true),
            (r#"{"a": "img1"}"#, true),
            (r#"{"a": "im"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"wildcard": "a*b*c"}]}"#,
        &[
            (r#"{"a": "abc"}"#, true),
            (r#"{"a": "aXbYc"}"#, true),
            (r#"{"a": "acbc"}"#, true),
            (r#"{"a": "abcb"}"#, false),
            (r#"{"a": "acb"}"#, false),
        ],
    );
    // Overlapping literal around a star: "ab*ba" must not reuse characters.
    table(
        r#"{"a": [{"wildcard": "ab*ba"}]}"#,
        &[
            (r#"{"a": "aba"}"#, false),
            (r#"{"a": "abba"}"#, true),
            (r#"{"a": "abXba"}"#, true),
        ],
    );
    table(
        r#"{"a": [{"wildcard": ""}]}"#,
        &[(r#"{"a": ""}"#, true), (r#"{"a": "x"}"#, false)],
    );
    table(
        r#"{"a": [{"wildcard": "no-star"}]}"#,
        &[
            (r#"{"a": "no-star"}"#, true),
            (r#"{"a": "no-stars"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"wildcard": "1*"}]}"#,
        &[(r#"{"a": 12}"#, false), (r#"{"a": "12"}"#, true)],
    );
    table(
        r#"{"a": [{"wildcard": "é*ü"}]}"#,
        &[
            (r#"{"a": "éxü"}"#, true),
            (r#"{"a": "éü"}"#, true),
            (r#"{"a": "éu"}"#, false),
        ],
    );
}

#[test]
fn wildcard_escapes() {
    // JSON "a\\*b" is the wildcard a\*b: a literal star.
    table(
        r#"{"a": [{"wildcard": "a\\*b"}]}"#,
        &[
            (r#"{"a": "a*b"}"#, true),
            (r#"{"a": "axb"}"#, false),
            (r#"{"a": "a*xb"}"#, false),
        ],
    );
    // a\\* : a literal backslash, then a star.
    table(
        r#"{"a": [{"wildcard": "a\\\\*"}]}"#,
        &[
            (r#"{"a": "a\\"}"#, true),
            (r#"{"a": "a\\xyz"}"#, true),
            (r#"{"a": "a"}"#, false),
        ],
    );
    assert_eq!(
        refused(r#"{"a": [{"wildcard": "a\\b"}]}"#),
        "Invalid escape character at pos 1"
    );
    assert_eq!(
        refused(r#"{"a": [{"wildcard": "a**"}]}"#),
        "Consecutive wildcard characters at pos 2"
    );
    assert_eq!(
        refused(r#"{"a": [{"wildcard": 5}]}"#),
        "wildcard match pattern must be a string"
    );
}

// ---------------------------------------------------------------- anything-but

#[test]
fn anything_but_string() {
    table(
        r#"{"a": [{"anything-but": "x"}]}"#,
        &[
            (r#"{"a": "y"}"#, true),
            (r#"{"a": "x"}"#, false),
            (r#"{"a": "X"}"#, true),
            (r#"{"a": ""}"#, true),
            (r#"{"a": null}"#, true),
            (r#"{"a": true}"#, true),
            (r#"{"a": 1}"#, true),
            (r#"{}"#, false),
            (r#"{"b": "y"}"#, false),
            (r#"{"a": []}"#, false),
            (r#"{"a": ["x"]}"#, false),
            (r#"{"a": ["x", "x"]}"#, false),
            (r#"{"a": ["x", "y"]}"#, true),
            (r#"{"a": {"b": "y"}}"#, false),
        ],
    );
}

#[test]
fn anything_but_is_type_sensitive() {
    table(
        r#"{"a": [{"anything-but": "3"}]}"#,
        &[(r#"{"a": 3}"#, true), (r#"{"a": "3"}"#, false)],
    );
    table(
        r#"{"a": [{"anything-but": 3}]}"#,
        &[
            (r#"{"a": "3"}"#, true),
            (r#"{"a": 3}"#, false),
            (r#"{"a": 3.0}"#, false),
            (r#"{"a": 3e0}"#, false),
            (r#"{"a": 4}"#, true),
        ],
    );
}

#[test]
fn anything_but_lists() {
    table(
        r#"{"a": [{"anything-but": [1, 2]}]}"#,
        &[
            (r#"{"a": 1}"#, false),
            (r#"{"a": 2.0}"#, false),
            (r#"{"a": 3}"#, true),
            (r#"{"a": "1"}"#, true),
            (r#"{"a": [1, 2]}"#, false),
            (r#"{"a": [1, 2, 3]}"#, true),
            (r#"{"a": null}"#, true),
        ],
    );
    table(
        r#"{"a": [{"anything-but": ["stopped", "overloaded"]}]}"#,
        &[
            (r#"{"a": "running"}"#, true),
            (r#"{"a": "stopped"}"#, false),
            (r#"{"a": "overloaded"}"#, false),
            (r#"{"a": ["stopped", "overloaded"]}"#, false),
            (r#"{"a": ["stopped", "running"]}"#, true),
        ],
    );
    // ORed with a literal in the same leaf.
    table(
        r#"{"a": ["x", {"anything-but": ["x", "y"]}]}"#,
        &[
            (r#"{"a": "x"}"#, true),
            (r#"{"a": "y"}"#, false),
            (r#"{"a": "z"}"#, true),
        ],
    );
}

#[test]
fn anything_but_prefix_and_suffix() {
    table(
        r#"{"a": [{"anything-but": {"prefix": "init"}}]}"#,
        &[
            (r#"{"a": "initial"}"#, false),
            (r#"{"a": "init"}"#, false),
            (r#"{"a": "ini"}"#, true),
            (r#"{"a": "xinit"}"#, true),
            (r#"{"a": 5}"#, true),
            (r#"{"a": null}"#, true),
            (r#"{"a": ["initial", "final"]}"#, true),
            (r#"{}"#, false),
        ],
    );
    table(
        r#"{"a": [{"anything-but": {"prefix": ["a", "b"]}}]}"#,
        &[
            (r#"{"a": "ax"}"#, false),
            (r#"{"a": "bx"}"#, false),
            (r#"{"a": "cx"}"#, true),
        ],
    );
    table(
        r#"{"a": [{"anything-but": {"suffix": ".tmp"}}]}"#,
        &[
            (r#"{"a": "x.tmp"}"#, false),
            (r#"{"a": "x.TMP"}"#, true),
            (r#"{"a": "x.txt"}"#, true),
            (r#"{"a": false}"#, true),
        ],
    );
    assert_eq!(
        refused(r#"{"a": [{"anything-but": {"prefix": ""}}]}"#),
        "Null prefix/suffix not allowed"
    );
    assert_eq!(
        refused(r#"{"a": [{"anything-but": {"suffix": ["x", ""]}}]}"#),
        "Null prefix/suffix not allowed"
    );
}

#[test]
fn anything_but_equals_ignore_case() {
    table(
        r#"{"a": [{"anything-but": {"equals-ignore-case": ["a", "b"]}}]}"#,
        &[
            (r#"{"a": "A"}"#, false),
            (r#"{"a": "b"}"#, false),
            (r#"{"a": "c"}"#, true),
            (r#"{"a": 1}"#, true),
            (r#"{"a": ["A", "B"]}"#, false),
            (r#"{"a": ["A", "C"]}"#, true),
        ],
    );
    table(
        r#"{"a": [{"anything-but": {"equals-ignore-case": "É"}}]}"#,
        &[(r#"{"a": "é"}"#, false), (r#"{"a": "e"}"#, true)],
    );
    assert_eq!(
        refused(r#"{"a": [{"anything-but": {"equals-ignore-case": [1]}}]}"#),
        "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
    );
}

/// AWS's engine does not fold the event text: each pattern character accepts its Java lower
/// case and its Java upper case (full mappings), nothing else.
#[test]
fn ignore_case_accepts_each_pattern_characters_lower_and_upper_case() {
    // İ lower-cases to i + combining dot above; ı and i are other letters.
    table(
        r#"{"a": [{"equals-ignore-case": "\u0130"}]}"#,
        &[
            (r#"{"a": "\u0130"}"#, true),
            (r#"{"a": "i\u0307"}"#, true),
            (r#"{"a": "i"}"#, false),
            (r#"{"a": "I"}"#, false),
            (r#"{"a": "\u0131"}"#, false),
        ],
    );
    // Titlecase ǅ accepts ǆ and Ǆ, not itself.
    table(
        r#"{"a": [{"equals-ignore-case": "\u01c5"}]}"#,
        &[
            (r#"{"a": "\u01c6"}"#, true),
            (r#"{"a": "\u01c4"}"#, true),
            (r#"{"a": "\u01c5"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"equals-ignore-case": "\u01c6"}]}"#,
        &[(r#"{"a": "\u01c4"}"#, true), (r#"{"a": "\u01c5"}"#, false)],
    );
    // The Ohm sign lower-cases to ω and is not Omega.
    table(
        r#"{"a": [{"equals-ignore-case": "\u2126"}]}"#,
        &[
            (r#"{"a": "\u03c9"}"#, true),
            (r#"{"a": "\u2126"}"#, true),
            (r#"{"a": "\u03a9"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"equals-ignore-case": "\u03a9"}]}"#,
        &[(r#"{"a": "\u03c9"}"#, true), (r#"{"a": "\u2126"}"#, false)],
    );
    // ß upper-cases to SS; SS does not lower-case to ß.
    table(
        r#"{"a": [{"equals-ignore-case": "Stra\u00dfe"}]}"#,
        &[
            (r#"{"a": "STRASSE"}"#, true),
            (r#"{"a": "stra\u00dfe"}"#, true),
            (r#"{"a": "strasse"}"#, false),
            (r#"{"a": "STRA\u1e9eE"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"equals-ignore-case": "STRASSE"}]}"#,
        &[
            (r#"{"a": "strasse"}"#, true),
            (r#"{"a": "stra\u00dfe"}"#, false),
        ],
    );
    // One Σ alone lower-cases to σ, never to the final ς.
    table(
        r#"{"a": [{"equals-ignore-case": "\u039f\u0394\u039f\u03a3"}]}"#,
        &[
            (r#"{"a": "\u03bf\u03b4\u03bf\u03c3"}"#, true),
            (r#"{"a": "\u03bf\u03b4\u03bf\u03c2"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"equals-ignore-case": "\u03bf\u03b4\u03bf\u03c2"}]}"#,
        &[
            (r#"{"a": "\u039f\u0394\u039f\u03a3"}"#, true),
            (r#"{"a": "\u03bf\u03b4\u03bf\u03c3"}"#, false),
        ],
    );
    // The Kelvin sign accepts k (and itself); k and K do not accept it.
    table(
        r#"{"a": [{"equals-ignore-case": "\u212a"}]}"#,
        &[
            (r#"{"a": "k"}"#, true),
            (r#"{"a": "\u212a"}"#, true),
            (r#"{"a": "K"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"equals-ignore-case": "K"}]}"#,
        &[(r#"{"a": "k"}"#, true), (r#"{"a": "\u212a"}"#, false)],
    );
    // Beyond the basic plane (a surrogate pair in JSON escapes): Deseret long I.
    table(
        r#"{"a": [{"equals-ignore-case": "x\ud801\udc00Y"}]}"#,
        &[
            (r#"{"a": "X\ud801\udc28y"}"#, true),
            (r#"{"a": "x\ud801\udc00y"}"#, true),
            (r#"{"a": "x??y"}"#, false),
            (r#"{"a": "xy"}"#, false),
        ],
    );
}

#[test]
fn prefix_suffix_and_anything_but_ignoring_case_beyond_ascii() {
    table(
        r#"{"a": [{"prefix": {"equals-ignore-case": "\u00df"}}]}"#,
        &[
            (r#"{"a": "SSE"}"#, true),
            (r#"{"a": "\u00dfe"}"#, true),
            (r#"{"a": "Se"}"#, false),
            (r#"{"a": "sse"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"prefix": {"equals-ignore-case": "\u0130s"}}]}"#,
        &[
            (r#"{"a": "i\u0307stanbul"}"#, true),
            (r#"{"a": "\u0130STANBUL"}"#, true),
            (r#"{"a": "istanbul"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"prefix": {"equals-ignore-case": "\u01c5"}}]}"#,
        &[
            (r#"{"a": "\u01c4x"}"#, true),
            (r#"{"a": "\u01c5x"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"suffix": {"equals-ignore-case": "\u2126"}}]}"#,
        &[
            (r#"{"a": "10 \u03c9"}"#, true),
            (r#"{"a": "10 \u03a9"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"suffix": {"equals-ignore-case": "\u212a"}}]}"#,
        &[(r#"{"a": "5k"}"#, true), (r#"{"a": "5K"}"#, false)],
    );
    table(
        r#"{"a": [{"suffix": {"equals-ignore-case": "\ud801\udc28"}}]}"#,
        &[
            (r#"{"a": "a\ud801\udc00"}"#, true),
            (r#"{"a": "a\ud801\udc01"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"suffix": {"equals-ignore-case": "\u03c2"}}]}"#,
        &[
            (r#"{"a": "\u039f\u0394\u039f\u03a3"}"#, true),
            (r#"{"a": "\u03bf\u03b4\u03bf\u03c3"}"#, false),
        ],
    );
    table(
        r#"{"a": [{"anything-but": {"equals-ignore-case": ["\u212a", "\u00df", "\u01c5"]}}]}"#,
        &[
            (r#"{"a": "k"}"#, false),
            (r#"{"a": "K"}"#, true),
            (r#"{"a": "SS"}"#, false),
            (r#"{"a": "ss"}"#, true),
            (r#"{"a": "\u01c6"}"#, false),
            (r#"{"a": "\u01c5"}"#, true),
            (r#"{"a": "\ud801\udc00"}"#, true),
        ],
    );
    table(
        r#"{"a": [{"anything-but": {"equals-ignore-case": ["\ud801\udc00", "\u0130"]}}]}"#,
        &[
            (r#"{"a": "\ud801\udc28"}"#, false),
            (r#"{"a": "i\u0307"}"#, false),
            (r#"{"a": "i"}"#, true),
            (r#"{"a": "??"}"#, true),
        ],
    );
}

/// Values whose case keys collide (`k`, `K`, the Kelvin sign; `ß`, `SS`, `ss`) share one
/// index entry in the compiled matcher; each still matches only what it accepts.
#[test]
fn ignore_case_values_sharing_a_key_stay_apart() {
    let values = [
        "k", "K", "\u{212a}", "ß", "SS", "ss", "ẞ", "ǅ", "Ǆ", "Ω", "\u{2126}",
    ];
    let mut m = Matcher::new();
    let mut patterns = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let text = format!(
            r#"{{"a": [{{"equals-ignore-case": {}}}]}}"#,
            serde_json::json!(v)
        );
        m.add_rule(format!("r{i}"), &text).unwrap();
        patterns.push(Pattern::parse(&text).unwrap());
    }
    let events = [
        "k", "K", "\u{212a}", "ß", "SS", "ss", "Ss", "ẞ", "ǅ", "ǆ", "Ǆ", "ω", "Ω", "\u{2126}",
    ];
    for e in events {
        let event = serde_json::json!({ "a": e }).to_string();
        let mut want: Vec<String> = Vec::new();
        for (i, (p, v)) in patterns.iter().zip(values).enumerate() {
            let hit = weir_reference::matches_text(p, event.as_bytes()).unwrap();
            assert_eq!(hit, weir::ir::eq_ignore_case(v, e), "{v:?} {e:?}");
            if hit {
                want.push(format!("r{i}"));
            }
        }
        let got = m.matching_rules(event.as_bytes()).unwrap();
        assert_eq!(got, want, "event {e:?}");
    }
    // A few verdicts spelled out.
    let rules = |e: &str| {
        m.matching_rules(serde_json::json!({ "a": e }).to_string().as_bytes())
            .unwrap()
    };
    assert_eq!(rules("k"), ["r0", "r1", "r2"]);
    assert_eq!(rules("\u{212a}"), ["r2"]);
    assert_eq!(rules("SS"), ["r3", "r4", "r5"]);
    assert_eq!(rules("ß"), ["r3", "r6"]);
    assert_eq!(rules("ǅ"), Vec::<&str>::new());
    assert_eq!(rules("ǆ"), ["r7", "r8"]);
    assert_eq!(rules("\u{2126}"), ["r10"]);
}

#[test]
fn anything_but_wildcard() {
    table(
        r#"{"a": [{"anything-but": {"wildcard": "*/lib/*"}}]}"#,
        &[
            (r#"{"a": "/usr/lib/x"}"#, false),
            (r#"{"a": "/lib/"}"#, false),
            (r#"{"a": "/usr/bin/x"}"#, true),
            (r#"{"a": 7}"#, true),
            (r#"{"a": null}"#, true),
        ],
    );
    table(
        r#"{"a": [{"anything-but": {"wildcard": ["a*", "*z"]}}]}"#,
        &[
            (r#"{"a": "ab"}"#, false),
            (r#"{"a": "yz"}"#, false),
            (r#"{"a": "by"}"#, true),
        ],
    );
}

#[test]
fn anything_but_refusals() {
    let shape = "Value of anything-but must be an array or single string/number value.";
    assert_eq!(refused(r#"{"a": [{"anything-but": null}]}"#), shape);
    assert_eq!(refused(r#"{"a": [{"anything-but": true}]}"#), shape);
    assert_eq!(
        refused(r#"{"a": [{"anything-but": ["x", null]}]}"#),
        "Inside anything but list, start|null|boolean is not supported."
    );
    assert_eq!(
        refused(r#"{"a": [{"anything-but": [false]}]}"#),
        "Inside anything but list, start|null|boolean is not supported."
    );
    assert_eq!(
        refused(r#"{"a": [{"anything-but": ["x", 1]}]}"#),
        "Inside anything but list, either all values are number or string, mixed type is not supported"
    );
    assert_eq!(
        refused(r#"{"a": [{"anything-but": []}]}"#),
        "Empty arrays are not allowed"
    );
}

// ---------------------------------------------------------------- numeric

#[test]
fn numeric_ranges() {
    table(
        r#"{"n": [{"numeric": [">", 0, "<=", 5]}]}"#,
        &[
            (r#"{"n": 0}"#, false),
            (r#"{"n": -0.0}"#, false),
            (r#"{"n": 0.0001}"#, true),
            (r#"{"n": 5}"#, true),
            (r#"{"n": 5.0}"#, true),
            (r#"{"n": 5e0}"#, true),
            (r#"{"n": 5.0001}"#, false),
            (r#"{"n": "3"}"#, false),
            (r#"{"n": null}"#, false),
            (r#"{"n": true}"#, false),
            (r#"{}"#, false),
            (r#"{"n": [9, 3]}"#, true),
            (r#"{"n": [9, 0]}"#, false),
            (r#"{"n": []}"#, false),
        ],
    );
    table(
        r#"{"n": [{"numeric": [">=", 0, "<", 5]}]}"#,
        &[
            (r#"{"n": 0}"#, true),
            (r#"{"n": 5}"#, false),
            (r#"{"n": 4.999999}"#, true),
        ],
    );
}

#[test]
fn numeric_single_comparisons() {
    table(
        r#"{"n": [{"numeric": ["=", 3]}]}"#,
        &[
            (r#"{"n": 3}"#, true),
            (r#"{"n": 3.0}"#, true),
            (r#"{"n": 0.3e1}"#, true),
            (r#"{"n": 3.0000001}"#, false),
        ],
    );
    table(
        r#"{"n": [{"numeric": ["<", -1]}]}"#,
        &[
            (r#"{"n": -1.5}"#, true),
            (r#"{"n": -1}"#, false),
            (r#"{"n": -1e308}"#, true),
            (r#"{"n": 0}"#, false),
        ],
    );
    table(
        r#"{"n": [{"numeric": ["<=", -1]}]}"#,
        &[(r#"{"n": -1}"#, true), (r#"{"n": -0.999}"#, false)],
    );
    table(
        r#"{"n": [{"numeric": [">", 1e300]}]}"#,
        &[
            (r#"{"n": 1.7976931348623157e308}"#, true),
            (r#"{"n": 1e300}"#, false),
            (r#"{"n": 1e301}"#, true),
            // Beyond the double range and over-precise decimals never match numerically.
            (r#"{"n": 1e400}"#, false),
        ],
    );
    table(
        r#"{"n": [{"numeric": [">", 0]}]}"#,
        &[
            (r#"{"n": 4.9e-324}"#, true),
            // Java prints the smallest double 4.9E-324: `5e-324` names it inexactly.
            (r#"{"n": 5e-324}"#, false),
            (r#"{"n": 0.10000000000000001}"#, false),
            (r#"{"n": 123456789012345678901234567890}"#, false),
            (r#"{"n": 1e-400}"#, false),
        ],
    );
    table(
        r#"{"n": [{"numeric": [">=", -1.7976931348623157e308, "<=", 1.7976931348623157e308]}]}"#,
        &[
            (r#"{"n": 0}"#, true),
            (r#"{"n": -1.7976931348623157e308}"#, true),
            (r#"{"n": "0"}"#, false),
        ],
    );
}

#[test]
fn numeric_refusals() {
    assert_eq!(
        refused(r#"{"n": [{"numeric": 5}]}"#),
        "Value of numeric must be an array."
    );
    assert_eq!(
        refused(r#"{"n": [{"numeric": [">", 0, ">", 5]}]}"#),
        "Bad numeric range operator: >"
    );
    assert_eq!(
        refused(r#"{"n": [{"numeric": ["<", 0, "<", 5]}]}"#),
        "Too many elements in numeric expression"
    );
    assert_eq!(
        refused(r#"{"n": [{"numeric": [">", 0, "<", 5, "<", 6]}]}"#),
        "Too many elements in numeric expression"
    );
    assert_eq!(
        refused(r#"{"n": [{"numeric": [">", 5, "<", 5]}]}"#),
        "Bottom must be less than top"
    );
    assert_eq!(
        refused(r#"{"n": [{"numeric": [">", 6, "<", 5]}]}"#),
        "Bottom must be less than top"
    );
    assert_eq!(
        refused(r#"{"n": [{"numeric": [">", "5"]}]}"#),
        "Value of > must be numeric"
    );
    assert_eq!(
        refused(r#"{"n": [{"numeric": [">"]}]}"#),
        "Value of > must be numeric"
    );
    assert_eq!(
        refused(r#"{"n": [{"numeric": [">", 1e400]}]}"#),
        "Cannot compare number : 1e400"
    );
    assert_eq!(
        refused(r#"{"n": [{"numeric": [">", 0, "<", 5e-324]}]}"#),
        "Cannot compare number : 5e-324"
    );
    assert_eq!(
        refused(r#"{"n": [{"anything-but": [9007199254740993]}]}"#),
        "Cannot compare number : 9007199254740993"
    );
    assert_eq!(
        refused(r#"{"n": [{"numeric": ["!=", 1]}]}"#),
        "Unrecognized numeric range operator: !="
    );
}

// ---------------------------------------------------------------- cidr

#[test]
fn cidr_v4() {
    table(
        r#"{"ip": [{"cidr": "10.0.0.0/24"}]}"#,
        &[
            (r#"{"ip": "10.0.0.0"}"#, true),
            (r#"{"ip": "10.0.0.255"}"#, true),
            (r#"{"ip": "010.000.000.001"}"#, true),
            (r#"{"ip": "10.0.1.0"}"#, false),
            (r#"{"ip": "9.255.255.255"}"#, false),
            (r#"{"ip": "not an ip"}"#, false),
            (r#"{"ip": "10.0.0"}"#, false),
            (r#"{"ip": "10.0.0.1/24"}"#, false),
            (r#"{"ip": 10}"#, false),
            (r#"{"ip": null}"#, false),
            (r#"{"ip": ["1.1.1.1", "10.0.0.7"]}"#, true),
        ],
    );
    table(
        r#"{"ip": [{"cidr": "0.0.0.0/0"}]}"#,
        &[
            (r#"{"ip": "255.255.255.255"}"#, true),
            (r#"{"ip": "0.0.0.0"}"#, true),
            (r#"{"ip": "x"}"#, false),
        ],
    );
    table(
        r#"{"ip": [{"cidr": "192.168.1.128/25"}]}"#,
        &[
            (r#"{"ip": "192.168.1.127"}"#, false),
            (r#"{"ip": "192.168.1.128"}"#, true),
            (r#"{"ip": "192.168.1.255"}"#, true),
        ],
    );
}

#[test]
fn cidr_v6() {
    table(
        r#"{"ip": [{"cidr": "2001:db8::/32"}]}"#,
        &[
            (r#"{"ip": "2001:db8::1"}"#, true),
            (r#"{"ip": "2001:DB8::1"}"#, true),
            (r#"{"ip": "2001:0DB8:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF"}"#, true),
            (r#"{"ip": "2001:db9::"}"#, false),
            (r#"{"ip": "2001:db8"}"#, false),
            (r#"{"ip": "10.0.0.1"}"#, false),
            (r#"{"ip": 2001}"#, false),
        ],
    );
    table(
        r#"{"ip": [{"cidr": "2001:DB8:AB::/48"}]}"#,
        &[
            (r#"{"ip": "2001:db8:ab:1::"}"#, true),
            (r#"{"ip": "2001:db8:ac::"}"#, false),
        ],
    );
}

#[test]
fn cidr_refusals() {
    assert_eq!(
        refused(r#"{"ip": [{"cidr": "bad-filter"}]}"#),
        "Malformed CIDR, one '/' required"
    );
    assert_eq!(
        refused(r#"{"ip": [{"cidr": "10.0.0.0/x"}]}"#),
        "Malformed CIDR, mask bits must be an integer"
    );
    assert_eq!(
        refused(r#"{"ip": [{"cidr": "10.0.0.0/32"}]}"#),
        "Malformed CIDR, mask bits must be less than 32"
    );
    assert_eq!(
        refused(r#"{"ip": [{"cidr": "::/128"}]}"#),
        "Malformed CIDR, mask bits must be less than 128"
    );
    assert_eq!(
        refused(r#"{"ip": [{"cidr": "10.0.0/8"}]}"#),
        "Nonstandard IP address: 10.0.0"
    );
    assert!(Pattern::parse(r#"{"ip": [{"cidr": 10}]}"#).is_err());
}

// ---------------------------------------------------------------- exists

#[test]
fn exists_true() {
    table(
        r#"{"a": [{"exists": true}]}"#,
        &[
            (r#"{"a": "x"}"#, true),
            (r#"{"a": ""}"#, true),
            (r#"{"a": 0}"#, true),
            (r#"{"a": false}"#, true),
            (r#"{"a": null}"#, true),
            (r#"{"a": [1]}"#, true),
            (r#"{"a": [null]}"#, true),
            (r#"{"a": []}"#, false),
            (r#"{"a": [[]]}"#, false),
            (r#"{"a": {}}"#, false),
            (r#"{"a": {"b": 1}}"#, false),
            (r#"{"b": 1}"#, false),
            (r#"{}"#, false),
        ],
    );
}

#[test]
fn exists_false() {
    table(
        r#"{"a": [{"exists": false}]}"#,
        &[
            (r#"{}"#, true),
            (r#"{"b": 1}"#, true),
            (r#"{"a": []}"#, true),
            (r#"{"a": {}}"#, true),
            (r#"{"a": {"b": 1}}"#, true),
            (r#"{"a": null}"#, false),
            (r#"{"a": "x"}"#, false),
            (r#"{"a": [1]}"#, false),
            (r#"{"a": [null]}"#, false),
            // Non-object events have no fields at all.
            ("[]", true),
            ("1", true),
        ],
    );
}

#[test]
fn exists_across_arrays_of_objects() {
    table(
        r#"{"a": {"b": [{"exists": false}]}}"#,
        &[
            (r#"{"a": [{"c": 1}, {"c": 2}]}"#, true),
            (r#"{"a": [{"c": 1}, {"b": 1}]}"#, false),
            (r#"{"a": [{"b": null}]}"#, false),
            (r#"{"a": []}"#, true),
            (r#"{"a": [{"b": []}]}"#, true),
        ],
    );
    table(
        r#"{"a": {"b": [{"exists": true}]}}"#,
        &[
            (r#"{"a": [{"c": 1}, {"b": 1}]}"#, true),
            (r#"{"a": [{"c": 1}, {"c": 2}]}"#, false),
            (r#"{"a": [{"b": {"x": 1}}]}"#, false),
        ],
    );
    // exists with a sibling leaf, in one element of an array.
    table(
        r#"{"a": {"b": [{"exists": true}], "c": [1]}}"#,
        &[
            (r#"{"a": [{"b": 1, "c": 2}, {"c": 1}]}"#, false),
            (r#"{"a": [{"c": 2}, {"b": 1, "c": 1}]}"#, true),
        ],
    );
    // exists: false ORed with a value: absence or the value.
    table(
        r#"{"a": ["x", {"exists": false}]}"#,
        &[
            (r#"{}"#, true),
            (r#"{"a": "x"}"#, true),
            (r#"{"a": "y"}"#, false),
        ],
    );
}

#[test]
fn exists_refusals() {
    let reason = "exists match pattern must be either true or false.";
    assert_eq!(refused(r#"{"a": [{"exists": "true"}]}"#), reason);
    assert_eq!(refused(r#"{"a": [{"exists": null}]}"#), reason);
    assert_eq!(refused(r#"{"a": [{"exists": 1}]}"#), reason);
}

#[test]
fn exactly_is_a_literal() {
    table(
        r#"{"a": [{"exactly": "x"}]}"#,
        &[
            (r#"{"a": "x"}"#, true),
            (r#"{"a": "X"}"#, false),
            (r#"{}"#, false),
        ],
    );
}

// ---------------------------------------------------------------- $or

#[test]
fn or_at_the_top_level() {
    table(
        r#"{"$or": [{"a": [1]}, {"b": [2]}]}"#,
        &[
            (r#"{"a": 1}"#, true),
            (r#"{"b": 2}"#, true),
            (r#"{"a": 1, "b": 2}"#, true),
            (r#"{"a": 2, "b": 1}"#, false),
            (r#"{}"#, false),
        ],
    );
    table(
        r#"{"c": ["x"], "$or": [{"a": [1]}, {"b": [2]}]}"#,
        &[
            (r#"{"c": "x", "b": 2}"#, true),
            (r#"{"b": 2}"#, false),
            (r#"{"c": "x"}"#, false),
        ],
    );
}

#[test]
fn or_nested() {
    table(
        r#"{"d": {"$or": [{"a": [1]}, {"b": {"c": [2]}}]}}"#,
        &[
            (r#"{"d": {"a": 1}}"#, true),
            (r#"{"d": {"b": {"c": 2}}}"#, true),
            (r#"{"a": 1}"#, false),
            (r#"{"d": {"b": 2}}"#, false),
        ],
    );
    table(
        r#"{"$or": [{"a": [1]}, {"$or": [{"b": [2]}, {"c": [3]}]}]}"#,
        &[
            (r#"{"c": 3}"#, true),
            (r#"{"b": 2}"#, true),
            (r#"{"a": 1}"#, true),
            (r#"{"d": 4}"#, false),
        ],
    );
    // Two $or groups in one object (one of them nested): both must hold.
    table(
        r#"{"$or": [{"a": [1]}, {"b": [1]}], "x": {"$or": [{"c": [1]}, {"d": [1]}]}}"#,
        &[
            (r#"{"a": 1, "x": {"d": 1}}"#, true),
            (r#"{"a": 1}"#, false),
            (r#"{"x": {"c": 1}}"#, false),
        ],
    );
    // $or alternatives with array consistency.
    table(
        r#"{"e": {"$or": [{"f": ["Anna"], "l": ["Jones"]}, {"f": ["Bob"]}]}}"#,
        &[
            (
                r#"{"e": [{"f": "Anna", "l": "Smith"}, {"f": "Peter", "l": "Jones"}]}"#,
                false,
            ),
            (
                r#"{"e": [{"f": "Anna", "l": "Smith"}, {"f": "Bob"}]}"#,
                true,
            ),
        ],
    );
}

#[test]
fn duplicate_or_keys_are_anded() {
    table(
        r#"{"$or": [{"a": [1]}, {"b": [1]}], "$or": [{"c": [1]}, {"d": [1]}]}"#,
        &[
            (r#"{"a": 1, "d": 1}"#, true),
            (r#"{"a": 1}"#, false),
            (r#"{"c": 1, "d": 1}"#, false),
        ],
    );
}

#[test]
fn or_with_fewer_than_two_objects_is_a_field() {
    table(
        r#"{"$or": ["x"]}"#,
        &[
            (r#"{"$or": "x"}"#, true),
            (r#"{"$or": "y"}"#, false),
            (r#"{}"#, false),
        ],
    );
    table(
        r#"{"$or": [{"prefix": "x"}]}"#,
        &[(r#"{"$or": "xy"}"#, true), (r#"{"$or": "y"}"#, false)],
    );
    table(
        r#"{"$or": [{"prefix": "x"}, "y"]}"#,
        &[
            (r#"{"$or": "xa"}"#, true),
            (r#"{"$or": "y"}"#, true),
            (r#"{"$or": "z"}"#, false),
        ],
    );
    table(
        r#"{"$or": {"a": [1]}}"#,
        &[(r#"{"$or": {"a": 1}}"#, true), (r#"{"a": 1}"#, false)],
    );
    assert_eq!(
        refused(r#"{"$or": [{"a": [1]}]}"#),
        "Unrecognized match type a"
    );
}

// ---------------------------------------------------------------- duplicate pattern keys

#[test]
fn duplicate_pattern_keys() {
    // The last leaf wins.
    table(
        r#"{"a": [1], "a": [2]}"#,
        &[(r#"{"a": 2}"#, true), (r#"{"a": 1}"#, false)],
    );
    // Objects merge (EventBridge).
    table(
        r#"{"d": {"a": [1]}, "d": {"b": [2]}}"#,
        &[
            (r#"{"d": {"a": 1, "b": 2}}"#, true),
            (r#"{"d": {"a": 1}}"#, false),
            (r#"{"d": {"b": 2}}"#, false),
        ],
    );
    // Lambda-strict: the last object wins outright.
    table_with(
        &Options::new().lambda_strict(true),
        r#"{"d": {"a": [1]}, "d": {"b": [2]}}"#,
        &[(r#"{"d": {"b": 2}}"#, true), (r#"{"d": {"a": 1}}"#, false)],
    );
}

// ---------------------------------------------------------------- many rules

#[test]
fn multi_rule_matcher_names_every_matching_rule_in_order() {
    let rules = [
        ("state", r#"{"detail": {"state": ["running"]}}"#),
        ("big", r#"{"detail": {"size": [{"numeric": [">", 10]}]}}"#),
        ("png", r#"{"detail": {"key": [{"suffix": ".png"}]}}"#),
        ("no-user", r#"{"detail": {"user": [{"exists": false}]}}"#),
        (
            "or",
            r#"{"$or": [{"source": ["a"]}, {"detail": {"size": [0]}}]}"#,
        ),
        ("every", r#"{"no-such-key": [{"exists": false}]}"#),
        (
            "not-running",
            r#"{"detail": {"state": [{"anything-but": "running"}]}}"#,
        ),
    ];
    let mut m = Matcher::new();
    for (name, p) in rules {
        m.add_rule(name, p).unwrap();
    }
    let events = [
        r#"{"detail": {"state": "running", "size": 42, "key": "x.png"}}"#,
        r#"{"source": "a", "detail": {"state": "stopped", "size": 0, "user": "u"}}"#,
        r#"{"detail": {"user": null}}"#,
        r#"[]"#,
    ];
    for event in events {
        let want: Vec<&str> = rules
            .iter()
            .filter(|(_, p)| {
                weir_reference::matches_text(&Pattern::parse(p).unwrap(), event.as_bytes()).unwrap()
            })
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(m.matching_rules(event.as_bytes()).unwrap(), want, "{event}");
    }
    assert_eq!(
        m.matching_rules(events[0].as_bytes()).unwrap(),
        vec!["state", "big", "png", "no-user", "every"]
    );
    assert_eq!(
        m.matching_rules(events[1].as_bytes()).unwrap(),
        vec!["or", "every", "not-running"]
    );
    // The same name twice: its patterns are ORed.
    let mut m = Matcher::new();
    m.add_rule("r", r#"{"a": [1]}"#).unwrap();
    m.add_rule("r", r#"{"b": [1]}"#).unwrap();
    m.add_rule("s", r#"{"a": [1], "b": [1]}"#).unwrap();
    assert_eq!(m.matching_rules(br#"{"b": 1}"#).unwrap(), vec!["r"]);
    assert_eq!(
        m.matching_rules(br#"{"a": 1, "b": 1}"#).unwrap(),
        vec!["r", "s"]
    );
    assert_eq!(m.rule_count(), 2);
    // Removing a rule.
    assert!(m.remove_rule("r"));
    assert_eq!(m.matching_rules(br#"{"a": 1, "b": 1}"#).unwrap(), vec!["s"]);
    assert!(m.matching_rules(br#"{"a": 1}"#).unwrap().is_empty());
}

#[test]
fn rules_sharing_fields_do_not_leak_into_each_other() {
    let mut m = Matcher::new();
    m.add_rule("eq", r#"{"a": ["x"]}"#).unwrap();
    m.add_rule("pre", r#"{"a": [{"prefix": "x"}]}"#).unwrap();
    m.add_rule("not", r#"{"a": [{"anything-but": "x"}]}"#)
        .unwrap();
    m.add_rule("abs", r#"{"a": [{"exists": false}]}"#).unwrap();
    m.add_rule("num", r#"{"a": [{"numeric": ["<", 0]}]}"#)
        .unwrap();
    m.add_rule("ci", r#"{"a": [{"equals-ignore-case": "X"}]}"#)
        .unwrap();
    assert_eq!(
        m.matching_rules(br#"{"a": "x"}"#).unwrap(),
        vec!["eq", "pre", "ci"]
    );
    assert_eq!(
        m.matching_rules(br#"{"a": "xy"}"#).unwrap(),
        vec!["pre", "not"]
    );
    assert_eq!(
        m.matching_rules(br#"{"a": -1}"#).unwrap(),
        vec!["not", "num"]
    );
    assert_eq!(m.matching_rules(br#"{}"#).unwrap(), vec!["abs"]);
    assert_eq!(m.matching_rules(br#"{"a": []}"#).unwrap(), vec!["abs"]);
}

// ---------------------------------------------------------------- repeated paths

/// event-ruler resolves repeated keys per flattened path: a leaf and an object under one key
/// are two paths, both kept; an object and a dotted key for one path keep the last written.
#[test]
fn repeated_keys_resolve_per_flattened_path() {
    table(
        r#"{"a": [2], "a": {"b": [1]}}"#,
        &[
            // (Array consistency: 2 and 1 sit in different elements.)
            (r#"{"a": [2, {"b": 1}]}"#, false),
            (r#"{"a": 2, "a.b": 1}"#, true),
            (r#"{"a": {"b": 1}}"#, false),
            (r#"{"a": 2}"#, false),
        ],
    );
    table(
        r#"{"a": {"b": [2]}, "a.b": [1]}"#,
        &[
            (r#"{"a": {"b": 1}}"#, true),
            (r#"{"a": {"b": 2}}"#, false),
            (r#"{"a.b": 1}"#, true),
        ],
    );
}

/// The same path outside and inside an `$or`: inside the alternative that names it, the inner
/// condition replaces the outer one (event-ruler's default rule overriding).
#[test]
fn or_alternatives_override_outer_conditions() {
    table(
        r#"{"name": ["a", "b"], "$or": [{"name": [{"anything-but": "a"}]}, {"c": ["x"]}]}"#,
        &[
            (r#"{"name": "c"}"#, true),
            (r#"{"name": "a"}"#, false),
            (r#"{"name": "a", "c": "x"}"#, true),
            (r#"{"name": "c", "c": "x"}"#, true),
            (r#"{"name": "d", "c": "x"}"#, true),
            (r#"{"c": "x"}"#, false),
        ],
    );
    // Written after the `$or`, the outer condition wins in every alternative.
    table(
        r#"{"$or": [{"name": ["x"]}, {"c": ["x"]}], "name": ["a"]}"#,
        &[
            (r#"{"name": "a"}"#, true),
            (r#"{"name": "x"}"#, false),
            (r#"{"name": "x", "c": "x"}"#, false),
        ],
    );
}

/// `exists: false` inside arrays of objects: event-ruler walks a rule's fields in path order
/// (Java string order) and judges an absence against the values chosen for the fields before
/// it, so the condition holds per element together with its earlier siblings.
#[test]
fn exists_false_in_arrays_is_judged_against_the_fields_before_it() {
    table(
        r#"{"o": {"k": ["a"], "z": [{"exists": false}]}}"#,
        &[
            (r#"{"o": [{"k": "a"}, {"z": 1}]}"#, true),
            (r#"{"o": [{"k": "a", "z": 1}]}"#, false),
            (r#"{"o": [{"k": "a", "z": 1}, {"k": "a"}]}"#, true),
            (r#"{"o": [{"k": "b"}, {"z": 1}]}"#, false),
            (r#"{"o": {"k": "a"}}"#, true),
            (r#"{"o": {"k": "a", "z": null}}"#, false),
            // A value outside the array is consistent with every element.
            (r#"{"o": [{"k": "a"}], "o.z": 1}"#, false),
            (r#"{"o": [{"k": ["a", "b"]}, {"z": [1, 2]}]}"#, true),
        ],
    );
    // The absent field first in path order is judged against nothing chosen: any value at its
    // path fails it.
    table(
        r#"{"o": {"a": [{"exists": false}], "k": ["x"]}}"#,
        &[
            (r#"{"o": [{"k": "x"}, {"a": 1}]}"#, false),
            (r#"{"o": [{"k": "x"}]}"#, true),
        ],
    );
    // Alone on a field inside an array of objects: any element having it fails it.
    table(
        r#"{"o": {"z": [{"exists": false}]}}"#,
        &[
            (r#"{"o": [{"k": 1}, {"z": 1}]}"#, false),
            (r#"{"o": [{"k": 1}]}"#, true),
            (r#"{"o": []}"#, true),
        ],
    );
    // With a field outside the array (before it in path order): the same.
    table(
        r#"{"a": ["x"], "o": {"z": [{"exists": false}]}}"#,
        &[
            (r#"{"a": "x", "o": [{"k": 1}, {"z": 1}]}"#, false),
            (r#"{"a": "x", "o": [{"k": 1}]}"#, true),
        ],
    );
    // Absence or a value: either, per element.
    table(
        r#"{"o": {"k": ["a"], "z": ["q", {"exists": false}]}}"#,
        &[
            (r#"{"o": [{"k": "a"}, {"z": 1}]}"#, true),
            (r#"{"o": [{"k": "a", "z": 1}]}"#, false),
            (r#"{"o": [{"k": "a", "z": "q"}]}"#, true),
            (r#"{"o": [{"k": "a", "z": 1}, {"k": "a", "z": "q"}]}"#, true),
        ],
    );
    // Path order is Java's (UTF-16 code units): U+10000 sorts before U+FFFF.
    table(
        "{\"o\": {\"\u{10000}\": [{\"exists\": false}], \"\u{ffff}\": [\"a\"]}}",
        &[
            (
                "{\"o\": [{\"\u{ffff}\": \"a\"}, {\"\u{10000}\": 1}]}",
                false,
            ),
            ("{\"o\": [{\"\u{ffff}\": \"a\"}]}", true),
        ],
    );
    table(
        "{\"o\": {\"\u{ffff}\": [{\"exists\": false}], \"\u{10000}\": [\"a\"]}}",
        &[("{\"o\": [{\"\u{10000}\": \"a\"}, {\"\u{ffff}\": 1}]}", true)],
    );
}
