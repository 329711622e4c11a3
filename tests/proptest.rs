//! Property tests: generated patterns (every operator, nested objects, `$or` at several
//! levels, dotted keys) against generated events (nested objects, arrays of objects and of
//! scalars, nulls, numbers written several ways), over a small vocabulary so that matches
//! actually happen. The reference interpreter is the oracle for the compiled matcher.
//!
//! Properties:
//! (a) one pattern: compiled `Matcher` == reference interpreter (default, Lambda-strict and
//!     numbers-as-strings options);
//! (b) many rules: `matching_rule_ids` == the set the reference interpreter gives;
//! (c) `match_batch`, `match_jsonl` and `par_match_batch` == per-event `matching_rule_ids`;
//! (d) pattern text -> JSON value -> text (compact and pretty) parses to the same pattern;
//! (e) `remove_rule` then matching == a matcher built without that rule;
//! (f) `Pattern::explain` and `Matcher::explain` give the matcher's verdict (and the same
//!     error for a malformed event), and their reports point at the event's values;
//! (g) any sequence of adds and removes == a matcher built from the live rules, and a clone
//!     taken midway keeps answering for the rules it had.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use weir::{BatchResults, EventReading, Explanation, Matcher, Options, Pattern, PatternErrorKind};

// ---------------------------------------------------------------- vocabulary

const KEYS: &[&str] = &["a", "b", "c", "a.b", ""];
const EVENT_KEYS: &[&str] = &["a", "b", "c", "a.b", "d", "", "a."];
const STRINGS: &[&str] = &[
    "x",
    "xy",
    "yx",
    "X",
    "Xy",
    "",
    "ab",
    "a*b",
    "é",
    "É",
    "été",
    "10.0.0.1",
    "010.000.000.001",
    "10.0.1.5",
    "2001:db8::1",
    "2001:DB8:0::1",
    "3",
    "null",
];
/// Letters whose Java cases are not a simple pair, for the ignore-case operators (patterns and
/// events): `ß`/`SS`, `İ` (lower case `i` + combining dot), titlecase `ǅ` (accepts `ǆ` and `Ǆ`,
/// not itself), the Kelvin sign (accepts `k`), the Ohm sign (lower case `ω`, not Omega),
/// the sigmas, and a letter beyond the basic plane (`𐐀`/`𐐨`). Pairs of them share a case key
/// in the compiled matcher without matching each other.
const CASE_STRINGS: &[&str] = &[
    "ß", "SS", "ss", "İ", "i\u{307}", "ǅ", "ǆ", "Ǆ", "\u{212a}", "k", "K", "\u{2126}", "Ω", "ω",
    "Σ", "ς", "σ", "𐐀", "𐐨x",
];
/// Numbers as JSON texts: the same values written differently, plus texts that name no
/// double exactly (compared by text).
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "0.0",
    "1",
    "1.0",
    "1e0",
    "10e-1",
    "-1",
    "-1.5",
    "3",
    "300",
    "3e2",
    "300.0",
    "0.5",
    "5e-1",
    "42",
    "1e400",
    "0.10000000000000001",
    "9007199254740993",
    "4.9e-324",
    "5e-324",
];
/// Finite numbers for `numeric` operands.
const BOUNDS: &[f64] = &[-1.5, -1.0, 0.0, 0.5, 1.0, 3.0, 42.0, 300.0];
const WILDCARDS: &[&str] = &["*", "x*", "*y", "x*y", "", "a\\*b", "*b*", "é*", "10.*"];
const CIDRS: &[&str] = &["10.0.0.0/24", "10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0"];

fn number(text: &str) -> Value {
    Value::Number(serde_json::from_str(text).expect("vocabulary number"))
}

fn string() -> impl Strategy<Value = Value> + Clone {
    select(STRINGS).prop_map(|s| Value::String(s.to_string()))
}

/// A string for an ignore-case operator: the common vocabulary or a tricky case pair.
fn case_string() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        2 => string(),
        1 => select(CASE_STRINGS).prop_map(|s| Value::String(s.to_string())),
    ]
}

fn nonempty_string() -> impl Strategy<Value = Value> + Clone {
    select(
        STRINGS
            .iter()
            .copied()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>(),
    )
    .prop_map(|s| Value::String(s.to_string()))
}

fn num() -> impl Strategy<Value = Value> + Clone {
    select(NUMBERS).prop_map(number)
}

/// Numbers `anything-but` accepts: those naming one double exactly.
fn comparable_num() -> impl Strategy<Value = Value> + Clone {
    let exact: Vec<&str> = NUMBERS
        .iter()
        .copied()
        .filter(|n| weir::ir::exact_f64(n).is_some())
        .collect();
    select(exact).prop_map(number)
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => string(),
        4 => num(),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ]
}

fn wildcard() -> impl Strategy<Value = Value> + Clone {
    select(WILDCARDS).prop_map(|s| Value::String(s.to_string()))
}

