// The checks of the fuzz targets, shared word for word by the targets (fuzz/fuzz_targets/*.rs)
// and by the stable regression test (tests/fuzz_regressions.rs), which both `include!` this file.
// A saved input is therefore replayed through exactly the code that found it.
//
// Every check panics with a message that carries the input in printable form, so a failure
// report is a reproducer on its own.

use serde_json::Value;
use weir::{BatchResults, Matcher, Options, Pattern, PatternError};

/// The option sets every pattern text is read with.
pub fn option_sets() -> [(&'static str, Options); 4] {
    [
        ("default", Options::new()),
        ("lambda_strict", Options::new().lambda_strict(true)),
        (
            "numbers_as_strings",
            Options::new().numbers_as_strings(true),
        ),
        (
            "lambda_strict+numbers_as_strings",
            Options::new().lambda_strict(true).numbers_as_strings(true),
        ),
    ]
}

/// Small events every valid pattern from `parse_pattern` is matched against, compiled vs
/// reference. They use the short keys the fuzz dictionary offers.
pub const PROBE_EVENTS: &[&str] = &[
    r#"{}"#,
    r#"{"a": 1}"#,
    r#"{"a": "x", "b": null}"#,
    r#"{"a": [null, true, "10.0.0.1", 3e2]}"#,
    r#"{"a": {"b": ["x.png", {"c": -0.5}]}, "a.b": "Ab"}"#,
];

/// The printable form of fuzz bytes: the text when it is UTF-8, Rust-escaped either way.
pub fn printable(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(s) => format!("{s:?}"),
        Err(_) => format!("bytes {:?}", String::from_utf8_lossy(data)),
    }
}

/// Checks a pattern error: its span lies inside the text, on character boundaries, and every
/// way of showing it works.
pub fn check_pattern_error(text: &str, err: &PatternError, context: &str) {
    assert!(
        !err.reason().is_empty(),
        "{context}: empty reason for {text:?}"
    );
    if let Some(span) = err.span() {
        let (s, e) = (span.start.offset, span.end.offset);
        assert!(
            s <= e && e <= text.len(),
            "{context}: span {s}..{e} outside the text (len {}) for {text:?}: {err:?}",
            text.len()
        );
        assert!(
            text.is_char_boundary(s) && text.is_char_boundary(e),
            "{context}: span {s}..{e} splits a character in {text:?}"
        );
        assert!(
            span.start.line >= 1 && span.start.column >= 1,
            "{context}: {span:?}"
        );
    }
    let shown = err.to_string();
    assert!(
        shown.contains(err.reason()),
        "{context}: Display lacks the reason: {shown}"
    );
    let _ = err.aws_message();
    let _ = err.path();
}

/// Target `parse_pattern`: arbitrary bytes as a pattern text, read with every option set.
/// Never panics; a valid pattern shows, compiles, and matches the probe events exactly as the
/// reference interpreter says; an invalid one has a sound error, and `add_rule` agrees.
pub fn check_pattern_bytes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (name, options) in option_sets() {
        let parsed = Pattern::parse_with(text, &options);
        let mut matcher = Matcher::with_options(options.clone());
        let added = matcher.add_rule("p", text);
        match (&parsed, &added) {
            (Ok(_), Ok(_)) => {}
            (Err(a), Err(b)) => assert_eq!(a.reason(), b.reason(), "{name}: {text:?}"),
            _ => panic!(
                "{name}: parse_with and add_rule disagree on {text:?}: {parsed:?} vs {added:?}"
            ),
        }
        match parsed {
            Ok(pattern) => {
                let _ = pattern.to_string();
                for event in PROBE_EVENTS {
                    let value: Value = serde_json::from_str(event).expect("probe events are JSON");
                    let want = weir_reference::matches(&pattern, &value);
                    let got = matcher
                        .is_match(event.as_bytes())
                        .expect("probe events are valid");
                    assert_eq!(
                        got, want,
                        "{name}: compiled (left) vs reference (right) for pattern {text:?} on event {event}\n{pattern}"
                    );
                }
            }
            Err(err) => check_pattern_error(text, &err, name),
        }
    }
}