fn one_or_list<S: Strategy<Value = Value> + Clone>(s: S) -> impl Strategy<Value = Value> {
    prop_oneof![
        s.clone(),
        prop::collection::vec(s, 1..=3).prop_map(Value::Array),
    ]
}

fn bound() -> impl Strategy<Value = Value> + Clone {
    select(BOUNDS).prop_map(|x| json!(x))
}

fn numeric() -> impl Strategy<Value = Value> {
    let single =
        (select(&["=", "<", "<=", ">", ">="][..]), bound()).prop_map(|(op, v)| json!([op, v]));
    let range = (
        select(&[">", ">="][..]),
        select(&["<", "<="][..]),
        prop::sample::subsequence(BOUNDS.to_vec(), 2),
    )
        .prop_map(|(lo, hi, pair)| json!([lo, pair[0], hi, pair[1]]));
    prop_oneof![single, range].prop_map(|args| json!({ "numeric": args }))
}

fn anything_but() -> impl Strategy<Value = Value> {
    prop_oneof![
        string(),
        comparable_num(),
        prop::collection::vec(string(), 1..=3).prop_map(Value::Array),
        prop::collection::vec(comparable_num(), 1..=3).prop_map(Value::Array),
        one_or_list(nonempty_string()).prop_map(|v| json!({ "prefix": v })),
        one_or_list(nonempty_string()).prop_map(|v| json!({ "suffix": v })),
        one_or_list(case_string()).prop_map(|v| json!({ "equals-ignore-case": v })),
        one_or_list(wildcard()).prop_map(|v| json!({ "wildcard": v })),
    ]
    .prop_map(|v| json!({ "anything-but": v }))
}

/// One element of a leaf array: a literal or an operator.
fn match_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => scalar(),
        1 => string().prop_map(|s| json!({ "prefix": s })),
        1 => string().prop_map(|s| json!({ "suffix": s })),
        1 => case_string().prop_map(|s| json!({ "prefix": { "equals-ignore-case": s } })),
        1 => case_string().prop_map(|s| json!({ "suffix": { "equals-ignore-case": s } })),
        1 => case_string().prop_map(|s| json!({ "equals-ignore-case": s })),
        1 => wildcard().prop_map(|w| json!({ "wildcard": w })),
        3 => anything_but(),
        2 => numeric(),
        1 => select(CIDRS).prop_map(|c| json!({ "cidr": c })),
        2 => any::<bool>().prop_map(|b| json!({ "exists": b })),
        1 => string().prop_map(|s| json!({ "exactly": s })),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop::collection::vec(match_value(), 1..=3).prop_map(Value::Array)
}

/// A pattern object: 1–2 fields (leaves or nested objects) and, above the innermost level,
/// sometimes an `$or` of 2–3 sub-patterns.
fn pattern_object(depth: u32) -> BoxedStrategy<Map<String, Value>> {
    let field = if depth == 0 {
        leaf().boxed()
    } else {
        prop_oneof![3 => leaf(), 1 => pattern_object(depth - 1).prop_map(Value::Object)].boxed()
    };
    let fields = prop::collection::vec((select(KEYS), field), 1..=2);
    if depth == 0 {
        return fields
            .prop_map(|kv| kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            .boxed();
    }
    let or = prop::option::weighted(0.3, prop::collection::vec(pattern_object(depth - 1), 2..=3));
    (fields, or)
        .prop_map(|(kv, or)| {
            let mut map: Map<String, Value> =
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            if let Some(alts) = or {
                map.insert(
                    "$or".into(),
                    Value::Array(alts.into_iter().map(Value::Object).collect()),
                );
            }
            map
        })
        .boxed()
}

fn pattern_value() -> impl Strategy<Value = Value> {
    pattern_object(2).prop_map(Value::Object)
}

fn pattern() -> impl Strategy<Value = String> {
    pattern_value().prop_map(|v| serde_json::to_string(&v).unwrap())
}

fn event_scalar() -> impl Strategy<Value = Value> {
    let hot_strings =
        select(&["x", "xy", "X", "10.0.0.1", "é"][..]).prop_map(|s| Value::String(s.to_string()));
    let hot_numbers = select(&["1", "1.0", "3e2", "0"][..]).prop_map(number);
    let case_strings = select(CASE_STRINGS).prop_map(|s| Value::String(s.to_string()));
    prop_oneof![3 => hot_strings, 2 => hot_numbers, 4 => scalar(), 1 => case_strings]
}

fn event_value() -> impl Strategy<Value = Value> {
    event_scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..=3).prop_map(Value::Array),
            prop::collection::vec((select(EVENT_KEYS), inner), 0..=3).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

/// An event: an object of 0–4 fields (and now and then something else).
fn event() -> impl Strategy<Value = String> {
    let object = prop::collection::vec((select(EVENT_KEYS), event_value()), 0..=5)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    prop_oneof![19 => object, 1 => event_value()].prop_map(|v| serde_json::to_string(&v).unwrap())
}

/// `n` patterns and events for them: random events, and "witnesses" built from the patterns
/// (each meant to satisfy one pattern, then sometimes disturbed), so that about half the
/// pairs match and the other half fail near the edge.
fn rules_and_events(
    n: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    (
        prop::collection::vec(pattern_value(), n),
        prop::collection::vec(any::<u64>(), 2..=6),
        prop::collection::vec(event(), 0..=3),
    )
        .prop_map(|(patterns, seeds, mut events)| {
            for seed in seeds {
                let mut r = Rng(seed);
                let p = r.pick(&patterns);
                events.push(serde_json::to_string(&witness(p, &mut r)).unwrap());
            }
            let texts = patterns
                .iter()
                .map(|p| serde_json::to_string(p).unwrap())
                .collect();
            (texts, events)
        })
}

/// The same event spelled differently: escapes for plain characters (also in keys) and
/// numbers with another exponent marker (serde_json writes `e+`; both engines compare
/// number texts in that one spelling).
fn respell(event: &str) -> String {
    event
        .replace("\"x\"", "\"\\u0078\"")
        .replace("\"a.b\":", "\"a\\u002eb\":")
        .replace("\"b\":", "\"\\u0062\":")
        .replace('é', "\\u00e9")
        .replace("3e+2", "3E2")
        .replace("5e-1", "5E-1")
        .replace("1e+0", "1e0")
        .replace("1e+400", "1E400")
}

/// Every event, and every event respelled.
fn with_respellings(events: Vec<String>) -> Vec<String> {
    let respelled: Vec<String> = events
        .iter()
        .map(|e| respell(e))
        .filter(|r| !events.contains(r))
        .collect();
    events.into_iter().chain(respelled).collect()
}

/// A small deterministic generator (SplitMix64) for building witnesses from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn scalar(&mut self) -> Value {
        match self.below(10) {
            0..=3 => Value::String(self.pick(STRINGS).to_string()),
            4..=7 => number(self.pick::<&str>(NUMBERS)),
            8 => Value::Bool(self.percent(50)),
            _ => Value::Null,
        }
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth == 0 { 1 } else { 4 }) {
            0 | 1 => self.scalar(),
            2 => Value::Array((0..self.below(3)).map(|_| self.value(depth - 1)).collect()),
            _ => {
                let mut m = Map::new();
                for _ in 0..self.below(3) {
                    m.insert(self.pick(EVENT_KEYS).to_string(), self.value(depth - 1));
                }
                Value::Object(m)
            }
        }
    }
}

/// An event meant to satisfy pattern `p` (it may not: a later field can overwrite an
/// earlier one), disturbed now and then.
fn witness(p: &Value, r: &mut Rng) -> Value {
    let mut event = Map::new();
    if let Value::Object(p) = p {
        witness_object(p, r, &mut event);
    }
    if r.percent(25) && !event.is_empty() {
        let keys: Vec<String> = event.keys().cloned().collect();
        let k = r.pick(&keys).clone();
        let v = r.value(2);
        event.insert(k, v);
    }
    if r.percent(25) {
        event.insert(r.pick(EVENT_KEYS).to_string(), r.value(2));
    }
    if r.percent(10) && !event.is_empty() {
        let keys: Vec<String> = event.keys().cloned().collect();
        let k = r.pick(&keys).clone();
        event.remove(&k);
    }
    Value::Object(event)
}

fn witness_object(p: &Map<String, Value>, r: &mut Rng, out: &mut Map<String, Value>) {
    for (key, v) in p {
        match v {
            Value::Array(alts)
                if key == "$or" && alts.len() >= 2 && alts.iter().all(Value::is_object) =>
            {
                if let Value::Object(alt) = r.pick(alts) {
                    witness_object(alt, r, out);
                }
            }
            Value::Array(leaf) => {
                if let Some(value) = witness_value(r.pick(leaf), r) {
                    let value = if r.percent(15) {
                        Value::Array(vec![r.scalar(), value])
                    } else {
                        value
                    };
                    insert(out, key, value, r);
                }
            }
            Value::Object(inner) => {
                let mut sub = Map::new();
                witness_object(inner, r, &mut sub);
                let sub = if r.percent(15) {
                    Value::Array(vec![Value::Object(sub), r.value(1)])
                } else {
                    Value::Object(sub)
                };
                insert(out, key, sub, r);
            }
            _ => {}
        }
    }
}

/// Inserts `value` under `key`, spelling a dotted key as nested objects half the time and
/// merging objects that meet.
fn insert(out: &mut Map<String, Value>, key: &str, value: Value, r: &mut Rng) {
    if let Some((head, rest)) = key.split_once('.') {
        if r.percent(50) {
            let mut inner = Map::new();
            insert(&mut inner, rest, value, r);
            return insert(out, head, Value::Object(inner), r);
        }
    }
    match (out.get_mut(key), value) {
        (Some(Value::Object(existing)), Value::Object(new)) => {
            for (k, v) in new {
                insert(existing, &k, v, r);
            }
        }
        (_, value) => {
            out.insert(key.to_string(), value);
        }
    }
}