/// The rules of target `match_event`: every operator, over field names the conformance events
/// use (so seeds from them reach the rules).
pub const EVENT_RULES: &[(&str, &str)] = &[
    ("lit_string", r#"{"source": ["test-source", "aws.ec2"]}"#),
    ("lit_null_bool", r#"{"detail": {"state": [null, true]}}"#),
    (
        "lit_number",
        r#"{"detail": {"c-count": [5, 300, -1.5e2, 0]}}"#,
    ),
    (
        "lit_number_inexact",
        r#"{"number": [0.10000000000000001, 9007199254740993]}"#,
    ),
    (
        "lit_string_not_number",
        r#"{"detail": {"amount": ["3", ""]}}"#,
    ),
    (
        "lit_ip",
        r#"{"detail": {"sourceIPAddress": ["10.0.0.1", "2001:db8::1"]}}"#,
    ),
    ("exactly", r#"{"account": [{"exactly": "123456789012"}]}"#),
    ("prefix", r#"{"region": [{"prefix": "us-"}]}"#),
    (
        "prefix_empty",
        r#"{"detail": {"FileName": [{"prefix": ""}]}}"#,
    ),
    (
        "prefix_ignore_case",
        r#"{"detail-type": [{"prefix": {"equals-ignore-case": "TEST"}}]}"#,
    ),
    (
        "suffix",
        r#"{"detail": {"FileName": [{"suffix": ".png"}]}}"#,
    ),
    (
        "suffix_ignore_case",
        r#"{"FileName": [{"suffix": {"equals-ignore-case": ".PNG"}}]}"#,
    ),
    (
        "equals_ignore_case",
        r#"{"detail": {"state": [{"equals-ignore-case": "RUNNING"}]}}"#,
    ),
    (
        "equals_ignore_case_unicode",
        r#"{"detail": {"user": [{"equals-ignore-case": "Élan"}]}}"#,
    ),
    (
        "wildcard",
        r#"{"detail": {"FilePath": [{"wildcard": "dir/*.png"}]}}"#,
    ),
    (
        "wildcard_multi",
        r#"{"detail": {"FileName": [{"wildcard": "*a*b*"}]}}"#,
    ),
    (
        "wildcard_escapes",
        r#"{"id": [{"wildcard": "x\\*y*\\\\"}]}"#,
    ),
    (
        "anything_but_string",
        r#"{"detail": {"state": [{"anything-but": "stopped"}]}}"#,
    ),
    (
        "anything_but_number",
        r#"{"detail": {"x-limit": [{"anything-but": 0}]}}"#,
    ),
    (
        "anything_but_string_3",
        r#"{"detail": {"amount": [{"anything-but": "3"}]}}"#,
    ),
    (
        "anything_but_strings",
        r#"{"region": [{"anything-but": ["us-east-1", "eu-west-1"]}]}"#,
    ),
    (
        "anything_but_numbers",
        r#"{"detail": {"d-count": [{"anything-but": [1, 2.0, 3e0]}]}}"#,
    ),
    (
        "anything_but_prefix",
        r#"{"source": [{"anything-but": {"prefix": "aws."}}]}"#,
    ),
    (
        "anything_but_suffix",
        r#"{"detail": {"FileName": [{"anything-but": {"suffix": [".txt", ".log"]}}]}}"#,
    ),
    (
        "anything_but_ignore_case",
        r#"{"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Pending", "STOPPED"]}}]}}"#,
    ),
    (
        "anything_but_wildcard",
        r#"{"detail": {"FilePath": [{"anything-but": {"wildcard": ["*/lib/*", "tmp*"]}}]}}"#,
    ),
    (
        "numeric_single",
        r#"{"detail": {"c-count": [{"numeric": [">", 0]}]}}"#,
    ),
    (
        "numeric_range",
        r#"{"detail": {"x-limit": [{"numeric": [">=", -1e3, "<", 3.018e2]}]}}"#,
    ),
    ("numeric_equal", r#"{"number": [{"numeric": ["=", 5]}]}"#),
    (
        "numeric_upper",
        r#"{"detail": {"d-count": [{"numeric": ["<=", -0.5]}]}}"#,
    ),
    (
        "cidr_v4",
        r#"{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}"#,
    ),
    (
        "cidr_v6",
        r#"{"detail": {"ip": [{"cidr": "2001:DB8::/32"}]}}"#,
    ),
    (
        "exists_true",
        r#"{"detail": {"state": [{"exists": true}]}}"#,
    ),
    (
        "exists_false",
        r#"{"detail": {"eventVersion": [{"exists": false}]}}"#,
    ),
    (
        "exists_false_or_value",
        r#"{"version": ["0", {"exists": false}]}"#,
    ),
    (
        "or_top",
        r#"{"$or": [{"source": ["test-source"]}, {"detail": {"c-count": [{"numeric": ["<", 10]}]}}]}"#,
    ),
    (
        "or_nested",
        r#"{"detail": {"$or": [{"state": ["running"]}, {"env": [{"prefix": "prod"}]}], "user": [{"exists": true}]}}"#,
    ),
    (
        "array_consistency",
        r#"{"detail": {"admins": {"name": ["Anna"], "role": ["owner"]}}}"#,
    ),
    ("dotted_key", r#"{"detail.level1.level2": ["x", 1]}"#),
    (
        "dotted_nested",
        r#"{"detail": {"level1": {"level2": {"level3.level4": [true]}}}}"#,
    ),
    (
        "merged_duplicate_keys",
        r#"{"detail": {"state": ["on"]}, "detail": {"env": ["prod"]}}"#,
    ),
    (
        "mixed_leaf",
        r#"{"detail": {"value": ["a", 1, null, false, {"prefix": "b"}, {"numeric": ["<", 0]}, {"cidr": "192.168.0.0/16"}]}}"#,
    ),
    ("absent", r#"{"zzz": [{"exists": false}]}"#),
];

/// The loaded matcher of target `match_event` plus each rule's parsed pattern.
pub struct EventRig {
    /// Every rule of [`EVENT_RULES`].
    pub matcher: Matcher,
    /// Rule name and pattern, in the order added.
    pub rules: Vec<(&'static str, Pattern)>,
    /// The same rules, reading events lazily.
    pub lazy: Matcher,
}

/// Builds the `match_event` rig. Panics if a rule of [`EVENT_RULES`] does not parse.
pub fn event_rig() -> EventRig {
    let mut matcher = Matcher::new();
    let mut rules = Vec::new();
    for &(name, text) in EVENT_RULES {
        let pattern = Pattern::parse(text).unwrap_or_else(|e| panic!("rule {name}: {e}"));
        matcher.add_rule(name, text).expect("parses as above");
        rules.push((name, pattern));
    }
    let mut lazy = matcher.clone();
    lazy.set_reading(weir::EventReading::Lazy);
    EventRig {
        matcher,
        rules,
        lazy,
    }
}

/// The names of the rules a matcher says an event matches, or the error text.
fn compiled_names(matcher: &Matcher, event: &[u8]) -> Result<Vec<String>, String> {
    match matcher.matching_rule_ids(event) {
        Ok(ids) => Ok(ids
            .into_iter()
            .map(|id| {
                matcher
                    .rule_name(id)
                    .expect("matched rules exist")
                    .to_string()
            })
            .collect()),
        Err(e) => {
            assert!(
                e.offset() <= event.len(),
                "error offset past the end: {e:?}"
            );
            let _ = e.to_string();
            Err(e.reason().to_string())
        }
    }
}

/// The object key serde_json's `arbitrary_precision` feature keeps for itself.
const SERDE_NUMBER_KEY: &str = "$serde_json::private::Number";

/// Whether some string of `event`, once unescaped (as serde_json compares keys), is
/// [`SERDE_NUMBER_KEY`]. Strings are found by their quotes, skipping escaped characters; on a
/// malformed event this may see strings that are not there, which only skips a comparison.
fn mentions_serde_number_key(event: &[u8]) -> bool {
    let mut i = 0;
    while let Some(open) = event[i..].iter().position(|&b| b == b'"').map(|p| i + p) {
        let mut close = open + 1;
        while close < event.len() && event[close] != b'"' {
            close += if event[close] == b'\\' { 2 } else { 1 };
        }
        let Some(literal) = event.get(open..=close) else {
            return false;
        };
        if serde_json::from_slice::<String>(literal).is_ok_and(|s| s == SERDE_NUMBER_KEY) {
            return true;
        }
        i = close + 1;
    }
    false
}

/// Compares one loaded matcher with the reference interpreter on one event: agreement on
/// validity with serde_json, the same rules matched, and `match_batch` over `[event, event]`
/// giving the same answer twice. Returns the matched rule names, or the event's error.
pub fn check_rules_on_event(
    matcher: &Matcher,
    rules: &[(&str, Pattern)],
    event: &[u8],
    what: &str,
) -> Result<Vec<String>, String> {
    let compiled = compiled_names(matcher, event);
    let parsed: Result<Value, _> = serde_json::from_slice(event);
    // serde_json's `arbitrary_precision` (which the reference's numbers need) reserves this
    // object key: an object holding it is read as a number, so serde_json is no oracle for
    // such an event. The matcher reads it as the ordinary key it is in JSON.
    let reserved = mentions_serde_number_key(event);
    match (&compiled, &parsed) {
        _ if reserved => {}
        (Ok(got), Ok(value)) => {
            let want: Vec<&str> = rules
                .iter()
                .filter(|(_, p)| weir_reference::matches(p, value))
                .map(|(n, _)| *n)
                .collect();
            if *got != want {
                let mut diff = String::new();
                for (name, pattern) in rules {
                    let g = got.iter().any(|n| n == name);
                    let w = want.contains(name);
                    if g != w {
                        diff.push_str(&format!(
                            "\n  rule {name}: compiled {g}, reference {w}; pattern {:?}",
                            pattern.text()
                        ));
                    }
                }
                panic!(
                    "compiled vs reference differ on event {}{diff}\n({what})",
                    printable(event)
                );
            }
        }
        (Err(_), Err(_)) => {}
        (Ok(got), Err(e)) => panic!(
            "matcher accepted an event serde_json rejects ({e}): {} -> {got:?} ({what})",
            printable(event)
        ),
        (Err(e), Ok(_)) => panic!(
            "matcher rejected an event serde_json accepts ({e}): {} ({what})",
            printable(event)
        ),
    }
    assert_eq!(
        matcher.is_match(event).ok(),
        compiled.as_ref().ok().map(|n| !n.is_empty()),
        "is_match vs matching_rule_ids on {} ({what})",
        printable(event)
    );
    let mut results = BatchResults::new();
    matcher.match_batch([event, event], &mut results);
    assert_eq!(results.len(), 2);
    for i in 0..2 {
        let batch: Result<Vec<String>, String> = match results.get(i) {
            Ok(ids) => Ok(ids
                .iter()
                .map(|&id| {
                    matcher
                        .rule_name(id)
                        .expect("matched rules exist")
                        .to_string()
                })
                .collect()),
            Err(e) => Err(e.reason().to_string()),
        };
        assert_eq!(
            batch,
            compiled,
            "match_batch item {i} vs matching_rule_ids on {} ({what})",
            printable(event)
        );
    }
    compiled
}

/// Target `match_event`: arbitrary bytes as an event against the [`EVENT_RULES`] matcher.
/// The event is matched with the SIMD validation on and off (where the CPU has it): the two
/// must agree on everything, errors and their offsets included, as `weir::json::validate`
/// must.
pub fn check_event_bytes(rig: &EventRig, event: &[u8]) {
    // Held to the end: no other comparison (a test thread beside this one) flips the switch
    // meanwhile, and a failing assertion leaves it as it was.
    let switch = weir::json::SimdSwitch::take();
    switch.set(false);
    let scalar = check_rules_on_event(&rig.matcher, &rig.rules, event, "match_event rules");
    let scalar_error = full_error(&rig.matcher, event);
    let scalar_valid = weir::json::validate(event).map_err(|e| (e.offset(), e.to_string()));
    switch.set(true);
    // AVX2 alone (where AVX-512 runs by default), then the default fast path: each gives
    // what the byte loop gives.
    let mut default_path = None;
    for (wide, path) in [(false, "AVX2"), (true, "SIMD")] {
        let on = switch.set_wide(wide);
        assert!(wide || !on, "AVX-512 still runs when turned off");
        let what = format!("match_event rules, {path}");
        let rules = check_rules_on_event(&rig.matcher, &rig.rules, event, &what);
        assert_eq!(rules, scalar, "{path} vs scalar on {}", printable(event));
        assert_eq!(
            full_error(&rig.matcher, event),
            scalar_error,
            "{path} vs scalar error on {}",
            printable(event)
        );
        let valid = weir::json::validate(event).map_err(|e| (e.offset(), e.to_string()));
        assert_eq!(valid, scalar_valid, "validate: {path} vs scalar on {}", printable(event));
        default_path = Some((rules, valid));
    }
    let (fast, fast_valid) = default_path.expect("the default path ran");
    // The validating matcher refuses what validate refuses, at the same offset, for the same
    // reason (it reads the objects its rules walk into itself).
    assert_eq!(
        scalar_error,
        scalar_valid.clone().err(),
        "matcher vs validate error on {}",
        printable(event)
    );
    // The matcher's verdict is validate's (checked against serde_json above).
    assert_eq!(fast.is_ok(), fast_valid.is_ok(), "matcher vs validate on {}", printable(event));
    // Lazy reading (the skipper) never fails on a well-formed event, and a rule without
    // dotted or repeated keys to miss matches the same (checked only when no key repeats
    // and none has a dot: the documented differences).
    let lazy = compiled_names(&rig.lazy, event);
    if fast.is_ok() {
        assert!(lazy.is_ok(), "lazy reading failed on a valid event {}", printable(event));
        if !event.contains(&b'.') && !repeats_a_key(event) {
            assert_eq!(lazy, fast, "lazy vs validating on {}", printable(event));
        }
    }
    // As JSONL: the input alone, and twice with a line break between (so the one-pass
    // reading has bytes after each line), both readings.
    let mut twice = event.to_vec();
    twice.push(b'\n');
    twice.extend_from_slice(event);
    for input in [event, &twice[..]] {
        check_jsonl_part(&rig.matcher, input);
        check_jsonl_part(&rig.lazy, input);
    }
}

/// `match_jsonl_part` on `input` (from 0 and from its second line, whole and one event at a
/// time) gives what cutting it with `Splitter` and matching the events with `match_batch`
/// gives.
pub fn check_jsonl_part(matcher: &Matcher, input: &[u8]) {
    use weir::json::{Checking, Splitter};
    let starts = std::iter::once(0).chain(input.iter().position(|&b| b == b'\n').map(|i| i + 1));
    for from in starts {
        for max in [1, usize::MAX] {
            let want: Vec<_> = Splitter::new(input)
                .checking(Checking::Boundaries)
                .jsonl_from(from, 1)
                .take(max)
                .map(|item| item.expect("a JSONL cut has no errors"))
                .collect();
            let mut want_results = weir::BatchResults::new();
            matcher.match_batch(want.iter().map(|e| e.bytes), &mut want_results);
            let (mut events, mut results) = (Vec::new(), weir::BatchResults::new());
            let part = matcher.match_jsonl_part(input, from, max, &mut events, &mut results);
            assert_eq!(events, want, "match_jsonl_part events on {}", printable(input));
            let got: Vec<_> = results.iter().map(|r| r.map(<[_]>::to_vec).map_err(Clone::clone)).collect();
            let expected: Vec<_> =
                want_results.iter().map(|r| r.map(<[_]>::to_vec).map_err(Clone::clone)).collect();
            assert_eq!(got, expected, "match_jsonl_part results on {}", printable(input));
            let want_end = match want.last() {
                Some(last) if want.len() == max => {
                    let after = last.offset + last.bytes.len();
                    input[after..].iter().position(|&b| b == b'\n').map_or(input.len(), |i| after + i + 1)
                }
                _ => input.len(),
            };
            assert_eq!(part.end, want_end, "match_jsonl_part end on {}", printable(input));
            let breaks = input[from.min(part.end)..part.end].iter().filter(|&&b| b == b'\n').count();
            assert_eq!(part.line_breaks, breaks, "match_jsonl_part line breaks on {}", printable(input));
        }
    }
}

/// Whether some object of the (valid) JSON `event` names a key twice.
fn repeats_a_key(event: &[u8]) -> bool {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
    struct Dup(std::rc::Rc<std::cell::Cell<bool>>);
    impl<'de> serde::de::DeserializeSeed<'de> for Dup {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Dup {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut keys = std::collections::HashSet::new();
            while let Some(k) = map.next_key::<String>()? {
                if !keys.insert(k) {
                    self.0.set(true);
                }
                map.next_value_seed(Dup(self.0.clone()))?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Dup(self.0.clone()))?.is_some() {}
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> { Ok(()) }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> { Ok(()) }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> { Ok(()) }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> { Ok(()) }
        fn visit_str<E>(self, _: &str) -> Result<(), E> { Ok(()) }
        fn visit_unit<E>(self) -> Result<(), E> { Ok(()) }
    }
    let found = std::rc::Rc::new(std::cell::Cell::new(false));
    let mut de = serde_json::Deserializer::from_slice(event);
    let _ = serde::de::DeserializeSeed::deserialize(Dup(found.clone()), &mut de);
    found.get()
}

/// The matcher's error on `event` with its offset and text, if any.
fn full_error(matcher: &Matcher, event: &[u8]) -> Option<(usize, String)> {
    matcher
        .matching_rule_ids(event)
        .err()
        .map(|e| (e.offset(), e.to_string()))
}

/// Target `structured_match`, after rendering: one pattern text and one event text. When the
/// pattern is valid (with `numbers_as_strings` as given), the compiled matcher and the reference
/// must agree on the event; when it is not, `add_rule` must refuse it too. Returns whether the
/// pattern matched, `None` when the pattern or the event is invalid.
pub fn check_pattern_on_event(
    pattern: &str,
    event: &str,
    numbers_as_strings: bool,
) -> Option<bool> {
    let options = Options::new().numbers_as_strings(numbers_as_strings);
    let mut matcher = Matcher::with_options(options.clone());
    let added = matcher.add_rule("p", pattern);
    match Pattern::parse_with(pattern, &options) {
        Ok(p) => {
            assert!(
                added.is_ok(),
                "add_rule refused a pattern parse_with accepts: {pattern:?}"
            );
            let _ = p.to_string();
            let what = format!(
                "pattern {pattern:?}, numbers_as_strings {numbers_as_strings}; replay with \
                 {{\"pattern\": {}, \"event\": {}, \"numbers_as_strings\": {numbers_as_strings}}}",
                Value::String(pattern.to_string()),
                Value::String(event.to_string())
            );
            check_rules_on_event(&matcher, &[("p", p)], event.as_bytes(), &what)
                .ok()
                .map(|names| !names.is_empty())
        }
        Err(e) => {
            assert!(
                added.is_err(),
                "add_rule accepted a pattern parse_with refuses: {pattern:?}"
            );
            check_pattern_error(pattern, &e, "structured");
            None
        }
    }
}

/// Replays a saved `structured_match` input: `{"pattern": "...", "event": "...",
/// "numbers_as_strings": bool}` (texts kept as strings so they replay byte for byte).
pub fn check_structured_json(saved: &[u8]) -> Option<bool> {
    let v: Value = serde_json::from_slice(saved).expect("a saved structured_match input is JSON");
    let pattern = v["pattern"].as_str().expect("\"pattern\" is a string");
    let event = v["event"].as_str().expect("\"event\" is a string");
    let nas = v["numbers_as_strings"].as_bool().unwrap_or(false);
    check_pattern_on_event(pattern, event, nas)
}

/// One split item with everything it says, owned (for comparing cuts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SplitItem {
    Event(Vec<u8>, usize, usize, usize),
    Error(String, usize, usize, usize, usize, usize),
}

pub fn own_split_item(item: Result<weir::json::Event<'_>, weir::json::SplitError>) -> SplitItem {
    match item {
        Ok(e) => SplitItem::Event(e.bytes.to_vec(), e.offset, e.line, e.column),
        Err(e) => SplitItem::Error(
            e.reason().to_string(),
            e.offset(),
            e.line(),
            e.column(),
            e.event_offset(),
            e.event_line(),
        ),
    }
}

/// The items of `input` fed to a `StreamSplitter` in pieces ending at `cuts`.
pub fn split_streamed(
    input: &[u8],
    cuts: &[usize],
    layout: weir::json::Layout,
    checking: weir::json::Checking,
) -> Vec<SplitItem> {
    let mut s = weir::json::StreamSplitter::new()
        .layout(layout)
        .checking(checking);
    let mut out = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain([&input.len()]) {
        let cut = cut.clamp(from, input.len());
        s.feed(&input[from..cut]);
        out.extend(s.events().map(own_split_item));
        from = cut;
    }
    s.finish();
    out.extend(s.events().map(own_split_item));
    out
}

/// [`split_streamed`] with each piece handed over in a buffer of its own with `room` bytes
/// before it (`feed_buffer`), the buffers handed back reused with their stale bytes in the
/// room (the splitter must not read them).
pub fn split_in_buffers(
    input: &[u8],
    cuts: &[usize],
    layout: weir::json::Layout,
    checking: weir::json::Checking,
    room: usize,
) -> Vec<SplitItem> {
    let mut s = weir::json::StreamSplitter::new()
        .layout(layout)
        .checking(checking);
    let (mut out, mut spare, mut from) = (Vec::new(), Vec::new(), 0);
    for &cut in cuts.iter().chain([&input.len()]) {
        let cut = cut.clamp(from, input.len());
        let mut buffer: Vec<u8> = std::mem::take(&mut spare);
        buffer.truncate(room.min(buffer.len()));
        buffer.resize(room, b'"');
        buffer.extend_from_slice(&input[from..cut]);
        spare = s.feed_buffer(buffer, room);
        out.extend(s.events().map(own_split_item));
        from = cut;
    }
    s.finish();
    out.extend(s.events().map(own_split_item));
    out
}

/// `split_stream`: the first byte picks the layout and the checking, the second a block size;
/// the rest is the input. No panic; fed in blocks (of that size, at every single cut for
/// short inputs, and through `fill` from a reader) the splitter gives exactly the items of
/// the whole buffer; every event is its bytes of the input at its offset and line, trimmed,
/// in order; every error's position is `locate`'s; a validated event validates.
pub fn check_split_stream(data: &[u8]) {
    use weir::json::{self, Checking, Layout, Splitter, StreamSplitter};
    let (Some(&pick), Some(&block)) = (data.first(), data.get(1)) else {
        return;
    };
    let input = &data[2..];
    let layout = [
        Layout::Auto,
        Layout::Single,
        Layout::Array,
        Layout::Jsonl,
        Layout::Stream,
    ][usize::from(pick % 5)];
    let checking = if pick & 0x80 == 0 {
        Checking::Validate
    } else {
        Checking::Boundaries
    };
    let what = format!("{layout:?} {checking:?} on {}", printable(input));
    // The container walk and the validation with the SIMD paths on and off give the same
    // items; the switch is held so that no other comparison flips it between the two.
    let switch = json::SimdSwitch::take();
    switch.set(true);
    let whole: Vec<SplitItem> = Splitter::new(input)
        .layout(layout)
        .checking(checking)
        .map(own_split_item)
        .collect();
    switch.set_wide(false);
    let narrow: Vec<SplitItem> = Splitter::new(input)
        .layout(layout)
        .checking(checking)
        .map(own_split_item)
        .collect();
    switch.set_wide(true);
    switch.set(false);
    let portable: Vec<SplitItem> = Splitter::new(input)
        .layout(layout)
        .checking(checking)
        .map(own_split_item)
        .collect();
    drop(switch);
    assert!(narrow == whole, "{what}: AVX2 vs AVX-512 splitting");
    assert!(portable == whole, "{what}: SIMD vs portable splitting");

    let mut last_end = 0;
    for item in &whole {
        match item {
            SplitItem::Event(bytes, offset, line, column) => {
                assert!(*offset >= last_end, "{what}: events out of order");
                assert_eq!(&input[*offset..*offset + bytes.len()], &bytes[..], "{what}");
                assert!(!bytes.is_empty(), "{what}: empty event");
                let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
                assert!(
                    !ws(&bytes[0]) && !ws(&bytes[bytes.len() - 1]),
                    "{what}: untrimmed event"
                );
                let p = json::locate(input, *offset);
                assert_eq!((p.line, p.column), (*line, *column), "{what}: line, column");
                if checking == Checking::Validate {
                    assert!(json::validate(bytes).is_ok(), "{what}: invalid event passed");
                }
                last_end = offset + bytes.len();
            }
            SplitItem::Error(reason, offset, line, column, start, start_line) => {
                assert!(!reason.is_empty(), "{what}");
                assert!(*offset <= input.len() && *start <= *offset, "{what}: {item:?}");
                let p = json::locate(input, *offset);
                assert_eq!((p.line, p.column), (*line, *column), "{what}: {item:?}");
                assert_eq!(json::locate(input, *start).line, *start_line, "{what}");
                last_end = *start;
            }
        }
    }

    let block = usize::from(block % 64) + 1;
    let cuts: Vec<usize> = (block..input.len()).step_by(block).collect();
    assert_eq!(
        split_streamed(input, &cuts, layout, checking),
        whole,
        "{what}: blocks of {block}"
    );
    if input.len() <= 256 {
        for at in 0..=input.len() {
            assert_eq!(
                split_streamed(input, &[at], layout, checking),
                whole,
                "{what}: cut at {at}"
            );
        }
    }
    let mut s = StreamSplitter::new()
        .layout(layout)
        .checking(checking)
        .block_size(block);
    let mut reader = input;
    let mut read = Vec::new();
    while s.fill(&mut reader).expect("reading a slice") > 0 {
        read.extend(s.events().map(own_split_item));
    }
    read.extend(s.events().map(own_split_item));
    assert_eq!(read, whole, "{what}: through fill, blocks of {block}");

    // Handed over in buffers of their own (room for short tails, or none), the buffers
    // handed back reused with stale bytes in them.
    for room in [0, usize::from(pick >> 3 & 0x0f), 64] {
        assert_eq!(
            split_in_buffers(input, &cuts, layout, checking, room),
            whole,
            "{what}: feed_buffer, blocks of {block}, room {room}"
        );
    }

    // JSONL cut from any line start gives the rest of the whole cut (lines counted from
    // the line given, or from 1 and moved).
    if layout == Layout::Jsonl {
        let starts = std::iter::once(0).chain(
            input
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        for (k, start) in starts.enumerate().take(64) {
            let tail: Vec<SplitItem> = Splitter::new(input)
                .checking(checking)
                .jsonl_from(start, k + 1)
                .map(own_split_item)
                .collect();
            let want: Vec<SplitItem> = whole
                .iter()
                .filter(|item| match item {
                    SplitItem::Event(_, offset, ..) => *offset >= start,
                    SplitItem::Error(_, _, _, _, event_start, _) => *event_start >= start,
                })
                .cloned()
                .collect();
            assert_eq!(tail, want, "{what}: jsonl_from({start}, {})", k + 1);
        }
    }
}