/// A value satisfying one element of a leaf array; `None` when absence satisfies it.
fn witness_value(m: &Value, r: &mut Rng) -> Option<Value> {
    let Value::Object(op) = m else {
        return Some(m.clone());
    };
    let (name, arg) = op.iter().next()?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Some(match (name.as_str(), arg) {
        ("prefix", Value::Object(ic)) => Value::String(format!(
            "{}{}",
            text(&ic["equals-ignore-case"]).to_uppercase(),
            r.pick(&["", "z", "é"])
        )),
        ("suffix", Value::Object(ic)) => Value::String(format!(
            "{}{}",
            r.pick(&["", "z", "É"]),
            text(&ic["equals-ignore-case"]).to_uppercase()
        )),
        ("prefix", s) => Value::String(format!("{}{}", text(s), r.pick(&["", "z", "x"]))),
        ("suffix", s) => Value::String(format!("{}{}", r.pick(&["", "z", "x"]), text(s))),
        ("equals-ignore-case", s) => Value::String(if r.percent(50) {
            text(s).to_uppercase()
        } else {
            text(s)
        }),
        ("wildcard", w) => {
            let fill = *r.pick(&["", "q", "x*y"]);
            Value::String(
                text(w)
                    .replace("\\*", "\u{0}")
                    .replace('*', fill)
                    .replace('\u{0}', "*"),
            )
        }
        ("numeric", Value::Array(args)) => {
            let v = args[1].as_f64().unwrap_or_default();
            json!(v + *r.pick(&[0.0, 0.25, -0.25, 1.0]))
        }
        ("cidr", c) => Value::String(
            match c.as_str() {
                Some("10.0.0.0/24") => *r.pick(&["10.0.0.9", "010.000.000.255", "10.0.1.0"]),
                Some("10.0.0.0/8") => *r.pick(&["10.200.0.1", "11.0.0.0"]),
                Some("2001:db8::/32") => *r.pick(&["2001:DB8::7", "2001:db9::"]),
                _ => *r.pick(&["8.8.8.8", "::1"]),
            }
            .to_string(),
        ),
        ("exists", Value::Bool(false)) => return None,
        ("exactly", s) => s.clone(),
        _ => r.scalar(),
    })
}

// ---------------------------------------------------------------- helpers

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// EventBridge options with a high wildcard complexity limit: complexity is not these tests'
/// subject, and generated `$or`s repeat wildcards, which event-ruler's measure counts again.
fn options() -> Options {
    Options::new().max_complexity(1000)
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

fn parse(text: &str, options: &Options) -> Result<Pattern, TestCaseError> {
    Pattern::parse_with(text, options)
        .map_err(|e| fail(format!("generated pattern refused: {text}\n{e}")))
}

/// The reference interpreter's verdict.
fn reference(p: &Pattern, event: &str) -> Result<bool, TestCaseError> {
    weir_reference::matches_text(p, event.as_bytes())
        .map_err(|e| fail(format!("generated event refused: {event}: {e}")))
}

/// A matcher holding `texts` as rules `r0`, `r1`, ...
fn matcher_of(texts: &[String], options: &Options) -> Result<Matcher, TestCaseError> {
    let mut m = Matcher::with_options(options.clone());
    for (i, t) in texts.iter().enumerate() {
        m.add_rule(format!("r{i}"), t)
            .map_err(|e| fail(format!("{t}: {e}")))?;
    }
    Ok(m)
}

/// Agreement of the compiled matcher with the reference, for one pattern and `options`;
/// counts matching pairs.
fn agree_one(
    text: &str,
    events: &[String],
    options: &Options,
    matched: &AtomicUsize,
) -> Result<(), TestCaseError> {
    let p = parse(text, options)?;
    let m = matcher_of(&[text.to_string()], options)?;
    for e in events {
        let want = reference(&p, e)?;
        let got = m
            .is_match(e.as_bytes())
            .map_err(|err| fail(format!("{e}: {err}")))?;
        prop_assert_eq!(
            got,
            want,
            "pattern {}\nevent {}\noptions {:?}",
            text,
            e,
            options
        );
        if want {
            matched.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

fn without_spans(p: &Pattern) -> Vec<weir::ir::Term> {
    let mut terms = p.terms().to_vec();
    for t in &mut terms {
        for l in &mut t.leaves {
            l.span = (0, 0);
        }
    }
    terms
}

fn assert_rate(name: &str, matched: &AtomicUsize, total: &AtomicUsize) {
    let (m, t) = (
        matched.load(Ordering::Relaxed),
        total.load(Ordering::Relaxed),
    );
    assert!(t > 0);
    let rate = m as f64 / t as f64;
    eprintln!(
        "{name}: {m} of {t} generated (pattern, event) pairs match ({:.1}%)",
        rate * 100.0
    );
    assert!(
        rate > 0.05,
        "{name}: only {m} of {t} generated (pattern, event) pairs match"
    );
    assert!(
        rate < 0.95,
        "{name}: {m} of {t} generated (pattern, event) pairs match"
    );
}

// ---------------------------------------------------------------- properties

/// (a) One pattern: the compiled matcher agrees with the reference interpreter.
#[test]
fn compiled_matches_reference() {
    let (matched, total) = (AtomicUsize::new(0), AtomicUsize::new(0));
    runner(2000)
        .run(&rules_and_events(1..=1), |(texts, events)| {
            let text = &texts[0];
            let events = with_repeated_keys(with_respellings(events));
            total.fetch_add(events.len(), Ordering::Relaxed);
            agree_one(text, &events, &options(), &matched)
        })
        .unwrap();
    assert_rate("default options", &matched, &total);
}

/// (a) With Lambda-strict mode: the pattern is refused as unsupported (and then the matcher
/// refuses it too) or means the same as in EventBridge mode (generated patterns repeat no
/// key), and both engines agree.
#[test]
fn compiled_matches_reference_lambda_strict() {
    let strict = options().lambda_strict(true);
    let (matched, total, refused) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    runner(700)
        .run(&rules_and_events(1..=1), |(texts, events)| {
            let text = &texts[0];
            match Pattern::parse_with(text, &strict) {
                Err(e) => {
                    prop_assert_eq!(e.kind(), PatternErrorKind::Unsupported, "{}: {}", text, e);
                    prop_assert!(Matcher::with_options(strict.clone())
                        .add_rule("r", text)
                        .is_err());
                    refused.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Ok(p) => {
                    let default = parse(text, &options())?;
                    prop_assert_eq!(p.terms(), default.terms());
                    total.fetch_add(events.len(), Ordering::Relaxed);
                    agree_one(text, &events, &strict, &matched)
                }
            }
        })
        .unwrap();
    assert!(refused.load(Ordering::Relaxed) > 0);
    assert_rate("lambda-strict", &matched, &total);
}

/// (a) With numbers compared by their text.
#[test]
fn compiled_matches_reference_numbers_as_strings() {
    let o = options().numbers_as_strings(true);
    let (matched, total) = (AtomicUsize::new(0), AtomicUsize::new(0));
    runner(700)
        .run(&rules_and_events(1..=1), |(texts, events)| {
            let text = &texts[0];
            let events = with_respellings(events);
            total.fetch_add(events.len(), Ordering::Relaxed);
            agree_one(text, &events, &o, &matched)
        })
        .unwrap();
    assert_rate("numbers as strings", &matched, &total);
}

/// (b) Many rules in one matcher: exactly the rules the reference interpreter matches, in
/// the order they were added.
#[test]
fn multi_rule_matcher_matches_reference() {
    let (matched, total) = (AtomicUsize::new(0), AtomicUsize::new(0));
    runner(400)
        .run(&rules_and_events(1..=10), |(texts, events)| {
            let events = with_respellings(events);
            let o = options();
            let m = matcher_of(&texts, &o)?;
            let mut lazy = matcher_of(&texts, &o)?;
            lazy.set_reading(EventReading::Lazy);
            let patterns = texts
                .iter()
                .map(|t| parse(t, &o))
                .collect::<Result<Vec<_>, _>>()?;
            for e in &events {
                let mut want = Vec::new();
                for (i, p) in patterns.iter().enumerate() {
                    if reference(p, e)? {
                        want.push(m.rule_id(&format!("r{i}")).unwrap());
                    }
                }
                total.fetch_add(patterns.len(), Ordering::Relaxed);
                matched.fetch_add(want.len(), Ordering::Relaxed);
                let got = m
                    .matching_rule_ids(e.as_bytes())
                    .map_err(|err| fail(format!("{e}: {err}")))?;
                prop_assert_eq!(&got, &want, "event {}\nrules {:#?}", e, texts);
                let names: Vec<String> = want
                    .iter()
                    .map(|&id| m.rule_name(id).unwrap().to_string())
                    .collect();
                prop_assert_eq!(m.matching_rules(e.as_bytes()).unwrap(), names);
                prop_assert_eq!(m.is_match(e.as_bytes()).unwrap(), !want.is_empty());
                // Lazy reading gives the same verdicts on well-formed events that spell every
                // needed field one way (it stops once each needed key was seen by its own name,
                // so a later dotted key such as "a.b" after "a" is not read).
                if has_dotted_key(&serde_json::from_str(e).unwrap_or(Value::Null)) {
                    continue;
                }
                let got_lazy = lazy
                    .matching_rule_ids(e.as_bytes())
                    .map_err(|err| fail(format!("lazy: {e}: {err}")))?;
                prop_assert_eq!(
                    &got_lazy,
                    &want,
                    "lazy reading\nevent {}\nrules {:#?}",
                    e,
                    texts
                );
            }
            Ok(())
        })
        .unwrap();
    assert_rate("multi-rule", &matched, &total);
}

/// Whether any object key in `v` contains a dot.
fn has_dotted_key(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('.') || has_dotted_key(v)),
        Value::Array(a) => a.iter().any(has_dotted_key),
        _ => false,
    }
}

/// Events for the batch paths: generated ones, with now and then a malformed one.
fn batch_events() -> impl Strategy<Value = Vec<String>> {
    let broken = select(
        &[
            "{",
            "{\"a\": tru}",
            "[1,]",
            "{\"a\": \"x\" \"b\"}",
            "nul",
            "{}}",
        ][..],
    )
    .prop_map(str::to_string);
    prop::collection::vec(prop_oneof![9 => event(), 1 => broken], 0..=16)
}

/// (c) The batch paths give what matching each event alone gives.
#[test]
fn batch_paths_equal_single_matches() {
    runner(300)
        .run(
            &(rules_and_events(1..=6), batch_events()),
            |((texts, mut events), more)| {
                events.extend(more);
                let m = matcher_of(&texts, &options())?;
                let singles: Vec<_> = events
                    .iter()
                    .map(|e| m.matching_rule_ids(e.as_bytes()))
                    .collect();
                let bytes: Vec<&[u8]> = events.iter().map(|e| e.as_bytes()).collect();

                let mut batch = BatchResults::new();
                m.match_batch(bytes.iter().copied(), &mut batch);
                let par = m.par_match_batch(&bytes);
                let mut jsonl = Vec::new();
                for e in &events {
                    jsonl.extend_from_slice(e.as_bytes());
                    jsonl.push(b'\n');
                }
                let mut lines = BatchResults::new();
                m.match_jsonl(&jsonl, &mut lines);
                let numbers: Vec<usize> = (1..=events.len()).collect();
                prop_assert_eq!(lines.lines(), numbers.as_slice());

                for results in [&batch, &par, &lines] {
                    prop_assert_eq!(results.len(), events.len());
                    for (i, single) in singles.iter().enumerate() {
                        match (single, results.get(i)) {
                            (Ok(want), Ok(got)) => {
                                prop_assert_eq!(got, want.as_slice(), "event {}", events[i])
                            }
                            (Err(want), Err(got)) => {
                                prop_assert_eq!(got, want, "event {}", events[i])
                            }
                            (want, got) => prop_assert!(
                                false,
                                "event {}: single {:?}, batch {:?}",
                                events[i],
                                want,
                                got
                            ),
                        }
                    }
                    let matched = singles
                        .iter()
                        .filter(|r| r.as_ref().is_ok_and(|ids| !ids.is_empty()))
                        .count();
                    prop_assert_eq!(results.matched_count(), matched);
                }
                // Reusing the results for a second, smaller batch leaves nothing of the first.
                m.match_batch(bytes.iter().copied().take(1), &mut batch);
                prop_assert_eq!(batch.len(), events.len().min(1));
                Ok(())
            },
        )
        .unwrap();
}

/// (d) Pattern text -> JSON value -> text, compact or pretty, parses to the same pattern.
#[test]
fn pattern_text_round_trips() {
    runner(2000)
        .run(&pattern(), |text| {
            // Pretty printing may take a pattern past the 4096-character limit.
            let o = options().max_length(1 << 20);
            let p = parse(&text, &o)?;
            prop_assert_eq!(p.text(), text.as_str());
            let value: Value = serde_json::from_str(&text).unwrap();
            let compact = serde_json::to_string(&value).unwrap();
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            for again in [&compact, &pretty] {
                let q = parse(again, &o)?;
                prop_assert_eq!(without_spans(&q), without_spans(&p), "{}", again);
                prop_assert_eq!(q.paths(), p.paths());
                prop_assert_eq!(q.to_string(), p.to_string());
            }
            // The compact rendering of a value rendered compactly is the text itself.
            prop_assert_eq!(&compact, &text);
            // Spans point at each leaf's array in the text.
            for term in p.terms() {
                for leaf in &term.leaves {
                    let (s, e) = leaf.span;
                    let slice = &text[s..e];
                    prop_assert!(slice.starts_with('[') && slice.ends_with(']'), "{}", slice);
                    prop_assert!(serde_json::from_str::<Value>(slice).is_ok(), "{}", slice);
                }
            }
            Ok(())
        })
        .unwrap();
}

/// (e) Removing a rule gives what a matcher built without it gives; adding it back gives
/// the full set again.
#[test]
fn remove_rule_equals_never_added() {
    runner(300)
        .run(
            &(rules_and_events(1..=8), any::<prop::sample::Index>()),
            |((texts, events), which)| {
                let o = options();
                let k = which.index(texts.len());
                let mut m = matcher_of(&texts, &o)?;
                let full = matcher_of(&texts, &o)?;
                let name = format!("r{k}");
                prop_assert!(m.remove_rule(&name));
                prop_assert!(!m.remove_rule(&name));
                prop_assert_eq!(m.rule_count(), texts.len() - 1);
                let mut without = Matcher::with_options(options());
                for (i, t) in texts.iter().enumerate().filter(|&(i, _)| i != k) {
                    without.add_rule(format!("r{i}"), t).unwrap();
                }
                for e in &events {
                    let got = m.matching_rules(e.as_bytes()).unwrap();
                    let want = without.matching_rules(e.as_bytes()).unwrap();
                    prop_assert_eq!(&got, &want, "event {} after removing r{}", e, k);
                }
                m.add_rule(name, &texts[k]).unwrap();
                for e in &events {
                    let mut got = m.matching_rules(e.as_bytes()).unwrap();
                    let mut want = full.matching_rules(e.as_bytes()).unwrap();
                    got.sort_unstable();
                    want.sort_unstable();
                    prop_assert_eq!(got, want, "event {} after re-adding r{}", e, k);
                }
                Ok(())
            },
        )
        .unwrap();
}

/// Each event, and for an object event the same with a repeated key `a` before and after its
/// members (the last occurrence wins).
fn with_repeated_keys(events: Vec<String>) -> Vec<String> {
    const REPEATS: &[&str] = &["1", "\"x\"", "[1, {\"b\": \"x\"}]", "{\"b\": 1}"];
    let mut out = Vec::with_capacity(events.len() * 3);
    for (i, e) in events.into_iter().enumerate() {
        if e.starts_with('{') && e.len() > 2 {
            let x = REPEATS[i % REPEATS.len()];
            out.push(format!("{{\"a\": {x}, {}", &e[1..]));
            out.push(format!("{}, \"a\": {x}}}", &e[..e.len() - 1]));
            // The same key escaped: JSON readers compare keys unescaped.
            out.push(format!("{}, \"\\u0061\": {x}}}", &e[..e.len() - 1]));
        }
        out.push(e);
    }
    out
}

/// The report's facts are the event's: each value's text is the event's bytes at its span,
/// a used value is one a condition held for, an array's chosen element lacks nothing. A held
/// group is about one term of the pattern: its fields are exactly those the term holds (the
/// others are overridden, by later conditions of that term on the same path), and each holds.
fn check_report(why: &Explanation, p: &Pattern, event: &str) -> Result<(), TestCaseError> {
    fn group(
        g: &weir::explain::GroupReport,
        p: &Pattern,
        event: &str,
    ) -> Result<(), TestCaseError> {
        prop_assert_eq!(g.held, g.term.is_some());
        let term = g.term.map(|t| &p.terms()[t]);
        for f in &g.fields {
            for v in &f.values {
                prop_assert_eq!(&event[v.span.0..v.span.1], v.text.as_str());
            }
            if let Some(u) = f.used {
                prop_assert!(f.conditions.iter().any(|c| c.held_for.contains(&u)));
            }
            let overridden = !f.overridden_by.is_empty();
            prop_assert!(
                !g.held || f.held || overridden,
                "a held group holds each field it does not override: {}",
                f.path
            );
            if overridden {
                prop_assert!(f.used.is_none());
            }
            for by in &f.overridden_by {
                prop_assert!(by.0 > f.pattern_span.1, "overridden by a later condition");
            }
            if let Some(term) = term {
                let in_term = term.leaves.iter().any(|l| l.span == f.pattern_span);
                prop_assert_eq!(in_term, !overridden, "{}", f.path);
                let replacing: Vec<(usize, usize)> = term
                    .leaves
                    .iter()
                    .filter(|l| l.path == f.path && l.span != f.pattern_span)
                    .map(|l| l.span)
                    .collect();
                prop_assert_eq!(&replacing, &f.overridden_by);
            }
        }
        for or in &g.ors {
            if g.held {
                prop_assert!(or.held && or.used.is_some());
                let used = &or.alternatives[or.used.unwrap_or_default()];
                prop_assert_eq!(used.term, g.term, "the used alternative is the same term's");
            }
            for a in &or.alternatives {
                group(a, p, event)?;
            }
        }
        for a in &g.arrays {
            if let Some(i) = a.satisfied_by {
                prop_assert!(a.elements[i].lacks.is_empty());
            }
            for e in &a.elements {
                prop_assert!(a.span.0 <= e.span.0 && e.span.1 <= a.span.1);
                prop_assert!(e
                    .lacks
                    .iter()
                    .chain(&e.unwanted)
                    .all(|f| a.fields.contains(f)));
            }
            prop_assert!(a.judged_first.iter().all(|f| a.fields.contains(f)));
        }
        Ok(())
    }
    prop_assert_eq!(why.matched, why.group.held);
    group(&why.group, p, event)
}

/// (f) The explanation's verdict is the matcher's, for one pattern (with both number
/// readings) and for every rule of a matcher; a malformed event is the same error.
#[test]
fn explanations_give_the_matchers_verdict() {
    let (matched, total) = (AtomicUsize::new(0), AtomicUsize::new(0));
    runner(300)
        .run(
            &(rules_and_events(1..=3), batch_events()),
            |((texts, events), more)| {
                let mut events = with_repeated_keys(with_respellings(events));
                events.extend(more);
                for o in [options(), options().numbers_as_strings(true)] {
                    let m = matcher_of(&texts, &o)?;
                    let patterns = texts
                        .iter()
                        .map(|t| parse(t, &o))
                        .collect::<Result<Vec<_>, _>>()?;
                    for e in &events {
                        let got = m.matching_rules(e.as_bytes());
                        for (i, (text, p)) in texts.iter().zip(&patterns).enumerate() {
                            let name = format!("r{i}");
                            let alone = p.explain(e.as_bytes());
                            let in_matcher = m.explain(&name, e.as_bytes());
                            match &got {
                                Ok(names) => {
                                    let want = names.contains(&name.as_str());
                                    let alone = alone.map_err(|err| fail(format!("{e}: {err}")))?;
                                    prop_assert_eq!(
                                        alone.matched,
                                        want,
                                        "pattern {}\nevent {}\n{}",
                                        text,
                                        e,
                                        alone
                                    );
                                    check_report(&alone, p, e)?;
                                    let rule = in_matcher
                                        .map_err(|err| fail(format!("{e}: {err}")))?
                                        .ok_or_else(|| fail(format!("no rule {name}")))?;
                                    prop_assert_eq!(rule.matched, want);
                                    prop_assert_eq!(&rule.patterns[0], &alone);
                                    total.fetch_add(1, Ordering::Relaxed);
                                    if want {
                                        matched.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                                Err(want) => {
                                    prop_assert_eq!(alone.as_ref().err(), Some(want), "{}", e);
                                    prop_assert_eq!(in_matcher.as_ref().err(), Some(want));
                                }
                            }
                        }
                    }
                }
                Ok(())
            },
        )
        .unwrap();
    assert_rate("explain", &matched, &total);
}

/// The live rules of [`add_remove_sequences_equal_a_fresh_build`], in the order they were
/// added: name and the indexes of its pattern texts.
type Live = Vec<(String, Vec<usize>)>;

/// `m` answers as a matcher built afresh from `live`: the same names, in the same order, and
/// for every event the same matching rules in the same order.
fn same_as_fresh(
    m: &Matcher,
    live: &Live,
    texts: &[String],
    events: &[String],
    when: &str,
) -> Result<(), TestCaseError> {
    let mut fresh = Matcher::with_options(options());
    for (name, patterns) in live {
        for &t in patterns {
            fresh.add_rule(name.as_str(), &texts[t]).unwrap();
        }
    }
    prop_assert_eq!(
        m.rule_names().collect::<Vec<_>>(),
        fresh.rule_names().collect::<Vec<_>>(),
        "{}",
        when
    );
    let mut batch = BatchResults::new();
    m.match_batch(events.iter().map(|e| e.as_bytes()), &mut batch);
    for (i, e) in events.iter().enumerate() {
        let got = m.matching_rules(e.as_bytes()).unwrap();
        let want = fresh.matching_rules(e.as_bytes()).unwrap();
        prop_assert_eq!(&got, &want, "event {} {}", e, when);
        let mut from_batch: Vec<&str> = batch
            .get(i)
            .unwrap()
            .iter()
            .map(|&id| m.rule_name(id).unwrap())
            .collect();
        let mut want = want;
        from_batch.sort_unstable();
        want.sort_unstable();
        prop_assert_eq!(from_batch, want, "batch, event {} {}", e, when);
    }
    Ok(())
}

/// (g) Adds (new rules and more patterns for live ones) and removes in any order — ids,
/// terms, fields and trie nodes freed and taken again — leave a matcher that answers as one
/// built from its live rules; a clone taken midway answers for the rules it had then.
#[test]
fn add_remove_sequences_equal_a_fresh_build() {
    runner(200)
        .run(
            &(
                rules_and_events(1..=6),
                prop::collection::vec(any::<prop::sample::Index>(), 1..=24),
            ),
            |((texts, events), ops)| {
                let mut m = Matcher::with_options(options());
                let mut live: Live = Vec::new();
                let mut snapshot: Option<(Matcher, Live)> = None;
                let mut next = 0;
                for (step, op) in ops.iter().enumerate() {
                    let k = op.index(texts.len() * 3);
                    let t = k % texts.len();
                    if k < texts.len() || live.is_empty() {
                        let name = format!("n{next}");
                        next += 1;
                        m.add_rule(name.as_str(), &texts[t]).unwrap();
                        live.push((name, vec![t]));
                    } else if k < 2 * texts.len() {
                        let which = k % live.len();
                        let (name, patterns) = &mut live[which];
                        m.add_rule(name.as_str(), &texts[t]).unwrap();
                        patterns.push(t);
                    } else {
                        let (name, _) = live.remove(k % live.len());
                        prop_assert!(m.remove_rule(&name));
                        prop_assert!(!m.remove_rule(&name));
                    }
                    prop_assert_eq!(m.rule_count(), live.len());
                    same_as_fresh(&m, &live, &texts, &events, &format!("after step {step}"))?;
                    if step == ops.len() / 2 {
                        snapshot = Some((m.clone(), live.clone()));
                    }
                }
                let (copy, then) = snapshot.expect("taken midway");
                same_as_fresh(&copy, &then, &texts, &events, "in the snapshot")?;
                Ok(())
            },
        )
        .unwrap();
}
